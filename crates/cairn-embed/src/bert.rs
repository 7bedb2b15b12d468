//! A BERT sentence encoder on candle: the forward pass written out (about a hundred lines)
//! so it depends only on `candle-core` and `candle-nn`, with Hugging Face tensor names
//! (with or without a `bert.` prefix).

use std::path::{Path, PathBuf};

use cairn_core::{EmbedRole, Embedder};
use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::error::{EmbedError, Result};

/// Longest input, in tokens (sentence-transformers' limit for all-MiniLM-L6-v2).
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass.
pub const BATCH: usize = 32;

#[derive(Debug, Clone, Deserialize)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    #[serde(default = "eps")]
    layer_norm_eps: f64,
    #[serde(default = "gelu")]
    hidden_act: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

fn model_err(e: candle_core::Error) -> EmbedError {
    EmbedError::Model(e.to_string())
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    inter: Linear,
    out: Linear,
    out_norm: LayerNorm,
}

struct Bert {
    words: Embedding,
    positions: Embedding,
    types: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
}

impl Bert {
    fn load(vb: VarBuilder<'_>, c: &Config) -> candle_core::Result<Bert> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let e = vb.pp("embeddings");
        let ln = |vb: VarBuilder<'_>| candle_nn::layer_norm(c.hidden_size, c.layer_norm_eps, vb);
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let h = c.hidden_size;
            layers.push(Layer {
                query: candle_nn::linear(h, h, l.pp("attention.self.query"))?,
                key: candle_nn::linear(h, h, l.pp("attention.self.key"))?,
                value: candle_nn::linear(h, h, l.pp("attention.self.value"))?,
                attn_out: candle_nn::linear(h, h, l.pp("attention.output.dense"))?,
                attn_norm: ln(l.pp("attention.output.LayerNorm"))?,
                inter: candle_nn::linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                out: candle_nn::linear(c.intermediate_size, h, l.pp("output.dense"))?,
                out_norm: ln(l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            words: candle_nn::embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
            positions: candle_nn::embedding(c.max_position_embeddings, c.hidden_size, e.pp("position_embeddings"))?,
            types: candle_nn::embedding(c.type_vocab_size, c.hidden_size, e.pp("token_type_embeddings"))?,
            norm: ln(e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
        })
    }

    /// Hidden states `(batch, tokens, hidden)` for `ids` with attention `mask` (1 = real token).
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, tokens) = ids.dims2()?;
        let positions =
            Tensor::arange(0u32, tokens as u32, ids.device())?.unsqueeze(0)?.broadcast_as((batch, tokens))?;
        let types = ids.zeros_like()?;
        let x =
            self.words.forward(ids)?.add(&self.positions.forward(&positions)?)?.add(&self.types.forward(&types)?)?;
        let mut x = self.norm.forward(&x)?;
        // Padding gets a large negative attention bias: (batch, 1, 1, tokens).
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 10_000.0)?.unsqueeze(1)?.unsqueeze(1)?;
        let hidden = x.dim(2)?;
        let head_dim = hidden / self.heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        for layer in &self.layers {
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((batch, tokens, self.heads, head_dim))?.transpose(1, 2)?.contiguous()
            };
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch, tokens, hidden))?;
            x = layer.attn_norm.forward(&layer.attn_out.forward(&context)?.add(&x)?)?;
            let inter = layer.inter.forward(&x)?.gelu_erf()?;
            x = layer.out_norm.forward(&layer.out.forward(&inter)?.add(&x)?)?;
        }
        Ok(x)
    }
}

/// A sentence embedder over a BERT-family model folder.
pub struct BertEmbedder {
    model: Bert,
    tokenizer: Tokenizer,
    dim: usize,
    max_tokens: usize,
    name: String,
    device: Device,
}

impl std::fmt::Debug for BertEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEmbedder").field("model", &self.name).field("dim", &self.dim).finish()
    }
}

fn read(path: PathBuf) -> Result<String> {
    std::fs::read_to_string(&path).map_err(|source| EmbedError::Io { path, source })
}

impl BertEmbedder {
    /// Loads `dir/config.json`, `dir/model.safetensors` and `dir/tokenizer.json`.
    pub fn load(dir: &Path) -> Result<BertEmbedder> {
        let config_path = dir.join("config.json");
        let config: Config = serde_json::from_str(&read(config_path.clone())?)
            .map_err(|e| EmbedError::Config { path: config_path.clone(), detail: e.to_string() })?;
        if !config.hidden_act.starts_with("gelu")
            || config.num_attention_heads == 0
            || !config.hidden_size.is_multiple_of(config.num_attention_heads)
        {
            return Err(EmbedError::Config {
                path: config_path,
                detail: "expected a GELU BERT with whole heads".into(),
            });
        }
        let weights = dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(EmbedError::Io { path: weights, source: std::io::ErrorKind::NotFound.into() });
        }
        let device = Device::Cpu;
        let bytes = std::fs::read(&weights).map_err(|source| EmbedError::Io { path: weights.clone(), source })?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device).map_err(model_err)?;
        let model = Bert::load(vb, &config).map_err(model_err)?;
        let mut tokenizer =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        // The packaged tokenizer pads every input to 128 tokens; Cairn pads per batch and
        // masks, so padding and truncation are turned off here.
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("bert").to_owned();
        let max_tokens = MAX_TOKENS.min(config.max_position_embeddings);
        tracing::info!(model = %name, dim = config.hidden_size, layers = config.num_hidden_layers, "loaded embedding model");
        Ok(BertEmbedder { model, tokenizer, dim: config.hidden_size, max_tokens, name, device })
    }

    fn batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let mut encoded: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        for text in texts {
            let enc = self.tokenizer.encode(*text, true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
            let mut ids = enc.get_ids().to_vec();
            if ids.len() > self.max_tokens {
                // Keep the final [SEP].
                let last = ids[ids.len() - 1];
                ids.truncate(self.max_tokens - 1);
                ids.push(last);
            }
            encoded.push(ids);
        }
        let width = encoded.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(texts.len() * width);
        let mut mask = Vec::with_capacity(texts.len() * width);
        for e in &encoded {
            ids.extend(e.iter().copied().chain(std::iter::repeat_n(0, width - e.len())));
            mask.extend(std::iter::repeat_n(1u32, e.len()).chain(std::iter::repeat_n(0, width - e.len())));
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (texts.len(), width), &self.device)?;
            let mask = Tensor::from_vec(mask, (texts.len(), width), &self.device)?;
            let hidden = self.model.forward(&ids, &mask)?;
            // Mean over real tokens, then L2 normalisation.
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1.0, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(model_err)
    }
}

impl Embedder for BertEmbedder {
    fn embed(&self, texts: &[&str], _role: EmbedRole) -> cairn_core::Result<Vec<Vec<f32>>> {
        let _span = tracing::debug_span!("embed", model = %self.name, texts = texts.len()).entered();
        // Sort by length so each batch pads little, then restore the order.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = self.batch(&batch).map_err(|e| e.into_core(&self.name))?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn model(&self) -> &str {
        &self.name
    }
}

/// Test support: writes a tiny BERT with random (seeded) weights and a WordPiece tokenizer
/// in Hugging Face layout, so tests never download a model.
pub mod testing {
    use std::collections::HashMap;
    use std::path::Path;

    use candle_core::{Device, Tensor};
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::template::TemplateProcessing;

    /// Words of the tiny vocabulary (after the four special tokens).
    pub const WORDS: &[&str] = &[
        "warfarin",
        "bleeding",
        "risk",
        "simvastatin",
        "muscle",
        "pain",
        "cyp3a4",
        "inhibitor",
        "dose",
        "kidney",
        "liver",
        "enzyme",
        "the",
        "a",
        "is",
        "of",
        "and",
        "with",
        "patient",
        "drug",
        "interaction",
        "strong",
        "weak",
        "level",
        "##s",
        "##ing",
        "##ed",
    ];

    /// Writes the tiny model into `dir` (hidden 32, 2 layers, 4 heads).
    pub fn write_tiny_model(
        dir: &Path,
        seed: u64,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let (hidden, layers, inter, positions) = (32usize, 2usize, 64usize, 64usize);
        let tokens: Vec<&str> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].iter().chain(WORDS).copied().collect();
        let vocab_size = tokens.len();
        let config = serde_json::json!({
            "vocab_size": vocab_size, "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": 4, "intermediate_size": inter, "max_position_embeddings": positions,
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "model_type": "bert"
        });
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config)?)?;

        let mut state = seed.max(1);
        let mut random = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    ((state % 20_001) as f32 / 10_000.0 - 1.0) * scale
                })
                .collect()
        };
        let dev = Device::Cpu;
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let mut put = |name: String, shape: &[usize], data: Vec<f32>| -> candle_core::Result<()> {
            tensors.insert(name, Tensor::from_vec(data, shape, &dev)?);
            Ok(())
        };
        put("embeddings.word_embeddings.weight".into(), &[vocab_size, hidden], random(vocab_size * hidden, 0.5))?;
        put("embeddings.position_embeddings.weight".into(), &[positions, hidden], random(positions * hidden, 0.1))?;
        put("embeddings.token_type_embeddings.weight".into(), &[2, hidden], random(2 * hidden, 0.1))?;
        put("embeddings.LayerNorm.weight".into(), &[hidden], vec![1.0; hidden])?;
        put("embeddings.LayerNorm.bias".into(), &[hidden], vec![0.0; hidden])?;
        for l in 0..layers {
            let p = format!("encoder.layer.{l}");
            for (name, rows, cols) in [
                ("attention.self.query", hidden, hidden),
                ("attention.self.key", hidden, hidden),
                ("attention.self.value", hidden, hidden),
                ("attention.output.dense", hidden, hidden),
                ("intermediate.dense", inter, hidden),
                ("output.dense", hidden, inter),
            ] {
                put(format!("{p}.{name}.weight"), &[rows, cols], random(rows * cols, 0.3))?;
                put(format!("{p}.{name}.bias"), &[rows], random(rows, 0.05))?;
            }
            for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
                put(format!("{p}.{norm}.weight"), &[hidden], vec![1.0; hidden])?;
                put(format!("{p}.{norm}.bias"), &[hidden], vec![0.0; hidden])?;
            }
        }
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;

        let vocab_path = dir.join("vocab.txt");
        std::fs::write(&vocab_path, tokens.join("\n") + "\n")?;
        let wordpiece = WordPiece::from_file(&vocab_path.to_string_lossy()).unk_token("[UNK]".into()).build()?;
        let mut tokenizer = tokenizers::Tokenizer::new(wordpiece);
        tokenizer.with_normalizer(Some(BertNormalizer::default()))?;
        tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
        let post = TemplateProcessing::builder()
            .try_single("[CLS] $A [SEP]")?
            .special_tokens(vec![("[CLS]", 2), ("[SEP]", 3)])
            .build()?;
        tokenizer.with_post_processor(Some(post));
        tokenizer.save(dir.join("tokenizer.json"), false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn tiny_model_embeds_deterministically_and_batches_exactly() {
        let dir = tempfile::tempdir().unwrap();
        testing::write_tiny_model(dir.path(), 7).unwrap();
        let model = BertEmbedder::load(dir.path()).unwrap();
        assert_eq!(model.dim(), 32);
        let texts = ["warfarin bleeding risk", "simvastatin muscle pain with a strong cyp3a4 inhibitor", "kidney"];
        let batch = model.embed(&texts, EmbedRole::Passage).unwrap();
        assert_eq!(batch.len(), 3);
        for (text, v) in texts.iter().zip(&batch) {
            assert_eq!(v.len(), 32);
            assert!((cosine(v, v) - 1.0).abs() < 1e-4, "normalised");
            // Padding inside a batch must not change a text's vector.
            let alone = model.embed(&[*text], EmbedRole::Passage).unwrap();
            assert!(cosine(v, &alone[0]) > 0.9999, "{text}: batch and single differ");
        }
        assert!(cosine(&batch[0], &batch[1]) < 0.9999, "different texts differ");
        let again = BertEmbedder::load(dir.path()).unwrap().embed(&texts, EmbedRole::Passage).unwrap();
        assert_eq!(again, batch);
    }

    #[test]
    fn long_inputs_are_truncated_and_bad_folders_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        testing::write_tiny_model(dir.path(), 3).unwrap();
        let model = BertEmbedder::load(dir.path()).unwrap();
        let long = "warfarin ".repeat(500);
        assert_eq!(model.embed(&[long.as_str()], EmbedRole::Query).unwrap()[0].len(), 32);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(BertEmbedder::load(empty.path()), Err(EmbedError::Io { .. })));
        std::fs::write(empty.path().join("config.json"), "{\"vocab_size\": 3}").unwrap();
        assert!(matches!(BertEmbedder::load(empty.path()), Err(EmbedError::Config { .. })));
    }
}
