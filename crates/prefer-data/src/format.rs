//! File formats, chosen by extension or by flag.

use std::fmt;
use std::path::Path;

use crate::error::{Error, Result};

/// A file format prefer reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// One JSON object per line (`.jsonl`, `.ndjson`, and `.json` files that do not start
    /// with `[`), optionally gzip-compressed (`.gz`).
    Jsonl,
    /// One JSON array of objects (`.json` starting with `[`), optionally gzip-compressed.
    JsonArray,
    /// Apache Parquet, as Hugging Face `datasets` and pandas write it.
    Parquet,
    /// Comma-separated values with a header row (`.csv`), optionally gzip-compressed.
    Csv,
    /// Tab-separated values with a header row (`.tsv`).
    Tsv,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::JsonArray => "json",
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
        }
    }

    /// Parses a name given by [`Format::name`] (also `ndjson`).
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "jsonl" | "ndjson" => Format::Jsonl,
            "json" => Format::JsonArray,
            "parquet" | "pq" => Format::Parquet,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            _ => return None,
        })
    }

    /// The format a path's extension names (ignoring a trailing `.gz`). A `.json` file is
    /// reported as [`Format::JsonArray`]; the reader looks at its first byte and reads it
    /// as JSONL when it is not `[`.
    pub fn from_path(path: &Path) -> Result<Format> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        Ok(match ext {
            "jsonl" | "ndjson" => Format::Jsonl,
            "json" => Format::JsonArray,
            "parquet" | "pq" => Format::Parquet,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            _ => {
                return Err(Error::file(
                    path,
                    format!(
                        "cannot tell the format from the extension `.{ext}`: expected \
                         .jsonl, .json, .parquet, .csv or .tsv (optionally .gz), or pass \
                         --input-format"
                    ),
                ));
            }
        })
    }

    /// True when `path` ends in `.gz`.
    pub fn is_gzip_path(path: &Path) -> bool {
        path.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        let f = |p: &str| Format::from_path(Path::new(p)).ok();
        assert_eq!(f("a/b.jsonl"), Some(Format::Jsonl));
        assert_eq!(f("a/b.jsonl.gz"), Some(Format::Jsonl));
        assert_eq!(f("b.JSON"), Some(Format::JsonArray));
        assert_eq!(f("train-00000-of-00001.parquet"), Some(Format::Parquet));
        assert_eq!(f("votes.csv"), Some(Format::Csv));
        assert_eq!(f("votes.txt"), None);
        assert!(Format::is_gzip_path(Path::new("x.jsonl.gz")));
    }
}
