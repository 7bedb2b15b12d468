//! The one error type of `cairn-engine`.

use std::path::PathBuf;

/// Engine failures.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The knowledge base failed.
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    /// A document could not be ingested.
    #[error("{path}: {source}")]
    Ingest {
        /// The file.
        path: String,
        /// Why.
        source: cairn_ingest::IngestError,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An ID or other input did not parse.
    #[error(transparent)]
    Core(#[from] cairn_core::CoreError),
    /// An answer failed citation checking. Only a bug (or a tampered answer) gets here.
    #[error("answer failed citation checking: {0}")]
    Unverified(Box<cairn_core::Rejected>),
    /// No node has this ID, live or retired.
    #[error("no node `{id}` in this knowledge base")]
    UnknownNode {
        /// The ID asked for.
        id: String,
    },
    /// A page view was asked of a document whose original file is not kept.
    #[error(
        "no original file is kept for `{key}`: pages are kept for PDFs ingested by this version (re-ingest it to open its pages)"
    )]
    NoOriginal {
        /// The document's key.
        key: String,
    },
    /// A document key asked for does not exist.
    #[error("no document with key `{key}` (see `cairn list`)")]
    UnknownDocument {
        /// The key.
        key: String,
    },
    /// A derived index failed.
    #[error(transparent)]
    Index(#[from] cairn_index::IndexError),
    /// The embedding model could not be loaded.
    #[error(transparent)]
    Embed(#[from] cairn_embed::EmbedError),
    /// A language-model backend could not be opened.
    #[error(transparent)]
    Llm(#[from] cairn_llm::LlmError),
    /// A drug name the graph does not know.
    #[error("unknown drug `{name}`{}", if suggestions.is_empty() { String::new() } else { format!(" (did you mean {}?)", suggestions.join(", ")) })]
    UnknownDrug {
        /// As typed.
        name: String,
        /// Known names close to it.
        suggestions: Vec<String>,
    },
    /// The knowledge graph failed (a bad query, import or limit).
    #[error(transparent)]
    Graph(#[from] cairn_graph::GraphError),
    /// The request's deadline passed, or the server is shutting down; nothing was
    /// committed by the step that stopped.
    #[error(transparent)]
    Expired(#[from] cairn_core::deadline::Expired),
    /// Another process holds the knowledge base for writing.
    #[error("knowledge base {} is being changed by another process ({holder}); stop it or wait for it to finish", dir.display())]
    Locked {
        /// The knowledge base's folder.
        dir: PathBuf,
        /// Who holds it, as that process wrote it (PID and command line).
        holder: String,
    },
    /// A configuration value is invalid.
    #[error("invalid setting {name}: {reason}")]
    Setting {
        /// The setting.
        name: String,
        /// Why.
        reason: String,
    },
}

impl EngineError {
    /// Whether the work stopped at its deadline (or at shutdown), in whichever layer.
    pub fn is_expired(&self) -> bool {
        matches!(
            self,
            EngineError::Expired(_)
                | EngineError::Core(cairn_core::CoreError::Expired(_))
                | EngineError::Llm(cairn_llm::LlmError::Expired(_))
                | EngineError::Graph(cairn_graph::GraphError::Expired(_))
                | EngineError::Ingest { source: cairn_ingest::IngestError::Expired(_), .. }
        )
    }
}

/// Result alias for `cairn-engine`.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
