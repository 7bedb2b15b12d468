//! OpenDocument text (`.odt`) and spreadsheets (`.ods`) into blocks, from `content.xml`.
//!
//! - ODT: `text:h` headings at their outline level, paragraphs, list items (with `•`),
//!   tables as [`Table`]s (first row the header), footnotes and endnotes under their own
//!   sections at the end with a `[N]` marker in the text.
//! - ODS: each sheet a [`Table`] like an XLSX sheet (title lines, a header row, rows
//!   labelled `Row N`). Repeated rows and cells (`number-rows-repeated`, which spreadsheets
//!   use to pad a sheet to a million rows) are expanded only while they hold content.

use roxmltree::Node;

use crate::archive::{Archive, Limits};
use crate::block::{Block, Parsed, Table, TableRow};
use crate::docx::{attr, children, xml};
use crate::error::{IngestError, Result};

/// Widest and longest sheet read.
const MAX_COLUMNS: usize = 16_384;
const MAX_ROWS: u32 = 1_048_576;

fn content<'a>(archive: &mut Archive<'a>, what: &'static str) -> Result<String> {
    archive
        .read_text("content.xml")?
        .ok_or_else(|| IngestError::Corrupt { format: what, reason: "no content.xml".into() })
}

/// Text of an ODF paragraph-like element: spaces (`text:s c="N"`), tabs, line breaks;
/// note bodies left out (they are collected apart) and note citations as `[N]`.
fn text_of(n: Node<'_, '_>, out: &mut String) {
    for c in n.children() {
        if c.is_text() {
            out.push_str(c.text().unwrap_or_default());
            continue;
        }
        if !c.is_element() {
            continue;
        }
        match c.tag_name().name() {
            "s" => {
                let count: usize = attr(c, "c").and_then(|v| v.parse().ok()).unwrap_or(1);
                out.push_str(&" ".repeat(count.min(64)));
            }
            "tab" | "line-break" => out.push(' '),
            "note" => {
                let cite = children(c, "note-citation").next().and_then(|x| x.text()).unwrap_or("*");
                out.push_str(&format!("[{cite}]"));
            }
            "annotation" | "bookmark" | "bookmark-start" | "bookmark-end" => {}
            _ => text_of(c, out),
        }
    }
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn para(n: Node<'_, '_>) -> String {
    let mut s = String::new();
    text_of(n, &mut s);
    squash(&s)
}

struct Text {
    blocks: Vec<Block>,
    notes: Vec<(bool, String)>,
    tables: usize,
}

impl Text {
    fn walk(&mut self, parent: Node<'_, '_>, in_list: bool) {
        for n in parent.children().filter(Node::is_element) {
            match n.tag_name().name() {
                "h" => {
                    let level = attr(n, "outline-level").and_then(|v| v.parse::<u8>().ok()).unwrap_or(1).clamp(1, 10);
                    let t = para(n);
                    if !t.is_empty() {
                        self.blocks.push(Block::heading(level, t, None));
                    }
                    self.collect_notes(n);
                }
                "p" => {
                    let t = para(n);
                    if !t.is_empty() {
                        let t = if in_list { format!("• {t}") } else { t };
                        self.blocks.push(Block::paragraph(t, None));
                    }
                    self.collect_notes(n);
                }
                "list" => self.walk(n, true),
                "list-item" | "list-header" | "section" | "index-body" | "table-of-content" => self.walk(n, in_list),
                "table" => self.table(n),
                _ => {}
            }
        }
    }

    fn collect_notes(&mut self, n: Node<'_, '_>) {
        for note in n.descendants().filter(|d| d.is_element() && d.tag_name().name() == "note") {
            let cite = children(note, "note-citation").next().and_then(|x| x.text()).unwrap_or("*").to_owned();
            let endnote = attr(note, "note-class") == Some("endnote");
            let body: Vec<String> =
                children(note, "note-body").flat_map(|b| children(b, "p").map(para).collect::<Vec<_>>()).collect();
            let body = body.join(" ");
            if !body.is_empty() {
                self.notes.push((endnote, format!("[{cite}] {body}")));
            }
        }
    }

    fn table(&mut self, t: Node<'_, '_>) {
        // Notes cited inside cells are collected like those of paragraphs.
        self.collect_notes(t);
        let rows: Vec<Vec<String>> = t
            .descendants()
            .filter(|d| d.is_element() && d.tag_name().name() == "table-row")
            .map(|r| {
                children(r, "table-cell").map(|c| children(c, "p").map(para).collect::<Vec<_>>().join(" ")).collect()
            })
            .filter(|r: &Vec<String>| r.iter().any(|c| !c.is_empty()))
            .collect();
        if rows.is_empty() {
            return;
        }
        self.tables += 1;
        let caption = attr(t, "name").map_or_else(|| format!("Table {}", self.tables), str::to_owned);
        let (header, body) = if rows.len() > 1 { (rows[0].clone(), &rows[1..]) } else { (Vec::new(), &rows[..]) };
        let rows = body.iter().map(|cells| TableRow { label: None, cells: cells.clone(), header: None }).collect();
        self.blocks.push(Block::table(Table { caption, preamble: Vec::new(), header, rows }, None));
    }
}

fn title_of(archive: &mut Archive<'_>, what: &'static str) -> Result<Option<String>> {
    let Some(meta) = archive.read_text("meta.xml")? else { return Ok(None) };
    let doc = xml(&meta, what, "meta.xml")?;
    Ok(doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "title")
        .and_then(|n| n.text())
        .map(squash)
        .filter(|t| !t.is_empty()))
}

/// Parses ODT bytes.
pub fn parse_odt(bytes: &[u8], limits: Limits) -> Result<Parsed> {
    const WHAT: &str = "ODT";
    let mut archive = Archive::open(bytes, WHAT, limits)?;
    let text = content(&mut archive, WHAT)?;
    let doc = xml(&text, WHAT, "content.xml")?;
    let body = doc
        .descendants()
        .find(|n| {
            n.is_element() && n.tag_name().name() == "text" && n.parent().is_some_and(|p| p.tag_name().name() == "body")
        })
        .ok_or_else(|| IngestError::Corrupt { format: WHAT, reason: "content.xml has no office:text body".into() })?;
    let mut t = Text { blocks: Vec::new(), notes: Vec::new(), tables: 0 };
    t.walk(body, false);
    for (endnotes, heading) in [(false, "Footnotes"), (true, "Endnotes")] {
        let notes: Vec<&String> = t.notes.iter().filter(|(e, _)| *e == endnotes).map(|(_, n)| n).collect();
        if !notes.is_empty() {
            t.blocks.push(Block::heading(1, heading.to_owned(), None));
            t.blocks.extend(notes.into_iter().map(|n| Block::paragraph(n.clone(), None)));
        }
    }
    Ok(Parsed { title: title_of(&mut archive, WHAT)?, blocks: t.blocks, pages: None, ..Parsed::default() })
}

/// A cell's displayed value: its text, else its typed value (dates as written).
fn cell_value(c: Node<'_, '_>) -> String {
    let text = children(c, "p").map(para).collect::<Vec<_>>().join(" ");
    if !text.is_empty() {
        return text;
    }
    attr(c, "date-value")
        .or_else(|| attr(c, "value"))
        .or_else(|| attr(c, "string-value"))
        .unwrap_or_default()
        .to_owned()
}

/// Parses ODS bytes.
pub fn parse_ods(bytes: &[u8], limits: Limits) -> Result<Parsed> {
    const WHAT: &str = "ODS";
    let mut archive = Archive::open(bytes, WHAT, limits)?;
    let text = content(&mut archive, WHAT)?;
    let doc = xml(&text, WHAT, "content.xml")?;
    let mut blocks = Vec::new();
    let mut budget = (crate::block::MAX_SHEET_CELLS, crate::block::MAX_SHEET_BYTES);
    for sheet in doc.descendants().filter(|n| n.is_element() && n.tag_name().name() == "table") {
        let name = attr(sheet, "name").unwrap_or("Sheet").to_owned();
        let mut rows: Vec<(u32, Vec<String>)> = Vec::new();
        let mut r = 0u32;
        for row in sheet.descendants().filter(|d| d.is_element() && d.tag_name().name() == "table-row") {
            let repeat: u32 = attr(row, "number-rows-repeated").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
            let mut cells: Vec<String> = Vec::new();
            // Empty cells are counted and written only when a filled cell follows them, so
            // that padding to the sheet's edge costs nothing and columns stay aligned.
            let mut pending = 0usize;
            for c in row
                .children()
                .filter(|c| c.is_element() && matches!(c.tag_name().name(), "table-cell" | "covered-table-cell"))
            {
                let n: usize = attr(c, "number-columns-repeated").and_then(|v| v.parse().ok()).unwrap_or(1).max(1);
                let v = cell_value(c);
                if v.is_empty() {
                    pending = pending.saturating_add(n);
                    continue;
                }
                let gap = pending.min(MAX_COLUMNS.saturating_sub(cells.len()));
                crate::block::spend(&mut budget, gap, 0)?;
                cells.extend(std::iter::repeat_n(String::new(), gap));
                pending = 0;
                let n = n.min(MAX_COLUMNS.saturating_sub(cells.len()));
                crate::block::spend(&mut budget, n, v.len())?;
                cells.extend(std::iter::repeat_n(v, n));
                if cells.len() >= MAX_COLUMNS {
                    break;
                }
            }
            let filled = cells.iter().any(|c| !c.trim().is_empty());
            // Repeated empty rows only move the row number.
            let times = if filled { repeat.min(MAX_ROWS.saturating_sub(r)).min(1000) } else { 0 };
            let row_bytes: usize = cells.iter().map(String::len).sum();
            crate::block::spend(&mut budget, cells.len().saturating_mul(times as usize), 0)?;
            crate::block::spend(&mut budget, times as usize, row_bytes)?;
            for k in 0..times {
                rows.push((r + k + 1, cells.clone()));
            }
            r = r.saturating_add(repeat).min(MAX_ROWS);
        }
        if !rows.is_empty() {
            blocks.push(Block::table(crate::block::sheet_table(&name, &rows), None));
        }
    }
    Ok(Parsed { title: title_of(&mut archive, WHAT)?, blocks, pages: None, ..Parsed::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::write_zip;
    use crate::block::BlockKind;

    const NS: &str = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0""#;

    #[test]
    fn odt_headings_lists_tables_notes() {
        let content = format!(
            r#"<office:document-content {NS}><office:body><office:text>
            <text:h text:outline-level="1">Scope</text:h>
            <text:p>Two<text:s text:c="2"/>markets.<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Per the 2025 plan.</text:p></text:note-body></text:note></text:p>
            <text:list><text:list-item><text:p>Prepare</text:p></text:list-item></text:list>
            <table:table table:name="Costs"><table:table-row><table:table-cell><text:p>Item</text:p></table:table-cell><table:table-cell><text:p>EUR</text:p></table:table-cell></table:table-row>
            <table:table-row><table:table-cell><text:p>Video</text:p></table:table-cell><table:table-cell><text:p>21,000<text:note text:note-class="footnote"><text:note-citation>2</text:note-citation><text:note-body><text:p>Net of VAT.</text:p></text:note-body></text:note></text:p></table:table-cell></table:table-row></table:table>
            </office:text></office:body></office:document-content>"#
        );
        let z = write_zip(&[("content.xml", content.as_bytes())], true);
        let p = parse_odt(&z, Limits::default()).unwrap();
        let texts: Vec<&str> = p.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Scope",
                "Two markets.[1]",
                "• Prepare",
                "Costs",
                "Footnotes",
                "[1] Per the 2025 plan.",
                "[2] Net of VAT."
            ]
        );
        let BlockKind::Table(t) = &p.blocks[3].kind else { panic!() };
        assert_eq!(t.rows[0].text(&t.header), "Item = Video | EUR = 21,000[2]");
    }

    #[test]
    fn ods_sheets_skip_padding() {
        let content = format!(
            r#"<office:document-content {NS}><office:body><office:spreadsheet><table:table table:name="Budget">
            <table:table-row><table:table-cell><text:p>Item</text:p></table:table-cell><table:table-cell><text:p>Qty</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16000"/></table:table-row>
            <table:table-row table:number-rows-repeated="2"><table:table-cell/></table:table-row>
            <table:table-row><table:table-cell><text:p>Cable</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="30"/></table:table-row>
            <table:table-row><table:table-cell><text:p>Fuse</text:p></table:table-cell><table:table-cell table:number-columns-repeated="2"/><table:table-cell><text:p>late</text:p></table:table-cell></table:table-row>
            <table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
            </table:table></office:spreadsheet></office:body></office:document-content>"#
        );
        let z = write_zip(&[("content.xml", content.as_bytes())], true);
        let p = parse_ods(&z, Limits::default()).unwrap();
        let BlockKind::Table(t) = &p.blocks[0].kind else { panic!() };
        let rows: Vec<String> = t.rows.iter().map(|r| r.text(&t.header)).collect();
        // Two empty cells keep "late" in the fourth column (no header name there).
        assert_eq!(rows, ["Row 4: Item = Cable | Qty = 30", "Row 5: Item = Fuse | late"]);
    }

    #[test]
    fn missing_content_is_an_error() {
        let z = write_zip(&[("meta.xml", b"<a/>")], true);
        assert!(parse_odt(&z, Limits::default()).unwrap_err().to_string().contains("content.xml"));
        assert!(parse_ods(&z, Limits::default()).is_err());
    }
}
