//! Arbitrary bytes as a PDF: the parser must return a result (a tree or a clear error),
//! never panic or hang; pdf-extract's own panics are caught and reported as corrupt PDFs.
#![no_main]

#[path = "../common/pdf_guard.rs"]
mod pdf_guard;

use cairn_core::DocKey;
use cairn_ingest::{Format, IngestOptions, ingest_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pdf_guard::let_guarded_panics_through();
    let key = DocKey::new("fuzz").unwrap();
    let options = IngestOptions { pdf_timeout: std::time::Duration::from_secs(5), ..IngestOptions::default() };
    let _ = ingest_bytes(&key, "f.pdf", data, Format::Pdf, &options, None);
});
