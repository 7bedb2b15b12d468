//! Any OpenAI-compatible chat server (OpenAI, llama.cpp's server, vLLM, Ollama,
//! llama-cpp-python): chat completions with JSON-schema structured output where the server
//! supports it (and a prompt-level fallback where it does not), streaming over SSE,
//! next-token log-probabilities from `/completions`, timeouts, and retries with backoff
//! only for failures a retry can fix.

use std::io::BufRead;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cairn_core::{ChatModel, ChatRequest, ChatResponse, Usage};
use serde_json::{Value, json};

use crate::error::{LlmError, Result};

/// Where and how to call the server.
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    /// Base URL up to `/v1` (`https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`).
    pub base_url: String,
    /// Bearer token, if the server needs one.
    pub api_key: Option<String>,
    /// Model name sent with each request.
    pub model: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts for transient failures (at least 1).
    pub attempts: u32,
    /// Ask the server for JSON-schema output (`response_format`) when a request has a
    /// schema. Servers that reject it are remembered and get the schema in the prompt.
    pub structured_output: bool,
}

/// The bearer token is a secret: `Debug` says only whether there is one.
impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("structured_output", &self.structured_output)
            .finish()
    }
}

impl OpenAiConfig {
    /// Defaults for `model` at `base_url`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(120),
            attempts: 4,
            structured_output: true,
        }
    }
}

/// A chat model behind an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAiChat {
    config: OpenAiConfig,
    agent: ureq::Agent,
    name: String,
    /// 0: OpenAI `json_schema`; 1: `json_object` with a `schema` (llama-cpp-python); 2:
    /// the schema in the prompt. Moves forward when a server rejects a form.
    schema_form: std::sync::atomic::AtomicU8,
}

fn is_context_error(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    ["context_length_exceeded", "context length", "maximum context", "context window", "too many tokens", "exceeds the"]
        .iter()
        .any(|p| t.contains(p))
}

fn short(text: &str) -> String {
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| text.to_owned());
    message.chars().take(300).collect()
}

impl OpenAiChat {
    /// A client (no request is made until the first call).
    pub fn new(config: OpenAiConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let name = format!("openai:{}", config.model);
        let form = if config.structured_output { 0 } else { 2 };
        OpenAiChat { config, agent, name, schema_form: std::sync::atomic::AtomicU8::new(form) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn body(&self, request: &ChatRequest, stream: bool) -> Value {
        let mut messages: Vec<Value> =
            request.messages.iter().map(|m| json!({"role": m.role, "content": m.content})).collect();
        let mut body = json!({
            "model": self.config.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        });
        if let Some(seed) = request.seed {
            body["seed"] = json!(seed);
        }
        if let Some((name, schema)) = &request.schema {
            let form = self.schema_form.load(Ordering::Relaxed);
            if form == 0 {
                body["response_format"] =
                    json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": true}});
            } else if form == 1 {
                body["response_format"] = json!({"type": "json_object", "schema": schema});
            } else {
                // Prompt-level fallback: the caller validates and repairs the reply.
                messages.push(json!({"role": "system", "content": format!(
                    "Reply with one JSON object only, no prose, matching this JSON Schema:\n{schema}"
                )}));
            }
        }
        body["messages"] = Value::Array(messages);
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    /// POSTs with retries on transient failures; returns the successful response.
    fn post(&self, url: &str, body: &Value) -> Result<ureq::http::Response<ureq::Body>> {
        let mut delay = Duration::from_millis(250);
        let attempts = self.config.attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            let mut request = self.agent.post(url);
            if let Some(key) = &self.config.api_key {
                request = request.header("Authorization", &format!("Bearer {key}"));
            }
            let (error, retry_after) = match request.send_json(body) {
                Err(e) => (LlmError::Transport { url: url.to_owned(), message: e.to_string() }, None),
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    if status == 200 {
                        return Ok(response);
                    }
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let text = response.body_mut().read_to_string().unwrap_or_default();
                    let error = if status == 400 && is_context_error(&text) {
                        LlmError::ContextLength { message: short(&text) }
                    } else {
                        LlmError::Http { url: url.to_owned(), status, message: short(&text) }
                    };
                    (error, retry_after)
                }
            };
            // A server that rejects the request's shape (some answer 500 to an unknown
            // `response_format`) will not accept it on a retry.
            let shape = matches!(&error, LlmError::Http { message, .. } if message.contains("response_format"));
            if !error.is_transient() || shape || attempt == attempts {
                return Err(error);
            }
            let wait = retry_after.map_or(delay, |s| Duration::from_secs(s.min(30)));
            tracing::warn!(attempt, error = %error, wait_ms = wait.as_millis() as u64, "model call failed; retrying");
            std::thread::sleep(wait);
            delay *= 2;
            last = Some(error);
        }
        Err(last.unwrap_or(LlmError::Malformed { detail: "no attempt was made".into() }))
    }

    fn complete(&self, request: &ChatRequest, stream: bool, on_text: &mut dyn FnMut(&str)) -> Result<ChatResponse> {
        let url = self.url("chat/completions");
        let body = self.body(request, stream);
        let mut body = body;
        let response = loop {
            match self.post(&url, &body) {
                Err(LlmError::Http { message, .. })
                    if body.get("response_format").is_some() && message.contains("response_format") =>
                {
                    let form = self.schema_form.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(model = %self.name, form, "server rejected this response_format; trying the next form");
                    body = self.body(request, stream);
                }
                other => break other?,
            }
        };
        if stream { self.read_stream(response, on_text) } else { self.read_whole(response, on_text) }
    }

    fn read_whole(
        &self,
        mut response: ureq::http::Response<ureq::Body>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| LlmError::Transport { url: self.url("chat/completions"), message: e.to_string() })?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::Malformed { detail: format!("{e}: {}", short(&text)) })?;
        let content = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| LlmError::Malformed {
                detail: format!("no choices[0].message.content in {}", short(&text)),
            })?
            .to_owned();
        on_text(&content);
        Ok(ChatResponse {
            usage: usage(&v).unwrap_or_default(),
            model: model_of(&v, &self.config.model),
            text: content,
        })
    }

    fn read_stream(
        &self,
        response: ureq::http::Response<ureq::Body>,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<ChatResponse> {
        let reader = std::io::BufReader::new(response.into_body().into_reader());
        let (mut text, mut used, mut model) = (String::new(), None, self.config.model.clone());
        for line in reader.lines() {
            let line =
                line.map_err(|e| LlmError::Transport { url: self.url("chat/completions"), message: e.to_string() })?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
            if data == "[DONE]" {
                break;
            }
            let v: Value =
                serde_json::from_str(data).map_err(|e| LlmError::Malformed { detail: format!("stream chunk: {e}") })?;
            if let Some(piece) = v.pointer("/choices/0/delta/content").and_then(Value::as_str) {
                text.push_str(piece);
                on_text(piece);
            }
            if let Some(u) = usage(&v) {
                used = Some(u);
            }
            model = model_of(&v, &model);
        }
        let usage = used
            .unwrap_or(Usage { prompt_tokens: 0, completion_tokens: cairn_core::llm::estimate_tokens(&text) as u64 });
        Ok(ChatResponse { text, usage, model })
    }

    /// Log-probability of each choice's first token as the next token after `prompt`,
    /// from `/completions` with `logprobs` (the top next-token alternatives); choices that
    /// are not among them get -30.
    fn next_token_scores(&self, prompt: &str, choices: &[String]) -> Result<Vec<f32>> {
        let url = self.url("completions");
        let body =
            json!({"model": self.config.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "logprobs": 20});
        let mut response = self.post(&url, &body)?;
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| LlmError::Transport { url: url.clone(), message: e.to_string() })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| LlmError::Malformed { detail: e.to_string() })?;
        let top = v
            .pointer("/choices/0/logprobs/top_logprobs/0")
            .and_then(Value::as_object)
            .ok_or_else(|| LlmError::Malformed { detail: format!("no logprobs in {}", short(&text)) })?;
        Ok(choices
            .iter()
            .map(|c| {
                top.iter()
                    .filter(|(tok, _)| !tok.is_empty() && c.starts_with(tok.as_str()))
                    .max_by_key(|(tok, _)| tok.len())
                    .and_then(|(_, lp)| lp.as_f64())
                    .map_or(-30.0, |lp| lp as f32)
            })
            .collect())
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(Usage {
        prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        completion_tokens: u.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0),
    })
}

fn model_of(v: &Value, default: &str) -> String {
    v.get("model").and_then(Value::as_str).unwrap_or(default).to_owned()
}

impl ChatModel for OpenAiChat {
    fn chat(&self, request: &ChatRequest) -> cairn_core::Result<ChatResponse> {
        let _span = tracing::info_span!("llm.chat", model = %self.name).entered();
        let started = std::time::Instant::now();
        let r = self.complete(request, false, &mut |_| {}).map_err(|e| e.into_core(&self.name))?;
        tracing::debug!(
            prompt_tokens = r.usage.prompt_tokens,
            completion_tokens = r.usage.completion_tokens,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "chat done"
        );
        Ok(r)
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn chat_stream(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> cairn_core::Result<ChatResponse> {
        self.complete(request, true, on_text).map_err(|e| e.into_core(&self.name))
    }

    fn score_choices(&self, prompt: &str, choices: &[String]) -> cairn_core::Result<Vec<f32>> {
        self.next_token_scores(prompt, choices).map_err(|e| e.into_core(&self.name))
    }
}
