//! The one error type of `cairn-core`.

/// Errors raised while parsing or checking Cairn's core vocabulary.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Text that should be a stable ID is not one.
    #[error("`{id}` is not a stable ID (expected a kind letter d/s/p and 12 base32 characters, e.g. p7k2m9x4q1b3c)")]
    InvalidStableId {
        /// The offending text.
        id: String,
    },
    /// Text that should be a display ID is not one.
    #[error("`{id}` is not a display ID (expected KEY:PATH, e.g. pharm:7.1.2)")]
    InvalidDisplayId {
        /// The offending text.
        id: String,
    },
    /// A document key breaks the key rules.
    #[error("`{key}` is not a valid document key (1-32 characters of a-z, 0-9 and inner '-')")]
    InvalidDocKey {
        /// The offending key.
        key: String,
    },
    /// An embedding model failed.
    #[error("embedding model `{model}` failed: {message}")]
    Embedding {
        /// The model.
        model: String,
        /// What went wrong.
        message: String,
        /// Whether retrying may help (a timeout, a 429).
        transient: bool,
    },
    /// A language model call failed.
    #[error("language model `{model}` failed ({failure:?}): {message}")]
    Llm {
        /// The model.
        model: String,
        /// What kind of failure (whether a retry can help, a context overflow, …).
        failure: crate::llm::LlmFailure,
        /// What went wrong.
        message: String,
    },
    /// The request's deadline passed (or the server is shutting down).
    #[error(transparent)]
    Expired(#[from] crate::deadline::Expired),
    /// A selector could not decide.
    #[error("selector `{selector}` failed: {message}")]
    Selector {
        /// The selector's name.
        selector: String,
        /// What went wrong.
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
}

/// Result alias for `cairn-core`.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
