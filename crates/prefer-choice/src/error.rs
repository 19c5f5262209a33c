//! The error type of prefer-choice.

/// Errors of prefer-choice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input cannot be used (empty, wrong kind for the model); the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A parameter or setting is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The fit failed (no convergence, parameters not identified).
    #[error("{0}")]
    Numeric(String),
    /// Reading or validating records failed (boxed: the variant is large, and every
    /// `Result` of this crate would carry its size).
    #[error(transparent)]
    Data(Box<prefer_data::Error>),
    /// A rating-engine routine failed.
    #[error(transparent)]
    Rank(Box<prefer_rank::Error>),
}

impl From<prefer_data::Error> for Error {
    fn from(e: prefer_data::Error) -> Self {
        Error::Data(Box::new(e))
    }
}

impl From<prefer_rank::Error> for Error {
    fn from(e: prefer_rank::Error) -> Self {
        Error::Rank(Box::new(e))
    }
}

/// `Result` with prefer-choice's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
