//! The error type of prefer-eval.

/// Errors of prefer-eval.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A data file could not be read, or a record lacks what the evaluation needs; the
    /// message names the file, the record and the field.
    #[error("{0}")]
    Data(String),
    /// An input does not satisfy a function's contract.
    #[error("{0}")]
    Invalid(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// From prefer-data.
    #[error(transparent)]
    Records(#[from] prefer_data::Error),
    /// From prefer-nn (models, encoder, cache).
    #[error(transparent)]
    Nn(#[from] prefer_nn::Error),
    /// From candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] prefer_plot::Error),
    /// Writing a report failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// `Result` with prefer-eval's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
