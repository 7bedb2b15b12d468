//! `cairn watch`: a real file watcher (inotify) over a folder that receives a burst of
//! 1,000 writes, rewrites and deletions ends with the store a fresh ingest of the folder
//! gives; a deleted file's document is removed as `cairn remove` does.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{cairn, run_ok};

/// Every live document's key, file hash, title and node texts with display paths (not
/// stable IDs or versions, which record the history a fresh ingest does not have).
type Content = (String, String, String, Vec<(String, String)>);

fn content(kb: &std::path::Path) -> Vec<Content> {
    let store = cairn_store::Store::open(kb).unwrap();
    let mut out: Vec<_> = store
        .documents()
        .unwrap()
        .into_iter()
        .map(|doc| {
            let loaded = store.load(&doc.key).unwrap();
            let nodes = loaded.tree.nodes.iter().map(|n| (n.path.join("."), n.text.clone())).collect();
            (doc.key.to_string(), doc.file_hash.clone(), doc.title.clone(), nodes)
        })
        .collect();
    out.sort();
    out
}

struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watching {
    /// Waits for a line containing `needle`, then for the `synced` line that ends its pass.
    fn wait_for(&self, needle: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        let mut found = false;
        while Instant::now() < deadline {
            let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) else { continue };
            found |= line.contains(needle);
            let done = found && line.starts_with("synced");
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("no {needle:?} within {within:?}; saw:\n{}", seen.join("\n"));
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(kb: &std::path::Path, folder: &std::path::Path) -> Watching {
    let mut child = cairn(kb)
        .args(["watch", "--debounce-ms", "300"])
        .arg(folder)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let w = Watching { child, lines };
    w.wait_for("synced", Duration::from_secs(60));
    w
}

#[test]
fn a_burst_of_1000_writes_ends_equal_to_a_fresh_ingest() {
    let folder = tempfile::tempdir().unwrap();
    let kb = tempfile::tempdir().unwrap();
    let w = start(kb.path(), folder.path());
    let mut rng = 11u64;
    let mut next = || {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) as usize
    };
    for step in 0..1000 {
        let dir = folder.path().join(format!("part-{}", next() % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("note-{:02}.md", next() % 40));
        if next() % 8 == 0 {
            let _ = std::fs::remove_file(&path);
        } else {
            let body = format!("# Note\n\n## 1. Dosing\n\nStep {step} sets the dose at {} mg.\n", next() % 900);
            std::fs::write(&path, body).unwrap();
        }
    }
    std::fs::write(folder.path().join("zz-sentinel.md"), "# Done\n\nThe burst is over.\n").unwrap();
    let lines = w.wait_for("zz-sentinel", Duration::from_secs(120));
    assert!(lines.iter().any(|l| l.starts_with("queued")), "{lines:?}");
    drop(w);
    let fresh = tempfile::tempdir().unwrap();
    run_ok(cairn(fresh.path()).arg("ingest").arg(folder.path()));
    let (synced, expected) = (content(kb.path()), content(fresh.path()));
    assert!(expected.len() > 20, "{}", expected.len());
    assert_eq!(synced, expected);
}

#[test]
fn deleting_a_file_retires_its_document_and_a_broken_file_is_reported() {
    let folder = tempfile::tempdir().unwrap();
    let kb = tempfile::tempdir().unwrap();
    let a = folder.path().join("a.md");
    std::fs::write(&a, "# A\n\nWarfarin is metabolised by CYP2C9.\n").unwrap();
    let w = start(kb.path(), folder.path());
    std::fs::write(folder.path().join("b.pdf"), b"not a pdf at all").unwrap();
    let lines = w.wait_for("b.pdf", Duration::from_secs(60));
    assert!(lines.iter().any(|l| l.starts_with("failed") && l.contains("b.pdf") && l.contains("PDF")), "{lines:?}");
    std::fs::remove_file(&a).unwrap();
    let lines = w.wait_for("removed", Duration::from_secs(60));
    assert!(lines.iter().any(|l| l.starts_with("removed   a (") && l.contains("IDs retired")), "{lines:?}");
    drop(w);
    let listed = run_ok(cairn(kb.path()).arg("list"));
    assert!(!listed.contains("a.md"), "{listed}");
    // `--once` is one pass: the broken file again, nothing else to do.
    let once = run_ok(cairn(kb.path()).args(["watch", "--once"]).arg(folder.path()));
    assert!(once.contains("failed") && once.contains("b.pdf"), "{once}");
}
