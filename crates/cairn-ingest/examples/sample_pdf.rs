//! Writes a small multi-page PDF with an outline to stdout, built with the same helper
//! the tests use: a seed for the PDF fuzz target and a file to try `cairn ingest` on.
//!
//! Run: `cargo run -p cairn-ingest --example sample_pdf > sample.pdf`

use std::io::Write;

use cairn_ingest::testing::{OutlineItem, pdf};

fn main() -> std::io::Result<()> {
    let bytes = pdf(
        &[
            vec!["Interaction Manual", "", "1. Scope", "", "This manual covers enzyme inhibition (CYP3A4)."],
            vec![
                "2. Inhibitors",
                "",
                "Clarithromycin is a strong inhibitor of CYP3A4.",
                "It raises simvastatin exposure.",
            ],
        ],
        &[OutlineItem { title: "1. Scope".into(), page: 1 }, OutlineItem { title: "2. Inhibitors".into(), page: 2 }],
        Some("Interaction Manual"),
    );
    std::io::stdout().write_all(&bytes)
}
