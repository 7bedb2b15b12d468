//! # cairn-graph
//!
//! An embedded property graph for Cairn: labelled nodes and typed, directed relationships
//! with properties; adjacency lists in both directions; label and (label, property)
//! indexes; persistence (a SQLite file, or the tables of a PostgreSQL or MariaDB store)
//! with one transaction per write query; and an
//! executor for the openCypher subset that `cairn-cypher` parses.
//!
//! ```
//! use cairn_graph::{GraphDb, Params, Value};
//!
//! let mut db = GraphDb::in_memory();
//! db.execute(
//!     "CREATE (:Drug {name: 'simvastatin'})-[:METABOLIZED_BY {fraction: 0.9}]->(:Enzyme {name: 'CYP3A4'}),
//!             (:Drug {name: 'clarithromycin'})-[:INHIBITS {strength: 'strong'}]->(:Enzyme {name: 'CYP3A4'})",
//!     &Params::new(),
//! ).unwrap();
//! let params = Params::from([("drug".to_owned(), Value::from("simvastatin"))]);
//! let r = db.query("MATCH (d:Drug {name: $drug})-[m:METABOLIZED_BY]->(e) RETURN e.name AS enzyme, m.fraction", &params).unwrap();
//! assert_eq!(r.columns, ["enzyme", "m.fraction"]);
//! assert_eq!(r.rows[0][0], Value::from("CYP3A4"));
//! // Read-only entry points refuse writes before running anything.
//! assert!(db.query("CREATE (n)", &Params::new()).is_err());
//! ```
//!
//! Semantics follow openCypher: relationship uniqueness within a `MATCH` (trail
//! semantics, where kuzu counts walks), three-valued logic, null propagation, the
//! `ORDER BY` total order across types. Conformance is measured on the openCypher TCK
//! (`tests/integration/tck.rs`).

pub mod db;
pub mod error;
pub mod exec;
mod explain;
pub mod extract;
pub mod graph;
pub mod import;
pub mod resolve;
mod store;
pub mod value;

pub use db::{GraphDb, Params};
pub use error::{GraphError, Result};
pub use exec::{Limits, QueryResult, Stats};
pub use store::GraphRows;
pub use value::{NodeId, Path, RelId, Value};

pub(crate) use exec::format_float as exec_format_float;

/// The text of an integer key (import keys are strings).
pub(crate) fn exec_format_key(v: &Value) -> String {
    exec::functions_to_string(v)
}

/// A JSON value as a Cypher value (for parameters from the command line or HTTP).
pub fn value_from_json(j: &serde_json::Value) -> Value {
    store::from_json(j)
}

/// A result value as JSON: nodes and relationships expand to their labels or type and
/// properties, paths to their nodes and relationships.
pub fn value_to_json(g: &graph::Graph, v: &Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::Node(id) => match g.node(*id) {
            Some(n) => {
                json!({"id": id.0, "labels": n.labels, "properties": store::to_json(&Value::Map(n.props.clone()))})
            }
            None => serde_json::Value::Null,
        },
        Value::Rel(id) => match g.rel(*id) {
            Some(r) => json!({"id": id.0, "type": r.kind, "start": r.src.0, "end": r.dst.0,
                "properties": store::to_json(&Value::Map(r.props.clone()))}),
            None => serde_json::Value::Null,
        },
        Value::Path(p) => json!({
            "nodes": p.nodes.iter().map(|n| value_to_json(g, &Value::Node(*n))).collect::<Vec<_>>(),
            "relationships": p.rels.iter().map(|r| value_to_json(g, &Value::Rel(*r))).collect::<Vec<_>>(),
        }),
        Value::List(items) => serde_json::Value::Array(items.iter().map(|i| value_to_json(g, i)).collect()),
        Value::Map(m) => serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), value_to_json(g, v))).collect()),
        Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::String(_) => store::to_json(v),
    }
}

/// A value as Cypher-like text: `(:Drug {name: 'x'})`, `[:T {k: 1}]`, paths as chains.
pub fn render(g: &graph::Graph, v: &Value) -> String {
    fn props(m: &std::collections::BTreeMap<String, Value>, g: &graph::Graph) -> String {
        if m.is_empty() {
            return String::new();
        }
        let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {}", render(g, v))).collect();
        format!(" {{{}}}", inner.join(", "))
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => exec_format_float(*f),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::List(items) => format!("[{}]", items.iter().map(|i| render(g, i)).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{k}: {}", render(g, v))).collect::<Vec<_>>().join(", "))
        }
        Value::Node(id) => match g.node(*id) {
            Some(n) => {
                format!("({}{})", n.labels.iter().map(|l| format!(":{l}")).collect::<String>(), props(&n.props, g))
            }
            None => "(deleted)".into(),
        },
        Value::Rel(id) => match g.rel(*id) {
            Some(r) => format!("[:{}{}]", r.kind, props(&r.props, g)),
            None => "[deleted]".into(),
        },
        Value::Path(p) => {
            let mut s = render(g, &Value::Node(p.nodes[0]));
            for (i, r) in p.rels.iter().enumerate() {
                let forward = g.rel(*r).is_some_and(|d| d.src == p.nodes[i]);
                let rel = render(g, &Value::Rel(*r));
                s.push_str(&if forward { format!("-{rel}->") } else { format!("<-{rel}-") });
                s.push_str(&render(g, &Value::Node(p.nodes[i + 1])));
            }
            s
        }
    }
}
