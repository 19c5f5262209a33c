//! Opening a file as a stream of typed, checked records.
//!
//! ```no_run
//! use prefer_data::{Dataset, OpenOptions, Record};
//! let mut pairs = 0;
//! for item in Dataset::open("train.jsonl".as_ref(), &OpenOptions::default())? {
//!     match item {
//!         Ok(item) => if let Record::Pair(_) = item.record { pairs += 1 },
//!         Err(prefer_data::Error::Record(bad)) => eprintln!("skipping {bad}"),
//!         Err(fatal) => return Err(fatal),
//!     }
//! }
//! # Ok::<(), prefer_data::Error>(())
//! ```

use std::collections::VecDeque;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::check::check;
use crate::error::{Error, Location, RecordError, Result};
use crate::format::Format;
use crate::layout::{Aggregate, Layout, apply_renames, map_row};
use crate::read::{Progress, ReadOptions, Row, RowData, RowReader};
use crate::record::{Battle, KWise, Pair, Ranking, Rating, Record, Shape, Stepwise, Unpaired};

/// How to open a dataset.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Reader options (format, record size limit).
    pub read: ReadOptions,
    /// The input layout; `None` detects it from the first record's fields.
    pub layout: Option<Layout>,
    /// The record shape; `None` detects it from the first record's fields.
    pub shape: Option<Shape>,
    /// How several annotators' labels become records (layouts that have several).
    pub aggregate: Aggregate,
    /// Field renames `(new, old)` applied to every row before anything else.
    pub renames: Vec<(String, String)>,
    /// Run the record checks of [`crate::check`] (default true).
    pub check: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            read: ReadOptions::default(),
            layout: None,
            shape: None,
            aggregate: Aggregate::default(),
            renames: Vec::new(),
            check: true,
        }
    }
}

/// A record and where it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Where the record is (for a layout that makes several records of one row, the row).
    pub loc: Location,
    /// The record.
    pub record: Record,
}

/// A stream of typed records from one file.
///
/// Yields `Err(Error::Record(_))` for a bad record and goes on; any other error ends the
/// stream. Every bad record's error carries its raw text for a side file.
pub struct Dataset {
    rows: RowReader,
    opts: OpenOptions,
    layout: Layout,
    shape: Option<Shape>,
    pending: VecDeque<Result<Item>>,
    started: bool,
}

impl Dataset {
    /// Opens `path`.
    ///
    /// # Errors
    /// The file cannot be opened or its format told.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Dataset> {
        let rows = RowReader::open(path, &opts.read)?;
        Ok(Dataset {
            rows,
            layout: opts.layout.unwrap_or(Layout::Native),
            shape: opts.layout.and_then(|l| l.output_shape(opts.shape, opts.aggregate)),
            opts: opts.clone(),
            pending: VecDeque::new(),
            started: false,
        })
    }

    /// The shape of the records, once known (after the first record for detected shapes).
    pub fn shape(&mut self) -> Result<Option<Shape>> {
        self.start()?;
        Ok(self.shape)
    }

    /// The layout being read, once known.
    pub fn layout(&mut self) -> Result<Layout> {
        self.start()?;
        Ok(self.layout)
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.rows.format()
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        self.rows.path()
    }

    /// Progress of the underlying reader.
    pub fn progress(&self) -> Progress {
        self.rows.progress()
    }

    /// Reads ahead to the first row that is a JSON object, to detect layout and shape.
    fn start(&mut self) -> Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let needs_detection = self.opts.layout.is_none() || self.shape.is_none();
        if !needs_detection {
            return Ok(());
        }
        loop {
            match self.rows.next() {
                None => return Ok(()),
                Some(Err(Error::Record(e))) => self.pending.push_back(Err(Error::Record(e))),
                Some(Err(e)) => {
                    self.pending.push_back(Err(e));
                    return Ok(());
                }
                Some(Ok(row)) => {
                    let raw = raw_text(&row.data);
                    match row.into_object() {
                        Err(mut e) => {
                            e.raw = raw;
                            self.pending.push_back(Err(Error::Record(e)));
                        }
                        Ok((loc, mut obj)) => {
                            apply_renames(&mut obj, &self.opts.renames);
                            if self.opts.layout.is_none() {
                                self.layout = Layout::detect(&obj);
                            }
                            if self.shape.is_none() {
                                self.shape = match self.layout {
                                    Layout::Native => self
                                        .opts
                                        .shape
                                        .or_else(|| Shape::detect(|f| obj.contains_key(f))),
                                    l => l.output_shape(self.opts.shape, self.opts.aggregate),
                                };
                            }
                            if self.shape.is_none() {
                                let keys: Vec<_> = obj.keys().map(String::as_str).collect();
                                return Err(Error::file(
                                    self.rows.path(),
                                    format!(
                                        "{loc}: cannot tell what kind of preference data this is \
                                         from its fields [{}]: expected e.g. prompt/chosen/rejected, \
                                         prompt/completion/label or model_a/model_b/winner; pass \
                                         --shape and --map, or --layout",
                                        keys.join(", ")
                                    ),
                                ));
                            }
                            let items = self.decode(loc, RowData::Object(obj), raw);
                            self.pending.extend(items);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    fn decode(&self, loc: Location, data: RowData, raw: Option<String>) -> Vec<Result<Item>> {
        let shape = self.shape.unwrap_or(Shape::Pair);
        // Renames and foreign layouts work on objects; native rows without renames keep
        // their bytes for the fast typed path.
        let data = match data {
            RowData::Json(_) if self.layout == Layout::Native && self.opts.renames.is_empty() => {
                Ok(data)
            }
            data => Row {
                loc: loc.clone(),
                data,
            }
            .into_object()
            .map(|(_, mut o)| {
                apply_renames(&mut o, &self.opts.renames);
                RowData::Object(o)
            }),
        };
        let records = data.and_then(|data| match (self.layout, data) {
            (Layout::Native, data) => decode_native(shape, &loc, data).map(|r| vec![r]),
            (layout, RowData::Object(obj)) => map_row(layout, self.opts.aggregate, shape, &loc, obj),
            (_, RowData::Json(_)) => Err(RecordError::record(loc.clone(), "internal: undecoded row")),
        });
        let mut records = match records {
            Ok(r) => r,
            Err(mut e) => {
                e.raw = raw;
                return vec![Err(Error::Record(e))];
            }
        };
        if let Some(r) = records.iter().find(|r| r.shape() != shape) {
            let mut e = RecordError::record(
                loc,
                format!("is a {} record in a file of {} records", r.shape(), shape),
            );
            e.raw = raw;
            return vec![Err(Error::Record(e))];
        }
        if self.opts.check {
            for r in &records {
                if let Some(problem) = check(r).into_iter().next() {
                    let mut e = RecordError::field(loc, problem.field, problem.message);
                    e.raw = raw;
                    return vec![Err(Error::Record(e))];
                }
            }
        }
        records
            .drain(..)
            .map(|record| {
                Ok(Item {
                    loc: loc.clone(),
                    record,
                })
            })
            .collect()
    }
}

impl Iterator for Dataset {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Result<Item>> {
        if let Err(e) = self.start() {
            return Some(Err(e));
        }
        loop {
            if let Some(x) = self.pending.pop_front() {
                return Some(x);
            }
            match self.rows.next()? {
                Ok(row) => {
                    let raw = raw_text(&row.data);
                    let items = self.decode(row.loc, row.data, raw);
                    self.pending.extend(items);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn raw_text(data: &RowData) -> Option<String> {
    match data {
        RowData::Json(b) => Some(String::from_utf8_lossy(b).into_owned()),
        RowData::Object(m) => serde_json::to_string(m).ok(),
    }
}

/// Decodes one native row into a record of `shape`.
fn decode_native(
    shape: Shape,
    loc: &Location,
    data: RowData,
) -> std::result::Result<Record, RecordError> {
    Ok(match shape {
        Shape::Pair => Record::Pair(de::<Pair>(loc, data)?),
        Shape::Unpaired => Record::Unpaired(de::<Unpaired>(loc, data)?),
        Shape::Ranking => Record::Ranking(de::<Ranking>(loc, data)?),
        Shape::Rating => Record::Rating(de::<Rating>(loc, data)?),
        Shape::Stepwise => Record::Stepwise(de::<Stepwise>(loc, data)?),
        Shape::Battle => Record::Battle(de::<Battle>(loc, data)?),
        Shape::Kwise => Record::Kwise(de::<KWise>(loc, data)?),
    })
}

/// Typed decoding: straight from the bytes when possible (the fast path), through a
/// `Value` with the failing field's path when not.
fn de<T: DeserializeOwned>(loc: &Location, data: RowData) -> std::result::Result<T, RecordError> {
    let obj = match data {
        RowData::Json(bytes) => {
            if let Ok(t) = serde_json::from_slice::<T>(&bytes) {
                return Ok(t);
            }
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(o)) => o,
                Ok(other) => {
                    return Err(RecordError::record(
                        loc.clone(),
                        format!(
                            "expected a JSON object, found {}",
                            crate::read::kind_of(&other)
                        ),
                    ));
                }
                Err(e) => return Err(json_syntax_error(loc, &bytes, &e)),
            }
        }
        RowData::Object(o) => o,
    };
    from_object(loc, obj)
}

/// Deserializes `obj` as `T`, naming the failing field.
pub(crate) fn from_object<T: DeserializeOwned>(
    loc: &Location,
    obj: Map<String, Value>,
) -> std::result::Result<T, RecordError> {
    serde_path_to_error::deserialize::<_, T>(Value::Object(obj)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        serde_message(loc, &path, &inner)
    })
}

fn serde_message(loc: &Location, path: &str, msg: &str) -> RecordError {
    // "missing field `x`" comes with the parent's path.
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        let field = if path == "." || path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        return RecordError::field(loc.clone(), field, "missing");
    }
    let msg = if msg.contains("untagged enum Text") {
        "expected a string or a list of {role, content} messages".to_string()
    } else {
        msg.to_string()
    };
    if path == "." || path.is_empty() {
        RecordError::record(loc.clone(), msg)
    } else {
        RecordError::field(loc.clone(), path, msg)
    }
}

/// A JSON syntax error, with a hint for Python's `NaN` / `Infinity` (not JSON numbers)
/// and the field it sits in.
fn json_syntax_error(loc: &Location, bytes: &[u8], e: &serde_json::Error) -> RecordError {
    let col = e.column().saturating_sub(1);
    let rest = bytes.get(col..).unwrap_or_default();
    let at = |t: &[u8]| rest.starts_with(t) || (col > 0 && bytes[col - 1..].starts_with(t));
    if at(b"NaN") || at(b"Infinity") || at(b"-Infinity") {
        let before = String::from_utf8_lossy(&bytes[..col.min(bytes.len())]);
        let field = before
            .rsplit_once("\":")
            .and_then(|(head, _)| head.rsplit_once('"'))
            .map(|(_, name)| name.to_string());
        let msg = "NaN or Infinity is not a JSON number (written by Python's json module?): \
                   expected a finite number";
        return match field {
            Some(f) => RecordError::field(loc.clone(), f, msg),
            None => RecordError::record(loc.clone(), msg),
        };
    }
    RecordError::record(loc.clone(), format!("not valid JSON: {e}"))
}

/// Reads every record of a file, stopping at the first error of any kind.
///
/// # Errors
/// The first bad record, or a file error.
pub fn read_all(path: &Path, opts: &OpenOptions) -> Result<Vec<Item>> {
    Dataset::open(path, opts)?.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Text, Winner};

    fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    fn errors(path: &Path, opts: &OpenOptions) -> Vec<String> {
        Dataset::open(path, opts)
            .unwrap()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn detects_pairs_and_reports_bad_records_by_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "d.jsonl",
            concat!(
                "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\"}\n",
                "{\"prompt\":\"q\",\"chosen\":3,\"rejected\":\"b\"}\n",
                "{\"prompt\":\"q\",\"rejected\":\"b\"}\n",
                "{\"prompt\":\"\",\"chosen\":\"a\",\"rejected\":\"b\"}\n",
                "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"a\"}\n",
                "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\",\"strength\":NaN}\n",
                "[1,2]\n",
                "{not json\n",
            ),
        );
        let e = errors(&p, &OpenOptions::default());
        assert_eq!(e.len(), 7, "{e:#?}");
        assert!(e[0].contains("d.jsonl:2: field `chosen`: expected a string or a list"), "{}", e[0]);
        assert!(e[1].contains("d.jsonl:3: field `chosen`: missing"), "{}", e[1]);
        assert!(e[2].contains("d.jsonl:4: field `prompt`: is empty"), "{}", e[2]);
        assert!(e[3].contains("d.jsonl:5: field `rejected`: is identical"), "{}", e[3]);
        assert!(e[4].contains("d.jsonl:6: field `strength`: NaN or Infinity"), "{}", e[4]);
        assert!(e[5].contains("d.jsonl:7: expected a JSON object, found an array"), "{}", e[5]);
        assert!(e[6].contains("d.jsonl:8: not valid JSON"), "{}", e[6]);
    }

    #[test]
    fn unknown_winner_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "b.jsonl",
            "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\"}\n{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"x\"}\n",
        );
        let e = errors(&p, &OpenOptions::default());
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("b.jsonl:2: field `winner`: unknown variant `x`"), "{}", e[0]);
    }

    #[test]
    fn evalica_csv_detected_as_battles() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "v.csv", "left,right,winner\na,b,left\nb,c,tie\nc,a,maybe\n");
        let mut ds = Dataset::open(&p, &OpenOptions::default()).unwrap();
        assert_eq!(ds.shape().unwrap(), Some(Shape::Battle));
        assert_eq!(ds.layout().unwrap(), Layout::Evalica);
        let items: Vec<_> = ds.collect();
        assert_eq!(items.len(), 3);
        match &items[0].as_ref().unwrap().record {
            Record::Battle(b) => assert_eq!(b.winner, Winner::ModelA),
            other => panic!("{other:?}"),
        }
        let e = items[2].as_ref().unwrap_err().to_string();
        assert!(e.contains("v.csv:4: field `winner`: unknown value \"maybe\""), "{e}");
    }

    #[test]
    fn renames_map_foreign_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "x.jsonl", "{\"question\":\"q\",\"good\":\"a\",\"bad\":\"b\"}\n");
        let opts = OpenOptions {
            renames: vec![
                ("prompt".into(), "question".into()),
                ("chosen".into(), "good".into()),
                ("rejected".into(), "bad".into()),
            ],
            ..Default::default()
        };
        let items = read_all(&p, &opts).unwrap();
        match &items[0].record {
            Record::Pair(pr) => assert_eq!(pr.prompt, Some(Text::from("q"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn undetectable_shape_is_a_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "x.jsonl", "{\"foo\":1}\n");
        let e = errors(&p, &OpenOptions::default());
        assert!(e[0].contains("cannot tell what kind"), "{}", e[0]);
    }

    #[test]
    fn raw_text_travels_with_rejected_records() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "x.jsonl", "{\"chosen\":\"a\",\"rejected\":\"a\"}\n");
        let r: Vec<_> = Dataset::open(&p, &OpenOptions::default()).unwrap().collect();
        match &r[0] {
            Err(Error::Record(e)) => assert_eq!(e.raw.as_deref(), Some("{\"chosen\":\"a\",\"rejected\":\"a\"}")),
            other => panic!("{other:?}"),
        }
    }
}
