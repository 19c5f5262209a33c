//! Terminal helpers: progress bars, tables, and the input flags every data command shares.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prefer_data::{Aggregate, Dataset, Format, Layout, OpenOptions, ReadOptions, Shape};

/// How several annotators' labels of one item become records.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AggregateArg {
    /// The majority label; items without one are rejected with the reason.
    Majority,
    /// A soft label: `strength` is the share of votes for the chosen side.
    Soft,
    /// One record per annotator.
    Each,
}

impl From<AggregateArg> for Aggregate {
    fn from(a: AggregateArg) -> Self {
        match a {
            AggregateArg::Majority => Aggregate::Majority,
            AggregateArg::Soft => Aggregate::Soft,
            AggregateArg::Each => Aggregate::Each,
        }
    }
}

/// Flags that say how to read an input file.
#[derive(Debug, Clone, Args)]
pub struct InputArgs {
    /// Input format (default: from the extension; .gz is decompressed). Named apart from
    /// the output `--format` some commands have (`prefer rank fit`).
    #[arg(long, value_name = "jsonl|json|parquet|csv|tsv")]
    pub input_format: Option<String>,
    /// Input layout (default: detected from the fields): native, pandalm, evalica,
    /// football, ultrafeedback, helpsteer2.
    #[arg(long)]
    pub layout: Option<String>,
    /// Record shape (default: detected from the fields): pair, unpaired, ranking, rating,
    /// stepwise, battle, kwise.
    #[arg(long)]
    pub shape: Option<String>,
    /// Rename a field before reading: `--map chosen=response_a` (repeatable).
    #[arg(long = "map", value_name = "NEW=OLD")]
    pub renames: Vec<String>,
    /// How several annotators' labels become records (PandaLM).
    #[arg(long, value_enum, default_value = "majority")]
    pub aggregate: AggregateArg,
    /// The largest record accepted, in bytes; longer lines are reported and skipped.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_record_bytes: usize,
}

impl InputArgs {
    /// The library options these flags stand for.
    pub fn options(&self) -> anyhow::Result<OpenOptions> {
        let format = match &self.input_format {
            Some(f) => Some(Format::parse(f).with_context(|| {
                format!("unknown --input-format `{f}`: expected jsonl, json, parquet, csv or tsv")
            })?),
            None => None,
        };
        let layout = match &self.layout {
            Some(l) => Some(Layout::parse(l).with_context(|| {
                let names: Vec<_> = Layout::ALL.iter().map(|l| l.name()).collect();
                format!(
                    "unknown --layout `{l}`: expected one of {}",
                    names.join(", ")
                )
            })?),
            None => None,
        };
        let shape = match &self.shape {
            Some(s) => Some(parse_shape(s)?),
            None => None,
        };
        let mut renames = Vec::new();
        for m in &self.renames {
            let Some((new, old)) = m.split_once('=') else {
                bail!("--map `{m}`: expected NEW=OLD, e.g. --map chosen=response_a");
            };
            renames.push((new.trim().to_string(), old.trim().to_string()));
        }
        Ok(OpenOptions {
            read: ReadOptions {
                format,
                max_record_bytes: self.max_record_bytes,
                ..Default::default()
            },
            layout,
            shape,
            aggregate: self.aggregate.into(),
            renames,
            check: true,
        })
    }

    /// Opens `path` with these flags.
    pub fn open(&self, path: &Path) -> anyhow::Result<Dataset> {
        Ok(Dataset::open(path, &self.options()?)?)
    }
}

/// Parses a shape name with a helpful error.
pub fn parse_shape(s: &str) -> anyhow::Result<Shape> {
    Shape::parse(s).with_context(|| {
        let names: Vec<_> = Shape::ALL.iter().map(|s| s.name()).collect();
        format!("unknown shape `{s}`: expected one of {}", names.join(", "))
    })
}

/// A progress bar over a dataset's bytes, drawn on stderr only when it is a terminal and
/// the file is big enough to wait for.
pub fn progress_for(ds: &Dataset, what: &str) -> ProgressBar {
    let p = ds.progress();
    if p.total < (8 << 20) {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(p.total), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        b.set_message(what.to_string());
        b.enable_steady_tick(Duration::from_millis(200));
        b
    }
}

/// Updates `bar` from the dataset's reader.
pub fn tick(bar: &ProgressBar, ds: &Dataset) {
    if !bar.is_hidden() {
        bar.set_position(ds.progress().done());
    }
}

/// Prints a table with aligned columns; numbers are right-aligned.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    print!("{}", table(headers, rows));
}

/// A table with aligned columns as text; columns whose cells are all numbers are
/// right-aligned.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let numeric: Vec<bool> = (0..headers.len())
        .map(|i| {
            rows.iter().all(|r| {
                r.get(i).is_none_or(|c| {
                    !c.is_empty()
                        && c.trim_start_matches(['-', '+'])
                            .chars()
                            .all(|ch| ch.is_ascii_digit() || ".%,eE-x/".contains(ch))
                })
            })
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = widths.get(i).copied().unwrap_or(0);
                if numeric.get(i).copied().unwrap_or(false) {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    out.push_str(
        &(widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
            + "\n"),
    );
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// `path` with `suffix` inserted before its extensions: `out.jsonl` -> `out.rejected.jsonl`.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.split('.').next().unwrap_or("out");
    path.with_file_name(format!("{stem}.{suffix}.jsonl"))
}
