//! Arbitrary bytes as OpenDocument text or spreadsheet (odd lengths are read as spreadsheets):
//! a tree or a clear error, never a panic.
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
    let format = if data.len() % 2 == 1 { Format::Ods } else { Format::Odt };
    let _ = ingest_bytes(&key, "f.odt", data, format, &options, None);
});
