//! Reproducible train/test splits that stream: each record goes to a split by a seeded
//! hash of its key, so no record is held in memory and the same key always lands in the
//! same split (group by prompt to keep one prompt's pairs together).

/// What a record is assigned by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SplitKey {
    /// The prompt (all records of one prompt land together; no prompt leaks into both).
    #[default]
    Prompt,
    /// The record's `id` (falls back to its position when absent).
    Id,
    /// The record's position in the file.
    Position,
}

/// Assigns keys to named splits by fraction.
#[derive(Debug, Clone)]
pub struct Splitter {
    seed: u64,
    /// Cumulative fractions, ending at 1.
    bounds: Vec<f64>,
}

/// 64-bit FNV-1a followed by a SplitMix64 finalizer: stable across Rust versions and
/// platforms, unlike `std`'s hasher.
pub fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Splitter {
    /// A splitter with the given fractions (they must be positive and sum to 1 within
    /// 1e-9).
    ///
    /// # Errors
    /// Fractions that are not positive or do not sum to 1.
    pub fn new(fractions: &[f64], seed: u64) -> Result<Self, String> {
        if fractions.is_empty() || fractions.iter().any(|f| !(f.is_finite() && *f > 0.0)) {
            return Err(format!(
                "split fractions must be positive numbers, got {fractions:?}"
            ));
        }
        let sum: f64 = fractions.iter().sum();
        if (sum - 1.0).abs() > 1e-9 {
            return Err(format!("split fractions must sum to 1, got {sum}"));
        }
        let mut acc = 0.0;
        let mut bounds: Vec<f64> = fractions
            .iter()
            .map(|f| {
                acc += f;
                acc
            })
            .collect();
        if let Some(last) = bounds.last_mut() {
            *last = 1.0;
        }
        Ok(Self { seed, bounds })
    }

    /// The split index of `key`.
    pub fn assign(&self, key: &[u8]) -> usize {
        let u = (stable_hash(self.seed, key) >> 11) as f64 / (1u64 << 53) as f64;
        self.bounds
            .iter()
            .position(|&b| u < b)
            .unwrap_or(self.bounds.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_respected_and_assignment_is_stable() {
        let s = Splitter::new(&[0.8, 0.1, 0.1], 7).unwrap();
        let mut counts = [0usize; 3];
        for i in 0..100_000u32 {
            counts[s.assign(&i.to_le_bytes())] += 1;
        }
        // Binomial sd for p = 0.1, n = 1e5 is ~95: 5 sd bounds.
        assert!((counts[0] as i64 - 80_000).abs() < 700, "{counts:?}");
        assert!((counts[1] as i64 - 10_000).abs() < 500, "{counts:?}");
        assert_eq!(s.assign(b"prompt"), s.assign(b"prompt"));
        assert!(Splitter::new(&[0.5, 0.6], 0).is_err());
        assert!(Splitter::new(&[1.0, 0.0], 0).is_err());
    }
}
