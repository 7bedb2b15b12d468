//! Integration tests of cairn-graph: the openCypher TCK, semantics the TCK does not
//! cover (shortest paths, trail semantics, limits), persistence and import/export.

#![allow(clippy::unwrap_used, clippy::wildcard_enum_match_arm)]

mod hostile;
mod semantics;
mod store;
mod tck;
