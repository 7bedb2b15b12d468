//! PPO-style RLHF (the seed's §4.3) with four models: the policy (base + LoRA), a frozen
//! reference (the base, adapter off), a reward (a trained [`RewardModel`] or any
//! [`RewardFn`]) and a value model (the base with its own LoRA and a scalar head per token).
//!
//! One iteration: sample responses to a batch of prompts; score them and normalise the
//! scores to [-1, 1] within the batch; per-token rewards are `−β_t·(log π − log π_ref)` plus
//! the score at the last token, with `β_t` rising linearly from `kl_start` to `kl_end`;
//! GAE advantages (whitened) and returns; then epochs of the clipped policy loss and the
//! clipped value loss. Sampling recomputes the whole sequence per token (no KV cache), which
//! is quadratic in the response length, and rollouts are scored one by one (the decoder has
//! no padding mask): fine for the tiny models this is tested on, slow for real ones.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{D, DType, Tensor, Var};
use serde_json::json;

use crate::error::{Result, TrainError};
use crate::lora::Lora;
use crate::model::Model;
use crate::reward::RewardModel;
use crate::rng::Rng;
use crate::trainer::{TrainOptions, append_jsonl, clipped_adamw_step};

/// Scores a response to a prompt.
pub trait RewardFn {
    /// The scalar reward.
    fn reward(&self, prompt: &[u32], response: &[u32]) -> Result<f64>;
}

impl<F: Fn(&[u32], &[u32]) -> f64> RewardFn for F {
    fn reward(&self, prompt: &[u32], response: &[u32]) -> Result<f64> {
        Ok(self(prompt, response))
    }
}

impl RewardFn for RewardModel<'_> {
    fn reward(&self, prompt: &[u32], response: &[u32]) -> Result<f64> {
        let ids: Vec<u32> = prompt.iter().chain(response).copied().collect();
        let ex = crate::data::Example { learn: vec![true; ids.len()], ids };
        Ok(self.scores(&[&ex], None)?.to_vec1::<f32>()?[0] as f64)
    }
}

/// The KL coefficient: linear from `start` to `end` over `steps` iterations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KlSchedule {
    /// At the first iteration (the seed's 0.01).
    pub start: f64,
    /// At the last.
    pub end: f64,
    /// Iterations.
    pub steps: usize,
}

impl KlSchedule {
    /// The coefficient at iteration `i` (from 0).
    pub fn at(&self, i: usize) -> f64 {
        if self.steps <= 1 {
            return self.start;
        }
        let f = (i.min(self.steps - 1)) as f64 / (self.steps - 1) as f64;
        self.start + (self.end - self.start) * f
    }
}

/// Scores scaled to [-1, 1] within a batch (min → −1, max → 1; all equal → 0).
pub fn normalise_rewards(scores: &[f64]) -> Vec<f64> {
    let (lo, hi) = scores.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), s| (l.min(*s), h.max(*s)));
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![0.0; scores.len()];
    }
    scores.iter().map(|s| 2.0 * (s - lo) / (hi - lo) - 1.0).collect()
}

/// Generalised advantage estimation over one response: `(advantages, returns)`.
pub fn gae(rewards: &[f64], values: &[f64], gamma: f64, lambda: f64) -> (Vec<f64>, Vec<f64>) {
    let n = rewards.len();
    let mut adv = vec![0.0; n];
    let mut last = 0.0;
    for t in (0..n).rev() {
        let next = if t + 1 < n { values[t + 1] } else { 0.0 };
        let delta = rewards[t] + gamma * next - values[t];
        last = delta + gamma * lambda * last;
        adv[t] = last;
    }
    let ret = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    (adv, ret)
}

/// Options of a PPO run.
#[derive(Debug, Clone, PartialEq)]
pub struct PpoOptions {
    /// Iterations (rollout + update).
    pub iterations: usize,
    /// Prompts per rollout batch.
    pub batch_size: usize,
    /// Tokens sampled per response.
    pub max_new_tokens: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Update epochs per rollout batch.
    pub epochs: usize,
    /// PPO's clip range ε.
    pub clip: f64,
    /// Clip range of the value loss.
    pub value_clip: f64,
    /// Weight of the value loss.
    pub value_coef: f64,
    /// GAE γ and λ.
    pub gamma: f64,
    /// GAE λ.
    pub lambda: f64,
    /// KL coefficient schedule.
    pub kl: KlSchedule,
    /// Learning rate, betas, clipping and weight decay of both optimisers.
    pub optimiser: TrainOptions,
    /// Seed of prompt order and sampling.
    pub seed: u64,
    /// JSONL log of each iteration.
    pub metrics: Option<PathBuf>,
}

impl Default for PpoOptions {
    fn default() -> Self {
        PpoOptions {
            iterations: 20,
            batch_size: 4,
            max_new_tokens: 8,
            temperature: 1.0,
            epochs: 2,
            clip: 0.2,
            value_clip: 0.2,
            value_coef: 0.5,
            gamma: 1.0,
            lambda: 0.95,
            kl: KlSchedule { start: 0.01, end: 0.1, steps: 20 },
            optimiser: TrainOptions { lr: 5e-3, ..TrainOptions::default() },
            seed: 0,
            metrics: None,
        }
    }
}

/// One iteration's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpoMetrics {
    /// Iteration (from 1).
    pub iteration: usize,
    /// Mean raw reward of the batch.
    pub reward: f64,
    /// Mean per-sequence KL to the reference (sum over tokens of log π − log π_ref).
    pub kl: f64,
    /// KL coefficient used.
    pub kl_coef: f64,
    /// Mean policy entropy per response token.
    pub entropy: f64,
    /// Share of response tokens whose ratio was clipped.
    pub clip_fraction: f64,
    /// Policy loss (last epoch).
    pub policy_loss: f64,
    /// Value loss (last epoch).
    pub value_loss: f64,
    /// Seconds since the start.
    pub elapsed_s: f64,
}

/// The value model: base + its own adapter + a scalar head over every position.
#[derive(Debug)]
pub struct ValueModel<'a> {
    /// Frozen base.
    pub model: &'a Model,
    /// Its adapter.
    pub lora: &'a Lora,
    /// `[1, hidden]`.
    pub head: Var,
}

impl ValueModel<'_> {
    fn values(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let h = self.model.hidden(ids, Some(self.lora), None)?.reshape((b * t, ()))?;
        Ok(h.matmul(&self.head.as_tensor().t()?)?.reshape((b, t))?)
    }
}

/// A prompt with its sampled response.
pub(crate) struct Rollout {
    pub(crate) ids: Vec<u32>,
    pub(crate) prompt_len: usize,
}

/// Samples one continuation of `prompt`, exactly `n` tokens (PPO scores fixed-length
/// rollouts).
pub(crate) fn sample(
    model: &Model,
    lora: &Lora,
    prompt: &[u32],
    n: usize,
    temperature: f64,
    rng: &mut Rng,
) -> Result<Vec<u32>> {
    let mut rows = sample_group(model, lora, prompt, 1, n, temperature, None, rng)?;
    Ok(rows.pop().unwrap_or_default())
}

/// Samples `g` continuations of `prompt` at `temperature`, at most `n` tokens each, together:
/// the prompt is read once and its cache copied to `g` rows, then every step decodes one
/// token for every row in one batched pass (the weights are read once per step for all
/// rows, where `g` separate samples would read them `g` times, and prefill the prompt `g`
/// times). A row ends after `eos`; sampling stops when every row has ended.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sample_group(
    model: &Model,
    lora: &Lora,
    prompt: &[u32],
    g: usize,
    n: usize,
    temperature: f64,
    eos: Option<u32>,
    rng: &mut Rng,
) -> Result<Vec<Vec<u32>>> {
    let mut rows: Vec<Vec<u32>> = vec![Vec::with_capacity(n); g];
    if g == 0 || n == 0 {
        return Ok(rows);
    }
    let mut cache = crate::model::KvCache::new(model);
    let input = Tensor::new(prompt, &model.device)?.unsqueeze(0)?;
    let first = model.forward_cached_last(&input, &mut cache, Some(lora))?;
    let mut cache = cache.repeat(g)?;
    let mut logits = first.repeat((g, 1))?;
    let mut done = vec![false; g];
    for step in 0..n {
        let probs = candle_nn::ops::softmax(&(logits.to_dtype(DType::F64)? / temperature.max(1e-6))?, D::Minus1)?;
        let probs = probs.to_vec2::<f64>()?;
        let mut next = Vec::with_capacity(g);
        for (i, p) in probs.iter().enumerate() {
            if done[i] {
                // An ended row is fed its end token again; its output is not kept.
                next.push(eos.unwrap_or(0));
                continue;
            }
            let mut u = rng.uniform();
            let mut pick = p.len() - 1;
            for (t, q) in p.iter().enumerate() {
                if u < *q {
                    pick = t;
                    break;
                }
                u -= q;
            }
            rows[i].push(pick as u32);
            done[i] = Some(pick as u32) == eos;
            next.push(pick as u32);
        }
        if done.iter().all(|d| *d) || step + 1 == n {
            break;
        }
        let input = Tensor::new(next.as_slice(), &model.device)?.unsqueeze(1)?;
        logits = model.forward_cached_last(&input, &mut cache, Some(lora))?;
    }
    Ok(rows)
}

/// All rollouts in one right-padded batch `[b, longest]`. Padding comes after each
/// sequence, and attention is causal, so no real position ever sees it: every real
/// position's output equals that of the sequence run alone.
fn padded(rolls: &[Rollout], device: &candle_core::Device) -> Result<Tensor> {
    let longest = rolls.iter().map(|r| r.ids.len()).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(rolls.len() * longest);
    for r in rolls {
        flat.extend(&r.ids);
        flat.extend(std::iter::repeat_n(0u32, longest - r.ids.len()));
    }
    Ok(Tensor::from_vec(flat, (rolls.len(), longest), device)?)
}

/// Log-probabilities of each response token (`[b, n]`) and the policy's entropy at those
/// positions, for all rollouts in one pass.
pub(crate) fn response_logps(
    model: &Model,
    lora: Option<&Lora>,
    rolls: &[Rollout],
    n: usize,
) -> Result<(Tensor, Tensor)> {
    let ids = padded(rolls, &model.device)?;
    // Only the positions predicting the response go through the output head: with a real
    // vocabulary (150k tokens) and a long prompt, logits for every position would not fit.
    let hidden = model.hidden(&ids, lora, None)?;
    let mut rows = Vec::with_capacity(rolls.len());
    let mut ents = Vec::with_capacity(rolls.len());
    for (i, r) in rolls.iter().enumerate() {
        let at = hidden.get(i)?.narrow(0, r.prompt_len - 1, n)?; // the positions predicting the response
        let pos = candle_nn::ops::log_softmax(&model.project(&at)?, D::Minus1)?;
        let targets = ids.get(i)?.narrow(0, r.prompt_len, n)?.unsqueeze(1)?;
        rows.push(pos.gather(&targets, 1)?.squeeze(1)?);
        ents.push((pos.exp()? * &pos)?.sum(D::Minus1)?.neg()?);
    }
    Ok((Tensor::stack(&rows, 0)?, Tensor::stack(&ents, 0)?))
}

/// Values of the states before each response token, `[b, n]`, in one pass.
fn response_values(value: &ValueModel<'_>, rolls: &[Rollout], n: usize) -> Result<Tensor> {
    let values = value.values(&padded(rolls, &value.model.device)?)?;
    let mut rows = Vec::with_capacity(rolls.len());
    for (i, r) in rolls.iter().enumerate() {
        rows.push(values.get(i)?.narrow(0, r.prompt_len - 1, n)?);
    }
    Ok(Tensor::stack(&rows, 0)?)
}

/// Runs PPO on `policy` (an adapter over `model`), calling `on_iteration` after each.
pub fn ppo(
    model: &Model,
    policy: &Lora,
    value: &ValueModel<'_>,
    reward: &dyn RewardFn,
    prompts: &[Vec<u32>],
    opts: &PpoOptions,
    on_iteration: &mut dyn FnMut(&PpoMetrics),
) -> Result<Vec<PpoMetrics>> {
    if prompts.is_empty() || prompts.iter().any(|p| p.is_empty()) || opts.batch_size == 0 || opts.max_new_tokens == 0 {
        return Err(TrainError::Invalid("PPO needs non-empty prompts, a batch size and tokens to sample".into()));
    }
    let pvars = policy.vars();
    let mut vvars = vec![("value.head".to_owned(), value.head.clone())];
    vvars.extend(value.lora.vars());
    let zeros = |vars: &[(String, Var)]| -> candle_core::Result<Vec<Tensor>> {
        vars.iter().map(|(_, v)| v.zeros_like()).collect()
    };
    let (mut pm, mut pv, mut vm, mut vv) = (zeros(&pvars)?, zeros(&pvars)?, zeros(&vvars)?, zeros(&vvars)?);
    let mut rng = Rng::new(opts.seed);
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    let (mut cursor, mut updates) = (prompts.len(), 0usize);
    let began = Instant::now();
    let mut log = Vec::new();
    let n = opts.max_new_tokens;
    for it in 0..opts.iterations {
        // Rollouts.
        let mut rolls = Vec::with_capacity(opts.batch_size);
        for _ in 0..opts.batch_size {
            if cursor >= order.len() {
                rng.shuffle(&mut order);
                cursor = 0;
            }
            let p = &prompts[order[cursor]];
            cursor += 1;
            let resp = sample(model, policy, p, n, opts.temperature, &mut rng)?;
            rolls.push(Rollout { ids: p.iter().chain(&resp).copied().collect(), prompt_len: p.len() });
        }
        let raw: Vec<f64> = rolls
            .iter()
            .map(|r| reward.reward(&r.ids[..r.prompt_len], &r.ids[r.prompt_len..]))
            .collect::<Result<_>>()?;
        let scores = normalise_rewards(&raw);
        // Read out at once: the passes' autograd graphs must not stay alive through the
        // update epochs.
        let old = response_logps(model, Some(policy), &rolls, n)?.0.detach().to_vec2::<f32>()?;
        let refp = response_logps(model, None, &rolls, n)?.0.to_vec2::<f32>()?;
        let vals = response_values(value, &rolls, n)?.detach().to_vec2::<f32>()?;
        let beta = opts.kl.at(it);
        let (mut advs, mut rets, mut old_vals) = (Vec::new(), Vec::new(), Vec::new());
        let mut kl_sum = 0.0;
        for i in 0..rolls.len() {
            let kl: Vec<f64> = (0..n).map(|j| (old[i][j] - refp[i][j]) as f64).collect();
            kl_sum += kl.iter().sum::<f64>();
            let mut r: Vec<f64> = kl.iter().map(|k| -beta * k).collect();
            r[n - 1] += scores[i];
            let v: Vec<f64> = vals[i].iter().map(|x| *x as f64).collect();
            let (a, ret) = gae(&r, &v, opts.gamma, opts.lambda);
            advs.push(a);
            rets.push(ret);
            old_vals.push(v);
        }
        let flat: Vec<f64> = advs.iter().flatten().copied().collect();
        let mean = flat.iter().sum::<f64>() / flat.len() as f64;
        let std = (flat.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / flat.len() as f64).sqrt().max(1e-8);
        let to_t = |rows: &[Vec<f64>]| -> Result<Tensor> {
            let data: Vec<f32> = rows.iter().flatten().map(|x| *x as f32).collect();
            Ok(Tensor::from_vec(data, (rows.len(), n), &model.device)?.to_dtype(model.dtype)?)
        };
        let adv = to_t(&advs.iter().map(|r| r.iter().map(|a| (a - mean) / std).collect()).collect::<Vec<_>>())?;
        let ret = to_t(&rets)?;
        let old_v = to_t(&old_vals)?;
        let old_lp = to_t(&old.iter().map(|r| r.iter().map(|x| *x as f64).collect()).collect::<Vec<_>>())?;
        let (mut pl, mut vl, mut clipped, mut ent) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..opts.epochs {
            updates += 1;
            let (new_lp, entropy) = response_logps(model, Some(policy), &rolls, n)?;
            let ratio = (new_lp - &old_lp)?.exp()?;
            let unclipped = (&ratio * &adv)?;
            let clipped_r = (ratio.clamp(1.0 - opts.clip, 1.0 + opts.clip)? * &adv)?;
            let policy_loss = unclipped.minimum(&clipped_r)?.mean_all()?.neg()?;
            let rv = ratio.to_vec2::<f32>()?;
            clipped = rv.iter().flatten().filter(|r| (**r as f64 - 1.0).abs() > opts.clip).count() as f64
                / (rv.len() * n) as f64;
            ent = entropy.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let v_new = response_values(value, &rolls, n)?;
            let v_clip = (&old_v + (&v_new - &old_v)?.clamp(-opts.value_clip, opts.value_clip)?)?;
            let value_loss = ((&v_new - &ret)?.sqr()?.maximum(&(&v_clip - &ret)?.sqr()?)?.mean_all()? * 0.5)?;
            pl = policy_loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            vl = value_loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let total = (policy_loss + (value_loss * opts.value_coef)?)?;
            let grads = total.backward()?;
            for (vars, m, v) in [(&pvars, &mut pm, &mut pv), (&vvars, &mut vm, &mut vv)] {
                clipped_adamw_step(vars, &grads, m, v, updates, &opts.optimiser)?;
            }
        }
        let m = PpoMetrics {
            iteration: it + 1,
            reward: raw.iter().sum::<f64>() / raw.len() as f64,
            kl: kl_sum / rolls.len() as f64,
            kl_coef: beta,
            entropy: ent,
            clip_fraction: clipped,
            policy_loss: pl,
            value_loss: vl,
            elapsed_s: began.elapsed().as_secs_f64(),
        };
        if let Some(path) = &opts.metrics {
            let line = json!({"iteration": m.iteration, "reward": m.reward, "kl": m.kl, "kl_coef": m.kl_coef,
                "entropy": m.entropy, "clip_fraction": m.clip_fraction, "policy_loss": m.policy_loss,
                "value_loss": m.value_loss, "elapsed_s": m.elapsed_s});
            append_jsonl(path, &line)?;
        }
        on_iteration(&m);
        log.push(m);
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_padded_batch_scores_each_rollout_as_if_alone() {
        let spec = crate::tiny::TinySpec {
            hidden_size: 32,
            intermediate_size: 48,
            heads: 4,
            kv_heads: 2,
            vocab: 300,
            ..crate::tiny::TinySpec::default()
        };
        let ck = crate::tiny::tiny(&spec, &crate::tiny::sample_corpus()).expect("tiny model");
        let rolls = vec![
            Rollout { ids: vec![5, 9, 11, 40, 41, 42], prompt_len: 3 },
            Rollout { ids: vec![7, 40, 41, 42], prompt_len: 1 },
            Rollout { ids: vec![1, 2, 3, 4, 5, 6, 50, 51, 52], prompt_len: 6 },
        ];
        let max_diff = |a: Tensor, b: Tensor| -> f32 {
            (a - b).and_then(|d| d.abs()).and_then(|d| d.max_all()).and_then(|d| d.to_scalar::<f32>()).expect("diff")
        };
        let (batched, ent) = response_logps(&ck.model, None, &rolls, 3).expect("batched");
        for (i, r) in rolls.iter().enumerate() {
            let (alone, ent1) = response_logps(&ck.model, None, std::slice::from_ref(r), 3).expect("alone");
            let row = |t: &Tensor, j: usize| t.get(j).expect("row");
            assert!(max_diff(row(&batched, i), row(&alone, 0)) < 1e-5, "rollout {i}");
            assert!(max_diff(row(&ent, i), row(&ent1, 0)) < 1e-5, "rollout {i} entropy");
        }
    }
}
