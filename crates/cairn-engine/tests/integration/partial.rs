//! Partial failure and concurrency: an index update that fails after the store commit
//! leaves the document marked stale and repaired on the next try (never `unchanged` with
//! vectors missing); a second writer process is refused; a passed deadline stops work
//! with an error that says so, and nothing is stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cairn_core::deadline::{self, Deadline};
use cairn_core::{DocKey, EmbedRole, Embedder};
use cairn_engine::{EngineError, FileOutcome, Kb, SearchMode, SearchOptions, Settings};

/// A deterministic embedder (hashed bigrams) that fails while `failing` is set.
struct Flaky {
    failing: Arc<AtomicBool>,
    embedded: Arc<AtomicUsize>,
}

impl Embedder for Flaky {
    fn embed(&self, texts: &[&str], role: EmbedRole) -> cairn_core::Result<Vec<Vec<f32>>> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(cairn_core::CoreError::Embedding {
                model: "flaky".into(),
                message: "the embedding service is down".into(),
                transient: true,
            });
        }
        if role == EmbedRole::Passage {
            self.embedded.fetch_add(texts.len(), Ordering::SeqCst);
        }
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = [0f32; 16];
                for w in t.as_bytes().windows(2) {
                    v[(w[0] as usize * 31 + w[1] as usize) % 16] += 1.0;
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
    fn dim(&self) -> usize {
        16
    }
    fn model(&self) -> &str {
        "flaky"
    }
}

const DOC: &str = "# Guide\n\n## 1. Statins\n\nSimvastatin is metabolized by CYP3A4.\n\n## 2. Anticoagulants\n\nWarfarin raises bleeding risk.\n";

#[test]
fn a_failed_vector_update_is_repaired_on_the_next_ingest_not_reported_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let failing = Arc::new(AtomicBool::new(false));
    let embedded = Arc::new(AtomicUsize::new(0));
    let embedder = Flaky { failing: Arc::clone(&failing), embedded: Arc::clone(&embedded) };
    let mut kb = Kb::open_with(dir.path(), Settings::default(), Some(Box::new(embedder))).unwrap();
    let dense = SearchOptions { mode: SearchMode::Dense, k: 10, ..SearchOptions::default() };

    failing.store(true, Ordering::SeqCst);
    let err = kb.ingest_bytes("mem://guide.md", "guide.md", DOC.as_bytes(), None, None).unwrap_err();
    assert!(err.to_string().contains("down"), "{err}");
    let key = DocKey::new("guide").unwrap();
    assert!(kb.is_stale(&key), "the store committed; the vectors did not follow");

    failing.store(false, Ordering::SeqCst);
    let out = kb.ingest_bytes("mem://guide.md", "guide.md", DOC.as_bytes(), None, None).unwrap();
    assert!(matches!(out, FileOutcome::Unchanged { .. }), "{out:?}");
    assert!(!kb.is_stale(&key));
    assert_eq!(embedded.load(Ordering::SeqCst), 2, "both paragraphs were embedded by the repair");
    let hits = kb.search("warfarin bleeding", &dense).unwrap().0;
    assert_eq!(hits.hits.len(), 2, "dense search sees every paragraph");
}

#[test]
fn a_second_writer_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Kb::open(dir.path(), Settings::default()).unwrap();
    first.ingest_bytes("mem://guide.md", "guide.md", DOC.as_bytes(), None, None).unwrap();
    // A reader opens and reads while the first holds the lock.
    let mut second = Kb::open(dir.path(), Settings::default()).unwrap();
    assert_eq!(second.list().unwrap().len(), 1);
    let err = second.ingest_bytes("mem://other.md", "other.md", b"# Other\n\nText.\n", None, None).unwrap_err();
    assert!(matches!(err, EngineError::Locked { .. }), "{err}");
    assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
    drop(first);
    second.ingest_bytes("mem://other.md", "other.md", b"# Other\n\nText.\n", None, None).unwrap();
}

#[test]
fn a_passed_deadline_stops_ingest_search_and_ask_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut kb = Kb::open(dir.path(), Settings::default()).unwrap();
    kb.ingest_bytes("mem://guide.md", "guide.md", DOC.as_bytes(), None, None).unwrap();
    let past = || Deadline::at(Instant::now() - Duration::from_millis(1));
    let big: String = (0..5_000).map(|i| format!("Paragraph {i} of a long new document.\n\n")).collect();
    let err = deadline::scope(past(), || kb.ingest_bytes("mem://big.txt", "big.txt", big.as_bytes(), None, None))
        .unwrap_err();
    assert!(err.is_expired(), "{err}");
    assert_eq!(kb.list().unwrap().len(), 1, "nothing of the stopped ingest was stored");
    let err = deadline::scope(past(), || kb.search("warfarin", &SearchOptions::default())).unwrap_err();
    assert!(err.is_expired(), "{err}");
    let err =
        deadline::scope(past(), || kb.ask("warfarin?", &Default::default(), &mut cairn_core::NoEvents)).unwrap_err();
    assert!(err.is_expired(), "{err}");
    let err = deadline::scope(past(), || {
        kb.graph_query("UNWIND range(1, 100000) AS i RETURN count(i) AS n", &Default::default())
    })
    .unwrap_err();
    assert!(err.is_expired(), "{err}");
    // Without the scope, everything works.
    assert!(kb.search("warfarin", &SearchOptions::default()).is_ok());
}
