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
mod pages;
mod replication;
mod stream;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderMap;
use cairn_core::deadline::Deadline;
use cairn_engine::{AskOptions, Kb, json as answer_json};
use serde_json::Value;
use tokio::sync::{OwnedRwLockReadGuard, OwnedSemaphorePermit, RwLock, Semaphore};

pub use error::ApiError;

/// How the server guards itself.
#[derive(Clone, PartialEq, Eq)]
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
    /// After Ctrl-C or SIGTERM, how long requests in flight may take to finish before
    /// their work is cancelled.
    pub shutdown_grace: Duration,
    /// How often a replica whose store is a database server reads the store's change log
    /// to follow other replicas' writes.
    pub follow_every: Duration,
    /// Run queued ingestion jobs under this worker name (`None`: this replica only
    /// queues them).
    pub worker: Option<String>,
    /// A running job whose worker has not beaten for this long is queued again.
    pub job_stale_after: Duration,
}

/// API keys are secrets: `Debug` says how many there are, never what they are.
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("api_keys", &format_args!("[{} redacted]", self.api_keys.len()))
            .field("open_reads", &self.open_reads)
            .field("demo", &self.demo)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("max_concurrent", &self.max_concurrent)
            .field("timeout", &self.timeout)
            .field("ingest_root", &self.ingest_root)
            .field("loopback_hosts_only", &self.loopback_hosts_only)
            .field("allowed_origins", &self.allowed_origins)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("follow_every", &self.follow_every)
            .field("worker", &self.worker)
            .field("job_stale_after", &self.job_stale_after)
            .finish()
    }
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
            shutdown_grace: Duration::from_secs(10),
            follow_every: Duration::from_millis(200),
            worker: None,
            job_stale_after: Duration::from_secs(60),
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
    /// Cancelled when the shutdown grace runs out: every request's deadline shares it.
    shutdown: Deadline,
    feedback_rate: Arc<std::sync::Mutex<RateLimit>>,
    /// Knowledge bases on a database server, which follow its change log.
    replication: Arc<BTreeMap<String, replication::Status>>,
}

impl AppState {
    /// Serves `kbs` (name → knowledge base) under `config`.
    pub fn new(kbs: Vec<(String, Kb)>, config: ServerConfig) -> AppState {
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        let replication = kbs
            .iter()
            .filter(|(_, kb)| kb.store().dialect() != cairn_store::Dialect::Sqlite)
            .map(|(name, kb)| {
                let mark = kb.applied_mark();
                let status = replication::Replication {
                    kb: name.clone(),
                    applied_changes: mark.changes,
                    applied_seq: mark.head,
                    ..Default::default()
                };
                (name.clone(), Arc::new(std::sync::Mutex::new(status)))
            })
            .collect();
        let kbs = kbs.into_iter().map(|(n, kb)| (n, Arc::new(RwLock::new(kb)))).collect();
        AppState {
            replication: Arc::new(replication),
            kbs: Arc::new(kbs),
            config: Arc::new(config),
            slots,
            metrics: Arc::default(),
            shutdown: Deadline::none(),
            feedback_rate: Arc::new(std::sync::Mutex::new(RateLimit::new(FEEDBACK_PER_SECOND, FEEDBACK_BURST))),
        }
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
        // Every configured key is compared, each in constant time, so the time taken
        // says nothing about how much of a guess was right.
        let matched =
            key.is_some_and(|k| self.config.api_keys.iter().fold(false, |hit, a| hit | constant_time_eq(a, k)));
        if matched { Ok(()) } else { Err(ApiError::Unauthorized) }
    }

    /// A feedback write under the rate limit, or 429.
    pub(crate) fn feedback_allowed(&self) -> Result<(), ApiError> {
        let mut rate = self.feedback_rate.lock().map_err(|_| ApiError::Internal("feedback rate lock".into()))?;
        if rate.take(std::time::Instant::now()) { Ok(()) } else { Err(ApiError::RateLimited("feedback")) }
    }

    /// The served knowledge base `name`, for a writer beside the server (a folder watcher):
    /// writes take its lock as the HTTP routes do.
    pub fn knowledge_base(&self, name: &str) -> Option<Arc<RwLock<Kb>>> {
        self.kbs.get(name).cloned()
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

    /// Runs `work` that changes a knowledge base, alone (readers wait). Its deadline stops
    /// the engine's work at the next checkpoint; a write stopped that way commits nothing.
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
        // The engine checks this deadline at its checkpoints, so work whose caller has
        // been answered 504 stops within milliseconds and gives back its slot and lock.
        let expires = self.work_deadline(deadline);
        let job = tokio::task::spawn_blocking(move || cairn_core::deadline::scope(expires, work));
        match tokio::time::timeout_at(deadline, job).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(ApiError::Internal(e.to_string())),
            Err(_) => Err(ApiError::Timeout(self.config.timeout.as_secs())),
        }
    }

    /// The handle that cancels every request's engine work (for [`serve_until`]).
    pub fn work_handle(&self) -> Deadline {
        self.shutdown.clone()
    }

    /// The deadline engine work runs under: the request's, cancelled early at shutdown.
    pub(crate) fn work_deadline(&self, deadline: tokio::time::Instant) -> Deadline {
        Deadline::at(deadline.into_std()).with_cancel_of(&self.shutdown)
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

    /// Starts a follower for every knowledge base on a database server (call inside the
    /// runtime that serves; [`serve_blocking`] does).
    pub fn spawn_followers(&self) {
        for (name, status) in self.replication.iter() {
            if let Some(kb) = self.kbs.get(name) {
                tracing::info!(kb = %name, every_ms = self.config.follow_every.as_millis() as u64, "following the store");
                replication::spawn(kb.clone(), status.clone(), self.config.follow_every);
            }
        }
    }

    /// Starts a job worker for every knowledge base when this replica is a worker.
    pub fn spawn_workers(&self) {
        let Some(worker) = self.config.worker.clone() else { return };
        let stale = self.config.job_stale_after.as_secs().max(1) as i64;
        let every = self.config.follow_every;
        for (name, kb) in self.kbs.iter() {
            tracing::info!(kb = %name, worker = %worker, "running ingestion jobs");
            let (kb, worker) = (kb.clone(), worker.clone());
            tokio::spawn(async move {
                loop {
                    let (kb2, worker2) = (kb.clone(), worker.clone());
                    let busy = tokio::task::spawn_blocking(move || docs::work_once(&kb2, &worker2, stale))
                        .await
                        .unwrap_or(false);
                    if !busy {
                        tokio::time::sleep(every).await;
                    }
                }
            });
        }
    }

    /// Each replicated knowledge base's position in its store's change log.
    pub(crate) fn replication(&self) -> Vec<replication::Replication> {
        self.replication
            .values()
            .map(|s| s.lock().unwrap_or_else(std::sync::PoisonError::into_inner).snapshot())
            .collect()
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
        .layer(axum::middleware::from_fn(security_headers))
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
    let listed = state.config.allowed_origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
    // A page's own origin is the Host it was sent to, but under DNS rebinding so is an
    // attacker's. A same-origin request is trusted by itself only where rebinding cannot
    // reach: a loopback server (whose Host was checked above) or a Host that is an IP
    // address. A server reached by name takes browser requests from the origins that
    // `--allow-origin` lists.
    let same_origin = authority.eq_ignore_ascii_case(host) && (is_loopback_host(host) || is_ip_authority(host));
    let allowed = listed || same_origin || (is_loopback_host(authority) && state.config.loopback_hosts_only);
    (!allowed).then(|| {
        ApiError::Forbidden(format!(
            "browser request from origin {origin:?} refused: name it with --allow-origin {origin} if it is this server's page"
        ))
    })
}

/// Whether `host` (with an optional port) is an IP address rather than a name.
fn is_ip_authority(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.parse::<std::net::IpAddr>().is_ok()
}

/// Headers every response carries: the page may not be framed (no clickjacked votes),
/// content types are not sniffed, and the page's script and style sources are pinned.
async fn security_headers(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::http::HeaderValue;
    use axum::http::header;
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // A response with a policy of its own (an original PDF's `sandbox`) keeps it.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The page's policy (it also sits in the page as a meta tag, which cannot say
/// `frame-ancestors`).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

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

/// Serves `router` on `listener` until Ctrl-C or SIGTERM; then stops accepting and gives
/// the requests in flight 10 s to finish before it returns. It cannot cancel their engine
/// work; [`serve_until`] with [`AppState::work_handle`] can (as [`serve_blocking`] does).
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    serve_until(listener, router, shutdown_signal(), &Deadline::none(), Duration::from_secs(10)).await
}

/// Serves until `signal` resolves; then stops accepting and gives the requests in flight
/// `grace` to finish. When it runs out, `work` is cancelled (every request's engine work
/// stops at its next checkpoint), and after a second more the server returns whatever is
/// still open, so a stop never waits on a request without end.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    router: Router,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    work: &Deadline,
    grace: Duration,
) -> std::io::Result<()> {
    tracing::info!(addr = ?listener.local_addr().ok(), "serving");
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        signal.await;
        let _ = stopping_tx.send(());
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(signal);
    let work = work.clone();
    let deadline = async move {
        if stopping_rx.await.is_err() {
            return std::future::pending().await;
        }
        tracing::info!(grace_s = grace.as_secs_f64(), "stopping: requests in flight may finish");
        tokio::time::sleep(grace).await;
        tracing::warn!("shutdown grace ran out: cancelling the work still in flight");
        work.cancel();
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    tokio::select! {
        result = server => result?,
        () = deadline => tracing::warn!("stopped with requests still open"),
    }
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
        state.spawn_followers();
        state.spawn_workers();
        let (work, grace) = (state.work_handle(), state.config.shutdown_grace);
        serve_until(listener, router(state), shutdown_signal(), &work, grace).await
    })?;
    // Blocking work still running was cancelled; do not wait for it beyond a moment.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Whether two secrets are equal, in time that depends only on their lengths.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    std::hint::black_box(diff) == 0
}

/// Feedback writes a second, and the burst allowed above it.
const FEEDBACK_PER_SECOND: f64 = 20.0;
const FEEDBACK_BURST: f64 = 40.0;

/// A token bucket.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Option<std::time::Instant>,
}

impl RateLimit {
    fn new(per_second: f64, burst: f64) -> Self {
        RateLimit { per_second, burst, tokens: burst, at: None }
    }

    /// Takes a token if one is left at `now`.
    fn take(&mut self, now: std::time::Instant) -> bool {
        if let Some(at) = self.at {
            let refill = now.saturating_duration_since(at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + refill).min(self.burst);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{RateLimit, ServerConfig, constant_time_eq, is_loopback_host};

    #[test]
    fn a_server_reached_by_name_takes_browser_requests_only_from_listed_origins() {
        use axum::http::{HeaderMap, HeaderValue, header};
        let headers = |host: &'static str, origin: Option<&'static str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_static(o));
            }
            h
        };
        // Not on loopback, open reads: the case the Origin guard used to wave through.
        let open = ServerConfig { open_reads: true, ..ServerConfig::default() };
        let state = super::AppState::new(Vec::new(), open.clone());
        // A rebound name sends itself as both Host and Origin.
        assert!(super::refusal(&state, &headers("evil.example", Some("http://evil.example"))).is_some());
        assert!(super::refusal(&state, &headers("cairn.example.com", Some("https://cairn.example.com"))).is_some());
        // No Origin (curl, SDKs), or an IP address that rebinding cannot forge: allowed.
        assert!(super::refusal(&state, &headers("cairn.example.com", None)).is_none());
        assert!(super::refusal(&state, &headers("192.0.2.7:8080", Some("http://192.0.2.7:8080"))).is_none());
        // The public origin named with --allow-origin: allowed.
        let listed = ServerConfig { allowed_origins: vec!["https://cairn.example.com".into()], ..open };
        let state = super::AppState::new(Vec::new(), listed);
        assert!(super::refusal(&state, &headers("cairn.example.com", Some("https://cairn.example.com"))).is_none());
        assert!(super::refusal(&state, &headers("cairn.example.com", Some("https://evil.example"))).is_some());
    }

    #[test]
    fn keys_compare_exactly() {
        assert!(constant_time_eq("k1-secret", "k1-secret"));
        for other in ["k1-secreT", "k1-secre", "k1-secret ", "", "k2-secret"] {
            assert!(!constant_time_eq("k1-secret", other), "{other:?}");
        }
        assert!(constant_time_eq("", ""));
    }

    #[test]
    fn debug_never_prints_a_key() {
        let config = ServerConfig { api_keys: vec!["s3cr3t-key".into()], ..ServerConfig::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("1 redacted"), "{shown}");
    }

    #[test]
    fn the_rate_limit_refills_over_time() {
        let start = std::time::Instant::now();
        let mut rate = RateLimit::new(2.0, 3.0);
        assert_eq!((0..5).filter(|_| rate.take(start)).count(), 3, "the burst");
        assert!(!rate.take(start + std::time::Duration::from_millis(100)));
        assert!(rate.take(start + std::time::Duration::from_millis(700)), "refilled");
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:8080", "127.0.0.1", "127.0.0.1:80", "[::1]:8080", "[::1]", "LOCALHOST"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example", "evil.example:8080", "10.0.0.1:80", "localhost.evil.example", "", "[::2]:1"] {
            assert!(!is_loopback_host(h), "{h}");
        }
        for h in ["10.0.0.1:80", "[::2]:1", "192.0.2.7"] {
            assert!(super::is_ip_authority(h), "{h}");
        }
        for h in ["evil.example", "evil.example:8080", ""] {
            assert!(!super::is_ip_authority(h), "{h}");
        }
    }
}
