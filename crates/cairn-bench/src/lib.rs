//! # cairn-bench
//!
//! `cairn bench`: measures Cairn on a deterministic generated corpus (about 1,000 pages)
//! and compares its BM25 with a named peer, `bm25s` (PyPI), on the same paragraphs and
//! queries in the same run:
//!
//! * ingestion throughput (MB/s) and peak memory;
//! * `ask` latency (navigation + extractive answer + citation verification), p50 and p99;
//! * BM25 top-10 query latency (analysis + search), p50 and p99, against bm25s;
//! * edit-to-findable: the time from re-ingesting a 1,000-page Markdown file with one
//!   edited paragraph until `ask` cites the new text, and the rows that update wrote.
//!
//! Timings are wall-clock on one thread; run with `RAYON_NUM_THREADS=1`.

pub mod corpus;
pub mod formats;
#[cfg(feature = "gguf")]
pub mod gguf;
pub mod graph;
pub mod vectors;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cairn_core::NoEvents;
use cairn_engine::{AskOptions, FileOutcome, Kb, Settings};
use cairn_text::Analyzer;
use serde::Serialize;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Total pages of the multi-document corpus (and of the single edit document).
    pub pages: usize,
    /// Number of documents the corpus is split into.
    pub docs: usize,
    /// Number of queries.
    pub queries: usize,
    /// Where corpus files and peer inputs are written.
    pub out: PathBuf,
    /// Run the bm25s peer (needs `python3` with `bm25s`).
    pub peer: bool,
    /// The store (`store` setting; empty: SQLite in a temporary folder). A server store
    /// must be empty.
    pub store: String,
    /// The search cache (`cache` setting; empty: in-process, or `redis://…`).
    pub cache: String,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct Latency {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
}

impl Latency {
    pub(crate) fn of(mut samples: Vec<f64>) -> Latency {
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples.get(((samples.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
        Latency { p50_ms: at(0.5), p99_ms: at(0.99), mean_ms: mean }
    }
}

/// The bm25s peer's figures.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PeerReport {
    /// Peer name and version.
    pub peer: String,
    /// Seconds to tokenise and index.
    pub index_seconds: f64,
    /// Median per-query latency (tokenise + retrieve top 10), ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Top-10 paragraph IDs per query.
    #[serde(default, skip_serializing)]
    pub results: Vec<Vec<String>>,
}

/// Everything `cairn bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Pages generated.
    pub pages: usize,
    /// Documents.
    pub documents: usize,
    /// Corpus size in bytes.
    pub bytes: usize,
    /// Paragraphs indexed.
    pub paragraphs: u64,
    /// Seconds to ingest the corpus into an empty knowledge base.
    pub ingest_seconds: f64,
    /// Ingestion throughput.
    pub ingest_mb_per_s: f64,
    /// Seconds to re-ingest the unchanged corpus (hash check only).
    pub reingest_unchanged_seconds: f64,
    /// Peak resident memory of the process, MB.
    pub peak_rss_mb: f64,
    /// `ask` latency.
    pub ask: Latency,
    /// Share of asks that answered (did not abstain).
    pub answered: f64,
    /// Cairn BM25 top-10 latency.
    pub bm25: Latency,
    /// Seconds for Cairn to analyse every paragraph and build its BM25 index from the
    /// same texts the peers index (no parsing, no store).
    pub bm25_index_seconds: f64,
    /// The bm25s peer, when it ran.
    pub bm25s: Option<PeerReport>,
    /// The tantivy-py peer, when it ran.
    pub tantivy: Option<PeerReport>,
    /// Why the tantivy peer did not run, if it did not.
    pub tantivy_note: Option<String>,
    /// Why the peer did not run, if it did not.
    pub peer_note: Option<String>,
    /// Mean overlap of the two top-10 lists (|A∩B|/10).
    pub top10_overlap: Option<f64>,
    /// Size of the single document used for edits, bytes.
    pub edit_doc_bytes: usize,
    /// Seconds to ingest that document first.
    pub edit_doc_ingest_seconds: f64,
    /// Per trial: milliseconds from starting the re-ingest until `ask` cites the new text.
    pub edit_to_findable_ms: Vec<f64>,
    /// Node rows written by each edit's update.
    pub edit_rows_written: Vec<usize>,
    /// Vector search against hnswlib/faiss.
    pub vectors: Option<vectors::VectorReport>,
    /// Latency of a cached `search` (a repeated query).
    pub cache_hit: Latency,
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn io(e: std::io::Error) -> cairn_engine::EngineError {
    cairn_engine::EngineError::Io { path: PathBuf::from("bench-out"), source: e }
}

/// Runs the benchmark.
pub fn run(options: &BenchOptions, progress: &mut dyn FnMut(&str)) -> cairn_engine::Result<BenchReport> {
    let corpus_dir = options.out.join("corpus");
    std::fs::create_dir_all(&corpus_dir).map_err(io)?;
    let per_doc = options.pages.div_ceil(options.docs.max(1));
    progress(&format!("generating {} pages in {} documents", options.pages, options.docs));
    let docs: Vec<String> = (0..options.docs)
        .map(|i| corpus::document(&format!("Generated Handbook {i}"), per_doc, 1000 + i as u64))
        .collect();
    let mut paths = Vec::new();
    for (i, text) in docs.iter().enumerate() {
        let path = corpus_dir.join(format!("handbook-{i:02}.md"));
        std::fs::write(&path, text).map_err(io)?;
        paths.push(path);
    }
    let bytes: usize = docs.iter().map(String::len).sum();
    let kb_dir = tempfile::tempdir().map_err(io)?;
    let settings = Settings { store: options.store.clone(), cache: options.cache.clone(), ..Settings::default() };
    let mut kb = Kb::open(kb_dir.path(), settings)?;
    if !kb.list()?.is_empty() {
        return Err(cairn_engine::EngineError::Setting {
            name: "store".into(),
            reason: "the benchmark needs an empty store (create a fresh database)".into(),
        });
    }

    progress("ingesting");
    let started = Instant::now();
    for path in &paths {
        kb.ingest_file(path, None, None)?;
    }
    let ingest_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for path in &paths {
        kb.ingest_file(path, None, None)?;
    }
    let reingest_unchanged_seconds = started.elapsed().as_secs_f64();

    let queries = corpus::queries(&docs, options.queries, 7);
    progress(&format!("asking {} questions", queries.len()));
    let mut ask_ms = Vec::new();
    let mut answered = 0;
    for q in &queries {
        let t = Instant::now();
        let asked = kb.ask(q, &AskOptions::default(), &mut NoEvents)?;
        ask_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        answered += usize::from(asked.answer.abstention().is_none());
    }

    progress("timing BM25");
    let index = kb.corpus().index();
    let mut bm25_ms = Vec::new();
    let mut ours: Vec<Vec<String>> = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let query = index.query(&Analyzer.terms(q));
        let hits = index.top_paragraphs(&query, 10, None);
        bm25_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        ours.push(
            hits.iter()
                .filter_map(|h| {
                    let d = kb.corpus().doc_of_slot(h.slot)?;
                    Some(kb.corpus().docs()[d].tree.nodes[h.node as usize].id.to_string())
                })
                .collect(),
        );
    }
    progress("timing Cairn's BM25 index build on the peers' paragraphs");
    let bm25_index_seconds = index_build_seconds(&kb);
    let (tantivy, tantivy_note) = if options.peer {
        write_peer_inputs(&kb, &queries, &options.out).map_err(io)?;
        progress("running the tantivy peer");
        match run_peer(&options.out, "tantivy_peer.py", "pip install tantivy") {
            Ok(p) => (Some(p), None),
            Err(note) => (None, Some(note)),
        }
    } else {
        (None, Some("peer skipped (--no-peer)".into()))
    };
    let (bm25s, peer_note, top10_overlap) = if options.peer {
        progress("running the bm25s peer");
        match run_peer(&options.out, "bm25s_peer.py", "pip install bm25s PyStemmer") {
            Ok(peer) => {
                let overlap = ours
                    .iter()
                    .zip(&peer.results)
                    .map(|(a, b)| a.iter().filter(|id| b.contains(id)).count() as f64 / 10.0)
                    .sum::<f64>()
                    / ours.len().max(1) as f64;
                (Some(peer), None, Some(overlap))
            }
            Err(note) => (None, Some(note), None),
        }
    } else {
        (None, Some("peer skipped (--no-peer)".into()), None)
    };
    let paragraphs = kb.corpus().index().paragraphs();
    progress("timing cache hits");
    let search = cairn_engine::SearchOptions { mode: cairn_engine::SearchMode::Bm25, ..Default::default() };
    for q in &queries {
        kb.search(q, &search)?;
    }
    let mut cache_ms = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let (_, cached) = kb.search(q, &search)?;
        cache_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if !cached {
            return Err(cairn_engine::EngineError::Setting {
                name: "bench".into(),
                reason: "a repeated search missed the cache".into(),
            });
        }
    }
    progress("vector search against hnswlib/faiss (10,000 × 384)");
    let vectors = Some(vectors::run(10_000, 384, queries.len(), &options.out, options.peer).map_err(io)?);

    progress(&format!("edit-to-findable on one {}-page document", options.pages));
    let edit_doc = corpus::document("Single Large Handbook", options.pages, 99);
    let edit_path = corpus_dir.join("large-single.md");
    std::fs::write(&edit_path, &edit_doc).map_err(io)?;
    let t = Instant::now();
    kb.ingest_file(&edit_path, None, None)?;
    let edit_doc_ingest_seconds = t.elapsed().as_secs_f64();
    let (edit_to_findable_ms, edit_rows_written) = edits(&mut kb, &edit_path, &edit_doc)?;

    Ok(BenchReport {
        pages: options.pages,
        documents: docs.len(),
        bytes,
        paragraphs,
        ingest_seconds,
        ingest_mb_per_s: bytes as f64 / 1e6 / ingest_seconds,
        reingest_unchanged_seconds,
        peak_rss_mb: peak_rss_mb(),
        ask: Latency::of(ask_ms),
        answered: answered as f64 / queries.len().max(1) as f64,
        bm25: Latency::of(bm25_ms),
        bm25_index_seconds,
        bm25s,
        tantivy,
        tantivy_note,
        peer_note,
        top10_overlap,
        edit_doc_bytes: edit_doc.len(),
        edit_doc_ingest_seconds,
        edit_to_findable_ms,
        edit_rows_written,
        vectors,
        cache_hit: Latency::of(cache_ms),
    })
}

fn edits(kb: &mut Kb, path: &Path, original: &str) -> cairn_engine::Result<(Vec<f64>, Vec<usize>)> {
    let paragraphs: Vec<&str> = original.split("\n\n").filter(|p| !p.starts_with('#') && !p.is_empty()).collect();
    let mut text = original.to_owned();
    let (mut times, mut rows) = (Vec::new(), Vec::new());
    for trial in 0..5 {
        let target = paragraphs[(trial * 7919 + 101) % paragraphs.len()];
        let marker = format!("zqxedit{trial}");
        let edited = format!("{} Revised note {marker} applies.", target.trim_end());
        text = text.replacen(target, &edited, 1);
        std::fs::write(path, &text).map_err(io)?;
        let t = Instant::now();
        let outcome = kb.ingest_file(path, None, None)?;
        let asked = kb.ask(&marker, &AskOptions::default(), &mut NoEvents)?;
        let found = asked.answer.claims().iter().any(|c| c.text.contains(&marker));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if !found {
            return Err(cairn_engine::EngineError::Setting {
                name: "bench".into(),
                reason: format!("edited text {marker} was not findable after re-ingest"),
            });
        }
        if let FileOutcome::Stored(v) = outcome {
            rows.push(v.rows_written);
        }
    }
    Ok((times, rows))
}

fn write_peer_inputs(kb: &Kb, queries: &[String], out: &Path) -> std::io::Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(out.join("paragraphs.jsonl"))?);
    for doc in kb.corpus().docs() {
        for node in doc.tree.nodes.iter().filter(|n| n.kind == cairn_core::NodeKind::Paragraph) {
            serde_json::to_writer(&mut file, &serde_json::json!({"id": node.id, "text": node.text}))?;
            writeln!(file)?;
        }
    }
    std::fs::write(out.join("queries.txt"), queries.join("\n") + "\n")
}

/// Analyses every paragraph and builds a fresh BM25 index from the terms, one segment per
/// document, as ingest does; the like-for-like counterpart of the peers' indexing time.
fn index_build_seconds(kb: &Kb) -> f64 {
    let started = Instant::now();
    let mut index = cairn_index::LexicalIndex::default();
    for doc in kb.corpus().docs() {
        let nodes: Vec<cairn_index::NodeTerms> = doc
            .tree
            .nodes
            .iter()
            .map(|n| cairn_index::NodeTerms {
                field: if n.kind == cairn_core::NodeKind::Paragraph {
                    cairn_index::Field::Body
                } else {
                    cairn_index::Field::Heading
                },
                terms: Analyzer.terms(&n.text).join(" "),
            })
            .collect();
        index.replace(doc.tree.key.as_str(), &nodes);
    }
    std::hint::black_box(index.paragraphs());
    started.elapsed().as_secs_f64()
}

fn run_peer(out: &Path, script: &str, install: &str) -> Result<PeerReport, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench").join(script);
    let output = Command::new("python3")
        .arg(&script)
        .arg(out)
        .env("OMP_NUM_THREADS", "1")
        .env("NUMBA_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("peer failed ({install}): {}", stderr.lines().last().unwrap_or("")));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("peer printed something unexpected: {e}"))
}
