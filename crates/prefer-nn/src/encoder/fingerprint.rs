//! A small, stable, non-cryptographic 128-bit hash: the fingerprint of an encoder and the
//! keys of the embedding cache. Two FNV-1a-style lanes over 8-byte words with different
//! seeds and primes, finished with a 64-bit avalanche (SplitMix64's finalizer). Stable
//! across platforms and Rust versions (unlike `std`'s `DefaultHasher`), which matters for
//! a cache that lives on disk.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

const SEED_A: u64 = 0xcbf2_9ce4_8422_2325;
const SEED_B: u64 = 0x6c62_272e_07bb_0142;
const PRIME_A: u64 = 0x0000_0100_0000_01b3;
const PRIME_B: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An incremental 128-bit hash.
#[derive(Debug, Clone)]
pub struct Hasher {
    a: u64,
    b: u64,
    len: u64,
    tail: Vec<u8>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// A fresh hash.
    pub fn new() -> Self {
        Hasher {
            a: SEED_A,
            b: SEED_B,
            len: 0,
            tail: Vec::with_capacity(8),
        }
    }

    fn word(&mut self, w: u64) {
        self.a = (self.a ^ w).wrapping_mul(PRIME_A);
        self.b = (self.b ^ w.rotate_left(29)).wrapping_mul(PRIME_B);
    }

    /// Feeds bytes.
    pub fn bytes(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        let mut data = data;
        if !self.tail.is_empty() {
            let need = 8 - self.tail.len();
            let take = need.min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.tail.len() == 8 {
                let mut w = [0u8; 8];
                w.copy_from_slice(&self.tail);
                self.word(u64::from_le_bytes(w));
                self.tail.clear();
            }
        }
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        self.tail.extend_from_slice(chunks.remainder());
    }

    /// Feeds a whole file's bytes; the error names the file.
    pub fn file(&mut self, path: &Path) -> Result<()> {
        let mut f = std::fs::File::open(path)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
            if n == 0 {
                break;
            }
            self.bytes(&buf[..n]);
        }
        Ok(())
    }

    /// The 128-bit digest.
    pub fn finish(&self) -> [u64; 2] {
        let mut h = self.clone();
        let mut w = [0u8; 8];
        w[..h.tail.len()].copy_from_slice(&h.tail);
        let tail = u64::from_le_bytes(w);
        h.word(tail ^ (h.tail.len() as u64) << 56);
        [mix(h.a ^ h.len), mix(h.b ^ h.len.rotate_left(17))]
    }

    /// The digest as 32 hex digits.
    pub fn hex(&self) -> String {
        let [a, b] = self.finish();
        format!("{a:016x}{b:016x}")
    }
}

/// The 128-bit hash of one byte string.
pub fn hash128(data: &[u8]) -> [u64; 2] {
    let mut h = Hasher::new();
    h.bytes(data);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: &str = "427eb7503b60d804ad4edc47cfb67cb8";

    #[test]
    fn chunking_does_not_change_the_digest_and_inputs_are_separated() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = hash128(&data);
        let mut h = Hasher::new();
        for c in data.chunks(13) {
            h.bytes(c);
        }
        assert_eq!(h.finish(), whole);
        // Length is part of the digest: trailing zero bytes change it.
        assert_ne!(hash128(b"ab"), hash128(b"ab\0"));
        assert_ne!(hash128(b""), hash128(b"\0"));
        assert_ne!(hash128(b"chosen"), hash128(b"rejected"));
        // Pinned value: caches on disk depend on it never changing.
        let mut h = Hasher::new();
        h.bytes(b"prefer");
        assert_eq!(h.hex(), PINNED);
    }
}
