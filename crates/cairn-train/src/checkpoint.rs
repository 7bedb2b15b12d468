//! Hugging Face model folders: `config.json`, `model.safetensors` (or shards listed in
//! `model.safetensors.index.json`) and `tokenizer.json`, read and written in the layout
//! transformers uses, so a folder round-trips through both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{Value, json};
use tokenizers::Tokenizer;

use crate::config::ModelConfig;
use crate::error::{Result, TrainError};
use crate::model::{Model, Params, expected_shapes};

/// A model with its tokenizer.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The decoder.
    pub model: Model,
    /// `tokenizer.json`, kept as JSON so edits (added terms) keep every other field.
    pub tokenizer_json: Value,
}

impl Checkpoint {
    /// Loads a folder onto the CPU in `dtype`.
    pub fn load(dir: &Path, dtype: DType) -> Result<Checkpoint> {
        let config = ModelConfig::load(&dir.join("config.json"))?;
        let device = Device::Cpu;
        let mut params = Params::new();
        for file in weight_files(dir)? {
            let tensors = candle_core::safetensors::load(&file, &device)
                .map_err(|e| TrainError::Model(format!("{}: {e}", file.display())))?;
            params.extend(tensors);
        }
        if config.tie_word_embeddings {
            params.remove("lm_head.weight");
        }
        let tok_path = dir.join("tokenizer.json");
        let text = std::fs::read_to_string(&tok_path).map_err(TrainError::io(&tok_path))?;
        let tokenizer_json: Value = serde_json::from_str(&text).map_err(TrainError::tokenizer)?;
        let model = Model::from_params(config, params, &device, dtype)?;
        let ck = Checkpoint { model, tokenizer_json };
        ck.tokenizer()?;
        tracing::info!(dir = %dir.display(), params = ck.model.config.parameter_count(), "loaded checkpoint");
        Ok(ck)
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        let text = serde_json::to_string(&self.tokenizer_json).map_err(TrainError::tokenizer)?;
        text.parse::<Tokenizer>().map_err(TrainError::tokenizer)
    }

    /// Writes the folder (weights in F32, one `model.safetensors`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_as(dir, DType::F32)
    }

    /// Writes the folder with weights in `dtype` (F32 or BF16).
    pub fn save_as(&self, dir: &Path, dtype: DType) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
        let c = &self.model.config;
        let mut tensors = std::collections::HashMap::new();
        for (name, _) in expected_shapes(c) {
            let t = self.model.params.get(&name).ok_or_else(|| TrainError::Model(format!("missing weight {name}")))?;
            tensors.insert(name, t.detach().to_dtype(dtype)?);
        }
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
        let mut config = c.to_json();
        config["torch_dtype"] = json!(if dtype == DType::BF16 { "bfloat16" } else { "float32" });
        write_json(&dir.join("config.json"), &config)?;
        write_json(&dir.join("tokenizer.json"), &self.tokenizer_json)?;
        let eos = c.eos_token_id.and_then(|id| self.token_text(id));
        let mut tc = json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": c.max_position_embeddings,
            "clean_up_tokenization_spaces": false,
        });
        if let Some(eos) = eos {
            tc["eos_token"] = json!(eos);
            tc["pad_token"] = json!(eos);
        }
        write_json(&dir.join("tokenizer_config.json"), &tc)?;
        Ok(())
    }

    /// The text of token `id`, from the vocabulary or the added tokens.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.tokenizer().ok()?.id_to_token(id)
    }
}

/// Weight files of a folder: the shards of an index, else `model.safetensors`.
fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(TrainError::io(&index))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| TrainError::Config { path: index.clone(), detail: e.to_string() })?;
        let map = v
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| TrainError::Config { path: index.clone(), detail: "no weight_map".into() })?;
        let mut files: Vec<PathBuf> = map.values().filter_map(Value::as_str).map(|f| dir.join(f)).collect();
        files.sort();
        files.dedup();
        return Ok(files);
    }
    let single = dir.join("model.safetensors");
    if !single.exists() {
        return Err(TrainError::Io {
            path: single,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no model.safetensors"),
        });
    }
    Ok(vec![single])
}

pub(crate) fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| TrainError::Invalid(e.to_string()))?;
    std::fs::write(path, text).map_err(TrainError::io(path))
}

/// All weights as F32 tensors detached from any graph, for comparisons and export.
pub fn detached(params: &Params) -> Result<BTreeMap<String, Tensor>> {
    params.iter().map(|(k, v)| Ok((k.clone(), v.detach().to_dtype(DType::F32)?))).collect()
}
