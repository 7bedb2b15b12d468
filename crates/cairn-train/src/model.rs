//! A trainable Llama/Qwen2/Gemma 3 decoder on `candle-core`, written with differentiable ops only.
//!
//! candle-transformers' decoders cannot be trained: their fused `rms_norm`, `softmax`,
//! `rope` and attention kernels drop gradients silently, and their forward passes return the
//! last position's logits only. This one uses fused RMSNorm, softmax and rotate-half RoPE
//! (the layout Hugging Face uses) that carry their own backward pass ([`crate::fused`]),
//! returns logits for every position, and reads its weights by their Hugging Face names from a plain map, so the
//! same map holds frozen tensors and trainable [`candle_core::Var`]s side by side.

use std::collections::HashMap;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, D, DType, Device, Layout, Shape, Storage, Tensor};

use crate::config::ModelConfig;
use crate::error::{Result, TrainError};
use crate::lora::Lora;
use crate::rng::Rng;

/// Weights by Hugging Face name (`model.layers.0.self_attn.q_proj.weight`).
pub type Params = HashMap<String, Tensor>;

/// The projections LoRA may target, by their module names in Hugging Face checkpoints.
pub const LINEAR_MODULES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// A decoder: configuration plus weights.
#[derive(Debug, Clone)]
pub struct Model {
    /// Shape.
    pub config: ModelConfig,
    /// Weights; trainable ones are `Var` tensors.
    pub params: Params,
    /// Where the weights live.
    pub device: Device,
    /// Compute type (F32, or F64 for gradient checks).
    pub dtype: DType,
}

/// Module path of a projection in a layer (`model.layers.3.mlp.up_proj`).
pub fn module_path(layer: usize, module: &str) -> String {
    let group = if ["gate_proj", "up_proj", "down_proj"].contains(&module) { "mlp" } else { "self_attn" };
    format!("model.layers.{layer}.{group}.{module}")
}

/// Names of the embedding matrix and the output head (the same when tied).
pub fn head_names(config: &ModelConfig) -> (&'static str, &'static str) {
    let head = if config.tie_word_embeddings { "model.embed_tokens.weight" } else { "lm_head.weight" };
    ("model.embed_tokens.weight", head)
}

/// Every weight name the configuration implies, with its shape.
pub fn expected_shapes(c: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, q, kv) = (c.hidden_size, c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim);
    let mut out = vec![("model.embed_tokens.weight".to_owned(), vec![c.vocab_size, h])];
    for l in 0..c.num_hidden_layers {
        let p = |s: &str| format!("model.layers.{l}.{s}");
        out.push((p("input_layernorm.weight"), vec![h]));
        out.push((p("post_attention_layernorm.weight"), vec![h]));
        if c.gemma3.is_some() {
            out.push((p("pre_feedforward_layernorm.weight"), vec![h]));
            out.push((p("post_feedforward_layernorm.weight"), vec![h]));
            out.push((p("self_attn.q_norm.weight"), vec![c.head_dim]));
            out.push((p("self_attn.k_norm.weight"), vec![c.head_dim]));
        }
        out.push((p("self_attn.q_proj.weight"), vec![q, h]));
        out.push((p("self_attn.k_proj.weight"), vec![kv, h]));
        out.push((p("self_attn.v_proj.weight"), vec![kv, h]));
        out.push((p("self_attn.o_proj.weight"), vec![h, q]));
        if c.attention_bias {
            out.push((p("self_attn.q_proj.bias"), vec![q]));
            out.push((p("self_attn.k_proj.bias"), vec![kv]));
            out.push((p("self_attn.v_proj.bias"), vec![kv]));
        }
        out.push((p("mlp.gate_proj.weight"), vec![c.intermediate_size, h]));
        out.push((p("mlp.up_proj.weight"), vec![c.intermediate_size, h]));
        out.push((p("mlp.down_proj.weight"), vec![h, c.intermediate_size]));
    }
    out.push(("model.norm.weight".to_owned(), vec![h]));
    if !c.tie_word_embeddings {
        out.push(("lm_head.weight".to_owned(), vec![c.vocab_size, h]));
    }
    out
}

impl Model {
    /// Random weights drawn from `rng` so that a seed fixes the model: normal with std 0.02
    /// for the projections, `embed_std` for the embedding and output rows (a tiny model
    /// needs rows long enough for confident logits), norms at one (Gemma 3's, which scale
    /// by `1 + w`, near zero: random, so that a test sees a lost or doubled offset).
    pub fn random(config: ModelConfig, rng: &mut Rng, embed_std: f64, device: &Device) -> Result<Model> {
        let mut params = Params::new();
        for (name, shape) in expected_shapes(&config) {
            let n: usize = shape.iter().product();
            let values = if name.ends_with("norm.weight") && config.gemma3.is_some() {
                rng.normals(n, 0.1)
            } else if name.ends_with("norm.weight") {
                vec![1.0f32; n]
            } else if name == "model.embed_tokens.weight" || name == "lm_head.weight" {
                rng.normals(n, embed_std)
            } else {
                rng.normals(n, 0.02)
            };
            params.insert(name, Tensor::from_vec(values, shape, device)?);
        }
        Ok(Model { config, params, device: device.clone(), dtype: DType::F32 })
    }

    /// Checks that every expected weight is present with the right shape, and converts all
    /// to `dtype`.
    pub fn from_params(config: ModelConfig, params: Params, device: &Device, dtype: DType) -> Result<Model> {
        let mut out = Params::new();
        for (name, shape) in expected_shapes(&config) {
            let t = params.get(&name).ok_or_else(|| TrainError::Model(format!("missing weight {name}")))?;
            if t.dims() != shape.as_slice() {
                return Err(TrainError::Model(format!("{name}: shape {:?}, expected {shape:?}", t.dims())));
            }
            out.insert(name, t.to_dtype(dtype)?.to_device(device)?);
        }
        Ok(Model { config, params: out, device: device.clone(), dtype })
    }

    fn w(&self, name: &str) -> Result<&Tensor> {
        self.params.get(name).ok_or_else(|| TrainError::Model(format!("missing weight {name}")))
    }

    /// `x · Wᵀ (+ b)`, plus the LoRA update when `lora` targets this module.
    fn linear(&self, x: &Tensor, path: &str, lora: Option<&Lora>, rng: &mut Option<&mut Rng>) -> Result<Tensor> {
        let w = self.w(&format!("{path}.weight"))?;
        let mut y = matmul_t(x, w)?;
        if let Some(b) = self.params.get(&format!("{path}.bias")) {
            y = y.broadcast_add(b)?;
        }
        if let Some(lora) = lora {
            y = lora.apply(path, x, y, rng.as_deref_mut())?;
        }
        Ok(y)
    }

    /// RMSNorm by the weight `name` (Gemma 3 stores `w` and scales by `1 + w`).
    fn norm(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let w = self.w(name)?;
        if self.config.gemma3.is_some() {
            Ok(crate::fused::rms_norm(x, &(w + 1.0)?, self.config.rms_norm_eps)?)
        } else {
            Ok(crate::fused::rms_norm(x, w, self.config.rms_norm_eps)?)
        }
    }

    fn rope_tables(&self, seq: usize, theta: f64) -> Result<(Tensor, Tensor)> {
        let d = self.config.head_dim;
        let inv: Vec<f64> = (0..d / 2).map(|i| 1.0 / theta.powf(2.0 * i as f64 / d as f64)).collect();
        let mut cos = Vec::with_capacity(seq * d / 2);
        let mut sin = Vec::with_capacity(seq * d / 2);
        for p in 0..seq {
            for f in &inv {
                cos.push((p as f64 * f).cos());
                sin.push((p as f64 * f).sin());
            }
        }
        let to = |v: Vec<f64>| Tensor::from_vec(v, (seq, d / 2), &self.device)?.to_dtype(self.dtype);
        Ok((to(cos)?, to(sin)?))
    }

    /// Logits `[batch, seq, vocab]` for token ids `[batch, seq]` (u32). With `dropout`, LoRA
    /// dropout is applied using that generator; without, the pass is deterministic.
    pub fn forward(&self, ids: &Tensor, lora: Option<&Lora>, dropout: Option<&mut Rng>) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let x = self.hidden(ids, lora, dropout)?.reshape((b * t, ()))?;
        let (_, head) = head_names(&self.config);
        Ok(matmul_t(&x, self.w(head)?)?.reshape((b, t, ()))?)
    }

    /// Logits `[rows, vocab]` for final hidden states `[rows, hidden]` (the output head
    /// alone: callers that need a few positions' logits project only those, instead of a
    /// `[batch, seq, vocab]` tensor for every position).
    pub fn project(&self, hidden: &Tensor) -> Result<Tensor> {
        let (_, head) = head_names(&self.config);
        matmul_t(hidden, self.w(head)?)
    }

    /// Log-probabilities of `targets [b, t]` at the positions where `mask [b, t]` is 1, read
    /// from the final hidden states `[b, t, hidden]`: `[n]`, in row order, with the sequence
    /// each belongs to. Only those positions go through the output head, so a 1,500-token
    /// answer example with 150 learned tokens projects 150 rows onto the vocabulary, not
    /// 1,500 (the full `[b, t, vocab]` logits and their log-softmax were most of an SFT step's
    /// memory traffic on a 150k-token vocabulary).
    pub fn learned_logps(&self, hidden: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<(Tensor, Vec<usize>)> {
        let (b, t, h) = hidden.dims3()?;
        let learned = mask.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let rows: Vec<u32> = learned.iter().enumerate().filter(|(_, m)| **m != 0.0).map(|(i, _)| i as u32).collect();
        if rows.is_empty() {
            return Err(TrainError::Invalid("a batch has no tokens to learn from".into()));
        }
        let seqs = rows.iter().map(|r| *r as usize / t).collect();
        let rows = Tensor::new(rows.as_slice(), &self.device)?;
        let x = hidden.reshape((b * t, h))?.index_select(&rows, 0)?;
        let lp = candle_nn::ops::log_softmax(&self.project(&x)?, D::Minus1)?;
        let picked = targets.flatten_all()?.index_select(&rows, 0)?;
        Ok((lp.gather(&picked.unsqueeze(1)?, 1)?.squeeze(1)?, seqs))
    }

    /// Mean cross-entropy over the learned positions (the SFT loss), projecting only those
    /// positions ([`Model::learned_logps`]); equal to [`masked_cross_entropy`] of the full
    /// logits.
    pub fn learned_cross_entropy(&self, hidden: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (picked, _) = self.learned_logps(hidden, targets, mask)?;
        let n = picked.dim(0)? as f64;
        Ok((picked.sum_all()? * (-1.0 / n))?)
    }

    /// Per-sequence sums of the learned positions' log-probabilities, `[b]`; equal to
    /// [`sequence_logps`] of the full logits.
    pub fn learned_sequence_logps(&self, hidden: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let b = hidden.dim(0)?;
        let (picked, seqs) = self.learned_logps(hidden, targets, mask)?;
        // A `[b, n]` 0/1 matrix sums each sequence's rows (differentiable, and small).
        let mut member = vec![0f32; b * seqs.len()];
        for (j, s) in seqs.iter().enumerate() {
            member[s * seqs.len() + j] = 1.0;
        }
        let member = Tensor::from_vec(member, (b, seqs.len()), &self.device)?.to_dtype(picked.dtype())?;
        Ok(member.matmul(&picked.unsqueeze(1)?)?.squeeze(1)?)
    }

    /// The final normed hidden states `[batch, seq, hidden]` (what the output head, a reward
    /// head or a value head reads).
    pub fn hidden(&self, ids: &Tensor, lora: Option<&Lora>, dropout: Option<&mut Rng>) -> Result<Tensor> {
        self.run(ids, lora, dropout, None)
    }

    /// Logits `[seq, vocab]` for `ids` `[1, seq]` that continue what `cache` holds, adding
    /// their keys and values to it. Feeding a sequence in pieces gives the logits of one
    /// full [`Model::forward`]; each new token costs one position instead of all of them.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache, lora: Option<&Lora>) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if b != 1 {
            return Err(TrainError::Model(format!("a KV cache holds one sequence, not {b}")));
        }
        if cache.layers.len() != self.config.num_hidden_layers {
            *cache = KvCache::new(self);
        }
        let x = self.run(ids, lora, None, Some(cache))?.reshape((t, ()))?;
        let (_, head) = head_names(&self.config);
        matmul_t(&x, self.w(head)?)
    }

    /// Logits `[b, vocab]` of the last position only, for `ids` `[b, t]` that continue what
    /// `cache` holds (`b` rows in lockstep: a cache copied from one prompt with
    /// [`KvCache::repeat`]). Sampling needs only the next token's distribution, so a
    /// 1,000-token prompt projects one row onto the vocabulary, not 1,000.
    pub fn forward_cached_last(&self, ids: &Tensor, cache: &mut KvCache, lora: Option<&Lora>) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if cache.layers.len() != self.config.num_hidden_layers {
            *cache = KvCache::new(self);
        }
        if let Some(Some((k, _))) = cache.layers.first()
            && k.dim(0)? != b
        {
            return Err(TrainError::Model(format!("the cache holds {} rows, the input {b}", k.dim(0)?)));
        }
        let x = self.run(ids, lora, None, Some(cache))?.narrow(1, t - 1, 1)?.reshape((b, ()))?;
        self.project(&x)
    }

    fn run(
        &self,
        ids: &Tensor,
        lora: Option<&Lora>,
        mut dropout: Option<&mut Rng>,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (b, t) = ids.dims2()?;
        let past = cache.as_ref().map_or(0, |c| c.len);
        let (embed, _) = head_names(c);
        let mut x = self.w(embed)?.index_select(&ids.flatten_all()?, 0)?; // [b*t, h]
        let gemma = c.gemma3;
        if gemma.is_some() {
            x = (x * (c.hidden_size as f64).sqrt())?;
        }
        let tables = |theta: f64| -> Result<(Tensor, Tensor)> {
            let (cos, sin) = self.rope_tables(past + t, theta)?;
            Ok((cos.narrow(0, past, t)?, sin.narrow(0, past, t)?))
        };
        let global = tables(c.rope_theta)?;
        let local = match gemma {
            Some(g) => Some(tables(g.rope_local_base_freq)?),
            None => None,
        };
        let (nh, nkv, hd) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        // The 1/√d scale goes on the queries (`t × d`), not on the scores (`t × t`): autograd
        // keeps every op's input alive until the backward pass, and a scaled copy of the
        // scores was a third of the attention's memory (5.6 GB at 2,048 tokens on the 0.5B
        // model).
        let q_scale = 1.0 / gemma.map_or(hd as f64, |g| g.query_pre_attn_scalar).sqrt();
        for l in 0..c.num_hidden_layers {
            let p = |s: &str| format!("model.layers.{l}.{s}");
            let window = gemma.filter(|g| g.is_sliding(l)).map(|g| g.sliding_window);
            let (cos, sin) = match (&local, window) {
                (Some(local), Some(_)) => local,
                _ => &global,
            };
            let h = self.norm(&x, &p("input_layernorm.weight"))?;
            let heads = |y: Tensor, n: usize, norm: &str| -> Result<Tensor> {
                // Gemma 3 norms each head's query and key before RoPE.
                let y = if gemma.is_some() { self.norm(&y.reshape((b * t * n, hd))?, &p(norm))? } else { y };
                Ok(y.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
            };
            let q = heads(self.linear(&h, &p("self_attn.q_proj"), lora, &mut dropout)?, nh, "self_attn.q_norm.weight")?;
            let k =
                heads(self.linear(&h, &p("self_attn.k_proj"), lora, &mut dropout)?, nkv, "self_attn.k_norm.weight")?;
            let v = self.linear(&h, &p("self_attn.v_proj"), lora, &mut dropout)?;
            let v = v.reshape((b, t, nkv, hd))?.transpose(1, 2)?.contiguous()?;
            let q = crate::fused::rope(&q, cos, sin)?;
            let k = crate::fused::rope(&k, cos, sin)?;
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => {
                    let (k, v) = match cache.layers[l].take() {
                        Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                        None => (k, v),
                    };
                    // Decoding only: the cache keeps values, not the autograd graph of every
                    // step that produced them.
                    cache.layers[l] = Some((k.detach(), v.detach()));
                    (k, v)
                }
                None => (k, v),
            };
            // Grouped-query attention without copying keys and values per head: the `rep`
            // query heads that share a key-value head are consecutive, so they stack into one
            // block of `rep·t` rows against that head's keys (the mask is in the softmax).
            let rep = nh / nkv;
            let q = (q.reshape((b, nkv, rep * t, hd))? * q_scale)?;
            let scores = q.matmul(&k.t()?)?;
            let probs = crate::fused::causal_softmax(&scores, t, past, window)?;
            let attn = probs.matmul(&v)?.reshape((b, nh, t, hd))?.transpose(1, 2)?.reshape((b * t, nh * hd))?;
            let attn = self.linear(&attn, &p("self_attn.o_proj"), lora, &mut dropout)?;
            if gemma.is_some() {
                // Gemma 3: norms after attention and around the MLP, which gates with GELU.
                x = (x + self.norm(&attn, &p("post_attention_layernorm.weight"))?)?;
                let h = self.norm(&x, &p("pre_feedforward_layernorm.weight"))?;
                let gate = self.linear(&h, &p("mlp.gate_proj"), lora, &mut dropout)?.gelu()?;
                let up = self.linear(&h, &p("mlp.up_proj"), lora, &mut dropout)?;
                let down = self.linear(&(gate * up)?, &p("mlp.down_proj"), lora, &mut dropout)?;
                x = (x + self.norm(&down, &p("post_feedforward_layernorm.weight"))?)?;
            } else {
                x = (x + attn)?;
                let h = self.norm(&x, &p("post_attention_layernorm.weight"))?;
                let gate = self.linear(&h, &p("mlp.gate_proj"), lora, &mut dropout)?.silu()?;
                let up = self.linear(&h, &p("mlp.up_proj"), lora, &mut dropout)?;
                x = (x + self.linear(&(gate * up)?, &p("mlp.down_proj"), lora, &mut dropout)?)?;
            }
        }
        if let Some(cache) = cache {
            cache.len += t;
        }
        let x = self.norm(&x, "model.norm.weight")?;
        Ok(x.reshape((b, t, ()))?)
    }

    /// Greedy continuation of `prompt` by `n` tokens, with a KV cache.
    pub fn greedy(&self, prompt: &[u32], n: usize, lora: Option<&Lora>) -> Result<Vec<u32>> {
        let mut cache = KvCache::new(self);
        let mut out = Vec::with_capacity(n);
        let mut next: Vec<u32> = prompt.to_vec();
        for _ in 0..n {
            if next.is_empty() {
                break;
            }
            let input = Tensor::new(next.as_slice(), &self.device)?.unsqueeze(0)?;
            let logits = self.forward_cached(&input, &mut cache, lora)?;
            let last = logits.get(next.len() - 1)?;
            let token = last.argmax(0)?.to_scalar::<u32>()?;
            out.push(token);
            next = vec![token];
        }
        Ok(out)
    }

    /// Log-probabilities over the vocabulary at every position, `[seq, vocab]`, for one
    /// sequence.
    pub fn log_probs(&self, ids: &[u32], lora: Option<&Lora>) -> Result<Tensor> {
        let input = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let logits = self.forward(&input, lora, None)?.get(0)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?)
    }
}

/// `x · wᵀ` for 2-D `x`. When `w` is frozen but `x` carries gradients, candle's matmul
/// would still compute the (discarded) weight gradient in the backward pass, a third of
/// a LoRA step's arithmetic; [`FrozenLinear`] computes only the input's gradient.
fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    if x.track_op() && !w.track_op() && x.rank() == 2 && x.device().is_cpu() {
        Ok(x.apply_op1(FrozenLinear(w.clone()))?)
    } else {
        Ok(x.matmul(&w.t()?)?)
    }
}

/// `x ↦ x · wᵀ` with `w` a constant of the op.
struct FrozenLinear(Tensor);

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    // candle's storage enums grow with its devices; only the CPU matters here.
    #[allow(clippy::wildcard_enum_match_arm)]
    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        // Straight on the storages: no copy of the input, and none of the (large: the
        // output head's is `[rows, vocab]`) result.
        let (m, k) = layout.shape().dims2()?;
        let (w_storage, w_layout) = self.0.storage_and_layout();
        let Storage::Cpu(w) = &*w_storage else { candle_core::bail!("frozen-linear runs on the CPU") };
        let (n, wk) = w_layout.shape().dims2()?;
        if wk != k {
            candle_core::bail!("frozen-linear: input has {k} features, the weight {wk}")
        }
        let out = storage.matmul(w, (1, m, n, k), layout, &w_layout.transpose(0, 1)?)?;
        Ok((out, Shape::from((m, n))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad_res.matmul(&self.0)?))
    }
}

/// The keys and values of one sequence's positions so far, per layer, for incremental
/// decoding ([`Model::forward_cached`]).
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Model) -> KvCache {
        KvCache { layers: vec![None; model.config.num_hidden_layers], len: 0 }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// This one-row cache copied into `rows` rows, to continue one prompt `rows` ways in one
    /// batched pass per token ([`Model::forward_cached_last`]).
    pub fn repeat(&self, rows: usize) -> Result<KvCache> {
        let copy = |t: &Tensor| -> Result<Tensor> {
            if t.dim(0)? != 1 {
                return Err(TrainError::Model(format!("only a one-row cache is repeated, not {}", t.dim(0)?)));
            }
            Ok(t.repeat((rows, 1, 1, 1))?)
        };
        let layers = self
            .layers
            .iter()
            .map(|l| l.as_ref().map(|(k, v)| Ok::<_, TrainError>((copy(k)?, copy(v)?))).transpose())
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers, len: self.len })
    }
}

/// Per-sequence sums of the target tokens' log-probabilities where `mask` is 1: `[b]`.
pub fn sequence_logps(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let lp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = lp.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
    Ok((picked * mask.to_dtype(logits.dtype())?)?.sum(1)?)
}

/// Mean cross-entropy of `logits [b, t, v]` against `targets [b, t]` (u32) over the
/// positions where `mask [b, t]` is 1: the SFT loss covers only the answer tokens.
pub fn masked_cross_entropy(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let lp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = lp.gather(&targets.unsqueeze(2)?, 2)?.squeeze(2)?;
    let mask = mask.to_dtype(picked.dtype())?;
    let count = mask.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if count == 0.0 {
        return Err(TrainError::Invalid("a batch has no tokens to learn from".into()));
    }
    Ok(((picked * mask)?.sum_all()? * (-1.0 / count))?)
}
