//! Cairn over HTTP. The engine (`cairn-engine`) knows nothing of HTTP; this crate maps
//! requests to it: per-knowledge-base documents, ingest, search, ask (plain or streamed over
//! SSE), graph queries, drug checks and feedback; an OpenAI-compatible
//! `/v1/chat/completions` (a knowledge base is a "model"); MCP over streamable HTTP; API
//! keys, a body-size limit, a request timeout and a concurrency limit that answers 429.
//!
//! Every route is declared once, with `#[utoipa::path]`: the router and the OpenAPI spec
//! (`/openapi.json`, committed as `docs/openapi.json` and checked for drift by a test) are
//! built from the same declarations, so they cannot disagree.
//!
//! Engine calls are blocking (SQLite, CPU-bound navigation), so each runs on tokio's
//! blocking pool, holding its knowledge base's lock; the async side only parses, authorises
//! and waits with a timeout.

mod api;
mod docs;
mod error;
pub mod mcp;
mod metrics;
mod openai;
pub mod openapi;
mod stream;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use cairn_engine::{AskOptions, Kb, json as answer_json};
use serde_json::Value;
use tokio::sync::{OwnedRwLockReadGuard, OwnedSemaphorePermit, RwLock, Semaphore};

pub use error::ApiError;

/// How the server guards itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Accepted bearer keys. Write routes always need one.
    pub api_keys: Vec<String>,
    /// Read routes (search, ask, chat, documents) without a key.
    pub open_reads: bool,
    /// The loopback demo: reads and feedback open; ingest still needs a key.
    pub demo: bool,
    /// Largest JSON request body.
    pub max_body_bytes: usize,
    /// Largest uploaded document.
    pub max_upload_bytes: usize,
    /// Requests served at once; more get 429.
    pub max_concurrent: usize,
    /// Per-request limit on engine work.
    pub timeout: Duration,
    /// Server-side folder that `POST /v1/kbs/{kb}/ingest` may read from (`None`: path
    /// ingest is off). Paths outside it are refused.
    pub ingest_root: Option<PathBuf>,
    /// Answer only requests whose Host is a loopback name (a DNS-rebinding guard).
    /// [`serve_blocking`] turns it on when it binds a loopback address.
    pub loopback_hosts_only: bool,
    /// Browser origins besides the server's own that may call it (e.g. the public
    /// `https://cairn.example.com` in front of a reverse proxy).
    pub allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            api_keys: Vec::new(),
            open_reads: false,
            demo: false,
            max_body_bytes: 1 << 20,
            max_upload_bytes: 32 << 20,
            max_concurrent: 64,
            timeout: Duration::from_secs(60),
            ingest_root: None,
            loopback_hosts_only: false,
            allowed_origins: Vec::new(),
        }
    }
}

/// What a route does, for authorisation. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads: open with `--open-reads` or `--demo`.
    Read,
    /// Recording a verdict: open in the loopback demo, else a key.
    Feedback,
    /// Changing documents: always a key.
    Write,
}

/// Shared state: the knowledge bases by name, and the guards.
#[derive(Debug, Clone)]
pub struct AppState {
    kbs: Arc<BTreeMap<String, Arc<RwLock<Kb>>>>,
    config: Arc<ServerConfig>,
    slots: Arc<Semaphore>,
    metrics: Arc<metrics::Metrics>,
}

impl AppState {
    /// Serves `kbs` (name → knowledge base) under `config`.
    pub fn new(kbs: Vec<(String, Kb)>, config: ServerConfig) -> AppState {
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        let kbs = kbs.into_iter().map(|(n, kb)| (n, Arc::new(RwLock::new(kb)))).collect();
        AppState { kbs: Arc::new(kbs), config: Arc::new(config), slots, metrics: Arc::default() }
    }

    pub(crate) fn authorise(&self, headers: &HeaderMap, access: Access) -> Result<(), ApiError> {
        let open = match access {
            Access::Read => self.config.demo || self.config.open_reads,
            Access::Feedback => self.config.demo,
            Access::Write => false,
        };
        if open {
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

    pub(crate) fn kb(&self, name: &str) -> Result<Arc<RwLock<Kb>>, ApiError> {
        self.kbs.get(name).cloned().ok_or_else(|| {
            let known: Vec<&String> = self.kbs.keys().collect();
            ApiError::NotFound(format!("no knowledge base {name:?} (served: {known:?})"))
        })
    }

    /// A slot under the concurrency limit, or 429.
    pub(crate) fn slot(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| ApiError::Busy(self.config.max_concurrent))
    }

    /// A slot and a read guard on knowledge base `name`, both within the request timeout
    /// (tokio's lock is fair, so a waiting writer does not starve readers or the reverse,
    /// and a request that gives up waiting holds no thread).
    pub(crate) async fn read_kb(
        &self,
        name: &str,
    ) -> Result<(OwnedSemaphorePermit, OwnedRwLockReadGuard<Kb>, tokio::time::Instant), ApiError> {
        let kb = self.kb(name)?;
        let permit = self.slot()?;
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let guard = tokio::time::timeout_at(deadline, kb.read_owned())
            .await
            .map_err(|_| ApiError::Timeout(self.config.timeout.as_secs()))?;
        Ok((permit, guard, deadline))
    }

    /// Runs read-only `work` on a knowledge base on the blocking pool, under the
    /// concurrency and time limits. Readers run in parallel.
    pub(crate) async fn with_kb<T: Send + 'static>(
        &self,
        name: &str,
        work: impl FnOnce(&Kb) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (permit, guard, deadline) = self.read_kb(name).await?;
        self.blocking(deadline, move || {
            let _permit = permit;
            work(&guard)
        })
        .await
    }

    /// Runs `work` that changes a knowledge base, alone (readers wait). A write that
    /// answers 504 may still complete: the engine's work cannot be interrupted.
    pub(crate) async fn with_kb_mut<T: Send + 'static>(
        &self,
        name: &str,
        work: impl FnOnce(&mut Kb) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let kb = self.kb(name)?;
        let permit = self.slot()?;
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let mut guard = tokio::time::timeout_at(deadline, kb.write_owned())
            .await
            .map_err(|_| ApiError::Timeout(self.config.timeout.as_secs()))?;
        self.blocking(deadline, move || {
            let _permit = permit;
            work(&mut guard)
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        deadline: tokio::time::Instant,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let job = tokio::task::spawn_blocking(work);
        match tokio::time::timeout_at(deadline, job).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(ApiError::Internal(e.to_string())),
            Err(_) => Err(ApiError::Timeout(self.config.timeout.as_secs())),
        }
    }

    /// A JSON body the extractor refused.
    pub(crate) fn rejected(&self, e: axum::extract::rejection::JsonRejection) -> ApiError {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(self.config.max_body_bytes)
        } else {
            ApiError::BadRequest(e.body_text())
        }
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.kbs.keys().cloned().collect()
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.config
    }

    pub(crate) fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.metrics
    }
}

/// The routes and the OpenAPI document, built from the same `#[utoipa::path]`
/// declarations.
pub fn router_and_spec(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (routes, spec) = openapi::routes().split_for_parts();
    let limit = state.config.max_body_bytes;
    let router = routes
        .fallback(no_route)
        .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            ApiError::MethodNotAllowed(format!("{method} is not served at {} (see /openapi.json)", uri.path()))
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard_host))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::track))
        .with_state(state);
    (router, spec)
}

/// Whether `host` (a Host header or an Origin's authority) names this machine's loopback.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host
            .rsplit_once(':')
            .map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host }),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// DNS-rebinding guard. A server on loopback (and the demo always) answers only requests
/// addressed to a loopback name: a page on another site that rebinds its name to
/// 127.0.0.1 sends its own name as Host. And a browser request from another origin (its
/// `Origin` is neither the Host it was sent to, nor loopback, nor `--allow-origin`) is
/// refused on every server.
async fn guard_host(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(refusal) = refusal(&state, request.headers()) {
        return refusal.into_response();
    }
    next.run(request).await
}

fn refusal(state: &AppState, headers: &HeaderMap) -> Option<ApiError> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let host = header(axum::http::header::HOST).unwrap_or_default();
    if (state.config.demo || state.config.loopback_hosts_only) && !is_loopback_host(host) {
        return Some(ApiError::Forbidden(format!(
            "a server on loopback answers only loopback names, not Host {host:?}"
        )));
    }
    let origin = header(axum::http::header::ORIGIN)?;
    let authority = origin.split_once("://").map_or(origin, |(_, a)| a);
    let allowed = authority.eq_ignore_ascii_case(host)
        || is_loopback_host(authority)
        || state.config.allowed_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
    (!allowed)
        .then(|| ApiError::Forbidden(format!("cross-origin request from {origin:?} refused (see --allow-origin)")))
}

/// Path parameters, with a malformed path (say, invalid percent-encoding) answered by the
/// usual JSON error body rather than axum's plain-text one.
#[derive(Debug)]
pub(crate) struct Params<T>(pub(crate) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(t)) => Ok(Params(t)),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// Unknown routes, in the usual error shape.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route {method} {} (see /openapi.json)", uri.path()))
}

/// The routes.
pub fn router(state: AppState) -> Router {
    router_and_spec(state).0
}

/// Serves `router` on `listener` until Ctrl-C or SIGTERM; then stops accepting, lets the
/// requests in flight finish, and returns.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "serving");
    axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves at Ctrl-C or, on Unix, SIGTERM (what `kill` and service managers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The documented answer JSON (`docs/ASK-JSON.md`) for `question`; `sink` sees the
/// navigation as it happens.
pub(crate) fn ask_value_with(kb: &Kb, question: &str, sink: &mut dyn cairn_core::EventSink) -> Result<Value, ApiError> {
    let asked = kb.ask(question, &AskOptions::default(), sink)?;
    let display = |id: &cairn_core::StableId| kb.display_of(id).unwrap_or_else(|| id.to_string());
    serde_json::to_value(answer_json::ask_json(&asked, &display)).map_err(|e| ApiError::Internal(e.to_string()))
}

/// The documented answer JSON for `question`.
pub(crate) fn ask_value(kb: &Kb, question: &str) -> Result<Value, ApiError> {
    ask_value_with(kb, question, &mut cairn_core::NoEvents)
}

/// Binds `addr` and serves until the process ends, on a runtime of its own (callers need
/// no async code). `on_bound` receives the bound address (useful with port 0).
pub fn serve_blocking(addr: &str, state: AppState, on_bound: impl FnOnce(std::net::SocketAddr)) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let mut state = state;
        if bound.ip().is_loopback() {
            Arc::make_mut(&mut state.config).loopback_hosts_only = true;
        }
        on_bound(bound);
        serve(listener, router(state)).await
    })
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:80", "[::1]:8080", "[::1]", "LOCALHOST"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example", "evil.example:8080", "10.0.0.1:80", "localhost.evil.example", "", "[::2]:1"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}
