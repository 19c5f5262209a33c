//! The error type of prefer-train.

use std::path::PathBuf;

/// Errors of prefer-train.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model, log-prob or loss operation failed.
    #[error(transparent)]
    Nn(#[from] prefer_nn::Error),
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// Reading a data file failed.
    #[error(transparent)]
    Data(#[from] prefer_data::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A configuration value is missing or out of range; the message names the key.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A record could not be used for training; the message names the file and record.
    #[error("{0}")]
    Record(String),
    /// A quantity became NaN or infinite: training stopped before writing a checkpoint.
    #[error(
        "step {step}: {quantity} is {value} (not finite); training stopped, the last good checkpoint is {}",
        last_checkpoint.as_ref().map_or("none (no checkpoint was written yet)".to_string(), |p| p.display().to_string())
    )]
    NonFinite {
        /// The optimizer step (1-based) at which it happened.
        step: u64,
        /// What was not finite (`loss`, `grad_norm`, `logps/chosen`, a parameter name, ...).
        quantity: String,
        /// The value.
        value: f64,
        /// The newest checkpoint on disk, untouched.
        last_checkpoint: Option<PathBuf>,
    },
    /// A reference log-prob cache belongs to another model, data set or truncation.
    #[error(
        "{path}: reference log-prob cache fingerprint {found} does not match this run's {expected} \
         (another model, data set or truncation); delete the file or point `reference.cache` elsewhere"
    )]
    CacheMismatch {
        /// The cache file.
        path: PathBuf,
        /// The fingerprint in the file.
        found: String,
        /// The fingerprint of this run.
        expected: String,
    },
    /// A reward source failed or gave a score that is not finite; the message names the
    /// source and the prompt.
    #[error("{0}")]
    Reward(String),
    /// A judge could not run at all (its HTTP client, its cache); the message says why.
    /// A single query a judge could not answer is a recorded failure, not this error.
    #[error("{0}")]
    Judge(String),
    /// A checkpoint could not be resumed from; the message says why.
    #[error("resume: {0}")]
    Resume(String),
}

/// `Result` with prefer-train's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An [`Error::Io`] for `path`.
pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
