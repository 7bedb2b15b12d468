//! Cypher text from users: parsing never panics; whatever parses prints to text that
//! parses again to the same tree; checking and running a parsed query (on a tiny graph,
//! under tight limits) never panics either.
#![no_main]

use cairn_graph::{GraphDb, Limits, Params};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(statement) = cairn_cypher::parse(text) else { return };
    let printed = statement.to_string();
    let again = cairn_cypher::parse(&printed).expect("printed Cypher parses");
    assert_eq!(again.to_string(), printed, "printing is a fixpoint");
    let mut db = GraphDb::in_memory();
    db.set_limits(Limits { max_steps: 20_000, max_rows: 2_000, ..Limits::default() });
    let _ = db.execute("CREATE (:A {x: 1})-[:T {w: 2}]->(:B {x: 'b'})-[:T]->(:A)", &Params::new());
    let _ = db.execute(text, &Params::new());
});
