//! `cairn demo` prints cited answers, and every citation resolves with `cairn show`.

use crate::{cairn, run_ok};

#[test]
fn demo_citations_resolve_with_show() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("demo-kb");
    let text = run_ok(cairn(&kb).arg("demo"));
    assert!(text.contains("citation(s), all verified"), "{text}");
    let json = run_ok(cairn(&kb).args(["demo", "--json"]));
    let mut checked = 0;
    for line in json.lines() {
        let answer: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(answer["status"], "answered", "{line}");
        for claim in answer["claims"].as_array().unwrap() {
            for citation in claim["citations"].as_array().unwrap() {
                let id = citation["id"].as_str().unwrap();
                let quote = citation["quote"].as_str().unwrap();
                let shown: serde_json::Value =
                    serde_json::from_str(&run_ok(cairn(&kb).args(["show", id, "--json"]))).unwrap();
                assert_eq!(shown["status"], "live");
                assert!(shown["text"].as_str().unwrap().contains(quote));
                let display = citation["display"].as_str().unwrap();
                let by_display: serde_json::Value =
                    serde_json::from_str(&run_ok(cairn(&kb).args(["show", display, "--json"]))).unwrap();
                assert_eq!(by_display["id"], id);
                checked += 1;
            }
        }
    }
    assert!(checked >= 3, "only {checked} citations");
}
