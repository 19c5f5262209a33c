//! The K-Sort Arena convergence experiment (paper 5): N models with hidden strengths,
//! simulated voters, and how many votes each rating method needs before its ranking is
//! right and stays right.
//!
//! Methods: online Elo on random pairs (the usual arena), and K-Sort (TrueSkill updates
//! of K-wise votes) with its matchmaking — with the skill term as the paper's text says
//! (similar models meet), as printed (+|S_i − S_q|), and with random K-sets. One K-wise
//! vote counts as one vote, as in the paper.
//!
//! Voters: Bradley-Terry noise (a pair's outcome is Bernoulli with the Elo-scale
//! probability; a K-wise ranking is Plackett-Luce with the same utilities, sampled by
//! Gumbel-max), or Thurstone noise (each shown model performs at its strength plus a
//! Gaussian with σ = 1600 / (ln 10 · 2√π) ≈ 196, matching the Elo curve's slope at 0).
//!
//! Metric: the mean squared error of rank positions against the truth after each vote;
//! "converged" at the first vote after which it is 0 until the end of the budget.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::elo::{EloConfig, update};
use crate::error::{Error, Result};
use crate::ksort::{KSort, KSortConfig};
use crate::matchmaking::{Closeness, Exposure, MatchConfig, choose};
use crate::votes::Outcome;

/// How simulated voters decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    /// Bradley-Terry / Plackett-Luce.
    #[default]
    Bt,
    /// Thurstone (Gaussian performances).
    Thurstone,
}

/// A rating method in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMethod {
    /// Online Elo on uniformly random pairs.
    EloRandom,
    /// K-Sort with matchmaking pairing similar models (default reading).
    KsortSimilar,
    /// K-Sort with the matchmaking formula as printed (+|S_i − S_q|).
    KsortAsPrinted,
    /// K-Sort updates on uniformly random K-sets (no matchmaking).
    KsortRandom,
}

impl SimMethod {
    /// All methods.
    pub const ALL: [SimMethod; 4] = [
        SimMethod::EloRandom,
        SimMethod::KsortSimilar,
        SimMethod::KsortAsPrinted,
        SimMethod::KsortRandom,
    ];

    /// The name printed in tables.
    pub fn name(self) -> &'static str {
        match self {
            SimMethod::EloRandom => "elo (random pairs)",
            SimMethod::KsortSimilar => "k-sort (matchmaking, similar)",
            SimMethod::KsortAsPrinted => "k-sort (matchmaking, as printed)",
            SimMethod::KsortRandom => "k-sort (random K-sets)",
        }
    }
}

/// Simulation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Number of models (50, as in the paper).
    pub models: usize,
    /// Gap between neighbouring true ratings, Elo points (default 40: the 50 models span
    /// 1960 points).
    pub gap: f64,
    /// Vote budget per run.
    pub max_votes: usize,
    /// Seeds (runs).
    pub seeds: Vec<u64>,
    /// Voter noise.
    pub noise: Noise,
    /// Elo's K factor (default 4, FastChat's).
    pub elo_k: f64,
    /// K-Sort settings (dynamics 0 by default here: the models do not change).
    pub ksort: KSortConfig,
    /// Matchmaking (K = 4, α = 1).
    pub matching: MatchConfig,
    /// Record the rank MSE every this many votes for the curves.
    pub curve_every: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            models: 50,
            gap: 40.0,
            max_votes: 30_000,
            seeds: (0..5).collect(),
            noise: Noise::Bt,
            elo_k: 4.0,
            ksort: KSortConfig {
                dynamics: 0.0,
                ..KSortConfig::default()
            },
            matching: MatchConfig::default(),
            curve_every: 50,
        }
    }
}

/// One run's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// The method.
    pub method: SimMethod,
    /// The seed.
    pub seed: u64,
    /// Votes until the ranking was right for good (`None`: not within the budget).
    pub converged_at: Option<usize>,
    /// Votes until the ranking was right for the first time.
    pub first_zero: Option<usize>,
    /// Rank MSE at the end.
    pub final_mse: f64,
    /// (votes, rank MSE) every `curve_every` votes.
    pub curve: Vec<(usize, f64)>,
}

fn rank_positions(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Best first; ties broken by index so the metric is deterministic.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut pos = vec![0; scores.len()];
    for (r, &i) in order.iter().enumerate() {
        pos[i] = r;
    }
    pos
}

fn rank_mse(est: &[f64], truth_pos: &[usize]) -> f64 {
    let p = rank_positions(est);
    p.iter()
        .zip(truth_pos)
        .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
        .sum::<f64>()
        / p.len() as f64
}

/// σ of Thurstone performances matching the Elo curve's slope at 0.
pub fn thurstone_sigma() -> f64 {
    1600.0 / (std::f64::consts::LN_10 * 2.0 * std::f64::consts::PI.sqrt())
}

/// A simulated voter's ranking of `shown` (ranks 1..K, no ties).
fn vote(rng: &mut ChaCha8Rng, truth: &[f64], shown: &[usize], noise: Noise) -> Vec<u32> {
    let perf: Vec<f64> = shown
        .iter()
        .map(|&i| match noise {
            Noise::Bt => {
                let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
                truth[i] * std::f64::consts::LN_10 / 400.0 - (-u.ln()).ln()
            }
            Noise::Thurstone => truth[i] + thurstone_sigma() * rng.sample::<f64, _>(StandardNormal),
        })
        .collect();
    let mut order: Vec<usize> = (0..shown.len()).collect();
    order.sort_by(|&a, &b| perf[b].total_cmp(&perf[a]));
    let mut ranks = vec![0u32; shown.len()];
    for (r, &k) in order.iter().enumerate() {
        ranks[k] = r as u32 + 1;
    }
    ranks
}

fn random_set(rng: &mut ChaCha8Rng, n: usize, k: usize) -> Vec<usize> {
    let mut s = Vec::with_capacity(k);
    while s.len() < k {
        let i = rng.random_range(0..n);
        if !s.contains(&i) {
            s.push(i);
        }
    }
    s
}

/// Runs one method with one seed.
///
/// # Errors
/// Invalid settings.
pub fn run_one(cfg: &SimConfig, method: SimMethod, seed: u64) -> Result<Run> {
    let n = cfg.models;
    if n < cfg.matching.k.max(2) || cfg.max_votes == 0 || !(cfg.gap > 0.0) {
        return Err(Error::Config(format!(
            "simulation needs at least K models, a vote budget and a positive gap (models {n}, K {})",
            cfg.matching.k
        )));
    }
    cfg.ksort.validate()?;
    let truth: Vec<f64> = (0..n)
        .map(|i| 1000.0 + cfg.gap * (i as f64 - (n - 1) as f64 / 2.0))
        .collect();
    let truth_pos = rank_positions(&truth);
    // The same voter randomness stream for every method with one seed.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let elo_cfg = EloConfig {
        k: cfg.elo_k,
        ..EloConfig::default()
    };
    let mut elo = vec![elo_cfg.init; n];
    let mut ks = KSort::new(n, cfg.ksort);
    let mut exposure = Exposure::new(n);
    let mut curve = Vec::new();
    let mut last_wrong = 0usize; // the last vote count with MSE > 0
    let mut first_zero = None;
    let mut mse = 0.0;
    for t in 1..=cfg.max_votes {
        match method {
            SimMethod::EloRandom => {
                let s = random_set(&mut rng, n, 2);
                let r = vote(&mut rng, &truth, &s, cfg.noise);
                let o = if r[0] < r[1] {
                    Outcome::Win
                } else {
                    Outcome::Loss
                };
                let (a, b) = update(&elo_cfg, elo[s[0]], elo[s[1]], o);
                elo[s[0]] = a;
                elo[s[1]] = b;
                mse = rank_mse(&elo, &truth_pos);
            }
            SimMethod::KsortSimilar | SimMethod::KsortAsPrinted | SimMethod::KsortRandom => {
                let shown = if method == SimMethod::KsortRandom {
                    random_set(&mut rng, n, cfg.matching.k)
                } else {
                    let m = MatchConfig {
                        closeness: if method == SimMethod::KsortSimilar {
                            Closeness::Similar
                        } else {
                            Closeness::AsPrinted
                        },
                        ..cfg.matching
                    };
                    let tb: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
                    choose(&ks.scores(), &exposure, &m, &tb)?
                };
                let r = vote(&mut rng, &truth, &shown, cfg.noise);
                ks.update(&shown, &r)?;
                exposure.record(&shown);
                mse = rank_mse(&ks.scores(), &truth_pos);
            }
        }
        if mse > 0.0 {
            last_wrong = t;
        } else if first_zero.is_none() {
            first_zero = Some(t);
        }
        if t % cfg.curve_every.max(1) == 0 || t == cfg.max_votes {
            curve.push((t, mse));
        }
    }
    Ok(Run {
        method,
        seed,
        converged_at: (last_wrong < cfg.max_votes).then_some(last_wrong + 1),
        first_zero,
        final_mse: mse,
        curve,
    })
}

/// Runs every method on every seed, in parallel.
///
/// # Errors
/// Invalid settings.
pub fn run_all(cfg: &SimConfig, methods: &[SimMethod]) -> Result<Vec<Run>> {
    let jobs: Vec<(SimMethod, u64)> = methods
        .iter()
        .flat_map(|&m| cfg.seeds.iter().map(move |&s| (m, s)))
        .collect();
    jobs.par_iter().map(|&(m, s)| run_one(cfg, m, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_mse() {
        assert_eq!(rank_positions(&[1.0, 3.0, 2.0]), vec![2, 0, 1]);
        assert_eq!(rank_mse(&[1.0, 3.0, 2.0], &[2, 0, 1]), 0.0);
        assert!((rank_mse(&[3.0, 1.0, 2.0], &[2, 0, 1]) - 8.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn small_world_every_method_gets_the_order_right() {
        let cfg = SimConfig {
            models: 8,
            gap: 150.0,
            max_votes: 6000,
            seeds: vec![1],
            ..Default::default()
        };
        for m in SimMethod::ALL {
            let r = run_one(&cfg, m, 1).unwrap();
            assert!(r.converged_at.is_some(), "{m:?}: final mse {}", r.final_mse);
        }
    }
}
