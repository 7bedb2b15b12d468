//! Scalar functions.

use super::Exec;
use crate::error::{GraphError, Result};
use crate::value::Value;

/// Scalar functions Cairn knows, with their accepted argument counts.
pub(crate) fn arity(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "pi" | "e" | "rand" | "timestamp" => (0, 0),
        "id" | "labels" | "type" | "properties" | "keys" | "size" | "length" | "nodes" | "relationships"
        | "startnode" | "endnode" | "head" | "last" | "tail" | "tostring" | "tointeger" | "tofloat" | "toboolean"
        | "tostringornull" | "tointegerornull" | "tofloatornull" | "tobooleanornull" | "tolower" | "toupper"
        | "trim" | "ltrim" | "rtrim" | "reverse" | "abs" | "ceil" | "floor" | "sign" | "sqrt" | "exp" | "log"
        | "log10" | "sin" | "cos" | "tan" | "asin" | "acos" | "atan" | "degrees" | "radians" | "exists" | "isempty"
        | "valuetype" => (1, 1),
        "round" => (1, 3),
        "atan2" | "left" | "right" | "split" => (2, 2),
        "range" => (2, 3),
        "substring" => (2, 3),
        "replace" => (3, 3),
        "coalesce" => (1, usize::MAX),
        _ => return None,
    })
}

fn arg_type(name: &str, v: &Value) -> GraphError {
    GraphError::type_error("InvalidArgumentValue", format!("{name}() does not accept {}", v.type_name()))
}

/// `toString` of a number or boolean as Cypher prints it.
pub(crate) fn to_string(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Null | Value::List(_) | Value::Map(_) | Value::Node(_) | Value::Rel(_) | Value::Path(_) => String::new(),
    }
}

/// A float as Cypher prints it: always with a fractional part or an exponent.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let s = format!("{f:?}");
    if s.contains('.') || s.contains('e') { s } else { format!("{s}.0") }
}

fn int_arg(name: &str, v: &Value) -> Result<Option<i64>> {
    match v {
        Value::Null => Ok(None),
        Value::Int(i) => Ok(Some(*i)),
        other => Err(arg_type(name, other)),
    }
}

fn string_arg<'v>(name: &str, v: &'v Value) -> Result<Option<&'v str>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(arg_type(name, other)),
    }
}

fn number_fn(name: &str, v: &Value, f: fn(f64) -> f64) -> Result<Value> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::Int(i) => Ok(Value::Float(f(*i as f64))),
        Value::Float(x) => Ok(Value::Float(f(*x))),
        other => Err(arg_type(name, other)),
    }
}

impl Exec<'_> {
    /// Calls a scalar function on evaluated arguments.
    pub(crate) fn call(&self, name: &str, args: Vec<Value>) -> Result<Value> {
        let a = |i: usize| args.get(i).unwrap_or(&Value::Null);
        let x = a(0);
        Ok(match name {
            "coalesce" => args.iter().find(|v| !v.is_null()).cloned().unwrap_or(Value::Null),
            "pi" => Value::Float(std::f64::consts::PI),
            "e" => Value::Float(std::f64::consts::E),
            "rand" => Value::Float(self.random()),
            "timestamp" => Value::Int(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
            ),
            _ if x.is_null() && name != "tostringornull" && name != "valuetype" => Value::Null,
            "id" => match x {
                Value::Node(n) => Value::Int(n.0 as i64),
                Value::Rel(r) => Value::Int(r.0 as i64),
                other => return Err(arg_type(name, other)),
            },
            "labels" => match x {
                Value::Node(n) => {
                    Value::List(self.node_data(*n)?.labels.iter().map(|l| Value::String(l.clone())).collect())
                }
                other => return Err(arg_type(name, other)),
            },
            "type" => match x {
                Value::Rel(r) => Value::String(self.rel_data_any(*r)?.kind.clone()),
                other => return Err(arg_type(name, other)),
            },
            "properties" => match x {
                Value::Node(n) => Value::Map(self.node_data(*n)?.props.clone()),
                Value::Rel(r) => Value::Map(self.rel_data(*r)?.props.clone()),
                Value::Map(m) => Value::Map(m.clone()),
                other => return Err(arg_type(name, other)),
            },
            "keys" => match x {
                Value::Node(n) => {
                    Value::List(self.node_data(*n)?.props.keys().map(|k| Value::from(k.as_str())).collect())
                }
                Value::Rel(r) => {
                    Value::List(self.rel_data(*r)?.props.keys().map(|k| Value::from(k.as_str())).collect())
                }
                Value::Map(m) => Value::List(m.keys().map(|k| Value::from(k.as_str())).collect()),
                other => return Err(arg_type(name, other)),
            },
            "exists" => Value::Bool(true),
            "size" => match x {
                Value::List(l) => Value::Int(l.len() as i64),
                Value::String(s) => Value::Int(s.chars().count() as i64),
                Value::Map(m) => Value::Int(m.len() as i64),
                other => return Err(arg_type(name, other)),
            },
            "isempty" => match x {
                Value::List(l) => Value::Bool(l.is_empty()),
                Value::String(s) => Value::Bool(s.is_empty()),
                Value::Map(m) => Value::Bool(m.is_empty()),
                other => return Err(arg_type(name, other)),
            },
            "length" => match x {
                Value::Path(p) => Value::Int(p.rels.len() as i64),
                other => return Err(arg_type(name, other)),
            },
            "nodes" => match x {
                Value::Path(p) => Value::List(p.nodes.iter().map(|n| Value::Node(*n)).collect()),
                other => return Err(arg_type(name, other)),
            },
            "relationships" => match x {
                Value::Path(p) => Value::List(p.rels.iter().map(|r| Value::Rel(*r)).collect()),
                other => return Err(arg_type(name, other)),
            },
            "startnode" | "endnode" => match x {
                Value::Rel(r) => {
                    let d = self.rel_data(*r)?;
                    Value::Node(if name == "startnode" { d.src } else { d.dst })
                }
                other => return Err(arg_type(name, other)),
            },
            "head" | "last" => match x {
                Value::List(l) => (if name == "head" { l.first() } else { l.last() }).cloned().unwrap_or(Value::Null),
                other => return Err(arg_type(name, other)),
            },
            "tail" => match x {
                Value::List(l) => Value::List(l.iter().skip(1).cloned().collect()),
                other => return Err(arg_type(name, other)),
            },
            "reverse" => match x {
                Value::List(l) => Value::List(l.iter().rev().cloned().collect()),
                Value::String(s) => Value::String(s.chars().rev().collect()),
                other => return Err(arg_type(name, other)),
            },
            "tostring" | "tostringornull" => match x {
                Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::String(_) => Value::String(to_string(x)),
                _ if name == "tostringornull" => Value::Null,
                other => return Err(arg_type(name, other)),
            },
            "tointeger" | "tointegerornull" => match x {
                Value::Int(i) => Value::Int(*i),
                Value::Float(f) if f.is_finite() && f.abs() < 9.3e18 => Value::Int(f.trunc() as i64),
                Value::String(s) => parse_int(s).map_or(Value::Null, Value::Int),
                Value::Bool(b) => Value::Int(i64::from(*b)),
                _ if name == "tointegerornull" => Value::Null,
                other => return Err(arg_type(name, other)),
            },
            "tofloat" | "tofloatornull" => match x {
                Value::Int(i) => Value::Float(*i as f64),
                Value::Float(f) => Value::Float(*f),
                Value::String(s) => s.trim().parse::<f64>().map_or(Value::Null, Value::Float),
                _ if name == "tofloatornull" => Value::Null,
                other => return Err(arg_type(name, other)),
            },
            "toboolean" | "tobooleanornull" => match x {
                Value::Bool(b) => Value::Bool(*b),
                Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::Null,
                },
                Value::Int(i) => Value::Bool(*i != 0),
                _ if name == "tobooleanornull" => Value::Null,
                other => return Err(arg_type(name, other)),
            },
            "valuetype" => Value::String(x.type_name().to_owned()),
            "tolower" | "toupper" | "trim" | "ltrim" | "rtrim" => {
                let s = string_arg(name, x)?.unwrap_or_default();
                Value::String(match name {
                    "tolower" => s.to_lowercase(),
                    "toupper" => s.to_uppercase(),
                    "trim" => s.trim().to_owned(),
                    "ltrim" => s.trim_start().to_owned(),
                    _ => s.trim_end().to_owned(),
                })
            }
            "replace" => {
                let (Some(s), Some(from), Some(to)) =
                    (string_arg(name, x)?, string_arg(name, a(1))?, string_arg(name, a(2))?)
                else {
                    return Ok(Value::Null);
                };
                let hits = if from.is_empty() { s.chars().count() + 1 } else { s.matches(from).count() } as u64;
                self.charge(s.len() as u64 / 16)?;
                self.check_value_bytes((s.len() as u64).saturating_add(hits.saturating_mul(to.len() as u64)))?;
                Value::String(s.replace(from, to))
            }
            "split" => {
                let (Some(s), Some(sep)) = (string_arg(name, x)?, string_arg(name, a(1))?) else {
                    return Ok(Value::Null);
                };
                let pieces = if sep.is_empty() { s.chars().count() + 2 } else { s.matches(sep).count() + 1 } as u64;
                self.charge(s.len() as u64 / 16)?;
                self.check_value_bytes(pieces.saturating_mul(32).saturating_add(s.len() as u64))?;
                Value::List(s.split(sep).map(Value::from).collect())
            }
            "substring" => {
                let Some(s) = string_arg(name, x)? else { return Ok(Value::Null) };
                let chars: Vec<char> = s.chars().collect();
                let start = int_arg(name, a(1))?.unwrap_or(0);
                let len = if args.len() > 2 { int_arg(name, a(2))? } else { None };
                if start < 0 || len.is_some_and(|l| l < 0) {
                    return Err(GraphError::argument("NumberOutOfRange", "substring() needs non-negative bounds"));
                }
                let start = (start as usize).min(chars.len());
                let end = len.map_or(chars.len(), |l| (start + l as usize).min(chars.len()));
                Value::String(chars[start..end].iter().collect())
            }
            "left" | "right" => {
                let Some(s) = string_arg(name, x)? else { return Ok(Value::Null) };
                let Some(n) = int_arg(name, a(1))? else {
                    return Err(GraphError::argument("InvalidArgumentValue", format!("{name}() needs a length")));
                };
                if n < 0 {
                    return Err(GraphError::argument(
                        "NumberOutOfRange",
                        format!("{name}() needs a non-negative length"),
                    ));
                }
                let chars: Vec<char> = s.chars().collect();
                let n = (n as usize).min(chars.len());
                Value::String(if name == "left" {
                    chars[..n].iter().collect()
                } else {
                    chars[chars.len() - n..].iter().collect()
                })
            }
            "range" => {
                let int = |v: &Value| match v {
                    Value::Int(i) => Ok(*i),
                    other => Err(GraphError::argument(
                        "InvalidArgumentType",
                        format!("range() needs integers, got {}", other.type_name()),
                    )),
                };
                let (start, end) = (int(x)?, int(a(1))?);
                let step = if args.len() > 2 { int(a(2))? } else { 1 };
                if step == 0 {
                    return Err(GraphError::argument("NumberOutOfRange", "range() step cannot be 0"));
                }
                let count = if (step > 0 && end < start) || (step < 0 && end > start) {
                    0
                } else {
                    ((end as i128 - start as i128) / step as i128 + 1) as u128
                };
                if count > self.limits.max_rows as u128 {
                    return Err(GraphError::Limit { what: "range() length", limit: self.limits.max_rows });
                }
                Value::List((0..count as i64).map(|i| Value::Int(start + i * step)).collect())
            }
            "abs" => match x {
                Value::Int(i) => {
                    Value::Int(i.checked_abs().ok_or_else(|| GraphError::argument("NumberOutOfRange", "overflow"))?)
                }
                Value::Float(f) => Value::Float(f.abs()),
                other => return Err(arg_type(name, other)),
            },
            "sign" => match x {
                Value::Int(i) => Value::Int(i.signum()),
                Value::Float(f) => Value::Int(if *f > 0.0 {
                    1
                } else if *f < 0.0 {
                    -1
                } else {
                    0
                }),
                other => return Err(arg_type(name, other)),
            },
            "ceil" => number_fn(name, x, f64::ceil)?,
            "floor" => number_fn(name, x, f64::floor)?,
            "round" => number_fn(name, x, |f| (f + 0.5).floor())?,
            "sqrt" => number_fn(name, x, f64::sqrt)?,
            "exp" => number_fn(name, x, f64::exp)?,
            "log" => number_fn(name, x, f64::ln)?,
            "log10" => number_fn(name, x, f64::log10)?,
            "sin" => number_fn(name, x, f64::sin)?,
            "cos" => number_fn(name, x, f64::cos)?,
            "tan" => number_fn(name, x, f64::tan)?,
            "asin" => number_fn(name, x, f64::asin)?,
            "acos" => number_fn(name, x, f64::acos)?,
            "atan" => number_fn(name, x, f64::atan)?,
            "degrees" => number_fn(name, x, f64::to_degrees)?,
            "radians" => number_fn(name, x, f64::to_radians)?,
            "atan2" => match (x.as_f64(), a(1).as_f64()) {
                (Some(y), Some(z)) => Value::Float(y.atan2(z)),
                _ if a(1).is_null() => Value::Null,
                _ => return Err(arg_type(name, a(1))),
            },
            other => {
                return Err(GraphError::Compile(cairn_cypher::CypherError::coded(
                    0,
                    0,
                    "UnknownFunction",
                    format!("unknown function {other}()"),
                )));
            }
        })
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    t.parse::<i64>()
        .ok()
        .or_else(|| t.parse::<f64>().ok().filter(|f| f.is_finite() && f.abs() < 9.3e18).map(|f| f.trunc() as i64))
}
