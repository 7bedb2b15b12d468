//! Markdown into blocks (CommonMark plus tables, via pulldown-cmark).
//!
//! Headings keep their Markdown level as rank, and a number at the start of the heading
//! text (`## 7.12 Simvastatin`) becomes the section's own number. Each paragraph, list
//! item, code block and table row is one block. Raw HTML is dropped: it is markup, not
//! text, and is never passed on.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::block::{Block, BlockKind, Parsed, Rank, join_wrapped};

/// Parses Markdown.
pub fn parse_markdown(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut buf = String::new();
    let mut heading: Option<u8> = None;
    let mut in_code = false;
    let mut row: Vec<String> = Vec::new();
    let mut in_cell = false;
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES;
    for event in Parser::new_ext(text, options) {
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
            Event::Start(Tag::TableCell) => in_cell = true,
            Event::End(TagEnd::TableCell) => {
                in_cell = false;
                row.push(std::mem::take(&mut buf).trim().to_owned());
            }
            Event::End(TagEnd::TableRow | TagEnd::TableHead) => {
                let cells: Vec<String> = row.drain(..).filter(|c| !c.is_empty()).collect();
                if !cells.is_empty() {
                    out.blocks.push(Block::paragraph(cells.join(" | "), None));
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
    out
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
    use super::*;

    #[test]
    fn headings_paragraphs_lists_tables() {
        let md = "# Handbook\n\nIntro text\nwrapped.\n\n## 7. Monographs\n\n### 7.12 Simvastatin\n\nSimvastatin is a statin.\n\n- item one\n- item two\n\n| Drug | Enzyme |\n|---|---|\n| simvastatin | CYP3A4 |\n\n<script>alert(1)</script>\n\n华法林需要\n监测。\n";
        let parsed = parse_markdown(md);
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
                "Drug | Enzyme",
                "simvastatin | CYP3A4",
                "华法林需要监测。",
            ]
        );
        let BlockKind::Heading { rank, number, title } = &parsed.blocks[2].kind else { panic!() };
        assert_eq!(
            (*rank, number.as_ref().map(|n| n.parts.clone()), title.as_str()),
            (Rank::Known(3), Some(vec![7, 12]), "Simvastatin")
        );
    }
}
