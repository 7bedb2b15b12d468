//! Expression evaluation with Cypher's null and type rules.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use cairn_cypher::ast::{BinaryOp, CompareOp, Expr, Literal, MapProjectionItem, Quantifier, UnaryOp};

use super::Exec;
use super::env::Env;
use crate::error::{GraphError, Result};
use crate::value::{Value, compare, equals};

/// Ternary logic values: `Some(b)` or `None` for null.
pub(crate) fn truth(v: &Value) -> Result<Option<bool>> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Null => Ok(None),
        other => {
            Err(GraphError::type_error("InvalidArgumentType", format!("expected a boolean, got {}", other.type_name())))
        }
    }
}

fn tri(b: Option<bool>) -> Value {
    b.map_or(Value::Null, Value::Bool)
}

pub(crate) fn literal(l: &Literal) -> Value {
    match l {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::Float(*f),
        Literal::String(s) => Value::String(s.clone()),
    }
}

fn overflow() -> GraphError {
    GraphError::argument("NumberOutOfRange", "integer overflow")
}

impl Exec<'_> {
    /// Evaluates an expression; the value is weighed before anything keeps it.
    pub(crate) fn eval(&self, e: &Expr, env: &Env<'_>) -> Result<Value> {
        self.tick()?;
        let value = match e {
            Expr::Lit(l) => Ok(literal(l)),
            Expr::Param(p) => self.param(p),
            Expr::Var(v) => match env.get(v) {
                Some(value) => Ok(value.clone()),
                None => Err(GraphError::Compile(cairn_cypher::CypherError::coded(
                    0,
                    0,
                    "UndefinedVariable",
                    format!("variable `{v}` not defined"),
                ))),
            },
            Expr::Prop(base, key) => {
                let base = self.eval(base, env)?;
                self.property(&base, key)
            }
            Expr::Index(base, index) => {
                let base = self.eval(base, env)?;
                let index = self.eval(index, env)?;
                self.index(&base, &index)
            }
            Expr::Slice(base, from, to) => {
                let base = self.eval(base, env)?;
                let from = from.as_ref().map(|f| self.eval(f, env)).transpose()?;
                let to = to.as_ref().map(|t| self.eval(t, env)).transpose()?;
                slice(&base, from, to)
            }
            Expr::List(items) => Ok(Value::List(items.iter().map(|i| self.eval(i, env)).collect::<Result<_>>()?)),
            Expr::Map(items) => {
                let mut map = BTreeMap::new();
                for (k, v) in items {
                    map.insert(k.clone(), self.eval(v, env)?);
                }
                Ok(Value::Map(map))
            }
            Expr::Unary(op, inner) => {
                let v = self.eval(inner, env)?;
                unary(*op, v)
            }
            Expr::Binary(op, a, b) => self.binary(*op, a, b, env),
            Expr::Compare(first, rest) => {
                let mut left = self.eval(first, env)?;
                let mut result = Some(true);
                for (op, next) in rest {
                    let right = self.eval(next, env)?;
                    let r = compare_op(*op, &left, &right);
                    result = match (result, r) {
                        (Some(false), _) | (_, Some(false)) => Some(false),
                        (Some(true), Some(true)) => Some(true),
                        _ => None,
                    };
                    left = right;
                }
                Ok(tri(result))
            }
            Expr::IsNull(inner, is_null) => Ok(Value::Bool(self.eval(inner, env)?.is_null() == *is_null)),
            Expr::HasLabels(inner, labels) => match self.eval(inner, env)? {
                Value::Null => Ok(Value::Null),
                Value::Node(id) => {
                    let node = self.node_data(id)?;
                    Ok(Value::Bool(labels.iter().all(|l| node.labels.iter().any(|x| x == l))))
                }
                // `r:T` tests a relationship's type.
                Value::Rel(id) => {
                    let rel = self.rel_data(id)?;
                    Ok(Value::Bool(labels.iter().all(|l| *l == rel.kind)))
                }
                other => Err(GraphError::type_error(
                    "InvalidArgumentType",
                    format!("labels can only be tested on nodes, not {}", other.type_name()),
                )),
            },
            Expr::CountStar => self.aggregate_value(e, env),
            Expr::Call { name, args, .. } => {
                if cairn_cypher::ast::is_aggregate(name) {
                    return self.aggregate_value(e, env);
                }
                let values = args.iter().map(|a| self.eval(a, env)).collect::<Result<Vec<_>>>()?;
                self.call(name, values)
            }
            Expr::Case { subject, branches, otherwise } => {
                let subject = subject.as_ref().map(|s| self.eval(s, env)).transpose()?;
                for (when, then) in branches {
                    let w = self.eval(when, env)?;
                    let hit = match &subject {
                        Some(s) => equals(s, &w) == Some(true),
                        None => matches!(w, Value::Bool(true)),
                    };
                    if hit {
                        return self.eval(then, env);
                    }
                }
                otherwise.as_ref().map_or(Ok(Value::Null), |o| self.eval(o, env))
            }
            Expr::ListComprehension { var, list, filter, map } => {
                let Some(items) = self.list_arg(list, env)? else { return Ok(Value::Null) };
                let names = [var.clone()];
                let mut out = Vec::new();
                for item in items {
                    let values = [item];
                    let inner = env.child(&names, &values);
                    if let Some(f) = filter
                        && truth(&self.eval(f, &inner)?)? != Some(true)
                    {
                        continue;
                    }
                    out.push(match map {
                        Some(m) => self.eval(m, &inner)?,
                        None => values[0].clone(),
                    });
                }
                Ok(Value::List(out))
            }
            Expr::Quantified { kind, var, list, filter } => {
                let Some(items) = self.list_arg(list, env)? else { return Ok(Value::Null) };
                let names = [var.clone()];
                let (mut trues, mut nulls, mut falses) = (0usize, 0usize, 0usize);
                for item in items {
                    let values = [item];
                    let inner = env.child(&names, &values);
                    let t = match filter {
                        Some(f) => truth(&self.eval(f, &inner)?)?,
                        None => truth(&values[0])?,
                    };
                    match t {
                        Some(true) => trues += 1,
                        Some(false) => falses += 1,
                        None => nulls += 1,
                    }
                }
                Ok(match kind {
                    Quantifier::Any => tri(if trues > 0 {
                        Some(true)
                    } else if nulls > 0 {
                        None
                    } else {
                        Some(false)
                    }),
                    Quantifier::All => tri(if falses > 0 {
                        Some(false)
                    } else if nulls > 0 {
                        None
                    } else {
                        Some(true)
                    }),
                    Quantifier::None => tri(if trues > 0 {
                        Some(false)
                    } else if nulls > 0 {
                        None
                    } else {
                        Some(true)
                    }),
                    Quantifier::Single => tri(if trues > 1 {
                        Some(false)
                    } else if nulls > 0 {
                        None
                    } else {
                        Some(trues == 1)
                    }),
                })
            }
            Expr::Reduce { acc, init, var, list, expr } => {
                let mut value = self.eval(init, env)?;
                let Some(items) = self.list_arg(list, env)? else { return Ok(Value::Null) };
                let names = [acc.clone(), var.clone()];
                for item in items {
                    let values = [value, item];
                    value = self.eval(expr, &env.child(&names, &values))?;
                }
                Ok(value)
            }
            Expr::Pattern(element) => Ok(Value::Bool(self.pattern_exists(element, None, env)?)),
            Expr::Exists(m) => {
                let found = self.match_exists(&m.pattern, m.filter.as_ref(), env)?;
                Ok(Value::Bool(found))
            }
            Expr::PatternComprehension { var, pattern, filter, map } => {
                self.pattern_comprehension(var.as_deref(), pattern, filter.as_deref(), map, env)
            }
            Expr::MapProjection { var, items } => self.map_projection(var, items, env),
            Expr::ShortestPath(part) => self.shortest_expr(part, env),
        }?;
        // A literal is as large as the query's own text, which the parser has bounded;
        // every other value is weighed before anything keeps it.
        if !matches!(e, Expr::Lit(_)) {
            self.admit(&value)?;
        }
        Ok(value)
    }

    fn aggregate_value(&self, e: &Expr, env: &Env<'_>) -> Result<Value> {
        env.aggregate(e).cloned().ok_or_else(|| {
            GraphError::Compile(cairn_cypher::CypherError::coded(
                0,
                0,
                "InvalidAggregation",
                "aggregate functions are only allowed in WITH and RETURN",
            ))
        })
    }

    pub(crate) fn param(&self, name: &str) -> Result<Value> {
        self.params.get(name).cloned().ok_or_else(|| GraphError::MissingParameter { name: name.to_owned() })
    }

    fn list_arg(&self, list: &Expr, env: &Env<'_>) -> Result<Option<Vec<Value>>> {
        match self.eval(list, env)? {
            Value::Null => Ok(None),
            Value::List(items) => Ok(Some(items)),
            other => Err(GraphError::type_error(
                "InvalidArgumentType",
                format!("expected a list, got {}", other.type_name()),
            )),
        }
    }

    /// `base.key`.
    pub(crate) fn property(&self, base: &Value, key: &str) -> Result<Value> {
        match base {
            Value::Null => Ok(Value::Null),
            Value::Node(id) => Ok(self.node_data(*id)?.props.get(key).cloned().unwrap_or(Value::Null)),
            Value::Rel(id) => Ok(self.rel_data(*id)?.props.get(key).cloned().unwrap_or(Value::Null)),
            Value::Map(m) => Ok(m.get(key).cloned().unwrap_or(Value::Null)),
            other => Err(GraphError::type_error(
                "InvalidArgumentType",
                format!("cannot read property `{key}` of {}", other.type_name()),
            )),
        }
    }

    fn index(&self, base: &Value, index: &Value) -> Result<Value> {
        match (base, index) {
            (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
            (Value::List(items), Value::Int(i)) => {
                let len = items.len() as i64;
                let at = if *i < 0 { len + i } else { *i };
                Ok(if (0..len).contains(&at) { items[at as usize].clone() } else { Value::Null })
            }
            (Value::List(_), other) => Err(GraphError::type_error(
                "InvalidArgumentType",
                format!("list index must be an integer, got {}", other.type_name()),
            )),
            (Value::Map(_) | Value::Node(_) | Value::Rel(_), Value::String(k)) => self.property(base, k),
            (Value::Map(_) | Value::Node(_) | Value::Rel(_), other) => Err(GraphError::type_error(
                "MapElementAccessByNonString",
                format!("map keys are strings, got {}", other.type_name()),
            )),
            (other, _) => {
                Err(GraphError::type_error("InvalidArgumentType", format!("cannot index into {}", other.type_name())))
            }
        }
    }

    fn binary(&self, op: BinaryOp, a: &Expr, b: &Expr, env: &Env<'_>) -> Result<Value> {
        if matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor) {
            let x = truth(&self.eval(a, env)?)?;
            let y = truth(&self.eval(b, env)?)?;
            return Ok(tri(match op {
                BinaryOp::And => match (x, y) {
                    (Some(false), _) | (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                },
                BinaryOp::Or => match (x, y) {
                    (Some(true), _) | (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                },
                _ => match (x, y) {
                    (Some(p), Some(q)) => Some(p != q),
                    _ => None,
                },
            }));
        }
        let x = self.eval(a, env)?;
        let y = self.eval(b, env)?;
        if op == BinaryOp::Regex {
            return match (&x, &y) {
                (Value::String(s), Value::String(pattern)) => self.regex_match(s, pattern),
                _ => Ok(Value::Null),
            };
        }
        arithmetic(op, x, y)
    }

    /// `s =~ pattern`, with each pattern compiled once per query (and compiled under a
    /// size limit: a pattern is user input too).
    fn regex_match(&self, s: &str, pattern: &str) -> Result<Value> {
        let mut cache = self.regexes.borrow_mut();
        if !cache.contains_key(pattern) {
            self.charge(pattern.len() as u64 * 64)?;
            let compiled = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                .size_limit(1 << 20)
                .dfa_size_limit(1 << 20)
                .build()
                .map_err(|e| e.to_string());
            if cache.len() >= 256 {
                cache.clear();
            }
            cache.insert(pattern.to_owned(), compiled);
        }
        match cache.get(pattern) {
            Some(Ok(re)) => {
                self.charge(s.len() as u64 / 16)?;
                Ok(Value::Bool(re.is_match(s)))
            }
            Some(Err(e)) => Err(GraphError::argument("InvalidArgumentValue", format!("invalid regex: {e}"))),
            None => Ok(Value::Null),
        }
    }
}

fn compare_op(op: CompareOp, a: &Value, b: &Value) -> Option<bool> {
    let nan = |v: &Value| matches!(v, Value::Float(f) if f.is_nan());
    let number = |v: &Value| matches!(v, Value::Int(_) | Value::Float(_));
    if !matches!(op, CompareOp::Eq | CompareOp::Ne) && (nan(a) || nan(b)) && number(a) && number(b) {
        return Some(false);
    }
    match op {
        CompareOp::Eq => equals(a, b),
        CompareOp::Ne => equals(a, b).map(|e| !e),
        CompareOp::Lt => compare(a, b).map(|o| o == Ordering::Less),
        CompareOp::Le => compare(a, b).map(|o| o != Ordering::Greater),
        CompareOp::Gt => compare(a, b).map(|o| o == Ordering::Greater),
        CompareOp::Ge => compare(a, b).map(|o| o != Ordering::Less),
    }
}

fn unary(op: UnaryOp, v: Value) -> Result<Value> {
    match (op, v) {
        (_, Value::Null) => Ok(Value::Null),
        (UnaryOp::Not, v) => Ok(tri(truth(&v)?.map(|b| !b))),
        (UnaryOp::Neg, Value::Int(i)) => Ok(Value::Int(i.checked_neg().ok_or_else(overflow)?)),
        (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
        (UnaryOp::Plus, v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
        (_, other) => {
            Err(GraphError::type_error("InvalidArgumentType", format!("cannot apply a sign to {}", other.type_name())))
        }
    }
}

/// Arithmetic, list and string operators on two evaluated values.
pub(crate) fn arithmetic(op: BinaryOp, x: Value, y: Value) -> Result<Value> {
    use Value::{Float, Int, List, Null, String as Str};
    let bad = |x: &Value, y: &Value| {
        GraphError::type_error(
            "InvalidArgumentType",
            format!("cannot apply {op:?} to {} and {}", x.type_name(), y.type_name()),
        )
    };
    match op {
        BinaryOp::In => match (&x, y) {
            (_, Null) => Ok(Null),
            (_, List(items)) => {
                let mut unknown = false;
                for item in &items {
                    match equals(&x, item) {
                        Some(true) => return Ok(Value::Bool(true)),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                Ok(if unknown { Null } else { Value::Bool(false) })
            }
            (_, other) => Err(bad(&x, &other)),
        },
        // `=~` is the executor's (`Exec::regex_match`): it compiles each pattern once per
        // query, under a size limit.
        BinaryOp::StartsWith | BinaryOp::EndsWith | BinaryOp::Contains => match (&x, &y) {
            (Str(s), Str(t)) => Ok(Value::Bool(match op {
                BinaryOp::StartsWith => s.starts_with(t.as_str()),
                BinaryOp::EndsWith => s.ends_with(t.as_str()),
                _ => s.contains(t.as_str()),
            })),
            _ => Ok(Null),
        },
        _ => match (x, y) {
            (Null, _) | (_, Null) => Ok(Null),
            (List(mut a), List(b)) if op == BinaryOp::Add => {
                a.extend(b);
                Ok(List(a))
            }
            (List(mut a), b) if op == BinaryOp::Add => {
                a.push(b);
                Ok(List(a))
            }
            (a, List(b)) if op == BinaryOp::Add => {
                let mut out = vec![a];
                out.extend(b);
                Ok(List(out))
            }
            (Str(a), Str(b)) if op == BinaryOp::Add => Ok(Str(a + &b)),
            (Str(a), b @ (Int(_) | Float(_))) if op == BinaryOp::Add => Ok(Str(a + &super::functions::to_string(&b))),
            (a @ (Int(_) | Float(_)), Str(b)) if op == BinaryOp::Add => Ok(Str(super::functions::to_string(&a) + &b)),
            (Int(a), Int(b)) => int_op(op, a, b),
            (a @ (Int(_) | Float(_)), b @ (Int(_) | Float(_))) => {
                let (p, q) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
                Ok(Float(match op {
                    BinaryOp::Add => p + q,
                    BinaryOp::Sub => p - q,
                    BinaryOp::Mul => p * q,
                    BinaryOp::Div => p / q,
                    BinaryOp::Mod => p % q,
                    BinaryOp::Pow => p.powf(q),
                    _ => return Err(bad(&a, &b)),
                }))
            }
            (a, b) => Err(bad(&a, &b)),
        },
    }
}

fn int_op(op: BinaryOp, a: i64, b: i64) -> Result<Value> {
    let zero = || GraphError::argument("DivisionByZero", "division by zero");
    Ok(Value::Int(match op {
        BinaryOp::Add => a.checked_add(b).ok_or_else(overflow)?,
        BinaryOp::Sub => a.checked_sub(b).ok_or_else(overflow)?,
        BinaryOp::Mul => a.checked_mul(b).ok_or_else(overflow)?,
        BinaryOp::Div => {
            if b == 0 {
                return Err(zero());
            }
            a.checked_div(b).ok_or_else(overflow)?
        }
        BinaryOp::Mod => {
            if b == 0 {
                return Err(zero());
            }
            a.checked_rem(b).ok_or_else(overflow)?
        }
        BinaryOp::Pow => return Ok(Value::Float((a as f64).powf(b as f64))),
        _ => return Err(GraphError::type_error("InvalidArgumentType", format!("cannot apply {op:?} to integers"))),
    }))
}

fn slice(base: &Value, from: Option<Value>, to: Option<Value>) -> Result<Value> {
    let items = match base {
        Value::Null => return Ok(Value::Null),
        Value::List(items) => items,
        other => {
            return Err(GraphError::type_error("InvalidArgumentType", format!("cannot slice {}", other.type_name())));
        }
    };
    let len = items.len() as i64;
    let bound = |v: Option<Value>, default: i64| -> Result<Option<i64>> {
        match v {
            None => Ok(Some(default)),
            Some(Value::Null) => Ok(None),
            Some(Value::Int(i)) => Ok(Some(if i < 0 { (len + i).max(0) } else { i.min(len) })),
            Some(other) => Err(GraphError::type_error(
                "InvalidArgumentType",
                format!("slice bounds must be integers, got {}", other.type_name()),
            )),
        }
    };
    let (Some(a), Some(b)) = (bound(from, 0)?, bound(to, len)?) else { return Ok(Value::Null) };
    if a >= b {
        return Ok(Value::List(Vec::new()));
    }
    Ok(Value::List(items[a as usize..b as usize].to_vec()))
}

impl Exec<'_> {
    fn map_projection(&self, var: &str, items: &[MapProjectionItem], env: &Env<'_>) -> Result<Value> {
        let base = env.get(var).cloned().unwrap_or(Value::Null);
        if base.is_null() {
            return Ok(Value::Null);
        }
        let all = |exec: &Self| -> Result<BTreeMap<String, Value>> {
            Ok(match &base {
                Value::Node(id) => exec.node_data(*id)?.props.clone(),
                Value::Rel(id) => exec.rel_data(*id)?.props.clone(),
                Value::Map(m) => m.clone(),
                other => {
                    return Err(GraphError::type_error(
                        "InvalidArgumentType",
                        format!("map projection of {}", other.type_name()),
                    ));
                }
            })
        };
        let mut out = BTreeMap::new();
        for item in items {
            match item {
                MapProjectionItem::All => out.extend(all(self)?),
                MapProjectionItem::Property(k) => {
                    out.insert(k.clone(), self.property(&base, k)?);
                }
                MapProjectionItem::Literal(k, e) => {
                    out.insert(k.clone(), self.eval(e, env)?);
                }
                MapProjectionItem::Variable(v) => {
                    out.insert(v.clone(), env.get(v).cloned().unwrap_or(Value::Null));
                }
            }
        }
        Ok(Value::Map(out))
    }
}
