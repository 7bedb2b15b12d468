//! The executor: a statement runs clause by clause over a table of rows.
//!
//! Each clause maps the current table to the next one (`MATCH` extends rows with new
//! bindings, `WITH` projects, `UNWIND` multiplies, write clauses change the graph and pass
//! rows through). Tables are materialised between clauses, which gives write clauses the
//! read-your-writes semantics Cypher specifies. Work is metered ([`meter`]): every
//! evaluation and expansion step counts against [`Limits::max_steps`], every table against
//! [`Limits::max_rows`], and every value built is weighed (bytes and nesting) before it is
//! kept, so a hostile query stops with an error naming the limit instead of exhausting the
//! machine; the request's deadline is checked every 1,024 steps.
//!
//! Cypher is dynamically typed: each operator and function accepts a few value types and
//! rejects every other one with a type error. The catch-all arm *is* that rejection, and it
//! is the right answer for value types added later too, so the workspace's
//! `wildcard_enum_match_arm` lint is relaxed for the executor.
#![allow(clippy::wildcard_enum_match_arm)]

mod aggregate;
mod env;
mod eval;
mod functions;
mod matcher;
mod meter;
pub(crate) mod project;
pub(crate) mod semantic;
mod write;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};

use cairn_cypher::ast::{Clause, Query, SingleQuery, Statement};

use self::env::Env;
pub use self::meter::Limits;
use crate::error::{GraphError, Result};
use crate::graph::{Graph, Journal, NodeData, RelData};
use crate::value::{Key, NodeId, RelId, Value};

/// What a write query changed, as counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Nodes created.
    pub nodes_created: u64,
    /// Nodes deleted.
    pub nodes_deleted: u64,
    /// Relationships created.
    pub relationships_created: u64,
    /// Relationships deleted.
    pub relationships_deleted: u64,
    /// Properties set.
    pub properties_set: u64,
    /// Labels added.
    pub labels_added: u64,
    /// Labels removed.
    pub labels_removed: u64,
}

/// The rows a query returns.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows of values, one per column.
    pub rows: Vec<Vec<Value>>,
    /// What the query changed.
    pub stats: Stats,
}

pub(crate) enum Access<'g> {
    Read(&'g Graph),
    Write(&'g mut Graph),
}

/// One running query.
pub(crate) struct Exec<'g> {
    access: Access<'g>,
    params: &'g BTreeMap<String, Value>,
    limits: Limits,
    steps: Cell<u64>,
    built: Cell<u64>,
    regexes: RefCell<std::collections::HashMap<String, std::result::Result<regex::Regex, String>>>,
    seed: Cell<u64>,
    pub(crate) journal: Journal,
    deleted_nodes: HashSet<NodeId>,
    deleted_rels: HashSet<RelId>,
    pub(crate) stats: Stats,
}

/// A table: column names and rows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub names: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl<'g> Exec<'g> {
    pub(crate) fn new(access: Access<'g>, params: &'g BTreeMap<String, Value>, limits: Limits) -> Self {
        Exec {
            access,
            params,
            limits,
            steps: Cell::new(0),
            built: Cell::new(0),
            regexes: RefCell::default(),
            seed: Cell::new(0x9E37_79B9_7F4A_7C15),
            journal: Journal::default(),
            deleted_nodes: HashSet::new(),
            deleted_rels: HashSet::new(),
            stats: Stats::default(),
        }
    }

    pub(crate) fn graph(&self) -> &Graph {
        match &self.access {
            Access::Read(g) => g,
            Access::Write(g) => g,
        }
    }

    pub(crate) fn graph_mut(&mut self, clause: &'static str) -> Result<&mut Graph> {
        match &mut self.access {
            Access::Read(_) => Err(GraphError::ReadOnly { clause }),
            Access::Write(g) => Ok(g),
        }
    }

    fn check_rows(&self, n: usize) -> Result<()> {
        if n as u64 > self.limits.max_rows {
            return Err(GraphError::Limit { what: "rows", limit: self.limits.max_rows });
        }
        Ok(())
    }

    /// A deterministic pseudo-random number in [0, 1) (xorshift).
    pub(crate) fn random(&self) -> f64 {
        let mut x = self.seed.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn is_deleted_node(&self, id: NodeId) -> bool {
        self.deleted_nodes.contains(&id)
    }

    pub(crate) fn is_deleted_rel(&self, id: RelId) -> bool {
        self.deleted_rels.contains(&id)
    }

    pub(crate) fn node_data(&self, id: NodeId) -> Result<&NodeData> {
        if self.is_deleted_node(id) {
            return Err(GraphError::EntityNotFound { message: format!("node {} was deleted", id.0) });
        }
        self.graph().node(id).ok_or_else(|| GraphError::EntityNotFound { message: format!("node {}", id.0) })
    }

    pub(crate) fn rel_data(&self, id: RelId) -> Result<&RelData> {
        if self.is_deleted_rel(id) {
            return Err(GraphError::EntityNotFound { message: format!("relationship {} was deleted", id.0) });
        }
        self.graph().rel(id).ok_or_else(|| GraphError::EntityNotFound { message: format!("relationship {}", id.0) })
    }

    /// A relationship's data even after `DELETE` in this statement (for `type()`).
    pub(crate) fn rel_data_any(&self, id: RelId) -> Result<&RelData> {
        self.graph().rel(id).ok_or_else(|| GraphError::EntityNotFound { message: format!("relationship {}", id.0) })
    }

    /// Runs a checked statement.
    pub(crate) fn run(&mut self, statement: &Statement) -> Result<QueryResult> {
        let table = self.query(&statement.query)?;
        self.finish_deletes()?;
        Ok(QueryResult { columns: table.names, rows: table.rows, stats: self.stats })
    }

    fn query(&mut self, q: &Query) -> Result<Table> {
        let mut table = self.single(&q.first)?;
        if q.unions.is_empty() {
            return Ok(table);
        }
        let mut distinct = false;
        for (all, part) in &q.unions {
            let next = self.single(part)?;
            table.rows.extend(next.rows);
            distinct |= !all;
        }
        if distinct {
            let mut seen = HashSet::new();
            table.rows.retain(|r| seen.insert(r.iter().cloned().map(Key).collect::<Vec<_>>()));
        }
        Ok(table)
    }

    fn single(&mut self, q: &SingleQuery) -> Result<Table> {
        let mut table = Table { names: Vec::new(), rows: vec![Vec::new()] };
        let mut returned = false;
        for clause in &q.clauses {
            table = self.clause(clause, table)?;
            self.check_rows(table.rows.len())?;
            returned = matches!(clause, Clause::Return(_));
        }
        if !returned {
            return Ok(Table::default());
        }
        Ok(table)
    }

    fn clause(&mut self, clause: &Clause, table: Table) -> Result<Table> {
        match clause {
            Clause::Match(m) => self.match_clause(m, table),
            Clause::Unwind { expr, var } => {
                let mut names = table.names.clone();
                names.push(var.clone());
                let mut rows = Vec::new();
                for row in &table.rows {
                    let items = match self.eval(expr, &Env::new(&table.names, row))? {
                        Value::Null => Vec::new(),
                        Value::List(items) => items,
                        other => vec![other],
                    };
                    for item in items {
                        let mut r = row.clone();
                        r.push(item);
                        rows.push(r);
                    }
                    self.check_rows(rows.len())?;
                }
                Ok(Table { names, rows })
            }
            Clause::With(p) => self.project(p, table, false),
            Clause::Return(p) => self.project(p, table, true),
            Clause::Create(parts) => self.create(parts, table),
            Clause::Merge(m) => self.merge(m, table),
            Clause::Set(items) => self.set(items, table),
            Clause::Remove(items) => self.remove(items, table),
            Clause::Delete { detach, exprs } => self.delete(*detach, exprs, table),
        }
    }

    fn match_clause(&mut self, m: &cairn_cypher::ast::Match, table: Table) -> Result<Table> {
        let known: HashSet<&str> = table.names.iter().map(String::as_str).collect();
        let new_vars = matcher::new_variables(&m.pattern, &|v| known.contains(v));
        let mut names = table.names.clone();
        names.extend(new_vars.iter().cloned());
        let mut rows = Vec::new();
        let max_rows = self.limits.max_rows as usize;
        for row in &table.rows {
            let before = rows.len();
            {
                let env = Env::new(&table.names, row);
                let mut emit = |values: &[Value]| {
                    let mut r = row.clone();
                    r.extend(values.iter().cloned());
                    rows.push(r);
                    if rows.len() > max_rows {
                        return Err(GraphError::Limit { what: "rows", limit: max_rows as u64 });
                    }
                    Ok(true)
                };
                self.match_parts(&m.pattern, &env, new_vars.clone(), m.filter.as_ref(), &mut emit)?;
            }
            if m.optional && rows.len() == before {
                let mut r = row.clone();
                r.extend(std::iter::repeat_n(Value::Null, new_vars.len()));
                rows.push(r);
            }
        }
        Ok(Table { names, rows })
    }
}
pub(crate) use functions::{format_float, to_string as functions_to_string};
