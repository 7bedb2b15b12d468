//! DOCX (WordprocessingML) into blocks.
//!
//! - Headings come from paragraph styles (`heading 1`–`heading 9`, or any style or
//!   paragraph with an outline level), the title from the document properties or the
//!   `Title` style.
//! - Numbered and bulleted lists get their numbers, computed from `numbering.xml` as Word
//!   shows them (`1.`, `1.2`, `a)`, `iv.`, `（一）`), restarting deeper levels.
//! - Tables become [`Table`] blocks: the first row is the header (Word's repeated header
//!   row, or simply the first row), each other row a citable row.
//! - Footnotes and endnotes are sections of their own at the end, and the body keeps a
//!   `[N]` marker where each is referenced; headers and footers are a separate section, not
//!   mixed into the text.
//! - Deleted revisions (`w:delText`) are left out, inserted ones kept.
//!
//! Only local XML names are matched, so transitional and strict OOXML both read.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use crate::archive::{Archive, Limits};
use crate::block::{Block, Parsed, Table, TableRow};
use crate::error::{IngestError, Result};

const WHAT: &str = "DOCX";

fn corrupt(reason: impl Into<String>) -> IngestError {
    IngestError::Corrupt { format: WHAT, reason: reason.into() }
}

/// Parses an XML part, refusing DTDs (roxmltree's default: no entity expansion bombs).
/// Deepest element nesting an XML part may have. Word, Excel, PowerPoint and LibreOffice
/// nest a few dozen levels; the parsers walk some elements recursively, and a part nested
/// ten thousand levels deep (a few KB compressed) would overflow the stack, which aborts
/// the process.
pub const MAX_XML_DEPTH: usize = 256;

/// Most nodes an XML part may parse into.
const MAX_XML_NODES: u32 = 20_000_000;

/// Parses an XML part, refusing DTDs (roxmltree's default: no entity expansion bombs), more
/// than [`MAX_XML_NODES`] nodes, and nesting deeper than [`MAX_XML_DEPTH`].
pub(crate) fn xml<'a>(text: &'a str, what: &'static str, part: &str) -> Result<Document<'a>> {
    let options = roxmltree::ParsingOptions { nodes_limit: MAX_XML_NODES, ..roxmltree::ParsingOptions::default() };
    let doc = Document::parse_with_options(text, options)
        .map_err(|e| IngestError::Corrupt { format: what, reason: format!("{part}: {e}") })?;
    // Each node's depth from its parent's, in document order (parents come first).
    let mut depth: Vec<u16> = Vec::new();
    for node in doc.descendants() {
        let d = node.parent().map_or(0, |p| depth.get(p.id().get_usize()).copied().unwrap_or(0) + 1);
        if usize::from(d) > MAX_XML_DEPTH {
            return Err(IngestError::TooComplex { what: "XML nesting", limit: MAX_XML_DEPTH as u64 });
        }
        let i = node.id().get_usize();
        if depth.len() <= i {
            depth.resize(i + 1, 0);
        }
        depth[i] = d;
    }
    Ok(doc)
}

/// An attribute by local name, whatever its namespace (`w:val`).
pub(crate) fn attr<'a>(n: Node<'a, '_>, local: &str) -> Option<&'a str> {
    n.attributes().find(|a| a.name() == local).map(|a| a.value())
}

/// The first child element with local name `local`.
pub(crate) fn child<'a, 'i>(n: Node<'a, 'i>, local: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && c.tag_name().name() == local)
}

/// Child elements with local name `local`.
pub(crate) fn children<'a, 'i: 'a>(n: Node<'a, 'i>, local: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| c.is_element() && c.tag_name().name() == local)
}

/// What a paragraph style says.
#[derive(Debug, Clone, Default)]
struct Style {
    name: String,
    based_on: Option<String>,
    outline: Option<u8>,
    num: Option<(String, u8)>,
}

/// A list level's format.
#[derive(Debug, Clone)]
struct Level {
    format: String,
    text: String,
    start: u32,
}

/// Numbering definitions and the running counters.
#[derive(Debug, Default)]
struct Numbering {
    /// numId → abstractNumId, with level start overrides.
    instances: HashMap<String, (String, HashMap<u8, u32>)>,
    /// abstractNumId → levels.
    abstracts: HashMap<String, HashMap<u8, Level>>,
    /// numId → counters per level (`None`: not started).
    counters: HashMap<String, [Option<u32>; 9]>,
}

impl Numbering {
    fn parse(doc: &Document<'_>) -> Numbering {
        let mut n = Numbering::default();
        let root = doc.root_element();
        for a in children(root, "abstractNum") {
            let Some(id) = attr(a, "abstractNumId") else { continue };
            let mut levels = HashMap::new();
            for l in children(a, "lvl") {
                let Some(ilvl) = attr(l, "ilvl").and_then(|v| v.parse::<u8>().ok()).filter(|v| *v < 9) else {
                    continue;
                };
                let val = |name: &str| child(l, name).and_then(|c| attr(c, "val")).unwrap_or_default().to_owned();
                let start = val("start").parse().unwrap_or(1);
                // A label is a few characters; a hostile one would be copied into every item.
                let text: String = val("lvlText").chars().take(32).collect();
                levels.insert(ilvl, Level { format: val("numFmt"), text, start });
            }
            n.abstracts.insert(id.to_owned(), levels);
        }
        for num in children(root, "num") {
            let (Some(id), Some(abs)) = (attr(num, "numId"), child(num, "abstractNumId").and_then(|c| attr(c, "val")))
            else {
                continue;
            };
            let mut overrides = HashMap::new();
            for o in children(num, "lvlOverride") {
                let lvl = attr(o, "ilvl").and_then(|v| v.parse::<u8>().ok());
                let start = child(o, "startOverride").and_then(|c| attr(c, "val")).and_then(|v| v.parse().ok());
                if let (Some(lvl), Some(start)) = (lvl, start) {
                    overrides.insert(lvl, start);
                }
            }
            n.instances.insert(id.to_owned(), (abs.to_owned(), overrides));
        }
        n
    }

    /// The label of the next item of list `num` at level `ilvl` (`2.1`, `b)`, `•`), or
    /// `None` for numId 0 (numbering switched off) or an unknown list.
    fn next(&mut self, num: &str, ilvl: u8) -> Option<String> {
        let (abs, overrides) = self.instances.get(num)?;
        let levels = self.abstracts.get(abs)?;
        let level = levels.get(&ilvl)?;
        let start_of = |l: u8| overrides.get(&l).copied().or_else(|| levels.get(&l).map(|x| x.start)).unwrap_or(1);
        let counters = self.counters.entry(num.to_owned()).or_insert([None; 9]);
        let i = usize::from(ilvl.min(8));
        counters[i] = Some(match counters[i] {
            None => start_of(ilvl),
            Some(c) => c.saturating_add(1),
        });
        for c in counters.iter_mut().skip(i + 1) {
            *c = None;
        }
        if level.format == "bullet" || level.format == "none" {
            return (level.format == "bullet").then(|| "•".to_owned());
        }
        let mut label = level.text.clone();
        for (k, &count) in counters.iter().enumerate().take(i + 1) {
            let value = count.unwrap_or_else(|| start_of(k as u8));
            let format = levels.get(&(k as u8)).map_or("decimal", |l| l.format.as_str());
            label = label.replace(&format!("%{}", k + 1), &format_number(value, format));
        }
        Some(label)
    }
}

/// A list counter as Word shows it (numbers past 1,000 in letters or Roman numerals, which
/// a hostile start value could make megabytes long, as digits).
fn format_number(n: u32, format: &str) -> String {
    let letters_or_roman = matches!(format, "lowerLetter" | "upperLetter" | "lowerRoman" | "upperRoman");
    if letters_or_roman && n > 1000 {
        return n.to_string();
    }
    match format {
        "lowerLetter" | "upperLetter" => {
            // a … z, aa … zz (Word repeats the letter).
            let letter = char::from(b'a' + ((n.max(1) - 1) % 26) as u8);
            let s = letter.to_string().repeat(((n.max(1) - 1) / 26 + 1) as usize);
            if format == "upperLetter" { s.to_uppercase() } else { s }
        }
        "lowerRoman" => roman(n).to_lowercase(),
        "upperRoman" => roman(n),
        "chineseCounting"
        | "chineseCountingThousand"
        | "ideographTraditional"
        | "taiwaneseCounting"
        | "taiwaneseCountingThousand"
        | "chineseLegalSimplified" => chinese(n),
        "decimalZero" => format!("{n:02}"),
        _ => n.to_string(),
    }
}

fn roman(mut n: u32) -> String {
    const TABLE: [(u32, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut s = String::new();
    for (v, r) in TABLE {
        while n >= v {
            s.push_str(r);
            n -= v;
        }
    }
    s
}

/// 1–999 in Chinese numerals (一, 十二, 一百零五); larger numbers as digits.
fn chinese(n: u32) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    if n == 0 || n > 999 {
        return n.to_string();
    }
    let (h, t, u) = (n / 100, n / 10 % 10, n % 10);
    let mut s = String::new();
    if h > 0 {
        s.push_str(D[h as usize]);
        s.push('百');
    }
    if t > 0 {
        if !(h == 0 && t == 1) {
            s.push_str(D[t as usize]);
        }
        s.push('十');
    } else if h > 0 && u > 0 {
        s.push('零');
    }
    if u > 0 {
        s.push_str(D[u as usize]);
    }
    s
}

fn parse_styles(doc: &Document<'_>) -> HashMap<String, Style> {
    let mut out = HashMap::new();
    for s in children(doc.root_element(), "style") {
        let Some(id) = attr(s, "styleId") else { continue };
        let ppr = child(s, "pPr");
        let num = ppr.and_then(|p| child(p, "numPr")).and_then(|np| {
            let id = child(np, "numId").and_then(|c| attr(c, "val"))?;
            let ilvl = child(np, "ilvl").and_then(|c| attr(c, "val")).and_then(|v| v.parse().ok()).unwrap_or(0);
            Some((id.to_owned(), ilvl))
        });
        out.insert(
            id.to_owned(),
            Style {
                name: child(s, "name").and_then(|c| attr(c, "val")).unwrap_or(id).to_ascii_lowercase(),
                based_on: child(s, "basedOn").and_then(|c| attr(c, "val")).map(str::to_owned),
                outline: ppr
                    .and_then(|p| child(p, "outlineLvl"))
                    .and_then(|c| attr(c, "val"))
                    .and_then(|v| v.parse().ok()),
                num,
            },
        );
    }
    out
}

/// Follows `basedOn` (at most 10 links, against cycles) for the first style that sets `f`.
fn inherited<T>(styles: &HashMap<String, Style>, id: &str, f: impl Fn(&Style) -> Option<T>) -> Option<T> {
    let mut cur = styles.get(id);
    for _ in 0..10 {
        let s = cur?;
        if let Some(v) = f(s) {
            return Some(v);
        }
        cur = s.based_on.as_deref().and_then(|b| styles.get(b));
    }
    None
}

/// The visible text of a paragraph (or any element holding runs): `w:t`, tabs and breaks
/// as spaces, footnote references as `[N]`; deleted text left out.
fn run_text(n: Node<'_, '_>, out: &mut String) {
    for c in n.descendants().filter(Node::is_element) {
        match c.tag_name().name() {
            "t" => out.push_str(c.text().unwrap_or_default()),
            "tab" if c.parent().is_some_and(|p| p.tag_name().name() == "r") => out.push(' '),
            "br" | "cr" => out.push(' '),
            "noBreakHyphen" => out.push('-'),
            "footnoteReference" | "endnoteReference" => {
                if let Some(id) = attr(c, "id") {
                    out.push_str(&format!("[{id}]"));
                }
            }
            _ => {}
        }
    }
}

fn paragraph_text(p: Node<'_, '_>) -> String {
    let mut s = String::new();
    run_text(p, &mut s);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Walker<'s> {
    styles: &'s HashMap<String, Style>,
    numbering: Numbering,
    blocks: Vec<Block>,
    title: Option<String>,
    tables: usize,
    /// A caption paragraph just seen, for the next table.
    caption: Option<String>,
}

impl Walker<'_> {
    fn body(&mut self, parent: Node<'_, '_>) {
        for n in parent.children().filter(Node::is_element) {
            match n.tag_name().name() {
                "p" => self.paragraph(n),
                "tbl" => self.table(n),
                // Content controls, and custom XML wrappers: their content is body content.
                "sdt" => {
                    if let Some(content) = child(n, "sdtContent") {
                        self.body(content);
                    }
                }
                "customXml" | "ins" | "smartTag" => self.body(n),
                _ => {}
            }
        }
    }

    fn paragraph(&mut self, p: Node<'_, '_>) {
        let text = paragraph_text(p);
        let ppr = child(p, "pPr");
        let style_id = ppr.and_then(|x| child(x, "pStyle")).and_then(|s| attr(s, "val")).unwrap_or("Normal");
        let style_name = self.styles.get(style_id).map_or_else(|| style_id.to_ascii_lowercase(), |s| s.name.clone());
        // Numbering: the paragraph's own, else its style's (numId 0 switches it off).
        let num = ppr
            .and_then(|x| child(x, "numPr"))
            .and_then(|np| {
                let id = child(np, "numId").and_then(|c| attr(c, "val"))?;
                let ilvl = child(np, "ilvl").and_then(|c| attr(c, "val")).and_then(|v| v.parse().ok());
                let style_lvl = inherited(self.styles, style_id, |s| s.num.as_ref().map(|n| n.1));
                Some((id.to_owned(), ilvl.or(style_lvl).unwrap_or(0)))
            })
            .or_else(|| inherited(self.styles, style_id, |s| s.num.clone()));
        if text.is_empty() {
            return;
        }
        let label = num.and_then(|(id, ilvl)| if id == "0" { None } else { self.numbering.next(&id, ilvl) });
        let text = match label {
            Some(l) if !l.is_empty() => format!("{l} {text}"),
            _ => text,
        };
        if style_name == "title" && self.title.is_none() {
            self.title = Some(text);
            return;
        }
        if style_name == "caption" {
            self.caption = Some(text.clone());
        }
        let outline = ppr
            .and_then(|x| child(x, "outlineLvl"))
            .and_then(|c| attr(c, "val"))
            .and_then(|v| v.parse::<u8>().ok())
            .or_else(|| inherited(self.styles, style_id, |s| s.outline))
            .or_else(|| {
                style_name.strip_prefix("heading ").and_then(|l| l.parse::<u8>().ok()).and_then(|l| l.checked_sub(1))
            });
        match outline {
            // Level 9 is "body text" in Word's outline.
            Some(level) if level < 9 => self.blocks.push(Block::heading(level + 1, text, None)),
            _ => self.blocks.push(Block::paragraph(text, None)),
        }
    }

    fn table(&mut self, tbl: Node<'_, '_>) {
        self.tables += 1;
        let mut rows: Vec<(bool, Vec<String>)> = Vec::new();
        for tr in children(tbl, "tr") {
            let header = child(tr, "trPr").and_then(|p| child(p, "tblHeader")).is_some();
            let cells: Vec<String> = children(tr, "tc")
                .map(|tc| {
                    // A cell's paragraphs (and nested tables' text), joined.
                    let parts: Vec<String> = tc
                        .descendants()
                        .filter(|d| d.is_element() && d.tag_name().name() == "p")
                        .map(paragraph_text)
                        .filter(|t| !t.is_empty())
                        .collect();
                    parts.join(" ")
                })
                .collect();
            if cells.iter().any(|c| !c.is_empty()) {
                rows.push((header, cells));
            }
        }
        if rows.is_empty() {
            return;
        }
        // Word's repeated header rows, else the first row when there is more than one.
        let marked = rows.iter().take_while(|(h, _)| *h).count();
        let header_rows = if marked > 0 { marked } else { usize::from(rows.len() > 1) };
        let header = match header_rows {
            0 => Vec::new(),
            1 => rows[0].1.clone(),
            _ => {
                // Several header rows: each column's names joined.
                let width = rows[..header_rows].iter().map(|r| r.1.len()).max().unwrap_or(0);
                (0..width)
                    .map(|i| {
                        let mut names: Vec<&str> =
                            rows[..header_rows].iter().filter_map(|r| r.1.get(i)).map(String::as_str).collect();
                        names.dedup();
                        names.retain(|n| !n.is_empty());
                        names.join(" / ")
                    })
                    .collect()
            }
        };
        let caption = self.caption.take().unwrap_or_else(|| format!("Table {}", self.tables));
        let rows = rows[header_rows..]
            .iter()
            .map(|(_, cells)| TableRow { label: None, cells: cells.clone(), header: None })
            .collect();
        self.blocks.push(Block::table(Table { caption, preamble: Vec::new(), header, rows }, None));
    }
}

/// Reads the document's title from `docProps/core.xml` (`dc:title`).
fn core_title(archive: &mut Archive<'_>) -> Result<Option<String>> {
    let Some(core) = archive.read_text("docProps/core.xml")? else { return Ok(None) };
    let doc = xml(&core, WHAT, "docProps/core.xml")?;
    Ok(doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "title")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty()))
}

/// Notes (`footnote` or `endnote` elements) as `[N] text` paragraphs under one heading.
fn notes(archive: &mut Archive<'_>, part: &str, element: &str, heading: &str, out: &mut Vec<Block>) -> Result<()> {
    let Some(text) = archive.read_text(part)? else { return Ok(()) };
    let doc = xml(&text, WHAT, part)?;
    let mut paragraphs = Vec::new();
    for note in children(doc.root_element(), element) {
        // Separators are not notes.
        if attr(note, "type").is_some_and(|t| t != "normal") {
            continue;
        }
        let Some(id) = attr(note, "id") else { continue };
        let body: Vec<String> = children(note, "p").map(paragraph_text).filter(|t| !t.is_empty()).collect();
        let body = body.join(" ");
        // The note's own reference mark renders as `[N]` already; keep one.
        let body = body.strip_prefix(&format!("[{id}]")).map_or(body.clone(), |b| b.trim().to_owned());
        if !body.is_empty() {
            paragraphs.push(Block::paragraph(format!("[{id}] {body}"), None));
        }
    }
    if !paragraphs.is_empty() {
        out.push(Block::heading(1, heading.to_owned(), None));
        out.extend(paragraphs);
    }
    Ok(())
}

/// Parses DOCX bytes.
pub fn parse_docx(bytes: &[u8], limits: Limits) -> Result<Parsed> {
    let mut archive = Archive::open(bytes, WHAT, limits)?;
    let main = archive.read_text("word/document.xml")?.ok_or_else(|| corrupt("no word/document.xml"))?;
    let styles = match archive.read_text("word/styles.xml")? {
        Some(t) => parse_styles(&xml(&t, WHAT, "word/styles.xml")?),
        None => HashMap::new(),
    };
    let numbering = match archive.read_text("word/numbering.xml")? {
        Some(t) => Numbering::parse(&xml(&t, WHAT, "word/numbering.xml")?),
        None => Numbering::default(),
    };
    let doc = xml(&main, WHAT, "word/document.xml")?;
    let body = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "body")
        .ok_or_else(|| corrupt("word/document.xml has no body"))?;
    let mut w = Walker { styles: &styles, numbering, blocks: Vec::new(), title: None, tables: 0, caption: None };
    w.body(body);
    let mut blocks = w.blocks;
    notes(&mut archive, "word/footnotes.xml", "footnote", "Footnotes", &mut blocks)?;
    notes(&mut archive, "word/endnotes.xml", "endnote", "Endnotes", &mut blocks)?;
    // Headers and footers, each distinct text once, apart from the body.
    let parts: Vec<String> = archive
        .names()
        .iter()
        .filter(|n| {
            let file = n.strip_prefix("word/").unwrap_or("");
            (file.starts_with("header") || file.starts_with("footer")) && file.ends_with(".xml") && !file.contains('/')
        })
        .cloned()
        .collect();
    let mut seen = Vec::new();
    let mut known = std::collections::HashSet::new();
    for part in parts {
        let Some(text) = archive.read_text(&part)? else { continue };
        let doc = xml(&text, WHAT, &part)?;
        for p in doc.descendants().filter(|n| n.is_element() && n.tag_name().name() == "p") {
            let t = paragraph_text(p);
            if !t.is_empty() && known.insert(t.clone()) {
                seen.push(t);
            }
        }
    }
    if !seen.is_empty() {
        blocks.push(Block::heading(1, "Headers and footers".to_owned(), None));
        blocks.extend(seen.into_iter().map(|t| Block::paragraph(t, None)));
    }
    let title = core_title(&mut archive)?.or(w.title);
    Ok(Parsed { title, blocks, pages: None, ..Parsed::default() })
}

/// Writes a DOCX with `body` as the inside of `w:body` (and optional styles, numbering and
/// footnotes parts), for tests and fuzz seeds.
pub fn write_docx(body: &str, styles: Option<&str>, numbering: Option<&str>, footnotes: Option<&str>) -> Vec<u8> {
    const NS: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;
    let document =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:document {NS}><w:body>{body}</w:body></w:document>"#);
    let wrap =
        |root: &str, inner: &str| format!(r#"<?xml version="1.0" encoding="UTF-8"?><w:{root} {NS}>{inner}</w:{root}>"#);
    let styles = styles.map(|s| wrap("styles", s));
    let numbering = numbering.map(|s| wrap("numbering", s));
    let footnotes = footnotes.map(|s| wrap("footnotes", s));
    const WML: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml";
    let (types, package_rels) = crate::archive::office_package(
        "word/document.xml",
        &format!("{WML}.document.main+xml"),
        &[("word/styles.xml", &format!("{WML}.styles+xml"))],
    );
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", package_rels.as_bytes()),
        ("word/document.xml", document.as_bytes()),
    ];
    // python-docx reads the styles part whether or not the document has one.
    let empty_styles = wrap("styles", "");
    parts.push(("word/styles.xml", styles.as_deref().unwrap_or(&empty_styles).as_bytes()));
    let doc_rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#;
    parts.push(("word/_rels/document.xml.rels", doc_rels.as_bytes()));
    if let Some(s) = &numbering {
        parts.push(("word/numbering.xml", s.as_bytes()));
    }
    if let Some(s) = &footnotes {
        parts.push(("word/footnotes.xml", s.as_bytes()));
    }
    crate::archive::write_zip(&parts, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockKind;

    fn p(style: Option<&str>, text: &str) -> String {
        let ppr = style.map_or(String::new(), |s| format!(r#"<w:pPr><w:pStyle w:val="{s}"/></w:pPr>"#));
        format!("<w:p>{ppr}<w:r><w:t>{text}</w:t></w:r></w:p>")
    }

    fn item(num: u32, ilvl: u8, text: &str) -> String {
        format!(
            r#"<w:p><w:pPr><w:numPr><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num}"/></w:numPr></w:pPr><w:r><w:t>{text}</w:t></w:r></w:p>"#
        )
    }

    const STYLES: &str = r#"<w:style w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>
        <w:style w:styleId="Heading2"><w:name w:val="heading 2"/></w:style>
        <w:style w:styleId="Title"><w:name w:val="Title"/></w:style>
        <w:style w:styleId="MyChapter"><w:name w:val="My Chapter"/><w:basedOn w:val="Outline0"/></w:style>
        <w:style w:styleId="Outline0"><w:name w:val="Outline Zero"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>"#;

    const NUMBERING: &str = r#"<w:abstractNum w:abstractNumId="7">
          <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl>
          <w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="lowerLetter"/><w:lvlText w:val="%1.%2)"/></w:lvl>
        </w:abstractNum>
        <w:abstractNum w:abstractNumId="8">
          <w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="chineseCounting"/><w:lvlText w:val="（%1）"/></w:lvl>
        </w:abstractNum>
        <w:num w:numId="1"><w:abstractNumId w:val="7"/></w:num>
        <w:num w:numId="2"><w:abstractNumId w:val="8"/></w:num>"#;

    #[test]
    fn headings_lists_tables_and_notes() {
        let body = [
            p(Some("Title"), "Launch Plan"),
            p(Some("Heading1"), "Scope"),
            p(None, "The launch covers two markets."),
            item(1, 0, "Prepare"),
            item(1, 1, "Print labels"),
            item(1, 1, "Pack boxes"),
            item(1, 0, "Ship"),
            item(2, 0, "第一项"),
            item(2, 0, "第二项"),
            p(Some("Heading2"), "Budget"),
            r#"<w:tbl><w:tr><w:trPr><w:tblHeader/></w:trPr><w:tc><w:p><w:r><w:t>Item</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Qty</w:t></w:r></w:p></w:tc></w:tr>
               <w:tr><w:tc><w:p><w:r><w:t>400A breaker</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2</w:t></w:r></w:p></w:tc></w:tr>
               <w:tr><w:tc><w:p><w:r><w:t>Cable</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>30</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"#
                .to_owned(),
            r#"<w:p><w:r><w:t>Costs rose</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r><w:r><w:delText>sharply</w:delText></w:r><w:r><w:t>.</w:t></w:r></w:p>"#.to_owned(),
            p(Some("MyChapter"), "Appendix"),
        ]
        .concat();
        let footnotes = r#"<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:t>---</w:t></w:r></w:p></w:footnote>
            <w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t>Figures from the 2025 audit.</w:t></w:r></w:p></w:footnote>"#;
        let docx = write_docx(&body, Some(STYLES), Some(NUMBERING), Some(footnotes));
        let parsed = parse_docx(&docx, Limits::default()).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("Launch Plan"));
        let texts: Vec<&str> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Scope",
                "The launch covers two markets.",
                "1. Prepare",
                "1.a) Print labels",
                "1.b) Pack boxes",
                "2. Ship",
                "（一） 第一项",
                "（二） 第二项",
                "Budget",
                "Table 1",
                "Costs rose[1].",
                "Appendix",
                "Footnotes",
                "[1] Figures from the 2025 audit.",
            ]
        );
        let rank = |i: usize| match &parsed.blocks[i].kind {
            BlockKind::Heading { rank: crate::block::Rank::Known(r), .. } => Some(*r),
            BlockKind::Heading { .. } | BlockKind::Paragraph | BlockKind::Table(_) => None,
        };
        assert_eq!((rank(0), rank(8), rank(11), rank(1)), (Some(1), Some(2), Some(1), None));
        let BlockKind::Table(t) = &parsed.blocks[9].kind else { panic!("{:?}", parsed.blocks[9]) };
        assert_eq!(t.header, ["Item", "Qty"]);
        assert_eq!(t.rows[0].text(&t.header), "Item = 400A breaker | Qty = 2");
    }

    #[test]
    fn numbers_in_every_format() {
        assert_eq!(format_number(4, "lowerRoman"), "iv");
        assert_eq!(format_number(28, "lowerLetter"), "bb");
        assert_eq!(format_number(3, "upperLetter"), "C");
        // A hostile start value does not become a megabyte of letters.
        assert_eq!(format_number(4_000_000_000, "lowerLetter"), "4000000000");
        assert_eq!(
            [chinese(1), chinese(10), chinese(12), chinese(20), chinese(105), chinese(110)],
            ["一", "十", "十二", "二十", "一百零五", "一百一十"]
        );
    }

    #[test]
    fn broken_parts_and_dtds_are_errors() {
        let docx = write_docx("<w:p><w:r><w:t>unclosed</w:t></w:r>", None, None, None);
        assert!(matches!(parse_docx(&docx, Limits::default()), Err(IngestError::Corrupt { .. })));
        // An entity-expansion bomb is refused: no DTD is allowed.
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>"#;
        let zip = crate::archive::write_zip(&[("word/document.xml", bomb.as_bytes())], true);
        assert!(matches!(parse_docx(&zip, Limits::default()), Err(IngestError::Corrupt { .. })));
        let no_main = crate::archive::write_zip(&[("other.xml", b"<a/>")], false);
        assert!(parse_docx(&no_main, Limits::default()).unwrap_err().to_string().contains("word/document.xml"));
    }
}
