//! The web page in headless Chromium (Debian's `chromium`, driven by `playwright-core`
//! from npm): see `browser/page.test.mjs` for what is asserted. Screenshots are written to
//! `target/artefacts/browser/`.
//!
//! Skips with a message when Chromium or `browser/node_modules` is missing, unless
//! `CAIRN_REQUIRE_BROWSER=1` (as in CI), where a missing piece fails the test.
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use cairn_engine::{Kb, Settings, demo};
use cairn_server::{AppState, ServerConfig, serve_blocking};

/// An HTML page that tries to run script through every door: script elements, an event
/// attribute, and entity-escaped markup that becomes live if text is ever parsed as HTML.
const HOSTILE: &str = r#"<!doctype html><html><head><title>Anticoagulation bulletin</title>
<script>window.__pwned.push('head')</script></head>
<body><h1>Zorbitrex bulletin</h1>
<p>With zorbitrex the INR is checked weekly for the first month &lt;img src=x onerror="window.__pwned.push('img');alert(1)"&gt; and monthly after that.</p>
<p onclick="window.__pwned.push('attr')">Zorbitrex with aspirin &lt;script&gt;window.__pwned.push('text')&lt;/script&gt; raises the bleeding risk.</p>
<script>window.__pwned.push('body')</script>
<iframe src="javascript:window.__pwned.push('iframe')"></iframe>
</body></html>"#;

fn missing(what: &str) {
    if std::env::var("CAIRN_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("CAIRN_REQUIRE_BROWSER=1 but {what}");
    }
    eprintln!("SKIP: {what}");
}

#[test]
fn the_page_in_headless_chromium() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return missing(&format!("no Chromium at {chromium} (apt-get install chromium)"));
    }
    if !here.join("node_modules/playwright-core").is_dir() {
        return missing(&format!("playwright-core is not installed (npm ci --prefix {})", here.display()));
    }
    // The page view's pdf.js, embedded by this crate's build when scripts/fetch-web.sh ran.
    if !Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor/node_modules/pdfjs-dist/build/pdf.min.mjs").is_file() {
        return missing("pdf.js is not installed (scripts/fetch-web.sh)");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut kb = Kb::open(dir.path(), Settings::default()).unwrap();
    demo::load_into(&mut kb).unwrap();
    let outcome = kb.ingest_bytes("upload:bulletin.html", "bulletin.html", HOSTILE.as_bytes(), None, None).unwrap();
    assert!(matches!(outcome, cairn_engine::FileOutcome::Stored(_)), "{outcome:?}");
    // A PDF with known lines at known places (`testing::pdf`: 11-point Helvetica from
    // (50, 780) down in 14-point steps, on a 595 × 842 page).
    let lines = [
        "Tovaline handling",
        "",
        "1. Storage",
        "",
        "Tovaline tablets are kept below 25 degrees and away from light.",
        "An opened bottle of tovaline is used within 90 days of opening.",
    ];
    let bytes = cairn_ingest::testing::pdf(&[lines.to_vec()], &[], None);
    let key = cairn_core::DocKey::new("tovaline").unwrap();
    let outcome = kb.ingest_bytes("upload:tovaline.pdf", "tovaline.pdf", &bytes, Some(key), None).unwrap();
    assert!(matches!(outcome, cairn_engine::FileOutcome::Stored(_)), "{outcome:?}");
    let drawn: Vec<serde_json::Value> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(k, l)| serde_json::json!({ "text": l, "left": 50.0, "baseline": 842.0 - (780.0 - 14.0 * k as f64), "size": 11.0 }))
        .collect();
    let pdf_json = serde_json::json!({
        "key": "tovaline",
        "question": "How long can an opened bottle of tovaline be used?",
        "width": 595.0,
        "lines": drawn,
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let config = ServerConfig {
            api_keys: vec!["browser-key".into()],
            // Background uploads from the page become jobs that this replica runs.
            worker: Some("browser-worker".into()),
            ..ServerConfig::default()
        };
        let state = AppState::new(vec![("demo".into(), kb)], config);
        serve_blocking("127.0.0.1:0", state, |a| tx.send(a).unwrap()).unwrap();
    });
    let base = format!("http://{}", rx.recv().unwrap());
    let artefacts: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/artefacts/browser");
    let out = std::process::Command::new("node")
        .arg(here.join("page.test.mjs"))
        .args([&base, "browser-key", artefacts.to_str().unwrap(), &pdf_json.to_string()])
        .env("CHROMIUM", &chromium)
        .current_dir(&here)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("BROWSER OK"), "{stdout}\n{stderr}");
    for name in [
        "01-page",
        "02-answer",
        "03-citation",
        "04-graph",
        "05-chinese",
        "06-hostile",
        "07-upload",
        "07b-job",
        "08-pdf-page",
    ] {
        let png = artefacts.join(format!("{name}.png"));
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 5000, "{}", png.display());
    }
}
