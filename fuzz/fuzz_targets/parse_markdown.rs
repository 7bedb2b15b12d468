//! Arbitrary bytes through decoding, the markdown parser, tree building and ID assignment.
//! Invariants: no panic; every paragraph's span slices its own text out of the laid-out
//! document text; re-ingesting the same bytes against the first version changes nothing.
#![no_main]

use cairn_core::{DocKey, NodeKind};
use cairn_ingest::stable::previous_of;
use cairn_ingest::{Format, IngestOptions, ingest_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = DocKey::new("fuzz").unwrap();
    let options = IngestOptions::default();
    let Ok(first) = ingest_bytes(&key, "f", data, Format::Markdown, &options, None) else { return };
    for node in &first.tree.nodes {
        if node.kind == NodeKind::Paragraph {
            assert_eq!(node.span.slice(&first.tree.text), node.text);
        }
    }
    let previous = previous_of(&first.tree, Default::default());
    let again = ingest_bytes(&key, "f", data, Format::Markdown, &options, Some(&previous)).unwrap();
    assert!(again.changes.is_empty());
});
