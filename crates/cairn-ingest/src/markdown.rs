//! Markdown into blocks (CommonMark plus tables, via pulldown-cmark).
//!
//! Headings keep their Markdown level as rank, and a number at the start of the heading
//! text (`## 7.12 Simvastatin`) becomes the section's own number. Each paragraph, list
//! item, code block and table row is one block. Raw HTML is dropped: it is markup, not
//! text, and is never passed on.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::block::{Block, BlockKind, Parsed, Rank, Table, TableRow, join_wrapped};
use crate::error::{IngestError, Result};

/// Deepest nesting of lists, items, block quotes and footnotes accepted. A file nested
/// deeper (a 10,000-deep list) is refused whole.
pub const MAX_MARKDOWN_NESTING: usize = 256;

/// Parses Markdown. A document nested deeper than [`MAX_MARKDOWN_NESTING`] is refused.
pub fn parse_markdown(text: &str) -> Result<Parsed> {
    // pulldown-cmark's block pass does work per open container for every line, before
    // the first event: a line of 10,000 list markers costs seconds there. So the
    // containers a single line opens are counted first, in one linear pass.
    if text.lines().map(line_containers).max().unwrap_or(0) > MAX_MARKDOWN_NESTING {
        return Err(IngestError::TooComplex {
            what: "Markdown nesting (lists, items, quotes)",
            limit: MAX_MARKDOWN_NESTING as u64,
        });
    }
    let mut out = Parsed::default();
    let mut buf = String::new();
    let mut heading: Option<u8> = None;
    let mut in_code = false;
    let mut row: Vec<String> = Vec::new();
    let mut in_cell = false;
    // The table being read: its header and body rows.
    let mut table: Option<(Vec<String>, Vec<Vec<String>>)> = None;
    let mut tables = 0;
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES;
    let (mut depth, mut tick) = (0usize, 0u32);
    for event in Parser::new_ext(text, options) {
        cairn_core::deadline::check_every(&mut tick)?;
        if matches!(&event, Event::Start(Tag::List(_) | Tag::Item | Tag::BlockQuote(_) | Tag::FootnoteDefinition(_))) {
            depth += 1;
            if depth > MAX_MARKDOWN_NESTING {
                return Err(IngestError::TooComplex {
                    what: "Markdown nesting (lists, items, quotes)",
                    limit: MAX_MARKDOWN_NESTING as u64,
                });
            }
        } else if matches!(
            &event,
            Event::End(TagEnd::List(_) | TagEnd::Item | TagEnd::BlockQuote(_) | TagEnd::FootnoteDefinition)
        ) {
            depth = depth.saturating_sub(1);
        }
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                flush(&mut out, &mut buf);
                heading = Some(level as u8);
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = std::mem::take(&mut buf).trim().to_owned();
                if let Some(level) = heading.take()
                    && !text.is_empty()
                {
                    out.blocks.push(Block::heading(level, text, None));
                }
            }
            Event::Start(
                Tag::Paragraph | Tag::Item | Tag::List(_) | Tag::BlockQuote(_) | Tag::FootnoteDefinition(_),
            ) => flush(&mut out, &mut buf),
            Event::End(TagEnd::Paragraph | TagEnd::Item | TagEnd::BlockQuote(_) | TagEnd::FootnoteDefinition) => {
                flush(&mut out, &mut buf)
            }
            Event::Start(Tag::CodeBlock(_)) => {
                flush(&mut out, &mut buf);
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                flush(&mut out, &mut buf);
            }
            Event::Start(Tag::Table(_)) => {
                flush(&mut out, &mut buf);
                table = Some((Vec::new(), Vec::new()));
            }
            Event::Start(Tag::TableCell) => in_cell = true,
            Event::End(TagEnd::TableCell) => {
                in_cell = false;
                row.push(std::mem::take(&mut buf).trim().to_owned());
            }
            Event::End(TagEnd::TableHead) => {
                if let Some((header, _)) = &mut table {
                    *header = std::mem::take(&mut row);
                }
            }
            Event::End(TagEnd::TableRow) => {
                let cells = std::mem::take(&mut row);
                if let Some((_, rows)) = &mut table
                    && cells.iter().any(|c| !c.is_empty())
                {
                    rows.push(cells);
                }
            }
            Event::End(TagEnd::Table) => {
                if let Some((header, rows)) = table.take() {
                    tables += 1;
                    let rows = rows.into_iter().map(|cells| TableRow { label: None, cells, header: None }).collect();
                    let table = Table { caption: format!("Table {tables}"), preamble: Vec::new(), header, rows };
                    out.blocks.push(Block::table(table, None));
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if in_code || in_cell {
                    buf.push_str(&t);
                } else {
                    join_inline(&mut buf, &t);
                }
            }
            Event::SoftBreak => {
                if in_code {
                    buf.push('\n');
                } else {
                    buf.push('\u{0}');
                }
            }
            Event::HardBreak => buf.push('\n'),
            Event::Html(_) | Event::InlineHtml(_) => {}
            Event::FootnoteReference(_) | Event::TaskListMarker(_) | Event::Rule => {}
            Event::Start(_) | Event::End(_) | Event::InlineMath(_) | Event::DisplayMath(_) => {}
        }
    }
    flush(&mut out, &mut buf);
    if let Some(title) = single_top_title(&out) {
        out.title = Some(title);
        out.blocks.remove(0);
    }
    Ok(out)
}

/// How many block containers (quote markers and list markers) open at the start of
/// `line`.
fn line_containers(line: &str) -> usize {
    let mut rest = line.as_bytes();
    let mut count = 0;
    loop {
        let spaces = rest.iter().take_while(|b| **b == b' ' || **b == b'\t').count();
        rest = &rest[spaces..];
        let marker = match rest {
            [b'>', ..] => 1,
            [b'-' | b'*' | b'+', b' ' | b'\t', ..] => 2,
            _ => {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                match rest.get(digits..digits + 2) {
                    Some([b'.' | b')', b' ' | b'\t']) if (1..=9).contains(&digits) => digits + 2,
                    _ => 0,
                }
            }
        };
        if marker == 0 {
            return count;
        }
        count += 1;
        rest = &rest[marker..];
    }
}

/// Appends inline text, resolving a pending soft break (marked with NUL) the way wrapped
/// lines are joined: a space between Latin words, nothing between Han characters.
fn join_inline(buf: &mut String, text: &str) {
    if buf.ends_with('\u{0}') {
        buf.pop();
        join_wrapped(buf, text);
    } else {
        buf.push_str(text);
    }
}

fn flush(out: &mut Parsed, buf: &mut String) {
    let text = buf.replace('\u{0}', " ");
    buf.clear();
    let text = text.trim();
    if !text.is_empty() {
        out.blocks.push(Block::paragraph(text, None));
    }
}

/// A document that opens with its only level-1 heading uses it as its title.
fn single_top_title(parsed: &Parsed) -> Option<String> {
    let is_h1 = |b: &Block| matches!(b.kind, BlockKind::Heading { rank: Rank::Known(1), .. });
    let first = parsed.blocks.first()?;
    (is_h1(first) && parsed.blocks.iter().filter(|b| is_h1(b)).count() == 1).then(|| first.text.clone())
}

#[cfg(test)]
mod tests {

    #[test]
    fn containers_on_one_line_are_counted() {
        assert_eq!(line_containers("plain text"), 0);
        assert_eq!(line_containers("- item"), 1);
        assert_eq!(line_containers("> > - 1. deep"), 4);
        assert_eq!(line_containers("  10) x"), 1);
        assert_eq!(line_containers("-not a list"), 0);
        assert_eq!(line_containers(&"- ".repeat(10_000)), 10_000);
        assert_eq!(line_containers(&">".repeat(500)), 500);
    }
    use super::*;

    #[test]
    fn headings_paragraphs_lists_tables() {
        let md = "# Handbook\n\nIntro text\nwrapped.\n\n## 7. Monographs\n\n### 7.12 Simvastatin\n\nSimvastatin is a statin.\n\n- item one\n- item two\n\n| Drug | Enzyme |\n|---|---|\n| simvastatin | CYP3A4 |\n\n<script>alert(1)</script>\n\n华法林需要\n监测。\n";
        let parsed = parse_markdown(md).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("Handbook"));
        let texts: Vec<&str> = parsed.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "Intro text wrapped.",
                "7. Monographs",
                "7.12 Simvastatin",
                "Simvastatin is a statin.",
                "item one",
                "item two",
                "Table 1",
                "华法林需要监测。",
            ]
        );
        let BlockKind::Table(t) = &parsed.blocks[6].kind else { panic!() };
        assert_eq!(t.rows[0].text(&t.header), "Drug = simvastatin | Enzyme = CYP3A4");
        let BlockKind::Heading { rank, number, title } = &parsed.blocks[2].kind else { panic!() };
        assert_eq!(
            (*rank, number.as_ref().map(|n| n.parts.clone()), title.as_str()),
            (Rank::Known(3), Some(vec![7, 12]), "Simvastatin")
        );
    }
}
