//! The one error type of `cairn-embed`.

use std::path::PathBuf;

/// Why an embedder could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// This build has no local inference.
    #[error("local embeddings need the `local` feature (build with --features cairn-cli/embed-local)")]
    FeatureDisabled,
    /// A model file is missing or unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `config.json` is not a BERT configuration Cairn can run.
    #[error("{path}: unsupported model configuration: {detail}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The tokenizer could not be loaded or failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An embedding endpoint failed.
    #[error("embedding endpoint: {0}")]
    Endpoint(String),
    /// The tensor library failed (a missing or misshapen weight, say).
    #[error("model: {0}")]
    Model(String),
}

/// Result alias for `cairn-embed`.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

impl EmbedError {
    /// As the core error the `Embedder` seam returns.
    pub fn into_core(self, model: &str) -> cairn_core::CoreError {
        cairn_core::CoreError::Embedding { model: model.to_owned(), message: self.to_string(), transient: false }
    }
}
