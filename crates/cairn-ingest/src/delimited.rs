//! CSV and TSV into one [`Table`]: the delimiter is the one of `,`, `;` and tab that the
//! first line holds most of (outside quotes); fields follow RFC 4180 (quotes, doubled
//! quotes, line breaks inside quotes); title lines above the header row are the table's
//! preamble, as in a spreadsheet.

use crate::block::{Block, Parsed};
use crate::error::{IngestError, Result};

/// Most columns read per row.
const MAX_COLUMNS: usize = 16_384;

fn delimiter(text: &str) -> char {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |d: char| {
        let mut quoted = false;
        first
            .chars()
            .filter(|&c| {
                if c == '"' {
                    quoted = !quoted;
                }
                !quoted && c == d
            })
            .count()
    };
    [',', ';', '\t'].into_iter().max_by_key(|&d| (count(d), d == ',')).unwrap_or(',')
}

/// Records of `text` split on `delim`; an error past [`crate::block::MAX_SHEET_CELLS`]
/// fields (100 MB of commas is 100 M empty fields).
pub fn records(text: &str, delim: char) -> Result<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    // Whether the field so far is only spaces (a quote may open it).
    let mut blank = true;
    let mut quoted = false;
    let mut cells = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == delim || c == '\n' {
            cells += 1;
            if cells > crate::block::MAX_SHEET_CELLS {
                return Err(IngestError::TooComplex {
                    what: "spreadsheet cells",
                    limit: crate::block::MAX_SHEET_CELLS as u64,
                });
            }
        }
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' && blank {
            field.clear();
            quoted = true;
            blank = false;
        } else if c == delim {
            if row.len() < MAX_COLUMNS {
                row.push(std::mem::take(&mut field));
            } else {
                field.clear();
            }
            blank = true;
        } else if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            if row.len() < MAX_COLUMNS {
                row.push(std::mem::take(&mut field));
            }
            out.push(std::mem::take(&mut row));
            field.clear();
            blank = true;
        } else {
            blank &= c.is_whitespace();
            field.push(c);
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        out.push(row);
    }
    Ok(out)
}

/// Parses decoded CSV or TSV text.
pub fn parse_delimited(text: &str) -> Result<Parsed> {
    let rows: Vec<(u32, Vec<String>)> = records(text, delimiter(text))?
        .into_iter()
        .enumerate()
        .map(|(i, r)| (i as u32 + 1, r.into_iter().map(|c| c.trim().to_owned()).collect::<Vec<_>>()))
        .filter(|(_, r)| r.iter().any(|c| !c.is_empty()))
        .collect();
    if rows.is_empty() {
        return Err(IngestError::Empty);
    }
    let table = crate::block::sheet_table("Table", &rows);
    Ok(Parsed { title: None, blocks: vec![Block::table(table, None)], pages: None, ..Parsed::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockKind;

    #[test]
    fn quotes_delimiters_and_title_lines() {
        let csv = "Budget tracker\nItem,Amount,Note\n\"Video, master\",\"£21,000\",\"said \"\"final\"\"\"\nAds,5000,\"two\nlines\"\n";
        let p = parse_delimited(csv).unwrap();
        let BlockKind::Table(t) = &p.blocks[0].kind else { panic!() };
        assert_eq!(t.preamble, ["Budget tracker"]);
        let rows: Vec<String> = t.rows.iter().map(|r| r.text(&t.header)).collect();
        assert_eq!(
            rows,
            [
                "Row 3: Item = Video, master | Amount = £21,000 | Note = said \"final\"",
                "Row 4: Item = Ads | Amount = 5000 | Note = two lines"
            ]
        );
        assert_eq!(delimiter("a;b;c\n1;2;3"), ';');
        assert_eq!(delimiter("a\tb\n"), '\t');
        assert_eq!(records("a;\"b;c\"\n", ';').unwrap(), [vec!["a".to_owned(), "b;c".to_owned()]]);
        assert!(matches!(parse_delimited(",,\n,\n"), Err(IngestError::Empty)));
    }
}
