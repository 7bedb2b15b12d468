//! Arbitrary bytes as a PDF: the parser must return a result (a tree or a clear error),
//! never panic or hang; pdf-extract's own panics are caught and reported as corrupt PDFs.
#![no_main]

use cairn_core::DocKey;
use cairn_ingest::{Format, IngestOptions, ingest_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // libFuzzer's hook aborts on every panic, even caught ones; let the parser's own guard
    // catch pdf-extract's panics (as the CLI does) and abort on anything else.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !cairn_ingest::pdf::in_guarded_parse() {
                fuzzer_hook(info);
            }
        }));
    });
    let key = DocKey::new("fuzz").unwrap();
    let options = IngestOptions { pdf_timeout: std::time::Duration::from_secs(5), ..IngestOptions::default() };
    let _ = ingest_bytes(&key, "f.pdf", data, Format::Pdf, &options, None);
});
