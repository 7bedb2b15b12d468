//! The one error type of `cairn-server`, and the one place where errors become HTTP.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_engine::EngineError;
use cairn_graph::GraphError;
use cairn_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or a wrong API key.
    #[error("this route needs an API key (Authorization: Bearer KEY)")]
    Unauthorized,
    /// The key is fine but the action is not allowed (a path outside the ingest root).
    #[error("{0}")]
    Forbidden(String),
    /// A document that could not be ingested; nothing stored changed.
    #[error("{0}")]
    Unprocessable(String),
    /// No such knowledge base, model or route target.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the size limit.
    #[error("the request body is over the {0}-byte limit")]
    TooLarge(usize),
    /// Too many requests in flight.
    #[error("the server is at its concurrency limit ({0} requests); retry shortly")]
    Busy(usize),
    /// Too many writes of one kind in a short time.
    #[error("too many {0} writes; retry in a few seconds")]
    RateLimited(&'static str),
    /// The work took longer than the request timeout.
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A worker thread died.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Status, machine code and error type.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::Unauthorized => (S::UNAUTHORIZED, "unauthorized", "authentication_error"),
            ApiError::Forbidden(_) => (S::FORBIDDEN, "forbidden", "permission_error"),
            ApiError::Unprocessable(_) => (S::UNPROCESSABLE_ENTITY, "unprocessable_document", "invalid_request_error"),
            ApiError::NotFound(_) => (S::NOT_FOUND, "not_found", "invalid_request_error"),
            ApiError::BadRequest(_) => (S::BAD_REQUEST, "bad_request", "invalid_request_error"),
            ApiError::MethodNotAllowed(_) => (S::METHOD_NOT_ALLOWED, "method_not_allowed", "invalid_request_error"),
            ApiError::Busy(_) => (S::TOO_MANY_REQUESTS, "busy", "rate_limit_error"),
            ApiError::RateLimited(_) => (S::TOO_MANY_REQUESTS, "rate_limited", "rate_limit_error"),
            ApiError::TooLarge(_) => (S::PAYLOAD_TOO_LARGE, "too_large", "invalid_request_error"),
            ApiError::Timeout(_) => (S::GATEWAY_TIMEOUT, "timeout", "server_error"),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal", "server_error"),
            ApiError::Engine(e) if e.is_expired() => (S::GATEWAY_TIMEOUT, "timeout", "server_error"),
            ApiError::Engine(e) => match e {
                EngineError::UnknownNode { .. }
                | EngineError::UnknownDocument { .. }
                | EngineError::NoOriginal { .. }
                | EngineError::UnknownDrug { .. } => (S::NOT_FOUND, "not_found", "invalid_request_error"),
                // The graph's tables on an unreachable database server, or written by
                // another replica mid-request: as for the store.
                EngineError::Graph(GraphError::Store(StoreError::Unavailable { .. })) => {
                    (S::SERVICE_UNAVAILABLE, "store_unavailable", "server_error")
                }
                EngineError::Graph(GraphError::Conflict { .. }) => (S::CONFLICT, "conflict", "server_error"),
                EngineError::Graph(GraphError::Store(_)) => (S::INTERNAL_SERVER_ERROR, "internal", "server_error"),
                EngineError::Ingest { .. }
                | EngineError::Setting { .. }
                | EngineError::Core(_)
                | EngineError::Graph(_) => (S::BAD_REQUEST, "bad_request", "invalid_request_error"),
                EngineError::Store(StoreError::InvalidInput { .. }) => {
                    (S::BAD_REQUEST, "bad_request", "invalid_request_error")
                }
                // The database server is down or silent: fail fast; the next request
                // reconnects.
                EngineError::Store(StoreError::Conflict { .. }) => (S::CONFLICT, "conflict", "server_error"),
                EngineError::Store(StoreError::Unavailable { .. }) => {
                    (S::SERVICE_UNAVAILABLE, "store_unavailable", "server_error")
                }
                EngineError::Llm(_) | EngineError::Embed(_) => (S::BAD_GATEWAY, "model_error", "server_error"),
                EngineError::Expired(_) => (S::GATEWAY_TIMEOUT, "timeout", "server_error"),
                EngineError::Locked { .. } => (S::CONFLICT, "locked", "server_error"),
                EngineError::Store(_) | EngineError::Io { .. } | EngineError::Unverified(_) | EngineError::Index(_) => {
                    (S::INTERNAL_SERVER_ERROR, "internal", "server_error")
                }
            },
        }
    }

    /// The error body (also sent as an SSE `error` event).
    pub(crate) fn body(&self) -> ErrorBody {
        let (_, code, kind) = self.parts();
        ErrorBody { error: ErrorDetail { message: self.to_string(), code, kind } }
    }
}

/// Every error response: `{"error": {"message", "code", "type"}}` (OpenAI's shape).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// For people.
    message: String,
    /// For programs: `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`,
    /// `bad_request`, `too_large`,
    /// `unprocessable_document`, `busy`, `rate_limited`, `timeout`, `locked`, `model_error`, `store_unavailable`, `conflict`, `internal`.
    code: &'static str,
    /// OpenAI's error type (`invalid_request_error`, `authentication_error`, …).
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    kind: &'static str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, _, _) = self.parts();
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        (status, Json(self.body())).into_response()
    }
}
