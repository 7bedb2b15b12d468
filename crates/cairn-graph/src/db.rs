//! [`GraphDb`]: a graph with optional SQLite persistence, and the query entry points.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_cypher::ast::{Clause, Statement};

use crate::error::{GraphError, Result};
use crate::exec::{Access, Exec, Limits, QueryResult, semantic};
use crate::graph::{Graph, Journal};
use crate::store::Store;
use crate::value::Value;

/// Query parameters (`$name` → value).
pub type Params = BTreeMap<String, Value>;

/// A property graph, in memory or backed by a SQLite file.
#[derive(Debug, Default)]
pub struct GraphDb {
    graph: Graph,
    store: Option<Store>,
    limits: Limits,
}

impl GraphDb {
    /// An empty graph that lives in memory only.
    pub fn in_memory() -> Self {
        GraphDb::default()
    }

    /// Opens (or creates) the graph stored at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let store = Store::open(path)?;
        let graph = store.load()?;
        tracing::debug!(nodes = graph.node_count(), rels = graph.rel_count(), "graph loaded");
        Ok(GraphDb { graph, store: Some(store), limits: Limits::default() })
    }

    /// The graph, for direct reads.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Sets the per-query resource limits.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Declares an index on (label, key).
    pub fn create_index(&mut self, label: &str, key: &str) -> Result<()> {
        if let Some(store) = &self.store {
            store.add_index(label, key)?;
        }
        self.graph.create_index(label, key);
        Ok(())
    }

    /// Parses and checks a statement without running it.
    pub fn prepare(text: &str) -> Result<Statement> {
        let statement = cairn_cypher::parse(text)?;
        semantic::check(&statement).map_err(|e| locate(text, e))?;
        Ok(statement)
    }

    /// Runs a query that may write. On any error nothing it did remains, in memory or on
    /// disk.
    pub fn execute(&mut self, text: &str, params: &Params) -> Result<QueryResult> {
        let statement = Self::prepare(text)?;
        self.execute_statement(&statement, params)
    }

    /// Runs a prepared statement that may write.
    pub fn execute_statement(&mut self, statement: &Statement, params: &Params) -> Result<QueryResult> {
        missing_params(statement, params)?;
        if statement.explain {
            return Ok(explain(statement));
        }
        let started = std::time::Instant::now();
        let mut exec = Exec::new(Access::Write(&mut self.graph), params, self.limits);
        let outcome = exec.run(statement);
        let journal = std::mem::take(&mut exec.journal);
        drop(exec);
        match outcome {
            Ok(result) => {
                if let Err(e) = self.persist(&journal) {
                    self.graph.rollback(journal);
                    return Err(e);
                }
                tracing::debug!(
                    rows = result.rows.len(),
                    changes = journal.changes.len(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "cypher query"
                );
                Ok(result)
            }
            Err(e) => {
                self.graph.rollback(journal);
                Err(e)
            }
        }
    }

    /// Runs a query that must not write (a write clause is an error before anything runs).
    pub fn query(&self, text: &str, params: &Params) -> Result<QueryResult> {
        let statement = Self::prepare(text)?;
        self.query_statement(&statement, params)
    }

    /// Runs a prepared read-only statement.
    pub fn query_statement(&self, statement: &Statement, params: &Params) -> Result<QueryResult> {
        self.query_limited(statement, params, self.limits)
    }

    /// Runs a prepared read-only statement under explicit limits (for queries nobody on
    /// the team wrote, such as a model's).
    pub fn query_limited(&self, statement: &Statement, params: &Params, limits: Limits) -> Result<QueryResult> {
        if let Some(clause) = first_write(statement) {
            return Err(GraphError::ReadOnly { clause });
        }
        missing_params(statement, params)?;
        if statement.explain {
            return Ok(explain(statement));
        }
        let mut exec = Exec::new(Access::Read(&self.graph), params, limits);
        exec.run(statement)
    }

    /// Labels and relationship types a statement names that the graph does not have
    /// (to reject generated queries that do not fit the schema).
    pub fn unknown_names(&self, statement: &Statement) -> Vec<String> {
        let schema = self.graph.schema();
        let mut unknown = Vec::new();
        crate::explain::visit_names(statement, &mut |label, is_type| {
            let known =
                if is_type { schema.relationships.contains_key(label) } else { schema.labels.contains_key(label) };
            if !known && !unknown.iter().any(|u: &String| u == label) {
                unknown.push(label.to_owned());
            }
        });
        unknown
    }

    /// Runs `f` as one write transaction on the graph: on error nothing it did remains, in
    /// memory or on disk.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&mut Graph, &mut Journal) -> Result<T>) -> Result<T> {
        let mut journal = Journal::default();
        match f(&mut self.graph, &mut journal) {
            Ok(value) => {
                if let Err(e) = self.persist(&journal) {
                    self.graph.rollback(journal);
                    return Err(e);
                }
                Ok(value)
            }
            Err(e) => {
                self.graph.rollback(journal);
                Err(e)
            }
        }
    }

    fn persist(&mut self, journal: &Journal) -> Result<()> {
        let Some(store) = &mut self.store else { return Ok(()) };
        if journal.changes.is_empty() {
            return Ok(());
        }
        let (nodes, rels) = journal.touched();
        store.persist(&self.graph, &nodes, &rels)
    }
}

/// Semantic errors are found on the tree, which has no positions: point them at the first
/// occurrence of the name they are about (`variable `x` not defined`).
fn locate(text: &str, e: cairn_cypher::CypherError) -> cairn_cypher::CypherError {
    let cairn_cypher::CypherError::Syntax { line: 0, message, code, .. } = &e else { return e };
    let Some(name) = message.split('`').nth(1) else { return e };
    let Ok(tokens) = cairn_cypher::lexer::tokenize(text) else { return e };
    let hit = tokens.iter().find(|t| matches!(&t.tok, cairn_cypher::lexer::Tok::Ident { text, .. } if text == name));
    match hit {
        Some(t) => {
            cairn_cypher::CypherError::Syntax { line: t.line, column: t.column, message: message.clone(), code: *code }
        }
        None => e,
    }
}

/// The first write clause of a statement, if any.
pub fn first_write(statement: &Statement) -> Option<&'static str> {
    let parts = std::iter::once(&statement.query.first).chain(statement.query.unions.iter().map(|(_, q)| q));
    for q in parts {
        for c in &q.clauses {
            let name = match c {
                Clause::Create(_) => "CREATE",
                Clause::Merge(_) => "MERGE",
                Clause::Set(_) => "SET",
                Clause::Remove(_) => "REMOVE",
                Clause::Delete { .. } => "DELETE",
                Clause::Match(_) | Clause::Unwind { .. } | Clause::With(_) | Clause::Return(_) => continue,
            };
            return Some(name);
        }
    }
    None
}

fn missing_params(statement: &Statement, params: &Params) -> Result<()> {
    let mut missing = None;
    crate::explain::visit_params(statement, &mut |p| {
        if missing.is_none() && !params.contains_key(p) {
            missing = Some(p.to_owned());
        }
    });
    match missing {
        Some(name) => Err(GraphError::MissingParameter { name }),
        None => Ok(()),
    }
}

fn explain(statement: &Statement) -> QueryResult {
    let rows = crate::explain::plan(statement)
        .into_iter()
        .enumerate()
        .map(|(i, (op, detail))| vec![Value::Int(i as i64 + 1), Value::String(op), Value::String(detail)])
        .collect();
    QueryResult { columns: vec!["step".into(), "operator".into(), "detail".into()], rows, stats: Default::default() }
}
