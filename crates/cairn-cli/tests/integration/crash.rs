//! Killing the process (`kill -9`) in the middle of an ingest leaves the knowledge base
//! readable in exactly its previous state. The kill happens at a deterministic point inside
//! the store's write transaction (failpoint `store.apply.mid_write`), not at a random time.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{cairn, handbook, run_ok, snapshot};

fn kill_at_failpoint(kb: &std::path::Path, file: &std::path::Path, failpoint: &str) {
    let mut child = cairn(kb)
        .arg("ingest")
        .arg(file)
        .env("CAIRN_FAILPOINT", format!("{failpoint}=pause"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("failpoint") {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let started = Instant::now();
    let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("failpoint {failpoint} was not reached within {:?}", started.elapsed())
    });
    assert!(line.contains(failpoint), "{line}");
    child.kill().unwrap(); // SIGKILL on Unix: no destructors, no commit, no rollback
    let status = child.wait().unwrap();
    assert!(!status.success());
}

#[test]
fn kill_nine_mid_update_keeps_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let file = dir.path().join("notes.md");
    std::fs::write(&file, handbook(200, None)).unwrap();
    run_ok(cairn(&kb).arg("ingest").arg(&file));
    let before = snapshot(&kb);
    assert!(before.len() > 200);

    // A new version with edits, an insertion and a deletion, killed half-way through.
    let v2 = handbook(200, Some(17))
        .replace("Paragraph 90 explains", "Paragraph 90 (amended) explains")
        .replace("## 3. Section 3\n\n", "## 3. Section 3\n\nA brand new paragraph about grapefruit juice.\n\n")
        .replace("Paragraph 150 explains that drug 150 is metabolized by CYP3A4 and cleared by the kidney.\n\n", "");
    std::fs::write(&file, &v2).unwrap();
    kill_at_failpoint(&kb, &file, "store.apply.mid_write");
    assert_eq!(snapshot(&kb), before, "state after the crash differs from the state before it");

    // The knowledge base is readable and answers from the old text.
    let answer = run_ok(cairn(&kb).args(["ask", "What is drug 17 metabolized by?"]));
    assert!(answer.contains("Paragraph 17 explains"), "{answer}");

    // The interrupted update applies cleanly afterwards.
    let out = run_ok(cairn(&kb).arg("ingest").arg(&file));
    assert!(out.contains("1 added") && out.contains("2 changed") && out.contains("1 removed"), "{out}");
    let answer = run_ok(cairn(&kb).args(["ask", "Which drug inhibits CYP2D6 strongly?"]));
    assert!(answer.contains("Paragraph 17 was revised"), "{answer}");
}

#[test]
fn kill_nine_before_commit_of_a_new_document_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let first = dir.path().join("first.md");
    std::fs::write(&first, handbook(20, None)).unwrap();
    run_ok(cairn(&kb).arg("ingest").arg(&first));
    let before = snapshot(&kb);
    let second = dir.path().join("second.md");
    std::fs::write(&second, handbook(40, Some(3))).unwrap();
    kill_at_failpoint(&kb, &second, "store.apply.before_commit");
    assert_eq!(snapshot(&kb), before);
    let list = run_ok(cairn(&kb).arg("list"));
    assert!(!list.contains("second"), "{list}");
}

/// `kill -9` after the store committed a new version but before the vector files caught up:
/// after restart, dense search must serve only live paragraphs, including the edited one.
#[cfg(feature = "embed-local")]
#[test]
fn kill_nine_between_store_and_vectors_never_serves_stale_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir(&model).unwrap();
    cairn_embed::testing::write_tiny_model(&model, 5).unwrap();
    let kb = dir.path().join("kb");
    let file = dir.path().join("notes.md");
    let set = format!("embedding_model={}", model.display());
    std::fs::write(&file, handbook(10, None)).unwrap();
    run_ok(cairn(&kb).args(["--set", &set, "ingest"]).arg(&file));
    std::fs::write(&file, handbook(10, Some(4))).unwrap();
    let mut child = cairn(&kb)
        .args(["--set", &set, "ingest"])
        .arg(&file)
        .env("CAIRN_FAILPOINT", "kb.after_store_commit=pause")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reached = BufReader::new(stderr).lines().map_while(Result::ok).any(|l| l.contains("kb.after_store_commit"));
    assert!(reached, "failpoint not reached");
    child.kill().unwrap();
    child.wait().unwrap();

    let out = run_ok(cairn(&kb).args(["--set", &set, "search", "drug", "--mode", "dense", "--k", "50", "--json"]));
    let results: serde_json::Value = serde_json::from_str(&out).unwrap();
    let hits = results["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 10, "one vector per live paragraph");
    assert!(hits.iter().any(|h| h["text"].as_str().unwrap().starts_with("Paragraph 4 was revised")));
    assert!(!hits.iter().any(|h| h["text"].as_str().unwrap().starts_with("Paragraph 4 explains")), "no stale vector");
}
