//! The real local instruct model (Qwen2.5-Coder 0.5B, fetched by `scripts/fetch-models.sh`;
//! the test skips with a message when absent; `local` would prefer the slower 1.5B) answering the
//! demo pack's questions under constrained decoding: the reply is valid by construction,
//! claims cite sentence IDs, every quote is a whole stored sentence that the engine filled
//! in, and no claim calls the contraindicated pair safe. It asserts shape and safety, not
//! wording.

use std::path::Path;

use cairn_core::NoEvents;
use cairn_engine::{AskOptions, Kb, Settings};
use cairn_navigate::support::{asserts_safety, negates};

/// The models folder and the 0.5B model in it, or `None` (with the reason printed) when
/// the model is not fetched or local inference is not built.
fn local_model() -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let model = models.join(cairn_llm::LOCAL_MODELS[1]);
    if !model.is_file() {
        eprintln!("SKIP: no {} (scripts/fetch-models.sh)", model.display());
        return None;
    }
    if cfg!(not(feature = "gguf")) {
        eprintln!("SKIP: local inference needs the gguf feature");
        return None;
    }
    Some((models, model))
}

#[test]
fn the_local_model_answers_with_sentence_citations_and_keeps_the_contraindication() {
    let Some((models, model)) = local_model() else { return };
    eprintln!("model: {}", model.display());
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        llm: Some(format!("gguf:{}", model.display())),
        router_llm: Some("off".into()),
        judge_llm: Some("off".into()),
        models_dir: models.display().to_string(),
        gguf_threads: 1,
        gguf_ctx: 4096,
        answer_budget_tokens: 900,
        ..Settings::default()
    };
    let mut kb = Kb::open(dir.path(), settings).unwrap();
    cairn_engine::demo::load_into(&mut kb).unwrap();
    for question in cairn_engine::demo::QUESTIONS {
        let started = std::time::Instant::now();
        let asked = kb.ask(question, &AskOptions::default(), &mut NoEvents).unwrap();
        let report = asked.llm.as_ref().unwrap();
        eprintln!(
            "{question}\n  {:?} in {:.1} s; claims {:?}; repairs {:?}",
            asked.answer.abstention().map(|a| &a.reason),
            started.elapsed().as_secs_f64(),
            asked.answer.claims().iter().map(|c| &c.text).collect::<Vec<_>>(),
            report.repairs
        );
        assert!(
            !report.repairs.iter().any(|r| r.contains("not JSON")),
            "the grammar keeps the reply valid: {:?}",
            report.repairs
        );
        assert!(!report.repairs.iter().any(|r| r.contains("not an offered")), "only offered ids: {:?}", report.repairs);
        for claim in asked.answer.claims() {
            assert!(!claim.citations.is_empty());
            for c in &claim.citations {
                let node = kb.show(&c.id.to_string()).unwrap();
                let text = match node {
                    cairn_store::Resolved::Live(n) => n.text,
                    other => panic!("a cited node is live: {other:?}"),
                };
                let sentences: Vec<&str> =
                    cairn_text::sentence::split_sentences(&text).into_iter().map(|s| s.slice(&text)).collect();
                assert!(sentences.contains(&c.quote.as_str()), "{:?} is a whole sentence of {}", c.quote, c.id);
            }
        }
        if question.contains("simvastatin") {
            for claim in asked.answer.claims() {
                let calls_it_safe = asserts_safety(&claim.text) && !negates(&claim.text);
                assert!(!calls_it_safe, "a claim calls simvastatin with clarithromycin safe: {:?}", claim.text);
            }
        }
    }
}

/// The real 0.5B model as a reranker over a few passages: every reranked hit carries a
/// finite Yes/No margin and its rank before reranking, and the hits are the same set in a
/// new order. Shape only: the 0.5B model's margins are close to noise (BENCHMARKS.md; here
/// the answering passage and one that merely shares its words score within a few
/// hundredths), so no ordering is asserted.
#[test]
fn the_local_model_reranks_a_few_passages_with_explained_margins() {
    let Some((models, model)) = local_model() else { return };
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        rerank: Some(format!("gguf:{}", model.display())),
        models_dir: models.display().to_string(),
        gguf_threads: 1,
        gguf_ctx: 4096,
        ..Settings::default()
    };
    let mut kb = Kb::open(dir.path(), settings).unwrap();
    let text = "# Ward notes\n\n## 1. Visiting\n\nVisiting hours on the ward are from two to four; the ward asks visitors about warfarin patients' diets.\n\n\
                ## 2. Monitoring\n\nThe INR of a patient on warfarin is checked twice a week until it is stable.\n\n\
                ## 3. Parking\n\nThe car park closes at midnight.\n";
    kb.ingest_bytes("mem://ward.md", "ward.md", text.as_bytes(), None, None).unwrap();
    let bm25 =
        cairn_engine::SearchOptions { mode: cairn_engine::SearchMode::Bm25, rerank: Some(false), ..Default::default() };
    let question = "How often is the INR of a warfarin patient checked?";
    let (plain, _) = kb.search(question, &bm25).unwrap();
    let (reranked, _) = kb.search(question, &cairn_engine::SearchOptions { rerank: Some(true), ..bm25 }).unwrap();
    assert_eq!(plain.hits.len(), reranked.hits.len());
    let mut a: Vec<_> = plain.hits.iter().map(|h| h.id.clone()).collect();
    let mut b: Vec<_> = reranked.hits.iter().map(|h| h.id.clone()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "reranking reorders the same hits");
    for hit in &reranked.hits {
        let r = hit.rerank.unwrap_or_else(|| panic!("{} has no margin", hit.display));
        assert!(r.margin.is_finite(), "{r:?}");
        assert!(r.before >= 1 && r.before <= plain.hits.len());
    }
    let margin = |display: &str| {
        reranked.hits.iter().find(|h| h.display == display).and_then(|h| h.rerank).map(|r| r.margin).unwrap()
    };
    eprintln!("margins: monitoring {:.2}, visiting {:.2}", margin("ward:2.1"), margin("ward:1.1"));
}
