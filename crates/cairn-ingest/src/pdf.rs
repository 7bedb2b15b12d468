//! PDF text extraction in pure Rust (pdf-extract over lopdf), page by page.
//!
//! Each page's text goes through the same line parser as plain text, with the page
//! number attached, so paragraphs know their pages (a paragraph that runs over a page
//! break spans both). When the PDF has an outline (bookmarks), its entries become the
//! headings: a line on the entry's page that matches the entry's title is turned into a
//! heading of the outline's level. Without an outline, numbered headings in the text are
//! recognised as in plain text.
//!
//! pdf-extract panics on some malformed inputs; those panics are caught and reported as
//! a corrupt PDF.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use cairn_core::{PageRange, normalize::fold};
use pdf_extract::{Dictionary, Document, ObjectId, OutputError, PlainTextOutput, output_doc_page};

use crate::block::{Block, BlockKind, Parsed, parse_lines};
use crate::error::{IngestError, Result};

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside a PDF parse whose panics are caught and reported as
/// [`IngestError::CorruptPdf`]. A binary's panic hook can use it to stay quiet about them.
pub fn in_guarded_parse() -> bool {
    GUARDED.with(Cell::get)
}

/// Stack size of the parsing thread: deep enough for hostile nesting in the PDF libraries'
/// recursive parsers.
const PARSER_STACK: usize = 256 * 1024 * 1024;

/// Parses a PDF held in memory, giving up after `timeout`.
///
/// The third-party PDF libraries can panic, recurse deeply or loop on hostile files, so
/// the parse runs on its own thread with a large stack, behind `catch_unwind`, and the
/// caller stops waiting after `timeout` (a looping parse is left to finish or spin on its
/// detached thread; the file is reported as corrupt either way).
pub fn parse_pdf(bytes: &[u8], timeout: std::time::Duration, ocr: bool) -> Result<Parsed> {
    let raw = guarded(bytes, timeout, extract)?;
    assemble(bytes, raw, ocr)
}

/// Runs `work` on the PDF's bytes on its own thread (large stack, panics caught), after
/// the checks every PDF passes first, and waits at most `timeout` (or the request's
/// deadline) for it.
pub(crate) fn guarded<T: Send + 'static>(
    bytes: &[u8],
    timeout: std::time::Duration,
    work: impl FnOnce(&[u8]) -> Result<T> + Send + 'static,
) -> Result<T> {
    check_xref_widths(bytes)?;
    check_inflation(bytes)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = bytes.to_vec();
    let spawned = std::thread::Builder::new().name("cairn-pdf".into()).stack_size(PARSER_STACK).spawn(move || {
        GUARDED.with(|g| g.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| work(&owned)));
        GUARDED.with(|g| g.set(false));
        let _ = tx.send(outcome);
    });
    if let Err(e) = spawned {
        return Err(IngestError::CorruptPdf { reason: format!("cannot start the PDF parser: {e}") });
    }
    // The request's deadline, when sooner, bounds the wait too. The parser thread cannot be
    // stopped from outside (the PDF libraries have no checkpoints); it is left to finish.
    let timeout = match cairn_core::deadline::current().and_then(|d| d.instant()) {
        Some(at) => timeout.min(at.saturating_duration_since(std::time::Instant::now())),
        None => timeout,
    };
    let outcome = match rx.recv_timeout(timeout) {
        Ok(outcome) => outcome,
        Err(_) => {
            cairn_core::deadline::check()?;
            return Err(IngestError::CorruptPdf {
                reason: format!("parsing took longer than {} s", timeout.as_secs()),
            });
        }
    };
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the PDF parser gave up");
            Err(IngestError::CorruptPdf { reason: format!("parser failure: {reason}") })
        }
    }
}

/// Most bytes that a document's compressed streams (images aside) may inflate to, all
/// told. Text PDFs stay far below it; a deflate bomb (a megabyte inflating to gigabytes)
/// is refused before the PDF libraries, which inflate without a limit, see it.
pub const MAX_PDF_INFLATED_BYTES: u64 = 256 << 20;

/// Inflates every Flate stream that is not an image into a counter, refusing the file
/// once the total passes [`MAX_PDF_INFLATED_BYTES`]. Nothing is kept, so this costs time
/// (linear in what inflates) but no memory. Streams are found by their keywords, as a
/// reader recovering a damaged file would, so object and cross-reference streams that
/// lopdf inflates while loading are counted too.
fn check_inflation(bytes: &[u8]) -> Result<()> {
    use std::io::Read;
    let find = |from: usize, needle: &[u8]| {
        bytes.get(from..).and_then(|rest| rest.windows(needle.len()).position(|w| w == needle)).map(|p| from + p)
    };
    let (mut total, mut at, mut tick) = (0u64, 0usize, 0u32);
    let mut buf = vec![0u8; 64 << 10];
    while let Some(p) = find(at, b"stream") {
        cairn_core::deadline::check()?;
        if p >= 3 && &bytes[p - 3..p] == b"end" {
            at = p + 6;
            continue;
        }
        let dict = &bytes[p.saturating_sub(2048)..p];
        let dict = dict.windows(3).rposition(|w| w == b"obj").map_or(dict, |o| &dict[o..]);
        let mut start = p + 6;
        if bytes.get(start) == Some(&b'\r') {
            start += 1;
        }
        if bytes.get(start) == Some(&b'\n') {
            start += 1;
        }
        let end = find(start, b"endstream").unwrap_or(bytes.len());
        let contains = |needle: &[u8]| dict.windows(needle.len()).any(|w| w == needle);
        if !contains(b"/Image") && contains(b"/Fl") {
            let mut inflater = flate2::read::ZlibDecoder::new(&bytes[start.min(end)..end]);
            loop {
                cairn_core::deadline::check_every(&mut tick)?;
                match inflater.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n as u64,
                }
                if total > MAX_PDF_INFLATED_BYTES {
                    return Err(IngestError::TooComplex {
                        what: "the bytes this PDF's streams inflate to",
                        limit: MAX_PDF_INFLATED_BYTES,
                    });
                }
            }
        }
        at = end.max(p + 6);
    }
    Ok(())
}

/// The widest field a cross-reference stream may declare: 8 bytes hold any file offset.
const MAX_XREF_FIELD_WIDTH: u64 = 8;

/// Refuses a cross-reference stream whose `/W` declares a field wider than
/// [`MAX_XREF_FIELD_WIDTH`] bytes. lopdf allocates a buffer of each declared width before
/// reading a byte, so `/W [33333333333333331 4 2]` in a 1 KB file aborts the whole process
/// on a failed allocation, which no `catch_unwind` can stop (found by fuzzing).
///
/// One linear pass: a `/W` array counts when the dictionary it sits in is a stream's (a
/// `stream` keyword comes before any `endobj`), which keeps out the `/W` glyph-width arrays of
/// CID fonts (plain dictionaries, with values in the hundreds). A cross-reference stream's
/// dictionary is never compressed, so its `/W` is always in the raw bytes.
fn check_xref_widths(bytes: &[u8]) -> Result<()> {
    let regular = |b: u8| !(b.is_ascii_whitespace() || b == 0 || b"()<>[]{}/%".contains(&b));
    let mut pending: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"/W") && rest.get(2).is_none_or(|&b| !regular(b)) {
            pending.push(i + 2);
            i += 2;
        } else if rest.starts_with(b"endobj") || rest.starts_with(b"endstream") {
            pending.clear();
            i += 6;
        } else if rest.starts_with(b"stream") {
            for &at in &pending {
                if let Some(width) = widest_field(&bytes[at..])
                    && width > MAX_XREF_FIELD_WIDTH
                {
                    return Err(IngestError::CorruptPdf {
                        reason: format!(
                            "a cross-reference stream declares a field {width} bytes wide (at most {MAX_XREF_FIELD_WIDTH})"
                        ),
                    });
                }
            }
            pending.clear();
            i += 6;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The largest integer of the array that `text` starts with (after whitespace), or `None`
/// when it is not an array of plain integers (lopdf then refuses it itself). An integer too
/// long to read counts as `u64::MAX`.
fn widest_field(text: &[u8]) -> Option<u64> {
    let mut rest = text.trim_ascii_start().strip_prefix(b"[")?;
    let mut widest = 0u64;
    loop {
        rest = rest.trim_ascii_start();
        if rest.first() == Some(&b']') {
            return Some(widest);
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let value = std::str::from_utf8(&rest[..digits]).ok()?.parse::<u64>().unwrap_or(u64::MAX);
        widest = widest.max(value);
        rest = &rest[digits..];
    }
}

struct OutlineEntry {
    level: u8,
    title: String,
    page: u32,
}

/// What the PDF libraries read: each page's text, the outline and the title.
struct Raw {
    pages: Vec<(u32, String)>,
    outline: Vec<OutlineEntry>,
    title: Option<String>,
    count: u32,
}

/// Loads a PDF for reading: decrypted when it opens with the empty password, with cycles
/// in its page tree broken.
pub(crate) fn load(bytes: &[u8]) -> Result<Document> {
    let corrupt = |e: &dyn std::fmt::Display| IngestError::CorruptPdf { reason: e.to_string() };
    let mut doc = Document::load_mem(bytes).map_err(|e| corrupt(&e))?;
    if doc.is_encrypted() {
        doc.decrypt("").map_err(|_| IngestError::CorruptPdf { reason: "encrypted with a password".into() })?;
    }
    break_parent_cycles(&mut doc);
    Ok(doc)
}

fn extract(bytes: &[u8]) -> Result<Raw> {
    let doc = load(bytes)?;
    let page_numbers: Vec<u32> = doc.get_pages().keys().copied().collect();
    let mut pages: Vec<(u32, String)> = Vec::with_capacity(page_numbers.len());
    for n in &page_numbers {
        let mut text = String::new();
        let result: std::result::Result<(), OutputError> = {
            let mut output = PlainTextOutput::new(&mut text);
            output_doc_page(&doc, &mut output, *n)
        };
        if let Err(e) = result {
            tracing::warn!(page = n, error = %e, "skipping unreadable PDF page");
            continue;
        }
        pages.push((*n, text));
    }
    Ok(Raw { pages, outline: outline(&doc), title: doc_title(&doc), count: page_numbers.len() as u32 })
}

/// The pages' lines, each with its page. The blank lines around a page break are dropped
/// when the text before it stops mid-sentence, so a paragraph that runs on to the next
/// page stays one paragraph (and spans both pages).
fn join_pages(pages: &[(u32, String)]) -> Vec<(&str, Option<u32>)> {
    let mut lines: Vec<(&str, Option<u32>)> = Vec::new();
    for (n, text) in pages {
        let open = lines.iter().rev().find(|(l, _)| !l.trim().is_empty()).is_some_and(|(l, _)| {
            let l = l.trim_end();
            !l.ends_with(['.', '!', '?', ':', ';', '。', '！', '？', '：', '；', '"', '”', ')'])
                && l.chars().last().is_some_and(|c| c.is_alphanumeric() || c == ',' || c == '，' || c == '-')
        });
        let mut page: Vec<(&str, Option<u32>)> = text.lines().map(|l| (l, Some(*n))).collect();
        if open {
            while lines.last().is_some_and(|(l, _)| l.trim().is_empty()) {
                lines.pop();
            }
            let blank = page.iter().take_while(|(l, _)| l.trim().is_empty()).count();
            page.drain(..blank);
        }
        lines.extend(page);
    }
    lines
}

/// Pages without a text layer (scans) are recognised with OCR when `ocr` is on, and listed
/// as unread otherwise; then the pages' lines become blocks.
fn assemble(bytes: &[u8], raw: Raw, ocr: bool) -> Result<Parsed> {
    let Raw { mut pages, outline, title, count } = raw;
    let scanned: Vec<u32> = pages.iter().filter(|(_, t)| t.trim().is_empty()).map(|(n, _)| *n).collect();
    let mut unread = Vec::new();
    let mut layer = String::new();
    if !scanned.is_empty() {
        if ocr {
            let _span = tracing::info_span!("ocr", pages = scanned.len()).entered();
            for page in crate::ocr::recognise(bytes, &scanned)? {
                if let Some(slot) = pages.iter_mut().find(|(n, _)| *n == page.page) {
                    slot.1 = page.text();
                }
                layer.push_str(&crate::locate::layer_of(&page));
            }
        } else {
            unread = scanned;
        }
    }
    let pages = undouble_pages(pages);
    let lines = join_pages(&pages);
    let mut parsed = if outline.is_empty() {
        parse_lines(lines, title.is_none())
    } else {
        let plain = parse_lines(lines, false);
        apply_outline(plain, &outline)
    };
    if parsed.blocks.iter().all(|b| b.kind != BlockKind::Paragraph) {
        return Err(IngestError::NoText);
    }
    parsed.pages = Some(count);
    parsed.unread_pages = unread;
    parsed.text_layer = (!layer.is_empty()).then_some(layer);
    if title.is_some() {
        parsed.title = title;
    }
    Ok(parsed)
}

/// Undoes double spacing on every page of a document whose pages are double spaced: one
/// page alone, or all of them taken together. A page that also holds a table (whose lines
/// the PDF sets single spaced) no longer looks double spaced by itself, and its prose was
/// cut into one paragraph per line (a status report's bullets, a quote's terms).
pub(crate) fn undouble_pages(pages: Vec<(u32, String)>) -> Vec<(u32, String)> {
    let each: Vec<Spacing> = pages.iter().map(|(_, t)| Spacing::of(t)).collect();
    let all = each.iter().fold(Spacing::default(), |a, b| Spacing {
        single: a.single + b.single,
        unbroken: a.unbroken + b.unbroken,
        wider: a.wider + b.wider,
    });
    let document = each.iter().any(Spacing::double) || all.mostly_double();
    pages.into_iter().map(|(n, text)| if document { (n, undouble_lines(&text)) } else { (n, text) }).collect()
}

/// A page's non-empty lines, each with the number of blank lines after it.
fn line_runs(text: &str) -> Vec<(&str, usize)> {
    let mut runs: Vec<(&str, usize)> = Vec::new();
    for l in text.lines() {
        if l.trim().is_empty() {
            if let Some(last) = runs.last_mut() {
                last.1 += 1;
            }
        } else {
            runs.push((l, 0));
        }
    }
    runs
}

/// How a page's text lines are followed: by one blank line, by none, or by more.
#[derive(Debug, Clone, Copy, Default)]
struct Spacing {
    single: usize,
    unbroken: usize,
    wider: usize,
}

impl Spacing {
    fn of(text: &str) -> Spacing {
        let runs = line_runs(text);
        let mut s = Spacing::default();
        // The last line's trailing blanks say nothing about spacing.
        for &(_, b) in runs.iter().take(runs.len().saturating_sub(1)) {
            match b {
                0 => s.unbroken += 1,
                1 => s.single += 1,
                _ => s.wider += 1,
            }
        }
        s
    }

    /// Nearly every line is followed by one blank line.
    fn double(&self) -> bool {
        let inner = self.single + self.unbroken + self.wider;
        inner >= 4 && self.single * 5 >= inner * 4
    }

    /// Where blank lines follow, they are single (the breaks are not paragraph ends of
    /// varying width), and they follow more lines than not: in single-spaced prose, a blank
    /// ends a paragraph of several lines, so most lines have none.
    fn mostly_double(&self) -> bool {
        self.single >= 4 && self.single * 5 >= (self.single + self.wider) * 4 && self.single >= self.unbroken
    }
}

/// Undoes double spacing. pdf-extract puts a blank line between every two text lines of
/// some PDFs, and a blank line is a paragraph break to the line parser, so each wrapped line
/// became a paragraph of its own (a clause cut into seven citation units). On a page where
/// most lines are followed by exactly one blank line, a blank is kept only where a
/// paragraph really ends: before a numbered clause, a heading or a list item, after a
/// sentence that stops well short of the page's usual line length, and where the page had
/// two or more blank lines.
fn undouble_lines(text: &str) -> String {
    let runs = line_runs(text);
    if runs.is_empty() {
        return text.to_owned();
    }
    // The usual width of the spaced lines (prose), not of a table's single-spaced cells.
    let spaced: Vec<&(&str, usize)> = runs.iter().filter(|(_, b)| *b > 0).collect();
    let measured: Vec<&(&str, usize)> = if spaced.is_empty() { runs.iter().collect() } else { spaced };
    let mut widths: Vec<usize> = measured.iter().map(|(l, _)| l.trim().chars().count()).collect();
    widths.sort_unstable();
    let usual = widths[widths.len() * 3 / 4];
    let mut out = String::with_capacity(text.len());
    for (i, (line, blanks)) in runs.iter().enumerate() {
        out.push_str(line);
        out.push('\n');
        let Some((next, _)) = runs.get(i + 1) else { break };
        // Undoing removes breaks; lines that the page set without one stay together.
        if *blanks == 0 {
            continue;
        }
        let t = line.trim();
        let ends = t.ends_with(['.', '!', '?', ':', ';', '。', '！', '？', '；', '：', ')']);
        let short = t.chars().count() * 4 < usual * 3;
        let starts_block = cairn_text::numbering::detect_heading(next.trim()).is_some()
            || crate::block::starts_item(next)
            || (next.trim().chars().count() * 2 < usual
                && !next.trim().ends_with(['.', ','])
                && !t.ends_with([',', '-', '—', '&', '/']));
        // A running header or footer ("Page 8", "- 8 -", "8 of 12") is a line of its own.
        let marker = |l: &str| {
            let l = l.trim().trim_matches(['-', '–', ' ']);
            let l = l.strip_prefix("Page ").or_else(|| l.strip_prefix("page ")).unwrap_or(l);
            !l.is_empty() && l.split(" of ").all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        };
        // A field ("Project: Larch") ends at its line unless its value runs on.
        let field = crate::block::field_ends(t, Some(next));
        if *blanks >= 2 || starts_block || (ends && short) || marker(t) || marker(next) || field {
            out.push('\n');
        }
    }
    out
}

/// Cuts `Parent` chains that loop or run absurdly deep: pdf-extract follows them to find
/// inherited page attributes and would loop forever (found by the `parse_pdf` fuzz target).
fn break_parent_cycles(doc: &mut Document) {
    const MAX_DEPTH: usize = 64;
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    for page in pages {
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut current = page;
        for _ in 0..=MAX_DEPTH {
            seen.insert(current);
            let Some(parent) = doc
                .get_dictionary(current)
                .ok()
                .and_then(|d| d.get(b"Parent").ok())
                .and_then(|p| p.as_reference().ok())
            else {
                break;
            };
            if seen.contains(&parent) || seen.len() >= MAX_DEPTH {
                if let Ok(dict) = doc.get_dictionary_mut(current) {
                    dict.remove(b"Parent");
                }
                break;
            }
            current = parent;
        }
    }
}

fn doc_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = doc.dereference(info).ok()?.1.as_dict().ok()?;
    let title = pdf_text(info.get(b"Title").ok()?.as_str().ok()?).trim().to_owned();
    (!title.is_empty()).then_some(title)
}

/// Most outline entries read; a bound against hostile files.
const MAX_OUTLINE_ENTRIES: usize = 10_000;
/// Deepest outline nesting read.
const MAX_OUTLINE_DEPTH: u8 = 12;

/// Reads the outline (bookmarks) iteratively, with cycle detection and bounds. lopdf's
/// own reader recurses without a visited set, and a cyclic outline overflows the stack,
/// which no `catch_unwind` can catch (found by the `parse_pdf` fuzz target).
fn outline(doc: &Document) -> Vec<OutlineEntry> {
    let page_of: HashMap<ObjectId, u32> = doc.get_pages().into_iter().map(|(n, id)| (id, n)).collect();
    let Ok(catalog) = doc.catalog() else { return Vec::new() };
    let Some(root) = catalog.get(b"Outlines").ok().and_then(|o| o.as_reference().ok()) else { return Vec::new() };
    let Ok(root) = doc.get_dictionary(root) else { return Vec::new() };
    let mut entries = Vec::new();
    let mut visited: HashSet<ObjectId> = HashSet::new();
    // (item, level); `Next` siblings are pushed after `First` children, so the stack yields
    // a pre-order walk.
    let mut stack: Vec<(ObjectId, u8)> = Vec::new();
    if let Some(first) = root.get(b"First").ok().and_then(|o| o.as_reference().ok()) {
        stack.push((first, 1));
    }
    while let Some((id, level)) = stack.pop() {
        if entries.len() >= MAX_OUTLINE_ENTRIES || !visited.insert(id) {
            continue;
        }
        let Ok(item) = doc.get_dictionary(id) else { continue };
        if let Some(next) = item.get(b"Next").ok().and_then(|o| o.as_reference().ok()) {
            stack.push((next, level));
        }
        if level < MAX_OUTLINE_DEPTH
            && let Some(child) = item.get(b"First").ok().and_then(|o| o.as_reference().ok())
        {
            stack.push((child, level + 1));
        }
        let title = item.get(b"Title").ok().and_then(|t| t.as_str().ok()).map(pdf_text).unwrap_or_default();
        let page = destination_page(doc, item, &page_of);
        if let Some(page) = page
            && !title.trim().is_empty()
        {
            entries.push(OutlineEntry { level, title: title.trim().to_owned(), page });
        }
    }
    entries
}

/// The page an outline item points at, from `/Dest [page …]` or a GoTo action's `/D`.
fn destination_page(doc: &Document, item: &Dictionary, page_of: &HashMap<ObjectId, u32>) -> Option<u32> {
    let dest = match item.get(b"Dest") {
        Ok(d) => d,
        Err(_) => {
            let action = item.get(b"A").ok()?;
            let action = doc.dereference(action).ok()?.1.as_dict().ok()?;
            action.get(b"D").ok()?
        }
    };
    let dest = doc.dereference(dest).ok()?.1;
    let page = dest.as_array().ok()?.first()?.as_reference().ok()?;
    page_of.get(&page).copied()
}

/// Decodes a PDF text string: UTF-16BE with a BOM, otherwise bytes as Latin-1.
fn pdf_text(raw: &[u8]) -> String {
    if raw.starts_with(&[0xFE, 0xFF]) {
        let units: Vec<u16> = raw[2..].chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    } else {
        raw.iter().map(|&b| b as char).collect()
    }
}

/// Rebuilds the blocks so that outline entries are the only headings.
fn apply_outline(plain: Parsed, outline: &[OutlineEntry]) -> Parsed {
    // Numbered-heading detection is replaced by the outline: demote detected headings
    // back to text first.
    let mut blocks: Vec<Block> = Vec::new();
    for block in plain.blocks {
        match block.kind {
            BlockKind::Heading { .. } => {
                // A clause heading ("9.1") with its body in the next paragraph is joined back.
                blocks.push(Block::paragraph(block.text, block.pages));
            }
            BlockKind::Paragraph | BlockKind::Table(_) => blocks.push(block),
        }
    }
    let mut by_page: HashMap<u32, Vec<&OutlineEntry>> = HashMap::new();
    for entry in outline {
        by_page.entry(entry.page).or_default().push(entry);
    }
    let mut out = Parsed {
        title: plain.title,
        blocks: Vec::new(),
        pages: plain.pages,
        unread_pages: plain.unread_pages,
        text_layer: plain.text_layer,
    };
    let mut placed = vec![false; outline.len()];
    let heading = |entry: &OutlineEntry| {
        Block::heading(entry.level, entry.title.clone(), Some(PageRange { first: entry.page, last: entry.page }))
    };
    for block in blocks {
        let page = block.pages.map_or(0, |p| p.first);
        // Entries for earlier pages that never matched a line are placed before the first
        // block of a later page, so every outline entry becomes a heading.
        for (i, entry) in outline.iter().enumerate() {
            if !placed[i] && entry.page < page {
                out.blocks.push(heading(entry));
                placed[i] = true;
            }
        }
        let folded = fold(&block.text);
        let hit = outline
            .iter()
            .enumerate()
            .find(|(i, e)| !placed[*i] && e.page == page && folded.starts_with(&fold(&e.title)));
        if let Some((i, entry)) = hit {
            placed[i] = true;
            out.blocks.push(heading(entry));
            let rest = folded[fold(&entry.title).len()..].trim();
            if !rest.is_empty() {
                out.blocks.push(Block::paragraph(rest, block.pages));
            }
        } else {
            out.blocks.push(block);
        }
    }
    for (i, entry) in outline.iter().enumerate() {
        if !placed[i] {
            out.blocks.push(heading(entry));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    fn undouble(page: &str) -> String {
        super::undouble_pages(vec![(1, page.to_owned())]).remove(0).1
    }

    #[test]
    fn double_spaced_lines_join_into_their_paragraphs() {
        let page = "Page 7\n\n4.5 The permanent 400A power supply was not energised on 7 February\n\n2025. Tidewell gave a second notice on 9 March 2025 claiming 21 days'\n\nextension, which Brisamar rejected on 11 March 2025, stating that the\n\nsupply would be available by the end of the week.\n\n4.6 On 14 March 2025 Tidewell suspended installation of conveyor line 2\n\nin Bay 3 between C4 and C7 pending a decision on re-levelling.\n\nBrisamar did not countersign CO-3. Tidewell proceeded with a steel\n\nsub-frame solution at its own initiative from 24 March 2025, completing\n\nit on 4 April 2025.\n";
        let parsed = crate::block::parse_text(&undouble(page));
        let texts: Vec<&str> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
        assert!(
            texts.iter().any(|t| t.contains("February 2025. Tidewell gave") && t.ends_with("end of the week.")),
            "{texts:#?}"
        );
        assert!(texts.iter().any(|t| t.contains("line 2 in Bay 3") && t.contains("on 4 April 2025.")), "{texts:#?}");
        // A double-spaced page that also holds a single-spaced table: its prose is still
        // joined (the page alone no longer looks double spaced; the document does).
        let status = "Page 2\n\nPROJECT KITE STATUS\n\nThis week\n\n• Beta survey closed: 12 responses, NPS 41 (7 promoters, 3 passives, 2\n\ndetractors). Target was 40.\n\n• Holloway Logistics (score 6) and Dunmore Council (score 5) are the\n\ndetractors; both have follow-up calls booked.\n\nRisks\n\nRisk Likelihood Impact Mitigation\n\nSSO fix not signed\noff before go /\nno-go (now 22\nOctober)\n Medium High Fallback: launch\nwithout SSO for\nmulti-role tenants\nBeta detractors\nchurn\n Low Medium Calls booked\n";
        let body = "The launch moves from 15 October to 29 October 2025. Decided on\n\nThursday 18 September with Owen, Ines and Tom, after the review of\n\nthe single sign-on bug that Holloway Logistics reported last week.\n\n";
        let pages = super::undouble_pages(vec![(1, body.repeat(3)), (2, status.to_owned())]);
        let parsed = crate::block::parse_text(&pages[1].1);
        let texts: Vec<&str> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
        assert!(
            texts.contains(
                &"• Beta survey closed: 12 responses, NPS 41 (7 promoters, 3 passives, 2 detractors). Target was 40."
            ),
            "{texts:#?}"
        );
        assert!(
            texts.iter().any(|t| t.ends_with("are the detractors; both have follow-up calls booked.")),
            "{texts:#?}"
        );
        // Single-spaced text is left alone.
        let plain = "First line of text\nsecond line.\n\nNext paragraph.\n";
        assert_eq!(undouble(plain), plain);
    }
}
