//! Aggregate functions: `count`, `collect`, `sum`, `avg`, `min`, `max`, `stDev`,
//! `stDevP`, `percentileCont`, `percentileDisc`, with `DISTINCT`.

use std::collections::HashSet;

use cairn_cypher::ast::Expr;

use super::Exec;
use super::env::Env;
use crate::error::{GraphError, Result};
use crate::value::{Key, Value, order};

/// The running state of one aggregate call in one group.
#[derive(Debug)]
pub(crate) struct Aggregator {
    kind: Kind,
    distinct: Option<HashSet<Key>>,
    values: Vec<Value>,
    count: i64,
    percentile: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    CountStar,
    Count,
    Collect,
    Sum,
    Avg,
    Min,
    Max,
    StDev,
    StDevP,
    PercentileCont,
    PercentileDisc,
}

impl Aggregator {
    pub(crate) fn new(call: &Expr) -> Result<Self> {
        let (kind, distinct) = match call {
            Expr::CountStar => (Kind::CountStar, false),
            Expr::Call { name, distinct, .. } => (
                match name.as_str() {
                    "count" => Kind::Count,
                    "collect" => Kind::Collect,
                    "sum" => Kind::Sum,
                    "avg" => Kind::Avg,
                    "min" => Kind::Min,
                    "max" => Kind::Max,
                    "stdev" => Kind::StDev,
                    "stdevp" => Kind::StDevP,
                    "percentilecont" => Kind::PercentileCont,
                    "percentiledisc" => Kind::PercentileDisc,
                    other => {
                        return Err(GraphError::type_error("UnknownFunction", format!("{other} is not an aggregate")));
                    }
                },
                *distinct,
            ),
            other => return Err(GraphError::type_error("InvalidAggregation", format!("{other} is not an aggregate"))),
        };
        Ok(Aggregator { kind, distinct: distinct.then(HashSet::new), values: Vec::new(), count: 0, percentile: None })
    }

    pub(crate) fn feed(&mut self, exec: &Exec<'_>, call: &Expr, env: &Env<'_>) -> Result<()> {
        let Expr::Call { args, .. } = call else {
            self.count += 1;
            return Ok(());
        };
        let Some(arg) = args.first() else {
            return Err(GraphError::argument("InvalidNumberOfArguments", "aggregate needs an argument"));
        };
        let v = exec.eval(arg, env)?;
        if matches!(self.kind, Kind::PercentileCont | Kind::PercentileDisc) && self.percentile.is_none() {
            let p = match args.get(1).map(|a| exec.eval(a, env)).transpose()? {
                Some(Value::Int(i)) => i as f64,
                Some(Value::Float(f)) => f,
                _ => return Err(GraphError::argument("InvalidArgumentValue", "percentile needs a number")),
            };
            if !(0.0..=1.0).contains(&p) {
                return Err(GraphError::argument("NumberOutOfRange", "percentile must be between 0.0 and 1.0"));
            }
            self.percentile = Some(p);
        }
        if v.is_null() {
            return Ok(());
        }
        if let Some(seen) = &mut self.distinct
            && !seen.insert(Key(v.clone()))
        {
            return Ok(());
        }
        match self.kind {
            Kind::Count | Kind::CountStar => self.count += 1,
            Kind::Sum | Kind::Avg | Kind::StDev | Kind::StDevP | Kind::PercentileCont | Kind::PercentileDisc => {
                if v.as_f64().is_none() {
                    return Err(GraphError::type_error(
                        "InvalidArgumentType",
                        format!("cannot aggregate {} numerically", v.type_name()),
                    ));
                }
                self.values.push(v);
            }
            Kind::Collect | Kind::Min | Kind::Max => self.values.push(v),
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Value> {
        let floats = || self.values.iter().filter_map(Value::as_f64).collect::<Vec<f64>>();
        Ok(match self.kind {
            Kind::Count | Kind::CountStar => Value::Int(self.count),
            Kind::Collect => Value::List(self.values),
            Kind::Min => self.values.into_iter().min_by(order).unwrap_or(Value::Null),
            Kind::Max => self.values.into_iter().max_by(order).unwrap_or(Value::Null),
            Kind::Sum => {
                if self.values.iter().all(|v| matches!(v, Value::Int(_))) {
                    let mut total: i64 = 0;
                    for v in &self.values {
                        if let Value::Int(i) = v {
                            total = total
                                .checked_add(*i)
                                .ok_or_else(|| GraphError::argument("NumberOutOfRange", "sum overflows"))?;
                        }
                    }
                    Value::Int(total)
                } else {
                    Value::Float(floats().iter().sum())
                }
            }
            Kind::Avg => {
                let f = floats();
                if f.is_empty() { Value::Null } else { Value::Float(f.iter().sum::<f64>() / f.len() as f64) }
            }
            Kind::StDev | Kind::StDevP => {
                let f = floats();
                let n = f.len() as f64;
                let denominator = if self.kind == Kind::StDev { n - 1.0 } else { n };
                if f.is_empty() || denominator <= 0.0 {
                    Value::Float(0.0)
                } else {
                    let mean = f.iter().sum::<f64>() / n;
                    Value::Float((f.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / denominator).sqrt())
                }
            }
            Kind::PercentileCont | Kind::PercentileDisc => {
                let mut sorted: Vec<Value> = self.values;
                if sorted.is_empty() {
                    return Ok(Value::Null);
                }
                sorted.sort_by(order);
                let p = self.percentile.unwrap_or(0.5);
                let n = sorted.len();
                if self.kind == Kind::PercentileDisc {
                    let at = ((p * n as f64).ceil() as usize).saturating_sub(1).min(n - 1);
                    sorted.swap_remove(at)
                } else {
                    let pos = p * (n - 1) as f64;
                    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
                    let (a, b) = (sorted[lo].as_f64().unwrap_or(0.0), sorted[hi].as_f64().unwrap_or(0.0));
                    Value::Float(a + (b - a) * (pos - lo as f64))
                }
            }
        })
    }
}
