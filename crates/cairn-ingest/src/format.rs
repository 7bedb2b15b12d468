//! Which parser a file goes to.

use std::path::Path;

use crate::error::{IngestError, Result};

/// The supported input formats. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Plain text (`.txt`, `.text`).
    Text,
    /// Markdown (`.md`, `.markdown`).
    Markdown,
    /// HTML (`.html`, `.htm`, `.xhtml`).
    Html,
    /// PDF.
    Pdf,
    /// Word (`.docx`).
    Docx,
    /// Excel (`.xlsx`, `.xlsm`).
    Xlsx,
    /// E-mail: one message (`.eml`) or a mailbox of many (`.mbox`).
    Email,
    /// PowerPoint (`.pptx`).
    Pptx,
    /// OpenDocument text (`.odt`).
    Odt,
    /// OpenDocument spreadsheet (`.ods`).
    Ods,
    /// Comma- or tab-separated values (`.csv`, `.tsv`).
    Csv,
}

impl Format {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Xlsx => "xlsx",
            Format::Email => "eml",
            Format::Pptx => "pptx",
            Format::Odt => "odt",
            Format::Ods => "ods",
            Format::Csv => "csv",
        }
    }

    /// Inverse of [`Format::as_str`].
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "txt" => Some(Format::Text),
            "md" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            "pdf" => Some(Format::Pdf),
            "docx" => Some(Format::Docx),
            "xlsx" => Some(Format::Xlsx),
            "eml" => Some(Format::Email),
            "pptx" => Some(Format::Pptx),
            "odt" => Some(Format::Odt),
            "ods" => Some(Format::Ods),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// Chooses the format from the file's extension, trusting the bytes over the name
    /// for PDFs (a PDF renamed `.txt` is still parsed as PDF).
    pub fn detect(path: &Path, head: &[u8]) -> Result<Format> {
        if head.starts_with(b"%PDF-") {
            return Ok(Format::Pdf);
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        match ext.as_str() {
            "txt" | "text" | "" => Ok(Format::Text),
            "md" | "markdown" | "mdown" => Ok(Format::Markdown),
            "html" | "htm" | "xhtml" => Ok(Format::Html),
            "pdf" => Err(IngestError::CorruptPdf { reason: "file does not start with %PDF-".into() }),
            // The name says which Office format; the bytes must be a ZIP archive.
            "docx" | "xlsx" | "xlsm" | "pptx" | "odt" | "ods" if !head.starts_with(b"PK\x03\x04") => {
                Err(IngestError::Corrupt {
                    format: match ext.as_str() {
                        "docx" => "DOCX",
                        "pptx" => "PPTX",
                        "odt" => "ODT",
                        "ods" => "ODS",
                        _ => "XLSX",
                    },
                    reason: "not a ZIP archive (an old binary .doc/.xls/.ppt, or a damaged file)".into(),
                })
            }
            "docx" => Ok(Format::Docx),
            "xlsx" | "xlsm" => Ok(Format::Xlsx),
            "pptx" => Ok(Format::Pptx),
            "odt" => Ok(Format::Odt),
            "ods" => Ok(Format::Ods),
            "csv" | "tsv" => Ok(Format::Csv),
            "eml" | "mbox" | "mbx" => Ok(Format::Email),
            _ => Err(IngestError::Unsupported { extension: ext }),
        }
    }

    /// Whether the path has an extension Cairn ingests (used when walking folders).
    pub fn is_supported_path(path: &Path) -> bool {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        matches!(
            ext.as_str(),
            "txt"
                | "text"
                | "md"
                | "markdown"
                | "mdown"
                | "html"
                | "htm"
                | "xhtml"
                | "pdf"
                | "docx"
                | "xlsx"
                | "xlsm"
                | "eml"
                | "mbox"
                | "mbx"
                | "pptx"
                | "odt"
                | "ods"
                | "csv"
                | "tsv"
        )
    }
}
