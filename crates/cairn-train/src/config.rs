//! `config.json` of a Hugging Face decoder: the subset of fields the Llama, Qwen2 and
//! Gemma 3 (text) architectures need, read leniently (transformers 5 moved `rope_theta` into
//! `rope_parameters`) and written back in the layout transformers expects.

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{Result, TrainError};

/// The decoder families this crate can load, train and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `LlamaForCausalLM`: no attention biases (unless `attention_bias`).
    Llama,
    /// `Qwen2ForCausalLM`: biases on the query, key and value projections.
    Qwen2,
    /// `Gemma3ForCausalLM` (`gemma3_text`): scaled embeddings, norms that scale by `1 + w`,
    /// query and key norms, norms after attention and after the MLP, a GELU-gated MLP, and
    /// sliding-window attention on most layers ([`Gemma3`]).
    Gemma3,
}

impl Arch {
    /// `model_type` in `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gemma3 => "gemma3_text",
        }
    }

    /// `general.architecture` in GGUF.
    pub fn gguf_name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gemma3 => "gemma3",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Arch::Llama => "LlamaForCausalLM",
            Arch::Qwen2 => "Qwen2ForCausalLM",
            Arch::Gemma3 => "Gemma3ForCausalLM",
        }
    }
}

/// What Gemma 3 adds to a decoder's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemma3 {
    /// Keys a sliding-window layer's query sees, itself included.
    pub sliding_window: usize,
    /// Every `pattern`-th layer attends globally; the others use the window (6 in every
    /// Gemma 3 model; llama.cpp assumes it).
    pub sliding_window_pattern: usize,
    /// RoPE base of the sliding-window layers (`rope_theta` is the global layers').
    pub rope_local_base_freq: f64,
    /// Queries are scaled by `query_pre_attn_scalar^-1/2` (the head width, except in 27B).
    pub query_pre_attn_scalar: f64,
}

impl Gemma3 {
    /// Whether layer `l` attends through the sliding window (every layer when the pattern is 0).
    pub fn is_sliding(&self, l: usize) -> bool {
        !(l + 1).is_multiple_of(self.sliding_window_pattern)
    }
}

/// Shape and hyper-parameters of a decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// Family.
    pub arch: Arch,
    /// Rows of the embedding matrix (may exceed the tokenizer's size, as in Qwen2).
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the gated MLP.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// Longest sequence.
    pub max_position_embeddings: usize,
    /// `lm_head` shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v.
    pub attention_bias: bool,
    /// Beginning-of-sequence token, if any.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token, if any.
    pub eos_token_id: Option<u32>,
    /// Gemma 3's extra shape; `Some` exactly when `arch` is [`Arch::Gemma3`].
    pub gemma3: Option<Gemma3>,
}

impl ModelConfig {
    /// Reads `config.json`.
    pub fn load(path: &Path) -> Result<ModelConfig> {
        let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| TrainError::Config { path: path.into(), detail: e.to_string() })?;
        ModelConfig::from_json(&value).map_err(|detail| TrainError::Config { path: path.into(), detail })
    }

    /// Parses the JSON of `config.json`.
    pub fn from_json(v: &Value) -> std::result::Result<ModelConfig, String> {
        let arch = match v.get("model_type").and_then(Value::as_str) {
            Some("llama") => Arch::Llama,
            Some("qwen2") => Arch::Qwen2,
            Some("gemma3_text") => Arch::Gemma3,
            Some(other) => return Err(format!("model_type {other:?} (supported: llama, qwen2, gemma3_text)")),
            None => return Err("no model_type".into()),
        };
        // Llama and Qwen2 gate with SiLU, Gemma 3 with tanh-approximated GELU.
        let (act_key, act) = match arch {
            Arch::Llama | Arch::Qwen2 => ("hidden_act", "silu"),
            Arch::Gemma3 => ("hidden_activation", "gelu_pytorch_tanh"),
        };
        if let Some(found) = v.get(act_key).and_then(Value::as_str)
            && found != act
        {
            return Err(format!("{act_key} {found:?} (only {act})"));
        }
        for k in ["final_logit_softcapping", "attn_logit_softcapping", "rope_scaling"] {
            if v.get(k).is_some_and(|x| !x.is_null()) {
                return Err(format!("{k} is set; Cairn's decoder implements neither soft-capping nor RoPE scaling"));
            }
        }
        // Bounds far above any real model keep the size arithmetic from overflowing.
        let usize_of = |k: &str| -> std::result::Result<usize, String> {
            match v.get(k).and_then(Value::as_u64) {
                Some(n) if n <= 1 << 24 => Ok(n as usize),
                Some(n) => Err(format!("{k} = {n} is implausibly large")),
                None => Err(format!("missing or invalid {k}")),
            }
        };
        let hidden_size = usize_of("hidden_size")?;
        let num_attention_heads = usize_of("num_attention_heads")?;
        let num_key_value_heads = usize_of("num_key_value_heads").unwrap_or(num_attention_heads);
        if num_attention_heads == 0 || num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(format!("{num_attention_heads} heads cannot share {num_key_value_heads} key/value heads"));
        }
        let head_dim = match v.get("head_dim").and_then(Value::as_u64) {
            Some(d) if d <= 1 << 16 => d as usize,
            Some(d) => return Err(format!("head_dim {d} is implausibly large")),
            None => hidden_size / num_attention_heads,
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(format!("head_dim {head_dim} must be even"));
        }
        let rope_theta = v
            .get("rope_theta")
            .and_then(Value::as_f64)
            .or_else(|| v.pointer("/rope_parameters/rope_theta").and_then(Value::as_f64))
            .unwrap_or(10_000.0);
        let token = |k: &str| match v.get(k) {
            Some(Value::Number(n)) => n.as_u64().map(|n| n as u32),
            Some(Value::Array(a)) => a.first().and_then(Value::as_u64).map(|n| n as u32),
            _ => None,
        };
        let gemma3 = match arch {
            Arch::Llama | Arch::Qwen2 => None,
            Arch::Gemma3 => Some(gemma3_of(v, head_dim)?),
        };
        Ok(ModelConfig {
            arch,
            vocab_size: usize_of("vocab_size")?,
            hidden_size,
            intermediate_size: usize_of("intermediate_size")?,
            num_hidden_layers: usize_of("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: v.get("rms_norm_eps").and_then(Value::as_f64).unwrap_or(1e-6),
            rope_theta,
            max_position_embeddings: usize_of("max_position_embeddings").unwrap_or(2048),
            tie_word_embeddings: v.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false),
            attention_bias: match arch {
                Arch::Qwen2 => true,
                Arch::Llama | Arch::Gemma3 => v.get("attention_bias").and_then(Value::as_bool).unwrap_or(false),
            },
            bos_token_id: token("bos_token_id"),
            eos_token_id: token("eos_token_id"),
            gemma3,
        })
    }

    /// The JSON transformers writes for this configuration.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "architectures": [self.arch.class()],
            "model_type": self.arch.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "torch_dtype": "float32",
            "initializer_range": 0.02,
            "use_cache": true,
        });
        match self.arch {
            Arch::Llama | Arch::Qwen2 => v["hidden_act"] = json!("silu"),
            Arch::Gemma3 => v["hidden_activation"] = json!("gelu_pytorch_tanh"),
        }
        if matches!(self.arch, Arch::Llama | Arch::Gemma3) {
            v["attention_bias"] = json!(self.attention_bias);
        }
        if self.arch == Arch::Llama {
            v["mlp_bias"] = json!(false);
        }
        if let Some(g) = &self.gemma3 {
            let layer_types: Vec<&str> = (0..self.num_hidden_layers)
                .map(|l| if g.is_sliding(l) { "sliding_attention" } else { "full_attention" })
                .collect();
            v["sliding_window"] = json!(g.sliding_window);
            v["sliding_window_pattern"] = json!(g.sliding_window_pattern);
            v["layer_types"] = json!(layer_types);
            v["rope_local_base_freq"] = json!(g.rope_local_base_freq);
            v["query_pre_attn_scalar"] = json!(g.query_pre_attn_scalar);
            v["final_logit_softcapping"] = Value::Null;
            v["attn_logit_softcapping"] = Value::Null;
            v["rope_scaling"] = Value::Null;
        }
        if let Some(b) = self.bos_token_id {
            v["bos_token_id"] = json!(b);
        }
        if let Some(e) = self.eos_token_id {
            v["eos_token_id"] = json!(e);
        }
        v
    }

    /// Parameters of the whole model (saturating, for absurd configurations).
    pub fn parameter_count(&self) -> usize {
        let n = |x: usize| x as u128;
        let (h, i, kv) = (n(self.hidden_size), n(self.intermediate_size), n(self.num_key_value_heads * self.head_dim));
        let q = n(self.num_attention_heads * self.head_dim);
        let bias = if self.attention_bias { q + 2 * kv } else { 0 };
        let norms = if self.gemma3.is_some() { 4 * h + 2 * n(self.head_dim) } else { 2 * h };
        let layer = h * q + 2 * h * kv + q * h + bias + 3 * h * i + norms;
        let head = if self.tie_word_embeddings { 0 } else { n(self.vocab_size) * h };
        let total = n(self.vocab_size) * h + n(self.num_hidden_layers) * layer + h + head;
        usize::try_from(total).unwrap_or(usize::MAX)
    }
}

/// Gemma 3's fields of `config.json`. The layer pattern comes from `sliding_window_pattern`,
/// or from `layer_types` (transformers 4.53 and later), which must then repeat one period.
fn gemma3_of(v: &Value, head_dim: usize) -> std::result::Result<Gemma3, String> {
    let window = match v.get("sliding_window").and_then(Value::as_u64) {
        Some(w) if (1..=1 << 24).contains(&w) => w as usize,
        Some(w) => return Err(format!("sliding_window {w} is out of range")),
        None => return Err("gemma3_text without sliding_window".into()),
    };
    let pattern = match (v.get("sliding_window_pattern").and_then(Value::as_u64), v.get("layer_types")) {
        (Some(p), _) if p <= 1 << 16 => p as usize,
        (Some(p), _) => return Err(format!("sliding_window_pattern {p} is out of range")),
        (None, Some(Value::Array(types))) => {
            let full: Vec<bool> = types.iter().map(|t| t.as_str() == Some("full_attention")).collect();
            let period = full.iter().position(|f| *f).map_or(0, |i| i + 1);
            if full.iter().enumerate().any(|(l, f)| *f != (period != 0 && (l + 1) % period == 0)) {
                return Err("layer_types do not repeat one sliding/full period".into());
            }
            period
        }
        (None, _) => 6,
    };
    Ok(Gemma3 {
        sliding_window: window,
        sliding_window_pattern: pattern,
        rope_local_base_freq: v.get("rope_local_base_freq").and_then(Value::as_f64).unwrap_or(10_000.0),
        query_pre_attn_scalar: v.get("query_pre_attn_scalar").and_then(Value::as_f64).unwrap_or(head_dim as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rope_theta_from_either_place_and_round_trips() {
        let base = json!({"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1_000_000.0}, "eos_token_id": [5, 6]});
        let c = ModelConfig::from_json(&base).unwrap();
        assert_eq!((c.arch, c.rope_theta, c.head_dim, c.eos_token_id), (Arch::Qwen2, 1e6, 16, Some(5)));
        assert!(c.attention_bias);
        assert_eq!(ModelConfig::from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn reads_gemma3_text_and_round_trips() {
        let v = json!({"model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048,
            "num_hidden_layers": 12, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
            "vocab_size": 262144, "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 512,
            "rope_theta": 1_000_000.0, "rope_local_base_freq": 10_000.0, "query_pre_attn_scalar": 256,
            "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention",
                "sliding_attention", "full_attention", "sliding_attention", "sliding_attention",
                "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
            "final_logit_softcapping": null, "rope_scaling": null});
        let c = ModelConfig::from_json(&v).unwrap();
        let g = c.gemma3.unwrap();
        assert_eq!((c.arch, g.sliding_window, g.sliding_window_pattern), (Arch::Gemma3, 512, 6));
        assert!(g.is_sliding(0) && !g.is_sliding(5) && g.is_sliding(6) && !g.is_sliding(11));
        assert_eq!(ModelConfig::from_json(&c.to_json()).unwrap(), c);
        let mut bad = v.clone();
        bad["final_logit_softcapping"] = json!(30.0);
        assert!(ModelConfig::from_json(&bad).unwrap_err().contains("soft-capping"));
        bad = v.clone();
        bad["layer_types"][0] = json!("full_attention");
        assert!(ModelConfig::from_json(&bad).unwrap_err().contains("period"));
        bad = v;
        bad["hidden_activation"] = json!("silu");
        assert!(ModelConfig::from_json(&bad).unwrap_err().contains("gelu_pytorch_tanh"));
    }

    #[test]
    fn rejects_what_it_cannot_run() {
        let mut v = json!({"model_type": "gpt2"});
        assert!(ModelConfig::from_json(&v).unwrap_err().contains("gpt2"));
        v = json!({"model_type": "llama", "hidden_size": 64, "intermediate_size": 1, "num_hidden_layers": 1,
            "num_attention_heads": 3, "num_key_value_heads": 2, "vocab_size": 3});
        assert!(ModelConfig::from_json(&v).unwrap_err().contains("cannot share"));
    }
}
