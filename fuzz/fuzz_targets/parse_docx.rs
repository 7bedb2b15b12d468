//! Arbitrary bytes as a DOCX (a ZIP of WordprocessingML): a tree or a clear error, never a panic, and
//! never more memory than the archive budget.
#![no_main]

use cairn_core::DocKey;
use cairn_ingest::{Format, IngestOptions, ingest_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = DocKey::new("fuzz").unwrap();
    let options = IngestOptions {
        archive: cairn_ingest::archive::Limits { max_total_bytes: 64 << 20, ..Default::default() },
        ..IngestOptions::default()
    };
    let format = Format::Docx;
    let _ = ingest_bytes(&key, "f.docx", data, format, &options, None);
});
