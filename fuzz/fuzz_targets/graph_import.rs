//! Graph import files from users (JSONL and neo4j-admin CSV): never panic, and a failed
//! import leaves the graph as it was.
#![no_main]

use cairn_graph::import::Importer;
use cairn_graph::{GraphDb, Params};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut db = GraphDb::in_memory();
    db.execute("CREATE (:Keep {id: 'k'})", &Params::new()).expect("setup");
    let before = (db.graph().node_count(), db.graph().rel_count());
    if db.transaction(|g, j| Importer::new().jsonl(g, j, "fuzz.jsonl", text)).is_err() {
        assert_eq!((db.graph().node_count(), db.graph().rel_count()), before);
    }
    let before = (db.graph().node_count(), db.graph().rel_count());
    if db.transaction(|g, j| Importer::new().csv(g, j, "fuzz.csv", text, "X")).is_err() {
        assert_eq!((db.graph().node_count(), db.graph().rel_count()), before);
    }
});
