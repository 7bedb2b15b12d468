//! # cairn-ingest
//!
//! Turns files into Cairn document trees with stable IDs:
//!
//! 1. [`decode`]: bytes to text (UTF-8, UTF-16 BOM, GBK/GB18030 detected with a confidence;
//!    anything else needs an explicit encoding), refusing binary data;
//! 2. a parser per [`Format`] ([`block::parse_text`], [`markdown`], [`html`], [`pdf`],
//!    [`docx`], [`xlsx`], [`pptx`], [`odf`], [`email`], [`delimited`]; the ZIP-based ones
//!    through the bounded [`archive`] reader)
//!    produces flat heading, paragraph and table [`block::Block`]s;
//! 3. [`build`] nests them into a tree with display paths, spans, pages and sentences;
//! 4. [`stable`] gives every node its stable ID by matching against the previous version.
//!
//! ```
//! use cairn_core::DocKey;
//! use cairn_ingest::{Format, IngestOptions, ingest_bytes};
//!
//! let key = DocKey::new("reg").unwrap();
//! let v1 = "办法\n\n第一章　总则\n\n第一条　为了规范管理，制定本办法。\n第二条　本办法适用于医院。\n";
//! let first = ingest_bytes(&key, "reg.txt", v1.as_bytes(), Format::Text, &IngestOptions::default(), None).unwrap();
//! let para = first.tree.nodes.iter().find(|n| n.text.starts_with("本办法")).unwrap();
//! assert_eq!(first.tree.display_id(first.tree.nodes.iter().position(|n| n.id == para.id).unwrap()).to_string(), "reg:1.2.1");
//!
//! // Edit article 1: only its paragraph gets a new ID.
//! let v2 = v1.replace("规范管理", "规范审查管理");
//! let prev = cairn_ingest::stable::previous_of(&first.tree, Default::default());
//! let second = ingest_bytes(&key, "reg.txt", v2.as_bytes(), Format::Text, &IngestOptions::default(), Some(&prev)).unwrap();
//! assert_eq!(second.changes.changed.len(), 1);
//! assert!(second.tree.nodes.iter().any(|n| n.id == para.id));
//! ```

pub mod archive;
pub mod block;
pub mod build;
pub mod decode;
pub mod delimited;
pub mod docx;
pub mod email;
pub mod error;
pub mod format;
pub mod html;
pub mod locate;
pub mod markdown;
pub mod ocr;
pub mod odf;
pub mod pdf;
pub mod pptx;
pub mod stable;
pub mod testing;
pub mod xlsx;

use std::io::Read;
use std::path::Path;

use cairn_core::{DocKey, DocTree};

pub use crate::build::BuildOptions;
pub use crate::error::{IngestError, Result};
pub use crate::format::Format;
pub use cairn_core::version::{Changes, Previous, PreviousNode};

/// Options for reading and parsing one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// Files larger than this are refused (default 100 MB).
    pub max_bytes: u64,
    /// Decode text with this encoding instead of detecting it.
    pub encoding: Option<String>,
    /// Tree-building options.
    pub build: BuildOptions,
    /// Give up on a PDF whose parsing takes longer than this.
    pub pdf_timeout: std::time::Duration,
    /// Budgets for ZIP-based formats (DOCX, XLSX): entries, inflated bytes, nesting.
    pub archive: archive::Limits,
    /// Read scanned PDF pages with Tesseract (default: on in a build with the `ocr`
    /// feature). Off, such pages are listed in [`Ingested::unread_pages`].
    pub ocr: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            max_bytes: 100 * 1024 * 1024,
            encoding: None,
            build: BuildOptions::default(),
            pdf_timeout: std::time::Duration::from_secs(60),
            archive: archive::Limits::default(),
            ocr: cfg!(feature = "ocr"),
        }
    }
}

/// A parsed document with stable IDs, and how it differs from its previous version.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    /// The tree.
    pub tree: DocTree,
    /// Changes against the previous version (everything is `added` the first time).
    pub changes: Changes,
    /// The format parsed.
    pub format: Format,
    /// The text encoding, for text formats.
    pub encoding: Option<&'static str>,
    /// Pages with no text to read (scans, without the `ocr` feature).
    pub unread_pages: Vec<u32>,
    /// OCRed text's place on its pages ([`locate`]'s layer format), kept with the
    /// original file for the page view.
    pub text_layer: Option<String>,
}

/// Reads a file, refusing it before reading if it is over the size cap. Reads at most
/// `max_bytes + 1` bytes even if the file grows meanwhile, so memory stays bounded.
pub fn read_file(path: &Path, max_bytes: u64) -> std::io::Result<std::result::Result<Vec<u8>, IngestError>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > max_bytes {
        return Ok(Err(IngestError::TooLarge { size, cap: max_bytes }));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Ok(Err(IngestError::TooLarge { size: bytes.len() as u64, cap: max_bytes }));
    }
    Ok(Ok(bytes))
}

/// Parses `bytes` as `format` into blocks; `depth` counts the documents this one is nested
/// in (an e-mail's attachment is at depth 1), against [`archive::Limits::max_depth`].
pub(crate) fn parse_bytes(
    bytes: &[u8],
    format: Format,
    options: &IngestOptions,
    depth: u32,
) -> Result<(block::Parsed, Option<&'static str>)> {
    if depth > options.archive.max_depth {
        return Err(IngestError::TooComplex {
            what: "nesting of attached documents",
            limit: u64::from(options.archive.max_depth),
        });
    }
    Ok(match format {
        Format::Pdf => (pdf::parse_pdf(bytes, options.pdf_timeout, options.ocr)?, None),
        Format::Docx => (docx::parse_docx(bytes, options.archive)?, None),
        Format::Xlsx => (xlsx::parse_xlsx(bytes, options.archive)?, None),
        Format::Email => (email::parse_email(bytes, options, depth)?, None),
        Format::Pptx => (pptx::parse_pptx(bytes, options.archive)?, None),
        Format::Odt => (odf::parse_odt(bytes, options.archive)?, None),
        Format::Ods => (odf::parse_ods(bytes, options.archive)?, None),
        Format::Text | Format::Markdown | Format::Html | Format::Csv => {
            let decoded = decode::decode(bytes, options.encoding.as_deref())?;
            let text = decoded.text.replace("\r\n", "\n").replace('\r', "\n");
            if text.trim().is_empty() {
                return Err(IngestError::Empty);
            }
            let parsed = match format {
                Format::Markdown => markdown::parse_markdown(&text)?,
                Format::Html => html::parse_html(&text)?,
                Format::Csv => delimited::parse_delimited(&text)?,
                Format::Text
                | Format::Pdf
                | Format::Docx
                | Format::Xlsx
                | Format::Email
                | Format::Pptx
                | Format::Odt
                | Format::Ods => block::parse_text(&text),
            };
            (parsed, Some(decoded.encoding))
        }
    })
}

/// Parses `bytes` as `format` and assigns stable IDs against `previous`.
pub fn ingest_bytes(
    key: &DocKey,
    name: &str,
    bytes: &[u8],
    format: Format,
    options: &IngestOptions,
    previous: Option<&Previous>,
) -> Result<Ingested> {
    let _span = tracing::debug_span!("parse", key = %key, format = format.as_str(), bytes = bytes.len()).entered();
    if bytes.len() as u64 > options.max_bytes {
        return Err(IngestError::TooLarge { size: bytes.len() as u64, cap: options.max_bytes });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::Empty);
    }
    let (mut parsed, encoding) = parse_bytes(bytes, format, options, 0)?;
    let table_text: u64 = parsed
        .blocks
        .iter()
        .map(|b| match &b.kind {
            block::BlockKind::Table(t) => t.text_bytes(),
            block::BlockKind::Heading { .. } | block::BlockKind::Paragraph => 0,
        })
        .sum();
    if table_text > block::MAX_TABLE_TEXT {
        return Err(IngestError::TooComplex {
            what: "table text (rows repeat their column names)",
            limit: block::MAX_TABLE_TEXT,
        });
    }
    if parsed.blocks.is_empty() {
        return Err(IngestError::Empty);
    }
    let unread_pages = parsed.unread_pages.clone();
    let text_layer = parsed.text_layer.take();
    let stem = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    // A file name stands in for a missing title: `04_data_room_index` reads as words, so
    // that a question about "the data room index" finds it.
    let fallback = stem.replace('_', " ");
    let shape = build::build_shape(parsed, fallback.trim(), options.build);
    let (tree, changes) = stable::assign_ids(key, shape, previous)?;
    tracing::debug!(
        nodes = tree.nodes.len(),
        added = changes.added.len(),
        changed = changes.changed.len(),
        removed = changes.removed.len(),
        "parsed"
    );
    Ok(Ingested { tree, changes, format, encoding, unread_pages, text_layer })
}
