//! Export to GGUF for llama.cpp and Cairn's local backend: Hugging Face tensor names map to
//! GGUF's, the tokenizer (byte-level BPE, or SentencePiece as rebuilt by
//! [`crate::import::sentencepiece_json`]) goes into the metadata, and weight matrices are
//! stored as F32, Q8_0 or Q4_0.
//!
//! Llama's GGUF layout expects the query and key rows of each head interleaved (llama.cpp
//! applies RoPE to adjacent pairs), whereas Hugging Face rotates halves; so those two
//! matrices are permuted as llama.cpp's own converter does. Qwen2 GGUFs use the
//! rotate-half RoPE and need no permutation.

use std::path::Path;

use cairn_llm::gguf_file::{self, Meta, Quant};
use serde_json::Value;

use crate::checkpoint::Checkpoint;
use crate::config::{Arch, ModelConfig};
use crate::error::{Result, TrainError};
use crate::model::head_names;

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufExport {
    /// Tensors.
    pub tensors: usize,
    /// File size.
    pub bytes: u64,
    /// Tokens in the vocabulary (padded to the embedding rows).
    pub vocab: usize,
}

/// Writes `ck` to `out` as GGUF with its weight matrices in `quant`. With [`Quant::Q4_0`]
/// the embedding and output matrices stay at Q8_0 (llama.cpp's own 4-bit recipes keep them
/// at higher precision too).
pub fn to_gguf(ck: &Checkpoint, quant: Quant, out: &Path) -> Result<GgufExport> {
    let c = &ck.model.config;
    let mut metadata = model_metadata(c, quant);
    metadata.extend(tokenizer_metadata(&ck.tokenizer_json, c)?);
    let vocab = c.vocab_size;
    let mut tensors = Vec::new();
    let (embed, head) = head_names(c);
    let outer = if quant == Quant::Q4_0 { Quant::Q8_0 } else { quant };
    tensors.push(tensor(ck, embed, "token_embd.weight", outer, None)?);
    tensors.push(tensor(ck, "model.norm.weight", "output_norm.weight", Quant::F32, None)?);
    if head != embed {
        tensors.push(tensor(ck, head, "output.weight", outer, None)?);
    }
    let permute = c.arch == Arch::Llama;
    for l in 0..c.num_hidden_layers {
        let hf = |s: &str| format!("model.layers.{l}.{s}");
        let gg = |s: &str| format!("blk.{l}.{s}");
        if c.arch == Arch::Gemma3 {
            for (h, g) in GEMMA3_LAYER_NAMES {
                tensors.push(tensor(
                    ck,
                    &hf(h),
                    &gg(g),
                    if h.ends_with("norm.weight") { Quant::F32 } else { quant },
                    None,
                )?);
            }
            continue;
        }
        let q_heads = permute.then_some(c.num_attention_heads);
        let k_heads = permute.then_some(c.num_key_value_heads);
        tensors.push(tensor(ck, &hf("input_layernorm.weight"), &gg("attn_norm.weight"), Quant::F32, None)?);
        tensors.push(tensor(ck, &hf("post_attention_layernorm.weight"), &gg("ffn_norm.weight"), Quant::F32, None)?);
        tensors.push(tensor(ck, &hf("self_attn.q_proj.weight"), &gg("attn_q.weight"), quant, q_heads)?);
        tensors.push(tensor(ck, &hf("self_attn.k_proj.weight"), &gg("attn_k.weight"), quant, k_heads)?);
        tensors.push(tensor(ck, &hf("self_attn.v_proj.weight"), &gg("attn_v.weight"), quant, None)?);
        tensors.push(tensor(ck, &hf("self_attn.o_proj.weight"), &gg("attn_output.weight"), quant, None)?);
        if c.attention_bias {
            tensors.push(tensor(ck, &hf("self_attn.q_proj.bias"), &gg("attn_q.bias"), Quant::F32, q_heads)?);
            tensors.push(tensor(ck, &hf("self_attn.k_proj.bias"), &gg("attn_k.bias"), Quant::F32, k_heads)?);
            tensors.push(tensor(ck, &hf("self_attn.v_proj.bias"), &gg("attn_v.bias"), Quant::F32, None)?);
        }
        tensors.push(tensor(ck, &hf("mlp.gate_proj.weight"), &gg("ffn_gate.weight"), quant, None)?);
        tensors.push(tensor(ck, &hf("mlp.up_proj.weight"), &gg("ffn_up.weight"), quant, None)?);
        tensors.push(tensor(ck, &hf("mlp.down_proj.weight"), &gg("ffn_down.weight"), quant, None)?);
    }
    if c.arch == Arch::Gemma3 {
        // llama.cpp's converter stores Gemma's norm weights as `1 + w` and its graph
        // multiplies by them plainly.
        for t in &mut tensors {
            if t.name.ends_with("norm.weight") {
                t.data.iter_mut().for_each(|x| *x += 1.0);
            }
        }
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
    }
    let file = std::fs::File::create(out).map_err(TrainError::io(out))?;
    let mut w = std::io::BufWriter::new(file);
    gguf_file::write(&metadata, &tensors, &mut w).map_err(TrainError::io(out))?;
    drop(w);
    let bytes = std::fs::metadata(out).map_err(TrainError::io(out))?.len();
    tracing::info!(path = %out.display(), bytes, ?quant, "wrote GGUF");
    Ok(GgufExport { tensors: tensors.len(), bytes, vocab })
}

/// Gemma 3's per-layer weights: Hugging Face name → llama.cpp name (the converter's
/// `tensor_mapping`; note that Gemma's `post_attention_layernorm` follows attention, where
/// Llama's precedes the MLP).
pub(crate) const GEMMA3_LAYER_NAMES: [(&str, &str); 13] = [
    ("input_layernorm.weight", "attn_norm.weight"),
    ("self_attn.q_proj.weight", "attn_q.weight"),
    ("self_attn.k_proj.weight", "attn_k.weight"),
    ("self_attn.v_proj.weight", "attn_v.weight"),
    ("self_attn.q_norm.weight", "attn_q_norm.weight"),
    ("self_attn.k_norm.weight", "attn_k_norm.weight"),
    ("self_attn.o_proj.weight", "attn_output.weight"),
    ("post_attention_layernorm.weight", "post_attention_norm.weight"),
    ("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
    ("mlp.gate_proj.weight", "ffn_gate.weight"),
    ("mlp.up_proj.weight", "ffn_up.weight"),
    ("mlp.down_proj.weight", "ffn_down.weight"),
    ("post_feedforward_layernorm.weight", "post_ffw_norm.weight"),
];

fn model_metadata(c: &ModelConfig, quant: Quant) -> Vec<(String, Meta)> {
    let a = c.arch.gguf_name();
    let k = |s: &str| format!("{a}.{s}");
    let file_type = match quant {
        Quant::F32 => 0,
        Quant::Q8_0 => 7,
        Quant::Q4_0 => 2,
    };
    let mut out = vec![
        ("general.architecture".into(), Meta::Str(a.into())),
        ("general.name".into(), Meta::Str("cairn-export".into())),
        ("general.file_type".into(), Meta::U32(file_type)),
        (k("context_length"), Meta::U32(c.max_position_embeddings as u32)),
        (k("embedding_length"), Meta::U32(c.hidden_size as u32)),
        (k("block_count"), Meta::U32(c.num_hidden_layers as u32)),
        (k("feed_forward_length"), Meta::U32(c.intermediate_size as u32)),
        (k("attention.head_count"), Meta::U32(c.num_attention_heads as u32)),
        (k("attention.head_count_kv"), Meta::U32(c.num_key_value_heads as u32)),
        (k("attention.key_length"), Meta::U32(c.head_dim as u32)),
        (k("attention.value_length"), Meta::U32(c.head_dim as u32)),
        (k("attention.layer_norm_rms_epsilon"), Meta::F32(c.rms_norm_eps as f32)),
        (k("rope.freq_base"), Meta::F32(c.rope_theta as f32)),
        (k("rope.dimension_count"), Meta::U32(c.head_dim as u32)),
        (k("vocab_size"), Meta::U32(c.vocab_size as u32)),
    ];
    if let Some(g) = &c.gemma3 {
        if g.sliding_window_pattern != 6 || g.rope_local_base_freq != 10_000.0 {
            // Cairn's reader takes the pattern from the file; llama.cpp fixes both.
            tracing::warn!(
                pattern = g.sliding_window_pattern,
                base = g.rope_local_base_freq,
                "llama.cpp assumes Gemma 3's every-sixth-layer pattern and local RoPE base 10,000"
            );
        }
        out.push((k("attention.sliding_window"), Meta::U32(g.sliding_window as u32)));
        out.push((k("attention.sliding_window_pattern"), Meta::U32(g.sliding_window_pattern as u32)));
    }
    out
}

/// GGUF's tokenizer keys for a byte-level BPE `tokenizer.json`, padded to the model's rows.
fn tokenizer_metadata(tj: &Value, c: &ModelConfig) -> Result<Vec<(String, Meta)>> {
    let model = tj.get("model").ok_or_else(|| TrainError::Tokenizer("tokenizer.json has no model".into()))?;
    if model.get("type").and_then(Value::as_str) != Some("BPE") {
        return Err(TrainError::Tokenizer("GGUF export supports byte-level BPE tokenizers only".into()));
    }
    let mut tokens = vec![None::<(String, i32)>; c.vocab_size];
    let vocab = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| TrainError::Tokenizer("BPE model has no vocab".into()))?;
    let mut place = |id: u64, text: &str, kind: i32| -> Result<()> {
        let slot = tokens.get_mut(id as usize).ok_or_else(|| {
            TrainError::Tokenizer(format!("token {id} ({text:?}) is past the {} embedding rows", c.vocab_size))
        })?;
        *slot = Some((text.to_owned(), kind));
        Ok(())
    };
    for (text, id) in vocab {
        place(id.as_u64().unwrap_or(u64::MAX), text, 1)?;
    }
    for t in tj.get("added_tokens").and_then(Value::as_array).into_iter().flatten() {
        let (Some(id), Some(text)) = (t.get("id").and_then(Value::as_u64), t.get("content").and_then(Value::as_str))
        else {
            continue;
        };
        let special = t.get("special").and_then(Value::as_bool).unwrap_or(false);
        place(id, text, if special { 3 } else { 4 })?;
    }
    let (mut texts, mut types) = (Vec::with_capacity(tokens.len()), Vec::with_capacity(tokens.len()));
    for (i, t) in tokens.into_iter().enumerate() {
        let (text, kind) = t.unwrap_or_else(|| (format!("[PAD{i}]"), 5));
        texts.push(text);
        types.push(kind);
    }
    let merges: Vec<String> = model
        .get("merges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| match m {
            Value::String(s) => Some(s.clone()),
            Value::Array(pair) => Some(format!("{} {}", pair.first()?.as_str()?, pair.get(1)?.as_str()?)),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => None,
        })
        .collect();
    if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
        return sentencepiece_metadata(tj, texts, types, &merges, c);
    }
    let pre = match (tj.pointer("/pre_tokenizer/type").and_then(Value::as_str), c.arch) {
        (Some("ByteLevel"), _) => "gpt-2",
        (_, Arch::Qwen2) => "qwen2",
        (_, Arch::Llama | Arch::Gemma3) => "llama-bpe",
    };
    let mut out = vec![
        ("tokenizer.ggml.model".into(), Meta::Str("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Meta::Str(pre.into())),
        ("tokenizer.ggml.tokens".into(), Meta::Strs(texts)),
        ("tokenizer.ggml.token_type".into(), Meta::I32s(types)),
        ("tokenizer.ggml.merges".into(), Meta::Strs(merges)),
        ("tokenizer.ggml.add_bos_token".into(), Meta::Bool(false)),
        ("tokenizer.ggml.add_eos_token".into(), Meta::Bool(false)),
    ];
    if let Some(b) = c.bos_token_id {
        out.push(("tokenizer.ggml.bos_token_id".into(), Meta::U32(b)));
    }
    if let Some(e) = c.eos_token_id {
        out.push(("tokenizer.ggml.eos_token_id".into(), Meta::U32(e)));
        out.push(("tokenizer.ggml.padding_token_id".into(), Meta::U32(e)));
    }
    Ok(out)
}

/// SentencePiece metadata (`tokenizer.ggml.model` = `llama`) for a byte-fallback BPE
/// rebuilt from one: byte tokens typed as such, and scores that rank each token by the
/// first merge that makes it, so llama.cpp's highest-score-first joining picks what the
/// BPE merges pick.
fn sentencepiece_metadata(
    tj: &Value,
    texts: Vec<String>,
    mut types: Vec<i32>,
    merges: &[String],
    c: &ModelConfig,
) -> Result<Vec<(String, Meta)>> {
    let index: std::collections::HashMap<&str, usize> =
        texts.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    let mut scores = vec![0f32; texts.len()];
    let mut ranked = vec![false; texts.len()];
    for (rank, m) in merges.iter().enumerate() {
        let joined: String = m.split(' ').collect();
        if let Some(&id) = index.get(joined.as_str())
            && !ranked[id]
        {
            ranked[id] = true;
            scores[id] = -(rank as f32);
        }
    }
    for (i, text) in texts.iter().enumerate() {
        let byte = text.len() == 6 && text.starts_with("<0x") && text.ends_with('>');
        if types[i] == 1 && byte {
            types[i] = 6;
        } else if types[i] != 1 {
            scores[i] = -1000.0;
        } else if !ranked[i] && text.chars().count() > 1 {
            // Made by no merge: never produced by the BPE, so last for llama.cpp too.
            scores[i] = -(merges.len() as f32) - i as f32;
        }
    }
    let add_bos = tj.pointer("/post_processor/type").and_then(Value::as_str) == Some("TemplateProcessing");
    let space_prefix = tj.pointer("/normalizer/type").and_then(Value::as_str) == Some("Sequence");
    let unk = tj.pointer("/model/unk_token").and_then(Value::as_str).and_then(|u| index.get(u).copied());
    let mut out = vec![
        ("tokenizer.ggml.model".into(), Meta::Str("llama".into())),
        ("tokenizer.ggml.pre".into(), Meta::Str("default".into())),
        ("tokenizer.ggml.tokens".into(), Meta::Strs(texts)),
        ("tokenizer.ggml.scores".into(), Meta::F32s(scores)),
        ("tokenizer.ggml.token_type".into(), Meta::I32s(types)),
        ("tokenizer.ggml.add_bos_token".into(), Meta::Bool(add_bos)),
        ("tokenizer.ggml.add_eos_token".into(), Meta::Bool(false)),
        ("tokenizer.ggml.add_space_prefix".into(), Meta::Bool(space_prefix)),
    ];
    if let Some(u) = unk {
        out.push(("tokenizer.ggml.unknown_token_id".into(), Meta::U32(u as u32)));
    }
    if let Some(b) = c.bos_token_id {
        out.push(("tokenizer.ggml.bos_token_id".into(), Meta::U32(b)));
    }
    if let Some(e) = c.eos_token_id {
        out.push(("tokenizer.ggml.eos_token_id".into(), Meta::U32(e)));
    }
    Ok(out)
}

fn tensor(
    ck: &Checkpoint,
    hf: &str,
    gguf: &str,
    quant: Quant,
    permute_heads: Option<usize>,
) -> Result<gguf_file::Tensor> {
    let t = ck.model.params.get(hf).ok_or_else(|| TrainError::Model(format!("missing weight {hf}")))?;
    let t = t.detach().to_dtype(candle_core::DType::F32)?;
    let shape = t.dims().to_vec();
    let mut data = t.flatten_all()?.to_vec1::<f32>()?;
    if let Some(heads) = permute_heads {
        data = interleave_heads(&data, shape[0], heads);
    }
    let inner = *shape.last().unwrap_or(&1);
    let quant = if shape.len() == 2 && inner % 32 == 0 { quant } else { Quant::F32 };
    Ok(gguf_file::Tensor { name: gguf.to_owned(), dims: shape.iter().rev().map(|d| *d as u64).collect(), data, quant })
}

/// Reorders the rows of a `[rows, …]` matrix (or a bias) from rotate-half to interleaved
/// pairs per head: new row `h·d + 2r + j` is old row `h·d + j·d/2 + r`.
pub fn interleave_heads(data: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    let width = data.len() / rows;
    let d = rows / heads;
    let mut out = vec![0.0; data.len()];
    for h in 0..heads {
        for r in 0..d / 2 {
            for j in 0..2 {
                let (new, old) = (h * d + 2 * r + j, h * d + j * (d / 2) + r);
                out[new * width..(new + 1) * width].copy_from_slice(&data[old * width..(old + 1) * width]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_as_llama_cpp_converter_does() {
        // One head of width 4, rows [a0 a1 b0 b1] (halves) become [a0 b0 a1 b1].
        let rows = [0.0, 1.0, 10.0, 11.0];
        assert_eq!(interleave_heads(&rows, 4, 1), vec![0.0, 10.0, 1.0, 11.0]);
        // Two heads, two columns per row.
        let m: Vec<f32> = (0..16).map(|x| x as f32).collect();
        let p = interleave_heads(&m, 8, 2);
        assert_eq!(&p[..8], &[0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]);
        assert_eq!(&p[8..], &[8.0, 9.0, 12.0, 13.0, 10.0, 11.0, 14.0, 15.0]);
    }
}
