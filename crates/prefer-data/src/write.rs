//! Writers: JSONL (plain or gzip), Parquet and CSV. Every output goes to a temporary file
//! in the same folder and is renamed into place by [`RecordWriter::finish`], so a crash
//! or an error leaves no half-written file behind.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::ReaderBuilder;
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::format::Format;
use crate::record::{Record, Shape};

/// A file written under a temporary name and renamed into place on [`AtomicFile::commit`].
/// Dropped without commit, the temporary file is removed.
pub struct AtomicFile {
    path: PathBuf,
    tmp: Option<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Creates a temporary file beside `path`.
    ///
    /// # Errors
    /// The folder does not exist or is not writable.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp: Some(tmp),
        })
    }

    /// The temporary file, to write to.
    pub fn file(&mut self) -> &mut File {
        // `tmp` is only taken by `commit`, which consumes self.
        self.tmp
            .as_mut()
            .map(|t| t.as_file_mut())
            .expect("AtomicFile used after commit")
    }

    /// A second handle on the temporary file (for writers that own their sink).
    ///
    /// # Errors
    /// The handle cannot be duplicated.
    pub fn try_clone(&mut self) -> Result<File> {
        let path = self.path.clone();
        self.file().try_clone().map_err(|e| Error::io(&path, e))
    }

    /// Flushes to disk and renames into place.
    ///
    /// # Errors
    /// The sync or the rename failed.
    pub fn commit(mut self) -> Result<()> {
        let path = self.path.clone();
        let Some(tmp) = self.tmp.take() else {
            return Ok(());
        };
        tmp.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(())
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes `bytes` to `path` atomically.
///
/// # Errors
/// As [`AtomicFile`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.file().write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// Options for writing.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// The format; `None` chooses by extension.
    pub format: Option<Format>,
    /// Rows per Parquet row group batch (default 8192). The schema is inferred from the
    /// first batch, as Hugging Face `datasets` does.
    pub parquet_batch_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            format: None,
            parquet_batch_rows: 8192,
        }
    }
}

enum Sink {
    Jsonl(Box<dyn Write>),
    Csv(csv::Writer<Box<dyn Write>>, Option<Vec<String>>),
    Parquet(ParquetSink),
}

struct ParquetSink {
    file: Option<File>,
    writer: Option<BackgroundWriter>,
    schema: Option<SchemaRef>,
    /// Once the schema is known, rows are serialized straight into this decoder (no
    /// intermediate JSON values); before, they wait in `buffer` for schema inference.
    decoder: Option<arrow_json::reader::Decoder>,
    in_decoder: usize,
    buffer: Vec<Value>,
    batch_rows: usize,
}

/// Writes records to a file, atomically.
pub struct RecordWriter {
    atomic: AtomicFile,
    sink: Sink,
    count: u64,
}

impl RecordWriter {
    /// Creates `path` (under a temporary name until [`RecordWriter::finish`]).
    ///
    /// # Errors
    /// The format cannot be told or the file cannot be created.
    pub fn create(path: &Path, opts: &WriteOptions) -> Result<RecordWriter> {
        let format = match opts.format {
            Some(f) => f,
            None => Format::from_path(path)?,
        };
        let mut atomic = AtomicFile::create(path)?;
        let file = atomic.try_clone()?;
        let gz = Format::is_gzip_path(path);
        let out: Box<dyn Write> = if gz && format != Format::Parquet {
            Box::new(flate2::write::GzEncoder::new(
                BufWriter::with_capacity(1 << 16, file),
                flate2::Compression::default(),
            ))
        } else {
            Box::new(BufWriter::with_capacity(1 << 16, file))
        };
        let sink = match format {
            Format::Jsonl | Format::JsonArray => Sink::Jsonl(out),
            Format::Csv | Format::Tsv => Sink::Csv(
                csv::WriterBuilder::new()
                    .delimiter(if format == Format::Tsv { b'\t' } else { b',' })
                    .from_writer(out),
                None,
            ),
            Format::Parquet => {
                drop(out);
                Sink::Parquet(ParquetSink {
                    file: Some(atomic.try_clone()?),
                    writer: None,
                    schema: None,
                    decoder: None,
                    in_decoder: 0,
                    buffer: Vec::new(),
                    batch_rows: opts.parquet_batch_rows.max(1),
                })
            }
        };
        if format == Format::JsonArray {
            return Err(Error::Invalid(format!(
                "{}: prefer writes JSON lines; name the output .jsonl",
                path.display()
            )));
        }
        Ok(RecordWriter {
            atomic,
            sink,
            count: 0,
        })
    }

    /// Writes one record.
    ///
    /// # Errors
    /// I/O failure, or (Parquet, CSV) a record that does not fit the file's columns.
    pub fn write(&mut self, record: &Record) -> Result<()> {
        if let Sink::Parquet(p) = &mut self.sink
            && p.decoder.is_some()
        {
            let path = self.atomic.path().to_path_buf();
            self.count += 1;
            return p.push_typed(&path, record);
        }
        self.write_value(record.to_value())
    }

    /// Writes any serializable row (a leaderboard line, a rejected-record note).
    ///
    /// # Errors
    /// As [`RecordWriter::write`].
    pub fn write_row<T: Serialize>(&mut self, row: &T) -> Result<()> {
        let v = serde_json::to_value(row)
            .map_err(|e| Error::Invalid(format!("cannot serialize a row: {e}")))?;
        self.write_value(v)
    }

    fn write_value(&mut self, v: Value) -> Result<()> {
        let path = self.atomic.path().to_path_buf();
        self.count += 1;
        match &mut self.sink {
            Sink::Jsonl(w) => {
                serde_json::to_writer(&mut *w, &v).map_err(|e| Error::io(&path, e.into()))?;
                w.write_all(b"\n").map_err(|e| Error::io(&path, e))
            }
            Sink::Csv(w, header) => {
                let Value::Object(obj) = v else {
                    return Err(Error::Invalid("CSV rows must be objects".into()));
                };
                if header.is_none() {
                    let names: Vec<String> = obj.keys().cloned().collect();
                    w.write_record(&names).map_err(|e| csv_err(&path, e))?;
                    *header = Some(names);
                }
                let names = header.as_ref().map(Vec::as_slice).unwrap_or_default();
                if let Some(extra) = obj.keys().find(|k| !names.contains(k)) {
                    return Err(Error::Invalid(format!(
                        "{}: row {} has a field `{extra}` the first row did not have; \
                         CSV needs the same columns in every row (write .jsonl instead)",
                        path.display(),
                        self.count
                    )));
                }
                let cells: Vec<String> = names
                    .iter()
                    .map(|n| match obj.get(n) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                    })
                    .collect();
                w.write_record(&cells).map_err(|e| csv_err(&path, e))
            }
            Sink::Parquet(p) => {
                if p.decoder.is_some() {
                    return p.push_typed(&path, &v);
                }
                p.buffer.push(v);
                if p.buffer.len() >= p.batch_rows {
                    p.flush(&path)?;
                }
                Ok(())
            }
        }
    }

    /// How many rows were written.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Finishes the file and renames it into place.
    ///
    /// # Errors
    /// I/O failure.
    pub fn finish(self) -> Result<()> {
        let path = self.atomic.path().to_path_buf();
        match self.sink {
            Sink::Jsonl(w) => finish_writer(w, &path)?,
            Sink::Csv(w, _) => {
                let inner = w
                    .into_inner()
                    .map_err(|e| Error::io(&path, e.into_error()))?;
                finish_writer(inner, &path)?;
            }
            Sink::Parquet(mut p) => {
                p.flush(&path)?;
                if p.writer.is_none() {
                    // No rows: write an empty file with an empty schema.
                    p.open(&path, Arc::new(Schema::empty()))?;
                }
                if let Some(w) = p.writer.take() {
                    w.close(&path)?;
                }
            }
        }
        self.atomic.commit()
    }
}

fn finish_writer(mut w: Box<dyn Write>, path: &Path) -> Result<()> {
    w.flush().map_err(|e| Error::io(path, e))?;
    // Dropping a GzEncoder writes the gzip trailer; flush again through drop.
    drop(w);
    Ok(())
}

fn csv_err(path: &Path, e: csv::Error) -> Error {
    Error::io(path, io::Error::other(e.to_string()))
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::file(path, format!("writing Parquet: {e}"))
}

/// Encodes and compresses Parquet pages on a thread of its own, so that reading and
/// parsing the input overlap with compression.
struct BackgroundWriter {
    tx: Option<std::sync::mpsc::SyncSender<RecordBatch>>,
    handle: Option<std::thread::JoinHandle<std::result::Result<(), String>>>,
}

impl BackgroundWriter {
    fn spawn(mut w: ArrowWriter<File>) -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
        let handle = std::thread::spawn(move || {
            for b in rx {
                w.write(&b).map_err(|e| e.to_string())?;
            }
            w.close().map(|_| ()).map_err(|e| e.to_string())
        });
        Self {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    fn write(&mut self, b: RecordBatch, path: &Path) -> Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(b).is_ok());
        if sent {
            return Ok(());
        }
        // The thread stopped: its result says why.
        self.tx = None;
        match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => Err(parquet_err(path, e)),
            _ => Err(parquet_err(path, "the writer thread stopped")),
        }
    }

    fn close(mut self, path: &Path) -> Result<()> {
        self.tx = None;
        match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(parquet_err(path, e)),
            _ => Err(parquet_err(path, "the writer thread panicked")),
        }
    }
}

impl ParquetSink {
    fn open(&mut self, path: &Path, schema: SchemaRef) -> Result<()> {
        // Snappy, as pyarrow and Hugging Face write by default. Long free-text columns are
        // nearly all distinct: trying a dictionary on them costs a third of the write time
        // (measured) and never pays, so they are written plain; short columns (ids, model
        // names, sources) keep the dictionary.
        // Row groups of 64k rows keep the writer's memory bounded whatever the file size.
        let mut props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(1 << 16));
        for col in [
            "prompt",
            "chosen",
            "rejected",
            "completion",
            "response",
            "rationale",
        ] {
            props = props.set_column_dictionary_enabled(ColumnPath::from(col), false);
        }
        let props = props.build();
        let file = self
            .file
            .take()
            .ok_or_else(|| Error::file(path, "internal: Parquet sink opened twice"))?;
        let w = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .map_err(|e| parquet_err(path, e))?;
        self.writer = Some(BackgroundWriter::spawn(w));
        self.schema = Some(schema);
        Ok(())
    }

    fn misfit(&self, path: &Path, e: impl std::fmt::Display) -> Error {
        parquet_err(
            path,
            format!(
                "{e}: a record does not fit the columns inferred from the first {} records \
                 (write .jsonl for records of varying fields)",
                self.batch_rows
            ),
        )
    }

    /// Serializes one row into the decoder; writes a batch when it is full.
    fn push_typed<T: Serialize>(&mut self, path: &Path, row: &T) -> Result<()> {
        let Some(d) = self.decoder.as_mut() else {
            return Err(Error::file(path, "internal: no Parquet decoder"));
        };
        if let Err(e) = d.serialize(std::slice::from_ref(row)) {
            return Err(self.misfit(path, e));
        }
        self.in_decoder += 1;
        if self.in_decoder >= self.batch_rows {
            self.drain(path)?;
        }
        Ok(())
    }

    /// Writes what the decoder holds as one record batch.
    fn drain(&mut self, path: &Path) -> Result<()> {
        let Some(d) = self.decoder.as_mut() else {
            return Ok(());
        };
        let batch: Option<RecordBatch> = d.flush().map_err(|e| parquet_err(path, e))?;
        if let (Some(batch), Some(w)) = (batch, self.writer.as_mut()) {
            w.write(batch, path)?;
        }
        self.in_decoder = 0;
        Ok(())
    }

    fn flush(&mut self, path: &Path) -> Result<()> {
        if self.schema.is_none() && !self.buffer.is_empty() {
            let schema = arrow_json::reader::infer_json_schema_from_iterator(
                self.buffer.iter().map(Ok::<_, arrow_schema::ArrowError>),
            )
            .map_err(|e| parquet_err(path, e))?;
            let schema = Arc::new(schema);
            self.open(path, schema.clone())?;
            self.decoder = Some(
                ReaderBuilder::new(schema)
                    .with_strict_mode(true)
                    .with_batch_size(self.batch_rows)
                    .build_decoder()
                    .map_err(|e| parquet_err(path, e))?,
            );
        }
        let buffered = std::mem::take(&mut self.buffer);
        for v in &buffered {
            self.push_typed(path, v)?;
        }
        self.drain(path)
    }
}

/// The side file of rejected records: one JSON object per line with `location`,
/// `field`, `reason` and the `record` as it was read.
pub struct RejectWriter {
    inner: RecordWriter,
}

#[derive(Serialize)]
struct Rejected<'a> {
    location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<&'a str>,
}

impl RejectWriter {
    /// Creates the side file (JSONL).
    ///
    /// # Errors
    /// As [`RecordWriter::create`].
    pub fn create(path: &Path) -> Result<RejectWriter> {
        Ok(RejectWriter {
            inner: RecordWriter::create(
                path,
                &WriteOptions {
                    format: Some(Format::Jsonl),
                    ..Default::default()
                },
            )?,
        })
    }

    /// Records one rejected record with its reason.
    ///
    /// # Errors
    /// I/O failure.
    pub fn reject(&mut self, e: &crate::error::RecordError) -> Result<()> {
        self.inner.write_row(&Rejected {
            location: e.loc.to_string(),
            field: e.field.as_deref(),
            reason: &e.message,
            record: e.raw.as_deref(),
        })
    }

    /// How many records were rejected.
    pub fn count(&self) -> u64 {
        self.inner.count()
    }

    /// Finishes the side file.
    ///
    /// # Errors
    /// I/O failure.
    pub fn finish(self) -> Result<()> {
        self.inner.finish()
    }
}

/// Shapes that have a natural CSV form (flat fields).
pub fn csv_friendly(shape: Shape) -> bool {
    matches!(shape, Shape::Battle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{OpenOptions, read_all};
    use crate::record::{Annotations, Battle, Message, Pair, Text, Winner};

    fn pairs(n: usize, chat: bool) -> Vec<Record> {
        (0..n)
            .map(|i| {
                let t = |s: String| {
                    if chat {
                        Text::Chat(vec![Message::new("assistant", s)])
                    } else {
                        Text::Plain(s)
                    }
                };
                Record::Pair(Pair {
                    prompt: Some(t(format!("q{i}"))),
                    chosen: t(format!("good {i}")),
                    rejected: t(format!("bad {i}")),
                    ann: Annotations {
                        id: Some(i.to_string()),
                        ..Default::default()
                    },
                })
            })
            .collect()
    }

    fn round_trip(name: &str, records: &[Record]) -> Vec<Record> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        let mut w = RecordWriter::create(
            &p,
            &WriteOptions {
                parquet_batch_rows: 7,
                ..Default::default()
            },
        )
        .unwrap();
        for r in records {
            w.write(r).unwrap();
        }
        w.finish().unwrap();
        // Only the final file is left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        read_all(&p, &OpenOptions::default())
            .unwrap()
            .into_iter()
            .map(|i| i.record)
            .collect()
    }

    #[test]
    fn jsonl_gz_parquet_round_trips() {
        for chat in [false, true] {
            let recs = pairs(20, chat);
            assert_eq!(round_trip("a.jsonl", &recs), recs);
            assert_eq!(round_trip("a.jsonl.gz", &recs), recs);
            assert_eq!(round_trip("a.parquet", &recs), recs);
        }
    }

    #[test]
    fn parquet_pairs_read_by_columns_are_still_checked_and_renamable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.parquet");
        let mut recs = pairs(3, false);
        if let Record::Pair(x) = &mut recs[1] {
            x.rejected = x.chosen.clone();
        }
        let mut w = RecordWriter::create(&p, &WriteOptions::default()).unwrap();
        for r in &recs {
            w.write(r).unwrap();
        }
        w.finish().unwrap();
        let got: Vec<_> = crate::Dataset::open(&p, &OpenOptions::default())
            .unwrap()
            .collect();
        assert!(got[0].is_ok() && got[2].is_ok());
        match &got[1] {
            Err(crate::Error::Record(e)) => {
                assert_eq!(
                    e.to_string(),
                    format!(
                        "{}: row 1: field `rejected`: is identical to chosen",
                        p.display()
                    )
                );
                assert!(e.raw.as_deref().unwrap().contains("good 1"));
            }
            other => panic!("{other:?}"),
        }
        // Renames go through the general path.
        let opts = OpenOptions {
            renames: vec![("prompt".into(), "id".into())],
            ..Default::default()
        };
        let items = crate::read_all(
            &dir.path().join("p.parquet"),
            &OpenOptions {
                check: false,
                ..opts
            },
        )
        .unwrap();
        match &items[0].record {
            Record::Pair(x) => assert_eq!(x.prompt, Some(Text::from("0"))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn battles_round_trip_through_csv() {
        let recs: Vec<Record> = (0..5)
            .map(|i| Record::Battle(Battle::new(format!("m{i}"), "z", Winner::ALL[i % 4])))
            .collect();
        assert_eq!(round_trip("b.csv", &recs), recs);
    }

    #[test]
    fn unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let mut w = RecordWriter::create(&p, &WriteOptions::default()).unwrap();
        w.write(&pairs(1, false)[0]).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
