//! A user's `graph-schema.toml` and the sentences its rules read: a schema either loads or
//! is a clear error, and a loaded schema's rules read any text without panicking, finding
//! only facts of declared relations between known entities of allowed types.
#![no_main]

use cairn_graph::extract::{Extractor, Lexicon, Schema};
use cairn_graph::{GraphDb, Params};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The input's first line is a sentence to read; the rest, the schema.
    let (sentence, toml) = text.split_once('\n').unwrap_or(("Fluconazole is a strong inhibitor of CYP2C9.", text));
    let Ok(schema) = Schema::from_toml(toml) else { return };
    let mut db = GraphDb::in_memory();
    db.execute(
        "CREATE (:Drug {id: 'fluconazole', zh: '氟康唑'}), (:Enzyme {id: 'CYP2C9'}), (:Drug {id: 'warfarin'})",
        &Params::new(),
    )
    .expect("setup");
    let lexicon = Lexicon::from_graph(db.graph(), &schema);
    let Ok(extractor) = Extractor::new(schema.clone(), lexicon) else { return };
    for fact in extractor.extract(sentence) {
        let rel = &schema.relation[&fact.relation];
        assert!(rel.from.contains(&fact.from.label) && rel.to.contains(&fact.to.label));
        assert_ne!(fact.from, fact.to);
    }
});
