//! Persistence: the graph lives in a SQLite file (WAL). A write query's changes are
//! written in one transaction, so a crash leaves either the old graph or the new one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use rusqlite::{Connection, params};
use serde_json::Value as Json;

use crate::error::{GraphError, Result};
use crate::graph::{Graph, NodeData, RelData};
use crate::value::{NodeId, RelId, Value};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS graph_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_nodes(id INTEGER PRIMARY KEY, labels TEXT NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_rels(
    id INTEGER PRIMARY KEY, type TEXT NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL, props TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS graph_indexes(label TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY(label, key));
INSERT OR IGNORE INTO graph_meta(key, value) VALUES ('format', '1');
";

/// The SQLite side of a graph.
#[derive(Debug)]
pub(crate) struct Store {
    /// Behind a mutex so a graph can be shared by reader threads (reads use the in-memory
    /// graph; SQLite is touched at load and by writers).
    conn: std::sync::Mutex<Connection>,
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

impl Store {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn: std::sync::Mutex::new(conn) })
    }

    /// A poisoned lock is still usable: an interrupted transaction rolls back on drop.
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn load(&self) -> Result<Graph> {
        let conn = self.conn();
        let mut g = Graph::new();
        let mut stmt = conn.prepare("SELECT id, labels, props FROM graph_nodes ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        for row in rows {
            let (id, labels, props) = row?;
            let mut labels: Vec<String> = serde_json::from_str(&labels).unwrap_or_default();
            labels.sort();
            labels.dedup();
            g.insert_node(
                NodeId(id as u64),
                NodeData { labels, props: props_from(&props)?, out: Vec::new(), inc: Vec::new() },
            );
        }
        let mut stmt = conn.prepare("SELECT id, type, src, dst, props FROM graph_rels ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (id, kind, src, dst, props) = row?;
            let data = RelData { kind, src: NodeId(src as u64), dst: NodeId(dst as u64), props: props_from(&props)? };
            g.insert_rel(RelId(id as u64), data);
        }
        let mut stmt = conn.prepare("SELECT label, key FROM graph_indexes")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (label, key) = row?;
            g.create_index(&label, &key);
        }
        Ok(g)
    }

    /// Writes the current state of the touched entities in one transaction.
    pub(crate) fn persist(&mut self, g: &Graph, nodes: &BTreeSet<NodeId>, rels: &BTreeSet<RelId>) -> Result<()> {
        let tx = self.conn.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner).transaction()?;
        {
            let mut put_node =
                tx.prepare_cached("INSERT OR REPLACE INTO graph_nodes(id, labels, props) VALUES (?1, ?2, ?3)")?;
            let mut del_node = tx.prepare_cached("DELETE FROM graph_nodes WHERE id = ?1")?;
            for id in nodes {
                match g.node(*id) {
                    Some(n) => {
                        let labels = serde_json::to_string(&n.labels).unwrap_or_else(|_| "[]".into());
                        put_node.execute(params![id.0 as i64, labels, props_json(&n.props)])?;
                    }
                    None => {
                        del_node.execute(params![id.0 as i64])?;
                    }
                }
            }
            let mut put_rel = tx.prepare_cached(
                "INSERT OR REPLACE INTO graph_rels(id, type, src, dst, props) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut del_rel = tx.prepare_cached("DELETE FROM graph_rels WHERE id = ?1")?;
            for id in rels {
                match g.rel(*id) {
                    Some(r) => {
                        put_rel.execute(params![
                            id.0 as i64,
                            r.kind,
                            r.src.0 as i64,
                            r.dst.0 as i64,
                            props_json(&r.props)
                        ])?;
                    }
                    None => {
                        del_rel.execute(params![id.0 as i64])?;
                    }
                }
            }
        }
        cairn_core::failpoint::hit("graph.before_commit");
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn add_index(&self, label: &str, key: &str) -> Result<()> {
        self.conn().execute("INSERT OR IGNORE INTO graph_indexes(label, key) VALUES (?1, ?2)", params![label, key])?;
        Ok(())
    }
}
