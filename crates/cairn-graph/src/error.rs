//! The one error type of `cairn-graph`.

use cairn_cypher::CypherError;

/// Graph failures. Compile-time problems (syntax and semantic checks) are
/// [`GraphError::Compile`]; the rest happen while a query runs. `code` fields carry the
/// openCypher TCK detail (`DeleteConnectedNode`, `InvalidArgumentType`, …).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The query does not compile.
    #[error("{0}")]
    Compile(#[from] CypherError),
    /// A value has the wrong type for an operation.
    #[error("type error: {message}")]
    Type {
        /// TCK detail code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An argument has the right type but a bad value.
    #[error("argument error: {message}")]
    Argument {
        /// TCK detail code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A syntax rule that can only be checked while running (a `SKIP` parameter that
    /// is negative, say).
    #[error("syntax error: {message}")]
    RuntimeSyntax {
        /// TCK detail code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A deleted node or relationship was read.
    #[error("entity not found: {message}")]
    EntityNotFound {
        /// What was accessed.
        message: String,
    },
    /// A node with relationships was deleted without `DETACH`.
    #[error("cannot delete node {node}: it still has relationships (use DETACH DELETE)")]
    DeleteConnectedNode {
        /// The node's id.
        node: u64,
    },
    /// A parameter the query uses was not given.
    #[error("missing parameter ${name}")]
    MissingParameter {
        /// The parameter.
        name: String,
    },
    /// A semantic rule checked while running (for example MERGE reading its own writes).
    #[error("semantic error: {message}")]
    Semantic {
        /// TCK detail code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A write clause in a read-only query.
    #[error("the query writes ({clause}), but only read-only queries are allowed here")]
    ReadOnly {
        /// The clause.
        clause: &'static str,
    },
    /// A resource limit was reached.
    #[error("query stopped: {what} exceeded the limit of {limit}")]
    Limit {
        /// Which limit.
        what: &'static str,
        /// Its value.
        limit: u64,
    },
    /// The request's deadline passed, or the server is shutting down.
    #[error("query stopped: {0}")]
    Expired(#[from] cairn_core::deadline::Expired),
    /// Import data is malformed.
    #[error("{source_name}:{line}: {message}")]
    Import {
        /// File or stream name.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The graph's tables (in SQLite or on a database server) failed.
    #[error("graph store: {0}")]
    Store(#[from] cairn_store::StoreError),
    /// Another process wrote the graph since this one loaded it; it has been reloaded,
    /// and the write can be run again.
    #[error("graph changed in another process: {detail}")]
    Conflict {
        /// What moved.
        detail: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl GraphError {
    /// A type error.
    pub fn type_error(code: &'static str, message: impl Into<String>) -> Self {
        GraphError::Type { code, message: message.into() }
    }

    /// An argument error.
    pub fn argument(code: &'static str, message: impl Into<String>) -> Self {
        GraphError::Argument { code, message: message.into() }
    }

    /// The TCK's name for this error's class and its detail code.
    pub fn tck_kind(&self) -> (&'static str, Option<&'static str>) {
        match self {
            GraphError::Compile(e) => (e.class(), e.code()),
            GraphError::RuntimeSyntax { code, .. } => ("SyntaxError", Some(code)),
            GraphError::Type { code, .. } => ("TypeError", Some(code)),
            GraphError::Argument { code, .. } => ("ArgumentError", Some(code)),
            GraphError::EntityNotFound { .. } => ("EntityNotFound", Some("DeletedEntityAccess")),
            GraphError::DeleteConnectedNode { .. } => ("ConstraintVerificationFailed", Some("DeleteConnectedNode")),
            GraphError::MissingParameter { .. } => ("ParameterMissing", Some("MissingParameter")),
            GraphError::Semantic { code, .. } => ("SemanticError", Some(code)),
            GraphError::ReadOnly { .. } => ("SemanticError", None),
            GraphError::Limit { .. } => ("ResourceLimit", None),
            GraphError::Expired(_) => ("ResourceLimit", Some("Expired")),
            GraphError::Import { .. } | GraphError::Store(_) | GraphError::Io { .. } => ("InternalError", None),
            GraphError::Conflict { .. } => ("TransientError", Some("Conflict")),
        }
    }

    /// Whether the caller's input is at fault (as opposed to the store or the machine).
    pub fn is_user_error(&self) -> bool {
        !matches!(self, GraphError::Store(_) | GraphError::Io { .. } | GraphError::Conflict { .. })
    }
}

/// Result alias for `cairn-graph`.
pub type Result<T, E = GraphError> = std::result::Result<T, E>;
