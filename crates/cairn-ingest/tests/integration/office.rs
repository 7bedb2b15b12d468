//! DOCX, XLSX and e-mail through `ingest_bytes`: tables become a section of single-sentence row
//! paragraphs; bombs and damaged files are clear errors; and, when dossier-bench is fetched
//! (`scripts/fetch-data.sh`), its original DOCX, XLSX, EML and CSV files read with the words of
//! the set's own extracted text.

use std::collections::HashSet;
use std::path::Path;

use cairn_core::{DocKey, NodeKind};
use cairn_ingest::archive::{Limits, write_zip};
use cairn_ingest::docx::write_docx;
use cairn_ingest::xlsx::write_xlsx;
use cairn_ingest::{Format, IngestError, IngestOptions, ingest_bytes};

fn key(s: &str) -> DocKey {
    DocKey::new(s).unwrap()
}

#[test]
fn a_spreadsheet_row_is_one_citable_sentence_under_its_sheet() {
    let cells = |r: &[&str]| r.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let x = write_xlsx(&[(
        "Budget",
        vec![cells(&["Item", "Qty"]), cells(&["400A breaker", "2"]), cells(&["Cable. Copper, 3.5 mm", "30"])],
    )]);
    let doc = ingest_bytes(&key("budget"), "budget.xlsx", &x, Format::Xlsx, &IngestOptions::default(), None).unwrap();
    let t = &doc.tree;
    let sheet = t.nodes.iter().position(|n| n.kind == NodeKind::Section && n.text == "Budget").unwrap();
    let rows: Vec<usize> = (0..t.nodes.len()).filter(|&i| t.nodes[i].parent == Some(sheet as u32)).collect();
    assert_eq!(rows.len(), 2);
    let row = &t.nodes[rows[1]];
    assert_eq!(row.text, "Row 3: Item = Cable. Copper, 3.5 mm | Qty = 30");
    // One sentence, although the cell has a full stop inside.
    let sentences = t.sentences(rows[1]);
    assert_eq!(sentences.len(), 1);
    assert_eq!(sentences[0].text, row.text);
    assert_eq!(t.display_id(rows[1]).to_string(), "budget:1.2");
}

#[test]
fn word_tables_sit_in_their_section_and_text_after_them_stays_outside() {
    let body = r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Costs</w:t></w:r></w:p>
        <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Item</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>EUR</w:t></w:r></w:p></w:tc></w:tr>
        <w:tr><w:tc><w:p><w:r><w:t>Video</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>21,000</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
        <w:p><w:r><w:t>Totals are before tax.</w:t></w:r></w:p>"#;
    let styles = r#"<w:style w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>"#;
    let d = write_docx(body, Some(styles), None, None);
    let doc = ingest_bytes(&key("costs"), "costs.docx", &d, Format::Docx, &IngestOptions::default(), None).unwrap();
    let t = &doc.tree;
    let idx = |text: &str| t.nodes.iter().position(|n| n.text == text).unwrap();
    let (costs, table, row, after) =
        (idx("Costs"), idx("Table 1"), idx("Item = Video | EUR = 21,000"), idx("Totals are before tax."));
    assert_eq!(t.nodes[table].parent, Some(costs as u32));
    assert_eq!(t.nodes[row].parent, Some(table as u32));
    assert_eq!(t.nodes[after].parent, Some(costs as u32), "the paragraph after a table is not inside it");
}

#[test]
fn bombs_and_damaged_office_files_are_clear_errors() {
    let zeros = vec![b' '; 32 << 20];
    let body = format!("<w:p><w:r><w:t>x</w:t></w:r></w:p><!--{}-->", String::from_utf8(zeros).unwrap());
    let bomb = write_docx(&body, None, None, None);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let options =
        IngestOptions { archive: Limits { max_total_bytes: 8 << 20, ..Limits::default() }, ..IngestOptions::default() };
    let e = ingest_bytes(&key("b"), "b.docx", &bomb, Format::Docx, &options, None).unwrap_err();
    assert!(matches!(e, IngestError::TooComplex { .. }), "{e}");
    assert!(e.to_string().contains("inflated archive size"), "{e}");
    let e = ingest_bytes(&key("b"), "b.xlsx", b"PK\x03\x04garbage", Format::Xlsx, &options, None).unwrap_err();
    assert!(e.to_string().starts_with("corrupt or unsupported XLSX"), "{e}");
    // An old binary .doc named .docx is refused by its bytes.
    let e = Format::detect(Path::new("old.docx"), b"\xD0\xCF\x11\xE0").unwrap_err();
    assert!(e.to_string().contains("not a ZIP archive"), "{e}");
    let nested = write_zip(&[("word/document.xml", b"<w:document xmlns:w=\"w\"><w:body/></w:document>")], false);
    assert!(matches!(
        ingest_bytes(&key("e"), "e.docx", &nested, Format::Docx, &options, None),
        Err(IngestError::Empty)
    ));
}

/// Spreadsheets that declare more cells than they hold (a cell in the last column of every
/// row; a row repeated a thousand times, a thousand times) are refused by a cell budget,
/// not spread into gigabytes of empty cells.
#[test]
fn sparse_and_repeated_sheet_bombs_are_refused() {
    const NS: &str = r#"xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;
    let mut sheet = format!(r#"<worksheet {NS}><sheetData>"#);
    for r in 1..=20_000 {
        sheet.push_str(&format!(r#"<row r="{r}"><c r="XFD{r}" t="inlineStr"><is><t>x</t></is></c></row>"#));
    }
    sheet.push_str("</sheetData></worksheet>");
    let wb = format!(r#"<workbook {NS}><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>"#);
    let rels = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let x = write_zip(
        &[
            ("xl/workbook.xml", wb.as_bytes()),
            ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
            ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
        ],
        true,
    );
    assert!(x.len() < 1 << 20);
    let e = ingest_bytes(&key("x"), "x.xlsx", &x, Format::Xlsx, &IngestOptions::default(), None).unwrap_err();
    assert!(e.to_string().contains("spreadsheet cells"), "{e}");
    let ons = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0""#;
    let mut rows = String::new();
    for _ in 0..1000 {
        rows.push_str(r#"<table:table-row table:number-rows-repeated="1000"><table:table-cell table:number-columns-repeated="1000"><text:p>x</text:p></table:table-cell></table:table-row>"#);
    }
    let content = format!(
        r#"<office:document-content {ons}><office:body><office:spreadsheet><table:table table:name="S">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let ods = write_zip(&[("content.xml", content.as_bytes())], true);
    let e = ingest_bytes(&key("o"), "o.ods", &ods, Format::Ods, &IngestOptions::default(), None).unwrap_err();
    assert!(e.to_string().contains("spreadsheet cells"), "{e}");
}

/// XML nested ten thousand levels deep (a few KB compressed; the parsers walk some
/// elements recursively, and a stack overflow aborts the process) is refused whole.
#[test]
fn deeply_nested_xml_is_refused_not_a_stack_overflow() {
    let depth = 10_000;
    let body = format!(
        "{}<w:p><w:r><w:t>deep</w:t></w:r></w:p>{}",
        "<w:sdt><w:sdtContent>".repeat(depth),
        "</w:sdtContent></w:sdt>".repeat(depth)
    );
    let d = write_docx(&body, None, None, None);
    let e = ingest_bytes(&key("deep"), "deep.docx", &d, Format::Docx, &IngestOptions::default(), None).unwrap_err();
    assert!(e.to_string().contains("XML nesting"), "{e}");
    // A CSV of one column and many rows reads in linear time (the header search was
    // once rescanned per row).
    let csv = "x\n".repeat(200_000);
    let doc =
        ingest_bytes(&key("col"), "col.csv", csv.as_bytes(), Format::Csv, &IngestOptions::default(), None).unwrap();
    assert!(doc.tree.nodes.len() > 100_000);
}

/// Words (lower-cased alphanumeric runs, and single Han characters) of a text.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if cairn_text::is_han(c) {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            out.push(c.to_string());
        } else if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn dossier_bench_originals_read_with_the_sets_own_words() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/dossier-bench/dossier_bench/_cases");
    let Ok(cases) = std::fs::read_dir(&root) else {
        eprintln!("SKIP: no {} (scripts/fetch-data.sh)", root.display());
        return;
    };
    let mut files = 0;
    for case in cases.flatten() {
        let bible = std::fs::read_to_string(case.path().join("bible.yaml")).unwrap_or_default();
        // `key:` then `file:` lines of the documents list.
        let mut key_of_file = Vec::new();
        let mut last_key = None;
        for line in bible.lines() {
            let l = line.trim().trim_start_matches("- ");
            if let Some(k) = l.strip_prefix("key: ") {
                last_key = Some(k.trim().to_owned());
            } else if let (Some(f), Some(k)) = (l.strip_prefix("file: "), last_key.take()) {
                key_of_file.push((f.trim().to_owned(), k));
            }
        }
        for (file, k) in key_of_file {
            let format = match Path::new(&file).extension().and_then(|e| e.to_str()) {
                Some("docx") => Format::Docx,
                Some("xlsx") => Format::Xlsx,
                Some("eml") => Format::Email,
                Some("csv") => Format::Csv,
                _ => continue,
            };
            let Ok(bytes) = std::fs::read(case.path().join("docs").join(&file)) else {
                eprintln!("{file}: named in the bible, not shipped; skipped");
                continue;
            };
            let Ok(expected) = std::fs::read_to_string(case.path().join("expected/text").join(format!("{k}.txt")))
            else {
                continue;
            };
            let doc = ingest_bytes(&key("d"), &file, &bytes, format, &IngestOptions::default(), None)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let ours: HashSet<String> = doc.tree.nodes.iter().flat_map(|n| words(&n.text)).collect();
            let theirs = words(&expected);
            let missing: Vec<&String> = theirs.iter().filter(|w| !ours.contains(*w)).collect();
            let recall = 1.0 - missing.len() as f64 / theirs.len().max(1) as f64;
            eprintln!(
                "{file}: {} nodes, word recall {recall:.3}, missing e.g. {:?}",
                doc.tree.nodes.len(),
                &missing[..missing.len().min(8)]
            );
            assert!(recall >= 0.9, "{file}: word recall {recall:.3}");
            files += 1;
        }
    }
    eprintln!("{files} original DOCX/XLSX/EML/CSV files read");
}
