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

#[test]
fn the_local_model_answers_with_sentence_citations_and_keeps_the_contraindication() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let model = models.join(cairn_llm::LOCAL_MODELS[1]);
    if !model.is_file() {
        eprintln!("SKIP: no {} (scripts/fetch-models.sh)", model.display());
        return;
    }
    if cfg!(not(feature = "gguf")) {
        eprintln!("SKIP: local inference needs the gguf feature");
        return;
    }
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
