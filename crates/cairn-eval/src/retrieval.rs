//! Retrieval quality of `search` per mode on dossier-bench's queries, at document level
//! (the set labels documents): recall@k with the set's own k, and nDCG@10 over the
//! documents of the ranked paragraphs (each document counted at its best rank), beside the
//! `bm25s` peer on the same paragraphs and queries.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use cairn_engine::{FileOutcome, Kb, SearchMode, SearchOptions, Settings};
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
    for (mode, rerank) in runs {
        let (mut recall, mut ndcg) = (0.0, 0.0);
        for q in &case.queries {
            let options = SearchOptions { mode, k: 50, rerank: Some(rerank), ..SearchOptions::default() };
            let (results, _) = kb.search(&q.query, &options)?;
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
    Ok(scores)
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
