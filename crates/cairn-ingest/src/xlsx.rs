//! XLSX (SpreadsheetML) into blocks: each sheet is a [`Table`] (a section titled by the
//! sheet's name), its first non-empty row the header, and every other row a citable row
//! labelled with its row number, so a citation reads `Budget › Row 12: Item = 400A | Qty
//! = 2`.
//!
//! Cell values: shared strings, inline strings, numbers (as written, `1200` not
//! `1.2E3`), booleans, and dates as ISO dates when the cell's number format is a date
//! format (Excel stores dates as day counts). Formulas give their cached value. Sheets
//! hidden in the workbook are still read: a hidden sheet is still part of the record.

use std::collections::HashMap;

use roxmltree::Node;

use crate::archive::{Archive, Limits};
use crate::block::{Block, Parsed};
use crate::docx::{attr, child, children, xml};
use crate::error::{IngestError, Result};

const WHAT: &str = "XLSX";

/// Widest sheet read (columns); cells past it are dropped (Excel's own limit is 16,384).
const MAX_COLUMNS: usize = 16_384;

fn corrupt(reason: impl Into<String>) -> IngestError {
    IngestError::Corrupt { format: WHAT, reason: reason.into() }
}

/// `B12` → column 1 (zero-based), row 12.
fn cell_ref(r: &str) -> Option<(usize, u32)> {
    let letters = r.chars().take_while(char::is_ascii_alphabetic).count();
    if letters == 0 || letters > 3 {
        return None;
    }
    let col = r[..letters].bytes().fold(0usize, |acc, b| acc * 26 + usize::from(b.to_ascii_uppercase() - b'A' + 1));
    Some((col - 1, r[letters..].parse().ok()?))
}

/// The text of a string item (`<si>` or `<is>`): its `t`, or its rich-text runs' `t`s
/// (phonetic runs left out).
fn string_item(n: Node<'_, '_>) -> String {
    let mut s = String::new();
    for c in n.children().filter(Node::is_element) {
        match c.tag_name().name() {
            "t" => s.push_str(c.text().unwrap_or_default()),
            "r" => {
                if let Some(t) = child(c, "t") {
                    s.push_str(t.text().unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    s
}

/// Which cell formats (by `s` index) are dates.
fn date_styles(archive: &mut Archive<'_>) -> Result<Vec<bool>> {
    let Some(text) = archive.read_text("xl/styles.xml")? else { return Ok(Vec::new()) };
    let doc = xml(&text, WHAT, "xl/styles.xml")?;
    let root = doc.root_element();
    let mut custom: HashMap<u32, bool> = HashMap::new();
    if let Some(fmts) = child(root, "numFmts") {
        for f in children(fmts, "numFmt") {
            let (Some(id), Some(code)) = (attr(f, "numFmtId").and_then(|v| v.parse().ok()), attr(f, "formatCode"))
            else {
                continue;
            };
            custom.insert(id, is_date_code(code));
        }
    }
    let Some(xfs) = child(root, "cellXfs") else { return Ok(Vec::new()) };
    Ok(children(xfs, "xf")
        .map(|xf| {
            let id: u32 = attr(xf, "numFmtId").and_then(|v| v.parse().ok()).unwrap_or(0);
            custom.get(&id).copied().unwrap_or(matches!(id, 14..=22 | 45..=47 | 27..=36 | 50..=58))
        })
        .collect())
}

/// Whether a number format code shows a date: it has day, month or year letters outside
/// quoted text and brackets (`yyyy-mm-dd`, `d/m/yy`, not `0.00` or `[Red]0`).
fn is_date_code(code: &str) -> bool {
    let mut quoted = false;
    let mut bracket = false;
    let mut prev = '\0';
    for c in code.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => bracket = true,
            ']' if !quoted => bracket = false,
            'd' | 'D' | 'y' | 'Y' | 'm' | 'M' if !quoted && !bracket && prev != '\\' => return true,
            _ => {}
        }
        prev = c;
    }
    false
}

/// An Excel day count (1900 date system) as an ISO date, with the time when it has one.
fn excel_date(serial: f64) -> Option<String> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    // Day 60 is Excel's phantom 1900-02-29; days after it are one too many.
    let days = serial.floor() as i64;
    let days = if days > 60 { days - 1 } else { days };
    // Civil date from days since 1899-12-31 (Howard Hinnant's algorithm, epoch 1970-01-01).
    let z = days - 25_568 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let secs = ((serial - serial.floor()) * 86_400.0).round() as i64;
    Some(if secs == 0 || secs == 86_400 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", secs / 3600, secs / 60 % 60)
    })
}

/// A number as written: integers without a decimal point, others to at most 10
/// significant decimals without trailing zeros.
fn number(v: &str) -> String {
    match v.parse::<f64>() {
        Ok(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Ok(x) => {
            let s = format!("{x:.10}");
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        Err(_) => v.to_owned(),
    }
}

/// Sheet names and their part paths, in workbook order.
fn sheets(archive: &mut Archive<'_>) -> Result<Vec<(String, String)>> {
    let wb = archive.read_text("xl/workbook.xml")?.ok_or_else(|| corrupt("no xl/workbook.xml"))?;
    let doc = xml(&wb, WHAT, "xl/workbook.xml")?;
    let rels = match archive.read_text("xl/_rels/workbook.xml.rels")? {
        Some(t) => {
            let rd = xml(&t, WHAT, "xl/_rels/workbook.xml.rels")?;
            children(rd.root_element(), "Relationship")
                .filter_map(|r| Some((attr(r, "Id")?.to_owned(), attr(r, "Target")?.to_owned())))
                .collect::<HashMap<_, _>>()
        }
        None => HashMap::new(),
    };
    let mut out = Vec::new();
    let Some(list) = doc.descendants().find(|n| n.is_element() && n.tag_name().name() == "sheets") else {
        return Ok(out);
    };
    for (i, s) in children(list, "sheet").enumerate() {
        let name = attr(s, "name").unwrap_or("Sheet").to_owned();
        let target = attr(s, "id")
            .and_then(|id| rels.get(id))
            .map(|t| match t.strip_prefix('/') {
                Some(abs) => abs.to_owned(),
                None => format!("xl/{t}"),
            })
            .unwrap_or_else(|| format!("xl/worksheets/sheet{}.xml", i + 1));
        out.push((name, target));
    }
    Ok(out)
}

/// Parses XLSX bytes.
pub fn parse_xlsx(bytes: &[u8], limits: Limits) -> Result<Parsed> {
    let mut archive = Archive::open(bytes, WHAT, limits)?;
    let shared: Vec<String> = match archive.read_text("xl/sharedStrings.xml")? {
        Some(t) => {
            let doc = xml(&t, WHAT, "xl/sharedStrings.xml")?;
            children(doc.root_element(), "si").map(string_item).collect()
        }
        None => Vec::new(),
    };
    let dates = date_styles(&mut archive)?;
    let mut blocks = Vec::new();
    let mut budget = (crate::block::MAX_SHEET_CELLS, crate::block::MAX_SHEET_BYTES);
    for (name, part) in sheets(&mut archive)? {
        let Some(text) = archive.read_text(&part)? else {
            tracing::warn!(sheet = %name, part = %part, "sheet part missing; skipped");
            continue;
        };
        let doc = xml(&text, WHAT, &part)?;
        let Some(data) = doc.descendants().find(|n| n.is_element() && n.tag_name().name() == "sheetData") else {
            continue;
        };
        let mut rows: Vec<(u32, Vec<String>)> = Vec::new();
        let mut next_row = 1;
        for row in children(data, "row") {
            let r: u32 = attr(row, "r").and_then(|v| v.parse().ok()).unwrap_or(next_row);
            next_row = r.saturating_add(1);
            let mut cells: Vec<String> = Vec::new();
            let mut next_col = 0;
            for c in children(row, "c") {
                let col = attr(c, "r").and_then(cell_ref).map_or(next_col, |(col, _)| col);
                next_col = col + 1;
                if col >= MAX_COLUMNS {
                    continue;
                }
                let v = child(c, "v").and_then(|v| v.text()).unwrap_or_default();
                let value = match attr(c, "t").unwrap_or("n") {
                    "s" => v.trim().parse::<usize>().ok().and_then(|i| shared.get(i)).cloned().unwrap_or_default(),
                    "inlineStr" => child(c, "is").map(string_item).unwrap_or_default(),
                    "b" => (if v.trim() == "1" { "TRUE" } else { "FALSE" }).to_owned(),
                    "str" | "e" => v.to_owned(),
                    _ if v.is_empty() => String::new(),
                    _ => {
                        let style = attr(c, "s").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
                        match (dates.get(style), v.parse::<f64>()) {
                            (Some(true), Ok(serial)) => excel_date(serial).unwrap_or_else(|| number(v)),
                            _ => number(v),
                        }
                    }
                };
                if cells.len() <= col {
                    crate::block::spend(&mut budget, col + 1 - cells.len(), 0)?;
                    cells.resize(col + 1, String::new());
                }
                crate::block::spend(&mut budget, 1, value.len())?;
                cells[col] = value;
            }
            if cells.iter().any(|c| !c.trim().is_empty()) {
                rows.push((r, cells));
            }
        }
        if !rows.is_empty() {
            blocks.push(Block::table(crate::block::sheet_table(&name, &rows), None));
        }
    }
    Ok(Parsed { title: None, blocks, pages: None, ..Parsed::default() })
}

/// Writes an XLSX of `sheets` (name, rows of cells; cells that parse as numbers are
/// written as numbers, the rest as shared strings), for tests and fuzz seeds.
pub fn write_xlsx(sheets: &[(&str, Vec<Vec<String>>)]) -> Vec<u8> {
    const NS: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut shared: Vec<String> = Vec::new();
    let mut sheet_xml = Vec::new();
    for (_, rows) in sheets {
        let mut x = format!(r#"<?xml version="1.0" encoding="UTF-8"?><worksheet {NS}><sheetData>"#);
        for (r, row) in rows.iter().enumerate() {
            x.push_str(&format!(r#"<row r="{}">"#, r + 1));
            for (c, cell) in row.iter().enumerate() {
                if cell.is_empty() {
                    continue;
                }
                let col = char::from(b'A' + c as u8);
                if cell.parse::<f64>().is_ok() {
                    x.push_str(&format!(r#"<c r="{col}{}"><v>{cell}</v></c>"#, r + 1));
                } else {
                    shared.push(cell.clone());
                    x.push_str(&format!(r#"<c r="{col}{}" t="s"><v>{}</v></c>"#, r + 1, shared.len() - 1));
                }
            }
            x.push_str("</row>");
        }
        x.push_str("</sheetData></worksheet>");
        sheet_xml.push(x);
    }
    let mut wb = format!(r#"<?xml version="1.0" encoding="UTF-8"?><workbook {NS}><sheets>"#);
    let mut rels = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#,
    );
    for (i, (name, _)) in sheets.iter().enumerate() {
        wb.push_str(&format!(r#"<sheet name="{}" sheetId="{}" r:id="rId{}"/>"#, esc(name), i + 1, i + 1));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{}.xml"/>"#,
            i + 1,
            i + 1
        ));
    }
    wb.push_str("</sheets></workbook>");
    rels.push_str(r#"<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>"#);
    rels.push_str("</Relationships>");
    let sst = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><sst {NS}>{}</sst>"#,
        shared.iter().map(|s| format!("<si><t>{}</t></si>", esc(s))).collect::<String>()
    );
    let names: Vec<String> = (0..sheets.len()).map(|i| format!("xl/worksheets/sheet{}.xml", i + 1)).collect();
    const SML: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml";
    let mut overrides: Vec<(String, String)> =
        vec![("xl/sharedStrings.xml".into(), format!("{SML}.sharedStrings+xml"))];
    overrides.extend(names.iter().map(|n| (n.clone(), format!("{SML}.worksheet+xml"))));
    let refs: Vec<(&str, &str)> = overrides.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (types, package_rels) =
        crate::archive::office_package("xl/workbook.xml", &format!("{SML}.sheet.main+xml"), &refs);
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", package_rels.as_bytes()),
        ("xl/workbook.xml", wb.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/sharedStrings.xml", sst.as_bytes()),
    ];
    for (n, x) in names.iter().zip(&sheet_xml) {
        parts.push((n.as_str(), x.as_bytes()));
    }
    crate::archive::write_zip(&parts, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockKind;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn sheets_become_tables_with_numbered_rows() {
        let x = write_xlsx(&[
            (
                "Budget",
                vec![
                    row(&["Budget 2025 (draft)"]),
                    row(&["Item", "Qty", "Unit cost"]),
                    row(&["400A breaker", "2", "1250.5"]),
                    row(&[]),
                    row(&["Cable", "", "3 & 4"]),
                ],
            ),
            ("说明", vec![row(&["仅供内部使用"])]),
            (
                "Survey",
                vec![
                    row(&["Customer", "Score", "Comment"]),
                    row(&["Holloway", "6", "SSO fails"]),
                    row(&[]),
                    row(&["Responses", "12"]),
                    row(&["NPS", "41"]),
                ],
            ),
        ]);
        let parsed = parse_xlsx(&x, Limits::default()).unwrap();
        assert_eq!(parsed.blocks.len(), 3);
        let BlockKind::Table(t) = &parsed.blocks[0].kind else { panic!() };
        assert_eq!(t.caption, "Budget");
        let texts: Vec<String> = t.rows.iter().map(|r| r.text(&t.header)).collect();
        assert_eq!(t.preamble, ["Budget 2025 (draft)"]);
        assert_eq!(
            texts,
            ["Row 3: Item = 400A breaker | Qty = 2 | Unit cost = 1250.5", "Row 5: Item = Cable | Unit cost = 3 & 4"]
        );
        let BlockKind::Table(t) = &parsed.blocks[1].kind else { panic!() };
        assert_eq!(t.rows[0].text(&t.header), "Row 1: 仅供内部使用");
        // A `name, value` block below a table reads as one record of `name = value`
        // pairs, not as the table's columns.
        let BlockKind::Table(t) = &parsed.blocks[2].kind else { panic!() };
        let texts: Vec<String> = t.rows.iter().map(|r| r.text(&t.header)).collect();
        assert_eq!(
            texts,
            ["Row 2: Customer = Holloway | Score = 6 | Comment = SSO fails", "Rows 4-5: Responses = 12 | NPS = 41"]
        );
    }

    #[test]
    fn dates_numbers_and_references() {
        assert_eq!(excel_date(45_658.0).as_deref(), Some("2025-01-01"));
        assert_eq!(excel_date(1.0).as_deref(), Some("1900-01-01"));
        assert_eq!(excel_date(61.0).as_deref(), Some("1900-03-01"));
        assert_eq!(excel_date(45_658.75).as_deref(), Some("2025-01-01 18:00"));
        assert!(
            is_date_code("yyyy-mm-dd")
                && is_date_code("d/m/yy h:mm")
                && !is_date_code("0.00")
                && !is_date_code("[Red]0")
        );
        assert!(!is_date_code(r#""days" 0"#));
        assert_eq!((number("1200"), number("0.1"), number("2.50")), ("1200".into(), "0.1".into(), "2.5".into()));
        assert_eq!(cell_ref("B12"), Some((1, 12)));
        assert_eq!(cell_ref("AA3"), Some((26, 3)));
        assert_eq!(cell_ref("12"), None);
    }

    #[test]
    fn broken_workbooks_are_errors() {
        let no_wb = crate::archive::write_zip(&[("xl/other.xml", b"<a/>")], true);
        assert!(parse_xlsx(&no_wb, Limits::default()).unwrap_err().to_string().contains("workbook"));
        let bad = crate::archive::write_zip(&[("xl/workbook.xml", b"<workbook><sheets>")], true);
        assert!(matches!(parse_xlsx(&bad, Limits::default()), Err(IngestError::Corrupt { .. })));
    }
}
