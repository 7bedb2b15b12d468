//! `cairn bench formats`: ingest throughput per format on generated files of the same
//! content, beside the Python libraries people extract these formats with, on the same
//! files in the same run (`bench/formats_peer.py`: python-docx, openpyxl, python-pptx,
//! the standard library's `email` and `csv`, odfpy where installed).
//!
//! Cairn's figure is the whole ingest (parse, tree, sentences, stable IDs); the peers'
//! is text extraction alone, which is less work, so a ratio above 1 is Cairn doing more
//! in the same time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cairn_core::DocKey;
use cairn_ingest::{Format, IngestOptions, ingest_bytes};
use serde::Serialize;

/// One format's figures.
#[derive(Debug, Clone, Serialize)]
pub struct FormatRow {
    /// Format name.
    pub format: String,
    /// File size.
    pub bytes: usize,
    /// Nodes in the tree.
    pub nodes: usize,
    /// Best of the runs, seconds.
    pub seconds: f64,
    /// MB/s.
    pub mb_per_s: f64,
    /// The peer library, and its best time, when it ran.
    pub peer: Option<(String, f64)>,
}

/// Paragraph `i` of the generated content (English and Chinese, with numbers).
fn sentence(i: usize) -> String {
    if i % 4 == 3 {
        format!("第{i}条　药物{i}经CYP3A4代谢，剂量为{}毫克，需要监测。", 5 + i % 40)
    } else {
        format!("Item {i}: the dose of drug {i} is {} mg, reviewed on day {} by the committee.", 5 + i % 40, i % 28 + 1)
    }
}

/// The generated files, about `paragraphs` paragraphs (or rows) each.
pub fn fixtures(dir: &Path, paragraphs: usize) -> std::io::Result<Vec<(Format, PathBuf)>> {
    std::fs::create_dir_all(dir)?;
    let paras: Vec<String> = (0..paragraphs).map(sentence).collect();
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
    let mut out = Vec::new();
    let mut put = |format: Format, name: &str, bytes: Vec<u8>| -> std::io::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes)?;
        out.push((format, path));
        Ok(())
    };
    // DOCX: a heading every 20 paragraphs.
    let mut body = String::new();
    for (i, p) in paras.iter().enumerate() {
        if i % 20 == 0 {
            body.push_str(&format!(
                r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>{} Section {}</w:t></w:r></w:p>"#,
                i / 20 + 1,
                i / 20 + 1
            ));
        }
        body.push_str(&format!("<w:p><w:r><w:t>{}</w:t></w:r></w:p>", esc(p)));
    }
    let styles = r#"<w:style w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>"#;
    put(Format::Docx, "bench.docx", cairn_ingest::docx::write_docx(&body, Some(styles), None, None))?;
    // XLSX and CSV: rows of four columns.
    let row = |i: usize| vec![format!("Drug {i}"), format!("{}", 5 + i % 40), format!("CYP{}", 1 + i % 3), sentence(i)];
    let mut rows = vec![vec!["Drug".to_owned(), "Dose mg".to_owned(), "Enzyme".to_owned(), "Note".to_owned()]];
    rows.extend((0..paragraphs).map(row));
    put(Format::Xlsx, "bench.xlsx", cairn_ingest::xlsx::write_xlsx(&[("Doses", rows.clone())]))?;
    let csv: String = rows
        .iter()
        .map(|r| r.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect::<Vec<_>>().join(",") + "\n")
        .collect();
    put(Format::Csv, "bench.csv", csv.into_bytes())?;
    // PPTX: ten paragraphs a slide.
    let slides: Vec<(String, Vec<String>)> = paras
        .chunks(10)
        .enumerate()
        .map(|(i, c)| (format!("Slide {}", i + 1), c.iter().map(|p| esc(p)).collect()))
        .collect();
    let refs: Vec<Vec<&str>> = slides.iter().map(|(_, b)| b.iter().map(String::as_str).collect()).collect();
    let deck: Vec<(&str, &[&str], Option<&str>)> =
        slides.iter().zip(&refs).map(|((t, _), b)| (t.as_str(), b.as_slice(), None)).collect();
    put(Format::Pptx, "bench.pptx", cairn_ingest::pptx::write_pptx(&deck))?;
    // E-mail: the paragraphs as a plain-text body.
    let eml = format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: Doses\r\nDate: Tue, 29 Jul 2025 15:44:01 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        paras.join("\r\n\r\n")
    );
    put(Format::Email, "bench.eml", eml.into_bytes())?;
    // Markdown, HTML and text, for reference.
    let md: String = paras
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 20 == 0 { format!("## {} Section\n\n{p}\n\n", i / 20 + 1) } else { format!("{p}\n\n") })
        .collect();
    put(Format::Markdown, "bench.md", md.into_bytes())?;
    let html: String = paras.iter().map(|p| format!("<p>{}</p>\n", esc(p))).collect();
    put(Format::Html, "bench.html", format!("<html><body>{html}</body></html>").into_bytes())?;
    Ok(out)
}

fn ingest_time(format: Format, path: &Path, runs: usize) -> Result<(f64, usize, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let key = DocKey::new("bench").map_err(|e| e.to_string())?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("bench");
    let mut best = f64::MAX;
    let mut nodes = 0;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let doc = ingest_bytes(&key, name, &bytes, format, &IngestOptions::default(), None)
            .map_err(|e| format!("{name}: {e}"))?;
        best = best.min(started.elapsed().as_secs_f64());
        nodes = doc.tree.nodes.len();
    }
    Ok((best, nodes, bytes.len()))
}

/// Runs the benchmark; the peer script gets the same files when `peer`.
pub fn run(dir: &Path, paragraphs: usize, runs: usize, peer: bool) -> Result<Vec<FormatRow>, String> {
    let files = fixtures(dir, paragraphs).map_err(|e| e.to_string())?;
    let peer_times: serde_json::Value = if peer {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/formats_peer.py");
        let out = Command::new("python3")
            .arg(&script)
            .arg(dir)
            .arg(runs.to_string())
            .output()
            .map_err(|e| format!("running {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!("{}: {}", script.display(), String::from_utf8_lossy(&out.stderr)));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("peer output: {e}"))?
    } else {
        serde_json::Value::Null
    };
    let mut rows = Vec::new();
    for (format, path) in files {
        let (seconds, nodes, bytes) = ingest_time(format, &path, runs)?;
        let name = format.as_str().to_owned();
        let peer = peer_times
            .get(&name)
            .and_then(|p| Some((p.get("library")?.as_str()?.to_owned(), p.get("seconds")?.as_f64()?)));
        rows.push(FormatRow {
            format: name,
            bytes,
            nodes,
            seconds,
            mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
            peer,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_fixture_ingests() {
        let dir = tempfile::tempdir().unwrap();
        let rows = super::run(dir.path(), 60, 1, false).unwrap();
        assert_eq!(rows.len(), 7);
        for r in &rows {
            assert!(r.nodes > 10, "{r:?}");
        }
    }
}
