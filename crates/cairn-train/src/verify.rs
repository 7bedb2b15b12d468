//! Checks an exported GGUF against the safetensors model it came from, by running it in
//! Cairn's local backend (llama.cpp): the prompt must tokenise identically, and greedy
//! continuations are compared token by token, with each token's log-probability.

use std::path::Path;

use cairn_core::llm::ChatRequest;
use cairn_llm::{GgufModel, GgufOptions};

use crate::checkpoint::Checkpoint;
use crate::error::{Result, TrainError};

/// The outcome of [`check_gguf`].
#[derive(Debug, Clone, PartialEq)]
pub struct GgufCheck {
    /// Prompts tried.
    pub prompts: usize,
    /// Prompts llama.cpp tokenised exactly as the Hugging Face tokenizer did.
    pub same_prompt_tokens: usize,
    /// Prompts whose whole greedy continuation matched.
    pub exact: usize,
    /// Greedy tokens from the safetensors model, over all prompts.
    pub tokens: usize,
    /// Of those, how many the GGUF model produced at the same place before first
    /// diverging (a strict measure: after a divergence nothing counts).
    pub agreeing: usize,
    /// Largest difference in a matched token's log-probability.
    pub max_logprob_delta: f32,
    /// Per diverging prompt, how far (in log-probability, by the safetensors model) the
    /// GGUF's token was below the safetensors model's pick: a gap under the quantization
    /// error is a near-tie that rounding flipped, not a broken conversion.
    pub divergence_gaps: Vec<f32>,
}

impl GgufCheck {
    /// Share of agreeing greedy tokens.
    pub fn agreement(&self) -> f64 {
        if self.tokens == 0 { 1.0 } else { self.agreeing as f64 / self.tokens as f64 }
    }
}

/// Greedy-decodes `max_tokens` after each prompt with both models and compares.
pub fn check_gguf(ck: &Checkpoint, gguf: &Path, prompts: &[String], max_tokens: usize) -> Result<GgufCheck> {
    let local = GgufModel::load(gguf, &GgufOptions { n_ctx: 512, threads: 1, contexts: 1 })
        .map_err(|e| TrainError::Model(format!("{}: {e}", gguf.display())))?;
    let tok = ck.tokenizer()?;
    let eos = ck.model.config.eos_token_id;
    let mut check = GgufCheck {
        prompts: prompts.len(),
        same_prompt_tokens: 0,
        exact: 0,
        tokens: 0,
        agreeing: 0,
        max_logprob_delta: 0.0,
        divergence_gaps: Vec::new(),
    };
    for prompt in prompts {
        let ids = tok.encode(prompt.as_str(), true).map_err(TrainError::tokenizer)?.get_ids().to_vec();
        let theirs: Vec<u32> = local.tokenize(prompt, false).iter().map(|t| t.0 as u32).collect();
        if theirs == ids {
            check.same_prompt_tokens += 1;
        }
        let mut ours = ck.model.greedy(&ids, max_tokens, None)?;
        if let Some(stop) = ours.iter().position(|t| Some(*t) == eos) {
            ours.truncate(stop);
        }
        let full: Vec<u32> = ids.iter().chain(&ours).copied().collect();
        let lp = ck.model.log_probs(&full, None)?;
        let request = ChatRequest::new(Vec::new(), max_tokens as u32);
        let (steps, _) = local
            .generate(prompt, &request, true, &mut |_| {})
            .map_err(|e| TrainError::Model(format!("{}: {e}", gguf.display())))?;
        check.tokens += ours.len();
        let mut same = 0;
        for (i, (a, b)) in ours.iter().zip(&steps).enumerate() {
            if *a != b.id as u32 {
                // How close our own choice was: the log-probability we give the token the
                // GGUF picked, below our pick's.
                let row = lp.get(ids.len() + i - 1)?;
                let gap = row.get(*a as usize)?.to_scalar::<f32>()? - row.get(b.id as usize)?.to_scalar::<f32>()?;
                check.divergence_gaps.push(gap);
                break;
            }
            same += 1;
            let mine = lp.get(ids.len() + i - 1)?.get(*a as usize)?.to_scalar::<f32>()?;
            check.max_logprob_delta = check.max_logprob_delta.max((mine - b.logprob).abs());
        }
        check.agreeing += same;
        if same == ours.len() && steps.len() == ours.len() {
            check.exact += 1;
        }
    }
    Ok(check)
}
