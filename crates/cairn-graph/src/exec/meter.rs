//! Metering: what a query may spend, in steps, bytes, nesting and time.
//!
//! Steps bound the work, and every value the executor builds is weighed before it is
//! kept: its bytes count against [`Limits::max_value_bytes`] (one value) and
//! [`Limits::max_built_bytes`] (all values built by the query, an upper bound on what it
//! can hold at once), and walking it costs a step per item. Weighing is iterative and
//! refuses values nested deeper than [`Limits::max_depth`], so no value that the
//! executor keeps can overflow the stack when it is compared, hashed, serialised or
//! dropped. Every 1,024 steps the executor also looks at the request's deadline
//! ([`cairn_core::deadline`]), so a query whose caller gave up stops within
//! milliseconds and releases its locks.

use super::Exec;
use crate::error::{GraphError, Result};
use crate::value::Value;

/// Bytes charged per list or map item (a `Value`'s size), besides what it holds.
const ITEM_BYTES: u64 = 32;

/// Bytes of built values that cost one step (copying memory is cheap, not free).
const BYTES_PER_STEP: u64 = 64;

/// Resource limits for one query.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Evaluation and expansion steps.
    pub max_steps: u64,
    /// Rows in any intermediate table.
    pub max_rows: u64,
    /// Bytes one value may hold: a string's bytes; a list's or map's items at 32 bytes
    /// each, plus what they hold.
    pub max_value_bytes: u64,
    /// Bytes of all values the query builds, counted as they are built.
    pub max_built_bytes: u64,
    /// How deeply lists and maps may nest.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 50_000_000,
            max_rows: 1_000_000,
            max_value_bytes: 64 << 20,
            max_built_bytes: 1 << 30,
            max_depth: 64,
        }
    }
}

impl Exec<'_> {
    /// One step of work.
    #[inline]
    pub(crate) fn tick(&self) -> Result<()> {
        self.charge(1)
    }

    /// `n` steps of work; looks at the deadline whenever the count crosses a multiple
    /// of 1,024.
    #[inline]
    pub(crate) fn charge(&self, n: u64) -> Result<()> {
        let before = self.steps.get();
        let after = before.saturating_add(n);
        self.steps.set(after);
        if after > self.limits.max_steps {
            return Err(GraphError::Limit { what: "evaluation steps", limit: self.limits.max_steps });
        }
        if after >> 10 != before >> 10 {
            cairn_core::deadline::check()?;
        }
        Ok(())
    }

    /// Weighs a value the executor built, before it is kept.
    #[inline]
    pub(crate) fn admit(&self, value: &Value) -> Result<()> {
        match value {
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Node(_) | Value::Rel(_) => Ok(()),
            Value::String(_) | Value::List(_) | Value::Map(_) | Value::Path(_) => self.admit_sized(value),
        }
    }

    #[inline(never)]
    fn admit_sized(&self, value: &Value) -> Result<()> {
        let (visited, bytes) = match value {
            Value::String(s) => (0, s.len() as u64),
            Value::List(_) | Value::Map(_) => self.weigh(value)?,
            Value::Path(p) => (0, 8 * (p.nodes.len() + p.rels.len()) as u64),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Node(_) | Value::Rel(_) => {
                return Ok(());
            }
        };
        self.check_value_bytes(bytes)?;
        let built = self.built.get().saturating_add(bytes);
        self.built.set(built);
        if built > self.limits.max_built_bytes {
            return Err(GraphError::Limit { what: "bytes of values built", limit: self.limits.max_built_bytes });
        }
        self.charge(visited + bytes / BYTES_PER_STEP)
    }

    /// Refuses a value of `bytes` (known before it is built, where building it could
    /// itself exhaust memory).
    pub(crate) fn check_value_bytes(&self, bytes: u64) -> Result<()> {
        if bytes > self.limits.max_value_bytes {
            return Err(GraphError::Limit { what: "bytes in one value", limit: self.limits.max_value_bytes });
        }
        Ok(())
    }

    /// Items visited and bytes held by a list or map, without recursion; stops at the
    /// depth and size limits. Kept out of line so the evaluator's frame stays small.
    #[inline(never)]
    fn weigh(&self, value: &Value) -> Result<(u64, u64)> {
        /// Bytes of a leaf; a container goes on the stack instead.
        fn push<'v>(v: &'v Value, depth: u32, stack: &mut Vec<(&'v Value, u32)>) -> u64 {
            match v {
                Value::String(s) => s.len() as u64,
                Value::List(_) | Value::Map(_) => {
                    stack.push((v, depth + 1));
                    0
                }
                Value::Path(p) => 8 * (p.nodes.len() + p.rels.len()) as u64,
                Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Node(_) | Value::Rel(_) => 0,
            }
        }
        // The top level is walked in place; a stack is allocated only for nested
        // containers (most lists hold scalars).
        let mut stack: Vec<(&Value, u32)> = Vec::new();
        let (mut visited, mut bytes) = (0u64, 0u64);
        let mut next = Some((value, 0u32));
        while let Some((v, depth)) = next.take().or_else(|| stack.pop()) {
            if depth >= self.limits.max_depth {
                return Err(GraphError::Limit { what: "nesting depth", limit: u64::from(self.limits.max_depth) });
            }
            match v {
                Value::List(items) => {
                    visited += items.len() as u64;
                    bytes += ITEM_BYTES * items.len() as u64;
                    for item in items {
                        bytes += push(item, depth, &mut stack);
                    }
                }
                Value::Map(map) => {
                    visited += map.len() as u64;
                    for (k, item) in map {
                        bytes += ITEM_BYTES + k.len() as u64 + push(item, depth, &mut stack);
                    }
                }
                Value::Null
                | Value::Bool(_)
                | Value::Int(_)
                | Value::Float(_)
                | Value::String(_)
                | Value::Node(_)
                | Value::Rel(_)
                | Value::Path(_) => {}
            }
            self.check_value_bytes(bytes)?;
        }
        Ok((visited, bytes))
    }
}
