//! Training inputs a user hands to `cairn train`: `config.json` and SFT JSONL lines. Any
//! bytes must give a value or an error, never a panic.
#![no_main]

use std::sync::OnceLock;

use cairn_train::ModelConfig;
use cairn_train::data::sft_example;
use cairn_train::tiny::{sample_corpus, train_tokenizer};
use libfuzzer_sys::fuzz_target;
use tokenizers::Tokenizer;

fn tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| train_tokenizer(&sample_corpus(), 300).expect("tokenizer"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Ok(c) = ModelConfig::from_json(&v)
    {
        let _ = c.parameter_count();
        assert_eq!(ModelConfig::from_json(&c.to_json()).as_ref(), Ok(&c));
    }
    for line in text.lines() {
        if let Ok(ex) = sft_example(line, tokenizer(), Some(0), 64) {
            assert_eq!(ex.ids.len(), ex.learn.len());
            assert!(ex.ids.len() <= 64);
        }
    }
});
