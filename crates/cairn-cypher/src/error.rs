//! The one error type of `cairn-cypher`.

/// A statement that cannot be compiled: bad syntax, or a semantic rule broken.
///
/// `code` follows the openCypher TCK's error details (`UndefinedVariable`,
/// `VariableAlreadyBound`, `InvalidNumberLiteral`, …) where one applies, so a caller can
/// tell errors apart without parsing messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CypherError {
    /// The text does not parse, or breaks a rule checked before execution.
    #[error("{message} (line {line}, column {column})")]
    Syntax {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What is wrong.
        message: String,
        /// The TCK detail code, when one applies.
        code: Option<&'static str>,
    },
    /// A type error that is certain before execution (a literal of the wrong type).
    #[error("type error: {message}")]
    Type {
        /// What is wrong.
        message: String,
        /// The TCK detail code.
        code: &'static str,
    },
}

impl CypherError {
    /// A syntax error at a position.
    pub fn syntax(line: u32, column: u32, message: impl Into<String>) -> Self {
        CypherError::Syntax { line, column, message: message.into(), code: Some("UnexpectedSyntax") }
    }

    /// A type error found before execution.
    pub fn type_error(code: &'static str, message: impl Into<String>) -> Self {
        CypherError::Type { message: message.into(), code }
    }

    /// A syntax error with a TCK detail code.
    pub fn coded(line: u32, column: u32, code: &'static str, message: impl Into<String>) -> Self {
        CypherError::Syntax { line, column, message: message.into(), code: Some(code) }
    }

    /// Where the error is, as (line, column).
    pub fn position(&self) -> Option<(u32, u32)> {
        match self {
            CypherError::Syntax { line, column, .. } => Some((*line, *column)),
            CypherError::Type { .. } => None,
        }
    }

    /// The same error with another detail code (keeps the position).
    pub fn with_code(self, new: &'static str) -> Self {
        match self {
            CypherError::Syntax { line, column, message, .. } => {
                CypherError::Syntax { line, column, message, code: Some(new) }
            }
            CypherError::Type { message, .. } => CypherError::Type { message, code: new },
        }
    }

    /// The openCypher error class: `SyntaxError` or `TypeError`.
    pub fn class(&self) -> &'static str {
        match self {
            CypherError::Syntax { .. } => "SyntaxError",
            CypherError::Type { .. } => "TypeError",
        }
    }

    /// The TCK detail code, if any.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            CypherError::Syntax { code, .. } => *code,
            CypherError::Type { code, .. } => Some(code),
        }
    }
}

/// Result alias for `cairn-cypher`.
pub type Result<T, E = CypherError> = std::result::Result<T, E>;
