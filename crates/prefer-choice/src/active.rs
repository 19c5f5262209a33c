//! Active edge sampling for Thurstonian utilities (paper 70, Mazeika et al. 2025,
//! Appendix: "Utility Engineering"): which pairs to ask next, so that N items need about
//! `edge_multiplier · N log₂ N` pairs rather than all N(N−1)/2.
//!
//! 1. Start from a random `degree`-regular graph (union of random Hamiltonian cycles,
//!    plus a random matching for an odd degree).
//! 2. Each round, fit the utilities on what was asked; among the pairs not yet asked,
//!    keep those in the bottom `p`% of |μ_i − μ_j| (ambiguous pairs) **and** the bottom
//!    `q`% of the sum of the two items' degrees (under-sampled items), widening both by
//!    `widen` up to `max_widen` times until `edges_per_round` pairs qualify (then
//!    filling from the rest at random); ask a random `edges_per_round` of them.
//! 3. Stop when the target number of pairs is asked.
//!
//! One addition of ours, [`ActiveConfig::explore`]: a share of each round goes to the
//! least-compared items with random partners, so no item is stranded by its first
//! answers (set it to 0 for the paper's sampler).
//!
//! Defaults are the paper code's: degree 2, edge multiplier 2, 200 pairs per round,
//! p = 10, q = 20, widening 1.5 up to 5 times.

use std::collections::HashSet;

use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use prefer_rank::votes::{PairCell, PairCounts};

use crate::error::{Error, Result};
use crate::thurstonian::{self, ThurstonianConfig, Utilities};

/// Settings of the sampler.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActiveConfig {
    /// Degree of the initial random graph (default 2).
    pub degree: usize,
    /// Target pairs = edge_multiplier · N log₂ N (default 2.0).
    pub edge_multiplier: f64,
    /// Pairs asked per round (default 200).
    pub edges_per_round: usize,
    /// Bottom percentage of utility gaps kept (default 10).
    pub p: f64,
    /// Bottom percentage of degree sums kept (default 20).
    pub q: f64,
    /// Factor p and q grow by when too few pairs qualify (default 1.5).
    pub widen: f64,
    /// Widenings before filling at random (default 5).
    pub max_widen: usize,
    /// Share of each round spent on exploration (default 0.2; 0 is the paper's
    /// sampler): the least-compared items, each with a random partner. Without it an
    /// item whose first answers put it far from the rest is never asked again (its gaps
    /// stay above every percentile cut): in 8 simulated runs (60 items, 20 answers per
    /// pair) the paper's sampler stranded items in 3, fitted μ correlating 0.93 to 0.98
    /// with the truth against 0.997 or more elsewhere.
    pub explore: f64,
    /// Seed (default 0).
    pub seed: u64,
}

impl Default for ActiveConfig {
    fn default() -> Self {
        Self {
            degree: 2,
            edge_multiplier: 2.0,
            edges_per_round: 200,
            p: 10.0,
            q: 20.0,
            widen: 1.5,
            max_widen: 5,
            explore: 0.2,
            seed: 0,
        }
    }
}

/// An unordered pair, lower index first.
pub type Pair = (usize, usize);

fn ordered(a: usize, b: usize) -> Pair {
    if a < b { (a, b) } else { (b, a) }
}

/// The initial graph: a random `degree`-regular graph on `n` items (fewer edges where
/// cycles collide on a small n).
pub fn initial_pairs(n: usize, degree: usize, rng: &mut ChaCha8Rng) -> Vec<Pair> {
    let mut set = HashSet::new();
    let mut out = Vec::new();
    let mut push = |a: usize, b: usize, out: &mut Vec<Pair>| {
        if a != b && set.insert(ordered(a, b)) {
            out.push(ordered(a, b));
        }
    };
    let mut perm: Vec<usize> = (0..n).collect();
    for _ in 0..degree / 2 {
        perm.shuffle(rng);
        for k in 0..n {
            push(perm[k], perm[(k + 1) % n], &mut out);
        }
    }
    if degree % 2 == 1 {
        perm.shuffle(rng);
        for k in (0..n.saturating_sub(1)).step_by(2) {
            push(perm[k], perm[k + 1], &mut out);
        }
    }
    out
}

/// The `q`-th percentile (linear interpolation, as numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = (q / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The next pairs to ask, given the utilities fitted so far and what was asked.
pub fn next_pairs(
    u: &Utilities,
    asked: &HashSet<Pair>,
    k: usize,
    cfg: &ActiveConfig,
    rng: &mut ChaCha8Rng,
) -> Vec<Pair> {
    let n = u.mean.len();
    let mut degree = vec![0usize; n];
    for &(a, b) in asked {
        degree[a] += 1;
        degree[b] += 1;
    }
    let remaining: Vec<Pair> = (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .filter(|p| !asked.contains(p))
        .collect();
    if remaining.len() <= k {
        return remaining;
    }
    // Exploration first: the least-compared items, each with a random unasked partner.
    let mut chosen: Vec<Pair> = Vec::new();
    let mut taken: HashSet<Pair> = HashSet::new();
    let n_explore = ((k as f64) * cfg.explore.clamp(0.0, 1.0)).round() as usize;
    if n_explore > 0 {
        let mut items: Vec<usize> = (0..n).collect();
        items.shuffle(rng);
        items.sort_by_key(|&i| degree[i]);
        for &i in items.iter().cycle().take(4 * n) {
            if chosen.len() >= n_explore {
                break;
            }
            let partners: Vec<usize> = (0..n)
                .filter(|&j| {
                    j != i && !asked.contains(&ordered(i, j)) && !taken.contains(&ordered(i, j))
                })
                .collect();
            if let Some(&j) = partners.choose(rng) {
                taken.insert(ordered(i, j));
                chosen.push(ordered(i, j));
            }
        }
    }
    let remaining: Vec<Pair> = remaining
        .into_iter()
        .filter(|p| !taken.contains(p))
        .collect();
    let k_exploit = k - chosen.len();
    let explored = chosen;
    let gap = |&(a, b): &Pair| (u.mean[a] - u.mean[b]).abs();
    let deg = |&(a, b): &Pair| (degree[a] + degree[b]) as f64;
    let mut gaps: Vec<f64> = remaining.iter().map(gap).collect();
    let mut degs: Vec<f64> = remaining.iter().map(deg).collect();
    gaps.sort_by(f64::total_cmp);
    degs.sort_by(f64::total_cmp);
    let k = k_exploit;
    let (mut p, mut q) = (cfg.p, cfg.q);
    let mut chosen: Vec<Pair> = Vec::new();
    for round in 0..cfg.max_widen.max(1) {
        let (gc, dc) = (percentile(&gaps, p), percentile(&degs, q));
        let cands: Vec<Pair> = remaining
            .iter()
            .copied()
            .filter(|e| gap(e) <= gc && deg(e) <= dc)
            .collect();
        if cands.len() >= k {
            chosen = cands.choose_multiple(rng, k).copied().collect();
            break;
        }
        chosen = cands;
        if round + 1 < cfg.max_widen {
            p = (p * cfg.widen).min(100.0);
            q = (q * cfg.widen).min(100.0);
        }
    }
    if chosen.len() < k {
        let have: HashSet<Pair> = chosen.iter().copied().collect();
        let rest: Vec<Pair> = remaining
            .iter()
            .copied()
            .filter(|e| !have.contains(e))
            .collect();
        chosen.extend(rest.choose_multiple(rng, k - chosen.len()).copied());
    }
    chosen.extend(explored);
    chosen
}

/// The outcome of an active run.
#[derive(Debug, Clone)]
pub struct ActiveRun {
    /// Utilities fitted on everything asked.
    pub utilities: Utilities,
    /// The answers, per pair.
    pub counts: PairCounts,
    /// Pairs asked after each round (the first entry is the initial graph).
    pub asked_per_round: Vec<usize>,
}

/// Runs the sampler on `n` items. `ask(i, j)` returns (wins of i, wins of j) for one
/// query of the pair (a chooser answering K times, both orders, returns K-sized counts).
///
/// # Errors
/// `n < 3`, a settings error, a failed fit, or the error `ask` returns.
pub fn run(
    n: usize,
    mut ask: impl FnMut(usize, usize) -> Result<(f64, f64)>,
    cfg: &ActiveConfig,
    fit_cfg: &ThurstonianConfig,
) -> Result<ActiveRun> {
    if n < 3 {
        return Err(Error::Invalid(format!(
            "active sampling needs at least 3 items, got {n}"
        )));
    }
    if cfg.degree < 2 || cfg.edges_per_round == 0 || !(cfg.edge_multiplier > 0.0) {
        return Err(Error::Config(
            "degree must be >= 2, edges_per_round >= 1 and edge_multiplier > 0".into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let all = n * (n - 1) / 2;
    let target = ((cfg.edge_multiplier * n as f64 * (n as f64).log2()).round() as usize).min(all);
    let mut asked: HashSet<Pair> = HashSet::new();
    let mut cells: Vec<PairCell> = Vec::new();
    let mut query =
        |pairs: &[Pair], asked: &mut HashSet<Pair>, cells: &mut Vec<PairCell>| -> Result<()> {
            for &(a, b) in pairs {
                let (wa, wb) = ask(a, b)?;
                asked.insert((a, b));
                cells.push(PairCell {
                    i: a as u32,
                    j: b as u32,
                    wins_i: wa,
                    wins_j: wb,
                    ties: 0.0,
                });
            }
            Ok(())
        };
    let first = initial_pairs(n, cfg.degree, &mut rng);
    query(&first, &mut asked, &mut cells)?;
    let mut per_round = vec![asked.len()];
    loop {
        let counts = PairCounts {
            n,
            cells: cells.clone(),
        };
        let u = thurstonian::fit(&counts, fit_cfg)?;
        if asked.len() >= target {
            return Ok(ActiveRun {
                utilities: u,
                counts,
                asked_per_round: per_round,
            });
        }
        let k = cfg.edges_per_round.min(target - asked.len());
        let next = next_pairs(&u, &asked, k, cfg, &mut rng);
        if next.is_empty() {
            return Ok(ActiveRun {
                utilities: u,
                counts,
                asked_per_round: per_round,
            });
        }
        query(&next, &mut asked, &mut cells)?;
        per_round.push(asked.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coherence::pearson;
    use crate::thurstonian::normalize;
    use rand::Rng;

    #[test]
    fn the_initial_graph_is_regular_and_the_percentiles_match_numpy() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let g = initial_pairs(50, 4, &mut rng);
        let mut deg = [0; 50];
        for (a, b) in &g {
            deg[*a] += 1;
            deg[*b] += 1;
        }
        // Two random Hamiltonian cycles: degree 4 except where they share an edge.
        assert!(deg.iter().all(|d| *d >= 2 && *d <= 4));
        assert!(g.len() >= 95, "{}", g.len());
        let g = initial_pairs(10, 3, &mut rng);
        assert!(g.len() <= 15 && g.len() >= 10);
        // numpy.percentile([1, 2, 3, 4], 10) = 1.3; 50 -> 2.5.
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 10.0) - 1.3).abs() < 1e-12);
        assert!((percentile(&[1.0, 2.0, 3.0, 4.0], 50.0) - 2.5).abs() < 1e-12);
    }

    /// Runs the active sampler and a random sampler with the same budget against one
    /// simulated chooser; returns (active, random) correlation of fitted with true μ.
    fn race(seed: u64, explore: f64) -> (f64, f64, usize) {
        let n = 60;
        let mu: Vec<f64> = (0..n)
            .map(|i| ((i * 37 % n) as f64 / n as f64 - 0.5) * 6.0)
            .collect();
        let truth = normalize(&mu, &vec![1.0; n]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        let k = 20;
        let mut answer = |a: usize, b: usize| {
            let p = truth.prob(a, b);
            let w = (0..k).filter(|_| rng.random::<f64>() < p).count() as f64;
            Ok((w, k as f64 - w))
        };
        let cfg = ActiveConfig {
            edges_per_round: 60,
            explore,
            seed,
            ..Default::default()
        };
        let fit_cfg = ThurstonianConfig::default();
        let active = run(n, &mut answer, &cfg, &fit_cfg).unwrap();
        let budget = active.counts.cells.len();
        // The same number of pairs, drawn uniformly.
        let mut all: Vec<Pair> = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .collect();
        let mut r2 = ChaCha8Rng::seed_from_u64(seed + 200);
        let random = loop {
            all.shuffle(&mut r2);
            let cells: Vec<PairCell> = all[..budget]
                .iter()
                .map(|&(a, b)| {
                    let (wa, wb) = answer(a, b).unwrap();
                    PairCell {
                        i: a as u32,
                        j: b as u32,
                        wins_i: wa,
                        wins_j: wb,
                        ties: 0.0,
                    }
                })
                .collect();
            let c = PairCounts { n, cells };
            if c.votes_per_item().iter().all(|v| *v > 0.0) {
                break thurstonian::fit(&c, &fit_cfg).unwrap();
            }
        };
        (
            pearson(&active.utilities.mean, &truth.mean),
            pearson(&random.mean, &truth.mean),
            budget,
        )
    }

    #[test]
    fn active_sampling_asks_n_log_n_pairs_and_recovers_utilities_better_than_random_pairs() {
        // 20 answers per pair (the paper asks K = 10 in both orders).
        let mut wins = 0;
        let mut worst_paper = 1.0f64;
        for seed in 0..8 {
            let (a, r, budget) = race(seed, 0.2);
            // 2 · 60 · log2(60) = 708.8 of the 1770 pairs.
            assert_eq!(budget, 709);
            assert!(a > 0.99, "seed {seed}: active r = {a}");
            if a > r {
                wins += 1;
            }
            worst_paper = worst_paper.min(race(seed, 0.0).0);
        }
        // Beating random pairs is the point of the sampler: it does in every run here
        // (8 of 8; 7 would still be a clear majority).
        assert!(
            wins >= 7,
            "active sampling beat random pairs in {wins} of 8 runs"
        );
        // Without exploration some run strands items (the reason for `explore`).
        assert!(
            worst_paper < 0.99,
            "worst r without exploration {worst_paper}"
        );
    }
}
