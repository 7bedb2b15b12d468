//! HTML into blocks, with html5ever's browser-grade parser (via scraper).
//!
//! `h1`–`h6` are headings; `p`, `li`, `pre`, `blockquote`, `dt`/`dd`, captions and table
//! rows are paragraphs; text sitting directly in containers (`div`, `section`, …) is a
//! paragraph too. `script`, `style`, `template`, `noscript`, `svg`, `iframe` and `head`
//! are skipped entirely: Cairn extracts text and never keeps markup, so nothing in an
//! ingested page can run anywhere Cairn shows it.

use scraper::{ElementRef, Html, Node, Selector};

use crate::block::{Block, BlockKind, Parsed, Rank, Table, TableRow};
use crate::error::{IngestError, Result};

const SKIP: &[&str] = &[
    "script", "style", "template", "noscript", "svg", "iframe", "head", "object", "embed", "canvas", "math", "button",
    "select", "form", "nav",
];
const BLOCKS: &[&str] =
    &["p", "li", "pre", "blockquote", "dt", "dd", "caption", "figcaption", "tr", "address", "summary"];
const CONTAINERS: &[&str] = &[
    "div", "section", "article", "main", "aside", "header", "footer", "body", "html", "ul", "ol", "dl", "table",
    "thead", "tbody", "tfoot", "figure", "details", "center",
];

/// Deepest element nesting accepted. Real pages stay far below it; a file built to be
/// deeper (`<div>` 30,000 times) is refused before anything walks it.
pub const MAX_HTML_NESTING: usize = 512;

/// Parses HTML. A page nested deeper than [`MAX_HTML_NESTING`] is refused whole.
pub fn parse_html(text: &str) -> Result<Parsed> {
    // html5ever's tree building costs time in proportion to the open-element stack for
    // each tag (scope checks), so a deeply nested page is quadratic to parse, and a parse
    // cannot be interrupted: the raw tags are counted first, in one linear pass.
    if raw_nesting_depth(text) > MAX_HTML_NESTING {
        return Err(IngestError::TooComplex { what: "HTML element nesting", limit: MAX_HTML_NESTING as u64 });
    }
    let doc = Html::parse_document(text);
    let depth = nesting_depth(&doc)?;
    if depth > MAX_HTML_NESTING {
        return Err(IngestError::TooComplex { what: "HTML element nesting", limit: MAX_HTML_NESTING as u64 });
    }
    let mut out = Parsed::default();
    #[allow(clippy::unwrap_used)] // a constant selector
    let title_sel = Selector::parse("title").unwrap();
    out.title =
        doc.select(&title_sel).next().map(|t| collapse(&t.text().collect::<String>())).filter(|t| !t.is_empty());
    let mut buf = String::new();
    walk(doc.root_element(), &mut out, &mut buf);
    flush(&mut out, &mut buf);
    // Tables without a caption are numbered in order (here, once: counting the tables
    // before each one as it was read would be quadratic in a page of many tables).
    let mut n = 0;
    for b in &mut out.blocks {
        if let BlockKind::Table(t) = &mut b.kind {
            n += 1;
            if t.caption.is_empty() {
                t.caption = format!("Table {n}");
                b.text = t.caption.clone();
            }
        }
    }
    let h1s = out.blocks.iter().filter(|b| matches!(b.kind, BlockKind::Heading { rank: Rank::Known(1), .. })).count();
    if h1s == 1 && matches!(out.blocks.first().map(|b| &b.kind), Some(BlockKind::Heading { rank: Rank::Known(1), .. }))
    {
        let first = out.blocks.remove(0);
        out.title.get_or_insert(first.text);
    }
    Ok(out)
}

/// Elements that never hold content, and elements whose end tag may be left out (a
/// sibling or the parent's end closes them): neither counts towards the raw depth, so
/// sloppy but ordinary pages (`<p>` and `<li>` never closed) are not mistaken for deep
/// ones.
const NOT_COUNTED: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr", "p",
    "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "optgroup", "rt", "rp", "colgroup",
    "caption", "html", "head", "body", "!doctype",
];

/// An upper estimate of element nesting from the raw text: start tags minus end tags of
/// the elements that can hold others (comments and the insides of `script`/`style` are
/// skipped). Linear, and independent of the HTML parser.
fn raw_nesting_depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while let Some(off) = bytes[i..].iter().position(|&b| b == b'<') {
        i += off + 1;
        if bytes[i..].starts_with(b"!--") {
            i = find_ascii_ci(&bytes[i..], b"-->").map_or(bytes.len(), |e| i + e + 3);
            continue;
        }
        let closing = bytes.get(i) == Some(&b'/');
        let start = if closing { i + 1 } else { i };
        let len = bytes[start..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'!').count();
        if len == 0 {
            continue;
        }
        let name = String::from_utf8_lossy(&bytes[start..start + len]).to_ascii_lowercase();
        let end = bytes[start..].iter().position(|&b| b == b'>').map_or(bytes.len(), |e| start + e);
        let self_closing = end > 0 && bytes.get(end - 1) == Some(&b'/');
        i = end.min(bytes.len());
        if NOT_COUNTED.contains(&name.as_str()) || self_closing {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if name == "script" || name == "style" {
            let close = format!("</{name}");
            i = find_ascii_ci(&bytes[i..], close.as_bytes()).map_or(bytes.len(), |e| i + e);
        } else {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest
}

/// Where `needle` (ASCII) first occurs in `hay`, ignoring ASCII case.
fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

/// How deeply the document's nodes nest, found without recursion (and checking the
/// request's deadline as it goes).
fn nesting_depth(doc: &Html) -> Result<usize> {
    let (mut depth, mut deepest, mut tick) = (0usize, 0usize, 0u32);
    for edge in doc.tree.root().traverse() {
        cairn_core::deadline::check_every(&mut tick)?;
        match edge {
            ego_tree::iter::Edge::Open(_) => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ego_tree::iter::Edge::Close(_) => depth = depth.saturating_sub(1),
        }
    }
    Ok(deepest)
}

fn row_cells(tr: ElementRef<'_>) -> Vec<String> {
    tr.children()
        .filter_map(ElementRef::wrap)
        .filter(|c| matches!(c.value().name(), "td" | "th"))
        .map(|c| collapse(&inline_text(c)))
        .collect()
}

/// A `<table>` as a [`Table`] block: its caption, the header row (`<thead>`, or a first
/// row of `<th>` cells) and the body rows. Rows of tables nested in cells are not rows of
/// this table (their text is in their cell).
fn table(t: ElementRef<'_>, out: &mut Parsed) {
    let mut rows: Vec<(bool, Vec<String>)> = Vec::new();
    let mut caption = None;
    for part in t.children().filter_map(ElementRef::wrap) {
        match part.value().name() {
            "caption" => caption = Some(collapse(&inline_text(part))).filter(|c| !c.is_empty()),
            "tr" => rows.push((all_th(part), row_cells(part))),
            "thead" | "tbody" | "tfoot" => {
                let head = part.value().name() == "thead";
                for tr in part.children().filter_map(ElementRef::wrap).filter(|e| e.value().name() == "tr") {
                    rows.push((head || all_th(tr), row_cells(tr)));
                }
            }
            _ => {}
        }
    }
    rows.retain(|(_, cells)| cells.iter().any(|c| !c.is_empty()));
    if rows.is_empty() {
        return;
    }
    let header = if rows[0].0 && rows.len() > 1 { rows.remove(0).1 } else { Vec::new() };
    let rows = rows.into_iter().map(|(_, cells)| TableRow { label: None, cells, header: None }).collect();
    // Numbered after the walk when it has no caption.
    let caption = caption.unwrap_or_default();
    out.blocks.push(Block::table(Table { caption, preamble: Vec::new(), header, rows }, None));
}

fn all_th(tr: ElementRef<'_>) -> bool {
    let cells: Vec<_> =
        tr.children().filter_map(ElementRef::wrap).filter(|c| matches!(c.value().name(), "td" | "th")).collect();
    !cells.is_empty() && cells.iter().all(|c| c.value().name() == "th")
}

fn walk(element: ElementRef<'_>, out: &mut Parsed, buf: &mut String) {
    for child in element.children() {
        match child.value() {
            Node::Text(t) => buf.push_str(t),
            Node::Element(e) => {
                let name = e.name();
                let Some(child_el) = ElementRef::wrap(child) else {
                    continue;
                };
                if SKIP.contains(&name) {
                    continue;
                }
                if let Some(level) = heading_level(name) {
                    flush(out, buf);
                    let text = collapse(&inline_text(child_el));
                    if !text.is_empty() {
                        out.blocks.push(Block::heading(level, text, None));
                    }
                } else if name == "table" {
                    flush(out, buf);
                    table(child_el, out);
                } else if name == "tr" {
                    // A row outside any table: its cells as one paragraph.
                    flush(out, buf);
                    let cells: Vec<String> = row_cells(child_el).into_iter().filter(|c| !c.is_empty()).collect();
                    if !cells.is_empty() {
                        out.blocks.push(Block::paragraph(cells.join(" | "), None));
                    }
                } else if BLOCKS.contains(&name) {
                    flush(out, buf);
                    if has_block_children(child_el) {
                        walk(child_el, out, buf);
                    } else {
                        buf.push_str(&inline_text(child_el));
                    }
                    flush(out, buf);
                } else if CONTAINERS.contains(&name) {
                    flush(out, buf);
                    walk(child_el, out, buf);
                    flush(out, buf);
                } else if name == "br" {
                    buf.push(' ');
                } else {
                    walk(child_el, out, buf);
                }
            }
            Node::Document | Node::Fragment | Node::Doctype(_) | Node::Comment(_) | Node::ProcessingInstruction(_) => {}
        }
    }
}

fn has_block_children(el: ElementRef<'_>) -> bool {
    el.descendants().skip(1).filter_map(ElementRef::wrap).any(|c| {
        let n = c.value().name();
        BLOCKS.contains(&n) || heading_level(n).is_some() || (CONTAINERS.contains(&n) && n != "body")
    })
}

fn inline_text(el: ElementRef<'_>) -> String {
    let mut s = String::new();
    for node in el.descendants() {
        if let Node::Text(t) = node.value() {
            let skipped = node.ancestors().filter_map(ElementRef::wrap).any(|a| SKIP.contains(&a.value().name()));
            if !skipped {
                s.push_str(t);
            }
        } else if let Node::Element(e) = node.value()
            && e.name() == "br"
        {
            s.push(' ');
        }
    }
    s
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn flush(out: &mut Parsed, buf: &mut String) {
    let text = collapse(buf);
    buf.clear();
    if !text.is_empty() {
        out.blocks.push(Block::paragraph(text, None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_depth_counts_containers_not_sloppy_or_void_tags() {
        assert_eq!(raw_nesting_depth("<div><div><span>x</span></div></div>"), 3);
        let sloppy = "<html><body>".to_owned() + &"<p>para<br>line<li>item".repeat(2000) + "</body></html>";
        assert_eq!(raw_nesting_depth(&sloppy), 0);
        let comment = "<!-- <div><div><div> -->".repeat(1000);
        assert_eq!(raw_nesting_depth(&comment), 0);
        let script = "<script>for (i=0;i<9;i++) document.write('<div>')</SCRIPT>".repeat(1000);
        assert_eq!(raw_nesting_depth(&script), 0);
        assert_eq!(raw_nesting_depth(&"<div>".repeat(30_000)), 30_000);
        assert_eq!(raw_nesting_depth("<img src=x/><input/>< div>"), 0);
    }

    #[test]
    fn structure_and_hostile_markup() {
        let html = r#"<html><head><title>Guide</title><script>alert('x')</script></head>
            <body><h1>Guide</h1><p>Intro <b>bold</b> text.</p>
            <h2>2. Enzymes</h2><div>Loose text<p>Para <script>steal()</script>one.</p></div>
            <ul><li>first</li><li>second</li></ul>
            <table><tr><th>Drug</th><th>Enzyme</th></tr><tr><td>simvastatin</td><td>CYP3A4</td></tr></table>
            <style>p{}</style><p onclick="evil()">&lt;script&gt;alert(2)&lt;/script&gt;</p></body></html>"#;
        let parsed = parse_html(html).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("Guide"));
        let texts: Vec<&str> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Intro bold text.",
                "2. Enzymes",
                "Loose text",
                "Para one.",
                "first",
                "second",
                "Table 1",
                "<script>alert(2)</script>",
            ]
        );
        assert!(!texts.iter().any(|t| t.contains("steal") || t.contains("alert('x')")));
        let BlockKind::Table(t) = &parsed.blocks[6].kind else { panic!() };
        assert_eq!(t.rows[0].text(&t.header), "Drug = simvastatin | Enzyme = CYP3A4");
        // A caption names the table; `<thead>` gives the header.
        let parsed = parse_html("<table><caption>Doses</caption><thead><tr><td>Drug</td><td>mg</td></tr></thead><tbody><tr><td>A</td><td>5</td></tr></tbody></table>").unwrap();
        let BlockKind::Table(t) = &parsed.blocks[0].kind else { panic!() };
        assert_eq!((t.caption.as_str(), t.rows[0].text(&t.header).as_str()), ("Doses", "Drug = A | mg = 5"));
    }
}
