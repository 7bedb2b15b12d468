//! `EXPLAIN`: the operators a statement runs, in order, without running it.

use cairn_cypher::ast::*;

/// One line per operator: (operator, detail).
pub(crate) fn plan(s: &Statement) -> Vec<(String, String)> {
    let mut out = Vec::new();
    single(&s.query.first, &mut out);
    for (all, q) in &s.query.unions {
        out.push((if *all { "UnionAll" } else { "Union" }.to_owned(), String::new()));
        single(q, &mut out);
    }
    out
}

fn single(q: &SingleQuery, out: &mut Vec<(String, String)>) {
    for clause in &q.clauses {
        match clause {
            Clause::Match(m) => {
                for part in &m.pattern {
                    pattern(part, m.optional, out);
                }
                if let Some(f) = &m.filter {
                    out.push(("Filter".into(), f.to_string()));
                }
            }
            Clause::Unwind { expr, var } => out.push(("Unwind".into(), format!("{expr} AS {var}"))),
            Clause::With(p) | Clause::Return(p) => projection(p, matches!(clause, Clause::Return(_)), out),
            Clause::Create(parts) => out.push(("Create".into(), list(parts))),
            Clause::Merge(m) => out.push(("Merge".into(), m.part.to_string())),
            Clause::Set(items) => out.push(("SetProperties".into(), format!("{} item(s)", items.len()))),
            Clause::Remove(items) => out.push(("Remove".into(), format!("{} item(s)", items.len()))),
            Clause::Delete { detach, exprs } => out.push((
                if *detach { "DetachDelete" } else { "Delete" }.into(),
                format!("{} expression(s)", exprs.len()),
            )),
        }
    }
}

fn list(parts: &[PatternPart]) -> String {
    parts.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn node_text(n: &NodePattern) -> String {
    let mut s = n.var.clone().unwrap_or_else(|| "anon".into());
    for l in &n.labels {
        s.push(':');
        s.push_str(l);
    }
    s
}

fn pattern(part: &PatternPart, optional: bool, out: &mut Vec<(String, String)>) {
    let prefix = if optional { "Optional" } else { "" };
    let start = &part.element.start;
    let scan = if start.props.is_some() && !start.labels.is_empty() {
        "NodeIndexSeekOrLabelScan"
    } else if !start.labels.is_empty() {
        "NodeByLabelScan"
    } else {
        "AllNodesScan"
    };
    out.push((format!("{prefix}{scan}"), format!("({}) (or from a bound variable)", node_text(start))));
    let mut at = node_text(start);
    for (rel, node) in &part.element.chain {
        let types = if rel.types.is_empty() { String::new() } else { format!(":{}", rel.types.join("|")) };
        let (op, len) = match rel.length {
            None => ("Expand", String::new()),
            Some(l) => (
                "VarLengthExpand(trail)",
                format!("*{}..{}", l.min.unwrap_or(1), l.max.map_or(String::new(), |m| m.to_string())),
            ),
        };
        let arrow = match rel.direction {
            Direction::Right => format!("-[{types}{len}]->"),
            Direction::Left => format!("<-[{types}{len}]-"),
            Direction::Both => format!("-[{types}{len}]-"),
        };
        let to = node_text(node);
        out.push((format!("{prefix}{op}"), format!("({at}){arrow}({to})")));
        at = to;
    }
    if part.kind != PathKind::All {
        out.push(("ShortestPath(BFS)".into(), part.to_string()));
    }
}

fn projection(p: &Projection, is_return: bool, out: &mut Vec<(String, String)>) {
    let aggregating = p.items.iter().any(|i| i.expr.contains_aggregate());
    let items = p.items.iter().map(|i| i.name().to_owned()).collect::<Vec<_>>().join(", ");
    out.push((if aggregating { "EagerAggregation" } else { "Projection" }.into(), items));
    if p.distinct {
        out.push(("Distinct".into(), String::new()));
    }
    if !p.order.is_empty() {
        out.push(("Sort".into(), p.order.iter().map(|s| s.expr.to_string()).collect::<Vec<_>>().join(", ")));
    }
    if let Some(s) = &p.skip {
        out.push(("Skip".into(), s.to_string()));
    }
    if let Some(l) = &p.limit {
        out.push(("Limit".into(), l.to_string()));
    }
    if let Some(f) = &p.filter {
        out.push(("Filter".into(), f.to_string()));
    }
    if is_return {
        out.push(("ProduceResults".into(), String::new()));
    }
}

/// Calls `f` with every parameter name the statement uses.
pub(crate) fn visit_params(s: &Statement, f: &mut dyn FnMut(&str)) {
    let mut visit = |e: &Expr| {
        e.walk(&mut |x| {
            if let Expr::Param(p) = x {
                f(p);
            }
        })
    };
    let parts = std::iter::once(&s.query.first).chain(s.query.unions.iter().map(|(_, q)| q));
    for q in parts {
        for c in &q.clauses {
            clause_exprs(c, &mut visit);
        }
    }
}

fn pattern_exprs(parts: &[PatternPart], f: &mut dyn FnMut(&Expr)) {
    for part in parts {
        let nodes = std::iter::once(&part.element.start).chain(part.element.chain.iter().map(|(_, n)| n));
        for n in nodes {
            if let Some(p) = &n.props {
                f(p);
            }
        }
        for (r, _) in &part.element.chain {
            if let Some(p) = &r.props {
                f(p);
            }
        }
    }
}

fn clause_exprs(c: &Clause, f: &mut dyn FnMut(&Expr)) {
    match c {
        Clause::Match(m) => {
            pattern_exprs(&m.pattern, f);
            if let Some(w) = &m.filter {
                f(w);
            }
        }
        Clause::Unwind { expr, .. } => f(expr),
        Clause::With(p) | Clause::Return(p) => {
            p.items.iter().for_each(|i| f(&i.expr));
            p.order.iter().for_each(|s| f(&s.expr));
            [&p.skip, &p.limit, &p.filter].into_iter().flatten().for_each(&mut *f);
        }
        Clause::Create(parts) => pattern_exprs(parts, f),
        Clause::Merge(m) => {
            pattern_exprs(std::slice::from_ref(&m.part), f);
            for a in &m.actions {
                set_exprs(&a.items, f);
            }
        }
        Clause::Set(items) => set_exprs(items, f),
        Clause::Remove(items) => {
            for i in items {
                if let RemoveItem::Property { target, .. } = i {
                    f(target);
                }
            }
        }
        Clause::Delete { exprs, .. } => exprs.iter().for_each(f),
    }
}

fn set_exprs(items: &[SetItem], f: &mut dyn FnMut(&Expr)) {
    for i in items {
        match i {
            SetItem::Property { target, value, .. } => {
                f(target);
                f(value);
            }
            SetItem::Properties { value, .. } => f(value),
            SetItem::Labels { .. } => {}
        }
    }
}

/// Calls `f(name, is_relationship_type)` with every label and relationship type a
/// statement's patterns name.
pub(crate) fn visit_names(s: &Statement, f: &mut dyn FnMut(&str, bool)) {
    let element = |e: &PatternElement, f: &mut dyn FnMut(&str, bool)| {
        std::iter::once(&e.start)
            .chain(e.chain.iter().map(|(_, n)| n))
            .for_each(|n| n.labels.iter().for_each(|l| f(l, false)));
        e.chain.iter().for_each(|(r, _)| r.types.iter().for_each(|t| f(t, true)));
    };
    let parts = std::iter::once(&s.query.first).chain(s.query.unions.iter().map(|(_, q)| q));
    for q in parts {
        for c in &q.clauses {
            let pattern: &[PatternPart] = match c {
                Clause::Match(m) => &m.pattern,
                Clause::Create(p) => p,
                Clause::Merge(m) => std::slice::from_ref(&m.part),
                Clause::Unwind { .. }
                | Clause::With(_)
                | Clause::Return(_)
                | Clause::Set(_)
                | Clause::Remove(_)
                | Clause::Delete { .. } => &[],
            };
            for part in pattern {
                element(&part.element, f);
            }
        }
    }
}
