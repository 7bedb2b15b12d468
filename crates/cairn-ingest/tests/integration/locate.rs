//! Where a cited sentence sits on its PDF page: boxes found from the original file agree
//! with where the test drew the text (`testing::pdf` sets 11-point Helvetica from
//! (50, 780) down in 14-point steps on a 595 × 842 page), across a page break too, and
//! for a scanned page through its OCR text layer.

use std::time::Duration;

use cairn_core::{DocKey, Node, NodeKind};
use cairn_ingest::locate::{PageBoxes, letters, locate};
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
    let s = cairn_core::tree::sentences_of(node).into_iter().map(|s| s.text).find(|s| s.contains(needle));
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
    let found = locate(&bytes, None, node.pages.unwrap(), &text, None, TIMEOUT).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let PageBoxes { page, width, height, boxes, matched } = &found[0];
    assert_eq!(*matched, letters(&text));
    assert_eq!((*page, *width, *height), (1, 595.0, 842.0));
    assert_eq!(boxes.len(), 1, "{boxes:?}");
    let (left, top, h) = drawn(3);
    let b = boxes[0];
    assert!((b[0] - left).abs() < 1.0 && (b[1] - top).abs() < 2.0 && (b[3] - h).abs() < 2.0, "{b:?}");
    assert!(b[2] > 150.0 && b[2] < 300.0, "a 45-character line of 11-point Helvetica: {b:?}");
    // The closing full stop is inside the box (it is not compared, but it is boxed).
    let without = locate(&bytes, None, node.pages.unwrap(), text.trim_end_matches('.'), None, TIMEOUT).unwrap();
    assert!(b[2] > without[0].boxes[0][2] + 1.0, "{b:?} vs {:?}", without[0].boxes[0]);
    // A sentence is boxed inside its paragraph: "Clarithromycin" opens the page's
    // first paragraph, but a sentence saying only that word, in the context of the
    // paragraph below, is boxed on that paragraph's line.
    let pages1 = cairn_core::PageRange { first: 1, last: 2 };
    let context = "Pravastatin is not metabolised by CYP3A4, so the interaction does not apply to it.";
    let found = locate(&bytes, None, pages1, "CYP3A4", Some(context), TIMEOUT).unwrap();
    let (_, top, _) = drawn(5);
    assert!((found[0].boxes[0][1] - top).abs() < 2.0, "{found:?}");
    let alone = locate(&bytes, None, pages1, "CYP3A4", None, TIMEOUT).unwrap();
    let (_, top, _) = drawn(2);
    assert!((alone[0].boxes[0][1] - top).abs() < 2.0, "the first occurrence without context: {alone:?}");
    // It is not the line above.
    let (_, above, _) = drawn(2);
    assert!(overlap(b, [left, above, 200.0, h]) < 0.1);

    // A sentence that runs over the page break: a box on each page.
    let (node, text) = sentence(&doc, "Pravastatin");
    assert_eq!(node.pages.map(|p| (p.first, p.last)), Some((1, 2)));
    let found = locate(&bytes, None, node.pages.unwrap(), &text, None, TIMEOUT).unwrap();
    assert_eq!(found.iter().map(|p| p.page).collect::<Vec<_>>(), [1, 2], "{found:?}");
    let (left, top, _) = drawn(5);
    assert!((found[0].boxes[0][0] - left).abs() < 1.0 && (found[0].boxes[0][1] - top).abs() < 2.0);
    let (_, top, _) = drawn(0);
    assert!((found[1].boxes[0][1] - top).abs() < 2.0, "{found:?}");

    // Text the page does not hold: no boxes, no error.
    assert!(
        locate(&bytes, None, node.pages.unwrap(), "Heparin needs anti-Xa levels.", None, TIMEOUT).unwrap().is_empty()
    );
}

#[test]
fn damaged_originals_are_errors_not_panics() {
    let pages = cairn_core::PageRange { first: 1, last: 1 };
    for bytes in
        [&b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"[..], b"", b"not a pdf"]
    {
        assert!(locate(bytes, None, pages, "Some text.", None, TIMEOUT).is_err());
    }
    // A file on which pdf-extract panics (found by the locate_pdf fuzz target): the guard
    // turns the panic into an error.
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/locate_pdf/caught-panic.pdf");
    let bytes = std::fs::read(seed).unwrap();
    assert!(locate(&bytes[1..], None, pages, "Some text.", None, TIMEOUT).is_err());
    // A page number past the end is an error too, not a panic.
    let bytes = pdf(&[vec!["One line."]], &[], None);
    assert!(locate(&bytes, None, cairn_core::PageRange { first: 7, last: 9 }, "One line.", None, TIMEOUT).is_err());
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
    assert!(locate(&scanned, None, node.pages.unwrap(), &text, None, TIMEOUT).unwrap().is_empty());
    let found = locate(&scanned, Some(layer), node.pages.unwrap(), &text, None, TIMEOUT).unwrap();
    assert_eq!(found.len(), 1, "{found:?}\n{layer}");
    let (left, top, h) = drawn(2);
    let b = found[0].boxes[0];
    // The drawn line, as wide as its 47 characters: the OCR box covers most of it.
    assert!(overlap(b, [left, top, 240.0, h]) > 0.5, "{b:?}\n{layer}");
}

/// A word and its box (xMin, yMin, xMax, yMax in points from the top left).
type Word = (String, [f32; 4]);

/// Poppler's word boxes of one page (`pdftotext -bbox`); `None` without poppler-utils.
fn poppler_words(pdf: &std::path::Path, page: u32) -> Option<Vec<Word>> {
    let p = page.to_string();
    let out =
        std::process::Command::new("pdftotext").args(["-f", &p, "-l", &p, "-bbox"]).arg(pdf).arg("-").output().ok()?;
    let html = String::from_utf8_lossy(&out.stdout);
    let attr = |tag: &str, name: &str| -> f32 {
        let at = tag.find(&format!("{name}=\"")).map(|i| i + name.len() + 2).unwrap_or(0);
        tag[at..].split('"').next().and_then(|v| v.parse().ok()).unwrap_or(f32::NAN)
    };
    let mut words = Vec::new();
    for piece in html.split("<word ").skip(1) {
        let (tag, rest) = piece.split_once('>')?;
        let text = rest.split("</word>").next().unwrap_or("");
        let text = text.replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">");
        let text = text.replace("&amp;", "&");
        words.push((text, [attr(tag, "xMin"), attr(tag, "yMin"), attr(tag, "xMax"), attr(tag, "yMax")]));
    }
    Some(words)
}

/// dossier-bench's PDFs (written by others; `scripts/fetch-data.sh`): every sentence of
/// every paragraph with a page is looked for on its pages, and where poppler-utils is
/// installed, its first box is compared with poppler's box of the word it starts with (an
/// independent reader of the same file). Prints both shares and the misses; fails only
/// below 90 % (a floor, not a tuned figure).
#[test]
fn dossier_bench_pdf_sentences_are_found_on_their_pages() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/dossier-bench/dossier_bench/_cases");
    let Ok(cases) = std::fs::read_dir(&root) else {
        eprintln!("SKIP: no {} (scripts/fetch-data.sh)", root.display());
        return;
    };
    let mut pdfs: Vec<std::path::PathBuf> = Vec::new();
    for case in cases.flatten() {
        for dir in ["docs", "agent/attachments"] {
            for f in std::fs::read_dir(case.path().join(dir)).into_iter().flatten().flatten() {
                if f.path().extension().is_some_and(|e| e == "pdf") {
                    pdfs.push(f.path());
                }
            }
        }
    }
    pdfs.sort();
    let off = IngestOptions { ocr: false, ..IngestOptions::default() };
    let (mut total, mut whole, mut files) = (0usize, 0usize, 0usize);
    let (mut compared, mut agreed) = (0usize, 0usize);
    let mut poppler: std::collections::HashMap<(usize, u32), Option<Vec<Word>>> = Default::default();
    let mut misses = Vec::new();
    for (f, path) in pdfs.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        // Scans with no text layer are OCR's business (tested above), not this count.
        let Ok(doc) = ingest_bytes(&DocKey::new("d").unwrap(), "d.pdf", &bytes, Format::Pdf, &off, None) else {
            continue;
        };
        files += 1;
        for node in doc.tree.nodes.iter().filter(|n| n.kind == NodeKind::Paragraph) {
            let Some(pages) = node.pages else { continue };
            for s in cairn_core::tree::sentences_of(node) {
                let text = s.text;
                if letters(text) == 0 {
                    continue;
                }
                total += 1;
                let found = locate(&bytes, None, pages, text, Some(&node.text), TIMEOUT).unwrap();
                if found.iter().map(|p| p.matched).sum::<usize>() == letters(text) {
                    whole += 1;
                } else if misses.len() < 10 {
                    misses.push(format!("{}: {text:?}", path.file_name().unwrap().to_string_lossy()));
                }
                // The first box against poppler's box of the first word.
                let first: String = text.split_whitespace().next().unwrap_or("").to_owned();
                let (Some(at), true) = (found.first(), letters(&first) >= 3) else { continue };
                let Some(words) = poppler.entry((f, at.page)).or_insert_with(|| poppler_words(path, at.page)) else {
                    continue;
                };
                compared += 1;
                let [l, t, _, h] = at.boxes[0];
                let agrees = words.iter().any(|(w, [x0, y0, _, y1])| {
                    let overlap = (t + h).min(*y1) - t.max(*y0);
                    // Letters and digits only: poppler and pdf-extract may decode quotation
                    // marks differently.
                    let alnum = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).collect::<Vec<_>>();
                    let (w, first) = (alnum(w), alnum(&first));
                    let n = w.len().min(first.len());
                    n > 0 && w[..n] == first[..n] && (x0 - l).abs() < 3.0 && overlap > 0.5 * (y1 - y0)
                });
                if agrees {
                    agreed += 1;
                } else if misses.len() < 20 {
                    misses.push(format!(
                        "{} p{}: box {:?} for {text:?}",
                        path.file_name().unwrap().to_string_lossy(),
                        at.page,
                        at.boxes[0]
                    ));
                }
            }
        }
    }
    let share = whole as f64 / total.max(1) as f64;
    eprintln!(
        "dossier-bench PDFs: {whole} of {total} sentences found whole on their pages ({share:.3}), {files} files"
    );
    let placed = agreed as f64 / compared.max(1) as f64;
    eprintln!("  first boxes where poppler puts the first word: {agreed} of {compared} ({placed:.3})");
    for m in &misses {
        eprintln!("  miss: {m}");
    }
    assert!(total == 0 || share >= 0.9, "{share}");
    assert!(compared == 0 || placed >= 0.9, "{placed}");
}
