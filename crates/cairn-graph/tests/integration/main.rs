//! Integration tests of cairn-graph: the openCypher TCK, semantics the TCK does not
//! cover (shortest paths, trail semantics), persistence and limits.

mod tck;
