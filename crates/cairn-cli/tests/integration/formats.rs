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
    // Where it is on page 2: line 2 of `testing::pdf` (baseline 842 - (780 - 2 × 14)).
    let boxes = run_ok(cairn(&kb).args(["show", "renal:2.1", "--boxes"]));
    assert!(boxes.starts_with("page 2 (595 × 842 pt): left 50.0 top 81.2"), "{boxes}");
    let out = cairn(&kb).args(["show", "notes:3.1", "--boxes"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no original file is kept"));
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

/// The documents people have, through `cairn ingest DIR`: Word, Excel, PowerPoint, CSV and
/// an e-mail with a spreadsheet attached. A question about a row is answered by citing
/// that row (its quote verified against the stored row), and `cairn show` prints the
/// sheet as a table.
#[test]
fn office_files_and_mail_ingest_and_cite_table_rows() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let cells = |r: &[&str]| r.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let styles = r#"<w:style w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>"#;
    let body = r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>1. Scope</w:t></w:r></w:p><w:p><w:r><w:t>The breaker order covers the substation upgrade.</w:t></w:r></w:p>"#;
    std::fs::write(docs.join("brief.docx"), cairn_ingest::docx::write_docx(body, Some(styles), None, None)).unwrap();
    let sheet = cairn_ingest::xlsx::write_xlsx(&[(
        "Orders",
        vec![
            cells(&["Item", "Qty", "Supplier"]),
            cells(&["400A breaker", "2", "Velden"]),
            cells(&["Copper cable", "30", "Norrland"]),
        ],
    )]);
    std::fs::write(docs.join("orders.xlsx"), &sheet).unwrap();
    std::fs::write(
        docs.join("deck.pptx"),
        cairn_ingest::pptx::write_pptx(&[(
            "Substation upgrade",
            &["Energisation on 18 March"],
            Some("Mention the delay."),
        )]),
    )
    .unwrap();
    std::fs::write(docs.join("budget.csv"), "Line,Planned GBP\nBreakers,25000\nCabling,9000\n").unwrap();
    let b64 = cairn_ingest::testing::base64(&sheet);
    let mail = format!(
        "From: Ines <ines@example.org>\r\nTo: Tom <tom@example.org>\r\nSubject: Order for the substation\r\nDate: Tue, 4 Mar 2025 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nThe order is attached.\r\n--B\r\nContent-Type: application/octet-stream; name=\"copy.xlsx\"\r\nContent-Disposition: attachment; filename=\"copy.xlsx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--B--\r\n"
    );
    std::fs::write(docs.join("order.eml"), mail).unwrap();
    let out = run_ok(cairn(&kb).arg("ingest").arg(&docs));
    for name in ["brief.docx", "orders.xlsx", "deck.pptx", "budget.csv", "order.eml"] {
        assert!(out.contains(name) && !out.contains("failed"), "{name}: {out}");
    }
    let listed = run_ok(cairn(&kb).arg("list"));
    for fmt in ["docx", "xlsx", "pptx", "csv", "eml"] {
        assert!(listed.contains(&format!(" {fmt} ")), "{fmt}: {listed}");
    }
    let asked = run_ok(cairn(&kb).args(["ask", "How many 400A breakers are ordered from Velden?", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&asked).unwrap();
    let claims = v["claims"].as_array().unwrap();
    assert!(
        claims
            .iter()
            .any(|c| c["text"].as_str().unwrap().contains("Item = 400A breaker | Qty = 2 | Supplier = Velden")),
        "{asked}"
    );
    let shown = run_ok(cairn(&kb).args(["show", "orders:1"]));
    assert!(
        shown.contains("| row | Item | Qty | Supplier |") && shown.contains("| 2 | 400A breaker | 2 | Velden |"),
        "{shown}"
    );
    // The e-mail's attachment is read as a spreadsheet inside the message.
    let mail_tree = run_ok(cairn(&kb).args(["show", "order:2"]));
    assert!(mail_tree.contains("Attachment: copy.xlsx"), "{mail_tree}");
}
