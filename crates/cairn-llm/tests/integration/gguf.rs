//! The local GGUF backend (feature `gguf`): on a tiny model the test writes itself, and on
//! the real Gemma 3 270M against llama-cpp-python on the same file when both are present.

use std::path::Path;

use cairn_core::{ChatModel, ChatRequest, Message};
use cairn_llm::gguf_file::{self, Quant};
use cairn_llm::{GgufModel, GgufOptions};

fn tiny(dir: &Path, quant: Quant) -> std::path::PathBuf {
    let (meta, tensors) = gguf_file::tiny_llama(7, quant);
    let path = dir.join(format!("tiny-{quant:?}.gguf"));
    let mut f = std::fs::File::create(&path).unwrap();
    gguf_file::write(&meta, &tensors, &mut f).unwrap();
    path
}

#[test]
fn a_tiny_gguf_written_here_loads_generates_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    for quant in [Quant::F32, Quant::Q8_0] {
        let model =
            GgufModel::load(&tiny(dir.path(), quant), &GgufOptions { n_ctx: 256, threads: 1, contexts: 1 }).unwrap();
        let request = ChatRequest::new(vec![Message::user("the drug is a CYP3A4 enzyme")], 12);
        let a = model.chat(&request).unwrap();
        let b = model.chat(&request).unwrap();
        assert_eq!(a.text, b.text, "greedy decoding is deterministic");
        assert!(a.usage.prompt_tokens > 3 && a.usage.completion_tokens > 0, "{:?}", a.usage);
        let mut pieces = String::new();
        let streamed = model.chat_stream(&request, &mut |p| pieces.push_str(p)).unwrap();
        assert_eq!((pieces.as_str(), streamed.text.as_str()), (a.text.as_str(), a.text.as_str()));
        let scores =
            model.score_choices("the drug is", &[" Yes".into(), " No".into(), " enzyme and drug".into()]).unwrap();
        assert!(scores.iter().all(|s| s.is_finite() && *s < 0.0), "{scores:?}");
        assert!(scores[2] < scores[0].max(scores[1]), "a three-token continuation is less likely than one token");
        // The prompt's KV cache is reused across choices: scoring again gives the same numbers.
        assert_eq!(
            model.score_choices("the drug is", &[" Yes".into(), " No".into(), " enzyme and drug".into()]).unwrap(),
            scores
        );
        let too_long = ChatRequest::new(vec![Message::user("the drug")], 10_000);
        let e = model.chat(&too_long).unwrap_err();
        assert!(e.to_string().contains("ContextLength"), "{e}");
    }
}

#[test]
fn a_shared_prompt_prefix_is_evaluated_once_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model =
        GgufModel::load(&tiny(dir.path(), Quant::F32), &GgufOptions { n_ctx: 256, threads: 1, contexts: 1 }).unwrap();
    let request = ChatRequest::new(vec![], 8);
    let prefix = "the drug is a CYP3A4 enzyme and the drug is";
    let (a, ta) = model.generate(&format!("{prefix} enzyme"), &request, true, &mut |_| {}).unwrap();
    assert_eq!(ta.cached_tokens, 0, "the first prompt finds nothing cached");
    let (b, tb) = model.generate(&format!("{prefix} drug drug"), &request, true, &mut |_| {}).unwrap();
    assert!(tb.cached_tokens >= 8, "the shared prefix is reused: {tb:?}");
    assert!(tb.cached_tokens < tb.prompt_tokens);
    model.forget_prefix();
    let (cold, tc) = model.generate(&format!("{prefix} drug drug"), &request, true, &mut |_| {}).unwrap();
    assert_eq!(tc.cached_tokens, 0);
    let ids = |s: &[cairn_llm::gguf::TokenStep]| s.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&b), ids(&cold), "reuse changes no token");
    for (x, y) in b.iter().zip(&cold) {
        assert!((x.logprob - y.logprob).abs() < 1e-3, "{} vs {}", x.logprob, y.logprob);
    }
    // Back to the first prompt: its shared part is reused and its tail evaluated again.
    let (again, t) = model.generate(&format!("{prefix} enzyme"), &request, true, &mut |_| {}).unwrap();
    assert_eq!(ids(&again), ids(&a));
    assert!(t.cached_tokens >= 8, "{t:?}");
    // Scoring after a generation, and after a cold start, sees a clean tail.
    let s1 = model.score_choices(prefix, &[" Yes".into(), " enzyme and drug".into()]).unwrap();
    let _ = model.generate(&format!("{prefix} enzyme"), &request, false, &mut |_| {}).unwrap();
    let s2 = model.score_choices(prefix, &[" Yes".into(), " enzyme and drug".into()]).unwrap();
    model.forget_prefix();
    let s3 = model.score_choices(prefix, &[" Yes".into(), " enzyme and drug".into()]).unwrap();
    for (x, y) in s1.iter().zip(&s2).chain(s2.iter().zip(&s3)) {
        assert!((x - y).abs() < 1e-3, "{s1:?} {s2:?} {s3:?}");
    }
}

#[test]
fn several_contexts_generate_at_once_and_agree_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = tiny(dir.path(), Quant::F32);
    let one = GgufModel::load(&path, &GgufOptions { n_ctx: 256, threads: 1, contexts: 1 }).unwrap();
    let pool = GgufModel::load(&path, &GgufOptions { n_ctx: 256, threads: 1, contexts: 2 }).unwrap();
    let prompts: Vec<String> = (0..6).map(|i| format!("the drug {} is a CYP3A4 enzyme", "drug ".repeat(i))).collect();
    let request = ChatRequest::new(vec![], 10);
    let expected: Vec<Vec<i32>> = prompts
        .iter()
        .map(|p| one.generate(p, &request, false, &mut |_| {}).unwrap().0.iter().map(|s| s.id).collect())
        .collect();
    let got: Vec<Vec<i32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| {
                let (pool, request) = (&pool, &request);
                scope.spawn(move || {
                    pool.generate(p, request, false, &mut |_| {}).unwrap().0.iter().map(|s| s.id).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(got, expected);
}

#[test]
fn the_real_gemma_matches_llama_cpp_python_on_the_same_file() {
    let Some(path) = crate::real_server::gemma() else {
        eprintln!("skipping: the Gemma 3 270M GGUF is missing (scripts/fetch-models.sh)");
        return;
    };
    let model = GgufModel::load(&path, &GgufOptions { n_ctx: 2048, threads: 1, contexts: 1 }).unwrap();
    let prompt = "The liver enzyme CYP3A4 metabolizes";
    let request = ChatRequest::new(vec![], 64);
    let (steps, _) = model.generate(prompt, &request, true, &mut |_| {}).unwrap();
    assert!(!steps.is_empty());
    let installed = std::process::Command::new("python3")
        .args(["-c", "import llama_cpp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("skipping the comparison: llama-cpp-python is not installed (.ci/run installs it)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/llama_cpp_peer.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg("greedy")
        .arg(&path)
        .arg(prompt)
        .arg("64")
        .output()
        .unwrap();
    assert!(out.status.success(), "the llama.cpp peer failed: {}", String::from_utf8_lossy(&out.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<i64> = peer["tokens"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect();
    let ours: Vec<i64> = steps.iter().map(|s| i64::from(s.id)).collect();
    assert_eq!(ours, ids, "greedy 64-token output is identical to llama.cpp's");
    let worst = steps
        .iter()
        .zip(peer["logprobs"].as_array().unwrap())
        .map(|(s, p)| (f64::from(s.logprob) - p.as_f64().unwrap()).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 0.15, "log-probabilities differ by up to {worst:.3} nats");
}

#[test]
fn local_runs_the_registered_adapted_model_instead_of_the_fetched_ones() {
    use cairn_llm::{Backend, BackendOptions};
    let dir = tempfile::tempdir().unwrap();
    let adapted = tiny(dir.path(), Quant::Q8_0);
    let options = BackendOptions {
        models_dir: dir.path().join("no-models-here"),
        local_model: Some(adapted.clone()),
        gguf: GgufOptions { n_ctx: 256, threads: 1, contexts: 1 },
        ..BackendOptions::default()
    };
    let local = Backend::open("local", &options).unwrap();
    let direct = GgufModel::load(&adapted, &options.gguf).unwrap();
    let request = ChatRequest::new(vec![Message::user("the drug is a CYP3A4 enzyme")], 8);
    assert_eq!(local.chat(&request).unwrap().text, direct.chat(&request).unwrap().text);
    let missing = BackendOptions { local_model: Some(dir.path().join("gone.gguf")), ..options };
    let e = Backend::open("local", &missing).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("gone.gguf") && e.contains("not a file"), "{e}");
}
