//! dossier-bench, when fetched (`scripts/fetch-data.sh`): lexical navigation must put an
//! expected document among its cited sources for at least 85% of the 68 search queries.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn dossier_bench_retrieval_cites_expected_documents() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/dossier-bench");
    if !root.is_dir() {
        eprintln!("SKIPPED: dossier-bench is not fetched (run scripts/fetch-data.sh); {} missing", root.display());
        return;
    }
    let cases = cairn_eval::load_cases(&root).unwrap();
    assert_eq!(cases.len(), 3);
    let settings = cairn_engine::Settings::default();
    let (mut hits, mut total) = (0, 0);
    for case in &cases {
        let report = cairn_eval::run_case(case, &settings).unwrap();
        assert_eq!(report.documents, case.docs.len(), "every extracted text ingests");
        total += report.queries.len();
        hits += report.queries.iter().filter(|q| q.hit_cited).count();
    }
    assert_eq!(total, 68);
    let rate = hits as f64 / total as f64;
    eprintln!("dossier-bench: expected document cited for {hits}/{total} = {:.1}% of queries", rate * 100.0);
    assert!(rate >= 0.85, "only {hits}/{total} queries cite an expected document");
}
