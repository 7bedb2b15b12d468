//! GRPO (group relative policy optimisation, DeepSeekMath; TRL's current on-policy method):
//! no value model. For each prompt the policy samples a group of `G` responses; each
//! response's advantage is its reward standardised within its group, `(r − mean) / std`,
//! shared by all its tokens. The loss is PPO's clipped surrogate on those advantages plus
//! `β·KL` to the reference (the base, adapter off), with the per-token estimator
//! `exp(ref − new) − (ref − new) − 1` (non-negative, unbiased). Tokens after a response's
//! end-of-sequence are masked out of every term; each response's loss is its mean over its
//! tokens, and the batch's the mean over responses.
//!
//! The reward is any [`RewardFn`]: Cairn's verifier (`cairn train grpo` scores an answer by
//! its verified citations), a trained reward model, or a closure.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Tensor};
use serde_json::json;

use crate::error::{Result, TrainError};
use crate::lora::Lora;
use crate::model::Model;
use crate::ppo::{RewardFn, Rollout, response_logps, sample_group};
use crate::rng::Rng;
use crate::trainer::{TrainOptions, append_jsonl, clipped_adamw_step};

/// Options of a GRPO run.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpoOptions {
    /// Iterations (sample + update).
    pub iterations: usize,
    /// Prompts per iteration.
    pub prompts_per_step: usize,
    /// Responses sampled per prompt (`G`).
    pub group: usize,
    /// Tokens sampled per response (at most).
    pub max_new_tokens: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Update epochs per batch of groups (`μ`).
    pub epochs: usize,
    /// Clip range `ε`.
    pub clip: f64,
    /// KL coefficient `β`.
    pub beta: f64,
    /// A response ends at this token (kept, and masked after).
    pub eos: Option<u32>,
    /// Learning rate, betas, clipping and weight decay.
    pub optimiser: TrainOptions,
    /// Seed of prompt order and sampling.
    pub seed: u64,
    /// JSONL log of each iteration.
    pub metrics: Option<PathBuf>,
}

impl Default for GrpoOptions {
    fn default() -> Self {
        GrpoOptions {
            iterations: 20,
            prompts_per_step: 2,
            group: 4,
            max_new_tokens: 8,
            temperature: 1.0,
            epochs: 2,
            clip: 0.2,
            beta: 0.04,
            eos: None,
            optimiser: TrainOptions { lr: 5e-3, ..TrainOptions::default() },
            seed: 0,
            metrics: None,
        }
    }
}

/// One iteration's figures.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GrpoMetrics {
    /// Iteration (from 1).
    pub iteration: usize,
    /// Mean reward of the sampled responses.
    pub reward: f64,
    /// Mean within-group standard deviation of the reward (0: the groups teach nothing).
    pub group_spread: f64,
    /// Groups whose responses did not all score the same.
    pub informative_groups: usize,
    /// Mean per-token KL to the reference (the k3 estimator), at sampling time.
    pub kl: f64,
    /// Mean policy entropy per response token.
    pub entropy: f64,
    /// Share of response tokens whose ratio was clipped (last epoch).
    pub clip_fraction: f64,
    /// The loss (last epoch).
    pub loss: f64,
    /// Tokens sampled this iteration (all responses, each up to its end token).
    pub sampled_tokens: usize,
    /// Seconds this iteration spent sampling.
    pub sample_s: f64,
    /// Seconds since the start.
    pub elapsed_s: f64,
}

/// Group-standardised advantages: `(r − mean) / std` within each group of `g`; a group
/// whose rewards are all equal gets zeros.
pub fn group_advantages(rewards: &[f64], g: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rewards.len());
    for group in rewards.chunks(g.max(1)) {
        let mean = group.iter().sum::<f64>() / group.len() as f64;
        let std = (group.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / group.len() as f64).sqrt();
        out.extend(group.iter().map(|r| if std < 1e-9 { 0.0 } else { (r - mean) / std }));
    }
    out
}

/// The response up to and including its end-of-sequence token.
fn cut(response: &[u32], eos: Option<u32>) -> &[u32] {
    match eos.and_then(|e| response.iter().position(|t| *t == e)) {
        Some(i) => &response[..=i],
        None => response,
    }
}

/// Runs GRPO on `policy` (an adapter over `model`), calling `on_iteration` after each.
pub fn grpo(
    model: &Model,
    policy: &Lora,
    reward: &dyn RewardFn,
    prompts: &[Vec<u32>],
    opts: &GrpoOptions,
    on_iteration: &mut dyn FnMut(&GrpoMetrics),
) -> Result<Vec<GrpoMetrics>> {
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(TrainError::Invalid("GRPO needs non-empty prompts".into()));
    }
    if opts.group < 2 || opts.prompts_per_step == 0 || opts.max_new_tokens == 0 || opts.epochs == 0 {
        return Err(TrainError::Invalid(
            "GRPO needs groups of at least 2 responses, a prompt per step, tokens to sample and an epoch".into(),
        ));
    }
    let vars = policy.vars();
    let zeros = || -> candle_core::Result<Vec<Tensor>> { vars.iter().map(|(_, v)| v.zeros_like()).collect() };
    let (mut m1, mut m2) = (zeros()?, zeros()?);
    let mut rng = Rng::new(opts.seed);
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    let (mut cursor, mut updates) = (prompts.len(), 0usize);
    let began = Instant::now();
    let n = opts.max_new_tokens;
    let mut log = Vec::with_capacity(opts.iterations);
    for it in 0..opts.iterations {
        // Sample G responses for each prompt of the step.
        let mut rolls = Vec::with_capacity(opts.prompts_per_step * opts.group);
        let mut raw = Vec::with_capacity(rolls.capacity());
        let mut responses = Vec::with_capacity(rolls.capacity());
        let mut mask = Vec::with_capacity(rolls.capacity() * n);
        let mut sampled = 0usize;
        let sampling = Instant::now();
        for _ in 0..opts.prompts_per_step {
            if cursor >= order.len() {
                rng.shuffle(&mut order);
                cursor = 0;
            }
            let p = &prompts[order[cursor]];
            cursor += 1;
            for resp in sample_group(model, policy, p, opts.group, n, opts.temperature, opts.eos, &mut rng)? {
                sampled += resp.len();
                raw.push(reward.reward(p, cut(&resp, opts.eos))?);
                responses.push((order[cursor - 1], resp));
            }
        }
        // Every response is scored over the longest one's length (ended rows padded with
        // their end token, masked), not over `max_new_tokens`.
        let width = responses.iter().map(|(_, r)| r.len()).max().unwrap_or(1).max(1);
        for (p, resp) in &responses {
            let p = &prompts[*p];
            mask.extend((0..width).map(|j| if j < resp.len() { 1f32 } else { 0.0 }));
            let pad = std::iter::repeat_n(opts.eos.unwrap_or(0), width - resp.len());
            rolls.push(Rollout { ids: p.iter().chain(resp).copied().chain(pad).collect(), prompt_len: p.len() });
        }
        let n = width;
        let advantages = group_advantages(&raw, opts.group);
        let spreads: Vec<f64> = raw
            .chunks(opts.group)
            .map(|g| {
                let mean = g.iter().sum::<f64>() / g.len() as f64;
                (g.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / g.len() as f64).sqrt()
            })
            .collect();
        let b = rolls.len();
        let device = &model.device;
        let mask = Tensor::from_vec(mask, (b, n), device)?.to_dtype(model.dtype)?;
        let lengths = mask.sum(1)?.clamp(1.0, f64::MAX)?;
        let adv = Tensor::from_vec(advantages.iter().map(|a| *a as f32).collect::<Vec<_>>(), (b, 1), device)?
            .to_dtype(model.dtype)?;
        let sample_s = sampling.elapsed().as_secs_f64();
        // Detached at once: the pass's autograd graph (every layer's activations) must not
        // stay alive through the update epochs. With one epoch the sampling policy is the
        // policy being updated, so its log-probabilities are the first update pass's,
        // detached (as TRL does), and that pass is not run twice.
        let mut old = match opts.epochs {
            1 => None,
            _ => Some(response_logps(model, Some(policy), &rolls, n)?.0.detach()),
        };
        let reference = response_logps(model, None, &rolls, n)?.0.detach();
        let k3 = |new: &Tensor| -> Result<Tensor> {
            let d = (&reference - new)?;
            Ok(((d.exp()? - &d)? - 1.0)?)
        };
        let per_sequence = |t: &Tensor| -> Result<Tensor> { Ok(((t * &mask)?.sum(1)? / &lengths)?) };
        let kl_of = |old: &Tensor| -> Result<f64> {
            Ok(per_sequence(&k3(old)?)?.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
        };
        let mut kl_at_sampling = old.as_ref().map(&kl_of).transpose()?.unwrap_or(0.0);
        let (mut loss_value, mut clipped, mut entropy) = (0.0, 0.0, 0.0);
        for _ in 0..opts.epochs {
            updates += 1;
            let (new, ent) = response_logps(model, Some(policy), &rolls, n)?;
            let old = match &old {
                Some(old) => old.clone(),
                None => {
                    let first = new.detach();
                    kl_at_sampling = kl_of(&first)?;
                    old = Some(first.clone());
                    first
                }
            };
            let ratio = (&new - &old)?.exp()?;
            let unclipped = ratio.broadcast_mul(&adv)?;
            let clipped_r = ratio.clamp(1.0 - opts.clip, 1.0 + opts.clip)?.broadcast_mul(&adv)?;
            let surrogate = unclipped.minimum(&clipped_r)?;
            let per_token = ((k3(&new)? * opts.beta)? - surrogate)?;
            let loss = per_sequence(&per_token)?.mean_all()?;
            loss_value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let (rv, mv) = (ratio.to_vec2::<f32>()?, mask.to_dtype(DType::F32)?.to_vec2::<f32>()?);
            let valid: f64 = mv.iter().flatten().map(|m| f64::from(*m)).sum();
            clipped = rv
                .iter()
                .flatten()
                .zip(mv.iter().flatten())
                .filter(|(r, m)| **m > 0.0 && (f64::from(**r) - 1.0).abs() > opts.clip)
                .count() as f64
                / valid.max(1.0);
            entropy = per_sequence(&ent)?.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            clipped_adamw_step(&vars, &loss.backward()?, &mut m1, &mut m2, updates, &opts.optimiser)?;
        }
        let m = GrpoMetrics {
            iteration: it + 1,
            reward: raw.iter().sum::<f64>() / raw.len() as f64,
            group_spread: spreads.iter().sum::<f64>() / spreads.len() as f64,
            informative_groups: spreads.iter().filter(|s| **s > 1e-9).count(),
            kl: kl_at_sampling,
            entropy,
            clip_fraction: clipped,
            loss: loss_value,
            sampled_tokens: sampled,
            sample_s,
            elapsed_s: began.elapsed().as_secs_f64(),
        };
        if let Some(path) = &opts.metrics {
            append_jsonl(path, &json!(m))?;
        }
        tracing::info!(iteration = m.iteration, reward = m.reward, kl = m.kl, spread = m.group_spread, "grpo");
        on_iteration(&m);
        log.push(m);
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advantages_are_standardised_within_each_group() {
        let a = group_advantages(&[1.0, 0.0, 1.0, 0.0, 0.5, 0.5, 0.5, 0.5], 4);
        assert_eq!(&a[..4], &[1.0, -1.0, 1.0, -1.0]);
        assert_eq!(&a[4..], &[0.0; 4], "a group that all scored the same teaches nothing");
    }

    #[test]
    fn a_response_ends_at_its_eos() {
        assert_eq!(cut(&[4, 5, 2, 7, 8], Some(2)), &[4, 5, 2]);
        assert_eq!(cut(&[4, 5], Some(2)), &[4, 5]);
        assert_eq!(cut(&[4, 5], None), &[4, 5]);
    }
}
