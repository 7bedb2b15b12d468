//! The text of a table row, both ways.
//!
//! Ingest writes each table row as one paragraph of one sentence, `Row 12: Item = 400A |
//! Qty = 2` (the label when the source numbers its rows, then each non-empty cell with its
//! column's name, cells apart by ` | `, which cell text rarely holds where `;` and `,`
//! are common). That text is what retrieval indexes and what a citation's quote is
//! checked against. [`parse_row`] reads it back so that `cairn show` and the web page can
//! lay a table's rows out as a grid again.

/// Writes a row: `label: h1 = c1 | h2 = c2`, with empty cells left out, whitespace inside a
/// cell collapsed, and bare cells when the column has no name.
pub fn row_text(label: Option<&str>, header: &[String], cells: &[String]) -> String {
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut parts = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let cell = squash(cell);
        if cell.is_empty() {
            continue;
        }
        match header.get(i).map(|h| squash(h)) {
            Some(h) if !h.is_empty() => parts.push(format!("{h} = {cell}")),
            _ => parts.push(cell),
        }
    }
    let body = parts.join(" | ");
    match label {
        Some(label) => format!("{label}: {body}"),
        None => body,
    }
}

/// A row read back: its label, and `(column, value)` pairs in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `Row 12`, when the row text starts with one.
    pub label: Option<String>,
    /// Column name and value, in order.
    pub cells: Vec<(String, String)>,
}

/// A row label: `Row 12`, or `Rows 16-20` for a block of `name, value` lines read as one
/// record.
fn is_label(l: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    match (l.strip_prefix("Row "), l.strip_prefix("Rows ")) {
        (Some(n), _) => digits(n),
        (_, Some(range)) => range.split_once('-').is_some_and(|(a, b)| digits(a) && digits(b)),
        _ => false,
    }
}

/// Reads a row written by [`row_text`] with a header: `None` unless every part is
/// `name = value`.
pub fn parse_row(text: &str) -> Option<Row> {
    let (label, body) = match text.split_once(": ") {
        Some((l, b)) if is_label(l) => (Some(l.to_owned()), b),
        _ => (None, text),
    };
    let cells = body
        .split(" | ")
        .map(|part| part.split_once(" = ").map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect::<Option<Vec<_>>>()?;
    (!cells.is_empty()).then_some(Row { label, cells })
}

/// Lays rows out as a Markdown table (the columns in order of first appearance; a label
/// column when rows have labels). `None` unless every text is a row.
pub fn render(texts: &[&str]) -> Option<String> {
    let rows = texts.iter().map(|t| parse_row(t)).collect::<Option<Vec<_>>>()?;
    if rows.is_empty() {
        return None;
    }
    let mut columns: Vec<&str> = Vec::new();
    for r in &rows {
        for (k, _) in &r.cells {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    let labelled = rows.iter().any(|r| r.label.is_some());
    let esc = |s: &str| s.replace('|', "\\|");
    let mut out = String::new();
    let head: Vec<String> =
        labelled.then(|| "row".to_owned()).into_iter().chain(columns.iter().map(|c| esc(c))).collect();
    out.push_str(&format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len())));
    for r in &rows {
        let mut line: Vec<String> = Vec::new();
        if labelled {
            line.push(r.label.as_deref().map_or(String::new(), |l| {
                l.strip_prefix("Rows ").or_else(|| l.strip_prefix("Row ")).unwrap_or(l).to_owned()
            }));
        }
        for c in &columns {
            line.push(r.cells.iter().find(|(k, _)| k == c).map_or(String::new(), |(_, v)| esc(v)));
        }
        out.push_str(&format!("| {} |\n", line.join(" | ")));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn writes_and_reads_rows() {
        let text = row_text(Some("Row 12"), &s(&["Item", "Qty", "Note"]), &s(&["400A", "2", ""]));
        assert_eq!(text, "Row 12: Item = 400A | Qty = 2");
        let row = parse_row(&text).unwrap();
        assert_eq!(row.label.as_deref(), Some("Row 12"));
        assert_eq!(row.cells, [("Item".into(), "400A".into()), ("Qty".into(), "2".into())]);
        assert_eq!(row_text(None, &[], &s(&["a", " b  c "])), "a | b c");
        assert_eq!(parse_row("a | b c"), None);
        // `;` and `:` inside a value are text.
        let row = parse_row("Row 3: Note = bug found 12 Sep; fix in test: soon | Owner = Owen").unwrap();
        assert_eq!(row.cells[0].1, "bug found 12 Sep; fix in test: soon");
        assert_eq!(
            parse_row("Dosing: take 2 = twice"),
            Some(Row { label: None, cells: vec![("Dosing: take 2".into(), "twice".into())] })
        );
        let table = render(&["Row 2: Item = A | Qty = 1", "Row 3: Item = B|C | Note = late"]).unwrap();
        assert_eq!(
            table,
            "| row | Item | Qty | Note |\n|---|---|---|---|\n| 2 | A | 1 |  |\n| 3 | B\\|C |  | late |\n"
        );
        assert_eq!(render(&["Row 2: Item = A", "plain text"]), None);
        // A summary block's record spans rows.
        let row = parse_row("Rows 16-20: Responses = 12 | NPS = 41").unwrap();
        assert_eq!(row.label.as_deref(), Some("Rows 16-20"));
        assert_eq!(row.cells.len(), 2);
        assert!(render(&["Rows 16-20: NPS = 41"]).unwrap().contains("| 16-20 | 41 |"));
        assert_eq!(parse_row("Rows a-b: X = 1").unwrap().label, None);
        let squash_me = row_text(None, &s(&["A"]), &s(&["x | y"]));
        assert_eq!(parse_row(&squash_me), None, "a cell holding the separator does not read back");
    }

    proptest! {
        /// Whatever the cells, a written row with a header reads back to its non-empty
        /// cells, as long as no cell or name holds the separators.
        #[test]
        fn round_trips(cells in proptest::collection::vec("[a-zA-Z0-9 ,.;:中文]{0,12}", 1..6), label in proptest::option::of(1u32..5000)) {
            let header: Vec<String> = (0..cells.len()).map(|i| format!("Col {i}")).collect();
            let label = label.map(|l| format!("Row {l}"));
            let text = row_text(label.as_deref(), &header, &cells);
            let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            let want: Vec<(String, String)> = header.iter().zip(&cells).filter(|(_, c)| !squash(c).is_empty()).map(|(h, c)| (h.clone(), squash(c))).collect();
            match parse_row(&text) {
                Some(row) => {
                    prop_assert_eq!(row.cells, want);
                    prop_assert_eq!(row.label, label);
                }
                None => prop_assert!(want.is_empty()),
            }
        }
    }
}
