//! The error type of prefer-nn.

/// Errors of prefer-nn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An input does not satisfy a function's contract (shapes, lengths, ranges).
    #[error("{0}")]
    Invalid(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file could not be read or parsed; the message names it.
    #[error("{0}")]
    File(String),
}

/// `Result` with prefer-nn's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
