//! Errors: every one names the file, and for a bad record the line (or Parquet row, or
//! JSON array element) and the field.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a record sits in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// The position in it.
    pub pos: Pos,
}

/// A position in a file, in the unit its format has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pos {
    /// A line of a JSONL or CSV file (1-based, counting the CSV header).
    Line(u64),
    /// A row of a Parquet file (0-based, as pyarrow and pandas count).
    Row(u64),
    /// An element of a JSON array (0-based) and the line it starts on (1-based).
    Element(u64, u64),
    /// The whole file (errors before any record).
    File,
}

impl Location {
    /// A location in `file`.
    pub fn new(file: &Path, pos: Pos) -> Self {
        Self {
            file: file.to_path_buf(),
            pos,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        match self.pos {
            Pos::Line(l) => write!(f, "{file}:{l}"),
            Pos::Row(r) => write!(f, "{file}: row {r}"),
            Pos::Element(e, l) => write!(f, "{file}:{l}: element {e}"),
            Pos::File => write!(f, "{file}"),
        }
    }
}

/// A record that could not be read or did not pass the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// Where the record is.
    pub loc: Location,
    /// The field at fault, as a path (`chosen`, `scores.helpfulness`, `ranking[2]`),
    /// when one is.
    pub field: Option<String>,
    /// What was wrong and what was expected.
    pub message: String,
    /// The record as read (its JSON text), for the side file of rejected records.
    pub raw: Option<String>,
}

impl RecordError {
    /// An error about `field` of the record at `loc`.
    pub fn field(loc: Location, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            loc,
            field: Some(field.into()),
            message: message.into(),
            raw: None,
        }
    }

    /// An error about the record as a whole.
    pub fn record(loc: Location, message: impl Into<String>) -> Self {
        Self {
            loc,
            field: None,
            message: message.into(),
            raw: None,
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: field `{}`: {}", self.loc, field, self.message),
            None => write!(f, "{}: {}", self.loc, self.message),
        }
    }
}

impl std::error::Error for RecordError {}

/// The error type of prefer-data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// One record is bad (and the reader was asked to stop at the first bad record).
    #[error("{0}")]
    Record(#[from] RecordError),
    /// The file as a whole cannot be used (unknown format, unreadable Parquet footer,
    /// no header, a shape that cannot be detected).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An option or argument is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// A whole-file error.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Error::File {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `Result` with prefer-data's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
