//! Where a cited sentence sits on its PDF page: boxes found from the original file agree
//! with where the test drew the text (`testing::pdf` sets 11-point Helvetica from
//! (50, 780) down in 14-point steps on a 595 × 842 page), across a page break too, and
//! for a scanned page through its OCR text layer.

use std::time::Duration;

use cairn_core::{DocKey, Node, NodeKind};
use cairn_ingest::locate::{PageBoxes, locate};
use cairn_ingest::testing::{image_pdf, pdf};
use cairn_ingest::{Format, IngestOptions, Ingested, ingest_bytes};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Where line `k` (0-based) of a `testing::pdf` page is drawn: left, top, height of
/// the 11-point line, in points from the top left.
fn drawn(k: usize) -> (f32, f32, f32) {
    let baseline = 842.0 - (780.0 - 14.0 * k as f32);
    (50.0, baseline - 11.0 * 0.8, 11.0)
}

fn overlap(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0]);
    let h = (a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1]);
    if w <= 0.0 || h <= 0.0 { 0.0 } else { w * h / (b[2] * b[3]) }
}

fn sentence<'a>(doc: &'a Ingested, needle: &str) -> (&'a Node, String) {
    let node = doc
        .tree
        .nodes
        .iter()
        .find(|n| n.kind == NodeKind::Paragraph && n.text.contains(needle))
        .unwrap_or_else(|| panic!("no paragraph with {needle:?}"));
    let s = node.sentences.iter().map(|s| &node.text[s.start as usize..s.end as usize]).find(|s| s.contains(needle));
    (node, s.unwrap().to_owned())
}

fn ingest(bytes: &[u8]) -> Ingested {
    ingest_bytes(&DocKey::new("note").unwrap(), "note.pdf", bytes, Format::Pdf, &IngestOptions::default(), None)
        .unwrap()
}

#[test]
fn a_cited_sentence_is_boxed_where_it_was_drawn() {
    let page1 = vec![
        "1. Scope",
        "",
        "Clarithromycin is a strong inhibitor of CYP3A4.",
        "It raises simvastatin exposure about tenfold.",
        "",
        "Pravastatin is not metabolised by CYP3A4, so the",
    ];
    let page2 = vec!["interaction does not apply to it.", "", "2. Monitoring", "", "Check creatine kinase."];
    let bytes = pdf(&[page1, page2], &[], None);
    let doc = ingest(&bytes);

    // One sentence in the middle of a paragraph: one box, on its line.
    let (node, text) = sentence(&doc, "tenfold");
    assert_eq!(text, "It raises simvastatin exposure about tenfold.");
    let found = locate(&bytes, None, node.pages.unwrap(), &text, TIMEOUT).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let PageBoxes { page, width, height, boxes } = &found[0];
    assert_eq!((*page, *width, *height), (1, 595.0, 842.0));
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    let (left, top, h) = drawn(3);
    let b = boxes[0];
    assert!((b[0] - left).abs() < 1.0 && (b[1] - top).abs() < 2.0 && (b[3] - h).abs() < 2.0, "{b:?}");
    assert!(b[2] > 150.0 && b[2] < 300.0, "a 45-character line of 11-point Helvetica: {b:?}");
    // It is not the line above.
    let (_, above, _) = drawn(2);
    assert!(overlap(b, [left, above, 200.0, h]) < 0.1);

    // A sentence that runs over the page break: a box on each page.
    let (node, text) = sentence(&doc, "Pravastatin");
    assert_eq!(node.pages.map(|p| (p.first, p.last)), Some((1, 2)));
    let found = locate(&bytes, None, node.pages.unwrap(), &text, TIMEOUT).unwrap();
    assert_eq!(found.iter().map(|p| p.page).collect::<Vec<_>>(), [1, 2], "{found:?}");
    let (left, top, _) = drawn(5);
    assert!((found[0].boxes[0][0] - left).abs() < 1.0 && (found[0].boxes[0][1] - top).abs() < 2.0);
    let (_, top, _) = drawn(0);
    assert!((found[1].boxes[0][1] - top).abs() < 2.0, "{found:?}");

    // Text the page does not hold: no boxes, no error.
    assert!(locate(&bytes, None, node.pages.unwrap(), "Heparin needs anti-Xa levels.", TIMEOUT).unwrap().is_empty());
}

#[test]
fn damaged_originals_are_errors_not_panics() {
    let pages = cairn_core::PageRange { first: 1, last: 1 };
    for bytes in
        [&b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"[..], b"", b"not a pdf"]
    {
        assert!(locate(bytes, None, pages, "Some text.", TIMEOUT).is_err());
    }
    // A page number past the end is an error too, not a panic.
    let bytes = pdf(&[vec!["One line."]], &[], None);
    assert!(locate(&bytes, None, cairn_core::PageRange { first: 7, last: 9 }, "One line.", TIMEOUT).is_err());
}

#[test]
fn an_ocred_page_is_boxed_from_its_text_layer() {
    if !crate::ocr::tools() || !cfg!(feature = "ocr") {
        return;
    }
    let lines =
        vec!["2. Monitoring", "", "Check creatine kinase when muscle pain appears.", "Stop at ten times the limit."];
    let text_pdf = pdf(&[lines], &[], None);
    let scanned = image_pdf(&[crate::ocr::scan(&text_pdf, 1, 200)]);
    let doc = ingest(&scanned);
    let layer = doc.text_layer.as_deref().expect("the OCRed page's text layer");
    let (node, text) = sentence(&doc, "creatine");
    // The scan has no text of its own: without the layer nothing is found.
    assert!(locate(&scanned, None, node.pages.unwrap(), &text, TIMEOUT).unwrap().is_empty());
    let found = locate(&scanned, Some(layer), node.pages.unwrap(), &text, TIMEOUT).unwrap();
    assert_eq!(found.len(), 1, "{found:?}\n{layer}");
    let (left, top, h) = drawn(2);
    let b = found[0].boxes[0];
    // The drawn line, as wide as its 47 characters: the OCR box covers most of it.
    assert!(overlap(b, [left, top, 240.0, h]) > 0.5, "{b:?}\n{layer}");
}
