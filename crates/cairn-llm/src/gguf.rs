//! Local GGUF inference in process, through llama.cpp (`llama-cpp-2`): every architecture
//! llama.cpp supports (Llama, Qwen2, Gemma 3, …), the tokenizer and chat template from the
//! GGUF metadata (llama.cpp's built-in format for the architecture when the file has no
//! template), greedy or temperature/top-p sampling with a seed, per-token
//! log-probabilities, and log-probability scoring of continuations that reuses the
//! prompt's KV cache across choices.
//!
//! Chosen by measurement (issue 4, BENCHMARKS.md): correct on Gemma 3 out of the box, and
//! faster single-threaded than the best patched candle model; the price is a C++ build,
//! which is why it sits behind the `gguf` feature. OpenMP is off, so `threads = 1` means one
//! compute thread.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::{Condvar, Mutex, OnceLock};

use cairn_core::{ChatModel, ChatRequest, ChatResponse, Role, Usage};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::error::{LlmError, Result};

/// Options for local inference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufOptions {
    /// Context length in tokens.
    pub n_ctx: u32,
    /// Compute threads per context.
    pub threads: u32,
    /// Contexts, i.e. generations that may run at once (each with its own KV cache and
    /// `threads` threads; the weights are shared).
    pub contexts: u32,
}

impl Default for GgufOptions {
    fn default() -> Self {
        GgufOptions { n_ctx: 4096, threads: 1, contexts: 1 }
    }
}

/// One generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenStep {
    /// Token id.
    pub id: i32,
    /// Its text.
    pub text: String,
    /// Its log-probability under the model (before sampling changes anything).
    pub logprob: f32,
}

/// Timing of one generation, for benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Seconds to evaluate the prompt.
    pub prefill_seconds: f64,
    /// Generated tokens.
    pub generated_tokens: usize,
    /// Seconds to generate them.
    pub generation_seconds: f64,
    /// Prompt tokens whose keys and values were reused from the previous call.
    pub cached_tokens: usize,
}

static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();

fn backend() -> Result<&'static LlamaBackend> {
    let b = BACKEND.get_or_init(|| {
        llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
        LlamaBackend::init().map_err(|e| e.to_string())
    });
    b.as_ref().map_err(|e| LlmError::Local { message: format!("llama.cpp backend: {e}") })
}

fn local(e: impl std::fmt::Display) -> LlmError {
    LlmError::Local { message: e.to_string() }
}

/// The context and the tokens whose keys and values it holds (sequence 0, positions
/// `0..tokens.len()`): the next prompt reuses the longest common prefix.
struct Session {
    ctx: LlamaContext<'static>,
    tokens: Vec<LlamaToken>,
}

/// A context taken from the pool; it goes back on drop.
struct Lease<'m> {
    model: &'m GgufModel,
    session: Option<Session>,
}

impl Lease<'_> {
    fn get(&mut self) -> &mut Session {
        // Present from creation until drop.
        self.session.as_mut().expect("a lease holds its session until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let mut idle = self.model.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            idle.push(session);
            self.model.returned.notify_one();
        }
    }
}

/// A GGUF model loaded in process.
pub struct GgufModel {
    name: String,
    model: &'static LlamaModel,
    /// Idle contexts; a call takes one (waiting when all are busy) and gives it back.
    sessions: Mutex<Vec<Session>>,
    returned: Condvar,
    template: LlamaChatTemplate,
    n_batch: usize,
    /// Whether a cached prefix may be kept when the tail is cut. Not with sliding-window
    /// attention (Gemma 3): its cache drops old positions that a cut-back prefix may need.
    reuse_prefix: bool,
}

impl std::fmt::Debug for GgufModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufModel").field("name", &self.name).finish()
    }
}

fn log_softmax_at(logits: &[f32], token: LlamaToken) -> f32 {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = m + logits.iter().map(|l| (l - m).exp()).sum::<f32>().ln();
    logits.get(token.0 as usize).map_or(f32::NEG_INFINITY, |l| l - lse)
}

impl GgufModel {
    /// Loads a GGUF file. The model stays loaded for the life of the process (models are
    /// opened once and shared).
    pub fn load(path: &Path, options: &GgufOptions) -> Result<Self> {
        let backend = backend()?;
        let params = LlamaModelParams::default().with_n_gpu_layers(0);
        let model = LlamaModel::load_from_file(backend, path, &params)
            .map_err(|e| local(format!("loading {}: {e}", path.display())))?;
        let model: &'static LlamaModel = Box::leak(Box::new(model));
        let n_batch = 512;
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(options.n_ctx))
            .with_n_batch(n_batch as u32)
            .with_n_ubatch(n_batch as u32)
            .with_n_threads(options.threads as i32)
            .with_n_threads_batch(options.threads as i32)
            // llama.cpp's default is "auto", which enables flash attention on CPU and changes
            // the numerics; off, the results equal llama-cpp-python's (whose default is off).
            .with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED);
        let sessions = (0..options.contexts.max(1))
            .map(|_| {
                model
                    .new_context(backend, ctx_params.clone())
                    .map(|ctx| Session { ctx, tokens: Vec::new() })
                    .map_err(local)
            })
            .collect::<Result<Vec<_>>>()?;
        let arch = model.meta_val_str("general.architecture").unwrap_or_default();
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(_) => {
                // No template in the file (base models): llama.cpp's own format for the family.
                let fallback = match arch.as_str() {
                    a if a.starts_with("gemma") => "gemma",
                    a if a.starts_with("qwen") => "chatml",
                    a if a.starts_with("llama") => "llama3",
                    _ => "chatml",
                };
                LlamaChatTemplate::new(fallback).map_err(local)?
            }
        };
        let reuse_prefix = model.meta_val_str(&format!("{arch}.attention.sliding_window")).is_err();
        let stem = path.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        tracing::info!(path = %path.display(), arch, "GGUF model loaded");
        Ok(GgufModel {
            name: format!("gguf:{stem}"),
            model,
            sessions: Mutex::new(sessions),
            returned: Condvar::new(),
            template,
            n_batch,
            reuse_prefix,
        })
    }

    /// The chat-formatted prompt for `request`.
    pub fn render(&self, request: &ChatRequest) -> Result<String> {
        let messages = request
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                LlamaChatMessage::new(role.into(), m.content.clone()).map_err(local)
            })
            .collect::<Result<Vec<_>>>()?;
        self.model.apply_chat_template(&self.template, &messages, true).map_err(local)
    }

    /// Tokens of `text` (with the model's BOS when it wants one).
    pub fn tokenize(&self, text: &str, special: bool) -> Vec<LlamaToken> {
        self.model.vocab().tokenize(text.as_bytes(), true, special)
    }

    /// Evaluates `tokens` from position `start`, logits for the last one only; returns
    /// that token's index in the last batch.
    fn feed(&self, ctx: &mut LlamaContext<'static>, tokens: &[LlamaToken], start: usize) -> Result<i32> {
        let mut batch = LlamaBatch::new(self.n_batch, 1);
        let mut last = -1;
        for (ci, chunk) in tokens.chunks(self.n_batch).enumerate() {
            cairn_core::deadline::check()?;
            batch.clear();
            let final_chunk = ci * self.n_batch + chunk.len() == tokens.len();
            for (j, t) in chunk.iter().enumerate() {
                let pos = (start + ci * self.n_batch + j) as i32;
                batch.add(*t, pos, &[0], final_chunk && j + 1 == chunk.len()).map_err(local)?;
            }
            ctx.decode(&mut batch).map_err(local)?;
            last = batch.n_tokens() - 1;
        }
        Ok(last)
    }

    /// Forgets the cached prompt prefixes (benchmarks measure a cold prefill).
    pub fn forget_prefix(&self) {
        if let Ok(mut sessions) = self.sessions.lock() {
            for session in sessions.iter_mut() {
                session.ctx.clear_kv_cache();
                session.tokens.clear();
            }
        }
    }

    /// An idle context, waiting for one when all are busy.
    fn session(&self) -> Result<Lease<'_>> {
        let mut idle = self.sessions.lock().map_err(|_| local("context pool poisoned"))?;
        loop {
            if let Some(session) = idle.pop() {
                return Ok(Lease { model: self, session: Some(session) });
            }
            idle = self.returned.wait(idle).map_err(|_| local("context pool poisoned"))?;
        }
    }

    /// Brings the context to `tokens` and returns the index of the last one's logits. The
    /// longest prefix already in the cache is kept (at least the last token is evaluated
    /// again, for its logits); the rest is cut and evaluated. On error the session forgets
    /// what it cannot vouch for.
    fn prepare(&self, session: &mut Session, tokens: &[LlamaToken]) -> Result<(i32, usize)> {
        let mut common = if self.reuse_prefix {
            session.tokens.iter().zip(tokens).take_while(|(a, b)| a == b).count().min(tokens.len().saturating_sub(1))
        } else {
            0
        };
        if common == 0 {
            session.ctx.clear_kv_cache();
        } else if session.ctx.kv_cache_seq_rm(0, Some(common as u32), None).is_err() {
            session.ctx.clear_kv_cache();
            common = 0;
        }
        session.tokens.truncate(common);
        let idx = self.feed(&mut session.ctx, &tokens[common..], common)?;
        session.tokens.extend_from_slice(&tokens[common..]);
        Ok((idx, common))
    }

    /// Generates up to `max_tokens` after the raw `prompt` (already chat-formatted, or a
    /// plain completion prompt), calling `on_token` with each step. With `logprobs`, each
    /// step carries its token's log-probability (a softmax over the whole vocabulary per
    /// token, so it is off when nobody asks).
    pub fn generate(
        &self,
        prompt: &str,
        request: &ChatRequest,
        logprobs: bool,
        on_token: &mut dyn FnMut(&TokenStep),
    ) -> Result<(Vec<TokenStep>, Timing)> {
        let tokens = self.tokenize(prompt, true);
        let mut lease = self.session()?;
        let session = lease.get();
        if tokens.len() + request.max_tokens as usize > session.ctx.n_ctx() as usize {
            return Err(LlmError::ContextLength {
                message: format!(
                    "{} prompt tokens + {} to generate > context {}",
                    tokens.len(),
                    request.max_tokens,
                    session.ctx.n_ctx()
                ),
            });
        }
        let started = std::time::Instant::now();
        let (mut idx, reused) = self.prepare(session, &tokens)?;
        let prefill_seconds = started.elapsed().as_secs_f64();
        // Greedy decoding is an argmax over the logits; llama.cpp's greedy sampler would
        // first copy all 262k candidates of a Gemma vocabulary into a token array. A reply
        // schema is decoded under its grammar instead: the model cannot leave its shape.
        let gbnf = match (&request.grammar, &request.schema) {
            (Some(g), _) => Some(("grammar".to_owned(), Ok(g.clone()))),
            (None, Some((name, schema))) => Some((name.clone(), crate::grammar::schema_to_gbnf(schema))),
            (None, None) => None,
        };
        let grammar = gbnf.as_ref().and_then(|(name, gbnf)| match gbnf {
            Ok(g) => match LlamaSampler::grammar(self.model, g, "root") {
                Ok(sampler) => Some(sampler),
                Err(e) => {
                    tracing::warn!(schema = %name, error = %e, "llama.cpp refused the grammar; decoding unconstrained");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(schema = %name, error = %e, "decoding unconstrained");
                None
            }
        });
        let constrained = grammar.is_some();
        let greedy = request.temperature <= 0.0 && !constrained;
        let mut sampler = match grammar {
            Some(g) if request.temperature <= 0.0 => LlamaSampler::chain_simple([g, LlamaSampler::greedy()]),
            Some(g) => LlamaSampler::chain_simple([
                g,
                LlamaSampler::temp(request.temperature.max(1e-3)),
                LlamaSampler::top_p(request.top_p, 1),
                LlamaSampler::dist(request.seed.unwrap_or(0) as u32),
            ]),
            None => LlamaSampler::chain_simple([
                LlamaSampler::temp(request.temperature.max(1e-3)),
                LlamaSampler::top_p(request.top_p, 1),
                LlamaSampler::dist(request.seed.unwrap_or(0) as u32),
            ]),
        };
        let vocab = self.model.vocab();
        let mut steps = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let started = std::time::Instant::now();
        let mut batch = LlamaBatch::new(1, 1);
        for pos in tokens.len()..tokens.len() + request.max_tokens as usize {
            cairn_core::deadline::check()?;
            let logprob_of = |ctx: &LlamaContext<'static>, t: LlamaToken| log_softmax_at(ctx.get_logits_ith(idx), t);
            let t = if greedy {
                let logits = session.ctx.get_logits_ith(idx);
                // The first maximum, as numpy's argmax and llama.cpp's greedy sampler pick.
                let mut best = 0;
                for (i, l) in logits.iter().enumerate() {
                    if *l > logits[best] {
                        best = i;
                    }
                }
                LlamaToken(best as i32)
            } else {
                sampler.sample(&session.ctx, idx)
            };
            if vocab.is_eog(t) {
                break;
            }
            let logprob = if logprobs { logprob_of(&session.ctx, t) } else { f32::NAN };
            pending.extend(vocab.token_to_piece(t, false, None));
            // Emit whole characters only (a token can end inside a UTF-8 sequence).
            let valid = match std::str::from_utf8(&pending) {
                Ok(s) => s.len(),
                Err(e) => e.valid_up_to(),
            };
            let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
            pending.drain(..valid);
            let step = TokenStep { id: t.0, text, logprob };
            on_token(&step);
            steps.push(step);
            batch.clear();
            batch.add(t, pos as i32, &[0], true).map_err(local)?;
            session.ctx.decode(&mut batch).map_err(local)?;
            session.tokens.push(t);
            idx = 0;
        }
        let timing = Timing {
            prompt_tokens: tokens.len(),
            prefill_seconds,
            cached_tokens: reused,
            generated_tokens: steps.len(),
            generation_seconds: started.elapsed().as_secs_f64(),
        };
        Ok((steps, timing))
    }

    /// Log-probability of each choice (all its tokens) after `prompt`; the prompt is
    /// evaluated once and its KV cache reused for every choice.
    pub fn score(&self, prompt: &str, choices: &[String]) -> Result<Vec<f32>> {
        let prompt_tokens = self.tokenize(prompt, false);
        let mut lease = self.session()?;
        let session = lease.get();
        let (idx, _) = self.prepare(session, &prompt_tokens)?;
        let first_logits = session.ctx.get_logits_ith(idx).to_vec();
        let vocab = self.model.vocab();
        let mut out = Vec::with_capacity(choices.len());
        for choice in choices {
            let toks = vocab.tokenize(choice.as_bytes(), false, false);
            let Some((&first, rest)) = toks.split_first() else {
                out.push(0.0);
                continue;
            };
            let mut lp = log_softmax_at(&first_logits, first);
            let mut prev = first;
            for (pos, &t) in (prompt_tokens.len()..).zip(rest) {
                // The cache now holds more than the session's tokens: forget them until the
                // tail is cut again.
                session.tokens.clear();
                let i = self.feed(&mut session.ctx, &[prev], pos)?;
                lp += log_softmax_at(session.ctx.get_logits_ith(i), t);
                prev = t;
            }
            if !rest.is_empty() {
                session.ctx.kv_cache_seq_rm(0, Some(prompt_tokens.len() as u32), None).map_err(local)?;
                session.tokens = prompt_tokens.clone();
            }
            out.push(lp);
        }
        Ok(out)
    }

    fn respond(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> Result<ChatResponse> {
        let prompt = self.render(request)?;
        let (steps, timing) = self.generate(&prompt, request, false, &mut |s| on_text(&s.text))?;
        let text: String = steps.iter().map(|s| s.text.as_str()).collect();
        Ok(ChatResponse {
            text,
            usage: Usage {
                prompt_tokens: timing.prompt_tokens as u64,
                completion_tokens: timing.generated_tokens as u64,
            },
            model: self.name.clone(),
        })
    }
}

impl ChatModel for GgufModel {
    fn chat(&self, request: &ChatRequest) -> cairn_core::Result<ChatResponse> {
        let _span = tracing::info_span!("llm.chat", model = %self.name).entered();
        self.respond(request, &mut |_| {}).map_err(|e| e.into_core(&self.name))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn score_choices(&self, prompt: &str, choices: &[String]) -> cairn_core::Result<Vec<f32>> {
        self.score(prompt, choices).map_err(|e| e.into_core(&self.name))
    }

    fn chat_stream(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> cairn_core::Result<ChatResponse> {
        self.respond(request, on_text).map_err(|e| e.into_core(&self.name))
    }
}
