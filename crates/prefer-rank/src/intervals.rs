//! Confidence intervals for ratings: the bootstrap, and normal intervals from standard
//! errors (Fisher or sandwich); and ranks that respect the intervals.
//!
//! The bootstrap resamples votes with replacement, as FastChat does
//! (`battles.sample(frac=1.0, replace=True)`) — but on the counts: drawing N votes with
//! replacement from N observed votes makes the count of each distinct (pair, outcome)
//! cell multinomial with the observed shares, so one round draws one multinomial vector
//! over the cells (a few thousand binomials) instead of N rows. The distribution is the
//! same; the cost no longer grows with the number of votes. Rounds run in parallel with
//! rayon, round r seeded with `seed + r`, so results do not depend on the thread count.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::votes::{PairCell, PairCounts};

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BootstrapConfig {
    /// Rounds (default 100).
    pub rounds: usize,
    /// Seed; round r uses seed + r (default 0).
    pub seed: u64,
    /// Interval level (default 0.95: the 2.5th and 97.5th percentiles).
    pub level: f64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            rounds: 100,
            seed: 0,
            level: 0.95,
        }
    }
}

impl BootstrapConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// No rounds, or a level outside (0, 1).
    pub fn validate(&self) -> Result<()> {
        if self.rounds == 0 || !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::Config(format!(
                "bootstrap needs rounds >= 1 and 0 < level < 1 (got {} and {})",
                self.rounds, self.level
            )));
        }
        Ok(())
    }
}

/// One multinomial resample of the votes behind `counts` (same total).
pub fn resample(counts: &PairCounts, rng: &mut ChaCha8Rng) -> PairCounts {
    let total = counts.total();
    let mut left = total.round() as u64;
    let mut mass_left = total;
    let mut cells = Vec::with_capacity(counts.cells.len());
    for c in &counts.cells {
        let mut draw = |w: f64| -> f64 {
            if w <= 0.0 || left == 0 {
                mass_left -= w.max(0.0);
                return 0.0;
            }
            let p = (w / mass_left).clamp(0.0, 1.0);
            mass_left -= w;
            let k = if p >= 1.0 {
                left
            } else {
                Binomial::new(left, p).map_or(0, |b| b.sample(rng))
            };
            left -= k;
            k as f64
        };
        let cell = PairCell {
            i: c.i,
            j: c.j,
            wins_i: draw(c.wins_i),
            wins_j: draw(c.wins_j),
            ties: draw(c.ties),
        };
        if cell.total() > 0.0 {
            cells.push(cell);
        }
    }
    PairCounts { n: counts.n, cells }
}

/// The percentile `q` in \[0, 1\] of sorted `v`, linear between order statistics (numpy's
/// default, which FastChat's `quantile` uses).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The bootstrap distribution of a rating method: `fit` is called on each resample and
/// returns one rating per item (or an error, e.g. an item that won every resampled vote;
/// such rounds are counted and left out).
#[derive(Debug, Clone, Serialize)]
pub struct Bootstrap {
    /// Lower bound per item.
    pub lower: Vec<f64>,
    /// Upper bound per item.
    pub upper: Vec<f64>,
    /// Median per item.
    pub median: Vec<f64>,
    /// Rounds that produced ratings.
    pub rounds_used: usize,
    /// Rounds whose fit failed (left out).
    pub rounds_failed: usize,
}

/// Runs the bootstrap.
///
/// # Errors
/// Invalid config, or every round failed.
pub fn bootstrap<F>(counts: &PairCounts, cfg: &BootstrapConfig, fit: F) -> Result<Bootstrap>
where
    F: Fn(&PairCounts) -> Result<Vec<f64>> + Sync,
{
    cfg.validate()?;
    let samples: Vec<Option<Vec<f64>>> = (0..cfg.rounds)
        .into_par_iter()
        .map(|r| {
            let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_add(r as u64));
            let rs = resample(counts, &mut rng);
            fit(&rs).ok()
        })
        .collect();
    let good: Vec<&Vec<f64>> = samples.iter().flatten().collect();
    if good.is_empty() {
        return Err(Error::Numeric(
            "every bootstrap round failed to fit (too few votes?)".into(),
        ));
    }
    let (a, b) = ((1.0 - cfg.level) / 2.0, 1.0 - (1.0 - cfg.level) / 2.0);
    let n = counts.n;
    let mut lower = vec![0.0; n];
    let mut upper = vec![0.0; n];
    let mut median = vec![0.0; n];
    for i in 0..n {
        let mut col: Vec<f64> = good.iter().map(|s| s[i]).collect();
        col.sort_by(f64::total_cmp);
        lower[i] = percentile(&col, a);
        upper[i] = percentile(&col, b);
        median[i] = percentile(&col, 0.5);
    }
    Ok(Bootstrap {
        lower,
        upper,
        median,
        rounds_used: good.len(),
        rounds_failed: cfg.rounds - good.len(),
    })
}

/// Normal-approximation interval `value ± z · se` at `level`.
pub fn normal_interval(value: f64, se: f64, level: f64) -> (f64, f64) {
    let z = normal_quantile(0.5 + level / 2.0);
    (value - z * se, value + z * se)
}

/// The standard normal quantile (Acklam's rational approximation, refined by one Newton
/// step on erfc; accurate to ~1e-12).
#[allow(clippy::excessive_precision)] // Acklam's published coefficients
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let pl = 0.02425;
    let x = if p < pl {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - pl {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    // One Halley step with the exact CDF.
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The standard normal CDF, Φ(x) = erfc(−x/√2)/2.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// The complementary error function: the Chebyshev expansion of Numerical Recipes (3rd
/// ed., `Erf::erfccheb`), accurate to about 1.2e-16 relative.
#[allow(clippy::excessive_precision)] // the published coefficients, as printed
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 2.0 / (2.0 + z);
    let ty = 4.0 * t - 2.0;
    const COF: [f64; 28] = [
        -1.3026537197817094,
        6.419_697_923_564_902e-1,
        1.9476473204185836e-2,
        -9.561_514_786_808_63e-3,
        -9.46595344482036e-4,
        3.66839497852761e-4,
        4.2523324806907e-5,
        -2.0278578112534e-5,
        -1.624290004647e-6,
        1.303655835580e-6,
        1.5626441722e-8,
        -8.5238095915e-8,
        6.529054439e-9,
        5.059343495e-9,
        -9.91364156e-10,
        -2.27365122e-10,
        9.6467911e-11,
        2.394038e-12,
        -6.886027e-12,
        8.94487e-13,
        3.13092e-13,
        -1.12708e-13,
        3.81e-16,
        7.106e-15,
        -1.523e-15,
        -9.4e-17,
        1.21e-16,
        -2.8e-17,
    ];
    let (mut d, mut dd) = (0.0f64, 0.0f64);
    for &c in COF.iter().skip(1).rev() {
        let tmp = d;
        d = ty * d - dd + c;
        dd = tmp;
    }
    let r = t * (-z * z + 0.5 * (COF[0] + ty * d) - dd).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Ranks that respect intervals: 1 + the number of items whose lower bound is above this
/// item's upper bound (Chatbot Arena's "rank (UB)").
pub fn interval_ranks(lower: &[f64], upper: &[f64]) -> Vec<usize> {
    (0..lower.len())
        .map(|i| 1 + (0..lower.len()).filter(|&j| lower[j] > upper[i]).count())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::votes::{Outcome, Votes};

    #[test]
    fn resample_keeps_the_total_and_the_shares_on_average() {
        let mut v = Votes::new();
        for k in 0..1000 {
            let o = [Outcome::Win, Outcome::Win, Outcome::Loss, Outcome::Tie][k % 4];
            v.push("a", "b", o).unwrap();
            v.push("b", "c", Outcome::Win).unwrap();
        }
        let c = v.pair_counts();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut wins = 0.0;
        for _ in 0..200 {
            let r = resample(&c, &mut rng);
            assert_eq!(r.total(), 2000.0);
            wins += r.cells[0].wins_i;
        }
        // E[wins of a over b] = 2000 * 500/2000 = 500 per round; sd of the mean of 200
        // rounds = sqrt(2000 * .25 * .75) / sqrt(200) ≈ 1.4.
        assert!((wins / 200.0 - 500.0).abs() < 7.0, "{}", wins / 200.0);
    }

    #[test]
    fn normal_quantiles_and_cdf() {
        // Published values: z_0.975 = 1.959963984540054, Φ(1) = 0.8413447460685429.
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!((normal_quantile(0.01) + 2.326_347_874_040_841).abs() < 1e-12);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((normal_cdf(-3.0) - 0.001_349_898_031_630_094_6).abs() < 1e-16);
    }

    #[test]
    fn percentiles_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], 25) == 1.75
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.25), 1.75);
        assert_eq!(
            interval_ranks(&[10.0, 0.0, -5.0], &[20.0, 8.0, 12.0]),
            vec![1, 2, 1]
        );
    }
}
