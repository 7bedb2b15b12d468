//! Variable environments: a chain of (names, values) frames, innermost first.

use std::collections::HashMap;

use cairn_cypher::ast::Expr;

use crate::value::Value;

/// Values of aggregate sub-expressions, keyed by the expression's address in the AST.
pub(crate) type AggValues = HashMap<*const Expr, Value>;

/// Where variables are looked up.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    pub names: &'a [String],
    pub values: &'a [Value],
    pub parent: Option<&'a Env<'a>>,
    pub aggs: Option<&'a AggValues>,
}

impl<'a> Env<'a> {
    /// A root frame.
    pub fn new(names: &'a [String], values: &'a [Value]) -> Self {
        Env { names, values, parent: None, aggs: None }
    }

    /// A frame on top of this one.
    pub fn child(&'a self, names: &'a [String], values: &'a [Value]) -> Env<'a> {
        Env { names, values, parent: Some(self), aggs: self.aggs }
    }

    /// A variable's value, innermost binding first.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        let mut env = Some(self);
        while let Some(e) = env {
            if let Some(i) = e.names.iter().rposition(|n| n == name) {
                return e.values.get(i);
            }
            env = e.parent;
        }
        None
    }

    /// The value computed for an aggregate expression, if this frame carries them.
    pub fn aggregate(&self, e: &Expr) -> Option<&'a Value> {
        self.aggs.and_then(|a| a.get(&(e as *const Expr)))
    }
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env").field("names", &self.names).finish()
    }
}
