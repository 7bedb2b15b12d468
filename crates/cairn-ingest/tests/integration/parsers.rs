//! Property tests for the parsers: on arbitrary input they return a tree or a clear error;
//! a tree's spans slice its own text, display paths never name two nodes, and the same
//! bytes re-ingested change nothing.

use std::collections::HashSet;

use cairn_core::{DocKey, NodeKind};
use cairn_ingest::stable::previous_of;
use cairn_ingest::{Format, IngestOptions, ingest_bytes};
use proptest::prelude::*;

fn check(bytes: &[u8], format: Format) -> Result<(), TestCaseError> {
    let key = DocKey::new("p").unwrap();
    let options = IngestOptions::default();
    let Ok(doc) = ingest_bytes(&key, "p", bytes, format, &options, None) else { return Ok(()) };
    let mut paths = HashSet::new();
    for (i, node) in doc.tree.nodes.iter().enumerate() {
        prop_assert!(paths.insert(node.path.clone()), "path {:?} names two nodes", node.path);
        prop_assert!(node.end as usize > i && node.end as usize <= doc.tree.nodes.len());
        if node.kind == NodeKind::Paragraph {
            prop_assert_eq!(node.span.slice(&doc.tree.text), node.text.as_str());
            prop_assert!(!node.text.trim().is_empty());
        }
    }
    let again =
        ingest_bytes(&key, "p", bytes, format, &options, Some(&previous_of(&doc.tree, HashSet::new()))).unwrap();
    prop_assert!(again.changes.is_empty());
    Ok(())
}

fn structured_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        "[A-Za-z ,.]{0,40}",
        "第[一二三四五六七八九十]{1,3}[章节条]　[\\u{4e00}-\\u{4e20}]{0,10}。?",
        "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}\\.? [A-Z][a-z ]{0,20}",
        "#{1,4} [A-Za-z0-9. ]{0,20}",
        "Article [0-9]{1,3} [A-Za-z ]{0,20}",
        "（[一二三]）[\\u{4e00}-\\u{4e20}]{1,8}；",
        Just(String::new()),
    ];
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn text_parser_invariants(text in structured_text()) {
        check(text.as_bytes(), Format::Text)?;
    }

    #[test]
    fn markdown_parser_invariants(text in structured_text()) {
        check(text.as_bytes(), Format::Markdown)?;
    }

    #[test]
    fn html_parser_invariants(parts in prop::collection::vec(("(h[1-4]|p|li|div|td|script)", "[A-Za-z0-9 .]{0,30}"), 0..20)) {
        let body: String = parts.iter().map(|(tag, text)| format!("<{tag}>{text}</{tag}>")).collect();
        check(format!("<html><body>{body}</body></html>").as_bytes(), Format::Html)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        for format in [Format::Text, Format::Markdown, Format::Html, Format::Pdf] {
            check(&bytes, format)?;
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

    /// The nesting pre-scans run on every upload before the parsers: whatever the bytes,
    /// they answer (a parse or a clear error) and never panic.
    #[test]
    fn nesting_prescans_never_panic(text in "(<[/!]?[a-z]{0,3}[ /]?>?|[>*+\\-. 0-9\\n]|<!--|-->|[a-zé中]){0,200}") {
        let key = cairn_core::DocKey::new("p").unwrap();
        for format in [cairn_ingest::Format::Html, cairn_ingest::Format::Markdown] {
            let _ = cairn_ingest::ingest_bytes(&key, "p", text.as_bytes(), format, &cairn_ingest::IngestOptions::default(), None);
        }
    }
}
