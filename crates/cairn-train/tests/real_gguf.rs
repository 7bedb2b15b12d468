//! `train import --gguf` on the real Qwen2.5-Coder 0.5B instruct and Gemma 3 270M GGUFs
//! (fetched by `scripts/fetch-models.sh`; skipped with a message when absent, required when
//! `CAIRN_REQUIRE_MODELS=1`), against llama.cpp on the same file (feature `gguf`):
//! - the rebuilt tokenizer gives llama.cpp's token IDs on 1,000+ lines of Chinese and
//!   English text;
//! - the imported model's greedy continuations and log-probabilities match llama.cpp's
//!   on the source GGUF, within the quantization error;
//! - exported back to Q8_0, llama.cpp's greedy output is the imported model's.
#![cfg(feature = "gguf")]
#![allow(clippy::unwrap_used)] // tests may panic on unexpected errors

use std::path::{Path, PathBuf};

use cairn_llm::{GgufModel, GgufOptions};
use cairn_train::import::read_gguf;
use candle_core::DType;

const QWEN: &str = "qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct.gguf";
const GEMMA: &str = "gemma-3-270m/gemma-3-270m-q4_k_m.gguf";

fn source(file: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models").join(file);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var("CAIRN_REQUIRE_MODELS").as_deref() != Ok("1"),
        "CAIRN_REQUIRE_MODELS=1 but {} is missing",
        path.display()
    );
    eprintln!("SKIP: no {} (scripts/fetch-models.sh)", path.display());
    None
}

/// Lines of text in both languages from the repository: the bundled handbook and
/// regulation, the statute paraphrase set, and the project's own documents.
fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files = [
        "crates/cairn-engine/demo/pharmacology-handbook.md",
        "crates/cairn-engine/demo/interaction-review-regulation.txt",
        "eval/statute-paraphrase.jsonl",
        "README.md",
        "ARCHITECTURE.md",
    ];
    let mut lines = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
    }
    // Whitespace, digits and symbols the splitters treat specially.
    lines.extend(
        [
            "  leading spaces and trailing   ",
            "tabs\tand\r\nCRLF line ends\r\n",
            "numbers 1234567 and 3.14159, dates 2026-12-07",
            "emoji 🙂👍🏽 and accents: naïve café",
            "混合 text with 中文, English 和 数字 123。",
            "it's they're we've I'm you'll he'd",
        ]
        .map(str::to_owned),
    );
    lines
}

#[test]
fn the_rebuilt_tokenizer_matches_llama_cpp_on_chinese_and_english() {
    // Byte-level BPE with merges.
    tokenizer_matches(QWEN);
}

#[test]
fn the_rebuilt_sentencepiece_tokenizer_matches_llama_cpp_on_chinese_and_english() {
    // SentencePiece scores, no merges: the merges are derived.
    tokenizer_matches(GEMMA);
}

fn tokenizer_matches(file: &str) {
    let Some(path) = source(file) else { return };
    let (ck, report) = read_gguf(&path, DType::F32).unwrap();
    assert!(report.vocab > 150_000 && report.merges > 150_000, "{report:?}");
    let tok = ck.tokenizer().unwrap();
    let llama = GgufModel::load(&path, &GgufOptions { n_ctx: 512, threads: 1, contexts: 1 }).unwrap();
    let lines = corpus();
    let chinese = lines.iter().filter(|l| l.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))).count();
    assert!(lines.len() >= 1000 && chinese >= 200, "{} lines, {chinese} with Chinese", lines.len());
    let mut differ = Vec::new();
    let mut tokens = 0;
    for line in &lines {
        // Both with the BOS the model wants (Gemma's; Qwen wants none).
        let ours = tok.encode(line.as_str(), true).unwrap().get_ids().to_vec();
        let theirs: Vec<u32> = llama.tokenize(line, false).iter().map(|t| t.0 as u32).collect();
        tokens += theirs.len();
        if ours != theirs {
            differ.push(line.clone());
        }
    }
    eprintln!("{file}: {} lines ({chinese} with Chinese), {tokens} tokens: {} differ", lines.len(), differ.len());
    assert!(
        differ.is_empty(),
        "{} of {} lines tokenise differently, e.g. {:?}",
        differ.len(),
        lines.len(),
        &differ[..differ.len().min(5)]
    );
}

#[test]
fn the_imported_model_decodes_as_llama_cpp_does_and_survives_a_q8_0_round_trip() {
    decodes_as_llama_cpp(QWEN);
}

#[test]
fn the_imported_gemma3_decodes_as_llama_cpp_does_and_survives_a_q8_0_round_trip() {
    decodes_as_llama_cpp(GEMMA);
}

fn decodes_as_llama_cpp(file: &str) {
    let Some(path) = source(file) else { return };
    let (ck, report) = read_gguf(&path, DType::F32).unwrap();
    eprintln!("imported: {report:?}");
    let prompts: Vec<String> = [
        "Question: Which enzyme metabolises simvastatin?\nAnswer:",
        "问题：华法林与哪些药物相互作用？\n回答：",
        "def fibonacci(n):",
    ]
    .map(str::to_owned)
    .to_vec();
    let against_source = cairn_train::verify::check_gguf(&ck, &path, &prompts, 12).unwrap();
    eprintln!("against the source GGUF: {against_source:?}");
    assert_eq!(against_source.same_prompt_tokens, prompts.len());
    assert!(against_source.agreement() >= 0.9, "{against_source:?}");
    assert!(against_source.max_logprob_delta < 0.5, "{against_source:?}");

    let dir = tempfile::tempdir().unwrap();
    let q8 = dir.path().join("reexported-q8_0.gguf");
    cairn_train::export::to_gguf(&ck, cairn_llm::gguf_file::Quant::Q8_0, &q8).unwrap();
    let round_trip = cairn_train::verify::check_gguf(&ck, &q8, &prompts, 12).unwrap();
    eprintln!("exported back to Q8_0: {round_trip:?}");
    // Identical greedy output, except where the two best tokens were a near-tie (within the
    // largest log-probability difference Q8_0 made on the tokens that agreed): the base
    // Gemma 3 270M puts "\n" and "\n\n" 0.04 apart after the Chinese prompt.
    let ties = round_trip.divergence_gaps.iter().filter(|g| **g < 2.0 * round_trip.max_logprob_delta.max(0.05)).count();
    assert_eq!(round_trip.exact + ties, prompts.len(), "{round_trip:?}");
    assert!(round_trip.exact + 1 >= prompts.len(), "at most one near-tie: {round_trip:?}");
}
