use cairn_core::{DocKey, NodeKind, PageRange};
use cairn_ingest::testing::{OutlineItem, pdf};
use cairn_ingest::{Format, IngestOptions, ingest_bytes};

fn key(s: &str) -> DocKey {
    DocKey::new(s).unwrap()
}

fn find<'a>(tree: &'a cairn_core::DocTree, needle: &str) -> (usize, &'a cairn_core::Node) {
    tree.nodes
        .iter()
        .enumerate()
        .find(|(_, n)| n.text.contains(needle))
        .unwrap_or_else(|| panic!("no node contains {needle:?}"))
}

#[test]
fn pdf_keeps_pages_and_numbered_sections() {
    let bytes = pdf(
        &[
            vec![
                "Interaction Manual",
                "",
                "1. Scope",
                "",
                "This manual covers enzyme inhibition.",
                "",
                "2. Inhibitors",
                "",
            ],
            vec!["Clarithromycin is a strong inhibitor of CYP3A4.", "", "It raises simvastatin exposure."],
        ],
        &[],
        Some("Interaction Manual"),
    );
    let doc = ingest_bytes(&key("manual"), "manual.pdf", &bytes, Format::Pdf, &IngestOptions::default(), None).unwrap();
    assert_eq!(doc.tree.title, "Interaction Manual");
    assert_eq!(doc.tree.pages, Some(2));
    let (i, node) = find(&doc.tree, "Clarithromycin is a strong");
    assert_eq!(node.kind, NodeKind::Paragraph);
    assert_eq!(node.pages, Some(PageRange { first: 2, last: 2 }));
    assert_eq!(doc.tree.display_id(i).to_string(), "manual:2.1");
    let (s, section) = find(&doc.tree, "Inhibitors");
    assert_eq!(section.kind, NodeKind::Section);
    assert_eq!(section.pages, Some(PageRange { first: 1, last: 2 }));
    assert_eq!(doc.tree.display_id(s).to_string(), "manual:2");
    let (_, scope) = find(&doc.tree, "This manual covers");
    assert_eq!(scope.pages, Some(PageRange { first: 1, last: 1 }));
}

#[test]
fn pdf_outline_becomes_the_sections() {
    let bytes = pdf(
        &[
            vec!["Overview", "", "The overview text sits on page one."],
            vec!["Warfarin Details", "", "Warfarin is cleared by CYP2C9.", "", "Fluconazole inhibits CYP2C9."],
        ],
        &[OutlineItem { title: "Overview".into(), page: 1 }, OutlineItem { title: "Warfarin Details".into(), page: 2 }],
        None,
    );
    let doc = ingest_bytes(&key("w"), "w.pdf", &bytes, Format::Pdf, &IngestOptions::default(), None).unwrap();
    let sections: Vec<&str> =
        doc.tree.nodes.iter().filter(|n| n.kind == NodeKind::Section).map(|n| n.text.as_str()).collect();
    assert_eq!(sections, vec!["Overview", "Warfarin Details"]);
    let (i, p) = find(&doc.tree, "Fluconazole inhibits");
    assert_eq!(doc.tree.display_id(i).to_string(), "w:2.2");
    assert_eq!(p.pages.map(|r| r.first), Some(2));
}

#[test]
fn html_and_markdown_sections() {
    let html = "<html><head><title>Guide</title></head><body><h2>3. Enzymes</h2><p>CYP3A4 metabolizes many drugs.</p><h3>3.1 Inducers</h3><p>Rifampicin induces CYP3A4.</p></body></html>";
    let doc =
        ingest_bytes(&key("guide"), "g.html", html.as_bytes(), Format::Html, &IngestOptions::default(), None).unwrap();
    let (i, _) = find(&doc.tree, "Rifampicin induces");
    assert_eq!(doc.tree.display_id(i).to_string(), "guide:3.1.1");
    assert_eq!(doc.tree.heading_path(i), vec!["3. Enzymes", "3.1 Inducers"]);

    let md = "# Handbook\n\n## 7. Monographs\n\n### 7.12 Simvastatin\n\nSimvastatin is metabolized by CYP3A4.\n";
    let doc =
        ingest_bytes(&key("pharm"), "h.md", md.as_bytes(), Format::Markdown, &IngestOptions::default(), None).unwrap();
    let (i, _) = find(&doc.tree, "Simvastatin is");
    assert_eq!(doc.tree.display_id(i).to_string(), "pharm:7.12.1");
    assert_eq!(doc.tree.title, "Handbook");
}

#[test]
fn gbk_text_with_statute_structure() {
    let text = "审查办法\n\n第一章　总则\n\n第一条　为了规范医疗机构药物相互作用审查工作，保障患者用药安全，制定本办法。\n第十条　急诊处方应当在十五分钟内完成审查。\n";
    let (bytes, _, _) = encoding_rs::GBK.encode(text);
    let doc = ingest_bytes(&key("reg"), "reg.txt", &bytes, Format::Text, &IngestOptions::default(), None).unwrap();
    assert_eq!(doc.encoding, Some("gb18030"));
    let (i, node) = find(&doc.tree, "急诊处方");
    assert_eq!(doc.tree.display_id(i).to_string(), "reg:1.10.1");
    assert_eq!(doc.tree.heading_path(i), vec!["第一章　总则", "第十条"]);
    assert_eq!(node.span.slice(&doc.tree.text), node.text);
}
