//! Direct preference optimisation (the seed's §5.2), TRL's sigmoid loss: with policy and
//! reference log-probabilities of the chosen and rejected responses,
//! `loss = −log σ(β·((π_c − ref_c) − (π_r − ref_r)))`. The reference is a frozen model; with
//! LoRA it is the base with the adapter off, so no second copy is held.

use candle_core::{Tensor, Var};

use crate::data::{Example, batch};
use crate::error::Result;
use crate::lora::Lora;
use crate::model::Model;
use crate::prefs::Pair;
use crate::reward::softplus;
use crate::rng::Rng;
use crate::trainer::{Loss, Objective};

/// Per-batch DPO figures, named as TRL logs them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpoFigures {
    /// Mean `β(π_c − ref_c)`.
    pub chosen_reward: f64,
    /// Mean `β(π_r − ref_r)`.
    pub rejected_reward: f64,
    /// Mean difference of the two.
    pub margin: f64,
    /// Share of pairs with the chosen reward higher.
    pub accuracy: f64,
}

/// The loss (mean over the batch) and its figures, from `[n]` log-probability sums.
pub fn dpo_loss(pc: &Tensor, pr: &Tensor, rc: &Tensor, rr: &Tensor, beta: f64) -> Result<(Tensor, DpoFigures)> {
    let chosen = ((pc - rc)? * beta)?;
    let rejected = ((pr - rr)? * beta)?;
    let logits = (&chosen - &rejected)?;
    let loss = softplus(&logits.neg()?)?.mean_all()?;
    let (c, r) = (chosen.to_vec1::<f32>()?, rejected.to_vec1::<f32>()?);
    let n = c.len().max(1) as f64;
    let figures = DpoFigures {
        chosen_reward: c.iter().map(|x| *x as f64).sum::<f64>() / n,
        rejected_reward: r.iter().map(|x| *x as f64).sum::<f64>() / n,
        margin: c.iter().zip(&r).map(|(a, b)| (a - b) as f64).sum::<f64>() / n,
        accuracy: c.iter().zip(&r).filter(|(a, b)| a > b).count() as f64 / n,
    };
    Ok((loss, figures))
}

/// DPO over a LoRA adapter: the policy is base + adapter, the reference the base alone.
#[derive(Debug)]
pub struct Dpo<'a> {
    /// Frozen base (and reference).
    pub model: &'a Model,
    /// The adapter being trained.
    pub lora: &'a Lora,
    /// Strength of the implicit KL constraint (TRL's default 0.1).
    pub beta: f64,
}

impl Dpo<'_> {
    /// Log-probability sums of each pair's chosen and rejected responses under the policy
    /// (`adapter` on) or the reference (off): `([n], [n])`.
    pub fn logps(&self, items: &[&Pair], adapter: bool, dropout: Option<&mut Rng>) -> Result<(Tensor, Tensor)> {
        let both: Vec<&Example> = items.iter().map(|p| &p.chosen).chain(items.iter().map(|p| &p.rejected)).collect();
        let b = batch(&both, 0, &self.model.device)?;
        let hidden = self.model.hidden(&b.inputs, adapter.then_some(self.lora), dropout)?;
        let lp = self.model.learned_sequence_logps(&hidden, &b.targets, &b.mask)?;
        let n = items.len();
        Ok((lp.narrow(0, 0, n)?, lp.narrow(0, n, n)?))
    }

    /// Figures over `pairs` without training (for before/after reports).
    pub fn evaluate(&self, pairs: &[Pair], chunk: usize) -> Result<DpoFigures> {
        // `chunk` pairs at a time: all pairs in one batch held every sequence's activations
        // at once (four pairs of 1,200-token answer-stage prompts took more than 24 GB).
        let (mut pc, mut pr, mut rc, mut rr) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for part in pairs.chunks(chunk.max(1)) {
            let items: Vec<&Pair> = part.iter().collect();
            let (c, r) = self.logps(&items, true, None)?;
            pc.push(c.detach());
            pr.push(r.detach());
            let (c, r) = self.logps(&items, false, None)?;
            rc.push(c.detach());
            rr.push(r.detach());
        }
        let cat = |v: Vec<Tensor>| Tensor::cat(&v, 0);
        Ok(dpo_loss(&cat(pc)?, &cat(pr)?, &cat(rc)?, &cat(rr)?, self.beta)?.1)
    }
}

impl Objective for Dpo<'_> {
    type Item = Pair;

    fn vars(&self) -> Vec<(String, Var)> {
        self.lora.vars()
    }

    fn step_loss(&self, items: &[&Pair], rng: &mut Rng) -> Result<Loss> {
        let (pc, pr) = self.logps(items, true, Some(rng))?;
        let (rc, rr) = self.logps(items, false, None)?;
        let (loss, f) = dpo_loss(&pc, &pr, &rc.detach(), &rr.detach(), self.beta)?;
        let tokens = items.iter().map(|p| p.chosen.ids.len() + p.rejected.ids.len()).sum();
        let extra = vec![
            ("rewards/chosen", f.chosen_reward),
            ("rewards/rejected", f.rejected_reward),
            ("rewards/margins", f.margin),
            ("rewards/accuracies", f.accuracy),
        ];
        Ok(Loss { loss, tokens, extra })
    }
}
