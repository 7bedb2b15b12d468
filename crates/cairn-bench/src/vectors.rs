//! Vector search against a named peer (hnswlib, and faiss when installed) on the same
//! vectors and queries: latency and recall@10 against exact search, plus the cache-hit
//! latency of `search`.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cairn_index::vector::{ExactIndex, HnswIndex, VectorIndex, VectorKey};
use serde::{Deserialize, Serialize};

use crate::Latency;
use crate::corpus::Rng;

/// Vector-search figures.
#[derive(Debug, Clone, Serialize)]
pub struct VectorReport {
    /// Vectors indexed.
    pub vectors: usize,
    /// Dimensions.
    pub dim: usize,
    /// Seconds to build Cairn's HNSW index (usearch; M=16, ef_construction=128).
    pub hnsw_build_seconds: f64,
    /// Cairn HNSW top-10 latency (ef_search=64).
    pub hnsw: Latency,
    /// Cairn HNSW recall@10 against exact search.
    pub hnsw_recall: f64,
    /// Cairn exact (brute force) top-10 latency.
    pub exact: Latency,
    /// The peers, when they ran.
    pub peers: Vec<VectorPeer>,
    /// Why a peer did not run.
    pub peer_note: Option<String>,
}

/// One peer's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorPeer {
    /// Name and version.
    pub peer: String,
    /// Build seconds.
    pub build_seconds: f64,
    /// Median per-query latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Recall@10 against exact search.
    pub recall: f64,
}

/// Clustered random unit vectors (closer to real embeddings than uniform noise).
pub fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let mut uniform = move || (rng.next_u64() % 20_001) as f32 / 10_000.0 - 1.0;
    let centres: Vec<Vec<f32>> = (0..64).map(|_| (0..dim).map(|_| uniform()).collect()).collect();
    let mut pick = Rng::new(seed ^ 0x9e37);
    (0..n)
        .map(|_| {
            let c = &centres[pick.below(centres.len())];
            let v: Vec<f32> = c.iter().map(|x| x + 0.6 * uniform()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// Runs the vector benchmark; writes the peer's inputs under `out`.
pub fn run(n: usize, dim: usize, queries: usize, out: &Path, peer: bool) -> std::io::Result<VectorReport> {
    let data = vectors(n, dim, 5);
    let qs = vectors(queries, dim, 77);
    let mut exact = ExactIndex::new(dim);
    let err = |e: cairn_index::IndexError| std::io::Error::other(e.to_string());
    for (i, v) in data.iter().enumerate() {
        exact.upsert(VectorKey(i as u64), v).map_err(err)?;
    }
    let started = Instant::now();
    let mut hnsw = HnswIndex::new(dim).map_err(err)?;
    for (i, v) in data.iter().enumerate() {
        hnsw.upsert(VectorKey(i as u64), v).map_err(err)?;
    }
    let hnsw_build_seconds = started.elapsed().as_secs_f64();
    let (mut exact_ms, mut hnsw_ms, mut found) = (Vec::new(), Vec::new(), 0usize);
    let mut truth: Vec<Vec<u64>> = Vec::new();
    for q in &qs {
        let t = Instant::now();
        let e = exact.search(q, 10).map_err(err)?;
        exact_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let h = hnsw.search(q, 10).map_err(err)?;
        hnsw_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let keys: Vec<u64> = e.iter().map(|(k, _)| k.0).collect();
        found += h.iter().filter(|(k, _)| keys.contains(&k.0)).count();
        truth.push(keys);
    }
    let (peers, peer_note) = if peer {
        write_inputs(out, &data, &qs, &truth)?;
        match run_peer(out) {
            Ok(peers) => (peers, None),
            Err(note) => (Vec::new(), Some(note)),
        }
    } else {
        (Vec::new(), Some("peers skipped".into()))
    };
    Ok(VectorReport {
        vectors: n,
        dim,
        hnsw_build_seconds,
        hnsw: Latency::of(hnsw_ms),
        hnsw_recall: found as f64 / (qs.len() * 10).max(1) as f64,
        exact: Latency::of(exact_ms),
        peers,
        peer_note,
    })
}

fn write_inputs(out: &Path, data: &[Vec<f32>], qs: &[Vec<f32>], truth: &[Vec<u64>]) -> std::io::Result<()> {
    let write = |name: &str, rows: &[Vec<f32>]| -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(out.join(name))?);
        for row in rows {
            for x in row {
                f.write_all(&x.to_le_bytes())?;
            }
        }
        f.flush()
    };
    write("vectors.f32", data)?;
    write("queries.f32", qs)?;
    std::fs::write(out.join("truth.json"), serde_json::to_vec(truth).map_err(std::io::Error::other)?)
}

fn run_peer(out: &Path) -> Result<Vec<VectorPeer>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/vector_peer.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(out)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "vector peer failed (pip install hnswlib faiss-cpu): {}",
            stderr.lines().last().unwrap_or("")
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("vector peer printed something unexpected: {e}"))
}
