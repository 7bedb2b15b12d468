//! Persistence: the graph lives in a SQLite file (WAL). A write query's changes are
//! written in one transaction, so a crash leaves either the old graph or the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cairn_store::sql::{Dialect, Sql, params};
use serde_json::Value as Json;

use crate::error::{GraphError, Result};
use crate::graph::{Graph, NodeData, RelData};
use crate::value::{NodeId, RelId, Value};

/// The graph's tables in its own SQLite file (the embedded default). On a server store the
/// same tables live in the store's database, created by the store's schema.
const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_nodes(id INTEGER PRIMARY KEY, labels TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_rels(
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_indexes(label TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(label, key));
INSERT OR IGNORE INTO graph_meta(key, value) VALUES ('format', '1');
INSERT OR IGNORE INTO graph_meta(key, value) VALUES ('generation', '0');
";

/// The persistent side of a graph: its tables behind the store's SQL seam, so the graph
/// lives in a SQLite file or in a PostgreSQL or MariaDB database alike.
///
/// Every write transaction moves the `generation` row. A writer checks that it is still
/// the one its in-memory graph was loaded at (locking the row on a server), so two
/// processes that write one graph never overwrite each other's node IDs: the second gets
/// [`GraphError::Conflict`], reloads, and runs its query again.
pub(crate) struct Store {
    /// Behind a mutex so a graph can be shared by reader threads (reads use the in-memory
    /// graph; the database is touched at load, by writers and by followers).
    conn: std::sync::Mutex<Box<dyn Sql + Send>>,
    /// The generation the in-memory graph reflects.
    generation: i64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("generation", &self.generation).finish()
    }
}

/// What a graph holds in its tables, row for row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphRows {
    /// `(id, labels as JSON, properties as JSON)`.
    pub nodes: Vec<(i64, String, String)>,
    /// `(id, type, source, target, properties as JSON)`.
    pub rels: Vec<(i64, String, i64, i64, String)>,
    /// `(label, key)` of each declared index.
    pub indexes: Vec<(String, String)>,
    /// The generation the rows were read at.
    pub generation: i64,
}

/// A value as JSON, keeping the integer/float distinction and non-finite floats.
pub(crate) fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) if f.is_finite() => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::Float(f) => serde_json::json!({ "$float": crate::exec_format_float(*f) }),
        Value::String(s) => Json::String(s.clone()),
        Value::List(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Node(n) => serde_json::json!({ "$node": n.0 }),
        Value::Rel(r) => serde_json::json!({ "$rel": r.0 }),
        Value::Path(p) => serde_json::json!({ "$path": { "nodes": p.nodes, "rels": p.rels } }),
    }
}

/// The inverse of [`to_json`] for storable values (plain JSON maps become Cypher maps).
pub(crate) fn from_json(j: &Json) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => Value::Int(i),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(from_json).collect()),
        Json::Object(m) => {
            if let (1, Some(Json::String(f))) = (m.len(), m.get("$float")) {
                return Value::Float(match f.as_str() {
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => f64::NAN,
                });
            }
            Value::Map(m.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

fn props_json(props: &BTreeMap<String, Value>) -> String {
    Json::Object(props.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()).to_string()
}

fn props_from(text: &str) -> Result<BTreeMap<String, Value>> {
    let json: Json = serde_json::from_str(text).map_err(|e| GraphError::Import {
        source_name: "graph store".into(),
        line: 0,
        message: e.to_string(),
    })?;
    if let Value::Map(m) = from_json(&json) { Ok(m) } else { Ok(BTreeMap::new()) }
}

fn generation_of(db: &mut dyn Sql, lock: bool) -> Result<i64> {
    let sql = if lock && db.dialect() != Dialect::Sqlite {
        "SELECT value FROM graph_meta WHERE key = 'generation' FOR UPDATE"
    } else {
        "SELECT value FROM graph_meta WHERE key = 'generation'"
    };
    let value = cairn_store::sql::row(db, sql, &[])?.map(|r| r.text(0)).transpose()?;
    Ok(value.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Reads every row, retrying while a writer moves the generation underneath.
fn read_rows(db: &mut dyn Sql) -> Result<GraphRows> {
    for _ in 0..5 {
        let generation = generation_of(db, false)?;
        let nodes = db
            .rows("SELECT id, labels, props FROM graph_nodes ORDER BY id", &[])?
            .into_iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?, r.text(2)?)))
            .collect::<Result<Vec<_>, cairn_store::StoreError>>()?;
        let rels = db
            .rows("SELECT id, type, src, dst, props FROM graph_rels ORDER BY id", &[])?
            .into_iter()
            .map(|r| Ok((r.int(0)?, r.text(1)?, r.int(2)?, r.int(3)?, r.text(4)?)))
            .collect::<Result<Vec<_>, cairn_store::StoreError>>()?;
        let indexes = db
            .rows("SELECT label, key FROM graph_indexes ORDER BY label, key", &[])?
            .into_iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect::<Result<Vec<_>, cairn_store::StoreError>>()?;
        if generation_of(db, false)? == generation {
            return Ok(GraphRows { nodes, rels, indexes, generation });
        }
    }
    Err(GraphError::Conflict { detail: "the graph kept changing while it was read".into() })
}

fn put_node(db: &mut dyn Sql, id: i64, labels: &str, props: &str) -> Result<()> {
    db.exec("DELETE FROM graph_nodes WHERE id = ?1", params![id])?;
    db.exec("INSERT INTO graph_nodes(id, labels, props) VALUES (?1, ?2, ?3)", params![id, labels, props])?;
    Ok(())
}

fn put_rel(db: &mut dyn Sql, r: &(i64, String, i64, i64, String)) -> Result<()> {
    db.exec("DELETE FROM graph_rels WHERE id = ?1", params![r.0])?;
    db.exec(
        "INSERT INTO graph_rels(id, type, src, dst, props) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![r.0, r.1.as_str(), r.2, r.3, r.4.as_str()],
    )?;
    Ok(())
}

fn set_generation(db: &mut dyn Sql, generation: i64) -> Result<()> {
    let value = generation.to_string();
    if db.exec("UPDATE graph_meta SET value = ?1 WHERE key = 'generation'", params![value.as_str()])? == 0 {
        db.exec("INSERT INTO graph_meta(key, value) VALUES ('generation', ?1)", params![value.as_str()])?;
    }
    Ok(())
}

impl Store {
    /// Opens the graph's own SQLite file.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = rusqlite::Connection::open(path).map_err(cairn_store::StoreError::from)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(cairn_store::StoreError::from)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(cairn_store::StoreError::from)?;
        Self::on(Box::new(conn))
    }

    /// The graph on a connection the store opened (its tables exist on a server store;
    /// on SQLite they are created here).
    pub(crate) fn on(mut conn: Box<dyn Sql + Send>) -> Result<Self> {
        if conn.dialect() == Dialect::Sqlite {
            for statement in SQLITE_SCHEMA.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                conn.exec(statement, &[])?;
            }
        }
        Ok(Store { conn: std::sync::Mutex::new(conn), generation: 0 })
    }

    /// A poisoned lock is still usable: an interrupted transaction rolls back at the next
    /// `begin`.
    fn conn(&self) -> std::sync::MutexGuard<'_, Box<dyn Sql + Send>> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The generation in the database now.
    pub(crate) fn stored_generation(&self) -> Result<i64> {
        generation_of(self.conn().as_mut(), false)
    }

    /// The generation the in-memory graph reflects.
    pub(crate) fn generation(&self) -> i64 {
        self.generation
    }

    /// Every row.
    pub(crate) fn rows(&self) -> Result<GraphRows> {
        read_rows(self.conn().as_mut())
    }

    pub(crate) fn load(&mut self) -> Result<Graph> {
        let rows = self.rows()?;
        let mut g = Graph::new();
        for (id, labels, props) in &rows.nodes {
            let mut labels: Vec<String> = serde_json::from_str(labels).unwrap_or_default();
            labels.sort();
            labels.dedup();
            g.insert_node(
                NodeId(*id as u64),
                NodeData { labels, props: props_from(props)?, out: Vec::new(), inc: Vec::new() },
            );
        }
        for (id, kind, src, dst, props) in &rows.rels {
            let data = RelData {
                kind: kind.clone(),
                src: NodeId(*src as u64),
                dst: NodeId(*dst as u64),
                props: props_from(props)?,
            };
            g.insert_rel(RelId(*id as u64), data);
        }
        for (label, key) in &rows.indexes {
            g.create_index(label, key);
        }
        self.generation = rows.generation;
        Ok(g)
    }

    /// Writes the current state of the touched entities in one transaction, if the stored
    /// graph is still at the generation this one was loaded at.
    pub(crate) fn persist(&mut self, g: &Graph, nodes: &BTreeSet<NodeId>, rels: &BTreeSet<RelId>) -> Result<()> {
        let base = self.generation;
        let db = self.conn.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut();
        let next = cairn_store::sql::transaction_with::<_, GraphError>(db, |db| {
            let stored = generation_of(db, true)?;
            if stored != base {
                return Err(GraphError::Conflict {
                    detail: format!("the graph moved from generation {base} to {stored} in another process"),
                });
            }
            for id in nodes {
                match g.node(*id) {
                    Some(n) => {
                        let labels = serde_json::to_string(&n.labels).unwrap_or_else(|_| "[]".into());
                        put_node(db, id.0 as i64, &labels, &props_json(&n.props))?;
                    }
                    None => {
                        db.exec("DELETE FROM graph_nodes WHERE id = ?1", params![id.0 as i64])?;
                    }
                }
            }
            for id in rels {
                match g.rel(*id) {
                    Some(r) => {
                        let row = (id.0 as i64, r.kind.clone(), r.src.0 as i64, r.dst.0 as i64, props_json(&r.props));
                        put_rel(db, &row)?;
                    }
                    None => {
                        db.exec("DELETE FROM graph_rels WHERE id = ?1", params![id.0 as i64])?;
                    }
                }
            }
            set_generation(db, stored + 1)?;
            cairn_core::failpoint::hit("graph.before_commit");
            Ok(stored + 1)
        })?;
        self.generation = next;
        Ok(())
    }

    pub(crate) fn add_index(&self, label: &str, key: &str) -> Result<()> {
        let mut conn = self.conn();
        let db = conn.as_mut();
        cairn_store::sql::transaction_with::<_, GraphError>(db, |db| {
            let exists = cairn_store::sql::row(
                db,
                "SELECT count(*) FROM graph_indexes WHERE label = ?1 AND key = ?2",
                params![label, key],
            )?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0);
            if exists == 0 {
                db.exec("INSERT INTO graph_indexes(label, key) VALUES (?1, ?2)", params![label, key])?;
            }
            Ok(())
        })
    }

    /// Replaces everything in this graph's tables with `rows`, in one transaction, and
    /// moves the generation past both sides' (for `cairn kb copy`).
    pub(crate) fn replace_all(&mut self, rows: &GraphRows) -> Result<()> {
        let db = self.conn.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).as_mut();
        let next = cairn_store::sql::transaction_with::<_, GraphError>(db, |db| {
            let stored = generation_of(db, true)?;
            db.exec("DELETE FROM graph_rels", &[])?;
            db.exec("DELETE FROM graph_nodes", &[])?;
            db.exec("DELETE FROM graph_indexes", &[])?;
            for (id, labels, props) in &rows.nodes {
                db.exec(
                    "INSERT INTO graph_nodes(id, labels, props) VALUES (?1, ?2, ?3)",
                    params![*id, labels.as_str(), props.as_str()],
                )?;
            }
            for rel in &rows.rels {
                put_rel(db, rel)?;
            }
            for (label, key) in &rows.indexes {
                db.exec(
                    "INSERT INTO graph_indexes(label, key) VALUES (?1, ?2)",
                    params![label.as_str(), key.as_str()],
                )?;
            }
            let next = stored.max(rows.generation) + 1;
            set_generation(db, next)?;
            Ok(next)
        })?;
        self.generation = next;
        Ok(())
    }
}
