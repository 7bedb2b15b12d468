//! PPTX (PresentationML) into blocks: each slide is a section titled `Slide N: TITLE`
//! (the title placeholder's text), holding its text boxes' paragraphs in order, its tables
//! as [`Table`]s, and the speaker notes under `Speaker notes`. Slides come in the
//! presentation's order (`sldIdLst`), not the part names' order.

use std::collections::HashMap;

use roxmltree::Node;

use crate::archive::{Archive, Limits};
use crate::block::{Block, Parsed, Table, TableRow};
use crate::docx::{attr, child, children, xml};
use crate::error::{IngestError, Result};

const WHAT: &str = "PPTX";

fn corrupt(reason: impl Into<String>) -> IngestError {
    IngestError::Corrupt { format: WHAT, reason: reason.into() }
}

/// A part's relationships: id → target resolved against the part's folder.
fn relationships(archive: &mut Archive<'_>, part: &str) -> Result<HashMap<String, (String, String)>> {
    let (dir, file) = part.rsplit_once('/').unwrap_or(("", part));
    let rels = format!("{dir}/_rels/{file}.rels");
    let Some(text) = archive.read_text(&rels)? else { return Ok(HashMap::new()) };
    let doc = xml(&text, WHAT, &rels)?;
    Ok(children(doc.root_element(), "Relationship")
        .filter_map(|r| {
            let target = attr(r, "Target")?;
            let kind = attr(r, "Type").unwrap_or_default().rsplit('/').next().unwrap_or_default().to_owned();
            Some((attr(r, "Id")?.to_owned(), (resolve(dir, target), kind)))
        })
        .collect())
}

/// The `r:id` of an element (which also has a plain `id`).
fn relationship_id<'a>(n: Node<'a, '_>) -> Option<&'a str> {
    n.attributes().find(|a| a.name() == "id" && a.namespace().is_some()).map(|a| a.value())
}

/// `dir` + a relative target (`../notesSlides/notesSlide1.xml`), or an absolute one.
fn resolve(dir: &str, target: &str) -> String {
    if let Some(abs) = target.strip_prefix('/') {
        return abs.to_owned();
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for piece in target.split('/') {
        match piece {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// A DrawingML paragraph's text (`a:t` runs and fields, breaks as spaces).
fn para_text(p: Node<'_, '_>) -> String {
    let mut s = String::new();
    for n in p.descendants().filter(Node::is_element) {
        match n.tag_name().name() {
            "t" => s.push_str(n.text().unwrap_or_default()),
            "br" => s.push(' '),
            _ => {}
        }
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn body_paragraphs(tx: Node<'_, '_>) -> Vec<String> {
    children(tx, "p").map(para_text).filter(|t| !t.is_empty()).collect()
}

/// The placeholder type of a shape (`title`, `ctrTitle`, `body`, …), if it is one.
fn placeholder<'a>(sp: Node<'a, '_>) -> Option<&'a str> {
    let nv = child(sp, "nvSpPr")?;
    let ph = child(child(nv, "nvPr")?, "ph")?;
    Some(attr(ph, "type").unwrap_or("body"))
}

/// Walks a shape tree in document order: text boxes, tables, groups.
fn shapes(tree: Node<'_, '_>, title: &mut Option<String>, out: &mut Vec<Block>, tables: &mut usize) {
    for n in tree.children().filter(Node::is_element) {
        match n.tag_name().name() {
            "sp" => {
                let Some(tx) = child(n, "txBody") else { continue };
                let paras = body_paragraphs(tx);
                if paras.is_empty() {
                    continue;
                }
                if matches!(placeholder(n), Some("title" | "ctrTitle")) && title.is_none() {
                    *title = Some(paras.join(" "));
                } else {
                    // Slide numbers, dates and footers repeat on every slide: not content.
                    if matches!(placeholder(n), Some("sldNum" | "dt" | "ftr")) {
                        continue;
                    }
                    out.extend(paras.into_iter().map(|p| Block::paragraph(p, None)));
                }
            }
            "graphicFrame" => {
                let Some(tbl) = n.descendants().find(|d| d.is_element() && d.tag_name().name() == "tbl") else {
                    continue;
                };
                let rows: Vec<Vec<String>> = children(tbl, "tr")
                    .map(|tr| {
                        children(tr, "tc")
                            .map(|tc| child(tc, "txBody").map(|tx| body_paragraphs(tx).join(" ")).unwrap_or_default())
                            .collect()
                    })
                    .filter(|r: &Vec<String>| r.iter().any(|c| !c.is_empty()))
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                *tables += 1;
                let (header, body) =
                    if rows.len() > 1 { (rows[0].clone(), &rows[1..]) } else { (Vec::new(), &rows[..]) };
                let rows =
                    body.iter().map(|cells| TableRow { label: None, cells: cells.clone(), header: None }).collect();
                out.push(Block::table(
                    Table { caption: format!("Table {tables}"), preamble: Vec::new(), header, rows },
                    None,
                ));
            }
            "grpSp" => shapes(n, title, out, tables),
            _ => {}
        }
    }
}

/// Parses PPTX bytes.
pub fn parse_pptx(bytes: &[u8], limits: Limits) -> Result<Parsed> {
    let mut archive = Archive::open(bytes, WHAT, limits)?;
    let pres = archive.read_text("ppt/presentation.xml")?.ok_or_else(|| corrupt("no ppt/presentation.xml"))?;
    let rels = relationships(&mut archive, "ppt/presentation.xml")?;
    let doc = xml(&pres, WHAT, "ppt/presentation.xml")?;
    let slides: Vec<String> = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "sldIdLst")
        .map(|list| {
            children(list, "sldId")
                .filter_map(|s| relationship_id(s).and_then(|id| rels.get(id)))
                .map(|(t, _)| t.clone())
                .collect()
        })
        .unwrap_or_default();
    let mut blocks = Vec::new();
    let mut tables = 0;
    for (i, part) in slides.iter().enumerate() {
        let Some(text) = archive.read_text(part)? else { continue };
        let sd = xml(&text, WHAT, part)?;
        let Some(tree) = sd.descendants().find(|n| n.is_element() && n.tag_name().name() == "spTree") else { continue };
        let mut title = None;
        let mut body = Vec::new();
        shapes(tree, &mut title, &mut body, &mut tables);
        let mut notes = Vec::new();
        let slide_rels = relationships(&mut archive, part)?;
        // The first notes relationship by ID (a map's order would vary from run to run).
        let mut notes_rels: Vec<(&String, &String)> =
            slide_rels.iter().filter(|(_, (_, kind))| kind == "notesSlide").map(|(id, (part, _))| (id, part)).collect();
        notes_rels.sort();
        if let Some((_, notes_part)) = notes_rels.first()
            && let Some(nt) = archive.read_text(notes_part.as_str())?
        {
            let nd = xml(&nt, WHAT, notes_part)?;
            for sp in nd.descendants().filter(|n| n.is_element() && n.tag_name().name() == "sp") {
                if placeholder(sp) == Some("body")
                    && let Some(tx) = child(sp, "txBody")
                {
                    notes.extend(body_paragraphs(tx));
                }
            }
        }
        let heading = match title {
            Some(t) => format!("Slide {}: {t}", i + 1),
            None => format!("Slide {}", i + 1),
        };
        blocks.push(Block::heading(1, heading, None));
        blocks.extend(body);
        if !notes.is_empty() {
            blocks.push(Block::heading(2, "Speaker notes".to_owned(), None));
            blocks.extend(notes.into_iter().map(|n| Block::paragraph(n, None)));
        }
    }
    let title = blocks.first().and_then(|b| b.text.split_once(": ").map(|(_, t)| t.to_owned()));
    Ok(Parsed { title, blocks, pages: None, ..Parsed::default() })
}

/// Writes a PPTX of `slides` (title, body paragraphs, notes), for tests and fuzz seeds.
pub fn write_pptx(slides: &[(&str, &[&str], Option<&str>)]) -> Vec<u8> {
    const NS: &str = r#"xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships""#;
    const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let rels_head = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"#;
    let sp = |ph: &str, paras: &[&str]| {
        let ps: String = paras.iter().map(|p| format!("<a:p><a:r><a:t>{p}</a:t></a:r></a:p>")).collect();
        format!(
            r#"<p:sp><p:nvSpPr><p:cNvPr id="1" name="s"/><p:cNvSpPr/><p:nvPr>{ph}</p:nvPr></p:nvSpPr><p:txBody>{ps}</p:txBody></p:sp>"#
        )
    };
    let mut parts: Vec<(String, String)> = Vec::new();
    let mut list = String::new();
    let mut pres_rels = rels_head.to_owned();
    // Written in reverse part order, so that reading by `sldIdLst` order is what is tested.
    for (i, (title, body, notes)) in slides.iter().enumerate() {
        let n = slides.len() - i;
        list.push_str(&format!(r#"<p:sldId id="{}" r:id="rId{n}"/>"#, 256 + i));
        pres_rels.push_str(&format!(r#"<Relationship Id="rId{n}" Type="{REL}/slide" Target="slides/slide{n}.xml"/>"#));
        let tree = format!("{}{}", sp(r#"<p:ph type="title"/>"#, &[title]), sp("", body));
        parts.push((
            format!("ppt/slides/slide{n}.xml"),
            format!(r#"<p:sld {NS}><p:cSld><p:spTree>{tree}</p:spTree></p:cSld></p:sld>"#),
        ));
        if let Some(notes) = notes {
            parts.push((
                format!("ppt/slides/_rels/slide{n}.xml.rels"),
                format!(r#"{rels_head}<Relationship Id="rId1" Type="{REL}/notesSlide" Target="../notesSlides/notesSlide{n}.xml"/></Relationships>"#),
            ));
            let body = sp(r#"<p:ph type="body" idx="1"/>"#, &[notes]);
            parts.push((
                format!("ppt/notesSlides/notesSlide{n}.xml"),
                format!(r#"<p:notes {NS}><p:cSld><p:spTree>{body}</p:spTree></p:cSld></p:notes>"#),
            ));
        }
    }
    pres_rels.push_str("</Relationships>");
    const PML: &str = "application/vnd.openxmlformats-officedocument.presentationml";
    let slide_types: Vec<(String, String)> = parts
        .iter()
        .filter(|(n, _)| n.ends_with(".xml") && !n.contains("_rels"))
        .map(|(n, _)| {
            let kind = if n.contains("notesSlides") { "notesSlide" } else { "slide" };
            (n.clone(), format!("{PML}.{kind}+xml"))
        })
        .collect();
    let refs: Vec<(&str, &str)> = slide_types.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (types, package_rels) =
        crate::archive::office_package("ppt/presentation.xml", &format!("{PML}.presentation.main+xml"), &refs);
    parts.push(("[Content_Types].xml".into(), types));
    parts.push(("_rels/.rels".into(), package_rels));
    parts.push((
        "ppt/presentation.xml".into(),
        format!(r#"<p:presentation {NS}><p:sldIdLst>{list}</p:sldIdLst></p:presentation>"#),
    ));
    parts.push(("ppt/_rels/presentation.xml.rels".into(), pres_rels));
    let refs: Vec<(&str, &[u8])> = parts.iter().map(|(n, d)| (n.as_str(), d.as_bytes())).collect();
    crate::archive::write_zip(&refs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slides_in_order_with_titles_and_notes() {
        let x = write_pptx(&[
            ("Kite 3.0", &["Launch on 29 October", "Go / no-go on 22 October"], Some("Mention the SSO fallback.")),
            ("Budget", &["Video: £21,000"], None),
        ]);
        let p = parse_pptx(&x, Limits::default()).unwrap();
        let texts: Vec<&str> = p.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Slide 1: Kite 3.0",
                "Launch on 29 October",
                "Go / no-go on 22 October",
                "Speaker notes",
                "Mention the SSO fallback.",
                "Slide 2: Budget",
                "Video: £21,000",
            ]
        );
        assert_eq!(p.title.as_deref(), Some("Kite 3.0"));
        assert_eq!(resolve("ppt/slides", "../notesSlides/n1.xml"), "ppt/notesSlides/n1.xml");
    }

    #[test]
    fn broken_decks_are_errors() {
        let z = crate::archive::write_zip(&[("ppt/other.xml", b"<a/>")], true);
        assert!(parse_pptx(&z, Limits::default()).unwrap_err().to_string().contains("presentation.xml"));
    }
}
