//! Printing a syntax tree back to Cypher text that parses to the same tree.
//!
//! Operators are fully parenthesised, names are backquoted when they need it and floats
//! print in their shortest round-tripping form, so `parse(print(s)) == s` up to the
//! column names of unaliased projections (which are the text as written).

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.explain {
            f.write_str("EXPLAIN ")?;
        }
        write_single(f, &self.query.first)?;
        for (all, q) in &self.query.unions {
            f.write_str(if *all { " UNION ALL " } else { " UNION " })?;
            write_single(f, q)?;
        }
        Ok(())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_expr(f, self)
    }
}

impl Display for PatternPart {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_part(f, self)
    }
}

fn write_single(f: &mut Formatter<'_>, q: &SingleQuery) -> fmt::Result {
    for (i, clause) in q.clauses.iter().enumerate() {
        if i > 0 {
            f.write_char(' ')?;
        }
        write_clause(f, clause)?;
    }
    Ok(())
}

fn write_clause(f: &mut Formatter<'_>, clause: &Clause) -> fmt::Result {
    match clause {
        Clause::Match(m) => write_match(f, m),
        Clause::Unwind { expr, var } => {
            write!(f, "UNWIND {expr} AS ")?;
            write_name(f, var, true)
        }
        Clause::With(p) => {
            f.write_str("WITH ")?;
            write_projection(f, p)?;
            if let Some(w) = &p.filter {
                write!(f, " WHERE {w}")?;
            }
            Ok(())
        }
        Clause::Return(p) => {
            f.write_str("RETURN ")?;
            write_projection(f, p)
        }
        Clause::Create(parts) => {
            f.write_str("CREATE ")?;
            write_pattern(f, parts)
        }
        Clause::Merge(m) => {
            f.write_str("MERGE ")?;
            write_part(f, &m.part)?;
            for action in &m.actions {
                f.write_str(if action.on_create { " ON CREATE SET " } else { " ON MATCH SET " })?;
                write_set_items(f, &action.items)?;
            }
            Ok(())
        }
        Clause::Set(items) => {
            f.write_str("SET ")?;
            write_set_items(f, items)
        }
        Clause::Remove(items) => {
            f.write_str("REMOVE ")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                match item {
                    RemoveItem::Property { target, key } => {
                        write_postfix_base(f, target)?;
                        f.write_char('.')?;
                        write_name(f, key, false)?;
                    }
                    RemoveItem::Labels { var, labels } => {
                        write_name(f, var, true)?;
                        write_labels(f, labels)?;
                    }
                }
            }
            Ok(())
        }
        Clause::Delete { detach, exprs } => {
            f.write_str(if *detach { "DETACH DELETE " } else { "DELETE " })?;
            write_list(f, exprs)
        }
    }
}

fn write_match(f: &mut Formatter<'_>, m: &Match) -> fmt::Result {
    f.write_str(if m.optional { "OPTIONAL MATCH " } else { "MATCH " })?;
    write_pattern(f, &m.pattern)?;
    if let Some(w) = &m.filter {
        write!(f, " WHERE {w}")?;
    }
    Ok(())
}

fn write_set_items(f: &mut Formatter<'_>, items: &[SetItem]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        match item {
            SetItem::Property { target, key, value } => {
                write_postfix_base(f, target)?;
                f.write_char('.')?;
                write_name(f, key, false)?;
                write!(f, " = {value}")?;
            }
            SetItem::Properties { var, value, merge } => {
                write_name(f, var, true)?;
                write!(f, " {} {value}", if *merge { "+=" } else { "=" })?;
            }
            SetItem::Labels { var, labels } => {
                write_name(f, var, true)?;
                write_labels(f, labels)?;
            }
        }
    }
    Ok(())
}

fn write_projection(f: &mut Formatter<'_>, p: &Projection) -> fmt::Result {
    if p.distinct {
        f.write_str("DISTINCT ")?;
    }
    if p.star {
        f.write_char('*')?;
        if !p.items.is_empty() {
            f.write_str(", ")?;
        }
    }
    for (i, item) in p.items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_expr(f, &item.expr)?;
        if let Some(alias) = &item.alias {
            f.write_str(" AS ")?;
            write_name(f, alias, true)?;
        }
    }
    if !p.order.is_empty() {
        f.write_str(" ORDER BY ")?;
        for (i, s) in p.order.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}{}", s.expr, if s.ascending { "" } else { " DESC" })?;
        }
    }
    if let Some(s) = &p.skip {
        write!(f, " SKIP {s}")?;
    }
    if let Some(l) = &p.limit {
        write!(f, " LIMIT {l}")?;
    }
    Ok(())
}

fn write_pattern(f: &mut Formatter<'_>, parts: &[PatternPart]) -> fmt::Result {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_part(f, part)?;
    }
    Ok(())
}

fn write_part(f: &mut Formatter<'_>, part: &PatternPart) -> fmt::Result {
    if let Some(v) = &part.var {
        write_name(f, v, true)?;
        f.write_str(" = ")?;
    }
    match part.kind {
        PathKind::All => write_element(f, &part.element),
        PathKind::Shortest | PathKind::AllShortest => {
            f.write_str(if part.kind == PathKind::Shortest { "shortestPath(" } else { "allShortestPaths(" })?;
            write_element(f, &part.element)?;
            f.write_char(')')
        }
    }
}

fn write_element(f: &mut Formatter<'_>, e: &PatternElement) -> fmt::Result {
    write_node(f, &e.start)?;
    for (rel, node) in &e.chain {
        write_rel(f, rel)?;
        write_node(f, node)?;
    }
    Ok(())
}

fn write_node(f: &mut Formatter<'_>, n: &NodePattern) -> fmt::Result {
    f.write_char('(')?;
    if let Some(v) = &n.var {
        write_name(f, v, true)?;
    }
    write_labels(f, &n.labels)?;
    if let Some(p) = &n.props {
        write!(f, " {p}")?;
    }
    f.write_char(')')
}

fn write_rel(f: &mut Formatter<'_>, r: &RelPattern) -> fmt::Result {
    f.write_str(if r.direction == Direction::Left { "<-[" } else { "-[" })?;
    if let Some(v) = &r.var {
        write_name(f, v, true)?;
    }
    for (i, t) in r.types.iter().enumerate() {
        f.write_char(if i == 0 { ':' } else { '|' })?;
        write_name(f, t, false)?;
    }
    if let Some(len) = r.length {
        f.write_char('*')?;
        match (len.min, len.max) {
            (Some(a), Some(b)) if a == b => write!(f, "{a}")?,
            (min, max) => {
                if let Some(a) = min {
                    write!(f, "{a}")?;
                }
                f.write_str("..")?;
                if let Some(b) = max {
                    write!(f, "{b}")?;
                }
            }
        }
    }
    if let Some(p) = &r.props {
        write!(f, " {p}")?;
    }
    f.write_str(if r.direction == Direction::Right { "]->" } else { "]-" })
}

fn write_labels(f: &mut Formatter<'_>, labels: &[String]) -> fmt::Result {
    for l in labels {
        f.write_char(':')?;
        write_name(f, l, false)?;
    }
    Ok(())
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_expr(f, e)?;
    }
    Ok(())
}

/// A name, backquoted when it is not a plain identifier (or, for variables, a keyword).
fn write_name(f: &mut Formatter<'_>, name: &str, variable: bool) -> fmt::Result {
    let plain = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !(variable && crate::parser::is_reserved(name));
    if plain { f.write_str(name) } else { write!(f, "`{}`", name.replace('`', "``")) }
}

fn write_string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

// Binding strength, loosest first, as `expr.rs` parses: an operand looser than its place
// needs parentheses, and no others are printed. Printed text therefore nests no deeper than
// the text it was parsed from (a long `a AND b AND …` stays flat), so whatever parses
// under the parser's depth limit prints to text that parses again.
const OR: u8 = 1;
const XOR: u8 = 2;
const AND: u8 = 3;
const NOT: u8 = 4;
const COMPARISON: u8 = 5;
const PREDICATE: u8 = 6;
const ADDITIVE: u8 = 7;
const MULTIPLICATIVE: u8 = 8;
const POWER: u8 = 9;
const UNARY: u8 = 10;
const POSTFIX: u8 = 11;
const ATOM: u8 = 12;

fn binary_prec(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => OR,
        BinaryOp::Xor => XOR,
        BinaryOp::And => AND,
        BinaryOp::In | BinaryOp::StartsWith | BinaryOp::EndsWith | BinaryOp::Contains | BinaryOp::Regex => PREDICATE,
        BinaryOp::Add | BinaryOp::Sub => ADDITIVE,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => MULTIPLICATIVE,
        BinaryOp::Pow => POWER,
    }
}

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Binary(op, ..) => binary_prec(*op),
        Expr::Unary(UnaryOp::Not, _) => NOT,
        Expr::Unary(..) => UNARY,
        Expr::Compare(..) => COMPARISON,
        Expr::IsNull(..) => PREDICATE,
        // A negative literal prints with its minus sign, like a negation.
        Expr::Lit(Literal::Int(i)) if *i < 0 => UNARY,
        Expr::Lit(Literal::Float(x)) if x.is_sign_negative() => UNARY,
        Expr::Prop(..) | Expr::Index(..) | Expr::Slice(..) | Expr::HasLabels(..) => POSTFIX,
        Expr::Lit(_)
        | Expr::Param(_)
        | Expr::Var(_)
        | Expr::List(_)
        | Expr::Map(_)
        | Expr::Call { .. }
        | Expr::CountStar
        | Expr::Case { .. }
        | Expr::ListComprehension { .. }
        | Expr::PatternComprehension { .. }
        | Expr::Quantified { .. }
        | Expr::Reduce { .. }
        | Expr::Pattern(_)
        | Expr::Exists(_)
        | Expr::MapProjection { .. }
        | Expr::ShortestPath(_) => ATOM,
    }
}

/// `e` printed at binding strength `min`.
struct At<'a>(&'a Expr, u8);

impl Display for At<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_at(f, self.0, self.1)
    }
}

/// Whether `e` prints starting with `var IN`, which after `[` (or `any(`) reads as a
/// comprehension (or a quantifier).
fn leads_with_var_in(e: &Expr) -> bool {
    if let Expr::Binary(op, a, _) = e {
        return (*op == BinaryOp::In && matches!(**a, Expr::Var(_)))
            || (prec(a) >= binary_prec(*op) && leads_with_var_in(a));
    }
    if let Expr::Compare(a, _) | Expr::IsNull(a, _) = e {
        return prec(a) >= PREDICATE && leads_with_var_in(a);
    }
    false
}

/// A list's items; a first item that would read as a comprehension goes in parentheses.
fn write_items(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    match items.first() {
        Some(first) if leads_with_var_in(first) => {
            write!(f, "({first})")?;
            items[1..].iter().try_for_each(|e| write!(f, ", {e}"))
        }
        Some(_) | None => write_list(f, items),
    }
}

/// `e` in a place that binds at least as tightly as `min`.
fn write_at(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if prec(e) >= min {
        return write_expr(f, e);
    }
    f.write_char('(')?;
    write_expr(f, e)?;
    f.write_char(')')
}

/// The base of `.key` / `[i]`: atoms print bare, anything else in parentheses.
fn write_postfix_base(f: &mut Formatter<'_>, e: &Expr) -> fmt::Result {
    let bare = matches!(e, Expr::Var(_) | Expr::Param(_) | Expr::Prop(..) | Expr::Index(..) | Expr::Slice(..))
        || matches!(e, Expr::Call { .. } | Expr::List(_));
    if bare {
        return write_expr(f, e);
    }
    f.write_char('(')?;
    write_expr(f, e)?;
    f.write_char(')')
}

fn op_text(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Or => "OR",
        BinaryOp::Xor => "XOR",
        BinaryOp::And => "AND",
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
        BinaryOp::Pow => "^",
        BinaryOp::In => "IN",
        BinaryOp::StartsWith => "STARTS WITH",
        BinaryOp::EndsWith => "ENDS WITH",
        BinaryOp::Contains => "CONTAINS",
        BinaryOp::Regex => "=~",
    }
}

fn compare_text(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
    }
}

fn write_expr(f: &mut Formatter<'_>, e: &Expr) -> fmt::Result {
    match e {
        Expr::Lit(l) => match l {
            Literal::Null => f.write_str("null"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write_float(f, *x),
            Literal::String(s) => write_string(f, s),
        },
        Expr::Param(p) => {
            f.write_char('$')?;
            write_name(f, p, false)
        }
        Expr::Var(v) => write_name(f, v, true),
        Expr::Prop(base, key) => {
            write_postfix_base(f, base)?;
            f.write_char('.')?;
            write_name(f, key, false)
        }
        Expr::Index(base, i) => {
            write_postfix_base(f, base)?;
            write!(f, "[{i}]")
        }
        Expr::Slice(base, a, b) => {
            write_postfix_base(f, base)?;
            f.write_char('[')?;
            if let Some(a) = a {
                write_expr(f, a)?;
            }
            f.write_str("..")?;
            if let Some(b) = b {
                write_expr(f, b)?;
            }
            f.write_char(']')
        }
        Expr::List(items) => {
            f.write_char('[')?;
            write_items(f, items)?;
            f.write_char(']')
        }
        Expr::Map(items) => write_map(f, items),
        Expr::Unary(UnaryOp::Not, inner) => {
            f.write_str("NOT ")?;
            write_at(f, inner, NOT)
        }
        Expr::Unary(op, inner) => {
            let neg = *op == UnaryOp::Neg;
            f.write_char(if neg { '-' } else { '+' })?;
            // An integer after a minus is read as a negative literal (a float is not, and
            // a plus sign reads nothing into its operand): `- -5` and `- -0` negate the
            // literals -5 and 0 without a parenthesis level the source did not have either;
            // the negation of 5 can only have been written `-(5)`, and keeps its parentheses.
            if neg
                && let Expr::Lit(Literal::Int(n)) = &**inner
                && *n <= 0
            {
                return if *n == 0 { f.write_str(" -0") } else { write!(f, " {n}") };
            }
            let literal_after_minus = neg
                && (matches!(&**inner, Expr::Lit(Literal::Int(_)))
                    || matches!(&**inner, Expr::Lit(Literal::Float(x)) if x.is_sign_negative()));
            if literal_after_minus {
                f.write_char('(')?;
                write_expr(f, inner)?;
                f.write_char(')')
            } else if matches!(&**inner, Expr::Unary(UnaryOp::Neg | UnaryOp::Plus, _)) {
                f.write_char(' ')?;
                write_expr(f, inner)
            } else {
                write_at(f, inner, UNARY)
            }
        }
        Expr::Binary(op, a, b) => {
            let p = binary_prec(*op);
            write_at(f, a, p)?;
            write!(f, " {} ", op_text(*op))?;
            // Every binary operator associates to the left: an equal right operand needs parentheses.
            write_at(f, b, p + 1)
        }
        Expr::Compare(first, rest) => {
            write_at(f, first, PREDICATE)?;
            for (op, e) in rest {
                write!(f, " {} ", compare_text(*op))?;
                let text = At(e, PREDICATE).to_string();
                // `<-[` and `<--` (`< - -x`) would read as a relationship.
                if *op == CompareOp::Lt && (text.starts_with("-[") || text.starts_with("- -")) {
                    write!(f, "({text})")?;
                } else {
                    f.write_str(&text)?;
                }
            }
            Ok(())
        }
        Expr::IsNull(inner, is_null) => {
            write_at(f, inner, PREDICATE)?;
            f.write_str(if *is_null { " IS NULL" } else { " IS NOT NULL" })
        }
        Expr::HasLabels(inner, labels) => {
            write_postfix_base(f, inner)?;
            write_labels(f, labels)
        }
        Expr::Call { name, distinct, args } => {
            write!(f, "{name}(")?;
            if *distinct {
                f.write_str("DISTINCT ")?;
                write_list(f, args)?;
            } else if matches!(name.as_str(), "any" | "all" | "none" | "single") {
                // `any(x IN l)` would read as the quantifier.
                write_items(f, args)?;
            } else {
                write_list(f, args)?;
            }
            f.write_char(')')
        }
        Expr::CountStar => f.write_str("count(*)"),
        Expr::Case { subject, branches, otherwise } => {
            f.write_str("CASE")?;
            if let Some(s) = subject {
                write!(f, " {s}")?;
            }
            for (w, t) in branches {
                write!(f, " WHEN {w} THEN {t}")?;
            }
            if let Some(o) = otherwise {
                write!(f, " ELSE {o}")?;
            }
            f.write_str(" END")
        }
        Expr::ListComprehension { var, list, filter, map } => {
            f.write_char('[')?;
            write_name(f, var, true)?;
            write!(f, " IN {list}")?;
            if let Some(w) = filter {
                write!(f, " WHERE {w}")?;
            }
            if let Some(m) = map {
                write!(f, " | {m}")?;
            }
            f.write_char(']')
        }
        Expr::PatternComprehension { var, pattern, filter, map } => {
            f.write_char('[')?;
            if let Some(v) = var {
                write_name(f, v, true)?;
                f.write_str(" = ")?;
            }
            write_element(f, pattern)?;
            if let Some(w) = filter {
                write!(f, " WHERE {w}")?;
            }
            write!(f, " | {map}]")
        }
        Expr::Quantified { kind, var, list, filter } => {
            f.write_str(match kind {
                Quantifier::Any => "any(",
                Quantifier::All => "all(",
                Quantifier::None => "none(",
                Quantifier::Single => "single(",
            })?;
            write_name(f, var, true)?;
            write!(f, " IN {list}")?;
            if let Some(w) = filter {
                write!(f, " WHERE {w}")?;
            }
            f.write_char(')')
        }
        Expr::Reduce { acc, init, var, list, expr } => {
            f.write_str("reduce(")?;
            write_name(f, acc, true)?;
            write!(f, " = {init}, ")?;
            write_name(f, var, true)?;
            write!(f, " IN {list} | {expr})")
        }
        Expr::Pattern(element) => write_element(f, element),
        Expr::Exists(m) => {
            f.write_str("EXISTS { ")?;
            write_match(f, m)?;
            f.write_str(" }")
        }
        Expr::MapProjection { var, items } => {
            write_name(f, var, true)?;
            f.write_str(" {")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                match item {
                    MapProjectionItem::Property(k) => {
                        f.write_char('.')?;
                        write_name(f, k, false)?;
                    }
                    MapProjectionItem::Literal(k, e) => {
                        write_name(f, k, false)?;
                        write!(f, ": {e}")?;
                    }
                    MapProjectionItem::Variable(v) => write_name(f, v, true)?,
                    MapProjectionItem::All => f.write_str(".*")?,
                }
            }
            f.write_char('}')
        }
        Expr::ShortestPath(part) => write_part(f, part),
    }
}

fn write_map(f: &mut Formatter<'_>, items: &[(String, Expr)]) -> fmt::Result {
    f.write_char('{')?;
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_name(f, k, false)?;
        write!(f, ": {v}")?;
    }
    f.write_char('}')
}

fn write_float(f: &mut Formatter<'_>, x: f64) -> fmt::Result {
    let s = format!("{x:?}");
    // `{:?}` prints `1e16` and `1e-7`; both lex as floats. Keep a digit after the point.
    f.write_str(&s)
}
