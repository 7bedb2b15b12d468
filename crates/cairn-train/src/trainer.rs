//! The training loop: AdamW (PyTorch's decoupled weight decay), constant, linear or
//! cosine schedules with warm-up, gradient accumulation, global-norm clipping, seeded data
//! order and dropout, checkpoints that resume bit-for-bit, and a JSONL metrics log.
//!
//! What is trained is an [`Objective`]: it names its variables and computes a batch's loss.
//! The loop owns everything else, so SFT with LoRA and vocabulary extension share it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Tensor, Var};
use serde_json::json;

use crate::data::{Batch, Example, batch};
use crate::error::{Result, TrainError};
use crate::rng::Rng;

/// What a run trains. Variables need stable names: they key checkpoints.
pub trait Objective {
    /// One training example (an SFT sequence, a preference pair, …).
    type Item;
    /// The variables to update.
    fn vars(&self) -> Vec<(String, Var)>;
    /// Mean loss over `items`; `rng` drives dropout.
    fn step_loss(&self, items: &[&Self::Item], rng: &mut Rng) -> Result<Loss>;
}

/// A micro-batch's loss, with what the step log should show beside it.
#[derive(Debug, Clone)]
pub struct Loss {
    /// Scalar loss (a graph to differentiate).
    pub loss: Tensor,
    /// Tokens the loss covers.
    pub tokens: usize,
    /// Further figures (DPO's reward margins, say), averaged over micro-batches.
    pub extra: Vec<(&'static str, f64)>,
}

/// Objectives over token sequences ([`Example`]s): batch with `pad`, compute the loss.
pub trait SequenceObjective {
    /// The variables to update.
    fn vars(&self) -> Vec<(String, Var)>;
    /// Padding token.
    fn pad(&self) -> u32 {
        0
    }
    /// Mean loss of a padded batch.
    fn loss(&self, batch: &Batch, rng: &mut Rng) -> Result<Tensor>;
}

impl<T: SequenceObjective> Objective for T {
    type Item = Example;

    fn vars(&self) -> Vec<(String, Var)> {
        SequenceObjective::vars(self)
    }

    fn step_loss(&self, items: &[&Example], rng: &mut Rng) -> Result<Loss> {
        let device =
            SequenceObjective::vars(self).first().map(|(_, v)| v.device().clone()).unwrap_or(candle_core::Device::Cpu);
        let b = batch(items, self.pad(), &device)?;
        Ok(Loss { loss: self.loss(&b, rng)?, tokens: b.tokens, extra: Vec::new() })
    }
}

/// Learning-rate shape after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// Flat.
    Constant,
    /// Straight down to zero at the last step.
    Linear,
    /// Half a cosine down to zero.
    Cosine,
}

impl std::str::FromStr for Schedule {
    type Err = TrainError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "linear" => Ok(Schedule::Linear),
            "cosine" => Ok(Schedule::Cosine),
            other => Err(TrainError::Invalid(format!("unknown schedule {other:?} (constant, linear, cosine)"))),
        }
    }
}

/// Options of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// Optimiser steps.
    pub steps: usize,
    /// Examples per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Shape after warm-up.
    pub schedule: Schedule,
    /// Steps of linear warm-up.
    pub warmup: usize,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this.
    pub max_grad_norm: Option<f64>,
    /// Adam β₁, β₂, ε.
    pub betas: (f64, f64, f64),
    /// Seed of data order and dropout.
    pub seed: u64,
    /// Where checkpoints go (and resume from).
    pub checkpoint_dir: Option<PathBuf>,
    /// Steps between checkpoints (0: only at the end).
    pub checkpoint_every: usize,
    /// Continue from the checkpoint in `checkpoint_dir` if there is one.
    pub resume: bool,
    /// JSONL metrics log (appended).
    pub metrics: Option<PathBuf>,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            steps: 100,
            batch_size: 4,
            grad_accum: 1,
            lr: 1e-3,
            schedule: Schedule::Cosine,
            warmup: 0,
            weight_decay: 0.0,
            max_grad_norm: Some(1.0),
            betas: (0.9, 0.999, 1e-8),
            seed: 0,
            checkpoint_dir: None,
            checkpoint_every: 0,
            resume: false,
            metrics: None,
        }
    }
}

impl TrainOptions {
    /// Learning rate at step `s` (from 0).
    pub fn lr_at(&self, s: usize) -> f64 {
        if s < self.warmup {
            return self.lr * (s + 1) as f64 / self.warmup as f64;
        }
        let span = self.steps.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((s - self.warmup) as f64 / span).min(1.0);
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Linear => self.lr * (1.0 - progress),
            Schedule::Cosine => self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

/// One step's figures (also one line of the metrics log).
#[derive(Debug, Clone, PartialEq)]
pub struct StepMetrics {
    /// Steps done (from 1).
    pub step: usize,
    /// Of how many.
    pub of: usize,
    /// Mean loss over the step's micro-batches.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Learned tokens in the step.
    pub tokens: usize,
    /// Seconds since the run (or its resumption) began.
    pub elapsed_s: f64,
    /// The objective's own figures.
    pub extra: Vec<(String, f64)>,
}

/// Summary of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// Steps done in total.
    pub steps: usize,
    /// Step the run resumed from.
    pub resumed_from: Option<usize>,
    /// Loss of the first step of this invocation.
    pub first_loss: f64,
    /// Loss of the last step.
    pub last_loss: f64,
    /// Learned tokens processed in this invocation.
    pub tokens: usize,
    /// Wall time of this invocation.
    pub seconds: f64,
}

struct Adam {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

/// Trains `objective` on `data`, calling `on_step` after each step.
pub fn train<O: Objective + ?Sized>(
    objective: &O,
    data: &[O::Item],
    opts: &TrainOptions,
    on_step: &mut dyn FnMut(&StepMetrics),
) -> Result<TrainReport> {
    if data.is_empty() || opts.batch_size == 0 || opts.grad_accum == 0 {
        return Err(TrainError::Invalid("training needs data, a batch size and at least one micro-batch".into()));
    }
    let vars = objective.vars();
    let mut adam = Adam {
        m: vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<_>>()?,
        v: vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<_>>()?,
    };
    let mut rng = Rng::new(opts.seed ^ 0x5EED);
    let mut start = 0;
    if opts.resume
        && let Some(dir) = &opts.checkpoint_dir
        && dir.join("trainer.json").exists()
    {
        let (step, state) = load_state(dir, &vars, &mut adam)?;
        start = step;
        rng = Rng::new(state);
        tracing::info!(step, dir = %dir.display(), "resumed training");
    }
    let per_epoch = data.len().div_ceil(opts.batch_size);
    // The data order of the current epoch (epochs only move forward).
    let mut order: (usize, Vec<usize>) = (usize::MAX, Vec::new());
    let began = Instant::now();
    let mut report = TrainReport {
        steps: start,
        resumed_from: (start > 0).then_some(start),
        first_loss: f64::NAN,
        last_loss: f64::NAN,
        tokens: 0,
        seconds: 0.0,
    };
    for step in start..opts.steps {
        let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
        let (mut loss_sum, mut tokens) = (0.0, 0);
        let mut extra: Vec<(String, f64)> = Vec::new();
        for micro in 0..opts.grad_accum {
            let index = step * opts.grad_accum + micro;
            let (epoch, within) = (index / per_epoch, index % per_epoch);
            if order.0 != epoch {
                let mut o: Vec<usize> = (0..data.len()).collect();
                Rng::new(opts.seed.wrapping_add(epoch as u64).wrapping_mul(0x2545_F491_4F6C_DD1D)).shuffle(&mut o);
                order = (epoch, o);
            }
            let picked: Vec<&O::Item> =
                order.1.iter().skip(within * opts.batch_size).take(opts.batch_size).map(|&i| &data[i]).collect();
            let Loss { loss, tokens: n, extra: figures } = objective.step_loss(&picked, &mut rng)?;
            loss_sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            tokens += n;
            for (k, v) in figures {
                match extra.iter_mut().find(|(name, _)| name == k) {
                    Some((_, sum)) => *sum += v / opts.grad_accum as f64,
                    None => extra.push((k.to_owned(), v / opts.grad_accum as f64)),
                }
            }
            let store = (loss / opts.grad_accum as f64)?.backward()?;
            for (g, (_, var)) in grads.iter_mut().zip(&vars) {
                if let Some(d) = store.get(var.as_tensor()) {
                    *g = Some(match g.take() {
                        Some(acc) => (acc + d)?,
                        None => d.clone(),
                    });
                }
            }
        }
        let mut sq = 0.0;
        for g in grads.iter().flatten() {
            sq += g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        }
        let grad_norm = sq.sqrt();
        let clip = clip_factor(grad_norm, opts.max_grad_norm);
        let lr = opts.lr_at(step);
        let grads: Vec<Option<Tensor>> =
            grads.into_iter().map(|g| g.map(|g| g * clip).transpose()).collect::<candle_core::Result<_>>()?;
        adamw_step(&vars, &grads, &mut adam.m, &mut adam.v, step + 1, lr, opts)?;
        let loss = loss_sum / opts.grad_accum as f64;
        let metrics = StepMetrics {
            step: step + 1,
            of: opts.steps,
            loss,
            lr,
            grad_norm,
            tokens,
            elapsed_s: began.elapsed().as_secs_f64(),
            extra,
        };
        if report.first_loss.is_nan() {
            report.first_loss = loss;
        }
        report.last_loss = loss;
        report.steps = step + 1;
        report.tokens += tokens;
        if let Some(path) = &opts.metrics {
            append_metrics(path, &metrics)?;
        }
        on_step(&metrics);
        let due = opts.checkpoint_every > 0 && (step + 1) % opts.checkpoint_every == 0;
        if let Some(dir) = &opts.checkpoint_dir
            && (due || step + 1 == opts.steps)
        {
            save_state(dir, step + 1, rng.state(), &vars, &adam)?;
        }
    }
    report.seconds = began.elapsed().as_secs_f64();
    Ok(report)
}

/// One AdamW update (PyTorch's semantics: decoupled weight decay, bias-corrected moments)
/// of `vars` with `grads` at step `t` (from 1). Variables without a gradient are left alone.
pub fn adamw_step(
    vars: &[(String, Var)],
    grads: &[Option<Tensor>],
    m: &mut [Tensor],
    v: &mut [Tensor],
    t: usize,
    lr: f64,
    opts: &TrainOptions,
) -> Result<()> {
    let (b1, b2, eps) = opts.betas;
    let t = t as i32;
    for (i, (_, var)) in vars.iter().enumerate() {
        let Some(g) = &grads[i] else { continue };
        let p = var.as_tensor();
        let decayed = if opts.weight_decay > 0.0 { (p * (1.0 - lr * opts.weight_decay))? } else { p.clone() };
        m[i] = ((&m[i] * b1)? + (g * (1.0 - b1))?)?;
        v[i] = ((&v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
        let m_hat = (&m[i] / (1.0 - b1.powi(t)))?;
        let v_hat = (&v[i] / (1.0 - b2.powi(t)))?;
        let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
        var.set(&(decayed - (update * lr)?)?)?;
    }
    Ok(())
}

/// The factor that scales gradients of global norm `norm` down to `max`.
pub fn clip_factor(norm: f64, max: Option<f64>) -> f64 {
    match max {
        Some(max) if norm > max => max / (norm + 1e-6),
        _ => 1.0,
    }
}

fn append_metrics(path: &Path, m: &StepMetrics) -> Result<()> {
    let mut line = json!({"step": m.step, "loss": m.loss, "lr": m.lr, "grad_norm": m.grad_norm,
        "tokens": m.tokens, "elapsed_s": m.elapsed_s});
    for (k, v) in &m.extra {
        line[k.as_str()] = json!(v);
    }
    append_jsonl(path, &line)
}

/// Appends one line to a JSONL metrics log.
pub(crate) fn append_jsonl(path: &Path, line: &serde_json::Value) -> Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(TrainError::io(path))?;
    writeln!(f, "{line}").map_err(TrainError::io(path))
}

/// One AdamW step on `vars` from a backward pass, with the gradients clipped to
/// `opts.max_grad_norm` (their global norm) first (the RL loops' update).
pub(crate) fn clipped_adamw_step(
    vars: &[(String, Var)],
    grads: &candle_core::backprop::GradStore,
    m: &mut [Tensor],
    v: &mut [Tensor],
    t: usize,
    opts: &TrainOptions,
) -> Result<()> {
    let g: Vec<Option<Tensor>> = vars.iter().map(|(_, x)| grads.get(x.as_tensor()).cloned()).collect();
    let mut sq = 0.0;
    for t in g.iter().flatten() {
        sq += t.sqr()?.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    }
    let c = clip_factor(sq.sqrt(), opts.max_grad_norm);
    let g: Vec<Option<Tensor>> =
        g.into_iter().map(|x| x.map(|t| t * c).transpose()).collect::<candle_core::Result<_>>()?;
    adamw_step(vars, &g, m, v, t, opts.lr, opts)
}

fn save_state(dir: &Path, step: usize, rng: u64, vars: &[(String, Var)], adam: &Adam) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
    let mut tensors = std::collections::HashMap::new();
    for (i, (name, var)) in vars.iter().enumerate() {
        tensors.insert(format!("param.{name}"), var.as_tensor().detach());
        tensors.insert(format!("adam_m.{name}"), adam.m[i].clone());
        tensors.insert(format!("adam_v.{name}"), adam.v[i].clone());
    }
    // Write then rename, so a crash mid-save leaves the previous checkpoint intact.
    let tmp = dir.join("trainer.safetensors.tmp");
    candle_core::safetensors::save(&tensors, &tmp)?;
    let target = dir.join("trainer.safetensors");
    std::fs::rename(&tmp, &target).map_err(TrainError::io(&target))?;
    let meta = json!({"step": step, "rng": rng.to_string(), "vars": vars.len()});
    let tmp = dir.join("trainer.json.tmp");
    std::fs::write(&tmp, meta.to_string()).map_err(TrainError::io(&tmp))?;
    let target = dir.join("trainer.json");
    std::fs::rename(&tmp, &target).map_err(TrainError::io(&target))
}

fn load_state(dir: &Path, vars: &[(String, Var)], adam: &mut Adam) -> Result<(usize, u64)> {
    let path = dir.join("trainer.json");
    let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| TrainError::Invalid(format!("{}: {e}", path.display())))?;
    let step = meta
        .get("step")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| TrainError::Invalid("checkpoint has no step".into()))?;
    let rng = meta
        .get("rng")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| TrainError::Invalid("checkpoint has no generator state".into()))?;
    let tensors = candle_core::safetensors::load(dir.join("trainer.safetensors"), &candle_core::Device::Cpu)?;
    for (i, (name, var)) in vars.iter().enumerate() {
        let get = |k: String| {
            tensors
                .get(&k)
                .cloned()
                .ok_or_else(|| TrainError::Invalid(format!("checkpoint lacks {k} (a different run?)")))
        };
        let p = get(format!("param.{name}"))?;
        if p.dims() != var.dims() {
            return Err(TrainError::Invalid(format!(
                "checkpoint {name}: shape {:?}, expected {:?}",
                p.dims(),
                var.dims()
            )));
        }
        var.set(&p)?;
        adam.m[i] = get(format!("adam_m.{name}"))?;
        adam.v[i] = get(format!("adam_v.{name}"))?;
    }
    Ok((step as usize, rng))
}
