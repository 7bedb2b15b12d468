//! The queries of `cairn bench graph` (k-hop reachability and shortest paths on the same
//! generated 100,000-node, 500,000-relationship graph, same seed), plus two list-heavy
//! queries where value metering does the most work, timed with nothing but `cairn-graph`.
//! Built from two commits into one target dir and run alternately, it gives the cost of a
//! change to the executor in the same run (BENCHMARKS.md, "Cypher metering").
//!
//! ```sh
//! cargo run --release -p cairn-graph --example metering_bench -- [rounds]
//! ```
//!
//! On a shared machine, compare instruction counts rather than times:
//! `valgrind --tool=callgrind metering_bench 1 graph` (and `… 1 values`), and subtract a run
//! with `0` rounds (the load).

use std::fmt::Write as _;
use std::time::Instant;

use cairn_graph::import::Importer;
use cairn_graph::{GraphDb, Params, Value};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (nodes, edges, queries) = (100_000usize, 500_000usize, 200usize);
    let mut rng = Rng(0x6_7261_7068);
    let mut node_csv = String::from("nid:ID,id:int,:LABEL\n");
    for i in 0..nodes {
        let _ = writeln!(node_csv, "n{i},{i},N");
    }
    let mut edge_csv = String::from(":START_ID,:END_ID,:TYPE\n");
    let mut targets: Vec<usize> = Vec::with_capacity(edges);
    for _ in 0..edges {
        let src = rng.below(nodes);
        let dst =
            if !targets.is_empty() && rng.below(2) == 0 { targets[rng.below(targets.len())] } else { rng.below(nodes) };
        targets.push(dst);
        let _ = writeln!(edge_csv, "n{src},n{dst},E");
    }
    let starts: Vec<i64> = (0..queries).map(|_| rng.below(nodes) as i64).collect();
    let pairs: Vec<(i64, i64)> = (0..queries)
        .map(|_| {
            let a = rng.below(nodes);
            (a as i64, ((a + 1 + rng.below(nodes - 1)) % nodes) as i64)
        })
        .collect();
    let mut db = GraphDb::in_memory();
    db.transaction(|g, j| {
        let mut importer = Importer::new();
        importer.csv(g, j, "nodes.csv", &node_csv, "N")?;
        importer.csv(g, j, "edges.csv", &edge_csv, "E")?;
        Ok(())
    })?;
    db.create_index("N", "id")?;

    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    // `graph` runs only the `cairn bench graph` queries, `values` only the list and
    // string queries (for instruction counts under callgrind); default both.
    let only = std::env::args().nth(2).unwrap_or_default();
    let (graph_queries, value_queries) = (only != "values", only != "graph");
    let mut checksum = 0i64;
    for _ in 0..rounds {
        let mut line = String::new();
        for k in (1..=3).filter(|_| graph_queries) {
            let st = GraphDb::prepare(&format!("MATCH (a:N {{id: $id}})-[:E*1..{k}]->(b) RETURN count(DISTINCT b)"))?;
            let t = Instant::now();
            for &s in &starts {
                let r = db.query_statement(&st, &Params::from([("id".to_owned(), Value::Int(s))]))?;
                checksum += int(&r);
            }
            let _ = write!(line, "hop{k} {:.3} ms  ", t.elapsed().as_secs_f64() * 1e3 / queries as f64);
        }
        let st = GraphDb::prepare(
            "MATCH (a:N {id: $a}), (b:N {id: $b}) OPTIONAL MATCH p = shortestPath((a)-[:E*..10]->(b)) RETURN length(p)",
        )?;
        let t = Instant::now();
        for &(a, b) in pairs.iter().filter(|_| graph_queries) {
            let params = Params::from([("a".to_owned(), Value::Int(a)), ("b".to_owned(), Value::Int(b))]);
            checksum += int(&db.query_statement(&st, &params)?);
        }
        let _ = write!(line, "shortest {:.3} ms  ", t.elapsed().as_secs_f64() * 1e3 / queries as f64);
        for (name, q) in [
            ("lists", "UNWIND range(1, 100000) AS i WITH i, [x IN range(1, 10) | x * i] AS l RETURN sum(size(l))"),
            (
                "strings",
                "UNWIND range(1, 100000) AS i WITH 'n' + toString(i) AS s WHERE s ENDS WITH '7' RETURN count(s)",
            ),
        ]
        .into_iter()
        .filter(|_| value_queries)
        {
            let st = GraphDb::prepare(q)?;
            let t = Instant::now();
            checksum += int(&db.query_statement(&st, &Params::new())?);
            let _ = write!(line, "{name} {:.1} ms  ", t.elapsed().as_secs_f64() * 1e3);
        }
        println!("{line}");
    }
    println!("checksum {checksum}");
    Ok(())
}

fn int(r: &cairn_graph::QueryResult) -> i64 {
    match r.rows.first().and_then(|row| row.first()) {
        Some(Value::Int(i)) => *i,
        _ => -1,
    }
}
