//! Test support: builds real PDF files in memory (with lopdf), so tests never need a
//! checked-in binary fixture. Hidden from the docs; not part of the stable API.
#![doc(hidden)]

use pdf_extract::{Dictionary, Document, Object, Stream, StringFormat};

/// An outline (bookmark) entry: level 1 is top.
#[derive(Debug, Clone)]
pub struct OutlineItem {
    /// Title.
    pub title: String,
    /// 1-based page.
    pub page: usize,
}

/// Builds a PDF whose page `i` shows `pages[i]` line by line (Helvetica, WinAnsi, so
/// Latin text only). An empty string is a blank line (a paragraph gap). Adds a flat
/// outline when `outline` is non-empty and an Info title when given.
pub fn pdf(pages: &[Vec<&str>], outline: &[OutlineItem], title: Option<&str>) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut font = Dictionary::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Subtype", Object::Name(b"Type1".to_vec()));
    font.set("BaseFont", Object::Name(b"Helvetica".to_vec()));
    font.set("Encoding", Object::Name(b"WinAnsiEncoding".to_vec()));
    let font_id = doc.add_object(font);
    let mut fonts = Dictionary::new();
    fonts.set("F1", Object::Reference(font_id));
    let mut resources = Dictionary::new();
    resources.set("Font", Object::Dictionary(fonts));
    let resources_id = doc.add_object(resources);
    let mut kids = Vec::new();
    let mut page_ids = Vec::new();
    for lines in pages {
        let mut content = String::from("BT /F1 11 Tf 14 TL 50 780 Td\n");
        for line in lines {
            if line.is_empty() {
                content.push_str("T*\n");
            } else {
                let escaped = line.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
                content.push_str(&format!("({escaped}) Tj T*\n"));
            }
        }
        content.push_str("ET\n");
        let stream_id = doc.add_object(Stream::new(Dictionary::new(), content.into_bytes()));
        let mut page = Dictionary::new();
        page.set("Type", Object::Name(b"Page".to_vec()));
        page.set("Parent", Object::Reference(pages_id));
        page.set("Contents", Object::Reference(stream_id));
        page.set("MediaBox", Object::Array(vec![0.into(), 0.into(), 595.into(), 842.into()]));
        let page_id = doc.add_object(page);
        kids.push(Object::Reference(page_id));
        page_ids.push(page_id);
    }
    let mut pages_dict = Dictionary::new();
    pages_dict.set("Type", Object::Name(b"Pages".to_vec()));
    pages_dict.set("Count", Object::Integer(kids.len() as i64));
    pages_dict.set("Kids", Object::Array(kids));
    pages_dict.set("Resources", Object::Reference(resources_id));
    doc.objects.insert(pages_id, Object::Dictionary(pages_dict));
    let mut catalog = Dictionary::new();
    catalog.set("Type", Object::Name(b"Catalog".to_vec()));
    catalog.set("Pages", Object::Reference(pages_id));
    if !outline.is_empty() {
        let outlines_id = doc.new_object_id();
        let item_ids: Vec<_> = outline.iter().map(|_| doc.new_object_id()).collect();
        for (i, item) in outline.iter().enumerate() {
            let mut d = Dictionary::new();
            d.set("Title", Object::String(item.title.clone().into_bytes(), StringFormat::Literal));
            d.set("Parent", Object::Reference(outlines_id));
            let target = page_ids[item.page.saturating_sub(1).min(page_ids.len() - 1)];
            d.set(
                "Dest",
                Object::Array(vec![
                    Object::Reference(target),
                    Object::Name(b"XYZ".to_vec()),
                    0.into(),
                    792.into(),
                    0.into(),
                ]),
            );
            if i > 0 {
                d.set("Prev", Object::Reference(item_ids[i - 1]));
            }
            if i + 1 < item_ids.len() {
                d.set("Next", Object::Reference(item_ids[i + 1]));
            }
            doc.objects.insert(item_ids[i], Object::Dictionary(d));
        }
        let mut o = Dictionary::new();
        o.set("Type", Object::Name(b"Outlines".to_vec()));
        o.set("First", Object::Reference(item_ids[0]));
        o.set("Last", Object::Reference(item_ids[item_ids.len() - 1]));
        o.set("Count", Object::Integer(item_ids.len() as i64));
        doc.objects.insert(outlines_id, Object::Dictionary(o));
        catalog.set("Outlines", Object::Reference(outlines_id));
    }
    let catalog_id = doc.add_object(catalog);
    doc.trailer.set("Root", Object::Reference(catalog_id));
    if let Some(title) = title {
        let mut info = Dictionary::new();
        info.set("Title", Object::String(title.as_bytes().to_vec(), StringFormat::Literal));
        let info_id = doc.add_object(info);
        doc.trailer.set("Info", Object::Reference(info_id));
    }
    let mut out = Vec::new();
    #[allow(clippy::unwrap_used)] // writing to a Vec cannot fail
    doc.save_to(&mut out).unwrap();
    out
}

/// A minimal PDF whose one content stream inflates to `mib` MiB of zeros (a deflate
/// bomb: about 1 KB compressed per inflated MiB).
pub fn deflate_bomb_pdf(mib: usize) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        let _ = z.write_all(&zeros);
    }
    let data = z.finish().unwrap_or_default();
    let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n".to_vec();
    pdf.extend(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
    pdf.extend(b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>\nendobj\n");
    pdf.extend(format!("4 0 obj\n<< /Length {} /Filter /FlateDecode >>\nstream\n", data.len()).into_bytes());
    pdf.extend(&data);
    pdf.extend(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    pdf
}

/// A PDF of one A4 page per image: each page shows a grayscale image (`width × height`
/// 8-bit pixels, row by row) and has no text layer, as a scanner writes them.
pub fn image_pdf(pages: &[(usize, usize, Vec<u8>)]) -> Vec<u8> {
    mixed_pdf(&[], pages)
}

/// A PDF whose first page has a text layer showing `text` (Helvetica, one line each; no
/// such page when empty), followed by one scanned page per image, as [`image_pdf`].
pub fn mixed_pdf(text: &[&str], pages: &[(usize, usize, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    let n = pages.len();
    let mut objects: Vec<Vec<u8>> = Vec::new();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let mut kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    // Objects after the images: the text page, its content and its font.
    let text_page = 3 + 3 * n;
    if !text.is_empty() {
        kids.insert(0, format!("{text_page} 0 R"));
    }
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), kids.len()).into_bytes());
    for (i, (w, h, pixels)) in pages.iter().enumerate() {
        let (content, image) = (4 + 3 * i, 5 + 3 * i);
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content} 0 R /Resources << /XObject << /Im1 {image} 0 R >> >> >>"
            )
            .into_bytes(),
        );
        let draw = b"q 595 0 0 842 0 0 cm /Im1 Do Q\n";
        let mut c = format!("<< /Length {} >>\nstream\n", draw.len()).into_bytes();
        c.extend_from_slice(draw);
        c.extend_from_slice(b"\nendstream");
        objects.push(c);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = z.write_all(pixels);
        let data = z.finish().unwrap_or_default();
        let mut im = format!(
            "<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .into_bytes();
        im.extend_from_slice(&data);
        im.extend_from_slice(b"\nendstream");
        objects.push(im);
    }
    if !text.is_empty() {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {} 0 R /Resources << /Font << /F1 {} 0 R >> >> >>",
                text_page + 1,
                text_page + 2
            )
            .into_bytes(),
        );
        let mut draw = String::from("BT /F1 11 Tf 14 TL 50 780 Td\n");
        for line in text {
            draw.push_str(&format!("({}) Tj T*\n", line.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)")));
        }
        draw.push_str("ET\n");
        let mut c = format!("<< /Length {} >>\nstream\n", draw.len()).into_bytes();
        c.extend_from_slice(draw.as_bytes());
        c.extend_from_slice(b"\nendstream");
        objects.push(c);
        objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec());
    }
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for o in offsets {
        pdf.extend(format!("{o:010} 00000 n \n").into_bytes());
    }
    pdf.extend(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).into_bytes(),
    );
    pdf
}

/// Standard base64 with padding (for test e-mails' attachments).
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in b.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            s.push(if i <= c.len() { char::from(A[(n >> (18 - 6 * i) & 63) as usize]) } else { '=' });
        }
    }
    s
}
