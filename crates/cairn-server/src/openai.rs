//! The OpenAI-compatible surface: `/v1/models` lists each knowledge base as a model named
//! `cairn-<kb>`, and `/v1/chat/completions` answers the last user message from it. The text
//! carries numbered citations and a source list; the same citations come structured in an
//! extra `citations` field. With `stream: true` the reply is sent as server-sent events in
//! OpenAI's chunk format: the role at once, the verified text when it is ready.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::error::ErrorBody;
use crate::{Access, ApiError, AppState, ask_value};

/// Each knowledge base as a model, `cairn-{kb}`.
#[utoipa::path(get, path = "/v1/models", tag = "openai", security(("api_key" = [])),
    responses((status = 200, description = "OpenAI's model list", body = Object), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn models(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let data: Vec<Value> = state
        .names()
        .iter()
        .map(|n| json!({"id": format!("cairn-{n}"), "object": "model", "created": 0, "owned_by": "cairn"}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// OpenAI's chat request (other fields are accepted and ignored).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ChatBody {
    /// `cairn-{kb}`.
    model: String,
    /// The conversation; the last user message is the question.
    messages: Vec<ChatMessage>,
    /// Answer with server-sent `chat.completion.chunk` events.
    #[serde(default)]
    stream: bool,
}

/// One message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct ChatMessage {
    /// `system`, `user` or `assistant`.
    role: String,
    /// Text, or OpenAI's content parts (`[{"type": "text", "text": …}]`).
    #[serde(default)]
    #[schema(value_type = Object)]
    content: Value,
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("")
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => String::new(),
    }
}

/// The answer text with `[n]` markers and a source list, and the structured citations.
fn render(answer: &Value) -> (String, Vec<Value>) {
    if let Some(reason) = answer.pointer("/abstention/reason").and_then(Value::as_str) {
        return (format!("I cannot answer this from the knowledge base: {reason}"), Vec::new());
    }
    let mut text = String::new();
    let mut citations: Vec<Value> = Vec::new();
    for claim in answer.get("claims").and_then(Value::as_array).into_iter().flatten() {
        let mut marks = String::new();
        for c in claim.get("citations").and_then(Value::as_array).into_iter().flatten() {
            let n = citations.len() + 1;
            marks.push_str(&format!("[{n}]"));
            citations
                .push(json!({"index": n, "id": c.get("id"), "display": c.get("display"), "quote": c.get("quote")}));
        }
        let t = claim.get("text").and_then(Value::as_str).unwrap_or_default();
        text.push_str(&format!("{t} {marks}\n"));
    }
    if !citations.is_empty() {
        text.push_str("\nSources:\n");
        for c in &citations {
            let d = c.get("display").and_then(Value::as_str).unwrap_or_default();
            let q = c.get("quote").and_then(Value::as_str).unwrap_or_default();
            text.push_str(&format!("[{}] {d}: \"{q}\"\n", c["index"]));
        }
    }
    (text, citations)
}

/// OpenAI-compatible chat: the last user message is asked of knowledge base `{kb}` for
/// model `cairn-{kb}`. The text carries `[n]` citations and a source list; `citations`
/// has them structured, and `cairn` the full answer JSON. `stream: true` answers with
/// OpenAI's `chat.completion.chunk` events.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai", security(("api_key" = [])),
    request_body = ChatBody,
    responses((status = 200, content((Object = "application/json"), (crate::api::SseEvent = "text/event-stream"))),
              (status = "4XX", body = ErrorBody)))]
pub(crate) async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ChatBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    let kb = body
        .model
        .strip_prefix("cairn-")
        .ok_or_else(|| {
            ApiError::NotFound(format!("model {:?}: Cairn's models are cairn-<kb> (see /v1/models)", body.model))
        })?
        .to_owned();
    let question = body
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| text_of(&m.content))
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("no user message with text".into()))?;
    let id = format!(
        "chatcmpl-cairn-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let model = body.model.clone();
    if body.stream {
        return stream(&state, &kb, question, Chunker { id, created, model }).await;
    }
    let metrics = state.metrics().clone();
    let answer = state.with_kb(&kb, move |kb| ask_value(kb, &question)).await?;
    metrics.llm_usage(&answer);
    let (text, citations) = render(&answer);
    let v = json!({
        "id": id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": citations,
        "cairn": answer,
    });
    Ok(Json(v).into_response())
}

/// Builds OpenAI's `chat.completion.chunk` events for one reply.
#[derive(Debug, Clone)]
struct Chunker {
    id: String,
    created: u64,
    model: String,
}

impl Chunker {
    fn chunk(&self, delta: Value, finish: Value, extra: Option<(&str, Value)>) -> Event {
        let mut chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if let Some((k, v)) = extra {
            chunk[k] = v;
        }
        Event::default().data(chunk.to_string())
    }
}

/// The streamed reply: the assistant's role goes out at once, so a client sees the reply
/// start; the text follows when the answer is verified (no claim is ever shown before its
/// citations are checked), line by line, then the structured citations and `[DONE]`. An
/// error after the stream started is an `{"error": …}` event, as OpenAI sends it.
async fn stream(state: &AppState, kb: &str, question: String, chunks: Chunker) -> Result<Response, ApiError> {
    let (permit, guard, deadline) = state.read_kb(kb).await?;
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let _ = tx.send(chunks.chunk(json!({"role": "assistant", "content": ""}), Value::Null, None));
    let metrics = state.metrics().clone();
    let expires = state.work_deadline(deadline);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _scope = cairn_core::deadline::ScopeGuard::enter(expires);
        let answer = ask_value(&guard, &question);
        match answer {
            Ok(answer) => {
                metrics.llm_usage(&answer);
                let (text, citations) = render(&answer);
                for line in text.split_inclusive('\n') {
                    let _ = tx.send(chunks.chunk(json!({"content": line}), Value::Null, None));
                }
                let _ = tx.send(chunks.chunk(json!({}), json!("stop"), Some(("citations", json!(citations)))));
            }
            Err(e) => {
                let _ = tx.send(Event::default().data(json!(e.body()).to_string()));
            }
        }
        let _ = tx.send(Event::default().data("[DONE]"));
    });
    Ok(crate::stream::respond(rx, deadline, state.config().timeout))
}
