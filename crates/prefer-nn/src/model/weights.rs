//! Reading and writing safetensors files with Hugging Face tensor names.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::{Error, Result};

/// Where one tensor lies in which file.
#[derive(Debug, Clone)]
struct Entry {
    file: PathBuf,
    dtype: DType,
    shape: Vec<usize>,
    /// Absolute byte offset of the data in the file.
    start: u64,
    len: usize,
}

/// The tensors of one or more safetensors files (a sharded checkpoint with its
/// `model.safetensors.index.json`, or a single `model.safetensors`), read tensor by tensor
/// straight from the files: nothing is mapped or read twice, and no `unsafe` is needed.
#[derive(Debug, Clone)]
pub struct WeightFiles {
    entries: HashMap<String, Entry>,
    /// Names the files for error messages.
    origin: String,
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File(format!("{}: {e}", path.display()))
}

fn st_dtype(s: &str) -> Option<DType> {
    Some(match s {
        "F64" => DType::F64,
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "U8" => DType::U8,
        "U32" => DType::U32,
        "I64" => DType::I64,
        _ => return None,
    })
}

fn st_name(d: DType) -> &'static str {
    match d {
        DType::F64 => "F64",
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::U8 => "U8",
        DType::U32 => "U32",
        DType::I64 => "I64",
        _ => "?",
    }
}

/// Parses the JSON header of one safetensors file.
fn read_header(path: &Path) -> Result<Vec<(String, Entry)>> {
    let mut f = std::fs::File::open(path).map_err(|e| file_err(path, e))?;
    let mut n = [0u8; 8];
    f.read_exact(&mut n)
        .map_err(|e| file_err(path, format!("header length: {e}")))?;
    let n = u64::from_le_bytes(n);
    let file_len = f.metadata().map_err(|e| file_err(path, e))?.len();
    if n > file_len.saturating_sub(8) || n > 100_000_000 {
        return Err(file_err(
            path,
            format!("not a safetensors file (header length {n})"),
        ));
    }
    let mut buf = vec![0u8; n as usize];
    f.read_exact(&mut buf)
        .map_err(|e| file_err(path, format!("header: {e}")))?;
    let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&buf)
        .map_err(|e| file_err(path, format!("header is not JSON: {e}")))?;
    let data_start = 8 + n;
    let mut out = Vec::new();
    for (name, v) in header {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| file_err(path, format!("tensor `{name}`: {what}"));
        let dtype_s = v
            .get("dtype")
            .and_then(|d| d.as_str())
            .ok_or_else(|| bad("no `dtype`"))?;
        let dtype =
            st_dtype(dtype_s).ok_or_else(|| bad(&format!("unsupported dtype {dtype_s}")))?;
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| bad("no `shape`"))?;
        let offs: [u64; 2] = v
            .get("data_offsets")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
            .ok_or_else(|| bad("no `data_offsets`"))?;
        let len = (offs[1].saturating_sub(offs[0])) as usize;
        let want = shape.iter().product::<usize>() * dtype.size_in_bytes();
        if offs[1] < offs[0] || len != want || data_start + offs[1] > file_len {
            return Err(bad(&format!(
                "data_offsets {offs:?} do not fit shape {shape:?} of {dtype_s} in a file of {file_len} bytes"
            )));
        }
        out.push((
            name,
            Entry {
                file: path.to_path_buf(),
                dtype,
                shape,
                start: data_start + offs[0],
                len,
            },
        ));
    }
    Ok(out)
}

impl WeightFiles {
    /// The weights of a model folder: `model.safetensors.index.json` and its shards if
    /// present, else `model.safetensors`, else every `*.safetensors` file in it.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        let index = dir.join("model.safetensors.index.json");
        if index.exists() {
            let text = std::fs::read_to_string(&index).map_err(|e| file_err(&index, e))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| file_err(&index, e))?;
            let map = v
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| file_err(&index, "no `weight_map` object"))?;
            let mut shards: Vec<PathBuf> = Vec::new();
            for (name, file) in map {
                let f = file.as_str().ok_or_else(|| {
                    file_err(&index, format!("weight_map.`{name}` is not a file name"))
                })?;
                let p = dir.join(f);
                if !shards.contains(&p) {
                    shards.push(p);
                }
            }
            let mut w = Self::open_files(&shards)?;
            for (name, file) in map {
                if !w.entries.contains_key(name) {
                    return Err(file_err(
                        &index,
                        format!("weight_map names `{name}` in {file}, which does not hold it"),
                    ));
                }
            }
            w.origin = index.display().to_string();
            return Ok(w);
        }
        let single = dir.join("model.safetensors");
        if single.exists() {
            return Self::open_files(&[single]);
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| file_err(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(file_err(dir, "no *.safetensors file"));
        }
        Self::open_files(&files)
    }

    /// The weights of the given safetensors files (a name may appear in only one).
    pub fn open_files(files: &[PathBuf]) -> Result<Self> {
        let mut entries = HashMap::new();
        for f in files {
            for (name, e) in read_header(f)? {
                if let Some(prev) = entries.insert(name.clone(), e) {
                    return Err(file_err(
                        f,
                        format!("tensor `{name}` is also in {}", prev.file.display()),
                    ));
                }
            }
        }
        let origin = files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        Ok(WeightFiles { entries, origin })
    }

    /// Whether a tensor of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.entries.keys().cloned().collect();
        v.sort();
        v
    }

    /// The dtype and shape of a tensor, if it exists.
    pub fn info(&self, name: &str) -> Option<(DType, &[usize])> {
        self.entries
            .get(name)
            .map(|e| (e.dtype, e.shape.as_slice()))
    }

    /// Reads one floating-point tensor as `f32` values in row-major order, whatever its
    /// stored float type (F64, F32, F16, BF16), without going through a tensor library.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>> {
        let (e, buf) = self.read_raw(name)?;
        Ok(match e.dtype {
            DType::F32 => buf
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => buf
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b) as f32
                })
                .collect(),
            DType::F16 => buf
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            DType::BF16 => buf
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            d => {
                return Err(file_err(
                    &e.file,
                    format!("tensor `{name}` is {}, not a float type", st_name(d)),
                ));
            }
        })
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        self.entries
            .get(name)
            .ok_or_else(|| Error::File(format!("{}: no tensor `{name}`", self.origin)))
    }

    /// A tensor's entry and its bytes as stored, read straight from its file.
    fn read_raw(&self, name: &str) -> Result<(&Entry, Vec<u8>)> {
        let e = self.entry(name)?;
        let mut f = std::fs::File::open(&e.file).map_err(|err| file_err(&e.file, err))?;
        f.seek(SeekFrom::Start(e.start))
            .map_err(|err| file_err(&e.file, err))?;
        let mut buf = vec![0u8; e.len];
        f.read_exact(&mut buf)
            .map_err(|err| file_err(&e.file, format!("tensor `{name}`: {err}")))?;
        Ok((e, buf))
    }

    /// Reads one tensor, checks its shape and converts it to `dtype`.
    pub fn load(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let e = self.entry(name)?;
        if e.shape != shape {
            return Err(file_err(
                &e.file,
                format!(
                    "tensor `{name}` has shape {:?}, config.json implies {shape:?}",
                    e.shape
                ),
            ));
        }
        let buf = self.read_raw(name)?.1;
        let t = Tensor::from_raw_buffer(&buf, e.dtype, &e.shape, device)?;
        Ok(if t.dtype() == dtype {
            t
        } else {
            t.to_dtype(dtype)?
        })
    }
}

/// Writes tensors to a safetensors file with `{"format": "pt"}` metadata (what transformers
/// expects), atomically: to a temporary file in the same folder, then renamed.
pub fn save_safetensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    // Names sorted, offsets packed in that order (as the safetensors crate does).
    let mut sorted: Vec<&(String, Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let specs: Vec<TensorSpec> = sorted
        .iter()
        .map(|(name, t)| TensorSpec {
            name: name.clone(),
            dtype: t.dtype(),
            shape: t.dims().to_vec(),
        })
        .collect();
    write_safetensors_with(path, &specs, |i| tensor_bytes(&sorted[i].1))
}

/// Name, dtype and shape of one tensor of a file about to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// The tensor's name in the file.
    pub name: String,
    /// Its element type.
    pub dtype: DType,
    /// Its shape.
    pub shape: Vec<usize>,
}

impl TensorSpec {
    /// Bytes of the tensor's data.
    pub fn byte_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size_in_bytes()
    }
}

/// Writes a safetensors file whose header is known before its data: `bytes(i)` is called
/// once per tensor, in `specs` order, right before that tensor's data is written, so only
/// one tensor needs to be in memory at a time (merging streams through this). Atomic: a
/// temporary file in the same folder, then a rename; `{"format": "pt"}` metadata.
pub fn write_safetensors_with(
    path: &Path,
    specs: &[TensorSpec],
    mut bytes: impl FnMut(usize) -> Result<Vec<u8>>,
) -> Result<()> {
    let mut header = serde_json::Map::new();
    let mut meta = serde_json::Map::new();
    meta.insert("format".into(), "pt".into());
    header.insert("__metadata__".into(), meta.into());
    let mut offset = 0usize;
    for s in specs {
        if st_name(s.dtype) == "?" {
            return Err(Error::Invalid(format!(
                "save {}: tensor `{}` has unsupported dtype {:?}",
                path.display(),
                s.name,
                s.dtype
            )));
        }
        let len = s.byte_len();
        header.insert(
            s.name.clone(),
            serde_json::json!({
                "dtype": st_name(s.dtype),
                "shape": s.shape,
                "data_offsets": [offset, offset + len],
            }),
        );
        offset += len;
    }
    let mut hbytes = serde_json::to_vec(&header).map_err(|e| file_err(path, e))?;
    // Pad the header with spaces so the data starts 8-byte aligned.
    while (hbytes.len() + 8) % 8 != 0 {
        hbytes.push(b' ');
    }
    let tmp = tmp_path(path);
    let mut write = || -> Result<()> {
        let f = std::fs::File::create(&tmp).map_err(|e| file_err(&tmp, e))?;
        let mut w = std::io::BufWriter::new(f);
        let io = |e: std::io::Error| file_err(&tmp, e);
        w.write_all(&(hbytes.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.write_all(&hbytes).map_err(io)?;
        for (i, s) in specs.iter().enumerate() {
            let data = bytes(i)?;
            if data.len() != s.byte_len() {
                return Err(Error::Invalid(format!(
                    "save {}: tensor `{}` has {} bytes, its header says {}",
                    path.display(),
                    s.name,
                    data.len(),
                    s.byte_len()
                )));
            }
            w.write_all(&data).map_err(io)?;
        }
        let f = w.into_inner().map_err(|e| file_err(&tmp, e.error()))?;
        f.sync_all().map_err(io)?;
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e))
}

/// The temporary name a file is written under before its rename: hidden, in the same
/// folder (so the rename stays on one file system), unique to this process.
fn tmp_path(path: &Path) -> std::path::PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.tmp{}", std::process::id()))
}

/// Writes a file atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::File(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::File(format!("{}: {e}", path.display())))
}

/// Little-endian bytes of a tensor (row-major).
fn tensor_bytes(t: &Tensor) -> Result<Vec<u8>> {
    let t = t.flatten_all()?.to_device(&Device::Cpu)?;
    Ok(match t.dtype() {
        DType::F64 => t
            .to_vec1::<f64>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::F32 => t
            .to_vec1::<f32>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::F16 => t
            .to_vec1::<half::f16>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::BF16 => t
            .to_vec1::<half::bf16>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::U8 => t.to_vec1::<u8>()?,
        DType::U32 => t
            .to_vec1::<u32>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        DType::I64 => t
            .to_vec1::<i64>()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        d => return Err(Error::Invalid(format!("unsupported dtype {d:?}"))),
    })
}

/// Little-endian bytes of `f32` values stored as `dtype` (F32, F16, BF16 or F64).
pub fn f32_bytes(values: &[f32], dtype: DType) -> Result<Vec<u8>> {
    Ok(match dtype {
        DType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F64 => values
            .iter()
            .flat_map(|v| (*v as f64).to_le_bytes())
            .collect(),
        DType::F16 => values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
        DType::BF16 => values
            .iter()
            .flat_map(|v| half::bf16::from_f32(*v).to_le_bytes())
            .collect(),
        d => return Err(Error::Invalid(format!("cannot store floats as {d:?}"))),
    })
}
