//! The one error type of `cairn-train`.

use std::path::PathBuf;

/// Why a checkpoint, data set or training run failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `config.json` describes a model this crate cannot train.
    #[error("{path}: unsupported model configuration: {detail}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A training example is malformed (line numbers count from 1).
    #[error("{path}:{line}: {detail}")]
    Data {
        /// The data file.
        path: PathBuf,
        /// Its line.
        line: usize,
        /// What is wrong.
        detail: String,
    },
    /// The tokenizer could not be loaded, trained or saved.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A weight is missing or misshapen, or a tensor operation failed.
    #[error("model: {0}")]
    Model(String),
    /// A request that cannot be carried out as asked (bad option values, say).
    #[error("{0}")]
    Invalid(String),
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Model(e.to_string())
    }
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
        let path = path.into();
        move |source| TrainError::Io { path, source }
    }

    pub(crate) fn tokenizer(e: impl std::fmt::Display) -> TrainError {
        TrainError::Tokenizer(e.to_string())
    }
}

/// Result alias for `cairn-train`.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
