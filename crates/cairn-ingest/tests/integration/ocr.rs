//! Scanned PDFs: a page rendered from known text, with no text layer, is read back by
//! Tesseract with its page number (needs Debian's tesseract-ocr and poppler-utils, which
//! `.ci/run` installs; skipped with a message elsewhere, required when
//! `CAIRN_REQUIRE_OCR=1`); with OCR off, such pages are reported, never silently empty.

use std::process::Command;

use cairn_core::DocKey;
use cairn_ingest::testing::{image_pdf, mixed_pdf, pdf};
use cairn_ingest::{Format, IngestOptions, ingest_bytes};

pub(crate) fn tools() -> bool {
    let ok = |c: &str, a: &str| Command::new(c).arg(a).output().is_ok_and(|o| o.status.success());
    if ok("tesseract", "--version") && ok("pdftoppm", "-v") {
        return true;
    }
    assert!(
        std::env::var("CAIRN_REQUIRE_OCR").as_deref() != Ok("1"),
        "CAIRN_REQUIRE_OCR=1 but tesseract or pdftoppm is missing"
    );
    eprintln!("SKIP: tesseract-ocr and poppler-utils are not installed");
    false
}

/// Renders page `page` of a text PDF to 8-bit gray pixels at `dpi`, as a scanner would.
pub(crate) fn scan(text_pdf: &[u8], page: u32, dpi: u32) -> (usize, usize, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.pdf");
    std::fs::write(&input, text_pdf).unwrap();
    let prefix = dir.path().join("scan");
    let status = Command::new("pdftoppm")
        .args(["-r", &dpi.to_string(), "-gray", "-singlefile", "-f", &page.to_string(), "-l", &page.to_string()])
        .arg(&input)
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(status.success());
    let pgm = std::fs::read(prefix.with_extension("pgm")).unwrap();
    // P5 header: magic, width, height, maxval, each ended by whitespace.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = pgm[at + 1..at + 1 + w * h].to_vec();
    (w, h, pixels)
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn statin_pages() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        vec![
            "1. Scope",
            "",
            "Clarithromycin is a strong inhibitor of CYP3A4.",
            "It raises simvastatin exposure about tenfold.",
        ],
        vec![
            "2. Monitoring",
            "",
            "Check creatine kinase when muscle pain appears.",
            "Stop the statin at 10 times the upper limit.",
        ],
    )
}

#[test]
fn without_ocr_scanned_pages_are_reported() {
    if !tools() {
        return;
    }
    let (page1, page2) = statin_pages();
    let text_pdf = pdf(&[page1.clone(), page2], &[], None);
    let scan2 = scan(&text_pdf, 2, 100);
    let off = IngestOptions { ocr: false, ..IngestOptions::default() };
    let key = DocKey::new("scan").unwrap();
    // All pages scanned: a clear error naming the feature.
    let e =
        ingest_bytes(&key, "scan.pdf", &image_pdf(std::slice::from_ref(&scan2)), Format::Pdf, &off, None).unwrap_err();
    assert!(e.to_string().contains("`ocr` feature"), "{e}");
    // A text page beside two scans: stored, and the scans listed, not silently empty.
    let mixed = mixed_pdf(&page1, &[scan2.clone(), scan2]);
    let doc = ingest_bytes(&key, "mixed.pdf", &mixed, Format::Pdf, &off, None).unwrap();
    assert_eq!(doc.unread_pages, [2, 3]);
    assert!(doc.tree.nodes.iter().any(|n| n.text.contains("Clarithromycin")));
}

#[test]
fn a_scanned_page_is_read_back_with_its_page() {
    if !tools() || !cfg!(feature = "ocr") {
        return;
    }
    let (page1, page2) = statin_pages();
    let text_pdf = pdf(&[page1.clone(), page2.clone()], &[], Some("Statin Note"));
    let scanned = image_pdf(&[scan(&text_pdf, 1, 200), scan(&text_pdf, 2, 200)]);
    let doc =
        ingest_bytes(&DocKey::new("scan").unwrap(), "scan.pdf", &scanned, Format::Pdf, &IngestOptions::default(), None)
            .unwrap();
    assert!(doc.unread_pages.is_empty());
    let truth: Vec<String> = page1.iter().chain(&page2).flat_map(|l| words(l)).collect();
    let got: std::collections::HashSet<String> = doc.tree.nodes.iter().flat_map(|n| words(&n.text)).collect();
    let found = truth.iter().filter(|w| got.contains(*w)).count();
    let recall = found as f64 / truth.len() as f64;
    eprintln!("OCR word recall {recall:.3} ({found}/{})", truth.len());
    assert!(recall >= 0.9, "recall {recall}: {:?}", doc.tree.nodes.iter().map(|n| &n.text).collect::<Vec<_>>());
    // Page numbers survive: the monitoring paragraph is on page 2.
    let node = doc.tree.nodes.iter().find(|n| n.text.contains("creatine")).unwrap();
    assert_eq!(node.pages.map(|p| p.first), Some(2));
}
