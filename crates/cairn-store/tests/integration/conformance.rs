//! One conformance suite, run against every backend: SQLite always; PostgreSQL and
//! MySQL/MariaDB when `CAIRN_TEST_POSTGRES` / `CAIRN_TEST_MYSQL` name a server (as
//! `scripts/services.sh --env` prints) and the `servers` feature is on. Each test gets a
//! fresh database, dropped afterwards. Without a server the test says so and runs on
//! SQLite only; `CAIRN_REQUIRE_SERVERS=1` (set by CI) turns that skip into a failure.

use cairn_core::{Chunk, ChunkId, DocKey, NodeKind, NodeRef};
use cairn_store::feedback::{Feedback, Verdict};
use cairn_store::{DocumentUpdate, Resolved, RetireReason, Store, StoreError, StoreUrl};

use crate::{V1, original_of, parse, store_it};

/// Applies `doc` to `store` as computed against `base` (a stored version, or `None` for a
/// new document), with `chunks` as planned; the terms are the node texts.
fn apply_to(
    store: &mut Store,
    doc: &cairn_ingest::Ingested,
    hash: &str,
    chunks: &[Chunk],
    base: Option<u32>,
) -> cairn_store::Result<cairn_store::ApplyReport> {
    let mut terms = |n: &cairn_core::Node| n.text.clone();
    store.apply(DocumentUpdate {
        source: "/docs/guide.md",
        format: "md",
        encoding: None,
        file_hash: hash,
        bytes: 1,
        tree: &doc.tree,
        changes: &doc.changes,
        chunks,
        terms: &mut terms,
        base_version: base,
        original: None,
        text_layer: None,
    })
}

/// One backend under test, with a fresh, empty knowledge base.
pub struct Target {
    pub name: &'static str,
    url: StoreUrl,
    dir: tempfile::TempDir,
    #[cfg_attr(not(feature = "servers"), allow(dead_code))]
    cleanup: Option<(String, String)>,
}

impl Target {
    /// Opens (or re-opens) the knowledge base.
    pub fn open(&self) -> Store {
        Store::open_url(&self.url, self.dir.path()).unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        #[cfg(feature = "servers")]
        if let Some((admin, name)) = &self.cleanup {
            let _ = cairn_store::server::drop_database(admin, name);
        }
    }
}

/// Every backend this run can test.
pub fn targets() -> Vec<Target> {
    let sqlite_dir = tempfile::tempdir().unwrap();
    let mut out = vec![Target {
        name: "sqlite",
        url: StoreUrl::Sqlite(sqlite_dir.path().to_owned()),
        dir: sqlite_dir,
        cleanup: None,
    }];
    let require = std::env::var("CAIRN_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    for (name, var) in [("postgres", "CAIRN_TEST_POSTGRES"), ("mysql", "CAIRN_TEST_MYSQL")] {
        let Ok(admin) = std::env::var(var) else {
            assert!(!require, "CAIRN_REQUIRE_SERVERS=1 but {var} is not set (run scripts/services.sh)");
            eprintln!("skipping the {name} backend: {var} is not set (eval \"$(scripts/services.sh --env)\")");
            continue;
        };
        #[cfg(feature = "servers")]
        {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
            let db = format!("cairn_t{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
            let url = match cairn_store::server::create_database(&admin, &db) {
                Ok(url) => url,
                Err(e) => {
                    assert!(!require, "{name} at {var}: {e}");
                    eprintln!("skipping the {name} backend: {e}");
                    continue;
                }
            };
            out.push(Target {
                name,
                url: StoreUrl::Server(url),
                dir: tempfile::tempdir().unwrap(),
                cleanup: Some((admin, db)),
            });
        }
        #[cfg(not(feature = "servers"))]
        {
            let _ = admin;
            assert!(!require, "CAIRN_REQUIRE_SERVERS=1 needs the `servers` feature");
            eprintln!("skipping the {name} backend: built without the `servers` feature");
        }
    }
    out
}

#[test]
fn trees_round_trip_and_edits_are_incremental() {
    for t in targets() {
        let mut store = t.open();
        let v1 = parse(V1, None, &store);
        let report = store_it(&mut store, &v1, "h1");
        assert_eq!((report.version, report.inserted, report.deleted), (1, v1.tree.nodes.len(), 0), "{}", t.name);
        let loaded = store.load(&DocKey::new("guide").unwrap()).unwrap();
        assert_eq!(loaded.tree, v1.tree, "{}", t.name);
        assert_eq!(loaded.chunks.len(), 1);
        assert_eq!(loaded.terms[1], "1. enzymes");
        let key = DocKey::new("guide").unwrap();
        assert_eq!(store.original(&key).unwrap(), Some(original_of("h1")), "{}", t.name);

        let v2 = parse(&V1.replace("strongly inhibits", "is a strong inhibitor of"), Some(&v1), &store);
        let report = store_it(&mut store, &v2, "h2");
        assert_eq!((report.version, report.inserted, report.updated, report.deleted), (2, 1, 0, 1), "{}", t.name);
        assert_eq!((report.chunks_inserted, report.chunks_deleted), (1, 1));
        // Re-opened, the new version is there.
        drop(store);
        let store = t.open();
        assert_eq!(store.load(&DocKey::new("guide").unwrap()).unwrap().tree, v2.tree, "{}", t.name);
        // The original bytes belong to the version stored with them.
        assert_eq!(store.original(&key).unwrap(), Some(original_of("h2")), "{}", t.name);
        let (old, new) = &v2.changes.changed[0];
        match store.resolve(&NodeRef::Stable(old.clone())).unwrap().unwrap() {
            Resolved::Retired(r) => {
                assert_eq!(r.reason, RetireReason::Edited);
                assert_eq!(r.successor.as_ref(), Some(new));
                assert_eq!(r.display, "guide:2.1");
                assert_eq!(r.current.unwrap().text, "Clarithromycin is a strong inhibitor of CYP3A4.");
            }
            other => panic!("{}: expected retired, got {other:?}", t.name),
        }
        let records = store.documents().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!((records[0].version, records[0].nodes as usize), (2, v2.tree.nodes.len()), "{}", t.name);
    }
}

#[test]
fn retired_ids_follow_their_successor_chain_to_the_live_text() {
    for t in targets() {
        let mut store = t.open();
        let v1 = parse(V1, None, &store);
        store_it(&mut store, &v1, "h1");
        let v2 = parse(&V1.replace("strongly inhibits", "inhibits"), Some(&v1), &store);
        store_it(&mut store, &v2, "h2");
        let v3 = parse(&V1.replace("strongly inhibits", "weakly inhibits"), Some(&v2), &store);
        store_it(&mut store, &v3, "h3");
        let first = &v2.changes.changed[0].0;
        match store.resolve(&NodeRef::Stable(first.clone())).unwrap().unwrap() {
            Resolved::Retired(r) => {
                assert_eq!(r.version, 2, "{}", t.name);
                assert_eq!(r.current.unwrap().text, "Clarithromycin weakly inhibits CYP3A4.", "{}", t.name);
            }
            other => panic!("{}: {other:?}", t.name),
        }
        let history = store.id_history(&DocKey::new("guide").unwrap()).unwrap();
        assert_eq!(history.len(), v3.tree.nodes.len() + 2, "{}: live plus two retired", t.name);
    }
}

#[test]
fn display_ids_sentences_tags_and_removal() {
    for t in targets() {
        let mut store = t.open();
        let v1 = parse("# G\n\n## 1. A\n\nFirst sentence. Second sentence.\n", None, &store);
        store_it(&mut store, &v1, "h");
        let live = |s: &str| match store.resolve(&s.parse().unwrap()).unwrap() {
            Some(Resolved::Live(node)) => node,
            other => panic!("{}: {s}: {other:?}", t.name),
        };
        let para = live("guide:1.1");
        assert_eq!(para.kind, NodeKind::Paragraph);
        assert_eq!(para.heading_path, vec!["1. A"]);
        let sentence = live("guide:1.1.2");
        assert_eq!(sentence.text, "Second sentence.");
        assert_eq!(store.node_text(&sentence.id).unwrap().as_deref(), Some("Second sentence."));
        assert!(store.resolve(&"guide:9.9".parse().unwrap()).unwrap().is_none());
        let key = DocKey::new("guide").unwrap();
        store.set_tags(&key, &["law".into(), "zh".into()]).unwrap();
        assert_eq!(store.document(&key).unwrap().unwrap().tags, vec!["law", "zh"], "{}", t.name);
        assert_eq!(store.document_by_source("/docs/guide.md").unwrap().unwrap().key, key);
        let nobody = DocKey::new("nobody").unwrap();
        assert!(matches!(store.set_tags(&nobody, &[]), Err(StoreError::UnknownDocument { .. })), "{}", t.name);

        let removed = store.remove(&key).unwrap();
        assert_eq!(removed, v1.tree.nodes.len(), "{}", t.name);
        match store.resolve(&NodeRef::Stable(para.id.clone())).unwrap().unwrap() {
            Resolved::Retired(r) => {
                assert_eq!((r.reason, r.successor), (RetireReason::DocumentRemoved, None), "{}", t.name);
                assert_eq!(r.display, "guide:1.1");
                assert_eq!(r.section.as_deref(), Some("1. A"), "{}", t.name);
            }
            other => panic!("{other:?}"),
        }
        assert!(store.documents().unwrap().is_empty());
        assert_eq!(store.original(&key).unwrap(), None, "{}: the original goes with its document", t.name);
        assert!(matches!(store.remove(&key), Err(StoreError::UnknownDocument { .. })), "{}", t.name);
    }
}

#[test]
fn a_failed_update_rolls_back_and_loses_nothing_stored() {
    for t in targets() {
        let mut store = t.open();
        let v1 = parse(V1, None, &store);
        store_it(&mut store, &v1, "h1");
        let v2 =
            parse(&V1.replace("CYP2C9 metabolizes warfarin.", "Warfarin is cleared by CYP2C9."), Some(&v1), &store);
        // Two chunks with one ID: the second insert violates the primary key, after the
        // node rows of the new version were written.
        let chunk = Chunk {
            id: ChunkId("dup".into()),
            parent: None,
            level: 0,
            members: vec![v2.tree.nodes[1].id.clone()],
            tokens: 1,
            label: "x".into(),
        };
        let err = apply_to(&mut store, &v2, "h2", &[chunk.clone(), chunk], Some(1)).unwrap_err();
        eprintln!("{}: refused as expected: {err}", t.name);
        let key = DocKey::new("guide").unwrap();
        assert_eq!(store.load(&key).unwrap().tree, v1.tree, "{}: the old version is intact", t.name);
        assert_eq!(store.document(&key).unwrap().unwrap().version, 1, "{}", t.name);
        // The failed update (which kept no original) did not delete the stored one.
        assert_eq!(store.original(&key).unwrap(), Some(original_of("h1")), "{}", t.name);
        // The store still works after the failure.
        let report = store_it(&mut store, &v2, "h2");
        assert_eq!(report.version, 2, "{}", t.name);
        assert_eq!(store.load(&key).unwrap().tree, v2.tree, "{}", t.name);
    }
}

#[test]
fn chinese_text_and_emoji_round_trip() {
    for t in targets() {
        let mut store = t.open();
        let text = "# 药品管理法\n\n## 第一章 总则\n\n第一条　为了加强药品管理，保证药品质量 💊。\n\n第二条　在中华人民共和国境内从事药品研制活动。\n";
        let doc = parse(text, None, &store);
        store_it(&mut store, &doc, "zh");
        drop(store);
        let store = t.open();
        let loaded = store.load(&DocKey::new("guide").unwrap()).unwrap();
        assert_eq!(loaded.tree, doc.tree, "{}", t.name);
        assert!(loaded.tree.text.contains("💊"), "{}", t.name);
    }
}

#[test]
fn feedback_survives_reopening_on_every_backend() {
    for t in targets() {
        let mut store = t.open();
        let f = |answer: &str, verdict: Verdict| Feedback {
            id: 0,
            question: "deadline?".into(),
            answer: answer.into(),
            verdict,
            cited: vec!["pcrz74tpxdn56".into(), "abc".into()],
            at: 7,
        };
        let a = store.record_feedback(&f("Five days.", Verdict::Up)).unwrap();
        let b = store.record_feedback(&f("Ten weeks.", Verdict::Prefer { rejected: "Never.".into() })).unwrap();
        assert!(b > a, "{}: row ids grow", t.name);
        assert!(store.record_feedback(&f(" ", Verdict::Down)).is_err());
        drop(store);
        let all = t.open().feedback().unwrap();
        assert_eq!(all.len(), 2, "{}", t.name);
        assert_eq!(all[0].cited, vec!["pcrz74tpxdn56", "abc"]);
        assert_eq!(all[1].verdict, Verdict::Prefer { rejected: "Never.".into() }, "{}", t.name);
        assert_eq!(all[1].at, 7);
    }
}

#[test]
fn copies_round_trip_between_backends_with_ids_retired_ids_and_feedback_intact() {
    // The source: SQLite with an edited document, a removed one and feedback.
    let src_dir = tempfile::tempdir().unwrap();
    let mut src = Store::open(src_dir.path()).unwrap();
    let v1 = parse(V1, None, &src);
    store_it(&mut src, &v1, "h1");
    let v2 = parse(&V1.replace("strongly inhibits", "inhibits"), Some(&v1), &src);
    store_it(&mut src, &v2, "h2");
    src.set_tags(&DocKey::new("guide").unwrap(), &["pharmacology".into()]).unwrap();
    let verdict = Feedback {
        id: 0,
        question: "q?".into(),
        answer: "a.".into(),
        verdict: Verdict::Prefer { rejected: "b.".into() },
        cited: vec!["x".into()],
        at: 3,
    };
    src.record_feedback(&verdict).unwrap();
    let vector = [0.25f32, -1.5, 3.0e-7];
    src.put_embeddings("model-a", &[(u64::MAX - 1, &vector[..])]).unwrap();
    let key = DocKey::new("guide").unwrap();
    let old_id = v2.changes.changed[0].0.clone();
    for t in targets() {
        let mut dst = t.open();
        let report = src.copy_to(&mut dst).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert_eq!((report.documents, report.verified, report.feedback), (1, 1, 1), "{}", t.name);
        assert_eq!(report.nodes, v2.tree.nodes.len());
        assert_eq!(report.retired, 1, "{}", t.name);
        assert_eq!(report.log, 3, "{}: two ingests and the tags", t.name);
        assert_eq!((report.embeddings, report.originals), (1, 1), "{}", t.name);
        assert_eq!(dst.original(&key).unwrap(), Some(original_of("h2")), "{}", t.name);
        assert_eq!(dst.embeddings("model-a", &[u64::MAX - 1]).unwrap()[&(u64::MAX - 1)], vector, "{}", t.name);
        assert!(src.copy_to(&mut dst).is_err(), "{}: a non-empty target is refused", t.name);
        // And back into a fresh SQLite knowledge base.
        let back_dir = tempfile::tempdir().unwrap();
        let mut back = Store::open(back_dir.path()).unwrap();
        dst.copy_to(&mut back).unwrap();
        assert_eq!(back.load(&key).unwrap().tree, v2.tree, "{}", t.name);
        assert_eq!(back.document(&key).unwrap().unwrap().tags, vec!["pharmacology"]);
        match back.resolve(&NodeRef::Stable(old_id.clone())).unwrap().unwrap() {
            Resolved::Retired(r) => assert_eq!(r.current.unwrap().text, "Clarithromycin inhibits CYP3A4."),
            other => panic!("{}: {other:?}", t.name),
        }
        assert_eq!(back.feedback().unwrap()[0].verdict, verdict.verdict, "{}", t.name);
        assert_eq!(back.embeddings("model-a", &[u64::MAX - 1]).unwrap()[&(u64::MAX - 1)], vector, "{}", t.name);
    }
}

/// A TCP proxy in front of a database server that the test can take down and bring back:
/// a server restart, as the store sees it, without disturbing other tests' connections.
#[cfg(feature = "servers")]
struct Proxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

#[cfg(feature = "servers")]
impl Proxy {
    fn start(upstream: String) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, live2) = (up.clone(), live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(client); // down: the connection closes at once
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else { continue };
                let pipe = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                let mut held = live2.lock().unwrap();
                held.push(client.try_clone().unwrap());
                held.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy { port, up, live }
    }

    /// The server goes away: open connections are cut, new ones are closed at once.
    fn down(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn up(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(feature = "servers")]
#[test]
fn a_server_outage_fails_fast_loses_nothing_and_recovers_by_itself() {
    for t in targets() {
        let StoreUrl::Server(url) = &t.url else { continue };
        // Route the store through the proxy: same database, the proxy's port.
        let at = url.rfind('@').unwrap();
        let slash = at + url[at..].find('/').unwrap();
        let upstream = url[at + 1..slash].to_owned();
        let proxy = Proxy::start(upstream);
        let via = format!("{}127.0.0.1:{}{}", &url[..=at], proxy.port, &url[slash..]);
        let mut store = Store::open_url(&StoreUrl::Server(via), t.dir.path()).unwrap();
        let v1 = parse(V1, None, &store);
        store_it(&mut store, &v1, "h1");
        let v2 = parse(&V1.replace("strongly inhibits", "inhibits"), Some(&v1), &store);

        proxy.down();
        let started = std::time::Instant::now();
        let err = store.documents().unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{}: {err}", t.name);
        let refused = apply_to(&mut store, &v2, "h2", &[], Some(1));
        assert!(matches!(refused, Err(StoreError::Unavailable { .. })), "{}: {refused:?}", t.name);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{}: failing took {:?}",
            t.name,
            started.elapsed()
        );

        proxy.up();
        // The next call reconnects by itself; nothing acknowledged was lost.
        let key = DocKey::new("guide").unwrap();
        assert_eq!(store.load(&key).unwrap().tree, v1.tree, "{}", t.name);
        assert_eq!(store.document(&key).unwrap().unwrap().version, 1, "{}: the refused update left no trace", t.name);
        let report = store_it(&mut store, &v2, "h2");
        assert_eq!(report.version, 2, "{}", t.name);
    }
}

#[test]
fn jobs_are_claimed_once_each_by_concurrent_workers_and_requeued_when_a_worker_stops() {
    use cairn_store::jobs::{JobRequest, JobStatus, MAX_ATTEMPTS};
    for t in targets() {
        let mut store = t.open();
        let request = |i: usize| JobRequest {
            name: format!("note-{i}.md"),
            key: None,
            encoding: None,
            payload: format!("# Note {i}\n\nText {i}.\n").into_bytes(),
        };
        let ids: Vec<i64> = (0..12).map(|i| store.enqueue(&request(i)).unwrap()).collect();
        assert!(store.enqueue(&JobRequest { payload: Vec::new(), ..request(99) }).is_err(), "{}", t.name);
        // Two workers, each on its own connection, claim concurrently.
        let workers: Vec<_> = ["w1", "w2"]
            .into_iter()
            .map(|w| {
                let mut s = t.open();
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(job) = s.claim(w, 3600).unwrap() {
                        assert_eq!(job.attempt, 1);
                        assert!(String::from_utf8(job.request.payload.clone()).unwrap().starts_with("# Note"));
                        s.finish(job.id, Ok(format!("{{\"by\":\"{w}\"}}"))).unwrap();
                        mine.push(job.id);
                    }
                    mine
                })
            })
            .collect();
        let mut claimed: Vec<i64> = workers.into_iter().flat_map(|h| h.join().unwrap()).collect();
        claimed.sort_unstable();
        assert_eq!(claimed, ids, "{}: every job claimed exactly once", t.name);
        let done = store.job(ids[0]).unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Done, "{}", t.name);
        assert!(done.result.unwrap().contains("\"by\""));
        assert!(store.job(-1).unwrap().is_none());

        // A worker that stops: its job goes back to the queue, up to MAX_ATTEMPTS.
        let id = store.enqueue(&request(50)).unwrap();
        let first = store.claim("dies", 3600).unwrap().unwrap();
        assert_eq!(first.id, id);
        assert!(store.claim("other", 3600).unwrap().is_none(), "{}: a running job is not claimed twice", t.name);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let again = store.claim("other", 0).unwrap().unwrap();
        assert_eq!((again.id, again.attempt), (id, 2), "{}: requeued after its worker stopped", t.name);
        for _ in 2..MAX_ATTEMPTS {
            std::thread::sleep(std::time::Duration::from_millis(1100));
            store.claim("other", 0).unwrap().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(store.claim("other", 0).unwrap().is_none(), "{}", t.name);
        let gave_up = store.job(id).unwrap().unwrap();
        assert_eq!(gave_up.status, JobStatus::Failed, "{}: {gave_up:?}", t.name);
        assert_eq!(gave_up.attempts, MAX_ATTEMPTS);
        assert_eq!(store.jobs(3).unwrap()[0].id, id, "{}: newest first", t.name);
    }
}

#[test]
fn two_writers_on_one_document_one_version_wins_and_ids_stay_consistent() {
    for t in targets() {
        // Two replicas create the same new document at once: one wins, one is refused.
        let (mut a, mut b) = (t.open(), t.open());
        let v1 = parse(V1, None, &a);
        let v1b = v1.clone();
        // Both computed the document as new (no stored version to replace).
        let first = std::thread::spawn(move || {
            let r = apply_to(&mut a, &v1, "h1", &[], None);
            (a, r.is_ok())
        });
        let second = std::thread::spawn(move || {
            let r = apply_to(&mut b, &v1b, "h1", &[], None);
            (b, r)
        });
        let (mut a, a_ok) = first.join().unwrap();
        let (b, b_result) = second.join().unwrap();
        assert!(a_ok != b_result.is_ok(), "{}: exactly one creation wins: {b_result:?}", t.name);
        if let Err(e) = &b_result {
            assert!(
                matches!(e, StoreError::Conflict { .. } | StoreError::Server { .. } | StoreError::Sqlite(_)),
                "{}: {e}",
                t.name
            );
        }
        let key = DocKey::new("guide").unwrap();
        assert_eq!(a.document(&key).unwrap().unwrap().version, 1, "{}", t.name);

        // Both edit version 1; the second edit is refused, not merged with stale IDs.
        let base = a.load(&key).unwrap().tree;
        let prev = cairn_ingest::Ingested { tree: base, ..parse(V1, None, &a) };
        let edit_a = parse(&V1.replace("strongly inhibits", "inhibits"), Some(&prev), &a);
        let edit_b = parse(&V1.replace("CYP2C9 metabolizes warfarin.", "CYP2C9 clears warfarin."), Some(&prev), &b);
        store_it(&mut a, &edit_a, "ha");
        let mut b = b;
        let refused = apply_to(&mut b, &edit_b, "hb", &[], Some(1));
        assert!(
            matches!(refused, Err(StoreError::Conflict { expected: Some(1), found: Some(2), .. })),
            "{}: {refused:?}",
            t.name
        );
        let stored = b.load(&key).unwrap().tree;
        assert_eq!(stored, edit_a.tree, "{}: the first edit stands, untouched", t.name);
        // No ID is both live and retired.
        for node in &stored.nodes {
            assert!(
                matches!(b.resolve(&NodeRef::Stable(node.id.clone())).unwrap(), Some(Resolved::Live(_))),
                "{}",
                t.name
            );
        }
    }
}

#[test]
fn a_postgres_follower_is_woken_by_a_change_not_by_its_poll() {
    for t in targets() {
        let writer_store = t.open();
        let listener = writer_store.change_listener();
        if t.name != "postgres" {
            assert!(!listener.is_notified(), "{}: only PostgreSQL announces changes", t.name);
            continue;
        }
        assert!(listener.is_notified());
        // The listener connects in the background: write until one write is announced.
        let mut store = t.open();
        let doc = parse(V1, None, &store);
        let started = std::time::Instant::now();
        let mut announced = false;
        for round in 0..20 {
            let text = V1.replace("simvastatin", &format!("simvastatin ({round})"));
            let edited = parse(&text, Some(&doc), &store);
            store_it(&mut store, &edited, &format!("h{round}"));
            if listener.wait(std::time::Duration::from_secs(2)) {
                announced = true;
                break;
            }
        }
        assert!(announced, "no notification within {:?}", started.elapsed());
        // A graph write is announced too.
        let mut graph = cairn_graph::GraphDb::open_on(store.connect_another("graph.sqlite").unwrap()).unwrap();
        let before = std::time::Instant::now();
        graph.execute("CREATE (:Ward {name: 'ward 7'})", &cairn_graph::Params::new()).unwrap();
        assert!(listener.wait(std::time::Duration::from_secs(10)), "the graph write was not announced");
        assert!(before.elapsed() < std::time::Duration::from_secs(5), "{:?}", before.elapsed());
        // Nothing else pending: the next wait times out.
        assert!(!listener.wait(std::time::Duration::from_millis(300)));
    }
}

#[test]
fn a_format_4_server_store_migrates_to_format_5_with_nothing_lost() {
    for t in targets().into_iter().filter(|t| t.name != "sqlite") {
        let mut store = t.open();
        let v1 = parse(V1, None, &store);
        store_it(&mut store, &v1, "h1");
        // Turn it back into format 4: no graph tables, no vectors, no triggers.
        let mut db = store.connect_another("graph.sqlite").unwrap();
        if t.name == "postgres" {
            db.exec("DROP TRIGGER ingest_log_notify ON ingest_log", &[]).unwrap();
            db.exec("DROP TRIGGER graph_meta_notify ON graph_meta", &[]).unwrap();
            db.exec("DROP FUNCTION cairn_notify_change()", &[]).unwrap();
        }
        for table in ["originals", "graph_meta", "graph_nodes", "graph_rels", "graph_indexes", "embeddings"] {
            db.exec(&format!("DROP TABLE {table}"), &[]).unwrap();
        }
        db.exec("UPDATE meta SET value = '4' WHERE key = 'format_version'", &[]).unwrap();
        drop((db, store));
        let store = t.open();
        let mut db = store.connect_another("graph.sqlite").unwrap();
        let version = cairn_store::sql::row(db.as_mut(), "SELECT value FROM meta WHERE key = 'format_version'", &[])
            .unwrap()
            .unwrap()
            .text(0)
            .unwrap();
        assert_eq!(version, cairn_store::FORMAT_VERSION.to_string(), "{}", t.name);
        assert_eq!(store.load(&DocKey::new("guide").unwrap()).unwrap().tree, v1.tree, "{}: nothing lost", t.name);
        assert_eq!(store.original(&DocKey::new("guide").unwrap()).unwrap(), None, "{}", t.name);
        let mut graph = cairn_graph::GraphDb::open_on(db).unwrap();
        graph.execute("CREATE (:Drug {name: 'warfarin'})", &cairn_graph::Params::new()).unwrap();
        assert_eq!(graph.generation(), 1, "{}", t.name);
        store.put_embeddings("m", &[(1, &[1.0f32][..])]).unwrap();
        assert_eq!(store.embedding_count(None).unwrap(), 1, "{}", t.name);
    }
}
