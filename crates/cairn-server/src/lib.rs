//! Cairn over HTTP. The engine (`cairn-engine`) knows nothing of HTTP; this crate maps
//! requests to it: per-knowledge-base search, ask and feedback, an OpenAI-compatible
//! `/v1/chat/completions` (a knowledge base is a "model"), API keys, a body-size limit, a
//! request timeout and a concurrency limit that answers 429.
//!
//! Engine calls are blocking (SQLite, CPU-bound navigation), so each runs on tokio's
//! blocking pool, holding its knowledge base's lock; the async side only parses, authorises
//! and waits with a timeout.

mod error;
pub mod mcp;
mod metrics;
mod openai;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_engine::{AskOptions, Kb, SearchOptions, json as answer_json};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

pub use error::ApiError;

/// How the server guards itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Accepted bearer keys. Write routes always need one (unless `demo`).
    pub api_keys: Vec<String>,
    /// Read routes (search, ask, chat) without a key.
    pub open_reads: bool,
    /// The loopback demo: every route open, feedback included.
    pub demo: bool,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Requests served at once; more get 429.
    pub max_concurrent: usize,
    /// Per-request limit on engine work.
    pub timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            api_keys: Vec::new(),
            open_reads: false,
            demo: false,
            max_body_bytes: 1 << 20,
            max_concurrent: 64,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Shared state: the knowledge bases by name, and the guards.
#[derive(Debug, Clone)]
pub struct AppState {
    kbs: Arc<BTreeMap<String, Arc<Mutex<Kb>>>>,
    config: Arc<ServerConfig>,
    slots: Arc<Semaphore>,
    metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// Serves `kbs` (name → knowledge base) under `config`.
    pub fn new(kbs: Vec<(String, Kb)>, config: ServerConfig) -> AppState {
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        let kbs = kbs.into_iter().map(|(n, kb)| (n, Arc::new(Mutex::new(kb)))).collect();
        AppState { kbs: Arc::new(kbs), config: Arc::new(config), slots, metrics: Arc::default() }
    }

    fn authorise(&self, headers: &HeaderMap, write: bool) -> Result<(), ApiError> {
        if self.config.demo || (!write && self.config.open_reads) {
            return Ok(());
        }
        let key = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match key {
            Some(k) if self.config.api_keys.iter().any(|a| a == k) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }

    fn kb(&self, name: &str) -> Result<Arc<Mutex<Kb>>, ApiError> {
        self.kbs.get(name).cloned().ok_or_else(|| {
            let known: Vec<&String> = self.kbs.keys().collect();
            ApiError::NotFound(format!("no knowledge base {name:?} (served: {known:?})"))
        })
    }

    /// Runs `work` on a knowledge base on the blocking pool, under the concurrency and time
    /// limits.
    async fn with_kb<T: Send + 'static>(
        &self,
        name: &str,
        work: impl FnOnce(&mut Kb) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let kb = self.kb(name)?;
        let _permit = self.slots.clone().try_acquire_owned().map_err(|_| ApiError::Busy(self.config.max_concurrent))?;
        let job = tokio::task::spawn_blocking(move || {
            let mut guard = kb.lock().map_err(|_| ApiError::Internal("knowledge base lock poisoned".into()))?;
            work(&mut guard)
        });
        match tokio::time::timeout(self.config.timeout, job).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(ApiError::Internal(e.to_string())),
            Err(_) => Err(ApiError::Timeout(self.config.timeout.as_secs())),
        }
    }

    /// A body the JSON extractor refused.
    fn rejected(&self, e: axum::extract::rejection::JsonRejection) -> ApiError {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(self.config.max_body_bytes)
        } else {
            ApiError::BadRequest(e.body_text())
        }
    }

    fn names(&self) -> Vec<String> {
        self.kbs.keys().cloned().collect()
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/v1/kbs/{kb}/nodes/{id}", get(node))
        .route("/v1/kbs", get(list_kbs))
        .route("/v1/kbs/{kb}/search", post(search))
        .route("/v1/kbs/{kb}/ask", post(ask))
        .route("/v1/kbs/{kb}/feedback", post(feedback))
        .route("/v1/kbs/{kb}/graph/query", post(graph_query))
        .route("/v1/kbs/{kb}/drug-check", post(drug_check))
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state)
}

/// Serves `router` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "serving");
    axum::serve(listener, router).await
}

/// The web page: one self-contained file, no build step.
async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../web/index.html"))
}

async fn node(
    State(state): State<AppState>,
    Path((kb, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, false)?;
    state
        .with_kb(&kb, move |kb| {
            let resolved = kb.show(&id)?;
            serde_json::to_value(resolved).map(Json).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await
}

async fn metrics_text(State(state): State<AppState>) -> String {
    state.metrics.render()
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"status": "ok", "kbs": state.names()}))
}

async fn list_kbs(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, false)?;
    let mut out = Vec::new();
    for name in state.names() {
        let docs = state.with_kb(&name, |kb| Ok(kb.list()?)).await?;
        let docs: Vec<Value> =
            docs.iter().map(|d| json!({"key": d.key.to_string(), "title": d.title, "nodes": d.nodes})).collect();
        out.push(json!({"name": name, "documents": docs}));
    }
    Ok(Json(json!({"kbs": out})))
}

#[derive(Debug, Deserialize)]
struct SearchBody {
    query: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    k: Option<usize>,
}

async fn search(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    headers: HeaderMap,
    body: Result<Json<SearchBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, false)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    if body.query.trim().is_empty() {
        return Err(ApiError::BadRequest("query is empty".into()));
    }
    let mode = body.mode.as_deref().unwrap_or("hybrid").parse()?;
    let options = SearchOptions { mode, k: body.k.unwrap_or(10).clamp(1, 100), ..SearchOptions::default() };
    let metrics = state.metrics.clone();
    state
        .with_kb(&kb, move |kb| {
            let (results, cached) = kb.search(&body.query, &options)?;
            metrics.search(cached);
            let mut v = serde_json::to_value(&*results).map_err(|e| ApiError::Internal(e.to_string()))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("cached".into(), json!(cached));
            }
            Ok(Json(v))
        })
        .await
}

#[derive(Debug, Deserialize)]
struct AskBody {
    question: String,
}

async fn ask(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    headers: HeaderMap,
    body: Result<Json<AskBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, false)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    if body.question.trim().is_empty() {
        return Err(ApiError::BadRequest("question is empty".into()));
    }
    state.with_kb(&kb, move |kb| ask_value(kb, &body.question)).await.map(Json)
}

/// The documented answer JSON (`docs/ASK-JSON.md`) for `question`.
fn ask_value(kb: &Kb, question: &str) -> Result<Value, ApiError> {
    let asked = kb.ask(question, &AskOptions::default(), &mut cairn_core::NoEvents)?;
    let display = |id: &cairn_core::StableId| kb.display_of(id).unwrap_or_else(|| id.to_string());
    serde_json::to_value(answer_json::ask_json(&asked, &display)).map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Debug, Deserialize)]
struct GraphBody {
    query: String,
    #[serde(default)]
    params: Option<Value>,
}

/// A read-only Cypher query (writes go through the CLI, not the API).
async fn graph_query(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    headers: HeaderMap,
    body: Result<Json<GraphBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, false)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    state
        .with_kb(&kb, move |kb| {
            mcp::graph_query(kb, &body.query, body.params.as_ref()).map(Json).map_err(ApiError::BadRequest)
        })
        .await
}

#[derive(Debug, Deserialize)]
struct DrugBody {
    drugs: Vec<String>,
}

async fn drug_check(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    headers: HeaderMap,
    body: Result<Json<DrugBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, false)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    state.with_kb(&kb, move |kb| mcp::drug_check(kb, &body.drugs).map(Json).map_err(ApiError::BadRequest)).await
}

#[derive(Debug, Deserialize)]
struct FeedbackBody {
    question: String,
    answer: String,
    /// up, down or prefer.
    verdict: String,
    #[serde(default)]
    rejected: Option<String>,
    #[serde(default)]
    cited: Vec<String>,
}

async fn feedback(
    State(state): State<AppState>,
    Path(kb): Path<String>,
    headers: HeaderMap,
    body: Result<Json<FeedbackBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    use cairn_store::feedback::{Feedback, Verdict};
    state.authorise(&headers, true)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    let verdict = match (body.verdict.as_str(), body.rejected) {
        ("up", _) => Verdict::Up,
        ("down", _) => Verdict::Down,
        ("prefer", Some(rejected)) => Verdict::Prefer { rejected },
        ("prefer", None) => return Err(ApiError::BadRequest("a prefer verdict needs `rejected`".into())),
        (other, _) => return Err(ApiError::BadRequest(format!("verdict {other:?} (up, down, prefer)"))),
    };
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let f = Feedback { id: 0, question: body.question, answer: body.answer, verdict, cited: body.cited, at };
    let id = state.with_kb(&kb, move |kb| Ok(kb.record_feedback(&f)?)).await?;
    Ok(Json(json!({"id": id})))
}

/// Binds `addr` and serves until the process ends, on a runtime of its own (callers need
/// no async code). `on_bound` receives the bound address (useful with port 0).
pub fn serve_blocking(addr: &str, state: AppState, on_bound: impl FnOnce(std::net::SocketAddr)) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        on_bound(listener.local_addr()?);
        serve(listener, router(state)).await
    })
}
