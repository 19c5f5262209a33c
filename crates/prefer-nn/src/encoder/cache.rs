//! Embeddings cached on disk, keyed by a hash of the text and stamped with the encoder's
//! fingerprint, so the frozen encoder runs once per text and a cache written by another
//! encoder is refused with a clear error instead of silently feeding wrong features.
//!
//! The file is safetensors (readable from Python with `safetensors.torch.load_file`):
//! `embeddings` f32 `[n, dim]`, `keys` u8 `[n, 16]` (the 128-bit text hashes), and
//! metadata `prefer_embedding_cache = "1"`, `encoder_fingerprint`, `encoder_name`, `dim`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use super::fingerprint::hash128;
use super::sentence::{Embeddings, EncodeOptions, SentenceEncoder};
use crate::{Error, Result};

/// The key of a text in the cache.
pub fn text_key(text: &str) -> [u8; 16] {
    let [a, b] = hash128(text.trim().as_bytes());
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&a.to_le_bytes());
    k[8..].copy_from_slice(&b.to_le_bytes());
    k
}

/// An embedding cache file, loaded in memory.
///
/// # Quickstart
/// ```no_run
/// use prefer_nn::encoder::{EmbeddingCache, EncodeOptions, SentenceEncoder};
/// let enc = SentenceEncoder::load("path/to/all-MiniLM-L6-v2".as_ref())?;
/// let mut cache = EmbeddingCache::open("emb.safetensors".as_ref(), &enc)?; // refuses another encoder's file
/// let e = cache.embed(&enc, &["first text", "second text"], &EncodeOptions::default())?;
/// cache.save()?;                                                           // atomic
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    path: PathBuf,
    fingerprint: String,
    name: String,
    dim: usize,
    index: HashMap<[u8; 16], usize>,
    keys: Vec<[u8; 16]>,
    rows: Embeddings,
    dirty: bool,
    hits: usize,
    misses: usize,
}

/// What an existing cache file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheHeader {
    /// The fingerprint of the encoder that wrote it.
    pub fingerprint: String,
    /// Its name.
    pub name: String,
    /// Embedding width.
    pub dim: usize,
    /// Number of cached texts.
    pub len: usize,
}

fn bad(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::File(format!("{}: {msg}", path.display()))
}

impl EmbeddingCache {
    /// Opens `path` for `encoder`, or starts an empty cache when the file does not exist.
    ///
    /// # Errors
    /// The file is not an embedding cache, or was written by another encoder (its
    /// fingerprint differs): the message names both encoders and what to do.
    pub fn open(path: &Path, encoder: &SentenceEncoder) -> Result<Self> {
        Self::open_for(path, encoder.fingerprint(), encoder.name(), encoder.dim())
    }

    /// [`Self::open`] with the encoder given by its fingerprint, name and width.
    pub fn open_for(path: &Path, fingerprint: &str, name: &str, dim: usize) -> Result<Self> {
        let mut c = EmbeddingCache {
            path: path.to_path_buf(),
            fingerprint: fingerprint.to_string(),
            name: name.to_string(),
            dim,
            index: HashMap::new(),
            keys: Vec::new(),
            rows: Embeddings::new(dim),
            dirty: false,
            hits: 0,
            misses: 0,
        };
        if !path.exists() {
            return Ok(c);
        }
        let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
        let (header, keys, data) = parse(path, &bytes)?;
        if header.fingerprint != fingerprint {
            return Err(bad(
                path,
                format!(
                    "embeddings cache was written by encoder `{}` (fingerprint {}), but the \
                     encoder in use is `{name}` (fingerprint {fingerprint}); its embeddings \
                     would be wrong features. Delete the file or choose another cache path",
                    header.name, header.fingerprint
                ),
            ));
        }
        if header.dim != dim {
            return Err(bad(
                path,
                format!(
                    "cache rows have {} values, the encoder gives {dim}",
                    header.dim
                ),
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            c.index.insert(*k, i);
        }
        c.keys = keys;
        c.rows = Embeddings { dim, data };
        Ok(c)
    }

    /// Reads only the header of a cache file.
    pub fn header(path: &Path) -> Result<CacheHeader> {
        let bytes = std::fs::read(path).map_err(|e| bad(path, e))?;
        Ok(parse(path, &bytes)?.0)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of cached texts.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `(hits, misses)` of [`Self::embed`] calls so far.
    pub fn stats(&self) -> (usize, usize) {
        (self.hits, self.misses)
    }

    /// The cached embedding of a text.
    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.index.get(&text_key(text)).map(|&i| self.rows.row(i))
    }

    /// Adds an embedding (replacing none: a text already cached keeps its row).
    pub fn insert(&mut self, text: &str, row: &[f32]) -> Result<()> {
        let k = text_key(text);
        if self.index.contains_key(&k) {
            return Ok(());
        }
        self.rows.push(row)?;
        self.index.insert(k, self.keys.len());
        self.keys.push(k);
        self.dirty = true;
        Ok(())
    }

    /// Embeddings of `texts` in order: cached rows are reused, the others are encoded
    /// (each distinct text once) and added. Call [`Self::save`] to keep them.
    pub fn embed<S: AsRef<str>>(
        &mut self,
        encoder: &SentenceEncoder,
        texts: &[S],
        opts: &EncodeOptions,
    ) -> Result<Embeddings> {
        if encoder.fingerprint() != self.fingerprint {
            return Err(bad(
                &self.path,
                format!(
                    "cache belongs to encoder fingerprint {}, called with `{}` ({})",
                    self.fingerprint,
                    encoder.name(),
                    encoder.fingerprint()
                ),
            ));
        }
        let mut todo: Vec<&str> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for t in texts {
            let t = t.as_ref();
            let k = text_key(t);
            if self.index.contains_key(&k) {
                self.hits += 1;
            } else if seen.insert(k) {
                todo.push(t);
                self.misses += 1;
            } else {
                self.hits += 1;
            }
        }
        if !todo.is_empty() {
            let e = encoder.encode(&todo, opts)?;
            for (i, t) in todo.iter().enumerate() {
                self.insert(t, e.row(i))?;
            }
        }
        let mut out = Embeddings::new(self.dim);
        for t in texts {
            let row = self
                .get(t.as_ref())
                .ok_or_else(|| Error::Invalid("embedding missing after encode".into()))?;
            out.data.extend_from_slice(row);
        }
        Ok(out)
    }

    /// Writes the cache (a temporary file in the same folder, then a rename) when it
    /// changed.
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty && self.path.exists() {
            return Ok(());
        }
        let n = self.keys.len();
        let key_bytes: Vec<u8> = self.keys.iter().flatten().copied().collect();
        let emb_bytes: Vec<u8> = self
            .rows
            .data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let keys =
            TensorView::new(Dtype::U8, vec![n, 16], &key_bytes).map_err(|e| bad(&self.path, e))?;
        let emb = TensorView::new(Dtype::F32, vec![n, self.dim], &emb_bytes)
            .map_err(|e| bad(&self.path, e))?;
        let meta: HashMap<String, String> = [
            ("prefer_embedding_cache", "1".to_string()),
            ("encoder_fingerprint", self.fingerprint.clone()),
            ("encoder_name", self.name.clone()),
            ("dim", self.dim.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes = safetensors::serialize(vec![("embeddings", emb), ("keys", keys)], Some(meta))
            .map_err(|e| bad(&self.path, e))?;
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| bad(dir, e))?;
        }
        crate::model::write_atomic(&self.path, &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

type Parsed = (CacheHeader, Vec<[u8; 16]>, Vec<f32>);

fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let not_cache = |why: &str| {
        bad(
            path,
            format!("not a prefer embeddings cache ({why}); delete it or choose another path"),
        )
    };
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(bytes).map_err(|e| not_cache(&e.to_string()))?;
    let m = meta
        .metadata()
        .clone()
        .ok_or_else(|| not_cache("no metadata"))?;
    if m.get("prefer_embedding_cache").map(String::as_str) != Some("1") {
        return Err(not_cache("no `prefer_embedding_cache` marker"));
    }
    let fingerprint = m
        .get("encoder_fingerprint")
        .cloned()
        .ok_or_else(|| not_cache("no `encoder_fingerprint`"))?;
    let name = m.get("encoder_name").cloned().unwrap_or_default();
    let dim: usize = m
        .get("dim")
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| not_cache("no `dim`"))?;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| not_cache(&e.to_string()))?;
    let emb = st
        .tensor("embeddings")
        .map_err(|_| not_cache("no `embeddings` tensor"))?;
    let keys = st
        .tensor("keys")
        .map_err(|_| not_cache("no `keys` tensor"))?;
    if emb.dtype() != Dtype::F32 || keys.dtype() != Dtype::U8 {
        return Err(not_cache("unexpected dtypes"));
    }
    let n = keys.shape().first().copied().unwrap_or(0);
    if keys.shape() != [n, 16] || emb.shape() != [n, dim] {
        return Err(not_cache("tensor shapes disagree with `dim`"));
    }
    let key_rows: Vec<[u8; 16]> = keys
        .data()
        .chunks_exact(16)
        .map(|c| {
            let mut k = [0u8; 16];
            k.copy_from_slice(c);
            k
        })
        .collect();
    let data: Vec<f32> = emb
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((
        CacheHeader {
            fingerprint,
            name,
            dim,
            len: n,
        },
        key_rows,
        data,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_reuses_rows_and_refuses_another_encoder() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::File(e.to_string()))?;
        let path = dir.path().join("emb.safetensors");
        let enc = SentenceEncoder::tiny_random(5)?;
        let texts = ["one text", "another text", "one text"];
        let opts = EncodeOptions::default();
        let mut c = EmbeddingCache::open(&path, &enc)?;
        let e1 = c.embed(&enc, &texts, &opts)?;
        assert_eq!(c.len(), 2); // the repeated text is encoded once
        assert_eq!(c.stats(), (1, 2));
        c.save()?;
        let direct = enc.encode(&texts, &opts)?;
        assert_eq!(e1.data, direct.data);

        let mut c2 = EmbeddingCache::open(&path, &enc)?;
        assert_eq!(c2.len(), 2);
        let e2 = c2.embed(&enc, &texts, &opts)?;
        assert_eq!(c2.stats(), (3, 0)); // all from disk
        assert_eq!(e2.data, e1.data);

        let other = SentenceEncoder::tiny_random(6)?;
        let err = crate::encoder::err_text(EmbeddingCache::open(&path, &other));
        assert!(
            err.contains("written by encoder") && err.contains(other.fingerprint()),
            "{err}"
        );
        assert!(err.contains(&path.display().to_string()), "{err}");

        std::fs::write(&path, b"garbage").map_err(|e| Error::File(e.to_string()))?;
        let err = crate::encoder::err_text(EmbeddingCache::open(&path, &enc));
        assert!(err.contains("not a prefer embeddings cache"), "{err}");
        Ok(())
    }
}
