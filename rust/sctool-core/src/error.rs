//! One error enum for every kernel; the binding maps each variant to one Python exception class.

/// Errors a kernel can report. Kernels never panic on user input: they return one of these.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The data handed to a kernel is unusable (wrong shape, bad value); the message says which.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A parameter is out of range or inconsistent with another.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A file could not be read or written; `path` names it.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Result alias used throughout the core.
pub type Result<T> = std::result::Result<T, CoreError>;

impl CoreError {
    /// Wrap an `std::io::Error` with the path it happened on, so messages always name the file.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}
