//! `cairn drug-check` and `cairn graph`, end to end, including `kill -9` in the middle of
//! a graph import.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::{cairn, run_ok};

#[test]
fn drug_check_shows_the_mechanism_path_severity_and_cited_passages_without_an_llm() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let out = run_ok(cairn(&kb).args(["drug-check", "simvastatin", "clarithromycin"]));
    assert!(out.contains("simvastatin + clarithromycin: CONTRAINDICATED"), "{out}");
    assert!(out.contains("(simvastatin)-[:METABOLIZED_BY]->(CYP3A4)<-[:INHIBITS]-(clarithromycin)"), "{out}");
    assert!(
        out.contains("[pharm:7.7.2] \"Clarithromycin is a strong, mechanism-based inhibitor of CYP3A4.\""),
        "{out}"
    );
    assert!(out.contains("[pharm:8.1.1]"), "{out}");
    let json = run_ok(cairn(&kb).args(["drug-check", "simvastatin", "clarithromycin", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["pairs"][0]["severity"], "contraindicated");
    let id = v["pairs"][0]["mechanisms"][0]["facts"][1]["citation"]["id"].as_str().unwrap().to_owned();
    // The cited passage opens with `cairn show` in a KB that holds the handbook.
    run_ok(cairn(&kb).args(["graph", "load-pharmacology"]));
    let shown = run_ok(cairn(&kb).args(["show", &id]));
    assert!(shown.contains("strong, mechanism-based inhibitor of CYP3A4"), "{shown}");
    let bad = cairn(&kb).args(["drug-check", "simvastatn", "warfarin"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("did you mean simvastatin"));
}

#[test]
fn graph_query_with_parameters_tables_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    run_ok(cairn(&kb).args(["graph", "load-pharmacology"]));
    let out = run_ok(cairn(&kb).args([
        "graph",
        "query",
        "MATCH (d:Drug)-[r:INHIBITS {strength: $s}]->(e:Enzyme {id: $e}) RETURN d.name AS drug ORDER BY drug",
        "--param",
        "s=strong",
        "--param",
        "e=CYP3A4",
    ]));
    for drug in ["clarithromycin", "itraconazole", "ketoconazole", "ritonavir"] {
        assert!(out.contains(drug), "{drug} missing:\n{out}");
    }
    let json = run_ok(cairn(&kb).args([
        "graph",
        "query",
        "MATCH p = (:Drug {id: 'warfarin'})-[:METABOLIZED_BY]->(e) RETURN p LIMIT 1",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["rows"][0]["p"]["nodes"][0]["labels"][0], "Drug");
    // Writes need --write; errors name the position.
    let refused = cairn(&kb).args(["graph", "query", "CREATE (n:X)"]).output().unwrap();
    assert!(!refused.status.success());
    let bad = cairn(&kb).args(["graph", "query", "MATCH (n\nRETURN n"]).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 2"), "{}", String::from_utf8_lossy(&bad.stderr));
    let schema = run_ok(cairn(&kb).args(["graph", "schema"]));
    assert!(schema.contains(":METABOLIZED_BY") && schema.contains(":Drug("), "{schema}");
}

#[test]
fn kill_nine_mid_graph_import_keeps_the_previous_graph() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let nodes = dir.path().join("people.csv");
    std::fs::write(&nodes, "id:ID,name,:LABEL\np1,Ann,Person\np2,Bob,Person\n").unwrap();
    run_ok(cairn(&kb).args(["graph", "import"]).arg(&nodes));
    let before = run_ok(cairn(&kb).args(["graph", "export"]));
    let more = dir.path().join("more.jsonl");
    let lines: String = (0..500).map(|i| format!("{{\"node\": \"Extra\", \"id\": \"x{i}\"}}\n")).collect();
    std::fs::write(&more, lines).unwrap();
    let mut child = cairn(&kb)
        .args(["graph", "import"])
        .arg(&more)
        .env("CAIRN_FAILPOINT", "graph.before_commit=pause")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reached = BufReader::new(stderr).lines().map_while(Result::ok).any(|l| l.contains("graph.before_commit"));
    assert!(reached, "failpoint not reached");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(run_ok(cairn(&kb).args(["graph", "export"])), before, "the graph is exactly as before");
    let out = run_ok(cairn(&kb).args(["graph", "import"]).arg(&more));
    assert!(out.contains("500 node(s)"), "{out}");
}
