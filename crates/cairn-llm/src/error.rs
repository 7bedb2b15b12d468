//! The one error type of `cairn-llm`.

use cairn_core::{CoreError, LlmFailure};

/// Backend failures, each saying whether a retry can help.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The server answered with an error status.
    #[error("HTTP {status} from {url}: {message}")]
    Http {
        /// The endpoint.
        url: String,
        /// Status code.
        status: u16,
        /// The body's message, shortened.
        message: String,
    },
    /// The connection failed or timed out.
    #[error("request to {url} failed: {message}")]
    Transport {
        /// The endpoint.
        url: String,
        /// Why.
        message: String,
    },
    /// The prompt is longer than the model's context.
    #[error("the prompt does not fit the model's context: {message}")]
    ContextLength {
        /// The server's words.
        message: String,
    },
    /// The reply could not be read.
    #[error("malformed reply: {detail}")]
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// A replayed call is not in the cassette.
    #[error("cassette {path} has no recording of this request (key {key}); record it against a real model first")]
    CassetteMiss {
        /// The cassette.
        path: String,
        /// The request's key.
        key: String,
    },
    /// A cassette file could not be read or written.
    #[error("cassette {path}: {message}")]
    Cassette {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A backend spec is not understood.
    #[error(
        "unknown model backend `{spec}`: expected openai[:MODEL], local, gguf:PATH, replay:CASSETTE or record:CASSETTE=SPEC"
    )]
    BadSpec {
        /// The spec.
        spec: String,
    },
    /// This build lacks the backend.
    #[error("the `{feature}` feature is not enabled in this build")]
    FeatureDisabled {
        /// The cargo feature.
        feature: &'static str,
    },
    /// The request's deadline passed while the model was working.
    #[error(transparent)]
    Expired(#[from] cairn_core::deadline::Expired),
    /// The local model failed.
    #[error("local model: {message}")]
    Local {
        /// Why.
        message: String,
    },
}

impl LlmError {
    /// The failure class of the seam.
    pub fn failure(&self) -> LlmFailure {
        match self {
            LlmError::Http { status, .. } if *status == 429 || *status >= 500 => LlmFailure::Transient,
            LlmError::Http { status, .. } if *status == 401 || *status == 403 => LlmFailure::Auth,
            LlmError::Transport { .. } => LlmFailure::Transient,
            LlmError::ContextLength { .. } => LlmFailure::ContextLength,
            LlmError::FeatureDisabled { .. } => LlmFailure::Unsupported,
            LlmError::Http { .. }
            | LlmError::Malformed { .. }
            | LlmError::CassetteMiss { .. }
            | LlmError::Cassette { .. }
            | LlmError::BadSpec { .. }
            | LlmError::Local { .. }
            | LlmError::Expired(_) => LlmFailure::Invalid,
        }
    }

    /// Whether retrying (with backoff) may help.
    pub fn is_transient(&self) -> bool {
        self.failure() == LlmFailure::Transient
    }

    /// This error at the seam.
    pub fn into_core(self, model: &str) -> CoreError {
        if let LlmError::Expired(e) = self {
            return CoreError::Expired(e);
        }
        CoreError::Llm { model: model.to_owned(), failure: self.failure(), message: self.to_string() }
    }
}

/// Result alias for `cairn-llm`.
pub type Result<T, E = LlmError> = std::result::Result<T, E>;
