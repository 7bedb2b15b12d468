//! A GGUF file a user hands to `cairn train import`. Any bytes must give a model or an
//! error, never a panic, and never an abort on a length the header declares.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("cairn-fuzz-gguf-{}.gguf", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = cairn_train::import::read_gguf(&path, candle_core::DType::F32);
});
