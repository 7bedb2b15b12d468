//! LoRA: a low-rank update `W + (α/r)·B·A` on chosen projections, with `A` initialised as
//! PEFT does (Kaiming-uniform, bound `1/√in`) and `B` at zero, so training starts from the
//! base model exactly. Adapters are saved in PEFT's layout (`adapter_model.safetensors`
//! with `base_model.model.<module>.lora_A.weight`, and `adapter_config.json`), so PEFT can
//! load them, and they merge into the base weights for export.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Tensor, Var};
use serde_json::{Value, json};

use crate::error::{Result, TrainError};
use crate::model::{LINEAR_MODULES, Model, module_path};
use crate::rng::Rng;

/// Rank, scaling, dropout and targets of an adapter.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank `r`.
    pub rank: usize,
    /// Scaling numerator `α` (the update is scaled by `α/r`).
    pub alpha: f64,
    /// Dropout on the adapter's input while training.
    pub dropout: f64,
    /// Module names (`q_proj`, `v_proj`, …).
    pub target_modules: Vec<String>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig { rank: 8, alpha: 16.0, dropout: 0.05, target_modules: vec!["q_proj".into(), "v_proj".into()] }
    }
}

/// One adapted projection: `A [r, in]`, `B [out, r]`.
#[derive(Debug, Clone)]
pub struct LoraPair {
    /// Down-projection.
    pub a: Var,
    /// Up-projection.
    pub b: Var,
}

/// An adapter over a model.
#[derive(Debug, Clone)]
pub struct Lora {
    /// Its configuration.
    pub config: LoraConfig,
    /// By module path (`model.layers.0.self_attn.q_proj`).
    pub layers: BTreeMap<String, LoraPair>,
}

impl Lora {
    /// A fresh adapter for `model`: `A` random from `rng`, `B` zero.
    pub fn new(model: &Model, config: LoraConfig, rng: &mut Rng) -> Result<Lora> {
        if config.rank == 0 {
            return Err(TrainError::Invalid("LoRA rank must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&config.dropout) {
            return Err(TrainError::Invalid(format!("LoRA dropout {} is not in [0, 1)", config.dropout)));
        }
        if config.target_modules.is_empty() {
            return Err(TrainError::Invalid("LoRA needs at least one target module".into()));
        }
        for m in &config.target_modules {
            if !LINEAR_MODULES.contains(&m.as_str()) {
                return Err(TrainError::Invalid(format!("unknown LoRA target {m:?} (one of {LINEAR_MODULES:?})")));
            }
        }
        let mut layers = BTreeMap::new();
        for l in 0..model.config.num_hidden_layers {
            for m in &config.target_modules {
                let path = module_path(l, m);
                let w = model.params.get(&format!("{path}.weight")).ok_or_else(|| TrainError::Model(path.clone()))?;
                let (out, inp) = w.dims2()?;
                let a = Tensor::from_vec(
                    rng.uniforms(config.rank * inp, 1.0 / (inp as f64).sqrt()),
                    (config.rank, inp),
                    &model.device,
                )?
                .to_dtype(model.dtype)?;
                let b = Tensor::zeros((out, config.rank), model.dtype, &model.device)?;
                layers.insert(path, LoraPair { a: Var::from_tensor(&a)?, b: Var::from_tensor(&b)? });
            }
        }
        Ok(Lora { config, layers })
    }

    /// `α / r`.
    pub fn scale(&self) -> f64 {
        self.config.alpha / self.config.rank as f64
    }

    /// `y + (α/r)·dropout(x)·Aᵀ·Bᵀ` when `path` is adapted; `y` otherwise.
    pub fn apply(&self, path: &str, x: &Tensor, y: Tensor, rng: Option<&mut Rng>) -> Result<Tensor> {
        let Some(pair) = self.layers.get(path) else { return Ok(y) };
        let x = match rng {
            Some(rng) if self.config.dropout > 0.0 => {
                let p = self.config.dropout;
                let keep: Vec<f32> = (0..x.elem_count())
                    .map(|_| if rng.uniform() < p { 0.0 } else { (1.0 / (1.0 - p)) as f32 })
                    .collect();
                (x * Tensor::from_vec(keep, x.shape(), x.device())?.to_dtype(x.dtype())?)?
            }
            _ => x.clone(),
        };
        let update = x.matmul(&pair.a.as_tensor().t()?)?.matmul(&pair.b.as_tensor().t()?)?;
        Ok((y + (update * self.scale())?)?)
    }

    /// Trainable variables with their PEFT names.
    pub fn vars(&self) -> Vec<(String, Var)> {
        self.layers
            .iter()
            .flat_map(|(path, p)| {
                [
                    (format!("base_model.model.{path}.lora_A.weight"), p.a.clone()),
                    (format!("base_model.model.{path}.lora_B.weight"), p.b.clone()),
                ]
            })
            .collect()
    }

    /// Trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.layers.values().map(|p| p.a.elem_count() + p.b.elem_count()).sum()
    }

    /// Writes `adapter_model.safetensors` and `adapter_config.json` into `dir`.
    pub fn save_peft(&self, dir: &Path, base_model: &str) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
        let tensors: std::collections::HashMap<String, Tensor> = self
            .vars()
            .into_iter()
            .map(|(n, v)| v.as_tensor().to_dtype(DType::F32).map(|t| (n, t)))
            .collect::<candle_core::Result<_>>()?;
        candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors"))?;
        let config = json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model,
            "r": self.config.rank,
            "lora_alpha": self.config.alpha,
            "lora_dropout": self.config.dropout,
            "target_modules": self.config.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "use_rslora": false,
            "use_dora": false,
            "modules_to_save": null,
        });
        let path = dir.join("adapter_config.json");
        std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap_or_default()).map_err(TrainError::io(&path))
    }

    /// Reads an adapter that [`Lora::save_peft`] (or PEFT) wrote, for `model`.
    pub fn load_peft(dir: &Path, model: &Model) -> Result<Lora> {
        let path = dir.join("adapter_config.json");
        let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| TrainError::Config { path: path.clone(), detail: e.to_string() })?;
        let bad = |detail: &str| TrainError::Config { path: path.clone(), detail: detail.to_owned() };
        if v.get("peft_type").and_then(Value::as_str) != Some("LORA") {
            return Err(bad("peft_type is not LORA"));
        }
        let target_modules = match v.get("target_modules") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => return Err(bad("no target_modules")),
        };
        let config = LoraConfig {
            rank: v.get("r").and_then(Value::as_u64).ok_or_else(|| bad("no r"))? as usize,
            alpha: v.get("lora_alpha").and_then(Value::as_f64).ok_or_else(|| bad("no lora_alpha"))?,
            dropout: v.get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0),
            target_modules,
        };
        let weights = candle_core::safetensors::load(dir.join("adapter_model.safetensors"), &model.device)?;
        let lora = Lora::new(model, config, &mut Rng::new(0))?;
        for (name, var) in lora.vars() {
            let t = weights.get(&name).ok_or_else(|| TrainError::Model(format!("adapter lacks {name}")))?;
            if t.dims() != var.dims() {
                return Err(TrainError::Model(format!("{name}: shape {:?}, expected {:?}", t.dims(), var.dims())));
            }
            var.set(&t.to_dtype(model.dtype)?)?;
        }
        Ok(lora)
    }

    /// Adds each update into its base weight: `W ← W + (α/r)·B·A`.
    pub fn merge_into(&self, model: &mut Model) -> Result<()> {
        for (path, pair) in &self.layers {
            let name = format!("{path}.weight");
            let w = model.params.get(&name).ok_or_else(|| TrainError::Model(name.clone()))?;
            let delta = (pair.b.as_tensor().matmul(pair.a.as_tensor())? * self.scale())?;
            let merged = (w.detach() + delta.detach())?;
            model.params.insert(name, merged);
        }
        Ok(())
    }
}
