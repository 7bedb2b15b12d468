//! The one error type of `cairn-index`.

/// Index failures.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A vector has the wrong number of dimensions.
    #[error("vector has {got} dimensions, the index holds {expected}")]
    Dimensions {
        /// Expected.
        expected: usize,
        /// Given.
        got: usize,
    },
    /// A vector holds NaN or infinite values.
    #[error("vector contains non-finite values")]
    NonFinite,
    /// The HNSW library reported an error.
    #[error("vector index: {0}")]
    Hnsw(String),
    /// The keyword index (tantivy) reported an error.
    #[error("keyword index: {0}")]
    Keyword(String),
    /// This build has no tantivy keyword index.
    #[error("the tantivy keyword index needs the `keyword-tantivy` feature")]
    FeatureDisabled,
    /// Reading or writing an index file failed.
    #[error("index file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An index file is not in the expected format.
    #[error("index file {path} is corrupt: {detail}")]
    Corrupt {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Result alias for `cairn-index`.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
