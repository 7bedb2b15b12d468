//! The page view of PDF citations: the original file, where a node's text is on its
//! pages, and the pdf.js that renders them in the browser (embedded at build time when
//! `web/vendor` holds it; see `build.rs`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_core::DocKey;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ErrorBody;
use crate::{Access, ApiError, AppState, Params};

/// A document's original file, as ingested (kept for PDFs).
#[utoipa::path(get, path = "/v1/kbs/{kb}/documents/{key}/original", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base"), ("key" = String, Path, description = "Document key")),
    responses((status = 200, description = "The original PDF", content_type = "application/pdf", body = Vec<u8>),
        (status = "4XX", body = ErrorBody)))]
pub(crate) async fn original(
    State(state): State<AppState>,
    Params((kb, key)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let original = state
        .with_kb(&kb, move |kb| {
            let unknown = || ApiError::Engine(cairn_engine::EngineError::UnknownDocument { key: key.clone() });
            let key = DocKey::new(&key).map_err(|_| unknown())?;
            Ok(kb.original(&key)?)
        })
        .await?;
    let mut response = original.bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Opened directly, a PDF runs in a sandbox with no script of its own.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'; frame-ancestors 'none'"),
    );
    Ok(response)
}

/// Where a node's text is on one page.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PageBoxes {
    /// 1-based page number.
    page: u32,
    /// The page's width in PDF points.
    width: f32,
    /// The page's height in PDF points.
    height: f32,
    /// One box per line of the text: left, top, width, height, in points from the page's
    /// top left corner.
    boxes: Vec<Vec<f32>>,
}

/// Where a node's text is on its PDF's pages.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NodeBoxes {
    /// The document's key.
    key: String,
    /// The node located (the live successor, for a retired ID).
    id: String,
    /// Its text.
    text: String,
    /// The pages the text was found on; empty when it was not found.
    pages: Vec<PageBoxes>,
}

/// Where a node's text (a paragraph or a sentence) is on the pages of its PDF: the boxes a
/// page view highlights. 404 when the document's original is not kept (not a PDF).
#[utoipa::path(get, path = "/v1/kbs/{kb}/nodes/{id}/boxes", tag = "documents", security(("api_key" = [])),
    params(("kb" = String, Path, description = "Knowledge base"), ("id" = String, Path, description = "Stable or display ID")),
    responses((status = 200, body = NodeBoxes), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn boxes(
    State(state): State<AppState>,
    Params((kb, id)): Params<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<NodeBoxes>, ApiError> {
    state.authorise(&headers, Access::Read)?;
    let view = state.with_kb(&kb, move |kb| Ok(kb.page_boxes(&id)?)).await?;
    Ok(Json(NodeBoxes {
        key: view.key.to_string(),
        id: view.id.to_string(),
        text: view.text,
        pages: view
            .pages
            .into_iter()
            .map(|p| PageBoxes {
                page: p.page,
                width: p.width,
                height: p.height,
                boxes: p.boxes.iter().map(|b| b.to_vec()).collect(),
            })
            .collect(),
    }))
}

#[cfg(cairn_pdfjs)]
const PDFJS: Option<(&[u8], &[u8])> = Some((
    include_bytes!(concat!(env!("CAIRN_PDFJS_DIR"), "/pdf.min.mjs")),
    include_bytes!(concat!(env!("CAIRN_PDFJS_DIR"), "/pdf.worker.min.mjs")),
));
#[cfg(not(cairn_pdfjs))]
const PDFJS: Option<(&[u8], &[u8])> = None;

fn script(body: Option<&'static [u8]>) -> Response {
    match body {
        Some(bytes) => {
            let mut response = bytes.into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
            response
        }
        None => {
            (StatusCode::NOT_FOUND, "this build has no pdf.js (scripts/fetch-web.sh, then rebuild)").into_response()
        }
    }
}

/// pdf.js (npm's `pdfjs-dist`), for the page view; 404 in a build without it.
#[utoipa::path(get, path = "/vendor/pdf.min.mjs", tag = "page",
    responses((status = 200, description = "pdf.js", content_type = "text/javascript", body = String),
        (status = 404, description = "Not in this build", content_type = "text/plain", body = String)))]
pub(crate) async fn pdfjs() -> Response {
    script(PDFJS.map(|p| p.0))
}

/// pdf.js's worker; 404 in a build without pdf.js.
#[utoipa::path(get, path = "/vendor/pdf.worker.min.mjs", tag = "page",
    responses((status = 200, description = "pdf.js's worker", content_type = "text/javascript", body = String),
        (status = 404, description = "Not in this build", content_type = "text/plain", body = String)))]
pub(crate) async fn pdfjs_worker() -> Response {
    script(PDFJS.map(|p| p.1))
}
