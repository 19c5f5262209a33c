//! Reference log-probs computed once and kept on disk.
//!
//! The file is JSON: `{"fingerprint": "...", "kind": "pairs", "values": [[chosen, rejected], ...]}`
//! (for KTO: `[completion, kl_completion]`). The fingerprint hashes the reference model's
//! weights and `config.json`, every token id of the data (so also the tokenizer and the
//! order), the batch settings (truncation, BOS/EOS) and the dtype. A file with another
//! fingerprint is reported ([`Error::CacheMismatch`]), never used.

use std::path::Path;

use candle_core::DType;
use prefer_data::split::stable_hash;
use prefer_nn::logprobs::BatchConfig;
use prefer_nn::model::CausalLm;
use serde::{Deserialize, Serialize};

use crate::data::Examples;
use crate::error::io_err;
use crate::{Error, Result};

/// The cached values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefCache {
    /// What the values were computed from (see the module docs).
    pub fingerprint: String,
    /// `pairs` or `unpaired`.
    pub kind: String,
    /// One `[a, b]` per example, in the data's order.
    pub values: Vec<[f64; 2]>,
}

/// A hash of a model's weights and configuration.
pub fn model_fingerprint(model: &CausalLm) -> Result<u64> {
    let cfg = serde_json::to_vec(model.config()).map_err(|e| Error::Config(e.to_string()))?;
    let mut h = stable_hash(0, &cfg);
    for (name, t) in model.parameters() {
        h = stable_hash(h, name.as_bytes());
        let t = t.flatten_all()?;
        let bytes: Vec<u8> = match t.dtype() {
            DType::F64 => t
                .to_vec1::<f64>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            _ => t
                .to_dtype(DType::F32)?
                .to_vec1::<f32>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        };
        h = stable_hash(h, &bytes);
    }
    Ok(h)
}

/// The fingerprint of reference values for `data` under `batch`, from a model fingerprint.
pub fn fingerprint(model_fp: u64, data: &Examples, batch: &BatchConfig) -> Result<String> {
    let b = serde_json::to_vec(batch).map_err(|e| Error::Config(e.to_string()))?;
    let h = stable_hash(model_fp, &data.fingerprint_bytes());
    let h = stable_hash(h, &b);
    Ok(format!("{h:016x}-{}", data.len()))
}

impl RefCache {
    /// Reads `path` if it exists: `Ok(None)` when absent, an error when its fingerprint
    /// differs from `expected` or it does not hold `n` values.
    pub fn load(path: &Path, expected: &str, n: usize) -> Result<Option<RefCache>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(path)(e)),
        };
        let c: RefCache = serde_json::from_str(&text).map_err(|e| {
            Error::Record(format!("{}: not a reference cache: {e}", path.display()))
        })?;
        if c.fingerprint != expected {
            return Err(Error::CacheMismatch {
                path: path.to_path_buf(),
                found: c.fingerprint,
                expected: expected.to_string(),
            });
        }
        if c.values.len() != n {
            return Err(Error::Record(format!(
                "{}: {} values for {n} examples",
                path.display(),
                c.values.len()
            )));
        }
        Ok(Some(c))
    }

    /// Writes the cache atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let text = serde_json::to_string(self).map_err(|e| Error::Config(e.to_string()))?;
        prefer_data::write_atomic(path, text.as_bytes())?;
        Ok(())
    }
}
