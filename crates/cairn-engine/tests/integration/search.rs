//! Search: BM25 with filters and explanations, the cache and its exact invalidation, and
//! (with the `embed-local` feature) dense and hybrid search on a tiny model the test writes.

use cairn_core::{DocKey, NodeKind};
use cairn_engine::{FileOutcome, Kb, SearchMode, SearchOptions, Settings};

const GUIDE: &str = "# Guide\n\n## 1. Statins\n\nSimvastatin is metabolized by CYP3A4.\n\nRosuvastatin is a substrate of OATP1B1.\n\n\
## 2. Anticoagulants\n\nWarfarin is metabolized by CYP2C9 and raises bleeding risk.\n";
const LAW: &str = "# Rules\n\n## 1. Scope\n\nWarfarin prescriptions require an INR check.\n";

fn kb(dir: &std::path::Path) -> Kb {
    let mut kb = Kb::open(dir, Settings::default()).unwrap();
    kb.ingest_bytes("mem://guide.md", "guide.md", GUIDE.as_bytes(), None, None).unwrap();
    kb.ingest_bytes("mem://law.md", "law.md", LAW.as_bytes(), None, None).unwrap();
    kb
}

#[test]
fn bm25_search_filters_and_explains() {
    let dir = tempfile::tempdir().unwrap();
    let mut kb = kb(dir.path());
    let bm25 = SearchOptions { mode: SearchMode::Bm25, ..SearchOptions::default() };
    let (r, cached) = kb.search("warfarin", &bm25).unwrap();
    assert!(!cached);
    assert_eq!(r.hits.len(), 2);
    assert!(r.hits.iter().all(|h| h.bm25.is_some_and(|p| p.score > 0.0) && h.dense.is_none()));
    let only_law = SearchOptions { docs: Some(vec![DocKey::new("law").unwrap()]), ..bm25.clone() };
    assert_eq!(kb.search("warfarin", &only_law).unwrap().0.hits[0].doc, "law");
    let section = SearchOptions { section: Some("guide:1".into()), ..bm25.clone() };
    let (r, _) = kb.search("metabolized", &section).unwrap();
    assert_eq!(r.hits.iter().map(|h| h.display.as_str()).collect::<Vec<_>>(), vec!["guide:1.1"]);
    kb.set_tags(&DocKey::new("law").unwrap(), vec!["regulation".into()]).unwrap();
    let tagged = SearchOptions { tags: vec!["regulation".into()], ..bm25.clone() };
    assert!(kb.search("warfarin", &tagged).unwrap().0.hits.iter().all(|h| h.doc == "law"));
    // Hybrid without a model falls back to BM25 and says so; dense alone is an error.
    let (r, _) = kb.search("warfarin", &SearchOptions::default()).unwrap();
    assert_eq!(r.used, SearchMode::Bm25);
    assert!(r.note.as_deref().unwrap().contains("fell back to BM25"));
    assert!(kb.search("warfarin", &SearchOptions { mode: SearchMode::Dense, ..SearchOptions::default() }).is_err());
}

#[test]
fn a_cached_query_never_returns_old_text_after_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let mut kb = kb(dir.path());
    let bm25 = SearchOptions { mode: SearchMode::Bm25, ..SearchOptions::default() };
    let (first, _) = kb.search("warfarin bleeding", &bm25).unwrap();
    assert!(first.hits[0].text.contains("raises bleeding risk"));
    assert!(kb.search("warfarin bleeding", &bm25).unwrap().1, "second call is cached");
    assert!(kb.search("rosuvastatin", &bm25).unwrap().0.hits.len() == 1);

    let edited = GUIDE.replace("raises bleeding risk", "raises the risk of major bleeding");
    let out = kb.ingest_bytes("mem://guide.md", "guide.md", edited.as_bytes(), None, None).unwrap();
    assert!(matches!(out, FileOutcome::Stored(ref v) if v.changed == 1), "{out:?}");
    let (after, cached) = kb.search("warfarin bleeding", &bm25).unwrap();
    assert!(!cached, "the entry that held the old text was dropped");
    assert!(after.hits.iter().all(|h| !h.text.contains("raises bleeding risk")));
    assert!(after.hits[0].text.contains("major bleeding"));
    // An entry the edit cannot affect stays cached.
    assert!(kb.search("rosuvastatin", &bm25).unwrap().1);
    assert!(kb.cache_stats().invalidated >= 1);
}

#[test]
fn the_hybrid_selector_falls_back_to_lexical_without_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let kb = kb(dir.path());
    let options = cairn_engine::AskOptions { selector: cairn_engine::SelectorKind::Hybrid, ..Default::default() };
    let asked = kb.ask("What metabolizes simvastatin?", &options, &mut cairn_core::NoEvents).unwrap();
    assert!(asked.navigation.scratchpad.steps.iter().all(|s| s.selector == "lexical"));
    assert!(asked.navigation.scratchpad.notes.iter().any(|n| n.contains("fell back to lexical")));
    assert!(asked.answer.claims()[0].text.contains("CYP3A4"));
}

#[cfg(feature = "embed-local")]
mod dense {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cairn_core::{EmbedRole, Embedder};

    use super::*;

    struct Counting(cairn_embed::BertEmbedder, Arc<AtomicUsize>);

    impl Embedder for Counting {
        fn embed(&self, texts: &[&str], role: EmbedRole) -> cairn_core::Result<Vec<Vec<f32>>> {
            if role == EmbedRole::Passage {
                self.1.fetch_add(texts.len(), Ordering::SeqCst);
            }
            self.0.embed(texts, role)
        }
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn model(&self) -> &str {
            self.0.model()
        }
    }

    fn open(dir: &std::path::Path, model: &std::path::Path, count: &Arc<AtomicUsize>) -> Kb {
        let embedder = Counting(cairn_embed::BertEmbedder::load(model).unwrap(), Arc::clone(count));
        Kb::open_with(dir, Settings::default(), Some(Box::new(embedder))).unwrap()
    }

    #[test]
    fn vectors_follow_the_store_incrementally_and_catch_up_after_a_crash() {
        let model = tempfile::tempdir().unwrap();
        cairn_embed::testing::write_tiny_model(model.path(), 11).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let mut kb = open(dir.path(), model.path(), &count);
        kb.ingest_bytes("mem://guide.md", "guide.md", GUIDE.as_bytes(), None, None).unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 3, "three paragraphs embedded");

        let hybrid = SearchOptions::default();
        let (r, _) = kb.search("warfarin bleeding", &hybrid).unwrap();
        assert_eq!(r.used, SearchMode::Hybrid);
        assert!(r.hits.iter().any(|h| h.bm25.is_some() && h.dense.is_some()), "fused hits carry both parts");
        assert!(r.hits.iter().all(|h| h.dense.is_some()), "dense returns every paragraph of this tiny corpus");
        let dense = kb
            .search("kidney liver", &SearchOptions { mode: SearchMode::Dense, k: 2, ..SearchOptions::default() })
            .unwrap()
            .0;
        assert_eq!(dense.hits.len(), 2);

        // One edited paragraph: exactly one new embedding.
        let edited = GUIDE.replace("raises bleeding risk", "raises the risk of bleeding");
        kb.ingest_bytes("mem://guide.md", "guide.md", edited.as_bytes(), None, None).unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 4);
        drop(kb);

        // Reopening with everything in step embeds nothing.
        let kb = open(dir.path(), model.path(), &count);
        assert_eq!(count.load(Ordering::SeqCst), 4);
        drop(kb);

        // Simulate a crash after the store committed but before the vector files were
        // written: put back stale vector files. Opening catches up (idempotently).
        let stale = tempfile::tempdir().unwrap();
        let mut old = open(stale.path(), model.path(), &Arc::new(AtomicUsize::new(0)));
        old.ingest_bytes("mem://guide.md", "guide.md", GUIDE.as_bytes(), None, None).unwrap();
        drop(old);
        for file in ["exact.bin", "hnsw.usearch", "meta.json"] {
            std::fs::copy(stale.path().join("vectors").join(file), dir.path().join("vectors").join(file)).unwrap();
        }
        let kb = open(dir.path(), model.path(), &count);
        assert_eq!(
            count.load(Ordering::SeqCst),
            4,
            "the paragraph missing from the stale files is read back from the store, not embedded again"
        );
        let ids: Vec<String> = kb.corpus().docs()[0]
            .tree
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Paragraph)
            .map(|n| n.id.to_string())
            .collect();
        let dense = kb
            .search("warfarin", &SearchOptions { mode: SearchMode::Dense, k: 10, ..SearchOptions::default() })
            .unwrap()
            .0;
        assert_eq!(dense.hits.len(), 3);
        assert!(dense.hits.iter().all(|h| ids.contains(&h.id.to_string())), "no vector of the old text is served");
        drop(kb);
        let again = open(dir.path(), model.path(), &count);
        assert_eq!(count.load(Ordering::SeqCst), 4, "catch-up is idempotent");
        // The hybrid selector drives navigation and still yields a verified answer.
        let options = cairn_engine::AskOptions { selector: cairn_engine::SelectorKind::Hybrid, ..Default::default() };
        let asked = again.ask("Which enzyme metabolizes warfarin?", &options, &mut cairn_core::NoEvents).unwrap();
        assert!(asked.navigation.scratchpad.steps.iter().all(|s| s.selector == "hybrid"));
        assert!(asked.answer.claims().iter().any(|c| c.text.contains("CYP2C9")));
        drop(again);

        // Vector files lost altogether: every vector comes back from the store.
        std::fs::remove_dir_all(dir.path().join("vectors")).unwrap();
        let kb = open(dir.path(), model.path(), &count);
        assert_eq!(count.load(Ordering::SeqCst), 4, "nothing is embedded again");
        assert_eq!(
            kb.search("warfarin", &SearchOptions { mode: SearchMode::Dense, k: 10, ..SearchOptions::default() })
                .unwrap()
                .0
                .hits
                .len(),
            3
        );
    }

    #[test]
    fn a_replica_that_follows_an_ingest_reads_the_vectors_instead_of_embedding() {
        let model = tempfile::tempdir().unwrap();
        cairn_embed::testing::write_tiny_model(model.path(), 11).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (written, read) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut writer = open(dir.path(), model.path(), &written);
        let mut reader = open(dir.path(), model.path(), &read);
        writer.ingest_bytes("mem://guide.md", "guide.md", GUIDE.as_bytes(), None, None).unwrap();
        assert_eq!(written.load(Ordering::SeqCst), 3);
        assert_eq!(reader.follow().unwrap().updated, 1);
        assert_eq!(read.load(Ordering::SeqCst), 0, "the follower embedded nothing");
        let dense = SearchOptions { mode: SearchMode::Dense, k: 1, ..SearchOptions::default() };
        let (a, b) = (writer.search("kidney", &dense).unwrap().0, reader.search("kidney", &dense).unwrap().0);
        assert_eq!(a.hits[0].id, b.hits[0].id, "both replicas rank with the same vectors");
        assert_eq!(a.hits[0].dense, b.hits[0].dense);
    }
}

#[cfg(feature = "keyword-tantivy")]
#[test]
fn tantivy_keyword_engine_agrees_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { keyword_engine: "tantivy".into(), ..Settings::default() };
    let mut kb = Kb::open(dir.path(), settings.clone()).unwrap();
    kb.ingest_bytes("mem://guide.md", "guide.md", GUIDE.as_bytes(), None, None).unwrap();
    kb.ingest_bytes("mem://law.md", "law.md", LAW.as_bytes(), None, None).unwrap();
    let bm25 = SearchOptions { mode: SearchMode::Bm25, ..SearchOptions::default() };
    let (r, _) = kb.search("rosuvastatin OATP1B1", &bm25).unwrap();
    assert_eq!(r.hits[0].display, "guide:1.2");
    let (r, _) = kb
        .search("warfarin", &SearchOptions { docs: Some(vec![DocKey::new("law").unwrap()]), ..bm25.clone() })
        .unwrap();
    assert!(r.hits.iter().all(|h| h.doc == "law") && !r.hits.is_empty());
    let (r, _) = kb.search("metabolized", &SearchOptions { section: Some("guide:2".into()), ..bm25.clone() }).unwrap();
    assert_eq!(r.hits.iter().map(|h| h.display.as_str()).collect::<Vec<_>>(), vec!["guide:2.1"]);

    // An edit replaces exactly that paragraph in the keyword index.
    let edited = GUIDE.replace("raises bleeding risk", "raises the risk of haemorrhage");
    kb.ingest_bytes("mem://guide.md", "guide.md", edited.as_bytes(), None, None).unwrap();
    let (r, _) = kb.search("haemorrhage", &bm25).unwrap();
    assert_eq!(r.hits.len(), 1);
    assert!(kb.search("bleeding", &bm25).unwrap().0.hits.is_empty(), "the old text is gone");
    drop(kb);

    // A stale keyword index (as after a crash before its commit) catches up on open.
    let stale_dir = tempfile::tempdir().unwrap();
    let mut stale = Kb::open(stale_dir.path(), settings.clone()).unwrap();
    stale.ingest_bytes("mem://guide.md", "guide.md", GUIDE.as_bytes(), None, None).unwrap();
    drop(stale);
    std::fs::remove_dir_all(dir.path().join("keyword")).unwrap();
    copy_dir(&stale_dir.path().join("keyword"), &dir.path().join("keyword"));
    let kb = Kb::open(dir.path(), settings).unwrap();
    assert!(kb.search("bleeding", &bm25).unwrap().0.hits.is_empty(), "stale text is never served");
    assert_eq!(kb.search("haemorrhage", &bm25).unwrap().0.hits.len(), 1);
    assert_eq!(kb.search("INR", &bm25).unwrap().0.hits[0].doc, "law", "the missing document was added");
}

#[cfg(feature = "keyword-tantivy")]
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_stored_source_under_another_key_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut kb = kb(dir.path());
    let before = kb.list().unwrap();
    let changed = GUIDE.replace("CYP3A4", "CYP3A5");
    let outcome =
        kb.ingest_bytes("mem://guide.md", "guide.md", changed.as_bytes(), Some(DocKey::new("other").unwrap()), None);
    match outcome.unwrap() {
        FileOutcome::Failed { error, .. } => assert!(error.contains("stored as document `guide`"), "{error}"),
        other @ (FileOutcome::Unchanged { .. } | FileOutcome::Stored(_)) => panic!("{other:?}"),
    }
    let after = kb.list().unwrap();
    assert_eq!(before.len(), after.len());
    assert_eq!(
        before.iter().map(|d| (&d.key, d.version)).collect::<Vec<_>>(),
        after.iter().map(|d| (&d.key, d.version)).collect::<Vec<_>>()
    );
    let bm25 = SearchOptions { mode: SearchMode::Bm25, ..SearchOptions::default() };
    assert_eq!(kb.search("CYP3A4", &bm25).unwrap().0.hits.len(), 1);
}

#[cfg(unix)]
#[test]
fn folder_walks_follow_links_once_and_survive_loops() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    std::fs::write(docs.join("a.md"), "# A\n\nText.\n").unwrap();
    std::fs::write(docs.join("sub/b.md"), "# B\n\nText.\n").unwrap();
    // Two links back up the tree would make a naive walk exponential.
    std::os::unix::fs::symlink(&docs, docs.join("sub/up")).unwrap();
    std::os::unix::fs::symlink(&docs, docs.join("sub/up2")).unwrap();
    let files = cairn_engine::collect_files(std::slice::from_ref(&docs)).unwrap();
    let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["a.md", "b.md"]);
}

/// A scripted reranker: Yes to passages that mention its word. An instruction inside a
/// passage is text it reads, nothing more.
struct Says(&'static str);

impl cairn_core::ChatModel for Says {
    fn chat(&self, _: &cairn_core::ChatRequest) -> cairn_core::Result<cairn_core::ChatResponse> {
        Err(cairn_core::CoreError::Llm {
            model: "says".into(),
            failure: cairn_core::LlmFailure::Unsupported,
            message: "scores only".into(),
        })
    }
    fn name(&self) -> &str {
        "says"
    }
    fn score_choices(&self, prompt: &str, _: &[String]) -> cairn_core::Result<Vec<f32>> {
        let passage = prompt.split("\nPassage: ").nth(1).unwrap_or("");
        Ok(if passage.contains(self.0) { vec![-0.05, -4.0] } else { vec![-4.0, -0.05] })
    }
}

#[test]
fn a_reranker_reorders_search_and_navigation_and_explains_the_move() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.set("rerank", "scripted").unwrap();
    let mut kb = Kb::open(dir.path(), settings).unwrap();
    kb.ingest_bytes("mem://guide.md", "guide.md", GUIDE.as_bytes(), None, None).unwrap();
    kb.ingest_bytes("mem://law.md", "law.md", LAW.as_bytes(), None, None).unwrap();
    kb.register_model("scripted", std::sync::Arc::new(Says("CYP2C9")));
    let plain = SearchOptions { mode: SearchMode::Bm25, rerank: Some(false), ..SearchOptions::default() };
    let (before, _) = kb.search("warfarin", &plain).unwrap();
    assert_eq!(before.hits[0].display, "law:1.1", "BM25 puts the short rule first");
    assert!(before.hits.iter().all(|h| h.rerank.is_none()));
    // The setting reranks by default; the model's Yes moves the guide up.
    let (after, cached) = kb.search("warfarin", &SearchOptions { rerank: None, ..plain.clone() }).unwrap();
    assert!(!cached, "a reranked search is cached apart from a plain one");
    assert_eq!(after.hits[0].display, "guide:2.1");
    let first = after.hits[0].rerank.unwrap();
    assert_eq!(first.before, 2);
    assert!(first.margin > 3.0);
    assert!(after.note.as_deref().unwrap().contains("reranked the best 2 by says"));
    // Navigation's final paragraphs are reranked too, and the scratchpad says so.
    let asked = kb.ask("warfarin", &cairn_engine::AskOptions::default(), &mut cairn_core::NoEvents).unwrap();
    assert_eq!(asked.navigation.passages[0].display, "guide:2.1");
    assert!(
        asked.navigation.scratchpad.notes.iter().any(|n| n.starts_with("reranked the best")),
        "{:?}",
        asked.navigation.scratchpad.notes
    );
    // A failing model fails the search clearly.
    kb.register_model("scripted", std::sync::Arc::new(Broken));
    let err = kb.search("warfarin bleeding", &SearchOptions { rerank: Some(true), ..plain }).unwrap_err();
    assert!(err.to_string().contains("broken"), "{err}");
}

struct Broken;

impl cairn_core::ChatModel for Broken {
    fn chat(&self, _: &cairn_core::ChatRequest) -> cairn_core::Result<cairn_core::ChatResponse> {
        unreachable!()
    }
    fn name(&self) -> &str {
        "broken"
    }
    fn score_choices(&self, _: &str, _: &[String]) -> cairn_core::Result<Vec<f32>> {
        Err(cairn_core::CoreError::Llm {
            model: "broken".into(),
            failure: cairn_core::LlmFailure::Transient,
            message: "down".into(),
        })
    }
}

/// A party's name inside e-mail addresses (a message's header row) is no evidence: a
/// question about the parties that only the addresses mention is not answered from them,
/// while a sentence that states something about the parties still answers it.
#[test]
fn names_inside_email_addresses_do_not_answer_a_question() {
    let dir = tempfile::tempdir().unwrap();
    let mut kb = cairn_engine::Kb::open(dir.path(), cairn_engine::Settings::default()).unwrap();
    let headers = "# Re: draft statement\n\n## Message headers\n\nFrom = Claire Baptiste <c.baptiste@castellane.example> | To = Imogen Hale <imogen.hale@brightwater-analytics.example> | Subject = Re: draft statement\n\n## Body\n\nPlease find the draft statement attached for review.\n";
    kb.ingest_bytes("upload:mail.md", "mail.md", headers.as_bytes(), None, None).unwrap();
    let q = "Why did Castellane pay twenty million for Brightwater?";
    let asked = kb.ask(q, &cairn_engine::AskOptions::default(), &mut cairn_core::NoEvents).unwrap();
    assert!(asked.answer.abstention().is_some(), "{:?}", asked.answer.claims());
    let deal = "# Deal memo\n\nCastellane paid twenty million for Brightwater because of its recurring revenue.\n";
    kb.ingest_bytes("upload:deal.md", "deal.md", deal.as_bytes(), None, None).unwrap();
    let asked = kb.ask(q, &cairn_engine::AskOptions::default(), &mut cairn_core::NoEvents).unwrap();
    assert!(asked.answer.abstention().is_none(), "{:?}", asked.answer.abstention());
    assert!(asked.answer.claims().iter().any(|c| c.text.contains("recurring revenue")), "{:?}", asked.answer.claims());
}
