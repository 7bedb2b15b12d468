//! A PDF (with pages), an HTML file, a Markdown file and a GBK-encoded text file all ingest
//! through `cairn ingest` with section and page information, and answer questions.

use crate::{cairn, run_ok};

#[test]
fn four_formats_ingest_with_sections_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let pdf = cairn_ingest::testing::pdf(
        &[
            vec!["Renal Dosing Guide", "", "1. Scope", "", "This guide covers renal dose adjustment."],
            vec!["2. Metformin", "", "Metformin is contraindicated when eGFR falls below 30."],
        ],
        &[],
        Some("Renal Dosing Guide"),
    );
    std::fs::write(docs.join("renal.pdf"), pdf).unwrap();
    std::fs::write(
        docs.join("page.html"),
        "<html><head><title>Statin Notes</title></head><body><h2>4. Rosuvastatin</h2><p>Cyclosporine raises rosuvastatin exposure about sevenfold.</p><script>alert('x')</script></body></html>",
    )
    .unwrap();
    std::fs::write(docs.join("notes.md"), "# Notes\n\n## 3. Digoxin\n\nAmiodarone roughly doubles digoxin levels.\n")
        .unwrap();
    let (gbk, _, _) = encoding_rs::GBK
        .encode("审查办法\n\n第一章　总则\n\n第五条　药师应当在十五分钟内完成急诊处方审查，并记录审查意见。\n");
    std::fs::write(docs.join("rules.txt"), gbk).unwrap();

    let out = run_ok(cairn(&kb).arg("ingest").arg(&docs));
    assert_eq!(out.lines().filter(|l| l.starts_with("added")).count(), 4, "{out}");

    let shown = run_ok(cairn(&kb).args(["show", "renal:2.1"]));
    assert!(
        shown.contains("eGFR falls below 30") && shown.contains("pages:    p. 2") && shown.contains("2. Metformin"),
        "{shown}"
    );
    let shown = run_ok(cairn(&kb).args(["show", "page:4.1"]));
    assert!(shown.contains("sevenfold") && shown.contains("4. Rosuvastatin") && !shown.contains("alert"), "{shown}");
    let shown = run_ok(cairn(&kb).args(["show", "notes:3.1"]));
    assert!(shown.contains("doubles digoxin"), "{shown}");
    let shown = run_ok(cairn(&kb).args(["show", "rules:1.5.1"]));
    assert!(shown.contains("十五分钟") && shown.contains("第一章　总则 › 第五条"), "{shown}");

    let answer = run_ok(cairn(&kb).args(["ask", "When is metformin contraindicated?"]));
    assert!(answer.contains("[renal:2.1]") && answer.contains("(p. 2)"), "{answer}");
    let answer = run_ok(cairn(&kb).args(["ask", "第5条规定急诊处方审查时限是多少？"]));
    assert!(answer.contains("[rules:1.5.1]"), "{answer}");
}
