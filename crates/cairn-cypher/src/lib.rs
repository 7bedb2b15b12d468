//! # cairn-cypher
//!
//! The openCypher subset that Cairn's property graph speaks: a lexer, a recursive-descent
//! parser into a typed syntax tree ([`ast`]), and a printer that writes a tree back as
//! text. Planning and execution live in `cairn-graph`; this crate has no dependencies
//! beyond `thiserror`, so it compiles alone and is cheap to fuzz.
//!
//! ```
//! use cairn_cypher::{ast::Clause, parse};
//!
//! let s = parse("MATCH p = (a:Drug {name: $name})-[:METABOLIZED_BY*1..2]->(e:Enzyme) RETURN p LIMIT 5").unwrap();
//! assert!(matches!(s.query.first.clauses[0], Clause::Match(_)));
//! // Printing gives text that parses to the same tree.
//! let again = parse(&s.to_string()).unwrap();
//! assert_eq!(again.query.first.clauses[0], s.query.first.clauses[0]);
//! // Errors name the line and the column.
//! let err = parse("MATCH (a)\nRETURN a.").unwrap_err();
//! assert_eq!(err.position(), Some((2, 10)));
//! ```
//!
//! ## Grammar
//!
//! Keywords are case-insensitive; names are case-sensitive and may be backquoted.
//!
//! ```text
//! statement      ::= [ "EXPLAIN" ] query [ ";" ]
//! query          ::= single ( "UNION" [ "ALL" ] single )*
//! single         ::= clause+
//! clause         ::= [ "OPTIONAL" ] "MATCH" pattern [ "WHERE" expr ]
//!                  | "UNWIND" expr "AS" var
//!                  | "WITH" projection [ "WHERE" expr ]
//!                  | "RETURN" projection
//!                  | "CREATE" pattern
//!                  | "MERGE" part ( "ON" ( "CREATE" | "MATCH" ) "SET" set-item ( "," set-item )* )*
//!                  | "SET" set-item ( "," set-item )*
//!                  | "REMOVE" remove-item ( "," remove-item )*
//!                  | [ "DETACH" ] "DELETE" expr ( "," expr )*
//! projection     ::= [ "DISTINCT" ] ( "*" [ "," items ] | items )
//!                    [ "ORDER" "BY" expr [ "ASC" | "DESC" ] ( "," … )* ] [ "SKIP" expr ] [ "LIMIT" expr ]
//! items          ::= expr [ "AS" var ] ( "," expr [ "AS" var ] )*
//! set-item       ::= postfix "." name "=" expr | var ( "=" | "+=" ) expr | var ( ":" name )+
//! remove-item    ::= postfix "." name | var ( ":" name )+
//! pattern        ::= part ( "," part )*
//! part           ::= [ var "=" ] ( element | ( "shortestPath" | "allShortestPaths" ) "(" element ")" )
//! element        ::= node ( rel node )* | "(" element ")"
//! node           ::= "(" [ var ] ( ":" name )* [ map | param ] ")"
//! rel            ::= ( "<-" | "-" ) [ "[" [ var ] [ ":" name ( "|" [ ":" ] name )* ] [ "*" range ] [ map | param ] "]" ] ( "->" | "-" )
//! range          ::= [ int ] [ ".." [ int ] ]
//! expr           ::= xor ( "OR" xor )*
//! xor            ::= and ( "XOR" and )*
//! and            ::= not ( "AND" not )*
//! not            ::= "NOT" not | comparison
//! comparison     ::= predicate ( ( "=" | "<>" | "<" | "<=" | ">" | ">=" ) predicate )*
//! predicate      ::= additive ( ( "STARTS" "WITH" | "ENDS" "WITH" | "CONTAINS" | "IN" | "=~" ) additive
//!                             | "IS" [ "NOT" ] "NULL" )*
//! additive       ::= multiplicative ( ( "+" | "-" ) multiplicative )*
//! multiplicative ::= power ( ( "*" | "/" | "%" ) power )*
//! power          ::= unary ( "^" unary )*
//! unary          ::= ( "+" | "-" ) unary | postfix
//! postfix        ::= atom ( "." name | "[" expr "]" | "[" [ expr ] ".." [ expr ] "]" | ( ":" name )+ )*
//! atom           ::= literal | param | "count" "(" "*" ")" | case | list | map | list-comprehension
//!                  | pattern-comprehension | quantifier | reduce | "exists" "(" ( element | expr ) ")"
//!                  | "EXISTS" "{" [ "MATCH" ] pattern [ "WHERE" expr ] "}" | element (with ≥ 1 rel)
//!                  | ( "shortestPath" | "allShortestPaths" ) "(" element ")"
//!                  | name ( "." name )* "(" [ "DISTINCT" ] [ expr ( "," expr )* ] ")"
//!                  | var [ "{" map-projection-items "}" ] | "(" expr ")"
//! case           ::= "CASE" [ expr ] ( "WHEN" expr "THEN" expr )+ [ "ELSE" expr ] "END"
//! list-comprehension    ::= "[" var "IN" expr [ "WHERE" expr ] [ "|" expr ] "]"
//! pattern-comprehension ::= "[" [ var "=" ] element [ "WHERE" expr ] "|" expr "]"
//! quantifier     ::= ( "any" | "all" | "none" | "single" ) "(" var "IN" expr [ "WHERE" expr ] ")"
//! reduce         ::= "reduce" "(" var "=" expr "," var "IN" expr "|" expr ")"
//! literal        ::= int | float | string | "true" | "false" | "null"
//! param          ::= "$" ( name | int )
//! ```
//!
//! ## Deliberately left out
//!
//! * `CALL` procedures and `CALL { … }` subqueries, `USE`, `LOAD CSV`, `FOREACH`;
//! * schema commands (`CREATE INDEX`, constraints) — indexes are managed by the graph API;
//! * temporal, spatial and duration types and their functions;
//! * quantified path patterns and graph pattern matching (GQL `MATCH ANY SHORTEST`, `{1,3}`);
//! * `COUNT { … }` and `COLLECT { … }` subqueries.
//!
//! Hostile input is bounded: nesting deeper than [`parser::MAX_DEPTH`] is a syntax error,
//! not a stack overflow.

pub mod ast;
pub mod error;
mod expr;
pub mod lexer;
pub mod parser;
mod print;

pub use error::{CypherError, Result};
pub use parser::parse;
