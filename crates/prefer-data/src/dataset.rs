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

use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::check::check;
use crate::error::{Error, Location, RecordError, Result};
use crate::format::Format;
use crate::layout::{Aggregate, Layout, apply_renames, map_row};
use crate::read::{Progress, ReadOptions, RowData, RowReader};
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

/// Rows decoded together, in parallel: enough to keep both cores busy, small enough that
/// memory stays bounded (a few MB of text).
const CHUNK_ROWS: usize = 2048;

/// What decoding a row needs, apart from the reader (so rows can be decoded on several
/// threads while the reader stays on one).
#[derive(Debug, Clone)]
struct Decoder {
    layout: Layout,
    shape: Shape,
    aggregate: crate::layout::Aggregate,
    renames: Vec<(String, String)>,
    check: bool,
}

/// Where the raw text of a bad record comes from, rendered only when a record is bad.
enum RawSource {
    Bytes(Vec<u8>),
    Value(Value),
    Text(Option<String>),
}

impl RawSource {
    fn text(&self) -> Option<String> {
        match self {
            RawSource::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            RawSource::Value(v) => serde_json::to_string(v).ok(),
            RawSource::Text(t) => t.clone(),
        }
    }
}

fn parse_object(
    bytes: &[u8],
    loc: &Location,
) -> std::result::Result<Map<String, Value>, RecordError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(RecordError::record(
            loc.clone(),
            format!(
                "expected a JSON object, found {}",
                crate::read::kind_of(&other)
            ),
        )),
        Err(e) => Err(json_syntax_error(loc, bytes, &e)),
    }
}

impl Decoder {
    fn decode(&self, loc: Location, data: RowData) -> Vec<Result<Item>> {
        let shape = self.shape;
        let fast = self.layout == Layout::Native && self.renames.is_empty();
        let (records, raw) = match data {
            RowData::Json(bytes) if fast => {
                let r = decode_native_bytes(shape, &loc, &bytes).map(|r| vec![r]);
                (r, RawSource::Bytes(bytes))
            }
            RowData::Json(bytes) => match parse_object(&bytes, &loc) {
                Ok(o) => self.decode_object(&loc, o),
                Err(mut e) => {
                    e.raw = Some(String::from_utf8_lossy(&bytes).into_owned());
                    return vec![Err(Error::Record(e))];
                }
            },
            RowData::Object(o) => self.decode_object(&loc, o),
            // Already a record (Parquet pairs): its text for a side file is rendered from
            // the record itself, below, only if it fails a check.
            RowData::Record(r) if fast && r.shape() == shape => {
                (Ok(vec![*r]), RawSource::Text(None))
            }
            RowData::Record(r) => match r.to_value() {
                Value::Object(o) => self.decode_object(&loc, o),
                _ => (
                    Err(RecordError::record(
                        loc.clone(),
                        "internal: record is not an object",
                    )),
                    RawSource::Text(None),
                ),
            },
        };
        let fail = |mut e: RecordError| {
            e.raw = raw.text();
            vec![Err(Error::Record(e))]
        };
        let records = match records {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        if let Some(r) = records.iter().find(|r| r.shape() != shape) {
            return fail(RecordError::record(
                loc,
                format!("is a {} record in a file of {} records", r.shape(), shape),
            ));
        }
        if self.check {
            for r in &records {
                if let Some(problem) = check(r).into_iter().next() {
                    let mut e = RecordError::field(loc, problem.field, problem.message);
                    e.raw = raw.text().or_else(|| serde_json::to_string(r).ok());
                    return vec![Err(Error::Record(e))];
                }
            }
        }
        records
            .into_iter()
            .map(|record| {
                Ok(Item {
                    loc: loc.clone(),
                    record,
                })
            })
            .collect()
    }

    fn decode_object(
        &self,
        loc: &Location,
        mut o: Map<String, Value>,
    ) -> (std::result::Result<Vec<Record>, RecordError>, RawSource) {
        apply_renames(&mut o, &self.renames);
        match self.layout {
            Layout::Native => {
                let v = Value::Object(o);
                (
                    decode_native_value(self.shape, loc, &v).map(|r| vec![r]),
                    RawSource::Value(v),
                )
            }
            layout => {
                // Foreign layouts consume the row; keep its text for the side file.
                let raw = serde_json::to_string(&o).ok();
                (
                    map_row(layout, self.aggregate, self.shape, loc, o),
                    RawSource::Text(raw),
                )
            }
        }
    }
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
            shape: opts
                .layout
                .and_then(|l| l.output_shape(opts.shape, opts.aggregate)),
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

    fn decoder(&self) -> Decoder {
        Decoder {
            layout: self.layout,
            shape: self.shape.unwrap_or(Shape::Pair),
            aggregate: self.opts.aggregate,
            renames: self.opts.renames.clone(),
            check: self.opts.check,
        }
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
                            let items = self.decoder().decode(loc, RowData::Object(obj));
                            self.pending.extend(items);
                            return Ok(());
                        }
                    }
                }
            }
        }
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
            // Read a chunk of rows on this thread, decode it on all of them, keep order.
            let mut rows = Vec::with_capacity(CHUNK_ROWS);
            let mut stop = None;
            while rows.len() < CHUNK_ROWS {
                match self.rows.next() {
                    Some(Ok(row)) => rows.push(Ok(row)),
                    Some(Err(Error::Record(e))) => rows.push(Err(e)),
                    Some(Err(e)) => {
                        stop = Some(e);
                        break;
                    }
                    None => break,
                }
            }
            if rows.is_empty() && stop.is_none() {
                return None;
            }
            let decoder = self.decoder();
            let decoded: Vec<Vec<Result<Item>>> = rows
                .into_par_iter()
                .map(|r| match r {
                    Ok(row) => decoder.decode(row.loc, row.data),
                    Err(e) => vec![Err(Error::Record(e))],
                })
                .collect();
            self.pending.extend(decoded.into_iter().flatten());
            if let Some(e) = stop {
                self.pending.push_back(Err(e));
            }
        }
    }
}

fn raw_text(data: &RowData) -> Option<String> {
    match data {
        RowData::Json(b) => Some(String::from_utf8_lossy(b).into_owned()),
        RowData::Object(m) => serde_json::to_string(m).ok(),
        RowData::Record(r) => serde_json::to_string(r).ok(),
    }
}

/// Decodes one native JSON row into a record of `shape`.
fn decode_native_bytes(
    shape: Shape,
    loc: &Location,
    bytes: &[u8],
) -> std::result::Result<Record, RecordError> {
    Ok(match shape {
        Shape::Pair => Record::Pair(de_bytes::<Pair>(loc, bytes)?),
        Shape::Unpaired => Record::Unpaired(de_bytes::<Unpaired>(loc, bytes)?),
        Shape::Ranking => Record::Ranking(de_bytes::<Ranking>(loc, bytes)?),
        Shape::Rating => Record::Rating(de_bytes::<Rating>(loc, bytes)?),
        Shape::Stepwise => Record::Stepwise(de_bytes::<Stepwise>(loc, bytes)?),
        Shape::Battle => Record::Battle(de_bytes::<Battle>(loc, bytes)?),
        Shape::Kwise => Record::Kwise(de_bytes::<KWise>(loc, bytes)?),
    })
}

/// Decodes one native row already parsed into a JSON object.
fn decode_native_value(
    shape: Shape,
    loc: &Location,
    v: &Value,
) -> std::result::Result<Record, RecordError> {
    Ok(match shape {
        Shape::Pair => Record::Pair(de_value::<Pair>(loc, v)?),
        Shape::Unpaired => Record::Unpaired(de_value::<Unpaired>(loc, v)?),
        Shape::Ranking => Record::Ranking(de_value::<Ranking>(loc, v)?),
        Shape::Rating => Record::Rating(de_value::<Rating>(loc, v)?),
        Shape::Stepwise => Record::Stepwise(de_value::<Stepwise>(loc, v)?),
        Shape::Battle => Record::Battle(de_value::<Battle>(loc, v)?),
        Shape::Kwise => Record::Kwise(de_value::<KWise>(loc, v)?),
    })
}

/// Typed decoding straight from the bytes (the fast path); on failure, again through a
/// `Value` to name the failing field.
fn de_bytes<T: DeserializeOwned>(
    loc: &Location,
    bytes: &[u8],
) -> std::result::Result<T, RecordError> {
    if let Ok(t) = serde_json::from_slice::<T>(bytes) {
        return Ok(t);
    }
    let v = Value::Object(parse_object(bytes, loc)?);
    de_value(loc, &v)
}

/// Typed decoding from a borrowed `Value`; on failure, again with the field's path.
fn de_value<T: DeserializeOwned>(loc: &Location, v: &Value) -> std::result::Result<T, RecordError> {
    if let Ok(t) = T::deserialize(v) {
        return Ok(t);
    }
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
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
    let msg = msg.to_string();
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
        assert!(
            e[0].contains(
                "d.jsonl:2: field `chosen`: invalid type: integer `3`, expected a string or a list"
            ),
            "{}",
            e[0]
        );
        assert!(
            e[1].contains("d.jsonl:3: field `chosen`: missing"),
            "{}",
            e[1]
        );
        assert!(
            e[2].contains("d.jsonl:4: field `prompt`: is empty"),
            "{}",
            e[2]
        );
        assert!(
            e[3].contains("d.jsonl:5: field `rejected`: is identical"),
            "{}",
            e[3]
        );
        assert!(
            e[4].contains("d.jsonl:6: field `strength`: NaN or Infinity"),
            "{}",
            e[4]
        );
        assert!(
            e[5].contains("d.jsonl:7: expected a JSON object, found an array"),
            "{}",
            e[5]
        );
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
        assert!(
            e[0].contains("b.jsonl:2: field `winner`: unknown variant `x`"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn evalica_csv_detected_as_battles() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "v.csv",
            "left,right,winner\na,b,left\nb,c,tie\nc,a,maybe\n",
        );
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
        assert!(
            e.contains("v.csv:4: field `winner`: unknown value \"maybe\""),
            "{e}"
        );
    }

    #[test]
    fn renames_map_foreign_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            &dir,
            "x.jsonl",
            "{\"question\":\"q\",\"good\":\"a\",\"bad\":\"b\"}\n",
        );
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
        let r: Vec<_> = Dataset::open(&p, &OpenOptions::default())
            .unwrap()
            .collect();
        match &r[0] {
            Err(Error::Record(e)) => assert_eq!(
                e.raw.as_deref(),
                Some("{\"chosen\":\"a\",\"rejected\":\"a\"}")
            ),
            other => panic!("{other:?}"),
        }
    }
}
