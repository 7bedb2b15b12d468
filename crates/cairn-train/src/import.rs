//! Import from GGUF (`cairn train import --gguf FILE --out DIR`): a quantized llama.cpp
//! model becomes a trainable Hugging Face folder — `config.json` from the GGUF metadata,
//! every tensor dequantized (candle's quantized module: Q4_0/Q4_1, Q5_0/Q5_1, Q8_0, the
//! K-quants Q2_K–Q6_K, F16, BF16, F32) into `model.safetensors` in F32 or BF16, and a
//! `tokenizer.json` rebuilt from the GGUF's tokens, merges (or SentencePiece scores),
//! token types and pre-tokenizer.
//!
//! The inverse of [`crate::export`]: GGUF tensor names map back to Hugging Face's, and
//! Llama's query and key rows, which llama.cpp's converter interleaves per head, are put
//! back in rotate-half order (Qwen2 and Gemma 3 GGUFs are not permuted); Gemma 3's norm
//! weights, which llama.cpp's converter stores as `1 + w`, become `w` again.
//! Architectures: Qwen2, Llama and Gemma 3 (those [`crate::model::Model`] can train);
//! others are refused by name.
//!
//! SentencePiece vocabularies (`tokenizer.ggml.model` = `llama`: Gemma, Llama 2) carry a
//! score per token instead of merges. llama.cpp tokenises them by repeatedly joining the
//! adjacent pair whose joined text is the highest-scoring token; the rebuilt BPE gets one
//! merge for every way a token splits into two tokens, ranked by the joined token's score,
//! which makes the same choices (the conversion transformers' `SentencePieceExtractor`
//! does), with byte fallback for characters outside the vocabulary.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value as GgufValue};
use candle_core::{DType, Device, Tensor};
use serde_json::{Value, json};

use crate::checkpoint::Checkpoint;
use crate::config::{Arch, Gemma3, ModelConfig};
use crate::error::{Result, TrainError};
use crate::model::{Model, Params, expected_shapes};

/// What an import read and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufImport {
    /// The architecture.
    pub arch: Arch,
    /// Tensors dequantized.
    pub tensors: usize,
    /// Tensors per GGUF storage type (`Q4K`, `Q8_0`, `F32`, …).
    pub storage: BTreeMap<String, usize>,
    /// Tokens in the rebuilt tokenizer.
    pub vocab: usize,
    /// Merges in the rebuilt tokenizer.
    pub merges: usize,
    /// Parameters.
    pub parameters: usize,
}

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_NORMAL: i32 = 1;
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;

/// Pre-tokenizer split patterns of the byte-level BPE vocabularies llama.cpp names
/// (`tokenizer.ggml.pre`), as in their `tokenizer.json` files.
fn split_pattern(pre: &str) -> Option<&'static str> {
    match pre {
        "qwen2" | "deepseek-r1-qwen" => Some(
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ),
        "llama-bpe" | "llama3" | "smaug-bpe" => Some(
            r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        ),
        // GPT-2's own pattern (what `ByteLevel` applies with `use_regex`).
        "default" | "gpt-2" | "gpt2" => None,
        _ => None,
    }
}

fn meta<'a>(content: &'a Content, key: &str) -> Result<&'a GgufValue> {
    content.metadata.get(key).ok_or_else(|| TrainError::Model(format!("GGUF metadata has no {key}")))
}

fn meta_u32(content: &Content, key: &str) -> Result<u32> {
    meta(content, key)?.to_u32().map_err(|e| TrainError::Model(format!("{key}: {e}")))
}

fn meta_f32(content: &Content, key: &str) -> Result<f32> {
    meta(content, key)?.to_f32().map_err(|e| TrainError::Model(format!("{key}: {e}")))
}

fn meta_str(content: &Content, key: &str) -> Option<String> {
    content.metadata.get(key).and_then(|v| v.to_string().ok()).cloned()
}

fn meta_strings(content: &Content, key: &str) -> Result<Vec<String>> {
    let items = meta(content, key)?.to_vec().map_err(|e| TrainError::Tokenizer(format!("{key}: {e}")))?;
    items.iter().map(|v| v.to_string().cloned().map_err(|e| TrainError::Tokenizer(format!("{key}: {e}")))).collect()
}

fn meta_i32s(content: &Content, key: &str) -> Result<Vec<i32>> {
    let items = meta(content, key)?.to_vec().map_err(|e| TrainError::Tokenizer(format!("{key}: {e}")))?;
    items.iter().map(|v| v.to_i32().map_err(|e| TrainError::Tokenizer(format!("{key}: {e}")))).collect()
}

/// An `f32` as the `f64` its shortest decimal names (GGUF stores `1e-6` as the nearest
/// `f32`; `config.json` should say `1e-6` again).
fn widen(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// The model's shape from the GGUF metadata.
fn config_of(content: &Content, vocab: usize) -> Result<ModelConfig> {
    let a = meta_str(content, "general.architecture").unwrap_or_default();
    let arch = match a.as_str() {
        "qwen2" => Arch::Qwen2,
        "llama" => Arch::Llama,
        "gemma3" => Arch::Gemma3,
        other => {
            return Err(TrainError::Config {
                path: "GGUF".into(),
                detail: format!(
                    "architecture {other:?}: import supports qwen2, llama and gemma3 (the architectures Cairn can train)"
                ),
            });
        }
    };
    let k = |s: &str| format!("{a}.{s}");
    let hidden_size = meta_u32(content, &k("embedding_length"))? as usize;
    let heads = meta_u32(content, &k("attention.head_count"))? as usize;
    let kv_heads = meta_u32(content, &k("attention.head_count_kv")).map_or(heads, |v| v as usize);
    let head_dim = meta_u32(content, &k("attention.key_length")).map_or(hidden_size / heads.max(1), |v| v as usize);
    let has = |name: &str| content.tensor_infos.contains_key(name);
    let token = |key: &str| meta_u32(content, key).ok();
    let config = ModelConfig {
        arch,
        vocab_size: vocab,
        hidden_size,
        intermediate_size: meta_u32(content, &k("feed_forward_length"))? as usize,
        num_hidden_layers: meta_u32(content, &k("block_count"))? as usize,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim,
        rms_norm_eps: widen(meta_f32(content, &k("attention.layer_norm_rms_epsilon"))?),
        rope_theta: widen(meta_f32(content, &k("rope.freq_base")).unwrap_or(10_000.0)),
        max_position_embeddings: meta_u32(content, &k("context_length")).map_or(2048, |v| v as usize),
        tie_word_embeddings: !has("output.weight"),
        attention_bias: has("blk.0.attn_q.bias"),
        bos_token_id: token("tokenizer.ggml.bos_token_id"),
        eos_token_id: token("tokenizer.ggml.eos_token_id"),
        gemma3: match arch {
            Arch::Llama | Arch::Qwen2 => None,
            // llama.cpp reads the window from the file and fixes the rest for Gemma 3: every
            // sixth layer global, local RoPE base 10,000, queries scaled by the head width
            // (27B, whose width differs, by hidden/heads).
            Arch::Gemma3 => Some(Gemma3 {
                sliding_window: meta_u32(content, &k("attention.sliding_window"))? as usize,
                sliding_window_pattern: meta_u32(content, &k("attention.sliding_window_pattern"))
                    .map_or(6, |v| v as usize),
                rope_local_base_freq: 10_000.0,
                query_pre_attn_scalar: if meta_u32(content, &k("block_count"))? == 62 {
                    (hidden_size / heads.max(1)) as f64
                } else {
                    head_dim as f64
                },
            }),
        },
    };
    // Round-trip through the same checks a config.json gets.
    ModelConfig::from_json(&config.to_json())
        .map_err(|detail| TrainError::Config { path: "GGUF".into(), detail })
        .map(|_| config)
}

/// Undoes llama.cpp's per-head interleaving of query/key rows (the inverse of
/// [`crate::export::interleave_heads`]).
pub fn deinterleave_heads(data: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    let width = data.len() / rows.max(1);
    let d = rows / heads.max(1);
    let mut out = vec![0.0; data.len()];
    for h in 0..heads {
        for r in 0..d / 2 {
            for j in 0..2 {
                let (gguf, hf) = (h * d + 2 * r + j, h * d + j * (d / 2) + r);
                out[hf * width..(hf + 1) * width].copy_from_slice(&data[gguf * width..(gguf + 1) * width]);
            }
        }
    }
    out
}

/// The `vocab` map of every token, and control and user-defined tokens as added tokens
/// (split out before the model sees the text, as llama.cpp does).
fn vocab_and_added(tokens: &[String], types: &[i32]) -> (serde_json::Map<String, Value>, Vec<Value>) {
    let mut vocab = serde_json::Map::new();
    let mut added = Vec::new();
    for (id, text) in tokens.iter().enumerate() {
        let kind = types.get(id).copied().unwrap_or(TOKEN_NORMAL);
        if kind == TOKEN_CONTROL || kind == TOKEN_USER_DEFINED {
            added.push(json!({
                "id": id, "content": text, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": kind == TOKEN_CONTROL,
            }));
        }
        vocab.insert(text.clone(), json!(id));
    }
    (vocab, added)
}

/// `tokenizer.json` for the GGUF's vocabulary: byte-level BPE (`gpt2`) or SentencePiece
/// (`llama`).
pub fn tokenizer_json(content: &Content) -> Result<Value> {
    let kind = meta_str(content, "tokenizer.ggml.model").unwrap_or_default();
    match kind.as_str() {
        "gpt2" => {}
        "llama" => return sentencepiece_json(content),
        _ => {
            return Err(TrainError::Tokenizer(format!(
                "tokenizer.ggml.model {kind:?}: import rebuilds byte-level BPE (\"gpt2\") and SentencePiece \
                 (\"llama\") vocabularies"
            )));
        }
    }
    let tokens = meta_strings(content, "tokenizer.ggml.tokens")?;
    let types = meta_i32s(content, "tokenizer.ggml.token_type").unwrap_or_else(|_| vec![1; tokens.len()]);
    let merges = meta_strings(content, "tokenizer.ggml.merges")?;
    let pre = meta_str(content, "tokenizer.ggml.pre").unwrap_or_else(|| "default".into());
    let (vocab, added) = vocab_and_added(&tokens, &types);
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false});
    let pre_tokenizer = match split_pattern(&pre) {
        Some(pattern) => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false},
            byte_level.clone(),
        ]}),
        None => {
            tracing::warn!(pre = %pre, "unknown pre-tokenizer; using GPT-2's split");
            json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})
        }
    };
    let normalizer = if pre == "qwen2" { json!({"type": "NFC"}) } else { Value::Null };
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": byte_level.clone(),
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        },
    }))
}

/// `tokenizer.json` for a SentencePiece vocabulary (tokens, scores and types, no merges):
/// a BPE model over `▁`-escaped text with byte fallback, whose merges are every split of a
/// normal token into two tokens, ranked by the joined token's score (see the module
/// documentation).
pub fn sentencepiece_json(content: &Content) -> Result<Value> {
    let tokens = meta_strings(content, "tokenizer.ggml.tokens")?;
    let scores: Vec<f32> = {
        let items =
            meta(content, "tokenizer.ggml.scores")?.to_vec().map_err(|e| TrainError::Tokenizer(e.to_string()))?;
        items
            .iter()
            .map(|v| v.to_f32().map_err(|e| TrainError::Tokenizer(format!("scores: {e}"))))
            .collect::<Result<_>>()?
    };
    if scores.len() != tokens.len() {
        return Err(TrainError::Tokenizer(format!("{} scores for {} tokens", scores.len(), tokens.len())));
    }
    let types = meta_i32s(content, "tokenizer.ggml.token_type").unwrap_or_else(|_| vec![TOKEN_NORMAL; tokens.len()]);
    let flag = |key: &str| content.metadata.get(key).and_then(|v| v.to_bool().ok());
    let add_bos = flag("tokenizer.ggml.add_bos_token").unwrap_or(true);
    let space_prefix = flag("tokenizer.ggml.add_space_prefix").unwrap_or(true);
    let id_of = |key: &str| meta_u32(content, key).ok().and_then(|i| tokens.get(i as usize));
    let (vocab, added) = vocab_and_added(&tokens, &types);
    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (id, text) in tokens.iter().enumerate() {
        if types.get(id).copied().unwrap_or(TOKEN_NORMAL) == TOKEN_NORMAL {
            ids.entry(text.as_str()).or_insert(id);
        }
    }
    // Every split of a normal token into two normal tokens, best joined score first (ties:
    // lower ids, as SentencePiece's own order).
    let mut merges: Vec<(f32, usize, usize, usize)> = Vec::new();
    for (&text, &id) in &ids {
        for (cut, _) in text.char_indices().skip(1) {
            let (l, r) = text.split_at(cut);
            if let (Some(&li), Some(&ri)) = (ids.get(l), ids.get(r)) {
                merges.push((scores[id], id, li, ri));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let merges: Vec<Value> = merges.iter().map(|m| json!([tokens[m.2], tokens[m.3]])).collect();
    let replace = json!({"type": "Replace", "pattern": {"String": " "}, "content": "\u{2581}"});
    let normalizer = if space_prefix {
        json!({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u{2581}"}, replace]})
    } else {
        replace
    };
    let post_processor = match id_of("tokenizer.ggml.bos_token_id").filter(|_| add_bos) {
        Some(bos) => {
            let id = meta_u32(content, "tokenizer.ggml.bos_token_id")?;
            json!({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {bos.as_str(): {"id": bos, "ids": [id], "tokens": [bos]}}})
        }
        None => Value::Null,
    };
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": null,
        "post_processor": post_processor,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u{2581}"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
        ]},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": id_of("tokenizer.ggml.unknown_token_id"),
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true,
            "byte_fallback": true, "ignore_merges": false, "vocab": vocab, "merges": merges,
        },
    }))
}

/// GGUF tensor name → Hugging Face name, and whether its rows need de-interleaving
/// (with how many heads). The table is [`crate::export`]'s, read backwards.
fn hf_name(gguf: &str, config: &ModelConfig) -> Option<(String, Option<usize>)> {
    let permute = config.arch == Arch::Llama;
    match gguf {
        "token_embd.weight" => return Some(("model.embed_tokens.weight".into(), None)),
        "output_norm.weight" => return Some(("model.norm.weight".into(), None)),
        "output.weight" => return Some(("lm_head.weight".into(), None)),
        _ => {}
    }
    if config.arch == Arch::Gemma3 {
        let rest = gguf.strip_prefix("blk.")?;
        let (layer, part) = rest.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        let module = crate::export::GEMMA3_LAYER_NAMES.iter().find(|(_, g)| *g == part)?.0;
        return Some((format!("model.layers.{layer}.{module}"), None));
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, heads) = match part {
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        "attn_q.weight" => ("self_attn.q_proj.weight", permute.then_some(config.num_attention_heads)),
        "attn_k.weight" => ("self_attn.k_proj.weight", permute.then_some(config.num_key_value_heads)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "attn_q.bias" => ("self_attn.q_proj.bias", permute.then_some(config.num_attention_heads)),
        "attn_k.bias" => ("self_attn.k_proj.bias", permute.then_some(config.num_key_value_heads)),
        "attn_v.bias" => ("self_attn.v_proj.bias", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{module}"), heads))
}

/// Walks a GGUF header (metadata and tensor table) and checks every length it declares
/// against the file's size, before candle's reader allocates what the header says: a
/// hostile string length or dimension count would otherwise abort the process instead of
/// failing the import.
fn check_header(path: &Path) -> Result<()> {
    use std::io::{BufReader, Read};
    let size = std::fs::metadata(path).map_err(TrainError::io(path))?.len();
    let file = std::fs::File::open(path).map_err(TrainError::io(path))?;
    let mut h = Header { r: BufReader::new(file), pos: 0, size };
    let bad = |what: &str| TrainError::Model(format!("{}: not a readable GGUF file: {what}", path.display()));
    let mut magic = [0u8; 4];
    h.r.read_exact(&mut magic).map_err(|_| bad("no magic"))?;
    h.pos = 4;
    if &magic != b"GGUF" {
        return Err(bad("no GGUF magic"));
    }
    let version = h.u32().ok_or_else(|| bad("no version"))?;
    let wide = version >= 2;
    let tensors = h.count(wide).ok_or_else(|| bad("no tensor count"))?;
    let kvs = h.count(wide).ok_or_else(|| bad("no metadata count"))?;
    for _ in 0..kvs {
        h.string(wide).ok_or_else(|| bad("a metadata key runs past the end"))?;
        let ty = h.u32().ok_or_else(|| bad("a metadata type is missing"))?;
        h.value(ty, wide, 0).ok_or_else(|| bad("a metadata value runs past the end or nests too deep"))?;
    }
    for _ in 0..tensors {
        h.string(wide).ok_or_else(|| bad("a tensor name runs past the end"))?;
        let dims = h.u32().ok_or_else(|| bad("a tensor's dimension count is missing"))?;
        if dims > 4 {
            return Err(bad(&format!("a tensor declares {dims} dimensions (GGUF has at most 4)")));
        }
        h.skip(u64::from(dims) * 8 + 4 + 8).ok_or_else(|| bad("the tensor table runs past the end"))?;
    }
    Ok(())
}

/// A counted reader over a GGUF header; every method returns `None` past the end.
struct Header {
    r: std::io::BufReader<std::fs::File>,
    pos: u64,
    size: u64,
}

impl Header {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        use std::io::Read;
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).ok()?;
        self.pos += N as u64;
        Some(b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }

    /// A count or length: 64 bits since GGUF version 2, 32 before.
    fn count(&mut self, wide: bool) -> Option<u64> {
        if wide { self.u64() } else { self.u32().map(u64::from) }
    }

    /// Skips `n` bytes, which must lie inside the file.
    fn skip(&mut self, n: u64) -> Option<()> {
        if n > self.size.saturating_sub(self.pos) {
            return None;
        }
        self.r.seek_relative(i64::try_from(n).ok()?).ok()?;
        self.pos += n;
        Some(())
    }

    fn string(&mut self, wide: bool) -> Option<()> {
        let n = self.count(wide)?;
        self.skip(n)
    }

    /// Skips one value of GGUF type `ty` (arrays nest at most 3 deep).
    fn value(&mut self, ty: u32, wide: bool, depth: usize) -> Option<()> {
        match ty {
            0 | 1 | 7 => self.skip(1),
            2 | 3 => self.skip(2),
            4..=6 => self.skip(4),
            10..=12 => self.skip(8),
            8 => self.string(wide),
            9 if depth < 3 => {
                let elem = self.u32()?;
                let n = self.count(wide)?;
                // Every element takes at least a byte: a count beyond the file is a lie.
                if n > self.size.saturating_sub(self.pos) {
                    return None;
                }
                for _ in 0..n {
                    self.value(elem, wide, depth + 1)?;
                }
                Some(())
            }
            _ => None,
        }
    }
}

/// Reads a GGUF file into a checkpoint (weights in `dtype`).
pub fn read_gguf(path: &Path, dtype: DType) -> Result<(Checkpoint, GgufImport)> {
    let _span = tracing::info_span!("train.import", path = %path.display()).entered();
    check_header(path)?;
    let mut file = std::fs::File::open(path).map_err(TrainError::io(path))?;
    let content = Content::read(&mut file).map_err(|e| TrainError::Model(format!("{}: {e}", path.display())))?;
    let embed_rows = content
        .tensor_infos
        .get("token_embd.weight")
        .and_then(|t| t.shape.dims().first().copied())
        .ok_or_else(|| TrainError::Model("GGUF has no token_embd.weight matrix".into()))?;
    let config = config_of(&content, embed_rows)?;
    let tokenizer_json = tokenizer_json(&content)?;
    let vocab_tokens = meta_strings(&content, "tokenizer.ggml.tokens")?.len();
    let device = Device::Cpu;
    let mut params = Params::new();
    let mut storage: BTreeMap<String, usize> = BTreeMap::new();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut skipped = Vec::new();
    for name in names {
        let Some((hf, heads)) = hf_name(name, &config) else {
            skipped.push(name.clone());
            continue;
        };
        let q = content.tensor(&mut file, name, &device).map_err(|e| TrainError::Model(format!("{name}: {e}")))?;
        *storage.entry(format!("{:?}", q.dtype())).or_default() += 1;
        let mut t = q.dequantize(&device)?;
        if let Some(heads) = heads {
            let rows = t.dims().first().copied().unwrap_or(0);
            if heads == 0 || rows % heads != 0 || (rows / heads) % 2 != 0 {
                return Err(TrainError::Model(format!("{name}: {rows} rows do not split into {heads} heads")));
            }
            let data = t.flatten_all()?.to_vec1::<f32>()?;
            t = Tensor::from_vec(deinterleave_heads(&data, rows, heads), t.shape(), &device)?;
        }
        if config.arch == Arch::Gemma3 && hf.ends_with("norm.weight") {
            t = (t - 1.0)?;
        }
        params.insert(hf, t.to_dtype(dtype)?);
    }
    if !skipped.is_empty() {
        // rope_freqs and the like carry no trainable weights.
        tracing::info!(?skipped, "GGUF tensors without a Hugging Face counterpart, not imported");
    }
    let expected: HashMap<String, Vec<usize>> = expected_shapes(&config).into_iter().collect();
    for (name, shape) in &expected {
        match params.get(name) {
            Some(t) if t.dims() == shape.as_slice() => {}
            Some(t) => {
                return Err(TrainError::Model(format!("{name}: shape {:?}, expected {shape:?}", t.dims())));
            }
            None => return Err(TrainError::Model(format!("the GGUF has no tensor for {name}"))),
        }
    }
    let report = GgufImport {
        arch: config.arch,
        tensors: params.len(),
        storage,
        vocab: vocab_tokens,
        merges: tokenizer_json["model"]["merges"].as_array().map_or(0, Vec::len),
        parameters: config.parameter_count(),
    };
    let model = Model::from_params(config, params, &device, dtype)?;
    let ck = Checkpoint { model, tokenizer_json };
    ck.tokenizer()?;
    Ok((ck, report))
}

/// `cairn train import --gguf FILE --out DIR`: reads the GGUF and writes the folder with
/// weights in `dtype` (F32 or BF16).
pub fn import_gguf(path: &Path, out: &Path, dtype: DType) -> Result<GgufImport> {
    if !matches!(dtype, DType::F32 | DType::BF16) {
        return Err(TrainError::Invalid(format!("import writes f32 or bf16 weights, not {dtype:?}")));
    }
    let (ck, report) = read_gguf(path, dtype)?;
    ck.save_as(out, dtype)?;
    tracing::info!(out = %out.display(), tensors = report.tensors, ?dtype, "imported GGUF");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deinterleaving_undoes_the_export_permutation() {
        let (rows, width, heads) = (8, 3, 2);
        let data: Vec<f32> = (0..rows * width).map(|i| i as f32).collect();
        let there = crate::export::interleave_heads(&data, rows, heads);
        assert_ne!(there, data);
        assert_eq!(deinterleave_heads(&there, rows, heads), data);
    }
}

#[cfg(test)]
mod round_trip {
    use super::*;
    use crate::export::to_gguf;
    use crate::tiny::{TinySpec, sample_corpus, tiny};
    use cairn_llm::gguf_file::Quant;

    fn spec(arch: Arch) -> TinySpec {
        TinySpec { arch, ..TinySpec::default() }
    }

    /// Export a tiny model, import it back: same configuration, same weights (exactly in
    /// F32, within the block error in Q8_0), same tokens.
    #[test]
    fn export_then_import_gives_the_model_back() {
        for arch in [Arch::Qwen2, Arch::Llama, Arch::Gemma3] {
            let ck = tiny(&spec(arch), &sample_corpus()).unwrap();
            let dir = tempfile::tempdir().unwrap();
            for (quant, tolerance) in [(Quant::F32, 0.0), (Quant::Q8_0, 0.02)] {
                let path = dir.path().join(format!("m-{quant:?}.gguf"));
                to_gguf(&ck, quant, &path).unwrap();
                let (back, report) = read_gguf(&path, DType::F32).unwrap();
                assert_eq!(report.arch, arch);
                assert_eq!(back.model.config, ck.model.config, "{arch:?} {quant:?}");
                for (name, _) in expected_shapes(&ck.model.config) {
                    let a = ck.model.params[&name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let b = back.model.params[&name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                    let scale = a.iter().map(|x| x.abs()).fold(0f32, f32::max).max(1e-6);
                    // Gemma's norms travel as `1 + w` in f32: one rounding of the sum.
                    let tolerance = if arch == Arch::Gemma3 && name.ends_with("norm.weight") {
                        f32::max(tolerance, 1e-6)
                    } else {
                        tolerance
                    };
                    assert!(worst <= tolerance * scale, "{arch:?} {quant:?} {name}: off by {worst} (scale {scale})");
                }
                let (want, got) = (ck.tokenizer().unwrap(), back.tokenizer().unwrap());
                for line in sample_corpus().iter().chain(["  two  spaces\tand\nlines 12345 é 🙂".to_owned()].iter())
                {
                    let a = want.encode(line.as_str(), false).unwrap().get_ids().to_vec();
                    let b = got.encode(line.as_str(), false).unwrap().get_ids().to_vec();
                    assert_eq!(a, b, "{arch:?}: {line:?}");
                    assert_eq!(got.decode(&b, false).unwrap(), *line);
                }
                // And it saves as a folder that loads.
                let out = dir.path().join(format!("hf-{quant:?}"));
                import_gguf(&path, &out, DType::BF16).unwrap();
                let loaded = Checkpoint::load(&out, DType::F32).unwrap();
                assert_eq!(loaded.model.config, ck.model.config);
            }
        }
    }

    #[test]
    fn other_architectures_and_tokenizers_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let (mut metadata, tensors) = cairn_llm::gguf_file::tiny_llama(1, Quant::F32);
        for (k, v) in &mut metadata {
            if k == "general.architecture" {
                *v = cairn_llm::gguf_file::Meta::Str("phi3".into());
            }
        }
        let path = dir.path().join("g.gguf");
        let mut f = std::fs::File::create(&path).unwrap();
        cairn_llm::gguf_file::write(&metadata, &tensors, &mut f).unwrap();
        drop(f);
        let e = read_gguf(&path, DType::F32).unwrap_err().to_string();
        assert!(e.contains("phi3") && e.contains("qwen2, llama and gemma3"), "{e}");
        std::fs::write(&path, b"GGUF not really").unwrap();
        assert!(read_gguf(&path, DType::F32).is_err(), "a corrupt file is an error, not a panic");
        // Hostile lengths in the header are errors before anything is allocated (candle's
        // reader would allocate a terabyte for the first and abort).
        let header =
            |kv: &[u8]| [&b"GGUF"[..], &3u32.to_le_bytes(), &0u64.to_le_bytes(), &1u64.to_le_bytes(), kv].concat();
        for (what, kv) in [
            ("a key of 2^40 bytes", (1u64 << 40).to_le_bytes().to_vec()),
            (
                "a string value of 2^40 bytes",
                [&1u64.to_le_bytes()[..], b"k", &8u32.to_le_bytes(), &(1u64 << 40).to_le_bytes()].concat(),
            ),
            (
                "an array of 2^60 elements",
                [&1u64.to_le_bytes()[..], b"k", &9u32.to_le_bytes(), &4u32.to_le_bytes(), &(1u64 << 60).to_le_bytes()]
                    .concat(),
            ),
        ] {
            std::fs::write(&path, header(&kv)).unwrap();
            let e = read_gguf(&path, DType::F32).unwrap_err().to_string();
            assert!(e.contains("not a readable GGUF file"), "{what}: {e}");
        }
        let dims = [
            &b"GGUF"[..],
            &3u32.to_le_bytes(),
            &1u64.to_le_bytes(),
            &0u64.to_le_bytes(),
            &1u64.to_le_bytes(),
            b"t",
            &u32::MAX.to_le_bytes(),
        ]
        .concat();
        std::fs::write(&path, dims).unwrap();
        let e = read_gguf(&path, DType::F32).unwrap_err().to_string();
        assert!(e.contains("dimensions"), "{e}");
        // A real export cut short anywhere is an error too.
        let ck = tiny(&spec(Arch::Qwen2), &sample_corpus()).unwrap();
        let whole = dir.path().join("whole.gguf");
        to_gguf(&ck, Quant::Q8_0, &whole).unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        for cut in [8, 24, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read_gguf(&path, DType::F32).is_err(), "cut at {cut} of {}", bytes.len());
        }
    }
}
