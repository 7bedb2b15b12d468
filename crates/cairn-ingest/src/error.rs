//! The one error type of `cairn-ingest`. Every variant is a user error about one input
//! file: it is reported, and nothing already stored is touched.

/// Why a document could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is larger than the configured cap.
    #[error("file is {size} bytes, over the {cap}-byte cap (raise it with --max-file-mb)")]
    TooLarge {
        /// File size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The file holds no text at all.
    #[error("document is empty")]
    Empty,
    /// The bytes look like binary data, not text.
    #[error("file looks binary, not text ({reason})")]
    Binary {
        /// What gave it away.
        reason: String,
    },
    /// The bytes are not valid in the detected or requested encoding.
    #[error(
        "bytes are not valid {encoding} (first bad byte near offset {offset}); pass --encoding if you know the encoding"
    )]
    Undecodable {
        /// The encoding tried.
        encoding: String,
        /// Approximate offset of the first malformed sequence.
        offset: usize,
    },
    /// The detector could not tell the encoding with enough confidence.
    #[error(
        "cannot tell the text encoding: best guess {guess} with confidence {confidence:.2}; pass --encoding {guess} (or the right one) to ingest it"
    )]
    AmbiguousEncoding {
        /// The detector's best guess.
        guess: String,
        /// Confidence in [0, 1].
        confidence: f32,
    },
    /// `--encoding` named an encoding that does not exist.
    #[error("unknown encoding label `{label}`")]
    UnknownEncoding {
        /// The label given.
        label: String,
    },
    /// The request's deadline passed while the file was being parsed or matched.
    #[error("stopped: {0}")]
    Expired(#[from] cairn_core::deadline::Expired),
    /// A structural limit was hit (nesting too deep, a stream inflating past its
    /// budget); the file is refused whole.
    #[error("{what} exceeds the limit of {limit}")]
    TooComplex {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// A DOCX, XLSX or other archive-based document could not be read.
    #[error("corrupt or unsupported {format}: {reason}")]
    Corrupt {
        /// The format (`DOCX`, `XLSX`, …).
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The PDF could not be parsed.
    #[error("corrupt or unsupported PDF: {reason}")]
    CorruptPdf {
        /// The parser's complaint.
        reason: String,
    },
    /// The document parsed but contains no extractable text (a scanned PDF, say).
    #[error("no extractable text (scanned pages are read by a build with the `ocr` feature, with Tesseract installed)")]
    NoText,
    /// Recognising a scanned page failed (Tesseract or pdftoppm missing or failing).
    #[error("OCR: {reason}")]
    Ocr {
        /// What went wrong.
        reason: String,
    },
    /// The file type is not supported.
    #[error("unsupported file type `{extension}` (supported: txt, md, html, pdf, docx, xlsx, eml, mbox)")]
    Unsupported {
        /// The extension seen.
        extension: String,
    },
}

/// Result alias for `cairn-ingest`.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
