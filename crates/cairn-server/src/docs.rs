//! Documents: list, read (every node in order, for the page's document view), remove, and
//! ingest, by upload or from a server path inside the configured ingest root.
//!
//! A file that cannot be ingested (a corrupt PDF, undecodable bytes) answers 422 and
//! touches nothing stored. Server paths are checked twice: lexically (no `..`, nothing
//! absolute outside the root) before the file system is touched, so a refused request
//! tells nothing about what exists outside; then after resolving symlinks.

use std::path::{Component, Path as FsPath, PathBuf};

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use cairn_core::{DocKey, NodeKind};
use cairn_engine::{FileOutcome, Kb};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::{Access, ApiError, AppState, Params};

/// One document.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DocumentSummary {
    /// Its key (the prefix of display IDs: `pharm` in `pharm:8.1.1`).
    key: String,
    /// Title.
    title: String,
    /// Where it was ingested from (`upload:NAME` for uploads).
    source: String,
    /// `txt`, `md`, `html` or `pdf`.
    format: String,
    /// Version, bumped by every ingest that changed something.
    version: u32,
    /// Live nodes.
    nodes: u64,
    /// Pages, for PDFs.
    pages: Option<u32>,
    /// Tags.
    tags: Vec<String>,
}

pub(crate) fn summaries(kb: &Kb) -> Result<Vec<DocumentSummary>, ApiError> {
    Ok(kb
        .list()?
        .into_iter()
        .map(|d| DocumentSummary {
            key: d.key.to_string(),
            title: d.title,
            source: d.source,
            format: d.format,
            version: d.version,
            nodes: d.nodes,
            pages: d.pages,
            tags: d.tags,
        })
        .collect())
}

/// Documents in a knowledge base.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DocumentList {
    /// The documents.
    documents: Vec<DocumentSummary>,
}

/// The documents of one knowledge base.
#[utoipa::path(get, path = "/v1/kbs/{kb}/documents", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")),
    responses((status = 200, body = DocumentList), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
) -> Result<Json<DocumentList>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let documents = state.with_kb(&kb, summaries).await?;
    Ok(Json(DocumentList { documents }))
}

/// One node of a document, in reading order.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeView {
    /// Stable ID.
    id: String,
    /// Display ID.
    display: String,
    /// `section` or `paragraph`.
    kind: &'static str,
    /// Nesting depth (1 for top-level sections and paragraphs).
    depth: usize,
    /// The heading line for sections, the text for paragraphs.
    text: String,
    /// Pages, for PDFs.
    pages: Option<cairn_core::PageRange>,
}

/// A whole document: every section and paragraph with its IDs.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DocumentView {
    /// Key.
    key: String,
    /// Title.
    title: String,
    /// `pdf`, `docx`, `md`…: a `pdf` has a page view (`/nodes/{id}/boxes`, `/original`).
    format: String,
    /// Sections and paragraphs in reading order (the document root is left out).
    nodes: Vec<NodeView>,
}

/// A document's sections and paragraphs, in order, with their stable and display IDs.
#[utoipa::path(get, path = "/v1/kbs/{kb}/documents/{key}", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base"), ("key" = String, Path, description = "Document key")),
    responses((status = 200, body = DocumentView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn read(
    State(state): State<AppState>,
    Params((kb, key)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<DocumentView>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    state.with_kb(&kb, move |kb| view(kb, &key).map(Json)).await
}

fn view(kb: &Kb, key: &str) -> Result<DocumentView, ApiError> {
    let unknown = || ApiError::Engine(cairn_engine::EngineError::UnknownDocument { key: key.to_owned() });
    let key = DocKey::new(key).map_err(|_| unknown())?;
    let entry = kb.corpus().doc(&key).ok_or_else(unknown)?;
    let tree = &entry.tree;
    let nodes = tree
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let kind = match n.kind {
                NodeKind::Document | NodeKind::Sentence => return None,
                NodeKind::Section => "section",
                NodeKind::Paragraph => "paragraph",
            };
            let mut depth = 0;
            let mut parent = n.parent;
            while let Some(p) = parent {
                depth += 1;
                parent = tree.nodes[p as usize].parent;
            }
            Some(NodeView {
                id: n.id.to_string(),
                display: tree.display_id(i).to_string(),
                kind,
                depth,
                text: n.text.clone(),
                pages: n.pages,
            })
        })
        .collect();
    let format =
        kb.store().document(&key).map_err(cairn_engine::EngineError::from)?.map(|d| d.format).unwrap_or_default();
    Ok(DocumentView { key: key.to_string(), title: tree.title.clone(), format, nodes })
}

/// What was removed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Removed {
    /// Nodes retired.
    removed: usize,
}

/// Removes a document; its IDs are retired (a write: always needs a key).
#[utoipa::path(delete, path = "/v1/kbs/{kb}/documents/{key}", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base"), ("key" = String, Path, description = "Document key")),
    responses((status = 200, body = Removed), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    Params((kb, key)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Removed>, ApiError> {
    state.authorise(&headers, Access::Write)?;
    let removed = state.with_kb_mut(&kb, move |kb| Ok(kb.remove(&key)?)).await?;
    Ok(Json(Removed { removed }))
}

/// What one ingested file became.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Ingested {
    /// `stored` (a new version) or `unchanged` (same bytes as stored).
    outcome: &'static str,
    /// The document's key.
    key: String,
    /// Its version now (absent when unchanged).
    version: Option<u32>,
    /// Nodes added, changed (new stable ID, old one retired), removed and kept.
    added: usize,
    /// See `added`.
    changed: usize,
    /// See `added`.
    removed: usize,
    /// See `added`.
    unchanged: usize,
    /// Live nodes now.
    nodes: Option<usize>,
}

fn ingested(outcome: FileOutcome) -> Result<Ingested, ApiError> {
    match outcome {
        FileOutcome::Unchanged { key } => Ok(Ingested {
            outcome: "unchanged",
            key: key.to_string(),
            version: None,
            added: 0,
            changed: 0,
            removed: 0,
            unchanged: 0,
            nodes: None,
        }),
        FileOutcome::Stored(v) => Ok(Ingested {
            outcome: "stored",
            key: v.key.to_string(),
            version: Some(v.version),
            added: v.added,
            changed: v.changed,
            removed: v.removed,
            unchanged: v.unchanged,
            nodes: Some(v.nodes),
        }),
        FileOutcome::Failed { source, error } => Err(ApiError::Unprocessable(format!("{source}: {error}"))),
    }
}

/// An upload's name and options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// The file name (its extension picks the format: .txt, .md, .html, .pdf). A bare name:
    /// no folders.
    name: String,
    /// The document key (default: from the name; an upload with the same name updates
    /// the same document).
    #[serde(default)]
    key: Option<String>,
    /// Text encoding, when not UTF-8 and detection should be overridden (e.g. `gb18030`).
    #[serde(default)]
    encoding: Option<String>,
    /// `false`: queue a durable job and answer 202 at once with its record (a replica
    /// started with `--worker` stores it; follow it at `/v1/kbs/{kb}/jobs/{id}`). Default
    /// `true`: store it now and answer with the outcome.
    #[serde(default)]
    wait: Option<bool>,
}

fn bare_name(name: &str) -> Result<&str, ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && FsPath::new(name).file_name().and_then(|n| n.to_str()) == Some(name)
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0']);
    if ok { Ok(name) } else { Err(ApiError::BadRequest(format!("name {name:?} must be a bare file name"))) }
}

fn doc_key(key: Option<String>) -> Result<Option<DocKey>, ApiError> {
    key.map(|k| DocKey::new(&k).map_err(|e| ApiError::BadRequest(format!("key {k:?}: {e}")))).transpose()
}

/// Ingests the request body as one document (a write: always needs a key). A new name
/// adds a document; the same name again stores a new version, keeping the stable IDs of
/// paragraphs that did not change. The body limit for uploads is separate from the JSON
/// limit (`--max-upload`).
#[utoipa::path(post, path = "/v1/kbs/{kb}/documents", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file's bytes"),
    responses((status = 200, body = Ingested), (status = 413, body = ErrorBody),
              (status = 202, description = "Queued as a durable job (`wait=false`)", body = JobView),
              (status = 422, description = "The file could not be ingested; nothing stored changed", body = ErrorBody),
              (status = "4XX", body = ErrorBody)))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    state.authorise(&headers, Access::Write)?;
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let name = bare_name(&query.name)?.to_owned();
    let key = doc_key(query.key)?;
    let limit = state.config().max_upload_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        // Over the limit, or the client went away mid-upload.
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large { ApiError::TooLarge(limit) } else { ApiError::BadRequest(format!("reading the upload: {e}")) }
    })?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest("the upload is empty".into()));
    }
    let encoding = query.encoding;
    tracing::info!(name, bytes = bytes.len(), "upload");
    if query.wait == Some(false) {
        let request =
            cairn_store::jobs::JobRequest { name, key: key.map(|k| k.to_string()), encoding, payload: bytes.to_vec() };
        let job = state
            .with_kb_mut(&kb, move |kb| {
                let id = kb.enqueue(&request)?;
                kb.job(id)?.ok_or_else(|| ApiError::Internal("the queued job vanished".into()))
            })
            .await?;
        return Ok((axum::http::StatusCode::ACCEPTED, Json(JobView::from(job))).into_response());
    }
    state
        .with_kb_mut(&kb, move |kb| {
            let source = format!("upload:{name}");
            ingested(kb.ingest_bytes(&source, &name, &bytes, key, encoding.as_deref())?)
        })
        .await
        .map(|i| Json(i).into_response())
}

/// A durable ingestion job.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JobView {
    /// The job's ID.
    id: i64,
    /// `queued`, `running`, `done` or `failed`.
    status: String,
    /// The file name.
    name: String,
    /// Attempts so far (a job whose worker stopped is tried again).
    attempts: u32,
    /// The worker running or last running it.
    worker: Option<String>,
    /// When done: what the synchronous upload answers (outcome, key, version, counts).
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
    /// When failed: why.
    error: Option<String>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    finished_at: Option<i64>,
}

impl From<cairn_store::jobs::JobRecord> for JobView {
    fn from(j: cairn_store::jobs::JobRecord) -> JobView {
        JobView {
            id: j.id,
            status: serde_json::to_value(j.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            name: j.name,
            attempts: j.attempts,
            worker: j.worker,
            result: j.result.and_then(|r| serde_json::from_str(&r).ok()),
            error: j.error,
            created_at: j.created_at,
            finished_at: j.finished_at,
        }
    }
}

/// One durable ingestion job's state.
#[utoipa::path(get, path = "/v1/kbs/{kb}/jobs/{id}", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base"), ("id" = i64, Path, description = "Job ID")),
    responses((status = 200, body = JobView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn job(
    State(state): State<AppState>,
    Params((kb, id)): Params<(String, i64)>,
    headers: HeaderMap,
) -> Result<Json<JobView>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let job = state.with_kb(&kb, move |kb| Ok(kb.job(id)?)).await?;
    job.map(|j| Json(JobView::from(j))).ok_or_else(|| ApiError::NotFound(format!("no job {id}")))
}

/// Runs one queued job, if there is one: claims it, ingests it under the write lock, and
/// records the outcome. A store that is down leaves the job running, to be retried after
/// its heartbeat goes stale; a file that cannot be ingested fails the job.
pub(crate) fn work_once(kb: &tokio::sync::RwLock<cairn_engine::Kb>, worker: &str, stale_after_s: i64) -> bool {
    let claimed = kb.blocking_write().claim_job(worker, stale_after_s);
    let job = match claimed {
        Ok(Some(job)) => job,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim a job");
            return false;
        }
    };
    let _span = tracing::info_span!("job", id = job.id, attempt = job.attempt, name = %job.request.name).entered();
    let mut kb = kb.blocking_write();
    let key = job.request.key.as_deref().and_then(|k| DocKey::new(k).ok());
    let source = format!("upload:{}", job.request.name);
    let outcome =
        kb.ingest_bytes(&source, &job.request.name, &job.request.payload, key, job.request.encoding.as_deref());
    let result = match outcome {
        Ok(outcome) => match ingested(outcome) {
            Ok(i) => Ok(serde_json::to_string(&i).unwrap_or_default()),
            Err(e) => Err(e.to_string()),
        },
        Err(cairn_engine::EngineError::Store(e @ cairn_store::StoreError::Unavailable { .. })) => {
            tracing::warn!(error = %e, "store unavailable; the job will be retried");
            return true;
        }
        Err(e) => Err(e.to_string()),
    };
    let ok = result.is_ok();
    if let Err(e) = kb.finish_job(job.id, result) {
        tracing::warn!(error = %e, "cannot record the job's outcome; it will be retried");
    } else {
        tracing::info!(ok, "job finished");
    }
    true
}

/// A server-side file or folder to ingest.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct IngestBody {
    /// Relative to the server's ingest root (or absolute, inside it). A folder ingests
    /// every supported file under it.
    path: String,
    /// The document key, for a single file.
    #[serde(default)]
    key: Option<String>,
}

/// Per-file outcomes of a path ingest.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestReport {
    /// Files stored or unchanged.
    files: Vec<Ingested>,
    /// Files that could not be ingested, with why (nothing stored for them changed).
    failed: Vec<FailedFile>,
}

/// A file that could not be ingested.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FailedFile {
    /// The path, relative to the ingest root.
    path: String,
    /// Why.
    error: String,
}

/// The path under `root` that `requested` names, refusing anything outside it.
pub(crate) fn resolve_under(configured: &FsPath, requested: &str) -> Result<PathBuf, ApiError> {
    let outside = || ApiError::Forbidden(format!("{requested:?} is outside the ingest root"));
    let root = configured.canonicalize().map_err(|e| ApiError::Internal(format!("the ingest root: {e}")))?;
    let asked = FsPath::new(requested);
    let relative = if asked.is_absolute() {
        // Inside the root as configured, or as resolved (the configured one may be a link).
        asked.strip_prefix(configured).or_else(|_| asked.strip_prefix(&root)).map_err(|_| outside())?
    } else {
        asked
    };
    // Lexical check first: no `..`, no root or prefix components.
    if relative.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(outside());
    }
    let joined = root.join(relative);
    let real = joined
        .canonicalize()
        .map_err(|_| ApiError::NotFound(format!("{requested:?}: no such file under the ingest root")))?;
    // Then after symlinks are resolved.
    if !real.starts_with(&root) {
        return Err(outside());
    }
    Ok(real)
}

/// Ingests a file or folder that is already on the server, inside the ingest root
/// (`--ingest-root`; without one this route answers 403). A write: always needs a key.
#[utoipa::path(post, path = "/v1/kbs/{kb}/ingest", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base")), request_body = IngestBody,
    responses((status = 200, body = IngestReport),
              (status = 403, description = "No ingest root, or the path is outside it", body = ErrorBody),
              (status = "4XX", body = ErrorBody)))]
pub(crate) async fn ingest_path(
    State(state): State<AppState>,
    Params(kb): Params<String>,
    headers: HeaderMap,
    body: Result<Json<IngestBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<IngestReport>, ApiError> {
    state.authorise(&headers, Access::Write)?;
    let Json(body) = body.map_err(|e| state.rejected(e))?;
    let root = state
        .config()
        .ingest_root
        .clone()
        .ok_or_else(|| ApiError::Forbidden("path ingest is off: start the server with --ingest-root DIR".into()))?;
    let key = doc_key(body.key)?;
    // The file system is read on the blocking pool, within the request's time.
    let (asked, walk_root) = (body.path.clone(), root.clone());
    let walk = tokio::task::spawn_blocking(move || -> Result<Vec<PathBuf>, ApiError> {
        let target = resolve_under(&walk_root, &asked)?;
        cairn_engine::collect_files(std::slice::from_ref(&target))
            .map_err(|e| ApiError::BadRequest(format!("{asked}: {e}")))
    });
    let files = tokio::time::timeout(state.config().timeout, walk)
        .await
        .map_err(|_| ApiError::Timeout(state.config().timeout.as_secs()))?
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    if key.is_some() && files.len() != 1 {
        return Err(ApiError::BadRequest("`key` names one document: give a file, not a folder".into()));
    }
    let root = root.canonicalize().map_err(|e| ApiError::Internal(format!("the ingest root: {e}")))?;
    state
        .with_kb_mut(&kb, move |kb| {
            let mut report = IngestReport { files: Vec::new(), failed: Vec::new() };
            let max_bytes = kb.settings().max_file_mb.saturating_mul(1 << 20);
            for file in files {
                let shown = file.strip_prefix(&root).unwrap_or(&file).display().to_string();
                // Checked as it is read: a symlink inside a folder may point out of the root.
                let (source, name, bytes) = match read_inside(&root, &file, max_bytes) {
                    Ok(read) => read,
                    Err(error) => {
                        report.failed.push(FailedFile { path: shown, error });
                        continue;
                    }
                };
                match kb.ingest_bytes(&source, &name, &bytes, key.clone(), None) {
                    Ok(outcome) => match ingested(outcome) {
                        Ok(i) => report.files.push(i),
                        Err(e) => report.failed.push(FailedFile { path: shown, error: e.to_string() }),
                    },
                    Err(e) => report.failed.push(FailedFile { path: shown, error: e.to_string() }),
                }
            }
            Ok(Json(report))
        })
        .await
}

/// Reads `file` for ingest, refusing what is not a regular file inside `root` at the
/// moment it is read: the file is opened once without following a final symlink and
/// without blocking (a FIFO cannot stall the server), then the open descriptor's real path
/// and type are checked, so swapping a link between the check and the read gains nothing.
/// Returns the source (its real path, as `ingest_file` would name it), its name and bytes.
fn read_inside(root: &FsPath, file: &FsPath, max_bytes: u64) -> Result<(String, String, Vec<u8>), String> {
    use std::io::Read;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let handle = options.open(file).map_err(|e| format!("cannot open: {e}"))?;
    let meta = handle.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    #[cfg(target_os = "linux")]
    let real = {
        use std::os::fd::AsRawFd;
        std::fs::read_link(format!("/proc/self/fd/{}", handle.as_raw_fd())).map_err(|e| e.to_string())?
    };
    #[cfg(not(target_os = "linux"))]
    let real = file.canonicalize().map_err(|e| e.to_string())?;
    if !real.starts_with(root) {
        return Err("outside the ingest root".into());
    }
    if meta.len() > max_bytes {
        return Err(format!("{} bytes is over the {max_bytes}-byte limit (max_file_mb)", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    handle.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!("over the {max_bytes}-byte limit (max_file_mb)"));
    }
    let name = real.file_name().and_then(|n| n.to_str()).unwrap_or("document").to_owned();
    Ok((real.display().to_string(), name, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_root_are_refused_before_and_after_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("sub/a.txt"), "a").expect("write");
        std::fs::write(dir.path().join("secret.txt"), "s").expect("write");
        assert!(resolve_under(&root, "sub/a.txt").is_ok());
        assert!(resolve_under(&root, "./sub").is_ok());
        for bad in ["../secret.txt", "sub/../../secret.txt", "/etc/passwd", ".."] {
            assert!(matches!(resolve_under(&root, bad), Err(ApiError::Forbidden(_))), "{bad}");
        }
        assert!(matches!(resolve_under(&root, "missing.txt"), Err(ApiError::NotFound(_))));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt")).expect("symlink");
            assert!(matches!(resolve_under(&root, "link.txt"), Err(ApiError::Forbidden(_))));
        }
    }

    proptest::proptest! {
        /// Whatever path is asked for, the answer is a refusal or a real path inside the root.
        #[test]
        fn resolved_paths_never_leave_the_root(parts in proptest::collection::vec(
            proptest::prop_oneof!["\\.\\.", "\\.", "sub", "a\\.txt", "link", "out", "", "/", "sub/\\.\\./\\.\\."], 0..6)) {
            let dir = tempfile::tempdir().expect("tempdir");
            let root = dir.path().join("root");
            std::fs::create_dir_all(root.join("sub")).expect("mkdir");
            std::fs::write(root.join("sub/a.txt"), "a").expect("write");
            std::fs::create_dir_all(dir.path().join("out")).expect("mkdir");
            #[cfg(unix)]
            std::os::unix::fs::symlink(dir.path().join("out"), root.join("link")).expect("symlink");
            let asked = parts.join("/");
            if let Ok(p) = resolve_under(&root, &asked) {
                let real_root = root.canonicalize().expect("canonical root");
                proptest::prop_assert!(p.starts_with(&real_root), "{asked:?} -> {}", p.display());
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn reads_refuse_links_out_of_the_root_and_files_that_are_not_regular() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(root.join("a.md"), "# A\n\nText.\n").expect("write");
        std::fs::write(dir.path().join("secret.md"), "# S\n").expect("write");
        std::os::unix::fs::symlink(dir.path().join("secret.md"), root.join("link.md")).expect("symlink");
        let real_root = root.canonicalize().expect("canonical");
        let (source, name, bytes) = read_inside(&real_root, &root.join("a.md"), 1 << 20).expect("a regular file");
        assert_eq!((name.as_str(), bytes.len()), ("a.md", 11));
        assert_eq!(source, real_root.join("a.md").display().to_string());
        assert!(read_inside(&real_root, &root.join("link.md"), 1 << 20).is_err(), "a final symlink is not followed");
        assert!(read_inside(&real_root, &root, 1 << 20).is_err(), "a folder is not a file");
        assert!(read_inside(&real_root, &root.join("a.md"), 4).is_err(), "the size limit");
        // A FIFO neither blocks nor is read.
        let fifo = root.join("pipe.md");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success());
        if made {
            assert_eq!(read_inside(&real_root, &fifo, 1 << 20).err().as_deref(), Some("not a regular file"));
        }
    }

    #[test]
    fn upload_names_are_bare() {
        assert!(bare_name("a.html").is_ok());
        for bad in ["", "../a.txt", "a/b.txt", ".hidden", "a\\b.txt"] {
            assert!(bare_name(bad).is_err(), "{bad:?}");
        }
    }
}
