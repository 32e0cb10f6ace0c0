//! The one error for input the tool refuses: a file and line and why, as `file:line: reason`.
//! Bad input stops the run with exit 2 before any container starts.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

impl ConfigError {
    pub fn new(file: impl std::fmt::Display, line: usize, reason: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_string(),
            line,
            reason: reason.into(),
        }
    }
}
