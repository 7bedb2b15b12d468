//! The flat form every parser produces: a title and a sequence of heading and paragraph
//! blocks. The tree builder turns it into a [`cairn_core::DocTree`].
//!
//! This module also holds the line-based parser shared by plain text and PDF text.

use cairn_core::{PageRange, SectionNumber};
use cairn_text::is_han;
use cairn_text::numbering::detect_heading;

/// A heading's nesting rank, smaller is outer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// A known rank (Markdown level, PDF outline level, numbering style).
    Known(u8),
    /// An unnumbered heading in plain text (an all-caps line). It is placed at the level
    /// of the document's outermost numbered headings.
    Unnumbered,
}

/// What a block is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockKind {
    /// A heading.
    Heading {
        /// Nesting rank.
        rank: Rank,
        /// Its own number, normalised.
        number: Option<SectionNumber>,
        /// The title without the number.
        title: String,
    },
    /// Running text.
    Paragraph,
    /// A table: it becomes a section (titled by the caption) holding one paragraph per
    /// row, each a single sentence that pairs the row's cells with the header row, so a
    /// citation points at a row and its quote is checked against that row's cells.
    Table(Table),
}

/// A table's cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// What the table is called (a caption, a sheet name, or `Table N`).
    pub caption: String,
    /// Lines of text before the header row (a sheet's title lines), as paragraphs.
    pub preamble: Vec<String>,
    /// Column names; empty when the table has no header row.
    pub header: Vec<String>,
    /// The body rows.
    pub rows: Vec<TableRow>,
}

/// One body row of a [`Table`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableRow {
    /// How the source names the row (`Row 12` in a spreadsheet), if it does.
    pub label: Option<String>,
    /// Cell texts, in column order.
    pub cells: Vec<String>,
    /// Column names of this row when they are not the table's (a second block of a sheet
    /// under its own header row, or a `name, value` line below the table); shared by the
    /// rows of a block, not copied into each.
    pub header: Option<std::sync::Arc<Vec<String>>>,
}

/// Most bytes a document's table rows may write out: each row repeats its column names, so
/// a long header over many rows (a 50 MB header cell in a CSV of a million short rows)
/// would multiply into terabytes.
pub const MAX_TABLE_TEXT: u64 = 512 << 20;

impl Table {
    /// The bytes [`TableRow::text`] writes for all rows, without writing them.
    pub fn text_bytes(&self) -> u64 {
        let mut total = 0u64;
        for row in &self.rows {
            let header = row.header.as_deref().map_or(self.header.as_slice(), Vec::as_slice);
            total += row.label.as_ref().map_or(0, |l| l.len() as u64 + 2);
            for (i, cell) in row.cells.iter().enumerate() {
                if !cell.trim().is_empty() {
                    total += cell.len() as u64 + 3 + header.get(i).map_or(0, |h| h.len() as u64 + 3);
                }
            }
        }
        total
    }
}

impl TableRow {
    /// The row as one citable sentence: `Row 12: Item = 400A | Qty = 2` (cells paired with
    /// `header`; empty cells left out; without a header, the cells alone).
    pub fn text(&self, header: &[String]) -> String {
        let header = self.header.as_deref().map_or(header, Vec::as_slice);
        cairn_core::table::row_text(self.label.as_deref(), header, &self.cells)
    }
}

/// One block of a parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Heading or paragraph.
    pub kind: BlockKind,
    /// The text as it appears (for headings, the full line with its number).
    pub text: String,
    /// Pages, for paged formats.
    pub pages: Option<PageRange>,
}

impl Block {
    /// A heading block of `rank` whose number, if any, is read from the start of `text`
    /// (`7.12 Simvastatin`, `第三章 附则`).
    pub fn heading(rank: u8, text: String, pages: Option<PageRange>) -> Block {
        let (number, title) = match cairn_text::numbering::heading_number(&text) {
            Some((n, t)) => (Some(n), t.to_owned()),
            None => (None, text.clone()),
        };
        Block { kind: BlockKind::Heading { rank: Rank::Known(rank), number, title }, text, pages }
    }

    /// A table block (its `text` is the caption).
    pub fn table(table: Table, pages: Option<PageRange>) -> Block {
        Block { text: table.caption.clone(), kind: BlockKind::Table(table), pages }
    }

    /// A paragraph block.
    pub fn paragraph(text: impl Into<String>, pages: Option<PageRange>) -> Block {
        Block { kind: BlockKind::Paragraph, text: text.into(), pages }
    }
}

/// Most cells a spreadsheet (all its sheets) may spread into: a few megabytes of XML can
/// declare a cell in the last column of every row, or a row repeated a thousand times,
/// and the parsers would otherwise allocate every empty cell in between.
pub const MAX_SHEET_CELLS: usize = 4_000_000;

/// Most bytes of cell text a spreadsheet may spread into: one long shared string used by
/// every cell, or a long cell repeated across columns, is copied once per cell.
pub const MAX_SHEET_BYTES: usize = 512 << 20;

/// Takes `n` cells of `bytes` each from the budgets `(cells, bytes)`, or the error.
pub(crate) fn spend(budget: &mut (usize, usize), n: usize, bytes: usize) -> crate::error::Result<()> {
    let cells = budget.0.checked_sub(n);
    let text = bytes.checked_mul(n).and_then(|b| budget.1.checked_sub(b));
    match (cells, text) {
        (Some(c), Some(t)) => {
            *budget = (c, t);
            Ok(())
        }
        (None, _) => {
            Err(crate::error::IngestError::TooComplex { what: "spreadsheet cells", limit: MAX_SHEET_CELLS as u64 })
        }
        (_, None) => {
            Err(crate::error::IngestError::TooComplex { what: "spreadsheet cell text", limit: MAX_SHEET_BYTES as u64 })
        }
    }
}

/// A sheet's rows (row number, cells; only rows with content) as one table named `name`.
///
/// Rows form blocks split by empty rows. In the first block, one-cell title lines above the
/// first row of several cells are the preamble and that row is the header. A later block
/// of `name, value` lines (a summary below the table: `Responses, 12` / `NPS, 41`) is one
/// record, `Rows 4-5: Responses = 12 | NPS = 41`, cited as one unit as the sheet shows it;
/// a later block of wider rows has its own header row.
pub fn sheet_table(name: &str, rows: &[(u32, Vec<String>)]) -> Table {
    let filled = |cells: &Vec<String>| cells.iter().filter(|c| !c.trim().is_empty()).count();
    let mut runs: Vec<&[(u32, Vec<String>)]> = Vec::new();
    let mut start = 0;
    // The first row of several cells in the current run, tracked as the run grows (a
    // rescan per row would be quadratic in a long one-column sheet).
    let mut first_wide: Option<usize> = None;
    for i in 1..=rows.len() {
        if first_wide.is_none() && filled(&rows[i - 1].1) > 1 {
            first_wide = Some(i - 1);
        }
        // A block that ends on its header row continues after the gap (a blank row under
        // the header).
        let ends_on_header = first_wide == Some(i - 1);
        if i == rows.len() || (rows[i].0 > rows[i - 1].0.saturating_add(1) && !(runs.is_empty() && ends_on_header)) {
            runs.push(&rows[start..i]);
            start = i;
            first_wide = None;
        }
    }
    // `name, value`: the first two cells filled, nothing else.
    let pair =
        |cells: &Vec<String>| cells.iter().enumerate().all(|(i, c)| (i < 2) != c.trim().is_empty()) && cells.len() >= 2;
    let mut table = Table { caption: name.to_owned(), ..Table::default() };
    let label = |r: u32| Some(format!("Row {r}"));
    for (k, run) in runs.iter().enumerate() {
        let header_at = run.iter().position(|(_, cells)| filled(cells) > 1);
        let key_value = k > 0 && run.iter().all(|(_, cells)| pair(cells));
        if key_value {
            let (first, last) = (run[0].0, run[run.len() - 1].0);
            table.rows.push(TableRow {
                label: if first == last { label(first) } else { Some(format!("Rows {first}-{last}")) },
                cells: run.iter().map(|(_, cells)| cells[1].clone()).collect(),
                header: Some(std::sync::Arc::new(run.iter().map(|(_, cells)| cells[0].clone()).collect())),
            });
            continue;
        }
        if k == 0 {
            let (before, header, body) = match header_at {
                Some(h) if h + 1 < run.len() => (&run[..h], Some(run[h].1.clone()), &run[h + 1..]),
                _ => (&run[..0], None, &run[..]),
            };
            table.preamble = before.iter().map(|(_, cells)| cells.join(" ").trim().to_owned()).collect();
            table.header = header.unwrap_or_default();
            table.rows.extend(body.iter().map(|(r, cells)| TableRow {
                label: label(*r),
                cells: cells.clone(),
                header: None,
            }));
        } else {
            // A later block has a header of its own only if it opens with a row of names
            // (no numbers) over at least one more row; otherwise it continues the table.
            let names =
                |cells: &Vec<String>| cells.iter().all(|c| c.trim().is_empty() || c.trim().parse::<f64>().is_err());
            let own = run.len() >= 2 && filled(&run[0].1) > 1 && names(&run[0].1);
            if own {
                let header = Some(std::sync::Arc::new(run[0].1.clone()));
                table.rows.extend(run[1..].iter().map(|(r, cells)| TableRow {
                    label: label(*r),
                    cells: cells.clone(),
                    header: header.clone(),
                }));
            } else {
                table.rows.extend(run.iter().map(|(r, cells)| TableRow {
                    label: label(*r),
                    cells: cells.clone(),
                    header: None,
                }));
            }
        }
    }
    table
}

/// A parsed document before it becomes a tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Title, if the document states one.
    pub title: Option<String>,
    /// Blocks in document order.
    pub blocks: Vec<Block>,
    /// Page count, for paged formats.
    pub pages: Option<u32>,
    /// Pages with no text to read (a PDF's scanned pages, without OCR): reported, not
    /// silently empty.
    pub unread_pages: Vec<u32>,
    /// Where recognised text sits on pages that had no text layer (a PDF's OCRed scans),
    /// in [`crate::locate`]'s layer format, so a citation can be boxed on the page.
    pub text_layer: Option<String>,
}

/// Joins two pieces of a wrapped line: a space between Latin text, nothing between Han
/// characters.
pub(crate) fn join_wrapped(buf: &mut String, next: &str) {
    let next = next.trim();
    if next.is_empty() {
        return;
    }
    if let (Some(a), Some(b)) = (buf.chars().last(), next.chars().next()) {
        let cjk_edge = (is_han(a) || is_cjk_punct(a)) && (is_han(b) || is_cjk_punct(b));
        if a == '-' && buf.len() > 1 && b.is_lowercase() {
            // A word hyphenated across lines: "metab-\nolism".
            buf.pop();
        } else if !cjk_edge {
            buf.push(' ');
        }
    }
    buf.push_str(next);
}

fn is_cjk_punct(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{303F}' | '\u{FF00}'..='\u{FFEF}')
}

fn ends_clause(line: &str) -> bool {
    line.trim_end().ends_with(['。', '！', '？', '；', '.', '!', '?', ';', ':', '：', '"', '”', ')', '）'])
}

fn ends_cjk_sentence(line: &str) -> bool {
    line.trim_end().ends_with(['。', '！', '？', '；', '：'])
}

/// An enumeration marker at the start of a line starts a new paragraph: `（一）`, `(a)`,
/// `(iv)`, `1)`, `a)`, `- `, `* `, `• `.
pub(crate) fn starts_item(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with(['•', '·', '▪', '◦']) || t.starts_with("- ") || t.starts_with("* ") {
        return true;
    }
    let open_close = |open: char, close: char| -> bool {
        let Some(rest) = t.strip_prefix(open) else {
            return false;
        };
        let Some(end) = rest.find(close) else {
            return false;
        };
        let inner = &rest[..end];
        !inner.is_empty()
            && inner.chars().count() <= 4
            && inner.chars().all(|c| c.is_alphanumeric() && (c.is_ascii() || "一二三四五六七八九十".contains(c)))
    };
    if open_close('（', '）') || open_close('(', ')') {
        return true;
    }
    // "1)" or "a)"
    let head: String = t.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    !head.is_empty() && head.len() <= 2 && t[head.len()..].starts_with(')')
}

/// A line that opens with a short label and a colon, as a form's, a memo's or a cover
/// page's fields do (`Prepared for: Castellane Holdings Ltd`, `Date: 28 February 2025`):
/// each field is its own paragraph, not a wrapped continuation of the one above. A time
/// (`10:30`) or an address (`https://`) has no space after its colon; a sentence's words
/// before a colon are more than a label's three.
pub(crate) fn starts_field(line: &str) -> bool {
    let t = line.trim_start();
    let Some((label, rest)) = t.split_once(':') else {
        return false;
    };
    rest.starts_with(' ')
        && !rest.trim().is_empty()
        && (1..=3).contains(&label.split_whitespace().count())
        && label.chars().count() <= 30
        && label.starts_with(|c: char| c.is_uppercase())
        && label.chars().all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '&' | '/'))
}

/// Whether a line's text visibly runs on to the next (a trailing comma, dash or `&`).
fn runs_on(text: &str) -> bool {
    text.trim_end().ends_with([',', '-', '—', '&'])
}

/// Whether the field on `line` ends there: a field line whose value does not visibly run
/// on (a trailing comma, or a `next` line that goes on in lower case or with a number).
pub(crate) fn field_ends(line: &str, next: Option<&str>) -> bool {
    starts_field(line)
        && !runs_on(line)
        && next.is_none_or(|n| !n.trim_start().starts_with(|c: char| c.is_lowercase() || c.is_ascii_digit()))
}

/// An all-caps line such as `RECITALS` or `SCHEDULE 1 — PRICES`.
fn caps_heading(line: &str) -> bool {
    let t = line.trim();
    let letters: Vec<char> = t.chars().filter(|c| c.is_alphabetic()).collect();
    letters.len() >= 3
        && t.chars().count() <= 60
        && letters.iter().all(|c| c.is_uppercase())
        && !t.ends_with(['.', ';', ',', ':'])
}

/// Parses lines of plain text (or PDF text, with pages) into blocks.
///
/// Blank lines separate blocks. Inside a block, a line starts a new paragraph when it is
/// a numbered heading, an all-caps heading or an enumerated item, or when the previous
/// line ended a Chinese sentence (statutes put each clause on its own line). Other lines
/// are wrapped continuations and are joined.
pub fn parse_lines<'a>(lines: impl IntoIterator<Item = (&'a str, Option<u32>)>, detect_title: bool) -> Parsed {
    let lines: Vec<(&str, Option<u32>)> = lines.into_iter().map(|(l, p)| (l.trim(), p)).collect();
    let mut parser = LineParser { parsed: Parsed::default(), para: String::new(), pages: None, prev: Prev::Blank };
    let mut title_pending = detect_title;
    for (i, &(line, page)) in lines.iter().enumerate() {
        if line.is_empty() {
            parser.flush();
            parser.prev = Prev::Blank;
            continue;
        }
        if title_pending {
            title_pending = false;
            // A first line followed by a continuation ("The dose is" / "3.5 mg daily") is
            // running text, not a title.
            let alone = lines
                .get(i + 1)
                .is_none_or(|(next, _)| !next.starts_with(|c: char| c.is_lowercase() || c.is_ascii_digit()));
            let title_like = alone
                && line.chars().count() <= 100
                && !line.ends_with(['。', '！', '？', '；', '.', '!', '?', ';', ':', '：', ','])
                && detect_heading(line).is_none()
                && !starts_item(line);
            if title_like {
                parser.parsed.title = Some(line.to_owned());
                parser.prev = Prev::Heading;
                continue;
            }
        }
        // A long "heading" followed directly by a continuation line is really the first
        // line of a wrapped clause ("1.1 In this Agreement the following words").
        let continued = lines.get(i + 1).is_some_and(|(next, _)| {
            !next.is_empty() && detect_heading(next).is_none() && !starts_item(next) && !caps_heading(next)
        });
        let field_ends = field_ends(line, lines.get(i + 1).map(|(next, _)| *next));
        parser.line(line, page, continued && line.chars().count() >= 40, field_ends);
    }
    parser.flush();
    // A one-line document is its own text, not just a title.
    if parser.parsed.blocks.is_empty()
        && let Some(title) = &parser.parsed.title
    {
        let pages =
            lines.iter().find(|(l, _)| !l.is_empty()).and_then(|(_, p)| *p).map(|p| PageRange { first: p, last: p });
        parser.parsed.blocks.push(Block::paragraph(title.clone(), pages));
    }
    parser.parsed
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    Blank,
    Heading,
    Ended,
    Open,
}

struct LineParser {
    parsed: Parsed,
    para: String,
    pages: Option<PageRange>,
    prev: Prev,
}

impl LineParser {
    fn line(&mut self, line: &str, page: Option<u32>, wraps: bool, field_ends: bool) {
        let at_start = matches!(self.prev, Prev::Blank | Prev::Heading | Prev::Ended);
        let heading = detect_heading(line).and_then(|mut h| {
            if wraps && h.body.is_none() {
                if h.number.parts.len() < 2 && h.number.style == cairn_core::NumberStyle::Dotted {
                    return None;
                }
                h.body = Some(h.title);
                h.title = "";
            }
            Some(h)
        });
        if at_start && let Some(h) = heading {
            self.flush();
            let heading_text = match h.body {
                Some(body) => line[..line.len() - body.len()].trim().to_owned(),
                None => line.to_owned(),
            };
            self.parsed.blocks.push(Block {
                kind: BlockKind::Heading {
                    rank: Rank::Known(h.rank()),
                    number: Some(h.number),
                    title: h.title.to_owned(),
                },
                text: heading_text,
                pages: page.map(|p| PageRange { first: p, last: p }),
            });
            self.prev = Prev::Heading;
            if let Some(body) = h.body {
                self.append(body, page);
                self.prev = if ends_cjk_sentence(body) { Prev::Ended } else { Prev::Open };
            }
            return;
        }
        if at_start && !wraps && caps_heading(line) {
            self.flush();
            self.parsed.blocks.push(Block {
                kind: BlockKind::Heading { rank: Rank::Unnumbered, number: None, title: line.to_owned() },
                text: line.to_owned(),
                pages: page.map(|p| PageRange { first: p, last: p }),
            });
            self.prev = Prev::Heading;
            return;
        }
        let field = starts_field(line) && !runs_on(&self.para);
        if self.prev == Prev::Ended || starts_item(line) || field {
            self.flush();
        }
        self.append(line, page);
        self.prev = if field_ends || ends_cjk_sentence(line) || (ends_clause(line) && line.chars().count() < 40) {
            Prev::Ended
        } else {
            Prev::Open
        };
    }

    fn append(&mut self, text: &str, page: Option<u32>) {
        join_wrapped(&mut self.para, text);
        if let Some(p) = page {
            let range = self.pages.get_or_insert(PageRange { first: p, last: p });
            range.last = range.last.max(p);
        }
    }

    fn flush(&mut self) {
        if !self.para.trim().is_empty() {
            let text = std::mem::take(&mut self.para);
            self.parsed.blocks.push(Block::paragraph(text, self.pages.take()));
        }
        self.para.clear();
        self.pages = None;
    }
}

/// Parses a plain-text document.
pub fn parse_text(text: &str) -> Parsed {
    parse_lines(text.lines().map(|l| (l, None)), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(parsed: &Parsed) -> Vec<String> {
        parsed
            .blocks
            .iter()
            .map(|b| match &b.kind {
                BlockKind::Heading { .. } => format!("H:{}", b.text),
                BlockKind::Paragraph => format!("P:{}", b.text),
                BlockKind::Table(_) => format!("T:{}", b.text),
            })
            .collect()
    }

    #[test]
    fn chinese_statute_layout() {
        let text = "药品管理办法（示例）\n（示例文本）\n\n第一章　总则\n\n第一条　为了规范管理，制定本办法。\n第二条　本办法适用于医疗机构。\n医疗联合体参照执行。\n（一）门诊处方；\n（二）住院医嘱。\n";
        let parsed = parse_text(text);
        assert_eq!(parsed.title.as_deref(), Some("药品管理办法（示例）"));
        assert_eq!(
            kinds(&parsed),
            vec![
                "P:（示例文本）",
                "H:第一章　总则",
                "H:第一条",
                "P:为了规范管理，制定本办法。",
                "H:第二条",
                "P:本办法适用于医疗机构。",
                "P:医疗联合体参照执行。",
                "P:（一）门诊处方；",
                "P:（二）住院医嘱。",
            ]
        );
    }

    #[test]
    fn english_wrapped_paragraphs_and_clauses() {
        let text = "SUPPLY AGREEMENT\n\nRECITALS\n\n(A) The Buyer is building a\ncentre at the Site.\n\n1. DEFINITIONS\n\n1.1 In this Agreement the following words\nhave these meanings:\n\n9.1 The Supplier shall notify the Buyer of any delay within\n5 Business Days.\n";
        let parsed = parse_text(text);
        assert_eq!(parsed.title.as_deref(), Some("SUPPLY AGREEMENT"));
        assert_eq!(
            kinds(&parsed),
            vec![
                "H:RECITALS",
                "P:(A) The Buyer is building a centre at the Site.",
                "H:1. DEFINITIONS",
                "H:1.1",
                "P:In this Agreement the following words have these meanings:",
                "H:9.1",
                "P:The Supplier shall notify the Buyer of any delay within 5 Business Days.",
            ]
        );
    }

    /// A cover page's or a memo's fields are one paragraph each, even when the lines run
    /// on without blank lines; a field's wrapped value stays with it, and a time or a
    /// sentence with a colon is no field.
    #[test]
    fn fields_are_paragraphs_of_their_own() {
        let text = "DUE DILIGENCE REPORT\nTarget: Brightwater Analytics Ltd (the \"Company\")\nPrepared for: Castellane Holdings Ltd\nPrepared by: Hollis & Marr LLP, Transaction Services,\nPartner\nDate: 28 February 2025\nThe meeting was moved to 10:30 on Friday because of\nthe strike. The reason was simple: nobody came.\n";
        let parsed = parse_text(text);
        assert_eq!(
            kinds(&parsed),
            vec![
                "P:Target: Brightwater Analytics Ltd (the \"Company\")",
                "P:Prepared for: Castellane Holdings Ltd",
                "P:Prepared by: Hollis & Marr LLP, Transaction Services, Partner",
                "P:Date: 28 February 2025",
                "P:The meeting was moved to 10:30 on Friday because of the strike. The reason was simple: nobody came.",
            ]
        );
        assert!(super::starts_field("Subject: RE: Project Larch"));
        for not in
            ["10:30 start", "https://example.com", "Thursday 18 September with Owen. Reason: x", "note: lower", "Date:"]
        {
            assert!(!super::starts_field(not), "{not}");
        }
    }

    #[test]
    fn wrapped_numbers_are_not_headings() {
        let parsed = parse_text("The usual dose is\n3.5 mg daily with food.\n");
        assert_eq!(kinds(&parsed), vec!["P:The usual dose is 3.5 mg daily with food."]);
    }

    #[test]
    fn hyphenation_and_cjk_joins() {
        let mut buf = "metab-".to_owned();
        join_wrapped(&mut buf, "olism is fast");
        assert_eq!(buf, "metabolism is fast");
        let mut zh = "华法林".to_owned();
        join_wrapped(&mut zh, "需要监测");
        assert_eq!(zh, "华法林需要监测");
    }
}
