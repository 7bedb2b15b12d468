//! `cairn bench graph`: Cairn's property graph against kuzu and networkx (PyPI) on the
//! same generated graph and the same queries, in the same run.
//!
//! The graph: `nodes` nodes labelled `N` with an integer `id`, and `edges` directed `E`
//! relationships drawn with a preferential bias (a few hubs, many leaves). Measured:
//! load time (neo4j-admin CSV into memory, and into the SQLite-backed store), reachable
//! nodes within 1, 2 and 3 hops (`MATCH (a:N {id: $id})-[:E*1..k]->(b) RETURN
//! count(DISTINCT b)`, identical under trail and walk semantics, so all engines must agree)
//! and shortest-path length between random pairs.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cairn_graph::import::Importer;
use cairn_graph::{GraphDb, Params, Value};
use serde::{Deserialize, Serialize};

use crate::Latency;
use crate::corpus::Rng;

/// What to generate and how many queries to time.
#[derive(Debug, Clone)]
pub struct GraphBenchOptions {
    /// Nodes.
    pub nodes: usize,
    /// Relationships.
    pub edges: usize,
    /// Queries per measurement.
    pub queries: usize,
    /// Where the CSV files and the peer's output go.
    pub out: std::path::PathBuf,
    /// Run the kuzu/networkx peer script.
    pub peer: bool,
}

/// One engine's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineFigures {
    /// Engine and version.
    pub engine: String,
    /// Seconds to load the CSV files.
    pub load_seconds: f64,
    /// Per hop count 1, 2, 3: latency of the reachability query.
    pub hops: Vec<Latency>,
    /// Shortest-path latency.
    pub shortest: Latency,
    /// Answers (reachable counts per hop query, then shortest lengths), to compare.
    #[serde(default, skip_serializing)]
    pub answers: Vec<i64>,
}

/// The whole graph benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct GraphReport {
    /// Nodes.
    pub nodes: usize,
    /// Relationships.
    pub edges: usize,
    /// Cairn, loaded in memory.
    pub cairn: EngineFigures,
    /// Seconds to load into the SQLite-backed store (one transaction).
    pub cairn_persisted_load_seconds: f64,
    /// The peers that ran.
    pub peers: Vec<EngineFigures>,
    /// Whether every peer's answers equal Cairn's.
    pub answers_agree: Option<bool>,
    /// Why a peer did not run.
    pub peer_note: Option<String>,
}

fn io(e: std::io::Error) -> cairn_engine::EngineError {
    cairn_engine::EngineError::Io { path: "bench-out".into(), source: e }
}

/// Writes `nodes.csv` and `edges.csv` and the query parameters.
/// Start nodes for the hop queries and (from, to) pairs for shortest paths.
type Workload = (Vec<i64>, Vec<(i64, i64)>);

fn generate(options: &GraphBenchOptions) -> std::io::Result<Workload> {
    std::fs::create_dir_all(&options.out)?;
    let mut rng = Rng::new(0x6_7261_7068);
    let mut nodes = String::from("nid:ID,id:int,:LABEL\n");
    for i in 0..options.nodes {
        let _ = writeln!(nodes, "n{i},{i},N");
    }
    std::fs::write(options.out.join("nodes.csv"), nodes)?;
    let mut edges = String::from(":START_ID,:END_ID,:TYPE\n");
    let mut plain = String::from("src,dst\n");
    let mut targets: Vec<usize> = Vec::with_capacity(options.edges);
    for _ in 0..options.edges {
        let src = rng.below(options.nodes);
        // Half the ends follow earlier ends (rich get richer), half are uniform.
        let dst = if !targets.is_empty() && rng.below(2) == 0 {
            targets[rng.below(targets.len())]
        } else {
            rng.below(options.nodes)
        };
        targets.push(dst);
        let _ = writeln!(edges, "n{src},n{dst},E");
        let _ = writeln!(plain, "{src},{dst}");
    }
    std::fs::write(options.out.join("edges.csv"), edges)?;
    std::fs::write(options.out.join("edges-plain.csv"), plain)?;
    let starts: Vec<i64> = (0..options.queries).map(|_| rng.below(options.nodes) as i64).collect();
    let pairs: Vec<(i64, i64)> = (0..options.queries)
        .map(|_| {
            let a = rng.below(options.nodes);
            let b = (a + 1 + rng.below(options.nodes - 1)) % options.nodes;
            (a as i64, b as i64)
        })
        .collect();
    let params = serde_json::json!({ "starts": starts, "pairs": pairs });
    std::fs::write(options.out.join("graph-queries.json"), params.to_string())?;
    Ok((starts, pairs))
}

fn load(db: &mut GraphDb, out: &Path) -> cairn_engine::Result<()> {
    let nodes = std::fs::read_to_string(out.join("nodes.csv")).map_err(io)?;
    let edges = std::fs::read_to_string(out.join("edges.csv")).map_err(io)?;
    db.transaction(|g, j| {
        let mut importer = Importer::new();
        importer.csv(g, j, "nodes.csv", &nodes, "N")?;
        importer.csv(g, j, "edges.csv", &edges, "E")?;
        Ok(())
    })?;
    db.create_index("N", "id")?;
    Ok(())
}

fn int(r: &cairn_graph::QueryResult) -> i64 {
    match r.rows.first().and_then(|row| row.first()) {
        Some(Value::Int(i)) => *i,
        _ => -1,
    }
}

/// Runs the graph benchmark.
pub fn run(options: &GraphBenchOptions, progress: &mut dyn FnMut(&str)) -> cairn_engine::Result<GraphReport> {
    progress(&format!("generating {} nodes and {} relationships", options.nodes, options.edges));
    let (starts, pairs) = generate(options).map_err(io)?;
    progress("loading into Cairn (memory)");
    let mut db = GraphDb::in_memory();
    let t = Instant::now();
    load(&mut db, &options.out)?;
    let load_seconds = t.elapsed().as_secs_f64();
    progress("loading into Cairn (SQLite store)");
    let dir = tempfile::tempdir().map_err(io)?;
    let mut persisted = GraphDb::open(&dir.path().join("graph.sqlite"))?;
    let t = Instant::now();
    load(&mut persisted, &options.out)?;
    let cairn_persisted_load_seconds = t.elapsed().as_secs_f64();
    drop(persisted);

    let mut answers = Vec::new();
    let mut hops = Vec::new();
    for k in 1..=3 {
        progress(&format!("{k}-hop reachability"));
        let q = format!("MATCH (a:N {{id: $id}})-[:E*1..{k}]->(b) RETURN count(DISTINCT b)");
        let statement = GraphDb::prepare(&q)?;
        let mut ms = Vec::new();
        for &s in &starts {
            let params = Params::from([("id".to_owned(), Value::Int(s))]);
            let t = Instant::now();
            let r = db.query_statement(&statement, &params)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            answers.push(int(&r));
        }
        hops.push(Latency::of(ms));
    }
    progress("shortest paths");
    let statement = GraphDb::prepare(
        "MATCH (a:N {id: $a}), (b:N {id: $b}) OPTIONAL MATCH p = shortestPath((a)-[:E*..10]->(b)) RETURN length(p)",
    )?;
    let mut ms = Vec::new();
    for &(a, b) in &pairs {
        let params = Params::from([("a".to_owned(), Value::Int(a)), ("b".to_owned(), Value::Int(b))]);
        let t = Instant::now();
        let r = db.query_statement(&statement, &params)?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        answers.push(int(&r));
    }
    let cairn = EngineFigures {
        engine: format!("cairn-graph {}", env!("CARGO_PKG_VERSION")),
        load_seconds,
        hops,
        shortest: Latency::of(ms),
        answers,
    };
    let (peers, peer_note) = if options.peer {
        progress("running the kuzu and networkx peers");
        match run_peer(&options.out) {
            Ok(p) => (p, None),
            Err(e) => (Vec::new(), Some(e)),
        }
    } else {
        (Vec::new(), Some("peer skipped (--no-peer)".into()))
    };
    let answers_agree = (!peers.is_empty()).then(|| peers.iter().all(|p| p.answers == cairn.answers));
    Ok(GraphReport {
        nodes: options.nodes,
        edges: options.edges,
        cairn,
        cairn_persisted_load_seconds,
        peers,
        answers_agree,
        peer_note,
    })
}

fn run_peer(out: &Path) -> Result<Vec<EngineFigures>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/graph_peer.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(out)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("could not run python3: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("peer failed (pip install kuzu networkx?): {}", stderr.lines().last().unwrap_or("")));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("peer output: {e}"))
}
