//! Expression parsing, by precedence level (lowest first):
//! `OR` < `XOR` < `AND` < `NOT` < comparison < string/list/null predicates < `+ -` <
//! `* / %` < `^` < unary `+ -` < postfix (`.key`, `[i]`, `[a..b]`, `:Label`) < atoms.

use crate::ast::*;
use crate::error::Result;
use crate::lexer::Tok;
use crate::parser::Parser;

impl Parser<'_> {
    /// One expression.
    pub(crate) fn expr(&mut self) -> Result<Expr> {
        self.enter()?;
        let e = self.or_expr();
        self.leave();
        e
    }

    fn or_expr(&mut self) -> Result<Expr> {
        let mut left = self.xor_expr()?;
        while self.eat_kw("OR") {
            left = Expr::Binary(BinaryOp::Or, Box::new(left), Box::new(self.xor_expr()?));
        }
        Ok(left)
    }

    fn xor_expr(&mut self) -> Result<Expr> {
        let mut left = self.and_expr()?;
        while self.eat_kw("XOR") {
            left = Expr::Binary(BinaryOp::Xor, Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr> {
        let mut left = self.not_expr()?;
        while self.eat_kw("AND") {
            left = Expr::Binary(BinaryOp::And, Box::new(left), Box::new(self.not_expr()?));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let inner = self.not_expr();
            self.leave();
            return Ok(Expr::Unary(UnaryOp::Not, Box::new(inner?)));
        }
        self.comparison()
    }

    fn compare_op(&self) -> Option<CompareOp> {
        let Tok::Sym(s) = self.peek().tok else { return None };
        Some(match s {
            "=" => CompareOp::Eq,
            "<>" | "!=" => CompareOp::Ne,
            "<" if !self.is_sym_at(1, "-") || !self.looks_like_pattern_after_lt() => CompareOp::Lt,
            "<=" => CompareOp::Le,
            ">" => CompareOp::Gt,
            ">=" => CompareOp::Ge,
            _ => return None,
        })
    }

    /// `a <-1` is a comparison; `<-[` / `<--` inside an expression start a pattern.
    fn looks_like_pattern_after_lt(&self) -> bool {
        self.is_sym_at(2, "[") || self.is_sym_at(2, "-")
    }

    fn comparison(&mut self) -> Result<Expr> {
        let first = self.predicate_expr()?;
        let mut rest = Vec::new();
        while let Some(op) = self.compare_op() {
            self.advance();
            rest.push((op, self.predicate_expr()?));
        }
        Ok(if rest.is_empty() { first } else { Expr::Compare(Box::new(first), rest) })
    }

    fn predicate_expr(&mut self) -> Result<Expr> {
        let mut left = self.additive()?;
        loop {
            let op = if self.is_kw("STARTS") && self.is_kw_at(1, "WITH") {
                self.advance();
                BinaryOp::StartsWith
            } else if self.is_kw("ENDS") && self.is_kw_at(1, "WITH") {
                self.advance();
                BinaryOp::EndsWith
            } else if self.is_kw("CONTAINS") {
                BinaryOp::Contains
            } else if self.is_kw("IN") {
                BinaryOp::In
            } else if self.is_sym("=~") {
                BinaryOp::Regex
            } else if self.is_kw("IS") {
                self.advance();
                let not = self.eat_kw("NOT");
                self.expect_kw("NULL")?;
                left = Expr::IsNull(Box::new(left), !not);
                continue;
            } else {
                return Ok(left);
            };
            self.advance();
            left = Expr::Binary(op, Box::new(left), Box::new(self.additive()?));
        }
    }

    fn additive(&mut self) -> Result<Expr> {
        let mut left = self.multiplicative()?;
        loop {
            // A pattern predicate has already consumed its relationships (`paren_or_pattern`
            // is greedy), so a `-` here is always subtraction.
            let op = if self.is_sym("+") {
                BinaryOp::Add
            } else if self.is_sym("-") {
                BinaryOp::Sub
            } else {
                return Ok(left);
            };
            self.advance();
            left = Expr::Binary(op, Box::new(left), Box::new(self.multiplicative()?));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr> {
        let mut left = self.power()?;
        loop {
            let op = if self.is_sym("*") {
                BinaryOp::Mul
            } else if self.is_sym("/") {
                BinaryOp::Div
            } else if self.is_sym("%") {
                BinaryOp::Mod
            } else {
                return Ok(left);
            };
            self.advance();
            left = Expr::Binary(op, Box::new(left), Box::new(self.power()?));
        }
    }

    fn power(&mut self) -> Result<Expr> {
        let mut left = self.unary()?;
        while self.eat_sym("^") {
            left = Expr::Binary(BinaryOp::Pow, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr> {
        if self.is_sym("-") {
            self.advance();
            // `-9223372036854775808` is a literal, not the negation of an overflow.
            if let Tok::Int(s) = &self.peek().tok {
                let s = s.clone();
                if !self.is_postfix_at(1) {
                    self.advance();
                    return Ok(Expr::Lit(Literal::Int(self.int_literal(&s, true)?)));
                }
            }
            self.enter()?;
            let inner = self.unary();
            self.leave();
            return Ok(Expr::Unary(UnaryOp::Neg, Box::new(inner?)));
        }
        if self.eat_sym("+") {
            self.enter()?;
            let inner = self.unary();
            self.leave();
            return Ok(Expr::Unary(UnaryOp::Plus, Box::new(inner?)));
        }
        self.postfix_expr()
    }

    fn is_postfix_at(&self, n: usize) -> bool {
        self.is_sym_at(n, ".") || self.is_sym_at(n, "[")
    }

    pub(crate) fn int_literal(&self, text: &str, negative: bool) -> Result<i64> {
        let (digits, radix) = if let Some(h) = text.strip_prefix("0x") {
            (h, 16)
        } else if let Some(o) = text.strip_prefix("0o") {
            (o, 8)
        } else {
            (text, 10)
        };
        let signed = if negative { format!("-{digits}") } else { digits.to_owned() };
        i64::from_str_radix(&signed, radix).map_err(|e| {
            let overflow =
                matches!(e.kind(), std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow);
            let code = if overflow { "IntegerOverflow" } else { "InvalidNumberLiteral" };
            self.coded_here(code, format!("invalid integer literal {text}"))
        })
    }

    /// Atoms with their postfix operators.
    pub(crate) fn postfix_expr(&mut self) -> Result<Expr> {
        let mut e = self.atom()?;
        loop {
            if self.is_sym(".") {
                self.advance();
                e = Expr::Prop(Box::new(e), self.name()?);
            } else if self.is_sym("[") {
                self.advance();
                if self.eat_sym("..") {
                    let to = if self.is_sym("]") { None } else { Some(Box::new(self.expr()?)) };
                    self.expect_sym("]")?;
                    e = Expr::Slice(Box::new(e), None, to);
                    continue;
                }
                let index = self.expr()?;
                if self.eat_sym("..") {
                    let to = if self.is_sym("]") { None } else { Some(Box::new(self.expr()?)) };
                    self.expect_sym("]")?;
                    e = Expr::Slice(Box::new(e), Some(Box::new(index)), to);
                } else {
                    self.expect_sym("]")?;
                    e = Expr::Index(Box::new(e), Box::new(index));
                }
            } else if self.is_sym(":") && matches!(self.peek_at(1).tok, Tok::Ident { .. }) {
                e = Expr::HasLabels(Box::new(e), self.labels()?);
            } else {
                return Ok(e);
            }
        }
    }

    fn atom(&mut self) -> Result<Expr> {
        let token = self.peek().clone();
        match &token.tok {
            Tok::Int(s) => {
                let v = self.int_literal(s, false)?;
                self.advance();
                Ok(Expr::Lit(Literal::Int(v)))
            }
            Tok::Float(f) => {
                self.advance();
                Ok(Expr::Lit(Literal::Float(*f)))
            }
            Tok::Str(s) => {
                self.advance();
                Ok(Expr::Lit(Literal::String(s.clone())))
            }
            Tok::Param(p) => {
                self.advance();
                Ok(Expr::Param(p.clone()))
            }
            Tok::Sym("[") => self.list_like(),
            Tok::Sym("{") => self.map_literal(),
            Tok::Sym("(") => self.paren_or_pattern(),
            Tok::Ident { text, quoted: false } => self.word_atom(text.clone()),
            Tok::Ident { text, quoted: true } => self.variable_atom(text.clone()),
            Tok::Sym(_) | Tok::Eof => Err(self.unexpected("an expression")),
        }
    }

    fn word_atom(&mut self, word: String) -> Result<Expr> {
        let upper = word.to_ascii_uppercase();
        match upper.as_str() {
            "TRUE" => {
                self.advance();
                return Ok(Expr::Lit(Literal::Bool(true)));
            }
            "FALSE" => {
                self.advance();
                return Ok(Expr::Lit(Literal::Bool(false)));
            }
            "NULL" => {
                self.advance();
                return Ok(Expr::Lit(Literal::Null));
            }
            "CASE" => return self.case_expr(),
            "EXISTS" if self.is_sym_at(1, "{") => return self.exists_subquery(),
            _ => {}
        }
        if self.is_sym_at(1, "(") {
            match upper.as_str() {
                "COUNT" if self.is_sym_at(2, "*") && self.is_sym_at(3, ")") => {
                    self.pos += 4;
                    return Ok(Expr::CountStar);
                }
                "ANY" | "ALL" | "NONE" | "SINGLE" if self.is_variable_at(2) && self.is_kw_at(3, "IN") => {
                    return self.quantified(&upper);
                }
                "REDUCE" => return self.reduce(),
                "SHORTESTPATH" | "ALLSHORTESTPATHS" => {
                    return Ok(Expr::ShortestPath(Box::new(self.pattern_part()?)));
                }
                "EXISTS" => return self.exists_call(),
                _ => {}
            }
            return self.call();
        }
        // Namespaced call: `a.b.f(…)`.
        if self.is_sym_at(1, ".") && self.namespaced_call_ahead() {
            return self.call();
        }
        if crate::parser::is_reserved(&word) {
            return Err(self.unexpected("an expression"));
        }
        self.variable_atom(word)
    }

    fn is_variable_at(&self, n: usize) -> bool {
        matches!(&self.peek_at(n).tok, Tok::Ident { text, quoted } if *quoted || !crate::parser::is_reserved(text))
    }

    fn namespaced_call_ahead(&self) -> bool {
        let mut n = 0;
        loop {
            if !matches!(self.peek_at(n).tok, Tok::Ident { .. }) {
                return false;
            }
            if self.is_sym_at(n + 1, "(") {
                return n > 0;
            }
            if !self.is_sym_at(n + 1, ".") {
                return false;
            }
            n += 2;
        }
    }

    fn variable_atom(&mut self, name: String) -> Result<Expr> {
        self.advance();
        if self.is_sym("{") {
            return self.map_projection(name);
        }
        Ok(Expr::Var(name))
    }

    fn call(&mut self) -> Result<Expr> {
        let mut name = self.name()?;
        while self.eat_sym(".") {
            name.push('.');
            name.push_str(&self.name()?);
        }
        self.expect_sym("(")?;
        let distinct = self.eat_kw("DISTINCT");
        let mut args = Vec::new();
        if !self.is_sym(")") {
            args.push(self.expr()?);
            while self.eat_sym(",") {
                args.push(self.expr()?);
            }
        }
        self.expect_sym(")")?;
        Ok(Expr::Call { name: name.to_lowercase(), distinct, args })
    }

    fn exists_call(&mut self) -> Result<Expr> {
        self.advance();
        self.expect_sym("(")?;
        let save = self.mark();
        if self.is_sym("(")
            && let Ok(element) = self.pattern_element()
            && !element.chain.is_empty()
            && self.eat_sym(")")
        {
            let part = PatternPart { var: None, kind: PathKind::All, element };
            return Ok(Expr::Exists(Box::new(Match { optional: false, pattern: vec![part], filter: None })));
        }
        self.reset(save);
        let arg = self.expr()?;
        self.expect_sym(")")?;
        Ok(Expr::Call { name: "exists".into(), distinct: false, args: vec![arg] })
    }

    fn exists_subquery(&mut self) -> Result<Expr> {
        self.advance();
        self.expect_sym("{")?;
        self.eat_kw("MATCH");
        let pattern = self.pattern()?;
        let filter = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        self.expect_sym("}")?;
        Ok(Expr::Exists(Box::new(Match { optional: false, pattern, filter })))
    }

    fn quantified(&mut self, upper: &str) -> Result<Expr> {
        let kind = match upper {
            "ANY" => Quantifier::Any,
            "ALL" => Quantifier::All,
            "NONE" => Quantifier::None,
            _ => Quantifier::Single,
        };
        self.advance();
        self.expect_sym("(")?;
        let var = self.variable()?;
        self.expect_kw("IN")?;
        let list = Box::new(self.expr()?);
        let filter = if self.eat_kw("WHERE") { Some(Box::new(self.expr()?)) } else { None };
        self.expect_sym(")")?;
        Ok(Expr::Quantified { kind, var, list, filter })
    }

    fn reduce(&mut self) -> Result<Expr> {
        self.advance();
        self.expect_sym("(")?;
        let acc = self.variable()?;
        self.expect_sym("=")?;
        let init = Box::new(self.expr()?);
        self.expect_sym(",")?;
        let var = self.variable()?;
        self.expect_kw("IN")?;
        let list = Box::new(self.expr()?);
        self.expect_sym("|")?;
        let expr = Box::new(self.expr()?);
        self.expect_sym(")")?;
        Ok(Expr::Reduce { acc, init, var, list, expr })
    }

    fn case_expr(&mut self) -> Result<Expr> {
        self.advance();
        let subject = if self.is_kw("WHEN") { None } else { Some(Box::new(self.expr()?)) };
        let mut branches = Vec::new();
        while self.eat_kw("WHEN") {
            let when = self.expr()?;
            self.expect_kw("THEN")?;
            branches.push((when, self.expr()?));
        }
        if branches.is_empty() {
            return Err(self.unexpected("WHEN"));
        }
        let otherwise = if self.eat_kw("ELSE") { Some(Box::new(self.expr()?)) } else { None };
        self.expect_kw("END")?;
        Ok(Expr::Case { subject, branches, otherwise })
    }

    /// `[…]`: a list literal, a list comprehension or a pattern comprehension.
    fn list_like(&mut self) -> Result<Expr> {
        self.expect_sym("[")?;
        if self.is_variable() && self.is_kw_at(1, "IN") {
            let var = self.variable()?;
            self.advance();
            let list = Box::new(self.expr()?);
            let filter = if self.eat_kw("WHERE") { Some(Box::new(self.expr()?)) } else { None };
            let map = if self.eat_sym("|") { Some(Box::new(self.expr()?)) } else { None };
            self.expect_sym("]")?;
            return Ok(Expr::ListComprehension { var, list, filter, map });
        }
        if let Some(e) = self.try_pattern_comprehension()? {
            return Ok(e);
        }
        let mut items = Vec::new();
        if !self.is_sym("]") {
            items.push(self.expr()?);
            while self.eat_sym(",") {
                items.push(self.expr()?);
            }
        }
        self.expect_sym("]")?;
        Ok(Expr::List(items))
    }

    fn try_pattern_comprehension(&mut self) -> Result<Option<Expr>> {
        let save = self.mark();
        let var = if self.is_variable() && self.is_sym_at(1, "=") {
            let v = self.variable()?;
            self.advance();
            Some(v)
        } else {
            None
        };
        if !self.is_sym("(") {
            self.reset(save);
            return Ok(None);
        }
        let Ok(element) = self.pattern_element() else {
            self.reset(save);
            return Ok(None);
        };
        if element.chain.is_empty() || !(self.is_kw("WHERE") || self.is_sym("|")) {
            self.reset(save);
            return Ok(None);
        }
        let filter = if self.eat_kw("WHERE") { Some(Box::new(self.expr()?)) } else { None };
        self.expect_sym("|")?;
        let map = Box::new(self.expr()?);
        self.expect_sym("]")?;
        Ok(Some(Expr::PatternComprehension { var, pattern: Box::new(element), filter, map }))
    }

    pub(crate) fn map_literal(&mut self) -> Result<Expr> {
        self.expect_sym("{")?;
        let mut items: Vec<(String, Expr)> = Vec::new();
        if !self.is_sym("}") {
            loop {
                let key = self.name()?;
                self.expect_sym(":")?;
                items.push((key, self.expr()?));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym("}")?;
        Ok(Expr::Map(items))
    }

    fn map_projection(&mut self, var: String) -> Result<Expr> {
        self.expect_sym("{")?;
        let mut items = Vec::new();
        if !self.is_sym("}") {
            loop {
                if self.eat_sym(".") {
                    if self.eat_sym("*") {
                        items.push(MapProjectionItem::All);
                    } else {
                        items.push(MapProjectionItem::Property(self.name()?));
                    }
                } else if self.is_sym_at(1, ":") {
                    let key = self.name()?;
                    self.advance();
                    items.push(MapProjectionItem::Literal(key, self.expr()?));
                } else {
                    items.push(MapProjectionItem::Variable(self.variable()?));
                }
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.expect_sym("}")?;
        Ok(Expr::MapProjection { var, items })
    }

    /// `(expr)` or a pattern predicate `(a)-[:T]->(b)`.
    fn paren_or_pattern(&mut self) -> Result<Expr> {
        let save = self.mark();
        if let Ok(element) = self.pattern_element_in_expr()
            && !element.chain.is_empty()
        {
            return Ok(Expr::Pattern(Box::new(element)));
        }
        self.reset(save);
        self.expect_sym("(")?;
        let e = self.expr()?;
        self.expect_sym(")")?;
        Ok(e)
    }
}
