//! Recursive-descent parser: clauses and patterns.
//!
//! Expressions are in [`crate::expr`]; both share the [`Parser`] cursor.

use crate::ast::*;
use crate::error::{CypherError, Result};
use crate::lexer::{Tok, Token, tokenize};

/// Deepest nesting of expressions and patterns accepted, so hostile input cannot exhaust
/// the stack. Measured: an unoptimised build spends about 21 KB of stack per nested list,
/// so 48 levels stay under half of a 2 MB thread stack.
pub const MAX_DEPTH: usize = 48;

/// Parses one statement.
///
/// ```
/// let s = cairn_cypher::parse("MATCH (a:Drug)-[:INHIBITS]->(e) RETURN a.name AS drug").unwrap();
/// assert_eq!(s.query.first.clauses.len(), 2);
/// ```
pub fn parse(text: &str) -> Result<Statement> {
    let tokens = tokenize(text)?;
    let mut p = Parser { text, tokens, pos: 0, depth: 0 };
    let explain = p.eat_kw("EXPLAIN");
    let query = p.query()?;
    p.eat_sym(";");
    if !p.at_eof() {
        return Err(p.unexpected("the end of the query"));
    }
    Ok(Statement { explain, query })
}

/// The cursor over tokens.
pub(crate) struct Parser<'a> {
    pub(crate) text: &'a str,
    pub(crate) tokens: Vec<Token>,
    pub(crate) pos: usize,
    pub(crate) depth: usize,
}

const CLAUSE_START: [&str; 11] =
    ["MATCH", "OPTIONAL", "UNWIND", "WITH", "RETURN", "CREATE", "MERGE", "SET", "REMOVE", "DELETE", "DETACH"];

impl Parser<'_> {
    // ---- cursor helpers -------------------------------------------------------------

    pub(crate) fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    pub(crate) fn peek_at(&self, n: usize) -> &Token {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)]
    }

    pub(crate) fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    pub(crate) fn at_eof(&self) -> bool {
        self.peek().tok == Tok::Eof
    }

    pub(crate) fn is_sym(&self, s: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(x) if *x == s)
    }

    pub(crate) fn is_sym_at(&self, n: usize, s: &str) -> bool {
        matches!(&self.peek_at(n).tok, Tok::Sym(x) if *x == s)
    }

    pub(crate) fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.advance();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_sym(&mut self, s: &str) -> Result<()> {
        if self.eat_sym(s) { Ok(()) } else { Err(self.unexpected(&format!("'{s}'"))) }
    }

    pub(crate) fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(&self.peek_at(n).tok, Tok::Ident { text, quoted: false } if text.eq_ignore_ascii_case(kw))
    }

    pub(crate) fn is_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    pub(crate) fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) { Ok(()) } else { Err(self.unexpected(kw)) }
    }

    pub(crate) fn error_here(&self, message: impl Into<String>) -> CypherError {
        let t = self.peek();
        CypherError::syntax(t.line, t.column, message)
    }

    pub(crate) fn coded_here(&self, code: &'static str, message: impl Into<String>) -> CypherError {
        let t = self.peek();
        CypherError::coded(t.line, t.column, code, message)
    }

    pub(crate) fn unexpected(&self, wanted: &str) -> CypherError {
        let found = match &self.peek().tok {
            Tok::Eof => "the end of the query".to_owned(),
            Tok::Ident { text, .. } => format!("'{text}'"),
            Tok::Int(s) => s.clone(),
            Tok::Float(f) => f.to_string(),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Param(p) => format!("${p}"),
            Tok::Sym(s) => format!("'{s}'"),
        };
        self.error_here(format!("expected {wanted}, found {found}"))
    }

    /// A name: any identifier, keywords included (labels, types, keys, aliases).
    pub(crate) fn name(&mut self) -> Result<String> {
        if let Tok::Ident { text, .. } = &self.peek().tok {
            let text = text.clone();
            self.advance();
            return Ok(text);
        }
        Err(self.unexpected("a name"))
    }

    /// A variable name: an identifier that is not a reserved word.
    pub(crate) fn variable(&mut self) -> Result<String> {
        if let Tok::Ident { text, quoted } = &self.peek().tok
            && (*quoted || !is_reserved(text))
        {
            let text = text.clone();
            self.advance();
            return Ok(text);
        }
        Err(self.unexpected("a variable"))
    }

    pub(crate) fn is_variable(&self) -> bool {
        matches!(&self.peek().tok, Tok::Ident { text, quoted } if *quoted || !is_reserved(text))
    }

    /// A backtracking point.
    pub(crate) fn mark(&self) -> (usize, usize) {
        (self.pos, self.depth)
    }

    /// Returns to a backtracking point.
    pub(crate) fn reset(&mut self, mark: (usize, usize)) {
        (self.pos, self.depth) = mark;
    }

    pub(crate) fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(format!("query nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- queries and clauses --------------------------------------------------------

    fn query(&mut self) -> Result<Query> {
        let first = self.single_query()?;
        let mut unions = Vec::new();
        while self.eat_kw("UNION") {
            let all = self.eat_kw("ALL");
            unions.push((all, self.single_query()?));
        }
        Ok(Query { first, unions })
    }

    fn single_query(&mut self) -> Result<SingleQuery> {
        let mut clauses = Vec::new();
        while CLAUSE_START.iter().any(|k| self.is_kw(k)) {
            clauses.push(self.clause()?);
        }
        if clauses.is_empty() {
            return Err(self.unexpected("a clause (MATCH, RETURN, CREATE, …)"));
        }
        Ok(SingleQuery { clauses })
    }

    fn clause(&mut self) -> Result<Clause> {
        if self.eat_kw("OPTIONAL") {
            self.expect_kw("MATCH")?;
            return self.match_clause(true);
        }
        if self.eat_kw("MATCH") {
            return self.match_clause(false);
        }
        if self.eat_kw("UNWIND") {
            let expr = self.expr()?;
            self.expect_kw("AS")?;
            let var = self.variable()?;
            return Ok(Clause::Unwind { expr, var });
        }
        if self.eat_kw("WITH") {
            let mut projection = self.projection()?;
            if self.eat_kw("WHERE") {
                projection.filter = Some(self.expr()?);
            }
            return Ok(Clause::With(projection));
        }
        if self.eat_kw("RETURN") {
            return Ok(Clause::Return(self.projection()?));
        }
        if self.eat_kw("CREATE") {
            return Ok(Clause::Create(self.pattern()?));
        }
        if self.eat_kw("MERGE") {
            return self.merge();
        }
        if self.eat_kw("SET") {
            return Ok(Clause::Set(self.set_items()?));
        }
        if self.eat_kw("REMOVE") {
            return Ok(Clause::Remove(self.remove_items()?));
        }
        let detach = self.eat_kw("DETACH");
        self.expect_kw("DELETE")?;
        let mut exprs = vec![self.expr()?];
        while self.eat_sym(",") {
            exprs.push(self.expr()?);
        }
        Ok(Clause::Delete { detach, exprs })
    }

    fn match_clause(&mut self, optional: bool) -> Result<Clause> {
        let pattern = self.pattern()?;
        let filter = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        Ok(Clause::Match(Match { optional, pattern, filter }))
    }

    fn merge(&mut self) -> Result<Clause> {
        let part = self.pattern_part()?;
        let mut actions = Vec::new();
        while self.is_kw("ON") {
            self.advance();
            let on_create = if self.eat_kw("CREATE") {
                true
            } else {
                self.expect_kw("MATCH")?;
                false
            };
            self.expect_kw("SET")?;
            actions.push(MergeAction { on_create, items: self.set_items()? });
        }
        Ok(Clause::Merge(Merge { part, actions }))
    }

    fn set_items(&mut self) -> Result<Vec<SetItem>> {
        let mut items = vec![self.set_item()?];
        while self.eat_sym(",") {
            items.push(self.set_item()?);
        }
        Ok(items)
    }

    fn set_item(&mut self) -> Result<SetItem> {
        if self.is_variable() && (self.is_sym_at(1, "=") || self.is_sym_at(1, "+=")) {
            let var = self.variable()?;
            let merge = self.advance().tok == Tok::Sym("+=");
            return Ok(SetItem::Properties { var, value: self.expr()?, merge });
        }
        if self.is_variable() && self.is_sym_at(1, ":") {
            let var = self.variable()?;
            return Ok(SetItem::Labels { var, labels: self.labels()? });
        }
        let (target, key) = self.property_target()?;
        self.expect_sym("=")?;
        Ok(SetItem::Property { target, key, value: self.expr()? })
    }

    fn remove_items(&mut self) -> Result<Vec<RemoveItem>> {
        let mut items = Vec::new();
        loop {
            if self.is_variable() && self.is_sym_at(1, ":") {
                let var = self.variable()?;
                items.push(RemoveItem::Labels { var, labels: self.labels()? });
            } else {
                let (target, key) = self.property_target()?;
                items.push(RemoveItem::Property { target, key });
            }
            if !self.eat_sym(",") {
                return Ok(items);
            }
        }
    }

    /// `expr.key` as the target of `SET` or `REMOVE`.
    fn property_target(&mut self) -> Result<(Expr, String)> {
        if let Expr::Prop(target, key) = self.postfix_expr()? {
            return Ok((*target, key));
        }
        Err(self.error_here("expected a property such as n.name"))
    }

    pub(crate) fn labels(&mut self) -> Result<Vec<String>> {
        let mut labels = Vec::new();
        while self.eat_sym(":") {
            labels.push(self.name()?);
        }
        Ok(labels)
    }

    fn projection(&mut self) -> Result<Projection> {
        let distinct = self.eat_kw("DISTINCT");
        let mut star = false;
        let mut items = Vec::new();
        if self.eat_sym("*") {
            star = true;
            if self.eat_sym(",") {
                items = self.projection_items()?;
            }
        } else {
            items = self.projection_items()?;
        }
        let mut order = Vec::new();
        if self.is_kw("ORDER") {
            self.advance();
            self.expect_kw("BY")?;
            loop {
                let expr = self.expr()?;
                let ascending = if self.eat_kw("DESC") || self.eat_kw("DESCENDING") {
                    false
                } else {
                    let _ = self.eat_kw("ASC") || self.eat_kw("ASCENDING");
                    true
                };
                order.push(SortItem { expr, ascending });
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let skip = if self.eat_kw("SKIP") { Some(self.expr()?) } else { None };
        let limit = if self.eat_kw("LIMIT") { Some(self.expr()?) } else { None };
        Ok(Projection { distinct, star, items, order, skip, limit, filter: None })
    }

    fn projection_items(&mut self) -> Result<Vec<ProjectionItem>> {
        let mut items = Vec::new();
        loop {
            let start = self.peek().offset;
            let expr = self.expr()?;
            let end = self.tokens[self.pos.saturating_sub(1)].end;
            let text = self.text[start..end.max(start)].trim().to_owned();
            let alias = if self.eat_kw("AS") { Some(self.variable()?) } else { None };
            items.push(ProjectionItem { expr, alias, text });
            if !self.eat_sym(",") {
                return Ok(items);
            }
        }
    }

    // ---- patterns -------------------------------------------------------------------

    pub(crate) fn pattern(&mut self) -> Result<Vec<PatternPart>> {
        let mut parts = vec![self.pattern_part()?];
        while self.eat_sym(",") {
            parts.push(self.pattern_part()?);
        }
        Ok(parts)
    }

    pub(crate) fn pattern_part(&mut self) -> Result<PatternPart> {
        let var = if self.is_variable() && self.is_sym_at(1, "=") {
            let v = self.variable()?;
            self.advance();
            Some(v)
        } else {
            None
        };
        let kind = if self.is_kw("shortestPath") && self.is_sym_at(1, "(") {
            PathKind::Shortest
        } else if self.is_kw("allShortestPaths") && self.is_sym_at(1, "(") {
            PathKind::AllShortest
        } else {
            PathKind::All
        };
        if kind != PathKind::All {
            self.advance();
            self.expect_sym("(")?;
            let element = self.pattern_element()?;
            self.expect_sym(")")?;
            return Ok(PatternPart { var, kind, element });
        }
        Ok(PatternPart { var, kind, element: self.pattern_element()? })
    }

    pub(crate) fn pattern_element(&mut self) -> Result<PatternElement> {
        self.enter()?;
        // A parenthesised element: `((a)-->(b))`.
        if self.is_sym("(") && self.is_sym_at(1, "(") {
            self.advance();
            let inner = self.pattern_element()?;
            self.expect_sym(")")?;
            self.leave();
            return Ok(inner);
        }
        let start = self.node_pattern()?;
        let mut chain = Vec::new();
        while self.at_relationship() {
            let rel = self.rel_pattern()?;
            chain.push((rel, self.node_pattern()?));
        }
        self.leave();
        Ok(PatternElement { start, chain })
    }

    /// A pattern inside an expression: the chain ends before a step that does not parse,
    /// so `()<--() - [x IN list]` is a pattern minus a list comprehension.
    pub(crate) fn pattern_element_in_expr(&mut self) -> Result<PatternElement> {
        if self.is_sym("(") && self.is_sym_at(1, "(") {
            return self.pattern_element();
        }
        self.enter()?;
        let start = self.node_pattern()?;
        let mut chain = Vec::new();
        while self.at_relationship() {
            let save = self.mark();
            match self.rel_pattern().and_then(|rel| Ok((rel, self.node_pattern()?))) {
                Ok(step) => chain.push(step),
                Err(_) => {
                    self.reset(save);
                    break;
                }
            }
        }
        self.leave();
        Ok(PatternElement { start, chain })
    }

    /// Whether the cursor is at `-[`, `--`, `<-[` or `<--`. (`(a) - (b)` is arithmetic.)
    pub(crate) fn at_relationship(&self) -> bool {
        let at = |n| self.is_sym_at(n, "-") && (self.is_sym_at(n + 1, "[") || self.is_sym_at(n + 1, "-"));
        at(0) || (self.is_sym("<") && at(1))
    }

    pub(crate) fn node_pattern(&mut self) -> Result<NodePattern> {
        self.expect_sym("(")?;
        let var = if self.is_variable() { Some(self.variable()?) } else { None };
        let labels = self.labels()?;
        let props = self.pattern_props()?;
        self.expect_sym(")")?;
        Ok(NodePattern { var, labels, props })
    }

    fn pattern_props(&mut self) -> Result<Option<Expr>> {
        if self.is_sym("{") {
            return Ok(Some(self.map_literal()?));
        }
        if let Tok::Param(p) = &self.peek().tok {
            let p = p.clone();
            self.advance();
            return Ok(Some(Expr::Param(p)));
        }
        Ok(None)
    }

    fn rel_pattern(&mut self) -> Result<RelPattern> {
        let left = self.eat_sym("<");
        self.expect_sym("-")?;
        let rel = RelPattern { var: None, types: Vec::new(), direction: Direction::Both, length: None, props: None };
        if self.eat_sym("[") {
            return self
                .rel_detail(rel)
                .map_err(|e| e.with_code("InvalidRelationshipPattern"))
                .and_then(|rel| self.rel_close(rel, left));
        }
        self.rel_close(rel, left)
    }

    fn rel_detail(&mut self, mut rel: RelPattern) -> Result<RelPattern> {
        {
            if self.is_variable() {
                rel.var = Some(self.variable()?);
            }
            if self.eat_sym(":") {
                rel.types.push(self.name()?);
                while self.eat_sym("|") {
                    self.eat_sym(":");
                    rel.types.push(self.name()?);
                }
            }
            if self.eat_sym("*") {
                rel.length = Some(self.range()?);
            }
            rel.props = self.pattern_props()?;
            self.expect_sym("]")?;
        }
        Ok(rel)
    }

    fn rel_close(&mut self, mut rel: RelPattern, left: bool) -> Result<RelPattern> {
        self.expect_sym("-")?;
        let right = self.eat_sym(">");
        rel.direction = match (left, right) {
            (true, false) => Direction::Left,
            (false, true) => Direction::Right,
            (false, false) => Direction::Both,
            (true, true) => Direction::Both,
        };
        Ok(rel)
    }

    fn range(&mut self) -> Result<Length> {
        let min = self.opt_u64()?;
        if self.eat_sym("..") {
            let max = self.opt_u64()?;
            return Ok(Length { min, max });
        }
        // `*2` is exactly two hops.
        Ok(Length { min, max: min })
    }

    fn opt_u64(&mut self) -> Result<Option<u64>> {
        if let Tok::Int(s) = &self.peek().tok {
            let v = s.parse::<u64>().map_err(|_| self.error_here("invalid path length"))?;
            self.advance();
            return Ok(Some(v));
        }
        Ok(None)
    }
}

/// Words that cannot name a variable without backticks.
pub(crate) fn is_reserved(word: &str) -> bool {
    const RESERVED: [&str; 42] = [
        "ALL",
        "AND",
        "AS",
        "ASC",
        "ASCENDING",
        "BY",
        "CASE",
        "CREATE",
        "DELETE",
        "DESC",
        "DESCENDING",
        "DETACH",
        "DISTINCT",
        "ELSE",
        "END",
        "ENDS",
        "EXISTS",
        "FALSE",
        "IN",
        "IS",
        "LIMIT",
        "MATCH",
        "MERGE",
        "NOT",
        "NULL",
        "ON",
        "OPTIONAL",
        "OR",
        "ORDER",
        "REMOVE",
        "RETURN",
        "SET",
        "SKIP",
        "STARTS",
        "THEN",
        "TRUE",
        "UNION",
        "UNWIND",
        "WHEN",
        "WHERE",
        "WITH",
        "XOR",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}
