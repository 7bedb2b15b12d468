//! What the document-format targets share: ingest `data` as `format` under a fuzzing
//! budget (64 MB inflated per archive), for a tree or a clear error, never a panic.

use cairn_core::DocKey;
use cairn_ingest::{Format, IngestOptions, ingest_bytes};

pub fn ingest_as(format: Format, name: &str, data: &[u8]) {
    let key = DocKey::new("fuzz").unwrap();
    let options = IngestOptions {
        archive: cairn_ingest::archive::Limits { max_total_bytes: 64 << 20, ..Default::default() },
        ..IngestOptions::default()
    };
    let _ = ingest_bytes(&key, name, data, format, &options, None);
}
