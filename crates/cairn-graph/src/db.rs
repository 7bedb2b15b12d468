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
        Self::with_store(Store::open(path)?)
    }

    /// Opens the graph whose tables a store connection reaches (a SQLite file, or the
    /// database of a PostgreSQL or MariaDB store; see `cairn_store::Store::connect_another`).
    pub fn open_on(conn: Box<dyn cairn_store::sql::Sql + Send>) -> Result<Self> {
        Self::with_store(Store::on(conn)?)
    }

    fn with_store(mut store: Store) -> Result<Self> {
        let graph = store.load()?;
        tracing::debug!(nodes = graph.node_count(), rels = graph.rel_count(), "graph loaded");
        Ok(GraphDb { graph, store: Some(store), limits: Limits::default() })
    }

    /// Reloads the graph if another process wrote it since it was loaded; returns whether
    /// it did. A replica calls this to follow a graph on a shared database.
    pub fn refresh(&mut self) -> Result<bool> {
        let Some(store) = &mut self.store else { return Ok(false) };
        if store.stored_generation()? == store.generation() {
            return Ok(false);
        }
        self.graph = store.load()?;
        tracing::info!(
            nodes = self.graph.node_count(),
            rels = self.graph.rel_count(),
            generation = store.generation(),
            "graph reloaded after a write elsewhere"
        );
        Ok(true)
    }

    /// The generation of the stored graph now (0 in memory).
    pub fn stored_generation(&self) -> Result<i64> {
        self.store.as_ref().map_or(Ok(0), Store::stored_generation)
    }

    /// The generation of the stored graph this one reflects (0 in memory).
    pub fn generation(&self) -> i64 {
        self.store.as_ref().map_or(0, Store::generation)
    }

    /// Every stored row (empty in memory), for copying and comparing graphs.
    pub fn rows(&self) -> Result<crate::store::GraphRows> {
        match &self.store {
            Some(store) => store.rows(),
            None => Ok(crate::store::GraphRows::default()),
        }
    }

    /// Replaces this stored graph with `src`'s, row for row in one transaction, and checks
    /// that what is stored now reads back identical. Returns the rows copied.
    pub fn copy_from(&mut self, src: &GraphDb) -> Result<crate::store::GraphRows> {
        let rows = src.rows()?;
        self.replace_all(&rows)?;
        let back = self.rows()?;
        if (&back.nodes, &back.rels, &back.indexes) != (&rows.nodes, &rows.rels, &rows.indexes) {
            return Err(GraphError::Conflict { detail: "the copied graph does not read back identical".into() });
        }
        Ok(rows)
    }

    /// Replaces the stored graph with `rows` in one transaction and loads it.
    pub fn replace_all(&mut self, rows: &crate::store::GraphRows) -> Result<()> {
        let Some(store) = &mut self.store else {
            return Err(GraphError::Semantic { code: "InMemory", message: "an in-memory graph has no rows".into() });
        };
        store.replace_all(rows)?;
        self.graph = store.load()?;
        Ok(())
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
        match self.execute_once(statement, params) {
            // Another process wrote first: the graph is reloaded, so run the query again
            // on what it wrote (once; a second conflict is the caller's to retry).
            Err(GraphError::Conflict { detail }) => {
                tracing::info!(%detail, "graph write conflict; running the query again on the reloaded graph");
                self.execute_once(statement, params)
            }
            other => other,
        }
    }

    fn execute_once(&mut self, statement: &Statement, params: &Params) -> Result<QueryResult> {
        let started = std::time::Instant::now();
        let mut exec = Exec::new(Access::Write(&mut self.graph), params, self.limits);
        let outcome = exec.run(statement);
        let journal = std::mem::take(&mut exec.journal);
        drop(exec);
        match outcome {
            Ok(result) => {
                if let Err(e) = self.persist(&journal) {
                    self.graph.rollback(journal);
                    self.reload_after(&e);
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
                    self.reload_after(&e);
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

    /// Writes a journal's changes. After a conflict the in-memory graph is rolled back by
    /// the caller and then reloaded here, so it shows what the other process wrote.
    fn persist(&mut self, journal: &Journal) -> Result<()> {
        let Some(store) = &mut self.store else { return Ok(()) };
        if journal.changes.is_empty() {
            return Ok(());
        }
        let (nodes, rels) = journal.touched();
        store.persist(&self.graph, &nodes, &rels)
    }

    /// After a failed persist and the rollback of its journal: a conflict means the
    /// stored graph moved, so load it.
    fn reload_after(&mut self, e: &GraphError) {
        if !matches!(e, GraphError::Conflict { .. }) {
            return;
        }
        if let Some(store) = &mut self.store {
            match store.load() {
                Ok(graph) => self.graph = graph,
                Err(reload) => tracing::warn!(error = %reload, "reloading the graph after a conflict failed"),
            }
        }
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
