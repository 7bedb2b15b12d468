//! Supervised fine-tuning objectives: LoRA over a frozen base (the usual case), and full
//! training of every weight (for tiny models and gradient checks).

use candle_core::{Tensor, Var};

use crate::data::Batch;
use crate::error::Result;
use crate::lora::Lora;
use crate::model::{Model, masked_cross_entropy};
use crate::rng::Rng;
use crate::trainer::Objective;

/// LoRA SFT: only the adapter trains; the loss covers the learned (answer) tokens.
#[derive(Debug)]
pub struct LoraSft<'a> {
    /// Frozen base.
    pub model: &'a Model,
    /// The adapter being trained.
    pub lora: &'a Lora,
}

impl Objective for LoraSft<'_> {
    fn vars(&self) -> Vec<(String, Var)> {
        self.lora.vars()
    }

    fn loss(&self, batch: &Batch, rng: &mut Rng) -> Result<Tensor> {
        let logits = self.model.forward(&batch.inputs, Some(self.lora), Some(rng))?;
        masked_cross_entropy(&logits, &batch.targets, &batch.mask)
    }
}

/// Makes every weight of `model` a variable and returns them by name (sorted).
pub fn make_trainable(model: &mut Model) -> Result<Vec<(String, Var)>> {
    let mut names: Vec<String> = model.params.keys().cloned().collect();
    names.sort();
    let mut vars = Vec::with_capacity(names.len());
    for name in names {
        let var = Var::from_tensor(&model.params[&name].detach())?;
        model.params.insert(name.clone(), var.as_tensor().clone());
        vars.push((name, var));
    }
    Ok(vars)
}

/// Full training: every weight is a variable.
#[derive(Debug)]
pub struct FullSft<'a> {
    /// The model, after [`make_trainable`].
    pub model: &'a Model,
    /// Its variables.
    pub vars: Vec<(String, Var)>,
}

impl Objective for FullSft<'_> {
    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&self, batch: &Batch, _rng: &mut Rng) -> Result<Tensor> {
        let logits = self.model.forward(&batch.inputs, None, None)?;
        masked_cross_entropy(&logits, &batch.targets, &batch.mask)
    }
}

/// Trainable share of a LoRA run: adapter parameters over base plus adapter.
pub fn trainable_share(model: &Model, lora: &Lora) -> f64 {
    let t = lora.parameter_count() as f64;
    t / (model.config.parameter_count() as f64 + t)
}
