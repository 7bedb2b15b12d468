//! The one error type of `cairn-store`.

use std::path::PathBuf;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("knowledge base error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A database server refused a statement.
    #[error("knowledge base error ({backend}): {detail}")]
    Server {
        /// `postgres` or `mysql`.
        backend: &'static str,
        /// The server's message.
        detail: String,
    },
    /// The database server cannot be reached (down, or no answer within the timeout). The
    /// request fails fast; the next one reconnects.
    #[error("knowledge base unavailable ({backend}): {detail}")]
    Unavailable {
        /// `postgres` or `mysql`.
        backend: &'static str,
        /// What happened.
        detail: String,
    },
    /// The knowledge base directory could not be created or read.
    #[error("cannot open knowledge base at {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a Cairn knowledge base.
    #[error("{path} is not a Cairn knowledge base")]
    NotAKnowledgeBase {
        /// The file.
        path: PathBuf,
    },
    /// The knowledge base was written by a newer Cairn.
    #[error("knowledge base format {found} is newer than this Cairn supports ({supported}); upgrade Cairn")]
    TooNew {
        /// Format found on disk.
        found: u32,
        /// Newest format this build reads.
        supported: u32,
    },
    /// The knowledge base is older than any format this Cairn can migrate.
    #[error(
        "knowledge base format {found} is too old to migrate (oldest supported: {oldest}); re-create it with `cairn ingest`"
    )]
    TooOld {
        /// Format found on disk.
        found: u32,
        /// Oldest format this build migrates.
        oldest: u32,
    },
    /// The document changed since the update was computed (another replica wrote it).
    #[error("document `{key}` changed meanwhile (expected version {expected:?}, found {found:?}); retry")]
    Conflict {
        /// The document.
        key: String,
        /// The version the update was computed against.
        expected: Option<u32>,
        /// The version stored now.
        found: Option<u32>,
    },
    /// No document has this key.
    #[error("no document with key `{key}`")]
    UnknownDocument {
        /// The key.
        key: String,
    },
    /// A stored row does not decode (the file was altered outside Cairn).
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// What failed to decode.
        detail: String,
    },
    /// A write was refused because its input is unusable (an empty feedback answer, say).
    #[error("{detail}")]
    InvalidInput {
        /// What is wrong.
        detail: String,
    },
}

/// Result alias for `cairn-store`.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
