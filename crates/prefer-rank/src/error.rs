//! The error type of prefer-rank.

/// Errors of prefer-rank.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input cannot be used (empty, disconnected, malformed); the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An iterative method diverged or failed to converge.
    #[error("{0}")]
    Numeric(String),
    /// Reading votes failed.
    #[error(transparent)]
    Data(#[from] prefer_data::Error),
}

/// `Result` with prefer-rank's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
