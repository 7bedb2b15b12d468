//! `cairn eval retrieval --dataset DIR` on a BEIR-format folder.

use crate::{cairn, run_ok};

#[test]
fn eval_retrieval_reads_a_beir_folder() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("tiny-beir");
    std::fs::create_dir_all(set.join("qrels")).unwrap();
    let corpus = [
        ("w1", "Warfarin", "Warfarin is cleared mainly by CYP2C9, and fluconazole inhibits CYP2C9."),
        ("d1", "Digoxin", "Digoxin is a substrate of P-glycoprotein; amiodarone raises digoxin levels."),
        ("s1", "Simvastatin", "Simvastatin depends on CYP3A4; clarithromycin is a strong CYP3A4 inhibitor."),
        ("t1", "Theophylline", "Theophylline is cleared by CYP1A2, which fluvoxamine inhibits strongly."),
    ];
    let lines: String = corpus
        .iter()
        .map(|(id, title, text)| format!("{}\n", serde_json::json!({"_id": id, "title": title, "text": text})))
        .collect();
    std::fs::write(set.join("corpus.jsonl"), lines).unwrap();
    std::fs::write(
        set.join("queries.jsonl"),
        "{\"_id\": \"q1\", \"text\": \"warfarin fluconazole\"}\n{\"_id\": \"q2\", \"text\": \"digoxin amiodarone\"}\n{\"_id\": \"q3\", \"text\": \"fluvoxamine theophylline\"}\n",
    )
    .unwrap();
    std::fs::write(set.join("qrels/test.tsv"), "query-id\tcorpus-id\tscore\nq1\tw1\t1\nq2\td1\t1\nq3\tt1\t2\n")
        .unwrap();
    let out = run_ok(cairn(&dir.path().join("kb")).args(["eval", "retrieval", "--no-peer", "--dataset"]).arg(&set));
    assert!(out.contains("BEIR set tiny-beir (4 documents, 3 queries"), "{out}");
    let bm25 = out.lines().find(|l| l.contains("tiny-beir") && l.contains("bm25")).unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = bm25.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 2], "1.000", "every gold document in the top 10: {bm25}");
}
