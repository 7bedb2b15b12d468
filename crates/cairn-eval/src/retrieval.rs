//! Retrieval quality of `search` per mode on dossier-bench's queries, at document level
//! (the set labels documents): recall@k with the set's own k, and nDCG@10 over the
//! documents of the ranked paragraphs (each document counted at its best rank), beside the
//! `bm25s` peer on the same paragraphs and queries.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use cairn_engine::{FileOutcome, Kb, QueryKind, SearchMode, SearchOptions, Settings};
use serde::Serialize;

use crate::dossier::{Case, EvalError, Result};

/// Scores of one retriever on one case.
#[derive(Debug, Clone, Serialize)]
pub struct ModeScore {
    /// `bm25`, `dense`, `hybrid` or the peer's name.
    pub system: String,
    /// Queries.
    pub queries: usize,
    /// Mean recall@k (share of expected documents among the top k documents).
    pub recall: f64,
    /// Mean nDCG@10.
    pub ndcg10: f64,
}

/// Documents in the order their best paragraph ranks.
fn doc_ranking(docs: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in docs {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// (recall@k, nDCG@10) of one ranked document list.
pub fn score(ranking: &[String], expect: &[String], k: usize) -> (f64, f64) {
    let found = expect.iter().filter(|e| ranking.iter().take(k).any(|d| d == *e)).count();
    let recall = found as f64 / expect.len().max(1) as f64;
    let dcg: f64 = ranking
        .iter()
        .take(10)
        .enumerate()
        .filter(|(_, d)| expect.contains(d))
        .map(|(i, _)| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    let ideal: f64 = (0..expect.len().min(10)).map(|i| 1.0 / (i as f64 + 2.0).log2()).sum();
    (recall, if ideal > 0.0 { dcg / ideal } else { 0.0 })
}

/// Runs bm25, dense (when the settings name an embedding model) and hybrid search on a case,
/// and each peer script that is given and runs (bm25s; MiniLM + faiss).
pub fn run_modes(case: &Case, settings: &Settings, peer_scripts: &[&Path]) -> Result<Vec<ModeScore>> {
    Ok(run_modes_with_lists(case, settings, peer_scripts)?.0)
}

/// One query's paragraph rankings from each retriever (paragraph ID and document, best
/// first), kept for learning fusion weights.
#[derive(Debug, Clone)]
pub struct QueryLists {
    /// The query.
    pub query: String,
    /// Its kind.
    pub kind: QueryKind,
    /// BM25's ranking.
    pub bm25: Vec<(String, String)>,
    /// Dense retrieval's ranking.
    pub dense: Vec<(String, String)>,
    /// Expected documents.
    pub expect: Vec<String>,
    /// The query's recall cut-off.
    pub k: usize,
}

/// [`run_modes`], also returning each query's BM25 and dense rankings (empty without an
/// embedding model).
pub fn run_modes_with_lists(
    case: &Case,
    settings: &Settings,
    peer_scripts: &[&Path],
) -> Result<(Vec<ModeScore>, Vec<QueryLists>)> {
    let dir = tempfile::tempdir().map_err(|source| EvalError::Io { path: std::env::temp_dir(), source })?;
    let mut kb = Kb::open(dir.path(), settings.clone())?;
    for (key, path) in &case.docs {
        let key = cairn_core::DocKey::new(key).ok();
        if let FileOutcome::Failed { error, .. } = kb.ingest_file(path, key, None)? {
            tracing::warn!(path = %path.display(), error, "document not ingested");
        }
    }
    let mut modes = vec![SearchMode::Bm25];
    if kb.dense_available() {
        modes.extend([SearchMode::Dense, SearchMode::Hybrid]);
    }
    // With a reranking model, the best first stage once more with the model's reranking.
    let mut runs: Vec<(SearchMode, bool)> = modes.iter().map(|m| (*m, false)).collect();
    if settings.rerank.is_some() {
        runs.push((*modes.last().unwrap_or(&SearchMode::Bm25), true));
    }
    let mut scores = Vec::new();
    let mut lists: Vec<QueryLists> = case
        .queries
        .iter()
        .map(|q| QueryLists {
            query: q.query.clone(),
            kind: QueryKind::of(&q.query),
            bm25: Vec::new(),
            dense: Vec::new(),
            expect: q.expect.clone(),
            k: q.k,
        })
        .collect();
    for (mode, rerank) in runs {
        let (mut recall, mut ndcg) = (0.0, 0.0);
        for (qi, q) in case.queries.iter().enumerate() {
            let options = SearchOptions { mode, k: 50, rerank: Some(rerank), ..SearchOptions::default() };
            let (results, _) = kb.search(&q.query, &options)?;
            let ranked = || results.hits.iter().map(|h| (h.id.to_string(), h.doc.clone())).collect();
            match (mode, rerank) {
                (SearchMode::Bm25, false) => lists[qi].bm25 = ranked(),
                (SearchMode::Dense, false) => lists[qi].dense = ranked(),
                _ => {}
            }
            let ranking = doc_ranking(results.hits.iter().map(|h| h.doc.clone()));
            let (r, n) = score(&ranking, &q.expect, q.k);
            recall += r;
            ndcg += n;
        }
        let n = case.queries.len().max(1) as f64;
        let label = format!("{mode:?}").to_lowercase();
        scores.push(ModeScore {
            system: if rerank { format!("{label} + rerank") } else { label },
            queries: case.queries.len(),
            recall: recall / n,
            ndcg10: ndcg / n,
        });
    }
    for script in peer_scripts {
        match run_peer(&kb, case, script) {
            Ok(peer) => scores.push(peer),
            Err(note) => tracing::warn!(note, script = %script.display(), "peer did not run"),
        }
    }
    if !kb.dense_available() {
        lists.clear();
    }
    Ok((scores, lists))
}

/// (BM25, dense) weights tried per query kind: BM25 alone, then rising dense weights, then
/// dense alone.
pub const WEIGHTS: [(f32, f32); 12] = [
    (1.0, 0.0),
    (1.0, 0.25),
    (1.0, 0.5),
    (1.0, 0.75),
    (1.0, 1.0),
    (1.0, 1.5),
    (1.0, 2.0),
    (1.0, 4.0),
    (1.0, 8.0),
    (1.0, 16.0),
    (1.0, 64.0),
    (0.0, 1.0),
];

/// Document-fusion weights tried once the per-kind pair is learnt (0 = paragraphs only).
pub const DOC_WEIGHTS: [f32; 6] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0];

/// Reciprocal rank fusion of two paragraph rankings (`k` = 60), as documents.
pub fn fuse(l: &QueryLists, bm25_weight: f32, dense_weight: f32) -> Vec<String> {
    fuse_with_docs(l, bm25_weight, dense_weight, 0.0)
}

/// [`fuse`], plus `doc_weight` times the same fusion of the two document rankings (each
/// document at its best paragraph's rank) added to each paragraph: the engine's
/// `doc_fusion` (`cairn_index::fusion::with_documents`).
pub fn fuse_with_docs(l: &QueryLists, bm25_weight: f32, dense_weight: f32, doc_weight: f32) -> Vec<String> {
    let inputs = [(&l.bm25, bm25_weight), (&l.dense, dense_weight)];
    let mut score: Vec<(String, String, f32)> = Vec::new();
    for (list, w) in inputs {
        for (rank, (id, doc)) in list.iter().enumerate() {
            let gain = w / (60.0 + rank as f32 + 1.0);
            match score.iter_mut().find(|(i, ..)| i == id) {
                Some(e) => e.2 += gain,
                None => score.push((id.clone(), doc.clone(), gain)),
            }
        }
    }
    if doc_weight > 0.0 {
        let mut docs: std::collections::HashMap<String, f32> = std::collections::HashMap::new();
        for (list, w) in inputs {
            for (rank, doc) in doc_ranking(list.iter().map(|(_, d)| d.clone())).into_iter().enumerate() {
                *docs.entry(doc).or_default() += w / (60.0 + rank as f32 + 1.0);
            }
        }
        for e in &mut score {
            e.2 += doc_weight * docs.get(e.1.as_str()).copied().unwrap_or(0.0);
        }
    }
    score.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    doc_ranking(score.into_iter().map(|(_, d, _)| d))
}

/// Mean (recall@k, nDCG@10) of `queries` fused with per-kind weights.
fn mean_scores(queries: &[&QueryLists], weights: &dyn Fn(QueryKind) -> (f32, f32)) -> (f64, f64) {
    mean_scores_docs(queries, weights, 0.0)
}

/// [`mean_scores`] with document fusion.
fn mean_scores_docs(queries: &[&QueryLists], weights: &dyn Fn(QueryKind) -> (f32, f32), doc: f32) -> (f64, f64) {
    let (mut r, mut n) = (0.0, 0.0);
    for q in queries {
        let (b, d) = weights(q.kind);
        let (a, c) = score(&fuse_with_docs(q, b, d, doc), &q.expect, q.k);
        r += a;
        n += c;
    }
    let count = queries.len().max(1) as f64;
    (r / count, n / count)
}

/// Learnt fusion weights and their held-out scores.
#[derive(Debug, Clone, Serialize)]
pub struct FusionReport {
    /// The learnt `fusion_weights` setting.
    pub learned: String,
    /// The learnt `doc_fusion` setting.
    pub doc_fusion: f32,
    /// Queries per kind on the development split.
    pub dev_queries: Vec<(String, usize)>,
    /// Scores on the test split: BM25 alone, dense alone, the default fusion (1 : 0.5) and
    /// the learnt weights.
    pub test: Vec<ModeScore>,
}

/// Learns fusion weights per query kind on the development split (every other query,
/// starting with the first) by mean nDCG@10 (ties go to the pair nearest the default)
/// and reports the test split (the other queries), which nothing was tuned on.
pub fn learn_fusion(lists: &[QueryLists], default_dense: f32) -> FusionReport {
    let dev: Vec<&QueryLists> = lists.iter().step_by(2).collect();
    let test: Vec<&QueryLists> = lists.iter().skip(1).step_by(2).collect();
    let mut learned = Vec::new();
    let mut dev_queries = Vec::new();
    for kind in QueryKind::ALL {
        let of_kind: Vec<&QueryLists> = dev.iter().copied().filter(|q| q.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        dev_queries.push((kind.to_string(), of_kind.len()));
        // Ties go to the pair nearest the default.
        let distance = |(b, d): (f32, f32)| (b - 1.0).abs() + (d - default_dense).abs();
        let mut best = (f64::MIN, (1.0, default_dense));
        for pair in WEIGHTS {
            let (_, ndcg) = mean_scores(&of_kind, &|_| pair);
            let better = ndcg > best.0 + 1e-9 || ((ndcg - best.0).abs() <= 1e-9 && distance(pair) < distance(best.1));
            if better {
                best = (ndcg, pair);
            }
        }
        learned.push((kind, best.1.0, best.1.1));
    }
    let weights = cairn_engine::KindWeights(learned);
    let learnt = |k| weights.get(k).unwrap_or((1.0, default_dense));
    // Then one document-fusion weight for all kinds, on the same development split (ties
    // go to the smaller weight).
    let mut doc_fusion = (f64::MIN, 0.0);
    for w in DOC_WEIGHTS {
        let (_, ndcg) = mean_scores_docs(&dev, &learnt, w);
        if ndcg > doc_fusion.0 + 1e-9 {
            doc_fusion = (ndcg, w);
        }
    }
    let doc_fusion = doc_fusion.1;
    let row = |system: &str, f: &dyn Fn(QueryKind) -> (f32, f32), doc: f32| {
        let (recall, ndcg10) = mean_scores_docs(&test, f, doc);
        ModeScore { system: system.to_owned(), queries: test.len(), recall, ndcg10 }
    };
    let test = vec![
        row("bm25 (test split)", &|_| (1.0, 0.0), 0.0),
        row("dense (test split)", &|_| (0.0, 1.0), 0.0),
        row(&format!("hybrid 1:{default_dense} (test split)"), &|_| (1.0, default_dense), 0.0),
        row("hybrid, learnt per kind (test split)", &learnt, 0.0),
        row(&format!("hybrid, learnt per kind + doc_fusion {doc_fusion} (test split)"), &learnt, doc_fusion),
    ];
    FusionReport { learned: weights.to_string(), doc_fusion, dev_queries, test }
}

fn run_peer(kb: &Kb, case: &Case, script: &Path) -> std::result::Result<ModeScore, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut file = std::fs::File::create(dir.path().join("paragraphs.jsonl")).map_err(|e| e.to_string())?;
    for doc in kb.corpus().docs() {
        for node in doc.tree.nodes.iter().filter(|n| n.kind == cairn_core::NodeKind::Paragraph) {
            let line = serde_json::json!({"id": doc.tree.key.as_str(), "text": node.text});
            writeln!(file, "{line}").map_err(|e| e.to_string())?;
        }
    }
    let queries: Vec<&str> = case.queries.iter().map(|q| q.query.as_str()).collect();
    std::fs::write(dir.path().join("queries.txt"), queries.join("\n") + "\n").map_err(|e| e.to_string())?;
    let out = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .arg("50")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("failed").to_owned());
    }
    #[derive(serde::Deserialize)]
    struct Peer {
        peer: String,
        results: Vec<Vec<String>>,
    }
    let peer: Peer = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let (mut recall, mut ndcg) = (0.0, 0.0);
    for (q, ids) in case.queries.iter().zip(&peer.results) {
        let (r, n) = score(&doc_ranking(ids.iter().cloned()), &q.expect, q.k);
        recall += r;
        ndcg += n;
    }
    let n = case.queries.len().max(1) as f64;
    Ok(ModeScore { system: peer.peer, queries: case.queries.len(), recall: recall / n, ndcg10: ndcg / n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(query: &str, bm25: &[&str], dense: &[&str], expect: &str) -> QueryLists {
        let ranked =
            |docs: &[&str]| docs.iter().enumerate().map(|(i, d)| (format!("p{i}{d}"), d.to_string())).collect();
        QueryLists {
            query: query.into(),
            kind: QueryKind::of(query),
            bm25: ranked(bm25),
            dense: ranked(dense),
            expect: vec![expect.into()],
            k: 1,
        }
    }

    #[test]
    fn fusion_weights_are_learnt_per_kind_on_dev_and_reported_on_test() {
        // English keywords: BM25 is right, dense wrong. Chinese questions: the reverse.
        let mut all = Vec::new();
        // Each kind twice in a row, so both splits hold both kinds.
        for _ in 0..2 {
            for _ in 0..2 {
                all.push(lists("power supply", &["a", "b", "c"], &["b", "c", "a"], "a"));
            }
            for _ in 0..2 {
                all.push(lists("房东扣了押金怎么办？", &["x", "y", "z"], &["z", "x", "y"], "z"));
            }
        }
        let report = learn_fusion(&all, 0.5);
        let w = cairn_engine::KindWeights::parse(&report.learned).unwrap();
        let (eb, ed) = w.get(QueryKind::EnKeywords).unwrap();
        let (zb, zd) = w.get(QueryKind::ZhQuestion).unwrap();
        assert!(ed < eb, "BM25 must dominate English keywords: {}", report.learned);
        assert!(zd > zb, "dense must dominate Chinese questions: {}", report.learned);
        let learnt = &report.test[3];
        assert_eq!(learnt.queries, 4);
        assert!((learnt.ndcg10 - 1.0).abs() < 1e-9, "{:?}", report.test);
        assert!(report.test[0].ndcg10 < 1.0 && report.test[1].ndcg10 < 1.0, "neither part alone is perfect");
    }

    #[test]
    fn metrics_by_hand() {
        let ranking: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let (r, n) = score(&ranking, &["b".into()], 1);
        assert_eq!(r, 0.0);
        assert!((n - 1.0 / 3f64.log2()).abs() < 1e-9);
        let (r, n) = score(&ranking, &["a".into(), "c".into()], 3);
        assert_eq!(r, 1.0);
        let ideal = 1.0 + 1.0 / 3f64.log2();
        assert!((n - (1.0 + 1.0 / 4f64.log2()) / ideal).abs() < 1e-9);
        assert_eq!(doc_ranking(["x".to_string(), "y".into(), "x".into()]), vec!["x", "y"]);
    }
}
