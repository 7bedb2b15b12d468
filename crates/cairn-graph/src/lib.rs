//! # cairn-graph
//!
//! An embedded property graph for Cairn: labelled nodes and typed, directed relationships
//! with properties; adjacency lists in both directions; label and (label, property)
//! indexes; persistence in a SQLite file with one transaction per write query; and an
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
pub mod graph;
pub mod import;
mod store;
pub mod value;

pub use db::{GraphDb, Params};
pub use error::{GraphError, Result};
pub use exec::{Limits, QueryResult, Stats};
pub use value::{NodeId, Path, RelId, Value};

pub(crate) use exec::format_float as exec_format_float;

/// The text of an integer key (import keys are strings).
pub(crate) fn exec_format_key(v: &Value) -> String {
    exec::functions_to_string(v)
}
