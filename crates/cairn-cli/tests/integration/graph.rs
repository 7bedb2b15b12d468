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
        out.contains("[pharm:7.7.2.1] \"Clarithromycin is a strong, mechanism-based inhibitor of CYP3A4.\""),
        "{out}"
    );
    // Facts cite the sentence that states them (the rules read them from the handbook).
    assert!(
        out.contains("documented: (clarithromycin)-[:INTERACTS_WITH {severity: contraindicated}]->(simvastatin)"),
        "{out}"
    );
    assert!(out.contains("[pharm:7.7.3.1] \"Clarithromycin is contraindicated with simvastatin"), "{out}");
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

/// The graph builds itself from a knowledge base's own documents: with a declared
/// `graph-schema.toml`, `cairn ingest` reads facts from the sentences (each citing its
/// sentence), `drug-check` uses them, and editing the sentence that stated a fact retires
/// that fact: it disappears from the review, while the other paragraph's fact stays.
#[test]
fn facts_extracted_at_ingest_follow_edits_of_their_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    run_ok(cairn(&kb).args([
        "graph",
        "query",
        "--write",
        "CREATE (:Drug {id: 'warfarin', name: 'warfarin'}), (:Drug {id: 'fluconazole', name: 'fluconazole'}), \
         (:Enzyme {id: 'CYP2C9', name: 'CYP2C9'})",
    ]));
    std::fs::write(
        kb.join("graph-schema.toml"),
        r#"[entity.Drug]
[entity.Enzyme]
[relation.INHIBITS]
from = ["Drug"]
to = ["Enzyme"]
[relation.INHIBITS.property.strength]
values = ["strong", "moderate", "weak"]
default = "unspecified"
[relation.METABOLIZED_BY]
from = ["Drug"]
to = ["Enzyme"]
[relation.METABOLIZED_BY.property.fraction]
values = ["major", "minor"]
default = "unspecified"
[[rule]]
relation = "INHIBITS"
pattern = "{from} is a {strength} inhibitor of {to+}"
[[rule]]
relation = "METABOLIZED_BY"
pattern = "{from} is cleared mainly by {to}"
set = { fraction = "major" }
"#,
    )
    .unwrap();
    let notes = dir.path().join("notes.md");
    let text = "# Anticoagulant notes\n\n## 1. Azoles\n\nFluconazole is a moderate inhibitor of CYP2C9.\n\n## 2. Warfarin\n\nWarfarin is cleared mainly by CYP2C9.\n";
    std::fs::write(&notes, text).unwrap();
    run_ok(cairn(&kb).arg("ingest").arg(&notes));
    let facts = run_ok(cairn(&kb).args([
        "graph",
        "query",
        "MATCH (a)-[r]->(b) RETURN a.id, type(r), b.id, r.source, r.quote ORDER BY r.source",
    ]));
    assert!(facts.contains("'fluconazole' | 'INHIBITS'") && facts.contains("'notes:1.1.1'"), "{facts}");
    assert!(facts.contains("'warfarin'    | 'METABOLIZED_BY'") && facts.contains("'notes:2.1.1'"), "{facts}");
    let review = run_ok(cairn(&kb).args(["drug-check", "fluconazole", "warfarin"]));
    assert!(review.contains("fluconazole + warfarin: MODERATE"), "{review}");
    assert!(review.contains("\"Fluconazole is a moderate inhibitor of CYP2C9.\""), "{review}");

    // The sentence no longer says it: the fact is retired at the next ingest.
    std::fs::write(&notes, text.replace("is a moderate inhibitor of CYP2C9", "is not known to change CYP2C9")).unwrap();
    let out = run_ok(cairn(&kb).arg("ingest").arg(&notes));
    assert!(out.contains("1 changed"), "{out}");
    let facts = run_ok(cairn(&kb).args(["graph", "query", "MATCH (a)-[r]->(b) RETURN a.id, type(r), r.source"]));
    assert!(!facts.contains("INHIBITS") && facts.contains("'notes:2.1.1'"), "{facts}");
    let review = run_ok(cairn(&kb).args(["drug-check", "fluconazole", "warfarin"]));
    assert!(
        review.contains("fluconazole + warfarin: NONE KNOWN") && !review.contains("moderate inhibitor"),
        "{review}"
    );
    // Running the rules again finds the graph already in step.
    let report = run_ok(cairn(&kb).args(["graph", "extract"]));
    assert!(report.contains("notes: 2 sentences, 1 facts found: 0 added, 0 retired, 1 kept"), "{report}");
    // Removing the document retires the rest; hand-written nodes stay.
    run_ok(cairn(&kb).args(["remove", "notes"]));
    let left = run_ok(cairn(&kb).args(["graph", "query", "MATCH ()-[r]->() RETURN count(r) AS n"]));
    assert!(left.contains("\n0"), "{left}");
    // A schema that does not parse is a clear error, and ingest still stores documents.
    std::fs::write(kb.join("graph-schema.toml"), "[[rule]]\nrelation = \"NOPE\"\npattern = \"{from} x {to}\"\n")
        .unwrap();
    let bad = cairn(&kb).args(["graph", "extract"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("undeclared relation NOPE"));
    let out = run_ok(cairn(&kb).arg("ingest").arg(&notes));
    assert!(out.contains("notes"), "{out}");
}
