//! User-typed IDs, questions, numbers and amounts: parsers of user input must never panic, and
//! sentence spans must cover every visible character once.
#![no_main]

use cairn_core::NodeRef;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = text.parse::<NodeRef>();
    let _ = cairn_text::numbering::clause_refs(text);
    let _ = cairn_text::numbering::detect_heading(text);
    let _ = cairn_text::numbering::parse_cn_number(text);
    let _ = cairn_text::Analyzer.terms(text);
    for amount in cairn_text::amounts::premise_amounts(text) {
        assert!(text.contains(&amount.text) && amount.value.is_finite());
    }
    let _ = cairn_text::amounts::stated_amounts(text);
    let spans = cairn_text::split_sentences(text);
    let mut last = 0;
    for span in spans {
        assert!(span.start >= last && span.start < span.end);
        last = span.end;
    }
});
