//! Sparsification of task vectors, as mergekit's `sparsify.py` does it: keep a `density`
//! share of a delta's entries by magnitude (TIES), at random (DARE), by magnitude without
//! the largest outliers (Model Breadcrumbs) or at random with rank-dependent keep
//! probabilities (DELLA's MagPrune); optionally rescale the kept entries so the L1 norm is
//! unchanged (mergekit's `rescale`, used by DARE and DELLA in place of the papers'
//! per-entry `1/p`).

use rand::Rng;

/// How entries are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sparsify {
    /// Keep the `max(1, ⌊density·n⌋)` largest |δ| (TIES, Yadav et al. 2023).
    Magnitude,
    /// Keep each entry with probability `density` (DARE, Yu et al. 2023).
    Random,
    /// Drop the `⌊gamma·n⌋` largest |δ| and the smallest, keeping `⌊density·n⌋`
    /// (Model Breadcrumbs, Davari and Belilovsky 2023).
    MagnitudeOutliers,
    /// Keep entry i of a row with probability `density − ε + 2ε·rank_i/(m−1)`, ranks by
    /// |δ| ascending from 0 (DELLA, Deep et al. 2024).
    DellaMagprune,
}

/// Per-model sparsification settings.
#[derive(Debug, Clone, Copy)]
pub struct SparsifyParams {
    /// Share kept, in `(0, 1]`; `>= 1` keeps everything.
    pub density: f64,
    /// Breadcrumbs: share of the largest entries dropped (mergekit default 0.01).
    pub gamma: f64,
    /// DELLA: half-width of the keep probabilities (mergekit default 0.15).
    pub epsilon: f64,
    /// Rescale the kept entries to the L1 norm of the input.
    pub rescale: bool,
}

/// Sparsifies `delta` (row-major, `shape`) in place of a copy.
pub fn sparsify(
    method: Sparsify,
    delta: &[f32],
    shape: &[usize],
    p: &SparsifyParams,
    rng: &mut impl Rng,
) -> Result<Vec<f32>, String> {
    if p.density >= 1.0 {
        return Ok(delta.to_vec());
    }
    let n = delta.len();
    let mask: Vec<bool> = match method {
        Sparsify::Magnitude => {
            if p.density <= 0.0 || n == 0 {
                return Ok(vec![0.0; n]);
            }
            let k = ((p.density * n as f64) as usize).clamp(1, n);
            // The k largest by (|δ|, index): the entries the last k of the stable
            // ascending order would give (equal magnitudes: the later index wins), found
            // by a partial selection in O(n) instead of a sort.
            let mut idx: Vec<usize> = (0..n).collect();
            idx.select_nth_unstable_by(n - k, |&a, &b| {
                delta[a].abs().total_cmp(&delta[b].abs()).then(a.cmp(&b))
            });
            let mut m = vec![false; n];
            for &i in &idx[n - k..] {
                m[i] = true;
            }
            m
        }
        Sparsify::MagnitudeOutliers => {
            let target = (p.density * n as f64) as usize;
            let n_top = (p.gamma * n as f64) as usize;
            let n_bot = n.saturating_sub(target + n_top);
            let order = order_by_magnitude(delta);
            let mut m = vec![false; n];
            for &i in &order[n_bot..(n_bot + target).min(n)] {
                m[i] = true;
            }
            m
        }
        Sparsify::Random => (0..n).map(|_| rng.random::<f64>() < p.density).collect(),
        Sparsify::DellaMagprune => {
            if p.density <= 0.0 {
                return Ok(vec![0.0; n]);
            }
            if p.density + p.epsilon >= 1.0 || p.density - p.epsilon <= 0.0 {
                return Err(format!(
                    "epsilon {} with density {}: density ± epsilon must lie in (0, 1)",
                    p.epsilon, p.density
                ));
            }
            // Rows of a matrix (a vector is one row), as mergekit ranks along dim 1.
            let cols = if shape.len() >= 2 {
                n / shape[0].max(1)
            } else {
                n
            };
            let mut m = vec![false; n];
            for (r, row) in delta.chunks(cols.max(1)).enumerate() {
                let order = order_by_magnitude(row);
                let span = (row.len().max(2) - 1) as f64;
                for (rank, &i) in order.iter().enumerate() {
                    let prob = p.density - p.epsilon + 2.0 * p.epsilon * rank as f64 / span;
                    m[r * cols + i] = rng.random::<f64>() < prob;
                }
            }
            m
        }
    };
    Ok(rescaled(delta, &mask, p.rescale))
}

/// Indices sorted by |x| ascending (stable, so equal magnitudes keep their order).
fn order_by_magnitude(x: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()));
    idx
}

/// `x ⊙ mask`, scaled by `‖x‖₁ / ‖x ⊙ mask‖₁` when `rescale` (unless either is < 1e-7).
fn rescaled(x: &[f32], mask: &[bool], rescale: bool) -> Vec<f32> {
    let masked: Vec<f32> = x
        .iter()
        .zip(mask)
        .map(|(v, &k)| if k { *v } else { 0.0 })
        .collect();
    if !rescale {
        return masked;
    }
    let before: f64 = x.iter().map(|v| v.abs() as f64).sum();
    let after: f64 = masked.iter().map(|v| v.abs() as f64).sum();
    if before < 1e-7 || after < 1e-7 {
        return masked;
    }
    let s = before / after;
    masked.iter().map(|v| (*v as f64 * s) as f32).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn params(density: f64, rescale: bool) -> SparsifyParams {
        SparsifyParams {
            density,
            gamma: 0.1,
            epsilon: 0.1,
            rescale,
        }
    }

    #[test]
    fn magnitude_selection_keeps_what_the_stable_sort_keeps() {
        // Few distinct magnitudes (as in bfloat16 deltas), so many ties at the cut: the
        // partial selection keeps exactly the last k of the stable ascending order.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let delta: Vec<f32> = (0..5_003)
            .map(|_| (rng.random_range(-6i32..=6) as f32) / 4.0)
            .collect();
        for density in [0.0001, 0.1, 0.37, 0.5, 0.9, 0.9999] {
            let out = sparsify(
                Sparsify::Magnitude,
                &delta,
                &[5_003],
                &params(density, false),
                &mut rng,
            )
            .unwrap();
            let k = ((density * 5_003.0) as usize).max(1);
            let mut want = vec![0.0f32; delta.len()];
            for &i in order_by_magnitude(&delta).iter().rev().take(k) {
                want[i] = delta[i];
            }
            assert_eq!(out, want, "density {density}");
        }
    }

    #[test]
    fn dare_keeps_a_binomial_share_and_rescaling_restores_the_l1_norm() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let delta: Vec<f32> = (0..20_000)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let out = sparsify(
            Sparsify::Random,
            &delta,
            &[200, 100],
            &params(0.3, true),
            &mut rng,
        )
        .unwrap();
        let kept = out.iter().filter(|v| **v != 0.0).count() as f64;
        // Binomial(20000, 0.3): sd 64.8; 5 sd either side.
        assert!((kept - 6000.0).abs() < 5.0 * 64.8, "kept {kept}");
        let l1 = |v: &[f32]| v.iter().map(|x| x.abs() as f64).sum::<f64>();
        assert!((l1(&out) - l1(&delta)).abs() < 1e-3 * l1(&delta));
        // Every kept entry is the original times one common factor.
        let s = l1(&delta)
            / out
                .iter()
                .zip(&delta)
                .filter(|(o, _)| **o != 0.0)
                .map(|(_, d)| d.abs() as f64)
                .sum::<f64>();
        for (o, d) in out.iter().zip(&delta) {
            if *o != 0.0 {
                assert!((*o as f64 - *d as f64 * s).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn della_keep_probability_rises_with_rank_from_density_minus_to_plus_epsilon() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // 2000 rows of the same 11 magnitudes: the keep rate of rank r is 0.4 + 0.02 r.
        let row: Vec<f32> = (0..11)
            .map(|i| (i as f32 + 1.0) * if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let delta: Vec<f32> = (0..2000).flat_map(|_| row.clone()).collect();
        let out = sparsify(
            Sparsify::DellaMagprune,
            &delta,
            &[2000, 11],
            &params(0.5, false),
            &mut rng,
        )
        .unwrap();
        for r in 0..11 {
            let kept = (0..2000).filter(|k| out[k * 11 + r] != 0.0).count() as f64 / 2000.0;
            let want = 0.4 + 0.02 * r as f64;
            assert!(
                (kept - want).abs() < 5.0 * (want * (1.0 - want) / 2000.0).sqrt(),
                "rank {r}: {kept} vs {want}"
            );
        }
        assert!(
            sparsify(
                Sparsify::DellaMagprune,
                &delta,
                &[2000, 11],
                &params(0.95, false),
                &mut rng
            )
            .is_err()
        );
    }

    #[test]
    fn breadcrumbs_drops_the_top_gamma_and_the_bottom() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let delta: Vec<f32> = (1..=20).map(|i| i as f32).collect();
        // n 20, gamma 0.1 -> drop the 2 largest; density 0.5 -> keep 10: values 9..=18.
        let out = sparsify(
            Sparsify::MagnitudeOutliers,
            &delta,
            &[20],
            &params(0.5, false),
            &mut rng,
        )
        .unwrap();
        let kept: Vec<f32> = out.iter().copied().filter(|v| *v != 0.0).collect();
        assert_eq!(kept, (9..=18).map(|i| i as f32).collect::<Vec<_>>());
        let out = sparsify(
            Sparsify::Magnitude,
            &delta,
            &[20],
            &params(0.2, false),
            &mut rng,
        )
        .unwrap();
        let kept: Vec<f32> = out.iter().copied().filter(|v| *v != 0.0).collect();
        assert_eq!(kept, vec![17.0, 18.0, 19.0, 20.0]);
    }
}
