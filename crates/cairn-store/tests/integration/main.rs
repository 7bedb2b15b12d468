//! Integration tests for cairn-store.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

use cairn_core::{Chunk, ChunkId, DocKey, NodeKind, NodeRef};
use cairn_ingest::stable::previous_of;
use cairn_ingest::{Format, IngestOptions, Ingested, ingest_bytes};
use cairn_store::feedback::{Feedback, Verdict};
use cairn_store::{DocumentUpdate, Resolved, RetireReason, Store, StoreError};

mod conformance;
mod graph;

const V1: &str = "# Guide\n\n## 1. Enzymes\n\nCYP3A4 metabolizes simvastatin.\n\nCYP2C9 metabolizes warfarin.\n\n## 2. Inhibitors\n\nClarithromycin strongly inhibits CYP3A4.\n";

fn parse(text: &str, prev: Option<&Ingested>, store: &Store) -> Ingested {
    let key = DocKey::new("guide").unwrap();
    let previous = prev.map(|p| previous_of(&p.tree, store.id_history(&key).unwrap()));
    ingest_bytes(&key, "guide.md", text.as_bytes(), Format::Markdown, &IngestOptions::default(), previous.as_ref())
        .unwrap()
}

/// The "original file" `store_it` keeps with a version: its hash, then bytes that are not
/// UTF-8, so every backend is shown to keep binary data as it was.
fn original_of(hash: &str) -> cairn_store::Original {
    let bytes = [hash.as_bytes(), &[0, 0xff, 0xfe, b'\n']].concat();
    cairn_store::Original { bytes, text_layer: Some(format!("1\t10.0\t20.0\t30.0\t12.0\t{hash} 五毫克\n")) }
}

fn store_it(store: &mut Store, doc: &Ingested, hash: &str) -> cairn_store::ApplyReport {
    let original = original_of(hash);
    let base_version = store.document(&doc.tree.key).unwrap().map(|d| d.version);
    let chunk = Chunk {
        id: ChunkId(format!("c-{hash}")),
        parent: None,
        level: 0,
        members: vec![doc.tree.nodes[1].id.clone()],
        tokens: 10,
        label: "all".into(),
    };
    let mut terms = |n: &cairn_core::Node| n.text.to_lowercase();
    store
        .apply(DocumentUpdate {
            source: "/docs/guide.md",
            format: "md",
            encoding: Some("UTF-8"),
            file_hash: hash,
            bytes: 100,
            tree: &doc.tree,
            changes: &doc.changes,
            chunks: &[chunk],
            terms: &mut terms,
            base_version,
            original: Some(&original.bytes),
            text_layer: original.text_layer.as_deref(),
        })
        .unwrap()
}

#[test]
fn trees_round_trip_and_edits_are_incremental() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let v1 = parse(V1, None, &store);
    let report = store_it(&mut store, &v1, "h1");
    assert_eq!((report.version, report.inserted, report.deleted), (1, v1.tree.nodes.len(), 0));
    let loaded = store.load(&DocKey::new("guide").unwrap()).unwrap();
    assert_eq!(loaded.tree, v1.tree);
    assert_eq!(loaded.chunks.len(), 1);
    assert_eq!(loaded.terms[1], "1. enzymes");

    let v2 = parse(&V1.replace("strongly inhibits", "is a strong inhibitor of"), Some(&v1), &store);
    assert_eq!(v2.changes.changed.len(), 1);
    let report = store_it(&mut store, &v2, "h2");
    assert_eq!((report.version, report.inserted, report.updated, report.deleted), (2, 1, 0, 1));
    assert_eq!((report.chunks_inserted, report.chunks_deleted), (1, 1));
    assert_eq!(store.load(&DocKey::new("guide").unwrap()).unwrap().tree, v2.tree);

    // The old ID is retired and names its successor.
    let (old, new) = &v2.changes.changed[0];
    match store.resolve(&NodeRef::Stable(old.clone())).unwrap().unwrap() {
        Resolved::Retired(r) => {
            assert_eq!(r.reason, RetireReason::Edited);
            assert_eq!(r.successor.as_ref(), Some(new));
            assert_eq!(r.display, "guide:2.1");
            assert_eq!(r.text, "Clarithromycin strongly inhibits CYP3A4.");
            assert_eq!(r.current.unwrap().text, "Clarithromycin is a strong inhibitor of CYP3A4.");
        }
        other => panic!("expected retired, got {other:?}"),
    }
}

#[test]
fn display_ids_sentences_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let v1 = parse("# G\n\n## 1. A\n\nFirst sentence. Second sentence.\n", None, &store);
    store_it(&mut store, &v1, "h");
    let live = |s: &str| match store.resolve(&s.parse().unwrap()).unwrap() {
        Some(Resolved::Live(node)) => node,
        other => panic!("{s}: {other:?}"),
    };
    let para = live("guide:1.1");
    assert_eq!(para.kind, NodeKind::Paragraph);
    assert_eq!(para.heading_path, vec!["1. A"]);
    let sentence = live("guide:1.1.2");
    assert_eq!(sentence.text, "Second sentence.");
    assert_eq!(live(sentence.id.as_str()).text, "Second sentence.");
    assert_eq!(store.node_text(&sentence.id).unwrap().as_deref(), Some("Second sentence."));
    assert!(store.resolve(&"guide:9.9".parse().unwrap()).unwrap().is_none());

    let removed = store.remove(&DocKey::new("guide").unwrap()).unwrap();
    assert_eq!(removed, v1.tree.nodes.len());
    match store.resolve(&NodeRef::Stable(para.id.clone())).unwrap().unwrap() {
        Resolved::Retired(r) => assert_eq!((r.reason, r.successor), (RetireReason::DocumentRemoved, None)),
        other => panic!("{other:?}"),
    }
    assert!(store.documents().unwrap().is_empty());
    assert!(matches!(store.remove(&DocKey::new("guide").unwrap()), Err(StoreError::UnknownDocument { .. })));
}

#[test]
fn format_1_knowledge_bases_migrate_to_the_current_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let v1 = parse(V1, None, &store);
    store_it(&mut store, &v1, "h1");
    drop(store);
    // Turn the file back into format 1: the tags column, the feedback, jobs and embeddings
    // tables did not exist.
    let conn = rusqlite::Connection::open(dir.path().join("kb.sqlite")).unwrap();
    conn.execute_batch("DROP TABLE originals; DROP TABLE embeddings; DROP TABLE jobs; DROP TABLE feedback; ALTER TABLE documents DROP COLUMN tags; UPDATE meta SET value = '1' WHERE key = 'format_version'; PRAGMA user_version = 1;").unwrap();
    drop(conn);
    let mut store = Store::open(dir.path()).unwrap();
    let key = DocKey::new("guide").unwrap();
    assert_eq!(store.load(&key).unwrap().tree, v1.tree, "nothing lost in the migration");
    assert_eq!(store.original(&key).unwrap(), None, "no original was kept before format 6");
    store.set_tags(&key, &["pharmacology".into(), "en".into()]).unwrap();
    assert_eq!(store.document(&key).unwrap().unwrap().tags, vec!["pharmacology", "en"]);
    let conn = rusqlite::Connection::open(dir.path().join("kb.sqlite")).unwrap();
    let version: String =
        conn.query_row("SELECT value FROM meta WHERE key = 'format_version'", [], |r| r.get(0)).unwrap();
    assert_eq!(version, cairn_store::FORMAT_VERSION.to_string());
    drop(conn);
    let verdict =
        Feedback { id: 0, question: "q".into(), answer: "a".into(), verdict: Verdict::Up, cited: vec![], at: 0 };
    store.record_feedback(&verdict).unwrap();
}

#[test]
fn feedback_is_kept_with_its_citations_and_becomes_preference_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let f = |question: &str, answer: &str, verdict: Verdict| Feedback {
        id: 0,
        question: question.into(),
        answer: answer.into(),
        verdict,
        cited: vec!["pcrz74tpxdn56".into()],
        at: 1,
    };
    store.record_feedback(&f("deadline?", "Five days.", Verdict::Up)).unwrap();
    store.record_feedback(&f("deadline?", "Ten weeks.", Verdict::Down)).unwrap();
    store.record_feedback(&f("deadline?", "Thirty days.", Verdict::Down)).unwrap();
    store.record_feedback(&f("ratio?", "8%.", Verdict::Prefer { rejected: "10%.".into() })).unwrap();
    store.record_feedback(&f("other?", "Only a thumbs down.", Verdict::Down)).unwrap();
    let err = store.record_feedback(&f("deadline?", " ", Verdict::Up)).unwrap_err();
    assert!(err.to_string().contains("needs a question and an answer"), "{err}");
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let all = store.feedback().unwrap();
    assert_eq!(all.len(), 5, "refused feedback stores nothing; the rest survives reopening");
    assert_eq!(all[0].cited, vec!["pcrz74tpxdn56"]);
    let pairs = cairn_store::feedback::pairs(&all);
    let got: Vec<(&str, &str, &str)> =
        pairs.iter().map(|p| (p.question.as_str(), p.chosen.as_str(), p.rejected.as_str())).collect();
    assert_eq!(
        got,
        [
            ("ratio?", "8%.", "10%."),
            ("deadline?", "Five days.", "Ten weeks."),
            ("deadline?", "Five days.", "Thirty days.")
        ]
    );
}

#[test]
fn format_versions_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("kb.sqlite")).unwrap();
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'", []).unwrap();
    drop(conn);
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade Cairn"));

    let conn = rusqlite::Connection::open(dir.path().join("kb.sqlite")).unwrap();
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'format_version'", []).unwrap();
    drop(conn);
    assert!(matches!(Store::open(dir.path()).unwrap_err(), StoreError::TooOld { found: 0, .. }));

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("kb.sqlite"), b"this is not sqlite at all, just text").unwrap();
    assert!(matches!(Store::open(other.path()).unwrap_err(), StoreError::NotAKnowledgeBase { .. }));
}
