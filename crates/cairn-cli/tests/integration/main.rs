//! End-to-end tests of the `cairn` binary.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

mod attack;
mod bad_input;
mod beir;
mod crash;
mod demo;
mod edits;
mod formats;
mod graph;
mod llm;
mod mcp;
#[cfg(feature = "servers")]
mod servers;
#[cfg(feature = "train")]
mod train;
mod watch;

use std::path::Path;
use std::process::{Command, Output};

pub fn cairn(kb: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("--kb").arg(kb).env_remove("CAIRN_FAILPOINT").env_remove("CAIRN_KB");
    cmd
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out: Output = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "command failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every live node of every document: (key, stable id, display path, text), in order.
pub fn snapshot(kb: &Path) -> Vec<(String, String, String, String)> {
    let store = cairn_store::Store::open(kb).unwrap();
    let mut rows = Vec::new();
    for doc in store.documents().unwrap() {
        let loaded = store.load(&doc.key).unwrap();
        for node in &loaded.tree.nodes {
            rows.push((doc.key.to_string(), node.id.to_string(), node.path.join("."), node.text.clone()));
        }
        rows.push((doc.key.to_string(), format!("version {}", doc.version), doc.file_hash.clone(), doc.title.clone()));
    }
    rows
}

pub fn handbook(paragraphs: usize, edit: Option<usize>) -> String {
    let mut md = String::from("# Interaction Notes\n\n");
    for s in 0..paragraphs / 5 {
        md.push_str(&format!("## {}. Section {}\n\n", s + 1, s + 1));
        for p in 0..5 {
            let n = s * 5 + p;
            if Some(n) == edit {
                md.push_str(&format!(
                    "Paragraph {n} was revised: drug {n} is now known to inhibit CYP2D6 strongly.\n\n"
                ));
            } else {
                md.push_str(&format!(
                    "Paragraph {n} explains that drug {n} is metabolized by CYP3A4 and cleared by the kidney.\n\n"
                ));
            }
        }
    }
    md
}
