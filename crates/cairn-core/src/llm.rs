//! The language-model seam: chat in, text out, with token usage; optionally the
//! log-probabilities of a few continuations (what a small model can still do reliably).
//!
//! Pull-shaped and synchronous: a caller builds a [`ChatRequest`] and receives a
//! [`ChatResponse`]. Backends (an OpenAI-compatible server, a local GGUF model, a recorded
//! cassette) live in `cairn-llm`; navigation, answering and judging only see this trait, so
//! tests can plug in a closure.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// Who speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who.
    pub role: Role,
    /// What.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Message { role: Role::System, content: text.into() }
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Message { role: Role::User, content: text.into() }
    }
}

/// A chat request. `schema`, when set, is a JSON Schema the reply must satisfy; backends
/// that can constrain decoding (or ask the server to) do, and the caller validates anyway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// Cap on generated tokens.
    pub max_tokens: u32,
    /// Sampling temperature (0 = greedy).
    pub temperature: f32,
    /// Nucleus sampling.
    pub top_p: f32,
    /// Seed for sampling, where the backend supports one.
    pub seed: Option<u64>,
    /// A JSON Schema for the reply, named.
    pub schema: Option<(String, serde_json::Value)>,
    /// A GBNF grammar (root rule `root`) the reply must follow, for a finer shape than a
    /// schema says (a query language inside a JSON string). Backends that decode under a
    /// grammar use it in place of `schema`; others use `schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grammar: Option<String>,
}

impl ChatRequest {
    /// A greedy request.
    pub fn new(messages: Vec<Message>, max_tokens: u32) -> Self {
        ChatRequest { messages, max_tokens, temperature: 0.0, top_p: 1.0, seed: Some(0), schema: None, grammar: None }
    }

    /// The same request with a reply schema.
    pub fn with_schema(mut self, name: &str, schema: serde_json::Value) -> Self {
        self.schema = Some((name.to_owned(), schema));
        self
    }

    /// Sets a GBNF grammar for backends that decode under one (see [`ChatRequest::grammar`]).
    pub fn with_grammar(mut self, grammar: String) -> Self {
        self.grammar = Some(grammar);
        self
    }
}

/// Tokens a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The text.
    pub text: String,
    /// Tokens used.
    pub usage: Usage,
    /// The model that answered, as the backend names it.
    pub model: String,
}

/// Scores of candidate continuations: the log-probability of each (summed over its
/// tokens), in the order given.
pub type ChoiceScores = Vec<f32>;

/// Why a model call failed. A closed set, so callers decide what to do exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmFailure {
    /// A retry may help (429, 5xx, timeout, refused connection).
    Transient,
    /// The prompt does not fit the model's context.
    ContextLength,
    /// Credentials were refused.
    Auth,
    /// The request was rejected or the reply could not be used.
    Invalid,
    /// The backend cannot do this (e.g. log-probabilities).
    Unsupported,
}

/// Generates text. One required method besides the name.
pub trait ChatModel: Send + Sync {
    /// Answers a chat request.
    fn chat(&self, request: &ChatRequest) -> Result<ChatResponse>;

    /// A stable name: backend and model (`openai:gpt-4o-mini`, `gguf:gemma-3-270m`).
    fn name(&self) -> &str;

    /// Log-probability of each `choices[i]` as the continuation of the raw `prompt` (no
    /// chat template). Backends without access to log-probabilities say so.
    fn score_choices(&self, prompt: &str, choices: &[String]) -> Result<ChoiceScores> {
        let _ = (prompt, choices);
        Err(CoreError::Llm {
            model: self.name().to_owned(),
            failure: LlmFailure::Unsupported,
            message: "this backend does not expose log-probabilities".into(),
        })
    }

    /// Streams the reply piece by piece through `on_text`, then returns it whole. The
    /// default calls [`ChatModel::chat`] and emits the text once.
    fn chat_stream(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> Result<ChatResponse> {
        let response = self.chat(request)?;
        on_text(&response.text);
        Ok(response)
    }
}

impl<T: ChatModel + ?Sized> ChatModel for Box<T> {
    fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        (**self).chat(request)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn score_choices(&self, prompt: &str, choices: &[String]) -> Result<ChoiceScores> {
        (**self).score_choices(prompt, choices)
    }
    fn chat_stream(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> Result<ChatResponse> {
        (**self).chat_stream(request, on_text)
    }
}

impl<T: ChatModel + ?Sized> ChatModel for std::sync::Arc<T> {
    fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        (**self).chat(request)
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn score_choices(&self, prompt: &str, choices: &[String]) -> Result<ChoiceScores> {
        (**self).score_choices(prompt, choices)
    }
    fn chat_stream(&self, request: &ChatRequest, on_text: &mut dyn FnMut(&str)) -> Result<ChatResponse> {
        (**self).chat_stream(request, on_text)
    }
}

/// Adapts a closure into a [`ChatModel`] (tests, scripted models).
pub struct ChatFn<F> {
    /// The name reported.
    pub name: String,
    /// The function.
    pub f: F,
}

impl<F> std::fmt::Debug for ChatFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatFn").field("name", &self.name).finish()
    }
}

impl<F: Fn(&ChatRequest) -> Result<String> + Send + Sync> ChatModel for ChatFn<F> {
    fn chat(&self, request: &ChatRequest) -> Result<ChatResponse> {
        let text = (self.f)(request)?;
        let prompt: usize = request.messages.iter().map(|m| m.content.len()).sum();
        let usage = Usage { prompt_tokens: (prompt / 4) as u64, completion_tokens: (text.len() / 4) as u64 };
        Ok(ChatResponse { text, usage, model: self.name.clone() })
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Rough token count for budgeting before a call (≈ 4 bytes per token for English, one
/// per CJK character); the backend's own usage figures are what gets reported.
pub fn estimate_tokens(text: &str) -> usize {
    let cjk = text.chars().filter(|c| ('\u{3400}'..='\u{9fff}').contains(c)).count();
    let rest = text.len() - cjk * 3;
    cjk + rest.div_ceil(4)
}
