//! Streaming readers: JSONL (plain or gzip), JSON arrays, CSV/TSV and Parquet, each
//! yielding raw rows with their location. Memory stays bounded by one record (JSONL,
//! JSON array, CSV) or one row group batch (Parquet), whatever the file's size.
//!
//! A bad line (not UTF-8, over the size limit, not JSON) is a recoverable
//! [`Error::Record`]: the iterator goes on after it. A file-level failure (I/O error,
//! truncated gzip, unreadable Parquet) is yielded once and ends the iteration.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde_json::{Map, Value};

use crate::arrow_value::batch_to_objects;
use crate::error::{Error, Location, Pos, RecordError, Result};
use crate::format::Format;

/// Options for opening a file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The format; `None` chooses by extension.
    pub format: Option<Format>,
    /// The largest record accepted, in bytes (default 16 MiB). A longer JSONL line is
    /// reported as a bad record and skipped, so one runaway line cannot exhaust memory.
    pub max_record_bytes: usize,
    /// Rows per Parquet batch (default 4096).
    pub parquet_batch_rows: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            format: None,
            max_record_bytes: 16 << 20,
            parquet_batch_rows: 4096,
        }
    }
}

/// One raw record: the bytes of one JSON object, or an object already built from a CSV
/// or Parquet row.
#[derive(Debug, Clone)]
pub enum RowData {
    /// The bytes of one JSON value (a JSONL line or a JSON array element).
    Json(Vec<u8>),
    /// A row converted to a JSON object.
    Object(Map<String, Value>),
    /// A row read straight into a record (Parquet files whose columns are exactly a
    /// pair's text and annotation fields).
    Record(Box<crate::record::Record>),
}

/// A raw record and where it came from.
#[derive(Debug, Clone)]
pub struct Row {
    /// Where the record is.
    pub loc: Location,
    /// Its content.
    pub data: RowData,
}

impl Row {
    /// The record as a JSON object.
    ///
    /// # Errors
    /// The bytes are not JSON, or not a JSON object.
    pub fn into_object(self) -> Result<(Location, Map<String, Value>), RecordError> {
        match self.data {
            RowData::Object(m) => Ok((self.loc, m)),
            RowData::Record(r) => match r.to_value() {
                Value::Object(m) => Ok((self.loc, m)),
                _ => Err(RecordError::record(
                    self.loc,
                    "internal: a record that is not an object",
                )),
            },
            RowData::Json(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => Ok((self.loc, m)),
                Ok(other) => Err(RecordError::record(
                    self.loc,
                    format!("expected a JSON object, found {}", kind_of(&other)),
                )),
                Err(e) => Err(RecordError::record(
                    self.loc,
                    format!("not valid JSON: {e}"),
                )),
            },
        }
    }
}

/// The JSON type name of a value, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Counts the bytes read from the file, for progress bars.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How far a reader has got, for progress bars.
#[derive(Debug, Clone)]
pub struct Progress {
    done: Arc<AtomicU64>,
    /// The file's size in bytes.
    pub total: u64,
}

impl Progress {
    /// Bytes of the file read so far (compressed bytes for gzip).
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

/// A streaming reader of raw rows.
pub struct RowReader {
    path: PathBuf,
    format: Format,
    inner: Inner,
    progress: Progress,
    finished: bool,
}

enum Inner {
    Lines(LineSource),
    Array(ArraySource),
    Csv(CsvSource),
    Parquet(ParquetSource),
}

impl RowReader {
    /// Opens `path`.
    ///
    /// # Errors
    /// The file cannot be opened, its format cannot be told, or (Parquet) its footer
    /// cannot be read.
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<RowReader> {
        let mut format = match opts.format {
            Some(f) => f,
            None => Format::from_path(path)?,
        };
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let done = Arc::new(AtomicU64::new(0));
        let progress = Progress {
            done: done.clone(),
            total,
        };
        if format == Format::Parquet {
            let src = ParquetSource::open(path, file, opts.parquet_batch_rows, done)?;
            return Ok(RowReader {
                path: path.to_path_buf(),
                format,
                inner: Inner::Parquet(src),
                progress,
                finished: false,
            });
        }
        let counting = Counting {
            inner: file,
            count: done,
        };
        let raw: Box<dyn Read + Send> = if Format::is_gzip_path(path) {
            Box::new(MultiGzDecoder::new(BufReader::with_capacity(
                1 << 16,
                counting,
            )))
        } else {
            Box::new(counting)
        };
        let mut reader = BufReader::with_capacity(1 << 16, raw);
        if format == Format::JsonArray {
            // A `.json` file may hold JSON lines: look at the first non-blank byte.
            let first = peek_non_ws(&mut reader).map_err(|e| Error::io(path, e))?;
            if first != Some(b'[') {
                format = Format::Jsonl;
            }
        }
        let inner = match format {
            Format::Jsonl => Inner::Lines(LineSource {
                reader,
                line: 0,
                limit: opts.max_record_bytes,
            }),
            Format::JsonArray => Inner::Array(ArraySource::new(reader, opts.max_record_bytes)),
            Format::Csv | Format::Tsv => Inner::Csv(CsvSource::new(reader, format == Format::Tsv)),
            Format::Parquet => unreachable_parquet(path)?,
        };
        Ok(RowReader {
            path: path.to_path_buf(),
            format,
            inner,
            progress,
            finished: false,
        })
    }

    /// The format being read (after sniffing `.json` files).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The path being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle on the reader's progress, usable from another thread.
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

fn unreachable_parquet(path: &Path) -> Result<Inner> {
    Err(Error::file(path, "internal: Parquet handled above"))
}

impl Iterator for RowReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Result<Row>> {
        if self.finished {
            return None;
        }
        let item = match &mut self.inner {
            Inner::Lines(s) => s.next_row(&self.path),
            Inner::Array(s) => s.next_row(&self.path),
            Inner::Csv(s) => s.next_row(&self.path),
            Inner::Parquet(s) => s.next_row(&self.path),
        };
        match &item {
            None => self.finished = true,
            Some(Err(Error::Record(_))) => {}
            Some(Err(_)) => self.finished = true,
            Some(Ok(_)) => {}
        }
        item
    }
}

fn peek_non_ws<R: BufRead>(r: &mut R) -> io::Result<Option<u8>> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => return Ok(Some(buf[i])),
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// Gives a clear message for the I/O errors users meet: a truncated gzip stream reads as
/// "unexpected end of file" from flate2.
fn io_error(path: &Path, pos: Pos, e: io::Error) -> Error {
    let what =
        if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::InvalidInput {
            format!("{e} (is the file truncated or not really gzip?)")
        } else {
            e.to_string()
        };
    let loc = Location::new(path, pos);
    Error::file(path, format!("reading stopped at {loc}: {what}"))
}

enum LineStatus {
    Eof,
    Line,
    TooLong(usize),
}

/// Reads up to and excluding the next `\n` into `buf`, keeping at most `limit` bytes.
fn read_line_limited<R: BufRead>(
    r: &mut R,
    buf: &mut Vec<u8>,
    limit: usize,
) -> io::Result<LineStatus> {
    buf.clear();
    let mut total = 0usize;
    let mut any = false;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(if !any {
                LineStatus::Eof
            } else if total > limit {
                LineStatus::TooLong(total)
            } else {
                LineStatus::Line
            });
        }
        any = true;
        let (chunk, found) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], Some(i)),
            None => (avail, None),
        };
        total += chunk.len();
        if total <= limit {
            buf.extend_from_slice(chunk);
        }
        match found {
            Some(i) => {
                r.consume(i + 1);
                return Ok(if total > limit {
                    LineStatus::TooLong(total)
                } else {
                    LineStatus::Line
                });
            }
            None => {
                let n = avail.len();
                r.consume(n);
            }
        }
    }
}

fn check_utf8(bytes: &[u8], loc: &Location) -> std::result::Result<(), RecordError> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(e) => Err(RecordError::record(
            loc.clone(),
            format!(
                "not valid UTF-8: invalid byte 0x{:02x} at column {}",
                bytes[e.valid_up_to()],
                e.valid_up_to() + 1
            ),
        )),
    }
}

struct LineSource {
    reader: BufReader<Box<dyn Read + Send>>,
    line: u64,
    limit: usize,
}

impl LineSource {
    fn next_row(&mut self, path: &Path) -> Option<Result<Row>> {
        let mut buf = Vec::new();
        loop {
            self.line += 1;
            let status = match read_line_limited(&mut self.reader, &mut buf, self.limit) {
                Ok(s) => s,
                Err(e) => return Some(Err(io_error(path, Pos::Line(self.line), e))),
            };
            let loc = Location::new(path, Pos::Line(self.line));
            match status {
                LineStatus::Eof => return None,
                LineStatus::TooLong(n) => {
                    return Some(Err(RecordError::record(
                        loc,
                        format!(
                            "line is {n} bytes, over the limit of {} bytes (--max-record-bytes)",
                            self.limit
                        ),
                    )
                    .into()));
                }
                LineStatus::Line => {
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                    if buf.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    if let Err(e) = check_utf8(&buf, &loc) {
                        return Some(Err(e.into()));
                    }
                    return Some(Ok(Row {
                        loc,
                        data: RowData::Json(buf),
                    }));
                }
            }
        }
    }
}

/// Splits a JSON array into its elements without holding the whole array: a small scanner
/// tracks nesting and strings, and each element's bytes go to serde_json on their own.
struct ArraySource {
    reader: BufReader<Box<dyn Read + Send>>,
    limit: usize,
    started: bool,
    ended: bool,
    index: u64,
    line: u64,
}

impl ArraySource {
    fn new(reader: BufReader<Box<dyn Read + Send>>, limit: usize) -> Self {
        Self {
            reader,
            limit,
            started: false,
            ended: false,
            index: 0,
            line: 1,
        }
    }

    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        let buf = self.reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let b = buf[0];
        self.reader.consume(1);
        if b == b'\n' {
            self.line += 1;
        }
        Ok(Some(b))
    }

    fn skip_ws(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.next_byte()? {
                Some(b) if b.is_ascii_whitespace() => continue,
                other => return Ok(other),
            }
        }
    }

    fn next_row(&mut self, path: &Path) -> Option<Result<Row>> {
        match self.scan(path) {
            Ok(r) => r.map(Ok),
            Err(e) => Some(Err(e)),
        }
    }

    fn scan(&mut self, path: &Path) -> Result<Option<Row>> {
        let io_err = |s: &Self, e| io_error(path, Pos::Element(s.index, s.line), e);
        if self.ended {
            return Ok(None);
        }
        let mut b = self.skip_ws().map_err(|e| io_err(self, e))?;
        if !self.started {
            if b != Some(b'[') {
                return Err(Error::file(path, "expected a JSON array starting with `[`"));
            }
            self.started = true;
            b = self.skip_ws().map_err(|e| io_err(self, e))?;
            if b == Some(b']') {
                self.ended = true;
                return Ok(None);
            }
        } else {
            match b {
                Some(b',') => b = self.skip_ws().map_err(|e| io_err(self, e))?,
                Some(b']') => {
                    self.ended = true;
                    return Ok(None);
                }
                None => {
                    return Err(Error::file(
                        path,
                        format!(
                            "the JSON array ends without `]` after element {} (truncated file?)",
                            self.index.saturating_sub(1)
                        ),
                    ));
                }
                Some(other) => {
                    return Err(Error::file(
                        path,
                        format!(
                            "line {}: expected `,` or `]` after element {}, found `{}`",
                            self.line,
                            self.index.saturating_sub(1),
                            other as char
                        ),
                    ));
                }
            }
        }
        let start_line = self.line;
        let Some(first) = b else {
            return Err(Error::file(
                path,
                "the JSON array ends early (truncated file?)",
            ));
        };
        let mut buf = vec![first];
        let (mut depth, mut in_str, mut esc) = (0i64, false, false);
        let mut cur = first;
        loop {
            if in_str {
                if esc {
                    esc = false;
                } else if cur == b'\\' {
                    esc = true;
                } else if cur == b'"' {
                    in_str = false;
                }
            } else {
                match cur {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth -= 1,
                    _ => {}
                }
            }
            if depth == 0 && !in_str && (cur == b'}' || cur == b']' || cur == b'"') {
                break;
            }
            // Scalars end at a delimiter, which belongs to the array: stop before it.
            if depth == 0 && !in_str && cur != b'"' {
                let (index, line) = (self.index, self.line);
                let next = match self.reader.fill_buf() {
                    Ok(avail) => avail.first().copied(),
                    Err(e) => return Err(io_error(path, Pos::Element(index, line), e)),
                };
                if matches!(next, None | Some(b',') | Some(b']'))
                    || next.is_some_and(|c| c.is_ascii_whitespace())
                {
                    break;
                }
            }
            match self.next_byte().map_err(|e| io_err(self, e))? {
                Some(c) => {
                    cur = c;
                    if buf.len() <= self.limit {
                        buf.push(c);
                    }
                }
                None => {
                    return Err(Error::file(
                        path,
                        format!(
                            "the JSON array ends inside element {} starting at line {start_line} \
                             (truncated file?)",
                            self.index
                        ),
                    ));
                }
            }
        }
        let loc = Location::new(path, Pos::Element(self.index, start_line));
        self.index += 1;
        if buf.len() > self.limit {
            return Err(RecordError::record(
                loc,
                format!("element is over the limit of {} bytes", self.limit),
            )
            .into());
        }
        check_utf8(&buf, &loc)?;
        Ok(Some(Row {
            loc,
            data: RowData::Json(buf),
        }))
    }
}

struct CsvSource {
    reader: csv::Reader<BufReader<Box<dyn Read + Send>>>,
    headers: Option<Vec<String>>,
    record: csv::ByteRecord,
}

impl CsvSource {
    fn new(reader: BufReader<Box<dyn Read + Send>>, tab: bool) -> Self {
        let reader = csv::ReaderBuilder::new()
            .delimiter(if tab { b'\t' } else { b',' })
            .has_headers(true)
            .flexible(false)
            .from_reader(reader);
        Self {
            reader,
            headers: None,
            record: csv::ByteRecord::new(),
        }
    }

    fn next_row(&mut self, path: &Path) -> Option<Result<Row>> {
        if self.headers.is_none() {
            match self.reader.byte_headers() {
                Ok(h) => {
                    let mut names = Vec::with_capacity(h.len());
                    for (i, field) in h.iter().enumerate() {
                        match std::str::from_utf8(field) {
                            Ok(s) => names.push(s.trim_start_matches('\u{feff}').to_string()),
                            Err(_) => {
                                return Some(Err(Error::file(
                                    path,
                                    format!("line 1: header column {} is not valid UTF-8", i + 1),
                                )));
                            }
                        }
                    }
                    if names.iter().all(|n| n.is_empty()) {
                        return Some(Err(Error::file(path, "the file is empty (no header row)")));
                    }
                    self.headers = Some(names);
                }
                Err(e) => return Some(Err(Error::file(path, format!("reading the header: {e}")))),
            }
        }
        let headers = self.headers.as_ref()?;
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                let loc = Location::new(path, Pos::Line(line));
                let mut obj = Map::with_capacity(headers.len());
                for (name, field) in headers.iter().zip(self.record.iter()) {
                    let s = match std::str::from_utf8(field) {
                        Ok(s) => s,
                        Err(e) => {
                            return Some(Err(RecordError::field(
                                loc,
                                name.clone(),
                                format!(
                                    "not valid UTF-8 (invalid byte at offset {})",
                                    e.valid_up_to()
                                ),
                            )
                            .into()));
                        }
                    };
                    if !s.is_empty() {
                        obj.insert(name.clone(), Value::String(s.to_string()));
                    }
                }
                Some(Ok(Row {
                    loc,
                    data: RowData::Object(obj),
                }))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let loc = Location::new(path, Pos::Line(line));
                match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => Some(Err(RecordError::record(
                        loc,
                        format!("has {len} columns, the header has {expected_len}"),
                    )
                    .into())),
                    csv::ErrorKind::Io(_) => Some(Err(Error::file(
                        path,
                        format!("reading stopped at {loc}: {e} (is the file truncated?)"),
                    ))),
                    _ => Some(Err(RecordError::record(loc, e.to_string()).into())),
                }
            }
        }
    }
}

/// Reads Parquet on a thread of its own: decompression and the conversion of each batch
/// into rows overlap with the caller's checks (a third to a half of a read's time).
struct ParquetSource {
    batches: std::sync::mpsc::Receiver<std::result::Result<Vec<RowData>, String>>,
    worker: Option<std::thread::JoinHandle<()>>,
    rows: VecDeque<RowData>,
    next_row: u64,
    total_rows: u64,
    file_bytes: u64,
    done: Arc<AtomicU64>,
}

impl ParquetSource {
    fn open(path: &Path, file: File, batch: usize, done: Arc<AtomicU64>) -> Result<Self> {
        let file_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| Error::file(path, format!("not a readable Parquet file: {e}")))?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let reader = builder
            .with_batch_size(batch.max(1))
            .build()
            .map_err(|e| Error::file(path, format!("not a readable Parquet file: {e}")))?;
        // Two batches in flight bound the memory; the worker stops when the receiver is
        // dropped (its next send fails) or after the first error.
        let (tx, batches) = std::sync::mpsc::sync_channel(2);
        let worker = std::thread::spawn(move || read_batches(reader, &tx));
        Ok(Self {
            batches,
            worker: Some(worker),
            rows: VecDeque::new(),
            next_row: 0,
            total_rows,
            file_bytes,
            done,
        })
    }

    fn next_row(&mut self, path: &Path) -> Option<Result<Row>> {
        if self.rows.is_empty() {
            match self.batches.recv() {
                Ok(Ok(rows)) => self.rows.extend(rows),
                Ok(Err(msg)) => return Some(Err(Error::file(path, msg))),
                // The worker is gone: the end of the file, or a panic, which must not
                // pass for the end.
                Err(_) => match self.worker.take().map(std::thread::JoinHandle::join) {
                    Some(Err(_)) => {
                        return Some(Err(Error::file(
                            path,
                            format!(
                                "reading stopped at row {}: the reader failed",
                                self.next_row
                            ),
                        )));
                    }
                    _ => return None,
                },
            }
        }
        let data = self.rows.pop_front()?;
        let loc = Location::new(path, Pos::Row(self.next_row));
        self.next_row += 1;
        if self.total_rows > 0 {
            let frac = self.next_row as f64 / self.total_rows as f64;
            self.done
                .store((frac * self.file_bytes as f64) as u64, Ordering::Relaxed);
        }
        Some(Ok(Row { loc, data }))
    }
}

/// The Parquet worker: batches converted to rows, then the first error (with its row) if
/// any.
fn read_batches(
    reader: ParquetRecordBatchReader,
    tx: &std::sync::mpsc::SyncSender<std::result::Result<Vec<RowData>, String>>,
) {
    let mut row = 0u64;
    for batch in reader {
        let msg = match batch {
            Ok(batch) => match pair_rows(&batch).map(Ok).unwrap_or_else(|| {
                batch_to_objects(&batch).map(|r| r.into_iter().map(RowData::Object).collect())
            }) {
                Ok(rows) => {
                    row += batch.num_rows() as u64;
                    if tx.send(Ok(rows)).is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) => format!("row {row}: {e}"),
            },
            Err(e) => format!("reading stopped at row {row}: {e}"),
        };
        let _ = tx.send(Err(msg));
        return;
    }
}

/// Reads a batch straight into pairs when its columns are exactly text pair fields
/// (prompt, chosen, rejected and string or float annotations, as prefer and TRL-style
/// datasets write them); `None` sends the batch down the general path.
fn pair_rows(batch: &arrow_array::RecordBatch) -> Option<Vec<RowData>> {
    use crate::record::{Annotations, Pair, Record, Text};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    const TEXT: [&str; 9] = [
        "prompt",
        "chosen",
        "rejected",
        "id",
        "user_id",
        "context",
        "rationale",
        "source",
        "margin",
    ];
    let schema = batch.schema();
    let mut cols: [Option<usize>; 10] = [None; 10];
    for (k, f) in schema.fields().iter().enumerate() {
        let slot = match f.name().as_str() {
            "strength" => 9,
            name => TEXT.iter().position(|t| *t == name)?,
        };
        let ok = match slot {
            8 | 9 => matches!(f.data_type(), DataType::Float64),
            _ => matches!(f.data_type(), DataType::Utf8),
        };
        if !ok {
            return None;
        }
        cols[slot] = Some(k);
    }
    let (c, r) = (cols[1]?, cols[2]?);
    let text = |slot: usize| cols[slot].map(|k| batch.column(k).as_string::<i32>());
    let float = |slot: usize| {
        cols[slot].map(|k| {
            batch
                .column(k)
                .as_primitive::<arrow_array::types::Float64Type>()
        })
    };
    let (prompt, chosen, rejected) = (
        text(0),
        batch.column(c).as_string::<i32>(),
        batch.column(r).as_string::<i32>(),
    );
    let (id, user, ctx, why, src) = (text(3), text(4), text(5), text(6), text(7));
    let (margin, strength) = (float(8), float(9));
    let get = |a: Option<&arrow_array::StringArray>, i: usize| {
        a.and_then(|a| (!a.is_null(i)).then(|| a.value(i).to_string()))
    };
    let getf = |a: Option<&arrow_array::Float64Array>, i: usize| {
        a.and_then(|a| (!a.is_null(i)).then(|| a.value(i)))
    };
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        if chosen.is_null(i) || rejected.is_null(i) {
            return None; // the general path names the missing field
        }
        out.push(RowData::Record(Box::new(Record::Pair(Pair {
            prompt: get(prompt, i).map(Text::Plain),
            chosen: Text::Plain(chosen.value(i).to_string()),
            rejected: Text::Plain(rejected.value(i).to_string()),
            ann: Annotations {
                id: get(id, i),
                user_id: get(user, i),
                context: get(ctx, i),
                rationale: get(why, i),
                source: get(src, i),
                margin: getf(margin, i),
                strength: getf(strength, i),
                extra: Default::default(),
            },
        }))));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn rows(path: &Path) -> Vec<Result<Row>> {
        RowReader::open(path, &ReadOptions::default())
            .unwrap()
            .collect()
    }

    #[test]
    fn jsonl_lines_blank_lines_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        std::fs::write(&p, "{\"a\":1}\r\n\n{\"a\":2}\n{\"a\":3}").unwrap();
        let r = rows(&p);
        assert_eq!(r.len(), 3);
        let locs: Vec<_> = r.iter().map(|r| r.as_ref().unwrap().loc.pos).collect();
        assert_eq!(locs, vec![Pos::Line(1), Pos::Line(3), Pos::Line(4)]);
    }

    #[test]
    fn non_utf8_and_long_lines_are_record_errors_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let mut f = File::create(&p).unwrap();
        f.write_all(b"{\"a\":\"\xff\"}\n").unwrap();
        f.write_all(format!("{{\"a\":\"{}\"}}\n", "x".repeat(100)).as_bytes())
            .unwrap();
        f.write_all(b"{\"a\":1}\n").unwrap();
        drop(f);
        let opts = ReadOptions {
            max_record_bytes: 50,
            ..Default::default()
        };
        let r: Vec<_> = RowReader::open(&p, &opts).unwrap().collect();
        assert_eq!(r.len(), 3);
        let e0 = r[0].as_ref().unwrap_err().to_string();
        assert!(e0.contains("a.jsonl:1") && e0.contains("UTF-8"), "{e0}");
        let e1 = r[1].as_ref().unwrap_err().to_string();
        assert!(
            e1.contains("a.jsonl:2") && e1.contains("over the limit"),
            "{e1}"
        );
        assert!(r[2].is_ok());
    }

    #[test]
    fn truncated_gzip_is_a_file_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000 {
            writeln!(enc, "{{\"i\":{i},\"pad\":\"{}\"}}", "y".repeat(i % 50)).unwrap();
        }
        let bytes = enc.finish().unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let r = rows(&p);
        let last = r.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(last.contains("truncated"), "{last}");
        assert!(r[..r.len() - 1].iter().all(|r| r.is_ok()));
        assert!(r.len() > 10 && r.len() < 2000);
    }

    #[test]
    fn json_array_elements_with_tricky_strings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(
            &p,
            "[\n {\"s\": \"a ] } \\\" ,\"},\n {\"s\": [1, {\"t\": \"]\"}]}\n]\n",
        )
        .unwrap();
        let r = rows(&p);
        assert_eq!(r.len(), 2);
        let objs: Vec<_> = r
            .into_iter()
            .map(|r| r.unwrap().into_object().unwrap().1)
            .collect();
        assert_eq!(objs[0]["s"], "a ] } \" ,");
        assert_eq!(objs[1]["s"][1]["t"], "]");

        std::fs::write(&p, "[{\"a\":1}, {\"a\":").unwrap();
        let r = rows(&p);
        assert!(r[0].is_ok());
        assert!(r[1].as_ref().unwrap_err().to_string().contains("truncated"));
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn json_file_holding_lines_is_read_as_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        std::fs::write(&p, "{\"a\":1}\n{\"a\":2}\n").unwrap();
        let r = RowReader::open(&p, &ReadOptions::default()).unwrap();
        assert_eq!(r.format(), Format::Jsonl);
        assert_eq!(r.count(), 2);
    }

    #[test]
    fn csv_rows_and_ragged_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.csv");
        std::fs::write(&p, "left,right,winner\na,b,left\na,b\nc,d,tie\n").unwrap();
        let mut r = rows(&p);
        assert_eq!(r.len(), 3);
        let first = std::mem::replace(&mut r[0], Err(Error::Invalid(String::new())));
        let (loc, o) = first.unwrap().into_object().unwrap();
        assert_eq!(loc.pos, Pos::Line(2));
        assert_eq!(o["winner"], "left");
        let e = r[1].as_ref().unwrap_err().to_string();
        assert!(e.contains("v.csv:3") && e.contains("2 columns"), "{e}");
        assert!(r[2].is_ok());
    }

    #[test]
    fn empty_csv_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.csv");
        std::fs::write(&p, "").unwrap();
        let r = rows(&p);
        assert_eq!(r.len(), 1);
        assert!(r[0].as_ref().unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn corrupt_parquet_page_stops_with_the_row_after_the_good_groups() {
        use arrow_array::{ArrayRef, RecordBatch, StringArray};
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::WriterProperties;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pairs.parquet");
        let col = |tag: &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(
                (0..300).map(|i| format!("{tag} {i} {}", "words ".repeat(i % 7 + 1))),
            ))
        };
        let batch = RecordBatch::try_from_iter([
            ("prompt", col("q")),
            ("chosen", col("good")),
            ("rejected", col("bad")),
        ])
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .build();
        let mut w =
            ArrowWriter::try_new(File::create(&p).unwrap(), batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        let meta = w.close().unwrap();
        // Overwrite the middle of the second row group's `chosen` chunk; the footer stays.
        let chunk = meta.row_group(1).column(1);
        let (start, len) = chunk.byte_range();
        let mut bytes = std::fs::read(&p).unwrap();
        for b in &mut bytes[(start + len / 4) as usize..(start + 3 * len / 4) as usize] {
            *b = 0xAB;
        }
        std::fs::write(&p, bytes).unwrap();

        let opts = ReadOptions {
            parquet_batch_rows: 50,
            ..Default::default()
        };
        let got: Vec<_> = RowReader::open(&p, &opts).unwrap().collect();
        let good = got.iter().take_while(|r| r.is_ok()).count();
        assert_eq!(good, 100, "the first row group reads whole");
        assert_eq!(got.len(), 101, "one error, then the end");
        let msg = got[100].as_ref().unwrap_err().to_string();
        assert!(msg.contains("pairs.parquet"), "{msg}");
        assert!(msg.contains("row 100"), "{msg}");
    }
}
