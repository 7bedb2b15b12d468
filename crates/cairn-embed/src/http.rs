//! Any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, llama.cpp's server,
//! Ollama, text-embeddings-inference): batched requests, a timeout, and retries with
//! exponential backoff only for errors a retry can fix (429, 5xx, timeouts, refused
//! connections). Other failures are reported at once, marked not transient.

use std::time::Duration;

use cairn_core::{CoreError, EmbedRole, Embedder};
use serde::Deserialize;

use crate::error::{EmbedError, Result};

/// Where and how to call the endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Base URL up to `/v1` (e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8080/v1`).
    pub base_url: String,
    /// Bearer token, if the endpoint needs one.
    pub api_key: Option<String>,
    /// Model name sent with each request.
    pub model: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts for transient failures (at least 1).
    pub attempts: u32,
    /// Texts per request.
    pub batch: usize,
    /// Prefixes some models expect (e5: `query: ` / `passage: `).
    pub query_prefix: String,
    /// See `query_prefix`.
    pub passage_prefix: String,
}

/// The bearer token is a secret: `Debug` says only whether there is one.
impl std::fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("batch", &self.batch)
            .field("query_prefix", &self.query_prefix)
            .field("passage_prefix", &self.passage_prefix)
            .finish()
    }
}

impl EndpointConfig {
    /// Defaults for `model` at `base_url`.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        EndpointConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(30),
            attempts: 4,
            batch: 64,
            query_prefix: String::new(),
            passage_prefix: String::new(),
        }
    }
}

/// An embedder over an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAiEmbedder {
    config: EndpointConfig,
    agent: ureq::Agent,
    dim: usize,
    name: String,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// One failed call: the message and whether a retry may help.
struct CallError {
    message: String,
    transient: bool,
}

impl OpenAiEmbedder {
    /// Connects and probes the vector size with one short request.
    pub fn connect(config: EndpointConfig) -> Result<OpenAiEmbedder> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let name = format!("{}@{}", config.model, config.base_url.trim_end_matches('/'));
        let mut embedder = OpenAiEmbedder { config, agent, dim: 0, name };
        let probe = embedder.request(&["dimension probe"]).map_err(|e| EmbedError::Endpoint(e.message))?;
        embedder.dim = probe.first().map_or(0, Vec::len);
        if embedder.dim == 0 {
            return Err(EmbedError::Endpoint("the endpoint returned an empty embedding".into()));
        }
        tracing::info!(model = %embedder.name, dim = embedder.dim, "connected to embedding endpoint");
        Ok(embedder)
    }

    fn request(&self, texts: &[&str]) -> std::result::Result<Vec<Vec<f32>>, CallError> {
        let url = format!("{}/embeddings", self.config.base_url.trim_end_matches('/'));
        let body = serde_json::json!({ "model": self.config.model, "input": texts });
        let mut delay = Duration::from_millis(250);
        let attempts = self.config.attempts.max(1);
        for attempt in 1..=attempts {
            match self.call(&url, &body, texts.len()) {
                Ok(vectors) => return Ok(vectors),
                Err(e) if e.transient && attempt < attempts => {
                    tracing::warn!(attempt, error = %e.message, "embedding request failed; retrying");
                    std::thread::sleep(delay);
                    delay *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        Err(CallError { message: "no attempt was made".into(), transient: false })
    }

    fn call(
        &self,
        url: &str,
        body: &serde_json::Value,
        expected: usize,
    ) -> std::result::Result<Vec<Vec<f32>>, CallError> {
        let mut request = self.agent.post(url);
        if let Some(key) = &self.config.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send_json(body).map_err(|e| CallError {
            transient: matches!(e, ureq::Error::Timeout(_) | ureq::Error::Io(_) | ureq::Error::ConnectionFailed),
            message: format!("request to {url} failed: {e}"),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| CallError { message: format!("reading the response failed: {e}"), transient: true })?;
        if status != 200 {
            let short: String = text.chars().take(200).collect();
            return Err(CallError {
                message: format!("HTTP {status}: {short}"),
                transient: status == 429 || status >= 500,
            });
        }
        let parsed: Response = serde_json::from_str(&text)
            .map_err(|e| CallError { message: format!("malformed response: {e}"), transient: false })?;
        if parsed.data.len() != expected {
            return Err(CallError {
                message: format!("asked for {expected} embeddings, got {}", parsed.data.len()),
                transient: false,
            });
        }
        let mut items = parsed.data;
        items.sort_by_key(|i| i.index.unwrap_or(0));
        Ok(items.into_iter().map(|i| i.embedding).collect())
    }
}

impl Embedder for OpenAiEmbedder {
    fn embed(&self, texts: &[&str], role: EmbedRole) -> cairn_core::Result<Vec<Vec<f32>>> {
        let prefix = match role {
            EmbedRole::Query => &self.config.query_prefix,
            EmbedRole::Passage => &self.config.passage_prefix,
        };
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.config.batch.max(1)) {
            let inputs: Vec<String> = chunk.iter().map(|t| format!("{prefix}{t}")).collect();
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let vectors = self.request(&refs).map_err(|e| CoreError::Embedding {
                model: self.name.clone(),
                message: e.message,
                transient: e.transient,
            })?;
            if let Some(bad) = vectors.iter().find(|v| v.len() != self.dim) {
                return Err(CoreError::Embedding {
                    model: self.name.clone(),
                    message: format!("expected {} dimensions, got {}", self.dim, bad.len()),
                    transient: false,
                });
            }
            out.extend(vectors);
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
