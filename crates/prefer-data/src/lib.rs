//! # prefer-data
//!
//! Preference data as records: pairs, unpaired labels, rankings, ratings, step labels,
//! battles and K-wise votes; read from JSONL (plain or gzip), JSON arrays, Parquet and
//! CSV as the tools people use write them; checked record by record with errors that name
//! the file, the line and the field; converted between shapes; written atomically.
//!
//! # Quickstart
//!
//! ```
//! use prefer_data::{Dataset, OpenOptions, Record, Shape};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("votes.csv");
//! # std::fs::write(&path, "left,right,winner\npizza,sushi,left\nsushi,tacos,tie\n")?;
//! // evalica's `left,right,winner` layout is recognised from its header.
//! let mut ds = Dataset::open(&path, &OpenOptions::default())?;
//! assert_eq!(ds.shape()?, Some(Shape::Battle));
//! let battles: Vec<_> = ds.collect::<Result<_, _>>()?;
//! assert_eq!(battles.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Tests unwrap freely: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod arrow_value;
pub mod check;
pub mod convert;
pub mod dataset;
pub mod error;
pub mod format;
pub mod layout;
pub mod read;
pub mod record;
pub mod split;
pub mod stats;
pub mod synth;
pub mod write;

pub use dataset::{Dataset, Item, OpenOptions, read_all};
pub use error::{Error, Location, Pos, RecordError, Result};
pub use format::Format;
pub use layout::{Aggregate, Layout};
pub use read::{ReadOptions, RowReader};
pub use record::{
    Annotations, Battle, KWise, Message, Pair, Ranking, Rating, Record, Shape, Stepwise, Text,
    Unpaired, Winner,
};
pub use write::{AtomicFile, RecordWriter, RejectWriter, WriteOptions, write_atomic};
