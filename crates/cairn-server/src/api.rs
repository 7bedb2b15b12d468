//! The knowledge-base routes: health, metrics, the page, knowledge bases, nodes, search,
//! ask, graph queries, drug checks, feedback and MCP over HTTP. Each handler is declared
//! once with `#[utoipa::path]`; the router and the OpenAPI spec both come from that.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_engine::SearchOptions;
use cairn_engine::json::AskJson;
use cairn_engine::search::SearchResults;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::{Access, ApiError, AppState, Params, ask_value, mcp};

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The server's state.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok` when the server answers.
    status: &'static str,
    /// The knowledge bases served.
    kbs: Vec<String>,
    /// For knowledge bases on a database server: this replica's applied position in the
    /// store's change log and how far behind it is (empty for embedded stores).
    replication: Vec<crate::replication::Replication>,
}

/// The web page: one self-contained file, no build step.
#[utoipa::path(get, path = "/", tag = "page", responses((status = 200, description = "The web page", content_type = "text/html", body = String)))]
pub(crate) async fn page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../web/index.html"))
}

/// Liveness and the knowledge bases served (never needs a key).
#[utoipa::path(get, path = "/health", tag = "server", responses((status = 200, body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health { status: "ok", kbs: state.names(), replication: state.replication() })
}

/// Prometheus metrics: requests, latency, search cache hits, LLM tokens.
#[utoipa::path(get, path = "/metrics", tag = "server", responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String)))]
pub(crate) async fn metrics_text(State(state): State<AppState>) -> String {
    let mut out = state.metrics().render();
    // The shared (Redis) cache of each knowledge base that has one.
    let mut shared = Vec::new();
    for name in state.names() {
        if let Ok(kb) = state.kb(&name)
            && let Some(s) = kb.read().await.shared_cache_stats()
        {
            shared.push((name, s));
        }
    }
    for (metric, help, get) in [
        (
            "hits",
            "Searches answered from the shared Redis cache.",
            (|s| s.hits) as fn(&cairn_engine::SharedCacheStats) -> u64,
        ),
        ("misses", "Shared-cache lookups that found nothing usable.", |s| s.misses),
        ("invalidated", "Shared-cache entries refused because a later change touches them.", |s| s.invalidated),
        ("bypassed", "Calls that skipped Redis because it was down or slow.", |s| s.bypassed),
    ] {
        if shared.is_empty() {
            break;
        }
        out.push_str(&format!(
            "# HELP cairn_shared_cache_{metric}_total {help}\n# TYPE cairn_shared_cache_{metric}_total counter\n"
        ));
        for (name, s) in &shared {
            out.push_str(&format!("cairn_shared_cache_{metric}_total{{kb=\"{name}\"}} {}\n", get(s)));
        }
    }
    out
}

/// One knowledge base and its documents.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KbSummary {
    /// The name routes use (`/v1/kbs/{kb}/…`); the OpenAI model is `cairn-{name}`.
    name: String,
    /// Its documents.
    documents: Vec<crate::docs::DocumentSummary>,
}

/// Every knowledge base served.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KbList {
    /// The knowledge bases.
    kbs: Vec<KbSummary>,
}

/// The knowledge bases served and their documents.
#[utoipa::path(get, path = "/v1/kbs", tag = "kbs", security(("api_key" = [])),
    responses((status = 200, body = KbList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list_kbs(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<KbList>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let mut kbs = Vec::new();
    for name in state.names() {
        let documents = state.with_kb(&name, crate::docs::summaries).await?;
        kbs.push(KbSummary { name, documents });
    }
    Ok(Json(KbList { kbs }))
}

/// A node by stable ID (`pcrz74tpxdn56`) or display ID (`pharm:8.1.1`). A retired ID
/// answers with `status: retired` and its successor.
#[utoipa::path(get, path = "/v1/kbs/{kb}/nodes/{id}", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base"), ("id" = String, Path, description = "Stable or display ID")),
    responses((status = 200, description = "The node: `status` is `live` or `retired`", body = cairn_store::Resolved), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn node(
    State(state): State<AppState>,
    Params((kb, id)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    state
        .with_kb(&kb, move |kb| {
            let resolved = kb.show(&id)?;
            serde_json::to_value(resolved).map(Json).map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await
}

/// A search.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SearchBody {
    /// The query (any language).
    query: String,
    /// `bm25`, `dense` or `hybrid` (default; falls back to BM25 without an embedding model).
    #[serde(default)]
    mode: Option<String>,
    /// Hits wanted, 1–100 (default 10).
    #[serde(default)]
    k: Option<usize>,
    /// Rerank the best hits with the server's reranking model (`true`), or not (`false`);
    /// absent follows the server's `rerank` setting. A server without one refuses `true`.
    #[serde(default)]
    rerank: Option<bool>,
}

/// Search results and whether the cache answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchResponse {
    /// The results.
    #[serde(flatten)]
    results: SearchResults,
    /// The query cache answered this search.
    cached: bool,
}

/// Ranked paragraphs (BM25, dense or fused), each with its stable ID and explanation.
#[utoipa::path(post, path = "/v1/kbs/{kb}/search", tag = "search", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")), request_body = SearchBody,
    responses((status = 200, body = SearchResponse), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn search(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
    body: JsonBody<SearchBody>,
) -> Result<Json<SearchResponse>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    if body.query.trim().is_empty() {
        return Err(ApiError::BadRequest("query is empty".into()));
    }
    let mode = body.mode.as_deref().unwrap_or("hybrid").parse()?;
    let options =
        SearchOptions { mode, k: body.k.unwrap_or(10).clamp(1, 100), rerank: body.rerank, ..SearchOptions::default() };
    let metrics = state.metrics().clone();
    state
        .with_kb(&kb, move |kb| {
            // A client may not make the server load a model it was not given.
            if options.rerank == Some(true) && kb.settings().rerank.is_none() {
                return Err(ApiError::BadRequest(
                    "this server has no reranking model (start it with --set rerank=SPEC)".into(),
                ));
            }
            let (results, cached) = kb.search(&body.query, &options)?;
            metrics.search(cached);
            Ok(Json(SearchResponse { results: (*results).clone(), cached }))
        })
        .await
}

/// A question.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AskBody {
    /// The question (any language).
    question: String,
    /// Stream the navigation and the answer as server-sent events (also chosen by
    /// `Accept: text/event-stream`).
    #[serde(default)]
    stream: bool,
}

/// An answer whose every claim quotes a checked paragraph, or an abstention
/// (`docs/ASK-JSON.md`). Streamed, the events are `step` (one per navigation level, with
/// `elapsed_ms`), `passages`, then `answer` (this same JSON) or `error`.
#[utoipa::path(post, path = "/v1/kbs/{kb}/ask", tag = "ask", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")), request_body = AskBody,
    responses(
        (status = 200, content(
            (AskJson = "application/json"),
            (SseEvent = "text/event-stream"))),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn ask(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
    body: JsonBody<AskBody>,
) -> Result<Response, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    if body.question.trim().is_empty() {
        return Err(ApiError::BadRequest("question is empty".into()));
    }
    let wants_stream = body.stream
        || headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/event-stream"));
    if wants_stream {
        return crate::stream::ask(&state, &kb, body.question).await;
    }
    let metrics = state.metrics().clone();
    let value = state.with_kb(&kb, move |kb| ask_value(kb, &body.question)).await?;
    metrics.llm_usage(&value);
    Ok(Json(value).into_response())
}

/// One server-sent event.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SseEvent {
    /// `step`, `passages`, `answer` or `error` (for chat: none, OpenAI's chunks).
    event: Option<String>,
    /// The event's JSON, as text.
    data: String,
}

/// A read-only openCypher query.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct GraphBody {
    /// The query (`MATCH … RETURN …`; writes are refused).
    query: String,
    /// Parameters (`$name`), as a JSON object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    params: Option<Value>,
}

/// Columns and rows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GraphRows {
    /// Column names.
    columns: Vec<String>,
    /// One object per row, keyed by column.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<Value>,
}

/// A read-only Cypher query over the knowledge graph (writes go through the CLI).
#[utoipa::path(post, path = "/v1/kbs/{kb}/graph/query", tag = "graph", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")), request_body = GraphBody,
    responses((status = 200, body = GraphRows), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn graph_query(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
    body: JsonBody<GraphBody>,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    state
        .with_kb(&kb, move |kb| {
            mcp::graph_query(kb, &body.query, body.params.as_ref()).map(Json).map_err(ApiError::BadRequest)
        })
        .await
}

/// Drugs to review together.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct DrugBody {
    /// Two or more drug names.
    drugs: Vec<String>,
}

/// The interaction review of two or more drugs: mechanism paths, severity and the cited
/// passages behind every fact.
#[utoipa::path(post, path = "/v1/kbs/{kb}/drug-check", tag = "graph", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")), request_body = DrugBody,
    responses((status = 200, body = cairn_engine::drug::DrugReview), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn drug_check(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
    body: JsonBody<DrugBody>,
) -> Result<Json<Value>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    state.with_kb(&kb, move |kb| mcp::drug_check(kb, &body.drugs).map(Json).map_err(ApiError::BadRequest)).await
}

/// A verdict on an answer.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct FeedbackBody {
    /// The question asked.
    question: String,
    /// The answer shown.
    answer: String,
    /// `up`, `down` or `prefer` (then `rejected` is the worse answer).
    verdict: String,
    /// The worse answer, for `prefer`.
    #[serde(default)]
    rejected: Option<String>,
    /// Stable IDs the answer cited.
    #[serde(default)]
    cited: Vec<String>,
}

/// Longest question, answer (each) and cited-ID list a verdict may carry: what the page
/// and `ask` produce fits with room to spare, and the feedback table cannot be grown by
/// megabytes a request.
const MAX_FEEDBACK_QUESTION: usize = 4 << 10;
const MAX_FEEDBACK_ANSWER: usize = 64 << 10;
const MAX_FEEDBACK_CITED: usize = 256;

fn check_feedback_size(body: &FeedbackBody) -> Result<(), ApiError> {
    let too_long = |what: &str, len: usize, max: usize| {
        (len > max).then(|| ApiError::BadRequest(format!("feedback {what} is {len} long, over the limit of {max}")))
    };
    let answers = body.answer.len().max(body.rejected.as_ref().map_or(0, String::len));
    match too_long("question", body.question.len(), MAX_FEEDBACK_QUESTION)
        .or_else(|| too_long("answer", answers, MAX_FEEDBACK_ANSWER))
        .or_else(|| too_long("cited list", body.cited.len(), MAX_FEEDBACK_CITED))
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The stored verdict's ID.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeedbackCreated {
    /// Row ID in the knowledge base's feedback table.
    id: i64,
}

/// Records a verdict (a write: needs a key, except on the loopback demo).
#[utoipa::path(post, path = "/v1/kbs/{kb}/feedback", tag = "feedback", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")), request_body = FeedbackBody,
    responses((status = 200, body = FeedbackCreated), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn feedback(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
    body: JsonBody<FeedbackBody>,
) -> Result<Json<FeedbackCreated>, ApiError> {
    use cairn_store::feedback::{Feedback, Verdict};
    state.authorise(&headers, Access::Feedback)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    check_feedback_size(&body)?;
    state.feedback_allowed()?;
    let verdict = match (body.verdict.as_str(), body.rejected) {
        ("up", _) => Verdict::Up,
        ("down", _) => Verdict::Down,
        ("prefer", Some(rejected)) => Verdict::Prefer { rejected },
        ("prefer", None) => return Err(ApiError::BadRequest("a prefer verdict needs `rejected`".into())),
        (other, _) => return Err(ApiError::BadRequest(format!("verdict {other:?} (up, down, prefer)"))),
    };
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let f = Feedback { id: 0, question: body.question, answer: body.answer, verdict, cited: body.cited, at };
    let id = state.with_kb_mut(&kb, move |kb| Ok(kb.record_feedback(&f)?)).await?;
    Ok(Json(FeedbackCreated { id }))
}

/// Messages one MCP batch may carry. A batch runs in one slot under one deadline.
const MAX_MCP_BATCH: usize = 32;

/// MCP over streamable HTTP: one JSON-RPC message per POST, answered with JSON (the
/// same tools as `cairn mcp` on stdio). Notifications get 202 and no body.
#[utoipa::path(post, path = "/v1/kbs/{kb}/mcp", tag = "mcp", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")), request_body(content = Object, description = "A JSON-RPC 2.0 message"),
    responses((status = 200, description = "The JSON-RPC reply", body = Object), (status = 202, description = "A notification was accepted"),
              (status = "4XX", body = ErrorBody)))]
pub(crate) async fn mcp_http(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
    body: JsonBody<Value>,
) -> Result<Response, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let Json(msg) = body.map_err(|e| state.rejected(e))?;
    let initialize = msg.get("method").and_then(Value::as_str) == Some("initialize");
    // A JSON array is a batch (protocol revision 2025-03-26): one reply per request in it.
    let reply = state
        .with_kb(&kb, move |kb| {
            Ok(match msg.as_array() {
                Some(batch) if batch.is_empty() => Some(
                    serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "empty batch"}}),
                ),
                Some(batch) if batch.len() > MAX_MCP_BATCH => Some(serde_json::json!({"jsonrpc": "2.0", "id": null,
                    "error": {"code": -32600, "message": format!("a batch of {} messages is over the limit of {MAX_MCP_BATCH}", batch.len())}})),
                Some(batch) => {
                    let replies: Vec<Value> = batch.iter().filter_map(|m| mcp::handle(kb, m)).collect();
                    (!replies.is_empty()).then_some(Value::Array(replies))
                }
                None => mcp::handle(kb, &msg),
            })
        })
        .await?;
    let Some(reply) = reply else {
        return Ok(StatusCode::ACCEPTED.into_response());
    };
    let mut response = Json(reply).into_response();
    if initialize {
        // Stateless: any session ID works, but clients expect one after initialize.
        let id = format!(
            "cairn-{:x}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
            response.headers_mut().insert("mcp-session-id", v);
        }
    }
    Ok(response)
}

/// The streamable-HTTP transport's optional GET stream is not offered.
#[utoipa::path(get, path = "/v1/kbs/{kb}/mcp", tag = "mcp",
    params(("kb" = String, Path, description = "Knowledge base")),
    responses((status = 405, description = "No server-initiated stream: POST messages instead")))]
pub(crate) async fn mcp_get(Params(_kb): Params<String>) -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST, DELETE")]).into_response()
}

/// Ends an MCP session (sessions are stateless here, so there is nothing to drop).
#[utoipa::path(delete, path = "/v1/kbs/{kb}/mcp", tag = "mcp",
    params(("kb" = String, Path, description = "Knowledge base")),
    responses((status = 200, description = "Session ended")))]
pub(crate) async fn mcp_delete(Params(_kb): Params<String>) -> StatusCode {
    StatusCode::OK
}
