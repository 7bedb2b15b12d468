//! Parser tests: real queries, round trips through the printer, errors with positions,
//! hostile nesting, and a property test over generated syntax trees.

mod roundtrip;

use cairn_cypher::ast::*;
use cairn_cypher::parse;

const QUERIES: &[&str] = &[
    "MATCH (n) RETURN n",
    "MATCH (d:Disease)-[r:TREATS]->(s:Symptom) RETURN d.name",
    "MATCH path=(a)-[r:METABOLIZED_BY]->(b) RETURN path",
    "MATCH (a:Drug {name: $name})-[:INHIBITS {strength: 'strong'}]->(e:Enzyme)<-[:METABOLIZED_BY]-(b:Drug) RETURN DISTINCT b.name AS victim ORDER BY victim DESC SKIP 1 LIMIT 10",
    "MATCH (a)-[*1..3]->(b) WHERE a.x > 1 AND NOT b.y IS NULL RETURN count(*)",
    "MATCH (a)-[:A|:B|C*..2]-(b) RETURN a, b",
    "OPTIONAL MATCH (a)-->(b) RETURN b",
    "MATCH (a), (b) WHERE (a)-[:KNOWS]->(b) RETURN a",
    "MATCH p = shortestPath((a {name: 'x'})-[*]-(b {name: 'y'})) RETURN nodes(p), length(p)",
    "MATCH p = allShortestPaths((a)-[*..5]->(b)) RETURN p",
    "UNWIND [1, 2, 3] AS x WITH x WHERE x % 2 = 1 RETURN collect(x) AS odd",
    "WITH 1 AS a, 'b' AS b RETURN a + 2 * 3 ^ 2 - -4 AS v, b STARTS WITH 'x', b ENDS WITH 'y', b CONTAINS 'z'",
    "RETURN [x IN range(1, 10) WHERE x > 5 | x * 2] AS l, {a: 1, b: [1, 2.5e3]} AS m",
    "RETURN CASE WHEN 1 < 2 THEN 'yes' ELSE 'no' END, CASE 1 WHEN 1 THEN 'one' END",
    "RETURN any(x IN [1, 2] WHERE x = 2), all(x IN [] WHERE false), none(x IN [1] WHERE x = 2), single(x IN [1] WHERE x = 1)",
    "RETURN reduce(acc = 0, x IN [1, 2, 3] | acc + x) AS sum",
    "MATCH (a) RETURN [(a)-->(b) WHERE b.x = 1 | b.name] AS names",
    "MATCH (n) RETURN n {.name, .age, k: 1, .*}",
    "CREATE (a:Person {name: 'Ann'})-[:KNOWS {since: 2020}]->(b:Person {name: 'Bob'})",
    "MERGE (a:Drug {name: 'x'}) ON CREATE SET a.created = true ON MATCH SET a.seen = a.seen + 1",
    "MATCH (a) SET a.x = 1, a += {y: 2}, a:Extra:More, a = {z: 3}",
    "MATCH (a) REMOVE a.x, a:Extra",
    "MATCH (a) DETACH DELETE a",
    "MATCH (a)-[r]->() DELETE r",
    "MATCH (a) RETURN a UNION ALL MATCH (b) RETURN b AS a UNION MATCH (c) RETURN c AS a",
    "EXPLAIN MATCH (n:Drug) RETURN n.name",
    "MATCH (n) WHERE n.name IN ['a', 'b'] AND n.x <> 2 AND 1 < n.y <= 3 RETURN n.list[0], n.list[1..], n.list[..-1]",
    "MATCH (n) WHERE EXISTS { MATCH (n)-->(m) WHERE m.x = 1 } RETURN n",
    "MATCH (n) WHERE exists(n.name) RETURN labels(n), id(n), type(n), n:Drug",
    "MATCH (`weird name`:`Odd Label`) RETURN `weird name`.`odd key`",
    "RETURN -9223372036854775808 AS min, 0x1F AS hex, 0o17 AS oct, 'it\\'s' AS s, \"dq\" AS d",
    "MATCH (a)<--(b)<-[:T]-(c)--(d) RETURN *",
    "MATCH (n) RETURN n.x AS x ORDER BY n.y ASC, x DESCENDING",
    "// a comment\nMATCH (n) /* inline */ RETURN n;",
    "RETURN 1 < -1, 2 <> 3, 1 =~ 'x'",
];

#[test]
fn real_queries_parse_and_round_trip() {
    for q in QUERIES {
        let s = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let printed = s.to_string();
        let again = parse(&printed).unwrap_or_else(|e| panic!("{q}\nprinted: {printed}\n{e}"));
        assert_eq!(roundtrip::strip_text(again.clone()), roundtrip::strip_text(s), "{q}\nprinted: {printed}");
        assert_eq!(again.to_string(), printed, "printing is a fixpoint");
    }
}

#[test]
fn shapes() {
    let s = parse("MATCH (a)-[r:T*2..]->(b) RETURN a.name").unwrap();
    let Clause::Match(m) = &s.query.first.clauses[0] else { panic!() };
    let (rel, _) = &m.pattern[0].element.chain[0];
    assert_eq!(rel.length, Some(Length { min: Some(2), max: None }));
    assert_eq!(rel.direction, Direction::Right);
    let Clause::Return(p) = &s.query.first.clauses[1] else { panic!() };
    assert_eq!(p.items[0].name(), "a.name");

    let s = parse("RETURN -9223372036854775808 AS v").unwrap();
    let Clause::Return(p) = &s.query.first.clauses[0] else { panic!() };
    assert_eq!(p.items[0].expr, Expr::Lit(Literal::Int(i64::MIN)));

    let s = parse("RETURN 1 < 2 <= 3").unwrap();
    let Clause::Return(p) = &s.query.first.clauses[0] else { panic!() };
    assert!(matches!(&p.items[0].expr, Expr::Compare(_, rest) if rest.len() == 2));

    let s = parse("RETURN (1)-(2) AS x").unwrap();
    let Clause::Return(p) = &s.query.first.clauses[0] else { panic!() };
    assert!(matches!(p.items[0].expr, Expr::Binary(BinaryOp::Sub, ..)));
}

#[test]
fn errors_name_line_and_column() {
    let cases = [
        ("MATCH (a RETURN a", (1, 10)),
        ("MATCH (a)\nWHERE a.x = \nRETURN a", (3, 1)),
        ("RETURN 9223372036854775808", (1, 8)),
        ("MATCH (a)-[*-2]->(b) RETURN a", (1, 13)),
        ("FROB (a)", (1, 1)),
    ];
    for (q, pos) in cases {
        let err = parse(q).unwrap_err();
        assert_eq!(err.position(), Some(pos), "{q}: {err}");
        assert!(err.to_string().contains(&format!("line {}", pos.0)), "{err}");
    }
    assert_eq!(parse("RETURN 9223372036854775808").unwrap_err().code(), Some("IntegerOverflow"));
    assert_eq!(parse("MATCH (a)-[:T..2]->(b) RETURN a").unwrap_err().code(), Some("InvalidRelationshipPattern"));
    assert_eq!(parse("RETURN [1,,2]").unwrap_err().code(), Some("UnexpectedSyntax"));
    assert_eq!(parse("RETURN 1a").unwrap_err().code(), Some("InvalidNumberLiteral"));
    // `<-->` is a relationship in either direction, as in Neo4j.
    assert!(parse("MATCH (a)<-->(b) RETURN a").is_ok());
}

/// Whatever parses under the depth limit prints to text that parses again: printing adds
/// only the parentheses that precedence needs. (Found by fuzzing: `RETURN` and 43 minus
/// signs printed with two parentheses per sign and no longer parsed.)
#[test]
fn long_flat_expressions_print_flat_and_parse_again() {
    let ands = vec!["n.a = 1"; 200].join(" AND ");
    let sums = vec!["1"; 200].join(" + ");
    let cases = [
        format!("MATCH (n) WHERE {ands} RETURN n"),
        format!("RETURN {sums} AS total"),
        format!("RETURN {}x AS v", "-".repeat(45)),
        format!("RETURN {}true AS v", "NOT ".repeat(45)),
        format!("RETURN {}1 + 2{} AS v", "(".repeat(45), ")".repeat(45)),
        format!("RETURN {}(1){} AS v", "-(".repeat(22), ")".repeat(22)),
        format!("RETURN {}5, {}1.5, {}(-5) AS v", "+".repeat(45), "-".repeat(45), "+".repeat(44)),
        "RETURN [(a IN null)], [(a IN b) AND c], any((x IN l)), 1 < (- -x), 1 < (-[1][0]) ORDER BY a DESC".to_owned(),
        format!("WITH {}0 AS v RETURN v, - -5, -(5), -(-5), -(0)", "-".repeat(48)),
        "MAtCH p = shortestPath(()-[*]-(b)) RETURN------------------------------------------- (sedop)".to_owned(),
    ];
    for q in &cases {
        let s = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let printed = s.to_string();
        let again = parse(&printed).unwrap_or_else(|e| panic!("{q}\nprinted: {printed}\n{e}"));
        assert_eq!(roundtrip::strip_text(again.clone()), roundtrip::strip_text(s), "{q}\nprinted: {printed}");
        assert_eq!(again.to_string(), printed, "printing is a fixpoint");
    }
    let print = |q: &str| parse(q).unwrap().to_string();
    assert_eq!(
        print("RETURN a + b * c, (a + b) * c, a - (b - c), (a - b) - c"),
        "RETURN a + b * c, (a + b) * c, a - (b - c), a - b - c"
    );
    assert_eq!(
        print("RETURN NOT a = b, (NOT a) = b, -x ^ 2, -(x ^ 2), -(5), - -x, +5, -1.5, -5"),
        "RETURN NOT a = b, (NOT a) = b, -x ^ 2, -(x ^ 2), -(5), - -x, +5, -1.5, -5"
    );
    assert_eq!(
        print("RETURN (a OR b) AND c, a OR b AND c, (n.x IS NULL) = true"),
        "RETURN (a OR b) AND c, a OR b AND c, n.x IS NULL = true"
    );
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = format!("RETURN {}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse(&deep).unwrap_err().to_string().contains("nests deeper"));
    let lists = format!("RETURN {}{}", "[".repeat(5000), "]".repeat(5000));
    assert!(parse(&lists).is_err());
    let nots = format!("RETURN {}true", "NOT ".repeat(5000));
    assert!(parse(&nots).is_err());
    let minus = format!("RETURN {}1", "- ".repeat(5000));
    assert!(parse(&minus).is_err());
}
