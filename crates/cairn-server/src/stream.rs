//! `ask` over server-sent events, sent as the engine works: one `step` event per
//! navigation level (with the time since the question arrived, so a client sees the cost
//! of each stage), a `passages` event when the evidence is chosen, then the `answer` (the
//! same JSON as the plain route) or an `error` with the usual error body.

use std::convert::Infallible;
use std::time::Instant;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{ApiError, AppState, ask_value_with};

fn event(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// Waits for a slot and the knowledge base (a 429 or 504 before the stream starts), then
/// starts the answer on the blocking pool and streams its events. The slot is held until
/// the engine is done, and the stream ends with an `error` event at the request timeout.
pub(crate) async fn ask(state: &AppState, kb: &str, question: String) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (permit, guard, deadline) = state.read_kb(kb).await?;
    let (tx, rx) = mpsc::unbounded_channel::<Event>();
    let metrics = state.metrics().clone();
    let expires = state.work_deadline(deadline);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _scope = cairn_core::deadline::ScopeGuard::enter(expires);
        let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
        let mut sink = |e: cairn_core::Event<'_>| {
            let sent = match e {
                cairn_core::Event::Step(step) => {
                    let mut v = serde_json::to_value(step).unwrap_or(Value::Null);
                    if let Some(o) = v.as_object_mut() {
                        o.insert("elapsed_ms".into(), json!(ms(started)));
                    }
                    tx.send(event("step", &v))
                }
                cairn_core::Event::Passages(p) => {
                    tx.send(event("passages", &json!({"passages": p, "elapsed_ms": ms(started)})))
                }
                // The full answer JSON follows below, with display IDs resolved.
                cairn_core::Event::Answer(_) => Ok(()),
            };
            // A closed channel means the client left; the engine finishes regardless.
            let _ = sent;
        };
        let done = match ask_value_with(&guard, &question, &mut sink) {
            Ok(v) => {
                metrics.llm_usage(&v);
                event("answer", &v)
            }
            Err(e) => event("error", &json!(e.body())),
        };
        let _ = tx.send(done);
    });
    Ok(respond(rx, deadline, state.config().timeout))
}

/// Streams what `rx` receives as server-sent events until the sender is done, ending with
/// an `error` event at `timeout`.
pub(crate) fn respond(
    rx: mpsc::UnboundedReceiver<Event>,
    deadline: tokio::time::Instant,
    timeout: std::time::Duration,
) -> Response {
    let stream = futures_util::stream::unfold((rx, false), move |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => Some((Ok::<_, Infallible>(e), (rx, false))),
            Ok(None) => None,
            Err(_) => {
                let e = ApiError::Timeout(timeout.as_secs());
                Some((Ok(event("error", &json!(e.body()))), (rx, true)))
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
