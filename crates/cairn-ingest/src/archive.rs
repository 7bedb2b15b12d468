//! A small, bounded ZIP reader for the Office and OpenDocument formats (DOCX, XLSX, PPTX,
//! ODT, ODS are ZIP files of XML parts).
//!
//! Written here rather than taken from a crate so that every limit is enforced on what is
//! actually inflated, not on what the archive declares: a zip bomb declares small sizes and
//! inflates to gigabytes. [`Archive::open`] reads the central directory (at most
//! [`Limits::max_entries`] entries; no ZIP64, no encryption, stored or deflated entries only)
//! and [`Archive::read`] inflates one part with what is left of the
//! [`Limits::max_total_bytes`] budget, stopping at the first byte past it. Nesting (a
//! document attached inside a document) is counted by the callers against
//! [`Limits::max_depth`].

use std::collections::HashMap;
use std::io::Read;

use crate::error::{IngestError, Result};

/// Budgets for reading one archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries in the central directory.
    pub max_entries: usize,
    /// Bytes inflated over all parts read, together.
    pub max_total_bytes: u64,
    /// Archives inside archives (attachments of attachments).
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_entries: 10_000, max_total_bytes: 256 * 1024 * 1024, max_depth: 3 }
    }
}

/// One entry of the central directory.
#[derive(Debug, Clone)]
struct Entry {
    method: u16,
    compressed: u64,
    declared: u64,
    local_offset: u64,
}

/// An opened archive: its bytes, its directory, and what is left of its budget.
#[derive(Debug)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    entries: HashMap<String, Entry>,
    names: Vec<String>,
    left: u64,
    what: &'static str,
}

fn corrupt(what: &'static str, reason: impl Into<String>) -> IngestError {
    IngestError::Corrupt { format: what, reason: reason.into() }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl<'a> Archive<'a> {
    /// Reads the central directory of `bytes`, a `what` file (the format's name, for errors).
    pub fn open(bytes: &'a [u8], what: &'static str, limits: Limits) -> Result<Archive<'a>> {
        const EOCD: u32 = 0x0605_4b50;
        const CENTRAL: u32 = 0x0201_4b50;
        if !bytes.starts_with(b"PK\x03\x04") {
            return Err(corrupt(what, "not a ZIP archive"));
        }
        // The end-of-central-directory record is in the last 22 + 65,535 bytes.
        let from = bytes.len().saturating_sub(22 + 0xFFFF);
        let eocd = (from..bytes.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(bytes, i) == Some(EOCD))
            .ok_or_else(|| corrupt(what, "no end of central directory (truncated?)"))?;
        let count = usize::from(u16_at(bytes, eocd + 10).unwrap_or(0));
        let dir_size = u32_at(bytes, eocd + 12).unwrap_or(0) as usize;
        let dir_offset = u32_at(bytes, eocd + 16).unwrap_or(0) as usize;
        if count == 0xFFFF || dir_offset == 0xFFFF_FFFF {
            return Err(corrupt(what, "ZIP64 archives are not supported"));
        }
        if count > limits.max_entries {
            return Err(IngestError::TooComplex { what: "archive entries", limit: limits.max_entries as u64 });
        }
        if dir_offset.checked_add(dir_size).is_none_or(|end| end > bytes.len()) {
            return Err(corrupt(what, "central directory lies outside the file"));
        }
        let mut entries = HashMap::new();
        let mut names = Vec::new();
        let mut at = dir_offset;
        for _ in 0..count {
            if u32_at(bytes, at) != Some(CENTRAL) {
                return Err(corrupt(what, "broken central directory"));
            }
            let field = |o: usize| u16_at(bytes, at + o).ok_or_else(|| corrupt(what, "central directory cut short"));
            let long = |o: usize| u32_at(bytes, at + o).ok_or_else(|| corrupt(what, "central directory cut short"));
            let flags = field(8)?;
            let method = field(10)?;
            let compressed = u64::from(long(20)?);
            let declared = u64::from(long(24)?);
            let (name_len, extra_len, comment_len) =
                (usize::from(field(28)?), usize::from(field(30)?), usize::from(field(32)?));
            let local_offset = u64::from(long(42)?);
            let name =
                bytes.get(at + 46..at + 46 + name_len).ok_or_else(|| corrupt(what, "central directory cut short"))?;
            let name = String::from_utf8_lossy(name).into_owned();
            at += 46 + name_len + extra_len + comment_len;
            if flags & 1 != 0 {
                return Err(corrupt(what, format!("{name} is encrypted")));
            }
            if !name.ends_with('/') {
                names.push(name.clone());
                entries.insert(name, Entry { method, compressed, declared, local_offset });
            }
        }
        Ok(Archive { bytes, entries, names, left: limits.max_total_bytes, what })
    }

    /// Names of the files in the archive, in directory order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the archive holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Inflates `name`, charging its size to the archive's budget. `Ok(None)` when the
    /// archive has no such part.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let what = self.what;
        let Some(e) = self.entries.get(name) else { return Ok(None) };
        let local = usize::try_from(e.local_offset).map_err(|_| corrupt(what, "offset out of range"))?;
        if u32_at(self.bytes, local) != Some(0x0403_4b50) {
            return Err(corrupt(what, format!("{name}: no local header")));
        }
        let name_len = usize::from(u16_at(self.bytes, local + 26).unwrap_or(0));
        let extra_len = usize::from(u16_at(self.bytes, local + 28).unwrap_or(0));
        let start = local + 30 + name_len + extra_len;
        let end = usize::try_from(e.compressed).ok().and_then(|c| start.checked_add(c));
        let data = end
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| corrupt(what, format!("{name}: data lies outside the file")))?;
        // Never trust the declared size: read at most one byte past the budget.
        let budget = self.left;
        let mut out = Vec::with_capacity(usize::try_from(e.declared.min(budget).min(1 << 20)).unwrap_or(0));
        match e.method {
            0 => out.extend_from_slice(&data[..data.len().min(usize::try_from(budget + 1).unwrap_or(usize::MAX))]),
            8 => {
                flate2::read::DeflateDecoder::new(data)
                    .take(budget + 1)
                    .read_to_end(&mut out)
                    .map_err(|err| corrupt(what, format!("{name}: {err}")))?;
            }
            m => return Err(corrupt(what, format!("{name}: compression method {m} is not supported"))),
        }
        if out.len() as u64 > budget {
            return Err(IngestError::TooComplex { what: "inflated archive size", limit: budget });
        }
        self.left -= out.len() as u64;
        Ok(Some(out))
    }

    /// [`Archive::read`] as UTF-8 text (XML parts).
    pub fn read_text(&mut self, name: &str) -> Result<Option<String>> {
        let what = self.what;
        match self.read(name)? {
            Some(bytes) => {
                String::from_utf8(bytes).map(Some).map_err(|_| corrupt(what, format!("{name} is not UTF-8")))
            }
            None => Ok(None),
        }
    }
}

/// `[Content_Types].xml` and `_rels/.rels` of an Office package whose main part is `main`
/// (content type `main_type`), with `overrides` (part, content type) besides: what
/// Office and other readers (python-docx, openpyxl) need to open the package.
pub fn office_package(main: &str, main_type: &str, overrides: &[(&str, &str)]) -> (String, String) {
    let mut types = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>"#,
    );
    for (part, ty) in std::iter::once(&(main, main_type)).chain(overrides) {
        types.push_str(&format!(r#"<Override PartName="/{part}" ContentType="{ty}"/>"#));
    }
    types.push_str("</Types>");
    let rels = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="{main}"/></Relationships>"#
    );
    (types, rels)
}

/// Writes a ZIP archive of `parts` (stored or deflated), for tests and fuzz seeds.
pub fn write_zip(parts: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in parts {
        let body = if deflate {
            let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(data);
            enc.finish().unwrap_or_default()
        } else {
            data.to_vec()
        };
        let crc = crc32(data);
        let offset = out.len() as u32;
        let method: u16 = if deflate { 8 } else { 0 };
        let header = |sig: u32, central: bool| -> Vec<u8> {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&[0, 0, 0x21, 0]);
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(body.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            if central {
                h.extend_from_slice(&[0; 6]);
                h.extend_from_slice(&0u32.to_le_bytes());
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend_from_slice(&body);
        central.extend(header(0x0201_4b50, true));
    }
    let dir_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
    out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&dir_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stored_and_deflated_parts() {
        for deflate in [false, true] {
            let zip = write_zip(&[("a.xml", b"<a>one</a>"), ("dir/b.xml", "二".repeat(100).as_bytes())], deflate);
            let mut a = Archive::open(&zip, "DOCX", Limits::default()).unwrap();
            assert_eq!(a.names(), ["a.xml", "dir/b.xml"]);
            assert_eq!(a.read_text("a.xml").unwrap().as_deref(), Some("<a>one</a>"));
            assert_eq!(a.read_text("dir/b.xml").unwrap().unwrap(), "二".repeat(100));
            assert!(a.read("missing.xml").unwrap().is_none());
        }
    }

    #[test]
    fn refuses_bombs_by_what_inflates_not_what_is_declared() {
        // 64 MB of zeros deflates to ~64 KB; the budget is 1 MB.
        let zeros = vec![0u8; 64 << 20];
        let zip = write_zip(&[("bomb.xml", &zeros)], true);
        assert!(zip.len() < 1 << 20);
        let limits = Limits { max_total_bytes: 1 << 20, ..Limits::default() };
        let mut a = Archive::open(&zip, "XLSX", limits).unwrap();
        let e = a.read("bomb.xml").unwrap_err();
        assert!(matches!(e, IngestError::TooComplex { what: "inflated archive size", .. }), "{e}");
        // The budget is shared: two parts of 600 KB pass one at a time, not together.
        let part = vec![b'x'; 600 << 10];
        let zip = write_zip(&[("a", &part), ("b", &part)], true);
        let mut a = Archive::open(&zip, "XLSX", limits).unwrap();
        assert!(a.read("a").is_ok());
        assert!(a.read("b").is_err());
        // Too many entries.
        let many: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("{i}.xml"), vec![b'x'])).collect();
        let parts: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        let zip = write_zip(&parts, false);
        let e = Archive::open(&zip, "PPTX", Limits { max_entries: 10, ..Limits::default() }).unwrap_err();
        assert!(matches!(e, IngestError::TooComplex { what: "archive entries", .. }), "{e}");
    }

    #[test]
    fn damaged_archives_are_errors_not_panics() {
        let zip = write_zip(&[("a.xml", b"<a>one</a>"), ("b.xml", b"<b>two</b>")], true);
        for cut in 0..zip.len() {
            if let Ok(mut a) = Archive::open(&zip[..cut], "DOCX", Limits::default()) {
                let _ = a.read("a.xml");
            }
        }
        let mut flipped = zip.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xFF;
            if let Ok(mut a) = Archive::open(&flipped, "DOCX", Limits::default()) {
                let _ = a.read("a.xml");
                let _ = a.read("b.xml");
            }
            flipped[i] ^= 0xFF;
        }
        assert!(Archive::open(b"not a zip", "DOCX", Limits::default()).is_err());
    }
}
