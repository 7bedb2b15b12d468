//! Supervised fine-tuning objectives: LoRA over a frozen base (the usual case), and full
//! training of every weight (for tiny models and gradient checks).

use candle_core::{Tensor, Var};

use crate::data::Batch;
use crate::error::Result;
use crate::lora::Lora;
use crate::model::Model;
use crate::rng::Rng;
use crate::trainer::SequenceObjective;

/// LoRA SFT: only the adapter trains; the loss covers the learned (answer) tokens.
#[derive(Debug)]
pub struct LoraSft<'a> {
    /// Frozen base.
    pub model: &'a Model,
    /// The adapter being trained.
    pub lora: &'a Lora,
}

impl SequenceObjective for LoraSft<'_> {
    fn vars(&self) -> Vec<(String, Var)> {
        self.lora.vars()
    }

    fn loss(&self, batch: &Batch, rng: &mut Rng) -> Result<Tensor> {
        let hidden = self.model.hidden(&batch.inputs, Some(self.lora), Some(rng))?;
        self.model.learned_cross_entropy(&hidden, &batch.targets, &batch.mask)
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

impl SequenceObjective for FullSft<'_> {
    fn vars(&self) -> Vec<(String, Var)> {
        self.vars.clone()
    }

    fn loss(&self, batch: &Batch, _rng: &mut Rng) -> Result<Tensor> {
        let hidden = self.model.hidden(&batch.inputs, None, None)?;
        self.model.learned_cross_entropy(&hidden, &batch.targets, &batch.mask)
    }
}

/// Trainable share of a LoRA run: adapter parameters over base plus adapter.
pub fn trainable_share(model: &Model, lora: &Lora) -> f64 {
    let t = lora.parameter_count() as f64;
    t / (model.config.parameter_count() as f64 + t)
}

/// Adapter parameters LoRA adds to a model of shape `config` (no weights needed), for
/// reporting the trainable share of realistic configurations.
pub fn lora_parameter_count(config: &crate::ModelConfig, lora: &crate::LoraConfig) -> usize {
    let (h, i) = (config.hidden_size, config.intermediate_size);
    let (q, kv) = (config.num_attention_heads * config.head_dim, config.num_key_value_heads * config.head_dim);
    let per_layer: usize = lora
        .target_modules
        .iter()
        .map(|m| {
            let (inp, out) = match m.as_str() {
                "q_proj" => (h, q),
                "k_proj" | "v_proj" => (h, kv),
                "o_proj" => (q, h),
                "gate_proj" | "up_proj" => (h, i),
                "down_proj" => (i, h),
                _ => (0, 0),
            };
            lora.rank * (inp + out)
        })
        .sum();
    per_layer * config.num_hidden_layers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_realistic_configuration_trains_about_a_tenth_of_a_percent() {
        // Qwen2.5-0.5B's shape with the seed's LoRA (r = 8 on q_proj and v_proj).
        let config = crate::ModelConfig::from_json(&serde_json::json!({"model_type": "qwen2", "hidden_size": 896,
            "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
            "vocab_size": 151936, "tie_word_embeddings": true}))
        .unwrap();
        let lora = crate::LoraConfig::default();
        let n = lora_parameter_count(&config, &lora);
        assert_eq!(n, 24 * 8 * ((896 + 896) + (896 + 128)));
        let share = n as f64 / (config.parameter_count() + n) as f64;
        assert!((0.0009..0.0013).contains(&share), "{share}");
        assert!((config.parameter_count() as f64 - 494e6).abs() < 2e6, "{}", config.parameter_count());
    }
}
