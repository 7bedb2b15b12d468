//! A literate tour of the spine: ingest → tree with stable IDs → navigation → verified,
//! cited answer → an edit that keeps every other ID.
//!
//! Run: `cargo run -p cairn-engine --example cited_answer`
#![allow(clippy::unwrap_used)]

use cairn_core::NoEvents;
use cairn_engine::{AskOptions, FileOutcome, Kb, Settings};

fn main() {
    // A knowledge base is a directory; here a temporary one.
    let dir = tempfile::tempdir().unwrap();
    let mut kb = Kb::open(dir.path(), Settings::default()).unwrap();

    // Ingest a small document. Its headings become sections with display IDs in the
    // document's own numbering; every paragraph gets a stable ID.
    let v1 = "# Interaction Notes\n\n## 1. Statins\n\nSimvastatin is metabolized mainly by CYP3A4.\n\n\
              Clarithromycin strongly inhibits CYP3A4, so the two must not be combined.\n\n\
              ## 2. Anticoagulants\n\nFluconazole inhibits CYP2C9 and raises the INR of patients on warfarin.\n";
    kb.ingest_bytes("example://notes.md", "notes.md", v1.as_bytes(), None, None).unwrap();

    // Ask. Navigation picks chunks level by level; the answer quotes sentences, and every
    // quote was checked against the stored paragraph before `ask` returned.
    let asked = kb.ask("Can simvastatin be taken with clarithromycin?", &AskOptions::default(), &mut NoEvents).unwrap();
    for claim in asked.answer.claims() {
        let id = &claim.citations[0].id;
        println!("{}  [{}] (stable id {id})", claim.text, kb.display_of(id).unwrap());
    }
    for step in &asked.navigation.scratchpad.steps {
        let picked: Vec<&str> = step.considered.iter().filter(|c| c.picked).map(|c| c.label.as_str()).collect();
        println!("level {}: picked {picked:?}", step.level);
    }

    // Edit one paragraph and re-ingest: one node changed, every other stable ID kept.
    let v2 = v1.replace("raises the INR", "can double the INR");
    if let FileOutcome::Stored(v) =
        kb.ingest_bytes("example://notes.md", "notes.md", v2.as_bytes(), None, None).unwrap()
    {
        println!("version {}: {} changed, {} unchanged", v.version, v.changed, v.unchanged);
    }
}
