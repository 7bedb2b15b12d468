//! OCR of PDF pages that have no text layer (scans), with Debian's `poppler-utils`
//! (`pdftoppm` renders a page) and `tesseract-ocr` (plus `tesseract-ocr-chi-sim` for
//! Chinese), run as programs; feature `ocr`.
//!
//! Tesseract's TSV output gives every word with its box; words are joined into lines (no
//! space between two Han characters) and a paragraph break is kept where Tesseract starts
//! a new paragraph, so the page goes through the same line parser as a text layer would.
//! The boxes of each line are returned too, in PDF points from the page's top left.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{IngestError, Result};

/// Rendering resolution for recognition (an A4 page is 2,481 × 3,508 pixels).
const DPI: u32 = 300;

/// Widest rendered area, in pixels (its height is 1.5 times this): A3 at 300 dpi fits.
const MAX_SIDE: u32 = 4200;

/// Longest a program may run on one page.
const PAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// One recognised line: its text and its box (left, top, width, height) in PDF points.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrLine {
    /// The words, joined.
    pub text: String,
    /// Left, top, width, height, in points from the page's top left corner.
    pub bbox: [f32; 4],
    /// Mean word confidence, 0–100.
    pub confidence: f32,
}

/// A recognised page.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrPage {
    /// 1-based page number.
    pub page: u32,
    /// Lines in reading order; an empty text marks a paragraph break.
    pub lines: Vec<OcrLine>,
}

impl OcrPage {
    /// The page as text, one line per line, blank lines between paragraphs.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(&l.text);
            out.push('\n');
        }
        out
    }
}

fn ocr_error(reason: impl Into<String>) -> IngestError {
    IngestError::Ocr { reason: reason.into() }
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch() -> Result<Scratch> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("cairn-ocr-{}-{n}-{nanos}", std::process::id()));
    // `create_dir` (not `create_dir_all`) fails if the name exists, so nobody can plant a
    // folder or a link there first; the folder is private to this user.
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(|e| ocr_error(format!("scratch folder {}: {e}", dir.display())))?;
    Ok(Scratch(dir))
}

fn run(cmd: &mut Command, what: &str, package: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut child =
        cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().map_err(|e| {
            ocr_error(format!("{what} did not run ({e}); install Debian's {package} to read scanned pages"))
        })?;
    // Read the output on threads while waiting, so a full pipe never stalls the program.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut buf);
        }
        buf
    });
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| ocr_error(format!("{what}: {e}")))? {
            break status;
        }
        let expired = cairn_core::deadline::check().is_err();
        if expired || started.elapsed() > PAGE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            cairn_core::deadline::check()?;
            return Err(ocr_error(format!("{what} took longer than {} s on one page", PAGE_TIMEOUT.as_secs())));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if !status.success() {
        return Err(ocr_error(format!("{what} failed: {}", String::from_utf8_lossy(&stderr).trim())));
    }
    Ok(stdout)
}

/// The Tesseract languages to use: English, and simplified Chinese when installed.
fn languages() -> String {
    let listed = Command::new("tesseract").arg("--list-langs").output().map(|o| o.stdout).unwrap_or_default();
    let listed = String::from_utf8_lossy(&listed);
    if listed.lines().any(|l| l.trim() == "chi_sim") { "eng+chi_sim".into() } else { "eng".into() }
}

/// Recognises `pages` (1-based) of the PDF `bytes`.
pub fn recognise(bytes: &[u8], pages: &[u32]) -> Result<Vec<OcrPage>> {
    if pages.is_empty() {
        return Ok(Vec::new());
    }
    let dir = scratch()?;
    let pdf = dir.0.join("in.pdf");
    std::fs::write(&pdf, bytes).map_err(|e| ocr_error(format!("writing the PDF: {e}")))?;
    let langs = languages();
    let mut out = Vec::new();
    for &page in pages {
        cairn_core::deadline::check()?;
        out.push(recognise_page(&dir.0, &pdf, page, &langs)?);
    }
    Ok(out)
}

fn recognise_page(dir: &Path, pdf: &Path, page: u32, langs: &str) -> Result<OcrPage> {
    let prefix = dir.join(format!("p{page}"));
    run(
        Command::new("pdftoppm")
            .args([
                "-r",
                &DPI.to_string(),
                // Render at most this area (A3 and smaller whole): a page that declares a
                // huge size is cut, not rendered into gigabytes.
                "-W",
                &MAX_SIDE.to_string(),
                "-H",
                &(MAX_SIDE * 3 / 2).to_string(),
                "-gray",
                "-png",
                "-singlefile",
                "-f",
                &page.to_string(),
                "-l",
                &page.to_string(),
            ])
            .arg(pdf)
            .arg(&prefix),
        "pdftoppm",
        "poppler-utils",
    )?;
    let image = prefix.with_extension("png");
    let tsv = run(
        Command::new("tesseract")
            .arg(&image)
            .arg("-")
            .args(["-l", langs, "--psm", "3", "tsv"])
            .env("OMP_THREAD_LIMIT", "1"),
        "tesseract",
        "tesseract-ocr",
    )?;
    let _ = std::fs::remove_file(&image);
    Ok(OcrPage { page, lines: lines_of_tsv(&String::from_utf8_lossy(&tsv)) })
}

/// Tesseract TSV (level, page, block, paragraph, line, word, left, top, width, height,
/// confidence, text) into lines, with an empty line between paragraphs.
pub fn lines_of_tsv(tsv: &str) -> Vec<OcrLine> {
    let scale = 72.0 / DPI as f32;
    let mut lines: Vec<OcrLine> = Vec::new();
    let mut key: Option<(u32, u32, u32)> = None;
    let mut confs: Vec<f32> = Vec::new();
    for row in tsv.lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        if f.len() < 12 || f[0] != "5" {
            continue;
        }
        let word = f[11].trim();
        if word.is_empty() {
            continue;
        }
        let num = |i: usize| f[i].parse::<u32>().unwrap_or(0);
        let this = (num(2), num(3), num(4));
        let (l, t, w, h) = (num(6) as f32 * scale, num(7) as f32 * scale, num(8) as f32 * scale, num(9) as f32 * scale);
        let conf = f[10].parse::<f32>().unwrap_or(0.0);
        if key != Some(this) {
            if let Some(last) = lines.last_mut() {
                last.confidence = confs.iter().sum::<f32>() / confs.len().max(1) as f32;
            }
            confs.clear();
            if key.is_some_and(|k| (k.0, k.1) != (this.0, this.1)) {
                lines.push(OcrLine { text: String::new(), bbox: [0.0; 4], confidence: 0.0 });
            }
            lines.push(OcrLine { text: String::new(), bbox: [l, t, w, h], confidence: 0.0 });
            key = Some(this);
        }
        confs.push(conf);
        let Some(line) = lines.last_mut() else { continue };
        let han = |c: Option<char>| c.is_some_and(cairn_text::is_han);
        let han_join = han(line.text.chars().last()) && han(word.chars().next());
        if !line.text.is_empty() && !han_join {
            line.text.push(' ');
        }
        line.text.push_str(word);
        let [x, y, bw, bh] = line.bbox;
        let (x1, y1) = ((x + bw).max(l + w), (y + bh).max(t + h));
        let (x0, y0) = (x.min(l), y.min(t));
        line.bbox = [x0, y0, x1 - x0, y1 - y0];
    }
    if let Some(last) = lines.last_mut() {
        last.confidence = confs.iter().sum::<f32>() / confs.len().max(1) as f32;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_lines_paragraphs_and_han_joins() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext
5\t1\t1\t1\t1\t1\t300\t300\t100\t40\t95\tThe
5\t1\t1\t1\t1\t2\t420\t300\t100\t40\t91\tdose.
5\t1\t1\t2\t1\t1\t300\t600\t40\t40\t90\t剂
5\t1\t1\t2\t1\t2\t345\t600\t40\t40\t80\t量
";
        let lines = lines_of_tsv(tsv);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["The dose.", "", "剂量"]);
        let want = [72.0, 72.0, 52.8, 9.6];
        assert!(lines[0].bbox.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-3), "{:?}", lines[0].bbox);
        assert!((lines[0].confidence - 93.0).abs() < 1e-3);
    }
}
