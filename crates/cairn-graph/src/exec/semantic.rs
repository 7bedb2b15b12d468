//! Checks before execution: variables in scope, variable kinds, clause composition,
//! write-pattern rules, aggregation placement, function names and arities. Errors carry
//! the openCypher TCK detail codes.

use cairn_cypher::CypherError;
use cairn_cypher::ast::*;

use super::functions::arity;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Node,
    Rel,
    RelList,
    Path,
    /// A value whose type is known from literals: `INTEGER`, `STRING`, `LIST`, …
    Scalar(&'static str),
    Any,
}

fn type_error(code: &'static str, message: impl Into<String>) -> CypherError {
    CypherError::type_error(code, message)
}

/// The kind of an expression, as far as it is certain before running.
fn infer(scope: &Scope, e: &Expr) -> Kind {
    match e {
        Expr::Lit(Literal::Int(_)) => Kind::Scalar("INTEGER"),
        Expr::Lit(Literal::Float(_)) => Kind::Scalar("FLOAT"),
        Expr::Lit(Literal::String(_)) => Kind::Scalar("STRING"),
        Expr::Lit(Literal::Bool(_)) => Kind::Scalar("BOOLEAN"),
        Expr::List(_) | Expr::ListComprehension { .. } | Expr::PatternComprehension { .. } => Kind::Scalar("LIST"),
        Expr::Map(_) | Expr::MapProjection { .. } => Kind::Scalar("MAP"),
        Expr::Var(v) => kind_of(scope, v).unwrap_or(Kind::Any),
        Expr::Compare(..) | Expr::IsNull(..) | Expr::Pattern(_) | Expr::Exists(_) | Expr::Quantified { .. } => {
            Kind::Scalar("BOOLEAN")
        }
        Expr::Unary(UnaryOp::Not, _) => Kind::Scalar("BOOLEAN"),
        Expr::Binary(BinaryOp::And | BinaryOp::Or | BinaryOp::Xor, ..) => Kind::Scalar("BOOLEAN"),
        _ => Kind::Any,
    }
}

/// The element kind of a list expression, when every element's kind is the same.
fn element_kind(scope: &Scope, e: &Expr) -> Kind {
    if let Expr::List(items) = e {
        let kinds: Vec<Kind> = items.iter().map(|i| infer(scope, i)).collect();
        if let Some(first) = kinds.first()
            && kinds.iter().all(|k| k == first)
        {
            return *first;
        }
    }
    Kind::Any
}

type Scope = Vec<(String, Kind)>;

fn err(code: &'static str, message: impl Into<String>) -> CypherError {
    CypherError::coded(0, 0, code, message)
}

fn kind_of(scope: &Scope, name: &str) -> Option<Kind> {
    scope.iter().rev().find(|(n, _)| n == name).map(|(_, k)| *k)
}

/// Checks a parsed statement.
pub(crate) fn check(s: &Statement) -> Result<(), CypherError> {
    let columns = check_single(&s.query.first)?;
    let mut all = None;
    for (is_all, q) in &s.query.unions {
        let c = check_single(q)?;
        if c != columns {
            return Err(err("DifferentColumnsInUnion", "all parts of a UNION must return the same columns"));
        }
        if all.is_some_and(|a| a != *is_all) {
            return Err(err("InvalidClauseComposition", "UNION and UNION ALL cannot be mixed"));
        }
        all = Some(*is_all);
    }
    Ok(())
}

fn check_single(q: &SingleQuery) -> Result<Vec<String>, CypherError> {
    let mut scope: Scope = Vec::new();
    let n = q.clauses.len();
    let mut columns = Vec::new();
    for (i, clause) in q.clauses.iter().enumerate() {
        let last = i + 1 == n;
        match clause {
            Clause::Match(m) => {
                if i > 0 && !m.optional && matches!(q.clauses[i - 1], Clause::Match(Match { optional: true, .. })) {
                    // Allowed in openCypher; nothing to check.
                }
                bind_pattern(&mut scope, &m.pattern, PatternUse::Match)?;
                if let Some(f) = &m.filter {
                    expr(&scope, f, Ctx::Filter)?;
                }
            }
            Clause::Unwind { expr: e, var } => {
                expr(&scope, e, Ctx::Plain)?;
                if kind_of(&scope, var).is_some() {
                    return Err(err("VariableAlreadyBound", format!("variable `{var}` already declared")));
                }
                scope.push((var.clone(), element_kind(&scope, e)));
            }
            Clause::With(p) | Clause::Return(p) => {
                let is_return = matches!(clause, Clause::Return(_));
                if is_return && !last {
                    return Err(err("InvalidClauseComposition", "RETURN must be the last clause"));
                }
                scope = projection(&scope, p, is_return)?;
                if is_return {
                    columns = scope.iter().map(|(n, _)| n.clone()).collect();
                }
            }
            Clause::Create(parts) => {
                write_pattern(&scope, parts, false)?;
                bind_pattern(&mut scope, parts, PatternUse::Create)?;
            }
            Clause::Merge(m) => {
                write_pattern(&scope, std::slice::from_ref(&m.part), true)?;
                bind_pattern(&mut scope, std::slice::from_ref(&m.part), PatternUse::Merge)?;
                for a in &m.actions {
                    set_items(&scope, &a.items)?;
                }
            }
            Clause::Set(items) => set_items(&scope, items)?,
            Clause::Remove(items) => {
                for item in items {
                    match item {
                        RemoveItem::Property { target, .. } => expr(&scope, target, Ctx::Plain)?,
                        RemoveItem::Labels { var, .. } => need(&scope, var)?,
                    }
                }
            }
            Clause::Delete { exprs, .. } => {
                for e in exprs {
                    expr(&scope, e, Ctx::Plain)?;
                    if let Kind::Scalar(t) = infer(&scope, e) {
                        return Err(err("InvalidArgumentType", format!("cannot delete {t}")));
                    }
                    if matches!(e, Expr::Binary(..) | Expr::Unary(..)) {
                        return Err(err("InvalidArgumentType", "DELETE expects nodes, relationships or paths"));
                    }
                    let deletable = matches!(e, Expr::Var(_) | Expr::Prop(..) | Expr::Index(..) | Expr::Param(_))
                        || matches!(e, Expr::Call { .. } | Expr::Case { .. } | Expr::Lit(Literal::Null));
                    if !deletable {
                        return Err(err("InvalidDelete", "DELETE expects nodes, relationships or paths"));
                    }
                }
            }
        }
        if last
            && !matches!(
                clause,
                Clause::Return(_)
                    | Clause::Create(_)
                    | Clause::Merge(_)
                    | Clause::Set(_)
                    | Clause::Remove(_)
                    | Clause::Delete { .. }
            )
        {
            let has_update = q.clauses.iter().any(|c| {
                matches!(
                    c,
                    Clause::Create(_) | Clause::Merge(_) | Clause::Set(_) | Clause::Remove(_) | Clause::Delete { .. }
                )
            });
            if !has_update {
                return Err(err("InvalidClauseComposition", "a query must end with RETURN or an updating clause"));
            }
        }
    }
    Ok(columns)
}

fn need(scope: &Scope, var: &str) -> Result<(), CypherError> {
    if kind_of(scope, var).is_none() {
        return Err(err("UndefinedVariable", format!("variable `{var}` not defined")));
    }
    Ok(())
}

fn set_items(scope: &Scope, items: &[SetItem]) -> Result<(), CypherError> {
    for item in items {
        match item {
            SetItem::Property { target, value, .. } => {
                expr(scope, target, Ctx::Plain)?;
                expr(scope, value, Ctx::Plain)?;
            }
            SetItem::Properties { var, value, .. } => {
                need(scope, var)?;
                expr(scope, value, Ctx::Plain)?;
            }
            SetItem::Labels { var, .. } => need(scope, var)?,
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum PatternUse {
    Match,
    Create,
    Merge,
}

/// CREATE and MERGE: one type, a direction, no variable length, no rebinding.
fn write_pattern(scope: &Scope, parts: &[PatternPart], merge: bool) -> Result<(), CypherError> {
    let mut local: Vec<String> = Vec::new();
    for part in parts {
        let nodes = std::iter::once(&part.element.start).chain(part.element.chain.iter().map(|(_, n)| n));
        for (i, node) in nodes.enumerate() {
            if let Some(v) = &node.var {
                let bound = kind_of(scope, v).is_some() || local.contains(v);
                if let Some(k) = kind_of(scope, v)
                    && !matches!(k, Kind::Node | Kind::Any)
                {
                    return Err(err("VariableTypeConflict", format!("`{v}` is not a node")));
                }
                if bound && (!node.labels.is_empty() || node.props.is_some()) {
                    return Err(err("VariableAlreadyBound", format!("variable `{v}` already declared")));
                }
                if bound && part.element.chain.is_empty() && i == 0 {
                    return Err(err("VariableAlreadyBound", format!("variable `{v}` already declared")));
                }
                local.push(v.clone());
            }
        }
        for (rel, _) in &part.element.chain {
            if let Some(v) = &rel.var
                && (kind_of(scope, v).is_some() || local.contains(v))
            {
                return Err(err("VariableAlreadyBound", format!("variable `{v}` already declared")));
            }
            if rel.types.len() != 1 {
                return Err(err("NoSingleRelationshipType", "a created relationship needs exactly one type"));
            }
            if rel.direction == Direction::Both && !merge {
                return Err(err("RequiresDirectedRelationship", "a created relationship needs a direction"));
            }
            if rel.length.is_some() {
                return Err(err("CreatingVarLength", "variable-length relationships cannot be created"));
            }
            if let Some(v) = &rel.var
                && (kind_of(scope, v).is_some() || local.contains(v))
            {
                return Err(err("VariableAlreadyBound", format!("variable `{v}` already declared")));
            }
            if let Some(v) = &rel.var {
                local.push(v.clone());
            }
        }
        if let Some(props) = part.element.chain.iter().find_map(|(r, _)| r.props.as_ref())
            && matches!(props, Expr::Param(_))
            && merge
        {
            return Err(err("InvalidParameterUse", "MERGE cannot take properties from a parameter map"));
        }
        let node_param = std::iter::once(&part.element.start)
            .chain(part.element.chain.iter().map(|(_, n)| n))
            .any(|n| matches!(n.props, Some(Expr::Param(_))));
        if merge && node_param {
            return Err(err("InvalidParameterUse", "MERGE cannot take properties from a parameter map"));
        }
    }
    Ok(())
}

/// Adds a pattern's variables to the scope, checking kinds.
fn bind_pattern(scope: &mut Scope, parts: &[PatternPart], usage: PatternUse) -> Result<(), CypherError> {
    let before = scope.len();
    let mut rels_here: Vec<String> = Vec::new();
    for part in parts {
        if let Some(p) = &part.var
            && kind_of(scope, p).is_some()
        {
            return Err(err("VariableAlreadyBound", format!("variable `{p}` already declared")));
        }
        let nodes = std::iter::once(&part.element.start).chain(part.element.chain.iter().map(|(_, n)| n));
        for node in nodes {
            if let Some(props) = &node.props {
                if usage == PatternUse::Match && matches!(props, Expr::Param(_)) {
                    return Err(err("InvalidParameterUse", "a parameter cannot be used as a pattern's property map"));
                }
                expr(scope, props, Ctx::Plain)?;
            }
            if let Some(v) = &node.var {
                match kind_of(scope, v) {
                    Some(Kind::Node | Kind::Any) => {}
                    Some(_) => return Err(err("VariableTypeConflict", format!("`{v}` is not a node"))),
                    None => scope.push((v.clone(), Kind::Node)),
                }
            }
        }
        for (rel, _) in &part.element.chain {
            if let Some(props) = &rel.props {
                if usage == PatternUse::Match && matches!(props, Expr::Param(_)) {
                    return Err(err("InvalidParameterUse", "a parameter cannot be used as a pattern's property map"));
                }
                expr(scope, props, Ctx::Plain)?;
            }
            if let Some(Length { min: Some(a), max: Some(b) }) = rel.length
                && a > b
                && usage == PatternUse::Match
            {
                // An empty range matches nothing; allowed.
            }
            if let Some(v) = &rel.var {
                let want = if rel.length.is_some() { Kind::RelList } else { Kind::Rel };
                match kind_of(scope, v) {
                    Some(k) if k == want || k == Kind::Any || (want == Kind::RelList && k == Kind::Scalar("LIST")) => {
                        if rels_here.contains(v) {
                            return Err(err("RelationshipUniquenessViolation", format!("`{v}` used twice")));
                        }
                        if scope.iter().skip(before).any(|(n, _)| n == v) && want == Kind::Rel {
                            return Err(err("RelationshipUniquenessViolation", format!("`{v}` used twice")));
                        }
                    }
                    Some(_) => return Err(err("VariableTypeConflict", format!("`{v}` is not a relationship"))),
                    None => scope.push((v.clone(), want)),
                }
                rels_here.push(v.clone());
            }
        }
        if let Some(p) = &part.var {
            if kind_of(scope, p).is_some() {
                return Err(err("VariableAlreadyBound", format!("variable `{p}` already declared")));
            }
            scope.push((p.clone(), Kind::Path));
        }
    }
    Ok(())
}

fn projection(scope: &Scope, p: &Projection, is_return: bool) -> Result<Scope, CypherError> {
    if p.star && is_return && scope.is_empty() {
        return Err(err("NoVariablesInScope", "RETURN * needs variables in scope"));
    }
    let mut out: Scope = if p.star { scope.clone() } else { Vec::new() };
    let mut aggregating = false;
    let mut no_alias = None;
    for item in &p.items {
        expr(scope, &item.expr, Ctx::Projection)?;
        aggregating |= item.expr.contains_aggregate();
        if !is_return && item.alias.is_none() && !matches!(item.expr, Expr::Var(_)) && no_alias.is_none() {
            no_alias = Some(err("NoExpressionAlias", "expressions in WITH need an alias"));
        }
        let name = item.name().to_owned();
        if out.iter().any(|(n, _)| *n == name) {
            return Err(err("ColumnNameConflict", format!("column `{name}` appears twice")));
        }
        out.push((name, infer(scope, &item.expr)));
    }
    if aggregating {
        ambiguous_aggregation(p)?;
    }
    // ORDER BY sees the projected names and, without aggregation or DISTINCT, the old ones.
    let mut order_scope = out.clone();
    if !aggregating && !p.distinct {
        order_scope.extend(scope.iter().cloned());
    }
    for s in &p.order {
        let key =
            if aggregating || p.distinct { super::project::substitute(&s.expr, &p.items) } else { s.expr.clone() };
        if aggregating {
            order_after_aggregation(&order_scope, &key, p)?;
        } else if key.contains_aggregate() {
            return Err(err("InvalidAggregation", "ORDER BY cannot introduce aggregates here"));
        }
        expr(&order_scope, &key, Ctx::Plain)?;
    }
    if let Some(e) = no_alias {
        return Err(e);
    }
    for e in [&p.skip, &p.limit].into_iter().flatten() {
        constant_count(e)?;
    }
    if let Some(f) = &p.filter {
        let mut where_scope = out.clone();
        if !aggregating {
            where_scope.extend(scope.iter().cloned());
        }
        expr(&where_scope, f, Ctx::Filter)?;
    }
    Ok(out)
}

/// After aggregation, an ORDER BY key may use projected columns only. A variable outside
/// any aggregate that the projection used inside a compound expression is ambiguous; any
/// other unknown variable is undefined; a new aggregate is not allowed.
fn order_after_aggregation(scope: &Scope, key: &Expr, p: &Projection) -> Result<(), CypherError> {
    let mut outside: Vec<String> = Vec::new();
    visit_outside_aggregates(key, &[], &mut |e| {
        if let Expr::Var(v) = e
            && kind_of(scope, v).is_none()
        {
            outside.push(v.clone());
        }
    });
    if let Some(v) = outside.first() {
        let mut used = false;
        p.items.iter().for_each(|i| i.expr.walk(&mut |y| used |= matches!(y, Expr::Var(w) if w == v)));
        if used {
            return Err(err("AmbiguousAggregationExpression", "ORDER BY uses part of a compound grouping key"));
        }
        return Err(err("UndefinedVariable", format!("variable `{v}` not defined")));
    }
    if key.contains_aggregate() {
        let mut undefined = None;
        key.walk(&mut |e| {
            if let Expr::Var(v) = e
                && kind_of(scope, v).is_none()
                && undefined.is_none()
            {
                undefined = Some(v.clone());
            }
        });
        if let Some(v) = undefined {
            return Err(err("UndefinedVariable", format!("variable `{v}` not defined")));
        }
        return Err(err("InvalidAggregation", "ORDER BY cannot introduce new aggregates"));
    }
    Ok(())
}

/// Non-aggregate parts of an aggregating item may only use grouping keys.
fn ambiguous_aggregation(p: &Projection) -> Result<(), CypherError> {
    // Only plain keys (`n`, `n.x`) may be reused inside an aggregating expression.
    let keys: Vec<&Expr> = p
        .items
        .iter()
        .filter(|i| !i.expr.contains_aggregate() && super::project::is_simple(&i.expr))
        .map(|i| &i.expr)
        .collect();
    for item in p.items.iter().filter(|i| i.expr.contains_aggregate()) {
        let mut ok = true;
        visit_outside_aggregates(&item.expr, &keys, &mut |e| {
            if let Expr::Var(_) = e {
                ok = false;
            }
        });
        if !ok {
            return Err(err(
                "AmbiguousAggregationExpression",
                "expression mixes aggregates and non-grouping variables",
            ));
        }
    }
    Ok(())
}

/// Visits the parts of `e` outside aggregates that are not grouping keys themselves.
fn visit_outside_aggregates(e: &Expr, keys: &[&Expr], f: &mut dyn FnMut(&Expr)) {
    if e.is_aggregate_call() || keys.contains(&e) {
        return;
    }
    f(e);
    match e {
        Expr::Prop(x, _) | Expr::Unary(_, x) | Expr::IsNull(x, _) | Expr::HasLabels(x, _) => {
            // `n.x` where `n` is a grouping key is fine only if `n.x` itself is a key; the
            // base variable is still reported so the caller can decide.
            visit_outside_aggregates(x, keys, f)
        }
        Expr::Binary(_, a, b) | Expr::Index(a, b) => {
            visit_outside_aggregates(a, keys, f);
            visit_outside_aggregates(b, keys, f);
        }
        Expr::List(xs) | Expr::Call { args: xs, .. } => xs.iter().for_each(|x| visit_outside_aggregates(x, keys, f)),
        Expr::Map(xs) => xs.iter().for_each(|(_, x)| visit_outside_aggregates(x, keys, f)),
        Expr::Compare(a, rest) => {
            visit_outside_aggregates(a, keys, f);
            rest.iter().for_each(|(_, x)| visit_outside_aggregates(x, keys, f));
        }
        _ => {}
    }
}

fn constant_count(e: &Expr) -> Result<(), CypherError> {
    let mut variables = false;
    e.walk(&mut |x| variables |= matches!(x, Expr::Var(_)) || matches!(x, Expr::Pattern(_)));
    if variables {
        return Err(err("NonConstantExpression", "SKIP and LIMIT need constant expressions"));
    }
    match e {
        Expr::Lit(Literal::Int(i)) if *i < 0 => {
            Err(err("NegativeIntegerArgument", "SKIP and LIMIT must not be negative"))
        }
        Expr::Lit(Literal::Float(_)) => Err(err("InvalidArgumentType", "SKIP and LIMIT need integers")),
        _ => Ok(()),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// Aggregates allowed (WITH / RETURN items).
    Projection,
    /// WHERE: no aggregates.
    Filter,
    /// Anywhere else: no aggregates.
    Plain,
}

fn literal_type(e: &Expr) -> Option<&'static str> {
    match e {
        Expr::Lit(Literal::Int(_)) => Some("INTEGER"),
        Expr::Lit(Literal::Float(_)) => Some("FLOAT"),
        Expr::Lit(Literal::String(_)) => Some("STRING"),
        Expr::List(_) | Expr::ListComprehension { .. } => Some("LIST"),
        Expr::Map(_) => Some("MAP"),
        _ => None,
    }
}

/// Checks an expression: variables defined, functions known, aggregates placed right,
/// types that are certain from literals.
fn expr(scope: &Scope, e: &Expr, ctx: Ctx) -> Result<(), CypherError> {
    if ctx == Ctx::Filter && matches!(infer(scope, e), Kind::Node | Kind::Rel | Kind::Path | Kind::RelList) {
        return Err(err("InvalidArgumentType", "WHERE needs a boolean, not a node, relationship or path"));
    }
    check_expr(scope, e, ctx, ctx == Ctx::Filter)
}

/// `pred`: the expression sits in predicate position (WHERE, possibly under
/// NOT/AND/OR/XOR), the only place a bare pattern may appear.
fn check_expr(scope: &Scope, e: &Expr, ctx: Ctx, pred: bool) -> Result<(), CypherError> {
    let sub = |x: &Expr| check_expr(scope, x, ctx, false);
    match e {
        Expr::Lit(_) | Expr::Param(_) => Ok(()),
        Expr::Var(v) => need(scope, v),
        Expr::Prop(x, _) => {
            match infer(scope, x) {
                Kind::Scalar(t) if t != "MAP" => {
                    return Err(type_error("InvalidArgumentType", format!("property access on {t}")));
                }
                Kind::Path | Kind::RelList => {
                    return Err(err("InvalidArgumentType", "paths and lists have no properties"));
                }
                _ => {}
            }
            sub(x)
        }
        Expr::IsNull(x, _) | Expr::HasLabels(x, _) => sub(x),
        Expr::Unary(op, x) => {
            if *op == UnaryOp::Not {
                if let Some(t) = literal_type(x) {
                    return Err(err("InvalidArgumentType", format!("NOT needs a boolean, got {t}")));
                }
                return check_expr(scope, x, ctx, pred);
            }
            sub(x)
        }
        Expr::Index(a, b) => {
            sub(a)?;
            sub(b)
        }
        Expr::Slice(a, b, c) => {
            sub(a)?;
            b.iter().chain(c.iter()).try_for_each(|x| sub(x))
        }
        Expr::Binary(op, a, b) => {
            let logical = matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor);
            if logical && let Some(t) = literal_type(a).or(literal_type(b)) {
                return Err(err("InvalidArgumentType", format!("{op:?} needs booleans, got {t}")));
            }
            if *op == BinaryOp::In
                && let Kind::Scalar(t) = infer(scope, b)
                && t != "LIST"
            {
                return Err(err("InvalidArgumentType", format!("IN needs a list, got {t}")));
            }
            if matches!(op, BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Pow) {
                for side in [a, b] {
                    if let Kind::Scalar(t @ ("STRING" | "BOOLEAN" | "MAP" | "LIST")) = infer(scope, side) {
                        return Err(err("InvalidArgumentType", format!("arithmetic on {t}")));
                    }
                }
            }
            if logical {
                check_expr(scope, a, ctx, pred)?;
                return check_expr(scope, b, ctx, pred);
            }
            sub(a)?;
            sub(b)
        }
        Expr::Compare(a, rest) => {
            sub(a)?;
            rest.iter().try_for_each(|(_, x)| sub(x))
        }
        Expr::List(xs) => xs.iter().try_for_each(sub),
        Expr::Map(xs) => xs.iter().try_for_each(|(_, x)| sub(x)),
        Expr::CountStar => aggregate_allowed(ctx),
        Expr::Call { name, args, distinct } => {
            if is_aggregate(name) {
                aggregate_allowed(ctx)?;
                if args.is_empty() || (args.len() > 1 && !name.starts_with("percentile")) {
                    return Err(err("InvalidNumberOfArguments", format!("{name}() takes one argument")));
                }
                for a in args {
                    if a.contains_aggregate() {
                        return Err(err("NestedAggregation", "aggregates cannot be nested"));
                    }
                    let mut random = false;
                    a.walk(&mut |x| random |= matches!(x, Expr::Call { name, .. } if name == "rand"));
                    if random {
                        return Err(err("NonConstantExpression", "aggregating rand() is not deterministic"));
                    }
                    check_expr(scope, a, Ctx::Plain, false)?;
                }
                return Ok(());
            }
            let Some((min, max)) = arity(name) else {
                return Err(err("UnknownFunction", format!("unknown function {name}()")));
            };
            if *distinct {
                return Err(err("InvalidArgumentPassingMode", format!("{name}() does not take DISTINCT")));
            }
            if args.len() < min || args.len() > max {
                return Err(err("InvalidNumberOfArguments", format!("{name}() takes {min} to {max} arguments")));
            }
            args.iter().try_for_each(sub)?;
            if let Some(first) = args.first() {
                argument_kind(name, infer(scope, first))?;
            }
            Ok(())
        }
        Expr::Case { subject, branches, otherwise } => {
            subject.iter().try_for_each(|x| sub(x))?;
            for (w, t) in branches {
                sub(w)?;
                sub(t)?;
            }
            otherwise.iter().try_for_each(|x| sub(x))
        }
        Expr::ListComprehension { var, list, filter, map } => {
            sub(list)?;
            let mut inner = scope.clone();
            inner.push((var.clone(), element_kind(scope, list)));
            filter.iter().try_for_each(|x| check_expr(&inner, x, Ctx::Plain, true))?;
            map.iter().try_for_each(|x| check_expr(&inner, x, Ctx::Plain, false))
        }
        Expr::Quantified { var, list, filter, .. } => {
            sub(list)?;
            let mut inner = scope.clone();
            inner.push((var.clone(), element_kind(scope, list)));
            filter.iter().try_for_each(|x| check_expr(&inner, x, Ctx::Plain, true))
        }
        Expr::Reduce { acc, init, var, list, expr: step } => {
            sub(init)?;
            sub(list)?;
            let mut inner = scope.clone();
            inner.push((acc.clone(), Kind::Any));
            inner.push((var.clone(), element_kind(scope, list)));
            check_expr(&inner, step, Ctx::Plain, false)
        }
        Expr::Pattern(element) => {
            if !pred {
                return Err(err("UnexpectedSyntax", "a pattern can only be used as a predicate (in WHERE)"));
            }
            // A pattern predicate may not introduce variables.
            let part = PatternPart { var: None, kind: PathKind::All, element: (**element).clone() };
            if let Some(v) =
                super::matcher::new_variables(std::slice::from_ref(&part), &|v| kind_of(scope, v).is_some()).first()
            {
                return Err(err("UndefinedVariable", format!("variable `{v}` not defined")));
            }
            let mut inner = scope.clone();
            bind_pattern(&mut inner, std::slice::from_ref(&part), PatternUse::Match)
        }
        Expr::Exists(m) => {
            let mut inner = scope.clone();
            bind_pattern(&mut inner, &m.pattern, PatternUse::Match)?;
            m.filter.iter().try_for_each(|f| expr(&inner, f, Ctx::Filter))
        }
        Expr::PatternComprehension { var, pattern, filter, map } => {
            let part = PatternPart { var: var.clone(), kind: PathKind::All, element: (**pattern).clone() };
            let mut inner = scope.clone();
            bind_pattern(&mut inner, std::slice::from_ref(&part), PatternUse::Match)?;
            filter.iter().try_for_each(|f| expr(&inner, f, Ctx::Filter))?;
            check_expr(&inner, map, Ctx::Plain, false)
        }
        Expr::MapProjection { var, items } => {
            need(scope, var)?;
            for item in items {
                match item {
                    MapProjectionItem::Literal(_, x) => sub(x)?,
                    MapProjectionItem::Variable(v) => need(scope, v)?,
                    MapProjectionItem::Property(_) | MapProjectionItem::All => {}
                }
            }
            Ok(())
        }
        Expr::ShortestPath(part) => {
            let mut inner = scope.clone();
            bind_pattern(&mut inner, std::slice::from_ref(&**part), PatternUse::Match)
        }
    }
}

/// Functions whose first argument's kind is certain to be wrong.
fn argument_kind(name: &str, kind: Kind) -> Result<(), CypherError> {
    let bad = match name {
        "labels" => matches!(kind, Kind::Rel | Kind::Path | Kind::RelList | Kind::Scalar(_)),
        "type" => matches!(kind, Kind::Node | Kind::Path | Kind::RelList | Kind::Scalar(_)),
        "length" => matches!(kind, Kind::Node | Kind::Rel | Kind::Scalar("INTEGER" | "FLOAT" | "BOOLEAN" | "MAP")),
        "size" => matches!(kind, Kind::Node | Kind::Rel | Kind::Path | Kind::Scalar("INTEGER" | "FLOAT" | "BOOLEAN")),
        "properties" => matches!(
            kind,
            Kind::Path | Kind::RelList | Kind::Scalar("INTEGER" | "FLOAT" | "BOOLEAN" | "STRING" | "LIST")
        ),
        "nodes" | "relationships" => matches!(kind, Kind::Node | Kind::Rel | Kind::Scalar(_)),
        _ => false,
    };
    if bad {
        return Err(err("InvalidArgumentType", format!("{name}() cannot take this argument")));
    }
    Ok(())
}

fn aggregate_allowed(ctx: Ctx) -> Result<(), CypherError> {
    if ctx == Ctx::Projection {
        Ok(())
    } else {
        Err(err("InvalidAggregation", "aggregate functions are only allowed in WITH and RETURN"))
    }
}
