//! `WITH` and `RETURN`: projection, grouping with aggregates, `DISTINCT`, `ORDER BY`,
//! `SKIP`, `LIMIT` and `WITH … WHERE`.

use std::collections::{HashMap, HashSet};

use cairn_cypher::ast::{Expr, Projection, ProjectionItem};

use super::aggregate::Aggregator;
use super::env::{AggValues, Env};
use super::eval::truth;
use super::{Exec, Table};
use crate::error::{GraphError, Result};
use crate::value::{Key, Value, order};

/// Hidden columns (internal helpers) start with a space and are never shown.
pub(crate) fn is_hidden(name: &str) -> bool {
    name.starts_with(' ')
}

impl Exec<'_> {
    pub(crate) fn project(&mut self, p: &Projection, table: Table, is_return: bool) -> Result<Table> {
        let mut items: Vec<ProjectionItem> = Vec::new();
        if p.star {
            let mut names: Vec<&String> = table.names.iter().filter(|n| !is_hidden(n)).collect();
            if is_return {
                names.sort();
            }
            for n in names {
                items.push(ProjectionItem { expr: Expr::Var(n.clone()), alias: None, text: n.clone() });
            }
        }
        items.extend(p.items.iter().cloned());
        let names: Vec<String> = items.iter().map(|i| i.name().to_owned()).collect();
        let aggregating = items.iter().any(|i| i.expr.contains_aggregate());

        // Each output row keeps the input row it came from, for ORDER BY on variables
        // that were not projected.
        let mut rows: Vec<(Vec<Value>, Vec<Value>)> = if aggregating {
            self.aggregate_rows(&items, &table)?
        } else {
            let mut out = Vec::with_capacity(table.rows.len());
            for row in table.rows {
                let env = Env::new(&table.names, &row);
                let values = items.iter().map(|i| self.eval(&i.expr, &env)).collect::<Result<Vec<_>>>()?;
                out.push((values, row));
            }
            out
        };
        if p.distinct {
            let mut seen = HashSet::new();
            rows.retain(|(v, _)| seen.insert(v.iter().cloned().map(Key).collect::<Vec<_>>()));
        }
        if !p.order.is_empty() {
            let sort: Vec<(Expr, bool)> = p.order.iter().map(|s| (substitute(&s.expr, &items), s.ascending)).collect();
            let mut keyed = Vec::with_capacity(rows.len());
            for (values, original) in rows {
                let outer = Env::new(&table.names, &original);
                let env =
                    if p.distinct || aggregating { Env::new(&names, &values) } else { outer.child(&names, &values) };
                let keys = sort.iter().map(|(e, _)| self.eval(e, &env)).collect::<Result<Vec<_>>>()?;
                keyed.push((keys, values, original));
            }
            keyed.sort_by(|a, b| {
                for (i, (_, asc)) in sort.iter().enumerate() {
                    let o = order(&a.0[i], &b.0[i]);
                    let o = if *asc { o } else { o.reverse() };
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
            rows = keyed.into_iter().map(|(_, v, o)| (v, o)).collect();
        }
        let skip = self.count_arg(p.skip.as_ref(), "SKIP")?.unwrap_or(0);
        let limit = self.count_arg(p.limit.as_ref(), "LIMIT")?;
        let mut rows: Vec<(Vec<Value>, Vec<Value>)> =
            rows.into_iter().skip(skip).take(limit.unwrap_or(usize::MAX)).collect();
        if let Some(filter) = &p.filter {
            let mut kept = Vec::with_capacity(rows.len());
            for (values, original) in rows {
                let outer = Env::new(&table.names, &original);
                let env = outer.child(&names, &values);
                if truth(&self.eval(filter, &env)?)? == Some(true) {
                    kept.push((values, original));
                }
            }
            rows = kept;
        }
        Ok(Table { names, rows: rows.into_iter().map(|(v, _)| v).collect() })
    }

    /// `SKIP n` / `LIMIT n`: a non-negative integer from an expression without variables.
    fn count_arg(&self, e: Option<&Expr>, what: &str) -> Result<Option<usize>> {
        let Some(e) = e else { return Ok(None) };
        let names: [String; 0] = [];
        match self.eval(e, &Env::new(&names, &[]))? {
            Value::Int(i) if i >= 0 => Ok(Some(i as usize)),
            Value::Int(_) => Err(GraphError::RuntimeSyntax {
                code: "NegativeIntegerArgument",
                message: format!("{what} must not be negative"),
            }),
            other => Err(GraphError::RuntimeSyntax {
                code: "InvalidArgumentType",
                message: format!("{what} needs an integer, got {}", other.type_name()),
            }),
        }
    }

    fn aggregate_rows(&self, items: &[ProjectionItem], table: &Table) -> Result<Vec<(Vec<Value>, Vec<Value>)>> {
        // The aggregate calls of every item, outermost only.
        let mut calls: Vec<&Expr> = Vec::new();
        for item in items {
            collect_aggregates(&item.expr, &mut calls);
        }
        let keys: Vec<usize> = (0..items.len()).filter(|&i| !items[i].expr.contains_aggregate()).collect();
        let mut groups: HashMap<Vec<Key>, usize> = HashMap::new();
        let mut order_of: Vec<(Vec<Value>, Vec<Value>, Vec<Aggregator>)> = Vec::new();
        for row in &table.rows {
            let env = Env::new(&table.names, row);
            let key_values = keys.iter().map(|&i| self.eval(&items[i].expr, &env)).collect::<Result<Vec<_>>>()?;
            let k: Vec<Key> = key_values.iter().cloned().map(Key).collect();
            let at = match groups.get(&k) {
                Some(&at) => at,
                None => {
                    let aggs = calls.iter().map(|c| Aggregator::new(c)).collect::<Result<Vec<_>>>()?;
                    order_of.push((key_values, row.clone(), aggs));
                    groups.insert(k, order_of.len() - 1);
                    order_of.len() - 1
                }
            };
            for (agg, call) in order_of[at].2.iter_mut().zip(&calls) {
                agg.feed(self, call, &env)?;
            }
        }
        if order_of.is_empty() && keys.is_empty() {
            let aggs = calls.iter().map(|c| Aggregator::new(c)).collect::<Result<Vec<_>>>()?;
            order_of.push((Vec::new(), vec![Value::Null; table.names.len()], aggs));
        }
        let mut out = Vec::with_capacity(order_of.len());
        for (key_values, first, aggs) in order_of {
            let mut values_of: AggValues = HashMap::new();
            for (agg, call) in aggs.into_iter().zip(&calls) {
                values_of.insert(*call as *const Expr, agg.finish()?);
            }
            let base = Env::new(&table.names, &first);
            let env = Env { aggs: Some(&values_of), ..base };
            let mut key_iter = key_values.into_iter();
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if keys.contains(&i) {
                    values.push(key_iter.next().unwrap_or(Value::Null));
                } else {
                    values.push(self.eval(&item.expr, &env)?);
                }
            }
            out.push((values, first));
        }
        Ok(out)
    }
}

/// The outermost aggregate calls in `e`, pre-order.
fn collect_aggregates<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    if e.is_aggregate_call() {
        out.push(e);
        return;
    }
    let mut children: Vec<&'e Expr> = Vec::new();
    direct_children(e, &mut children);
    for c in children {
        collect_aggregates(c, out);
    }
}

fn direct_children<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::Lit(_) | Expr::Param(_) | Expr::Var(_) | Expr::CountStar | Expr::Pattern(_) | Expr::Exists(_) => {}
        Expr::ShortestPath(_) | Expr::PatternComprehension { .. } | Expr::MapProjection { .. } => {
            if let Expr::MapProjection { items, .. } = e {
                for item in items {
                    if let cairn_cypher::ast::MapProjectionItem::Literal(_, x) = item {
                        out.push(x);
                    }
                }
            }
        }
        Expr::Prop(x, _) | Expr::Unary(_, x) | Expr::IsNull(x, _) | Expr::HasLabels(x, _) => out.push(x),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => {
            out.push(a);
            out.push(b);
        }
        Expr::Slice(a, b, c) => {
            out.push(a);
            out.extend(b.iter().map(|x| &**x));
            out.extend(c.iter().map(|x| &**x));
        }
        Expr::List(items) | Expr::Call { args: items, .. } => out.extend(items),
        Expr::Map(items) => out.extend(items.iter().map(|(_, x)| x)),
        Expr::Compare(first, rest) => {
            out.push(first);
            out.extend(rest.iter().map(|(_, x)| x));
        }
        Expr::Case { subject, branches, otherwise } => {
            out.extend(subject.iter().map(|x| &**x));
            for (w, t) in branches {
                out.push(w);
                out.push(t);
            }
            out.extend(otherwise.iter().map(|x| &**x));
        }
        Expr::ListComprehension { list, filter, map, .. } => {
            out.push(list);
            out.extend(filter.iter().map(|x| &**x));
            out.extend(map.iter().map(|x| &**x));
        }
        Expr::Quantified { list, filter, .. } => {
            out.push(list);
            out.extend(filter.iter().map(|x| &**x));
        }
        Expr::Reduce { init, list, expr, .. } => {
            out.push(init);
            out.push(list);
            out.push(expr);
        }
    }
}

/// Rewrites an `ORDER BY` key in terms of the projected columns: the whole key when it
/// equals a projected expression, and inside it the aggregates and plain variable or
/// property references that are projected. So `ORDER BY count(*)` and
/// `ORDER BY n.name + 'x'` work after aggregation, while a compound grouping key used as a
/// part (`ORDER BY a + b + count(*)`) stays unresolved, as openCypher requires.
pub(crate) fn substitute(e: &Expr, items: &[ProjectionItem]) -> Expr {
    if let Some(item) = items.iter().find(|i| i.expr == *e) {
        return Expr::Var(item.name().to_owned());
    }
    let mut copy = e.clone();
    rewrite_children(&mut copy, items);
    copy
}

pub(crate) fn is_simple(e: &Expr) -> bool {
    match e {
        Expr::Var(_) => true,
        Expr::Prop(base, _) => is_simple(base),
        _ => e.is_aggregate_call(),
    }
}

fn substitute_part(e: &Expr, items: &[ProjectionItem]) -> Expr {
    if is_simple(e)
        && let Some(item) = items.iter().find(|i| i.expr == *e)
    {
        return Expr::Var(item.name().to_owned());
    }
    let mut copy = e.clone();
    rewrite_children(&mut copy, items);
    copy
}

fn rewrite_children(e: &mut Expr, items: &[ProjectionItem]) {
    let sub = |x: &mut Box<Expr>| **x = substitute_part(x, items);
    match e {
        Expr::Prop(x, _) | Expr::Unary(_, x) | Expr::IsNull(x, _) | Expr::HasLabels(x, _) => sub(x),
        Expr::Index(a, b) | Expr::Binary(_, a, b) => {
            sub(a);
            sub(b);
        }
        Expr::List(xs) => xs.iter_mut().for_each(|x| *x = substitute_part(x, items)),
        Expr::Call { args, name, .. } if !cairn_cypher::ast::is_aggregate(name) => {
            args.iter_mut().for_each(|x| *x = substitute_part(x, items));
        }
        Expr::Compare(first, rest) => {
            sub(first);
            rest.iter_mut().for_each(|(_, x)| *x = substitute_part(x, items));
        }
        Expr::Case { subject, branches, otherwise } => {
            subject.iter_mut().for_each(sub);
            for (w, t) in branches {
                *w = substitute_part(w, items);
                *t = substitute_part(t, items);
            }
            otherwise.iter_mut().for_each(sub);
        }
        _ => {}
    }
}
