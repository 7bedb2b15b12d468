//! HTML into blocks, with html5ever's browser-grade parser (via scraper).
//!
//! `h1`–`h6` are headings; `p`, `li`, `pre`, `blockquote`, `dt`/`dd`, captions and table
//! rows are paragraphs; text sitting directly in containers (`div`, `section`, …) is a
//! paragraph too. `script`, `style`, `template`, `noscript`, `svg`, `iframe` and `head`
//! are skipped entirely: Cairn extracts text and never keeps markup, so nothing in an
//! ingested page can run anywhere Cairn shows it.

use scraper::{ElementRef, Html, Node, Selector};

use crate::block::{Block, BlockKind, Parsed, Rank};

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

/// Parses HTML.
pub fn parse_html(text: &str) -> Parsed {
    let doc = Html::parse_document(text);
    let mut out = Parsed::default();
    #[allow(clippy::unwrap_used)] // a constant selector
    let title_sel = Selector::parse("title").unwrap();
    out.title =
        doc.select(&title_sel).next().map(|t| collapse(&t.text().collect::<String>())).filter(|t| !t.is_empty());
    let mut buf = String::new();
    walk(doc.root_element(), &mut out, &mut buf);
    flush(&mut out, &mut buf);
    let h1s = out.blocks.iter().filter(|b| matches!(b.kind, BlockKind::Heading { rank: Rank::Known(1), .. })).count();
    if h1s == 1 && matches!(out.blocks.first().map(|b| &b.kind), Some(BlockKind::Heading { rank: Rank::Known(1), .. }))
    {
        let first = out.blocks.remove(0);
        out.title.get_or_insert(first.text);
    }
    out
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
                } else if name == "tr" {
                    flush(out, buf);
                    let cells: Vec<String> = child_el
                        .children()
                        .filter_map(ElementRef::wrap)
                        .filter(|c| matches!(c.value().name(), "td" | "th"))
                        .map(|c| collapse(&inline_text(c)))
                        .filter(|c| !c.is_empty())
                        .collect();
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
    fn structure_and_hostile_markup() {
        let html = r#"<html><head><title>Guide</title><script>alert('x')</script></head>
            <body><h1>Guide</h1><p>Intro <b>bold</b> text.</p>
            <h2>2. Enzymes</h2><div>Loose text<p>Para <script>steal()</script>one.</p></div>
            <ul><li>first</li><li>second</li></ul>
            <table><tr><th>Drug</th><th>Enzyme</th></tr><tr><td>simvastatin</td><td>CYP3A4</td></tr></table>
            <style>p{}</style><p onclick="evil()">&lt;script&gt;alert(2)&lt;/script&gt;</p></body></html>"#;
        let parsed = parse_html(html);
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
                "Drug | Enzyme",
                "simvastatin | CYP3A4",
                "<script>alert(2)</script>",
            ]
        );
        assert!(!texts.iter().any(|t| t.contains("steal") || t.contains("alert('x')")));
    }
}
