//! Tiny models for tests and examples: random weights from a seed plus a byte-level BPE
//! tokenizer trained on a small corpus, in Hugging Face layout. Nothing is downloaded.

use candle_core::Device;
use serde_json::Value;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::checkpoint::Checkpoint;
use crate::config::{Arch, Gemma3, ModelConfig};
use crate::error::{Result, TrainError};
use crate::model::Model;
use crate::rng::Rng;

/// End-of-text token of tiny tokenizers (id 0).
pub const EOS: &str = "<|endoftext|>";

/// Shape of a tiny model.
#[derive(Debug, Clone, PartialEq)]
pub struct TinySpec {
    /// Family.
    pub arch: Arch,
    /// Width (a multiple of 256 keeps every GGUF block type possible).
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Target BPE vocabulary (the trainer may stop short on a small corpus).
    pub vocab: usize,
    /// Embedding rows are the tokenizer size rounded up to this (as Qwen2 pads its rows).
    pub pad_rows_to: usize,
    /// `lm_head` tied to the embeddings.
    pub tie_word_embeddings: bool,
    /// Seed of the weights.
    pub seed: u64,
}

impl Default for TinySpec {
    fn default() -> Self {
        TinySpec {
            arch: Arch::Llama,
            hidden_size: 64,
            intermediate_size: 128,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            vocab: 400,
            pad_rows_to: 32,
            tie_word_embeddings: false,
            seed: 1,
        }
    }
}

/// Trains a byte-level BPE tokenizer (GPT-2 pre-tokenisation, so llama.cpp's `gpt-2`
/// pre-tokenizer splits text the same way) on `corpus`.
pub fn train_tokenizer(corpus: &[String], vocab: usize) -> Result<Tokenizer> {
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(ByteLevel::new(false, true, true)));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(1)
        .show_progress(false)
        .special_tokens(vec![AddedToken::from(EOS, true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tok.train(&mut trainer, corpus.iter()).map_err(TrainError::tokenizer)?;
    Ok(tok)
}

/// A tiny random model with a tokenizer trained on `corpus`.
pub fn tiny(spec: &TinySpec, corpus: &[String]) -> Result<Checkpoint> {
    if corpus.iter().all(|l| l.trim().is_empty()) {
        return Err(TrainError::Invalid("the tokenizer corpus is empty".into()));
    }
    if spec.heads == 0 || !spec.hidden_size.is_multiple_of(spec.heads) {
        return Err(TrainError::Invalid(format!("{} heads do not divide width {}", spec.heads, spec.hidden_size)));
    }
    let tok = train_tokenizer(corpus, spec.vocab)?;
    let size = tok.get_vocab_size(true);
    let rows = size.div_ceil(spec.pad_rows_to.max(1)) * spec.pad_rows_to.max(1);
    let eos = tok.token_to_id(EOS).ok_or_else(|| TrainError::Tokenizer("trained tokenizer lacks EOS".into()))?;
    let config = ModelConfig {
        arch: spec.arch,
        vocab_size: rows,
        hidden_size: spec.hidden_size,
        intermediate_size: spec.intermediate_size,
        num_hidden_layers: spec.layers,
        num_attention_heads: spec.heads,
        num_key_value_heads: spec.kv_heads,
        head_dim: spec.hidden_size / spec.heads,
        rms_norm_eps: 1e-6,
        rope_theta: 10_000.0,
        max_position_embeddings: 512,
        tie_word_embeddings: spec.tie_word_embeddings,
        attention_bias: spec.arch == Arch::Qwen2,
        gemma3: tiny_gemma3(spec),
        bos_token_id: Some(eos),
        eos_token_id: Some(eos),
    };
    let model = Model::random(config, &mut Rng::new(spec.seed), 2.0 / (spec.hidden_size as f64).sqrt(), &Device::Cpu)?;
    let tokenizer_json: Value =
        serde_json::from_str(&tok.to_string(false).map_err(TrainError::tokenizer)?).map_err(TrainError::tokenizer)?;
    Ok(Checkpoint { model, tokenizer_json })
}

/// Gemma 3's extras for a tiny model: a window of 8 keys and every second layer global, so
/// that short test sequences cross the window and both kinds of layer run.
fn tiny_gemma3(spec: &TinySpec) -> Option<Gemma3> {
    (spec.arch == Arch::Gemma3).then(|| Gemma3 {
        sliding_window: 8,
        sliding_window_pattern: 2,
        rope_local_base_freq: 10_000.0,
        query_pre_attn_scalar: (spec.hidden_size / spec.heads.max(1)) as f64,
    })
}

/// A few lines of bilingual finance and compliance text, for tokenizers in tests.
pub fn sample_corpus() -> Vec<String> {
    [
        "The bank must report suspicious transactions to the regulator within five days.",
        "Quantitative trading systems are reviewed by the risk committee every quarter.",
        "A regulatory sandbox lets a firm test a product with real customers under supervision.",
        "银行应当在五日内向监管机构报告可疑交易。",
        "量化交易系统每季度由风险委员会审查。",
        "监管沙盒允许企业在监管下用真实客户测试产品。",
        "Question: what is the reporting deadline? Answer: five days.",
        "问题：报告期限是多久？回答：五日。",
        "The capital adequacy ratio shall not fall below eight percent.",
        "资本充足率不得低于百分之八。",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A random model with `teacher`'s tokenizer and vocabulary rows but its own (smaller)
/// shape, for distillation.
pub fn student_of(teacher: &Checkpoint, spec: &TinySpec) -> Result<Checkpoint> {
    let t = &teacher.model.config;
    let config = ModelConfig {
        arch: spec.arch,
        hidden_size: spec.hidden_size,
        intermediate_size: spec.intermediate_size,
        num_hidden_layers: spec.layers,
        num_attention_heads: spec.heads,
        num_key_value_heads: spec.kv_heads,
        head_dim: spec.hidden_size / spec.heads.max(1),
        attention_bias: spec.arch == Arch::Qwen2,
        gemma3: tiny_gemma3(spec),
        tie_word_embeddings: spec.tie_word_embeddings,
        ..t.clone()
    };
    let model = Model::random(config, &mut Rng::new(spec.seed), 2.0 / (spec.hidden_size as f64).sqrt(), &Device::Cpu)?;
    Ok(Checkpoint { model, tokenizer_json: teacher.tokenizer_json.clone() })
}
