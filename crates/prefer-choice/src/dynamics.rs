//! Bounded-confidence value dynamics: how values held by a population move under mutual
//! influence and under the influence of a model's outputs (paper 38, which fits a
//! bounded-confidence model to users' value scores and their friends' on Facebook; the
//! models are Deffuant et al. 2000 and Hegselmann and Krause 2002).
//!
//! Each agent holds a value vector x ∈ [0, 1]^d (e.g. d = 10 Schwartz values). Agents
//! listen only to views within their confidence bound ε (Euclidean distance):
//!
//! - **Deffuant** (pairwise, asynchronous): a random agent i and a random neighbour j
//!   meet; if |x_i − x_j| < ε both move toward each other, x_i += μ (x_j − x_i) and
//!   x_j += μ (x_i − x_j). A sweep is `agents` meetings.
//! - **Hegselmann-Krause** (averaging, synchronous): every agent moves to the mean of the
//!   neighbours (itself included) within ε.
//!
//! The AI is a stubborn agent at a fixed value vector. Under Deffuant an agent meets it
//! instead of a neighbour with probability `weight` and moves μ toward it when within
//! its reach; under Hegselmann-Krause an agent within reach takes the weighted mix
//! (1 − weight) · local mean + weight · AI.
//!
//! The paper's question — how far a person's values move given their friends' — is
//! the one-step update x' = x + μ · mean_{friends within ε}(f − x) ([`predict`]), whose
//! ε and μ [`fit_bcm`] finds by grid search (the paper tunes them by particle swarm).

// Loops over value dimensions index several vectors at once, as the update formulas do.
#![allow(clippy::needless_range_loop)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Pairwise meetings (Deffuant et al. 2000).
    #[default]
    Deffuant,
    /// Synchronous averaging (Hegselmann and Krause 2002).
    HegselmannKrause,
}

/// Who can influence whom.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Network {
    /// Everyone hears everyone.
    #[default]
    Complete,
    /// A ring lattice where each agent hears its `k` nearest on each side (Watts-Strogatz
    /// without rewiring; the local structure of ego networks).
    Ring {
        /// Neighbours per side.
        k: usize,
    },
}

/// A model whose outputs push values toward its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiInfluence {
    /// Its value vector (length `dims`).
    pub value: Vec<f64>,
    /// How much it is heard (see the module docs), in [0, 1].
    pub weight: f64,
    /// Its reach: agents farther than this ignore it (default: the agents' ε).
    #[serde(default)]
    pub reach: Option<f64>,
}

/// Settings of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicsConfig {
    /// Number of agents (default 200).
    pub agents: usize,
    /// Value dimensions (default 1).
    pub dims: usize,
    /// Confidence bound ε (default 0.2).
    pub epsilon: f64,
    /// Convergence rate μ of Deffuant meetings, in (0, 0.5] for symmetric moves
    /// (default 0.5).
    pub mu: f64,
    /// Update rule (default Deffuant).
    pub rule: Rule,
    /// Network (default complete).
    pub network: Network,
    /// Sweeps (default 100).
    pub steps: usize,
    /// The AI, if any (default none).
    pub ai: Option<AiInfluence>,
    /// Two agents closer than this are in one cluster (default 0.01).
    pub cluster_tol: f64,
    /// Seed (default 0).
    pub seed: u64,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        Self {
            agents: 200,
            dims: 1,
            epsilon: 0.2,
            mu: 0.5,
            rule: Rule::Deffuant,
            network: Network::Complete,
            steps: 100,
            ai: None,
            cluster_tol: 0.01,
            seed: 0,
        }
    }
}

impl DynamicsConfig {
    /// Checks the ranges.
    ///
    /// # Errors
    /// A setting out of range, named.
    pub fn validate(&self) -> Result<()> {
        if self.agents < 2 || self.dims == 0 {
            return Err(Error::Config("agents must be >= 2 and dims >= 1".into()));
        }
        if !(self.epsilon > 0.0 && self.mu > 0.0 && self.mu <= 1.0) {
            return Err(Error::Config(format!(
                "epsilon must be > 0 and mu in (0, 1], got {} and {}",
                self.epsilon, self.mu
            )));
        }
        if let Network::Ring { k } = self.network
            && (k == 0 || 2 * k >= self.agents)
        {
            return Err(Error::Config(format!(
                "ring k = {k} needs 1 <= k < agents / 2"
            )));
        }
        if let Some(ai) = &self.ai {
            if ai.value.len() != self.dims {
                return Err(Error::Config(format!(
                    "the AI's value has {} dimensions, the agents {}",
                    ai.value.len(),
                    self.dims
                )));
            }
            if !(0.0..=1.0).contains(&ai.weight) {
                return Err(Error::Config(format!(
                    "AI weight {} is outside [0, 1]",
                    ai.weight
                )));
            }
        }
        Ok(())
    }
}

/// The population at one step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Sweeps done.
    pub step: usize,
    /// Clusters (single linkage at `cluster_tol`).
    pub clusters: usize,
    /// Clusters holding at least 2% of the agents (Deffuant's "major" clusters).
    pub major_clusters: usize,
    /// Mean pairwise distance (diversity).
    pub diversity: f64,
    /// Mean distance to the AI's value (NaN without one).
    pub distance_to_ai: f64,
    /// Mean value vector.
    pub mean: Vec<f64>,
}

/// A simulation's record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// One snapshot per sweep, the first before any.
    pub snapshots: Vec<Snapshot>,
    /// The final values.
    pub values: Vec<Vec<f64>>,
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn neighbours(net: Network, n: usize, i: usize, rng: &mut ChaCha8Rng) -> usize {
    match net {
        Network::Complete => {
            let j = rng.random_range(0..n - 1);
            if j >= i { j + 1 } else { j }
        }
        Network::Ring { k } => {
            let off = rng.random_range(1..=k);
            if rng.random_bool(0.5) {
                (i + off) % n
            } else {
                (i + n - off) % n
            }
        }
    }
}

fn in_reach(net: Network, n: usize, i: usize, j: usize) -> bool {
    match net {
        Network::Complete => true,
        Network::Ring { k } => {
            let d = i.abs_diff(j);
            d.min(n - d) <= k
        }
    }
}

/// Clusters by single linkage at `tol`: (all, major).
pub fn clusters(values: &[Vec<f64>], tol: f64) -> (usize, usize) {
    let n = values.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for i in 0..n {
        for j in i + 1..n {
            if dist(&values[i], &values[j]) < tol {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[a] = b;
                }
            }
        }
    }
    let mut size = vec![0usize; n];
    for i in 0..n {
        let r = find(&mut parent, i);
        size[r] += 1;
    }
    let all = size.iter().filter(|s| **s > 0).count();
    let major = size
        .iter()
        .filter(|s| **s as f64 >= 0.02 * n as f64)
        .count();
    (all, major)
}

fn snapshot(step: usize, x: &[Vec<f64>], cfg: &DynamicsConfig) -> Snapshot {
    let n = x.len();
    let mut total = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            total += dist(&x[i], &x[j]);
        }
    }
    let (c, major) = clusters(x, cfg.cluster_tol);
    let mean: Vec<f64> = (0..cfg.dims)
        .map(|d| x.iter().map(|v| v[d]).sum::<f64>() / n as f64)
        .collect();
    Snapshot {
        step,
        clusters: c,
        major_clusters: major,
        diversity: total / (n * (n - 1) / 2) as f64,
        distance_to_ai: cfg.ai.as_ref().map_or(f64::NAN, |ai| {
            x.iter().map(|v| dist(v, &ai.value)).sum::<f64>() / n as f64
        }),
        mean,
    }
}

/// Runs the dynamics from `initial` values (default: uniform on [0, 1]^d, seeded).
///
/// # Errors
/// Settings out of range, or initial values of the wrong shape.
pub fn simulate(initial: Option<Vec<Vec<f64>>>, cfg: &DynamicsConfig) -> Result<Run> {
    cfg.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let n = cfg.agents;
    let mut x = match initial {
        Some(v) => {
            if v.len() != n || v.iter().any(|a| a.len() != cfg.dims) {
                return Err(Error::Invalid(format!(
                    "initial values must be {n} vectors of {} dimensions",
                    cfg.dims
                )));
            }
            v
        }
        None => (0..n)
            .map(|_| (0..cfg.dims).map(|_| rng.random::<f64>()).collect())
            .collect(),
    };
    let reach = cfg.ai.as_ref().map(|a| a.reach.unwrap_or(cfg.epsilon));
    let mut snapshots = vec![snapshot(0, &x, cfg)];
    for step in 1..=cfg.steps {
        match cfg.rule {
            Rule::Deffuant => {
                for _ in 0..n {
                    let i = rng.random_range(0..n);
                    if let (Some(ai), Some(r)) = (&cfg.ai, reach)
                        && rng.random_bool(ai.weight)
                    {
                        if dist(&x[i], &ai.value) < r {
                            for d in 0..cfg.dims {
                                x[i][d] += cfg.mu * (ai.value[d] - x[i][d]);
                            }
                        }
                        continue;
                    }
                    let j = neighbours(cfg.network, n, i, &mut rng);
                    if dist(&x[i], &x[j]) < cfg.epsilon {
                        for d in 0..cfg.dims {
                            let (a, b) = (x[i][d], x[j][d]);
                            x[i][d] = a + cfg.mu * (b - a);
                            x[j][d] = b + cfg.mu * (a - b);
                        }
                    }
                }
            }
            Rule::HegselmannKrause => {
                let old = x.clone();
                for i in 0..n {
                    let mut sum = vec![0.0; cfg.dims];
                    let mut count = 0.0;
                    for j in 0..n {
                        if (i == j || in_reach(cfg.network, n, i, j))
                            && dist(&old[i], &old[j]) < cfg.epsilon
                        {
                            for d in 0..cfg.dims {
                                sum[d] += old[j][d];
                            }
                            count += 1.0;
                        }
                    }
                    for d in 0..cfg.dims {
                        x[i][d] = sum[d] / count;
                    }
                    if let (Some(ai), Some(r)) = (&cfg.ai, reach)
                        && dist(&old[i], &ai.value) < r
                    {
                        for d in 0..cfg.dims {
                            x[i][d] = (1.0 - ai.weight) * x[i][d] + ai.weight * ai.value[d];
                        }
                    }
                }
            }
        }
        snapshots.push(snapshot(step, &x, cfg));
    }
    Ok(Run {
        snapshots,
        values: x,
    })
}

/// One person's values before and after, and their friends' before (paper 38's data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ego {
    /// Their values at the first time.
    pub before: Vec<f64>,
    /// Their friends' values at the first time.
    pub friends: Vec<Vec<f64>>,
    /// Their values at the second time.
    pub after: Vec<f64>,
}

/// The bounded-confidence prediction x + μ · mean_{f within ε}(f − x) (x itself when no
/// friend is within ε).
pub fn predict(e: &Ego, epsilon: f64, mu: f64) -> Vec<f64> {
    let near: Vec<&Vec<f64>> = e
        .friends
        .iter()
        .filter(|f| dist(f, &e.before) < epsilon)
        .collect();
    if near.is_empty() {
        return e.before.clone();
    }
    (0..e.before.len())
        .map(|d| {
            let m = near.iter().map(|f| f[d] - e.before[d]).sum::<f64>() / near.len() as f64;
            e.before[d] + mu * m
        })
        .collect()
}

/// ε and μ fitted to egos.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BcmFit {
    /// Confidence bound.
    pub epsilon: f64,
    /// Convergence rate.
    pub mu: f64,
    /// Mean squared error per value dimension at the fit.
    pub mse: f64,
    /// The same error when nobody moves (ε → 0): the baseline the model must beat.
    pub mse_static: f64,
}

/// Mean squared error of [`predict`] over the egos.
pub fn mse(egos: &[Ego], epsilon: f64, mu: f64) -> f64 {
    let mut s = 0.0;
    let mut k = 0.0;
    for e in egos {
        let p = predict(e, epsilon, mu);
        for (a, b) in p.iter().zip(&e.after) {
            s += (a - b).powi(2);
            k += 1.0;
        }
    }
    s / k
}

/// Grid search of ε over (0, `max_epsilon`] and μ over (0, 1], `steps` points each, for
/// the least squared error (ties keep the smaller ε and μ).
///
/// # Errors
/// No egos, or an ego whose vectors differ in length.
pub fn fit_bcm(egos: &[Ego], max_epsilon: f64, steps: usize) -> Result<BcmFit> {
    if egos.is_empty() {
        return Err(Error::Invalid("no egos to fit".into()));
    }
    for (i, e) in egos.iter().enumerate() {
        let d = e.before.len();
        if e.after.len() != d || e.friends.iter().any(|f| f.len() != d) {
            return Err(Error::Invalid(format!(
                "ego {}: value vectors of different lengths",
                i + 1
            )));
        }
    }
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for a in 1..=steps {
        let eps = max_epsilon * a as f64 / steps as f64;
        for b in 1..=steps {
            let mu = b as f64 / steps as f64;
            let m = mse(egos, eps, mu);
            if m < best.0 {
                best = (m, eps, mu);
            }
        }
    }
    Ok(BcmFit {
        epsilon: best.1,
        mu: best.2,
        mse: best.0,
        mse_static: mse(egos, 0.0, 0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_confidence_reaches_consensus_at_the_conserved_mean() {
        // ε above every distance: Deffuant meetings conserve the mean (each moves the
        // pair's sum by μ(b − a) + μ(a − b) = 0) and end in one cluster.
        let cfg = DynamicsConfig {
            epsilon: 1.5,
            steps: 60,
            ..Default::default()
        };
        let run = simulate(None, &cfg).unwrap();
        let (m0, m1) = (
            run.snapshots[0].mean[0],
            run.snapshots.last().unwrap().mean[0],
        );
        assert!((m0 - m1).abs() < 1e-12, "{m0} vs {m1}");
        assert_eq!(run.snapshots.last().unwrap().clusters, 1);
        assert!(run.snapshots.last().unwrap().diversity < 1e-6);
    }

    #[test]
    fn the_number_of_clusters_follows_one_over_two_epsilon() {
        // Deffuant et al. (2000): from uniform opinions on [0, 1] the population splits
        // into about ⌊1/(2ε)⌋ major clusters.
        for (eps, want) in [(0.1, 5usize), (0.15, 3), (0.3, 1)] {
            let mut counts = Vec::new();
            for seed in 0..5 {
                let cfg = DynamicsConfig {
                    agents: 500,
                    epsilon: eps,
                    steps: 300,
                    seed,
                    ..Default::default()
                };
                counts.push(
                    simulate(None, &cfg)
                        .unwrap()
                        .snapshots
                        .last()
                        .unwrap()
                        .major_clusters,
                );
            }
            counts.sort_unstable();
            let median = counts[2];
            assert!(
                median.abs_diff(want) <= 1,
                "ε = {eps}: {counts:?}, expected ≈ {want}"
            );
        }
    }

    #[test]
    fn hegselmann_krause_and_an_ai_with_reach_pull_the_population_to_its_values() {
        // HK with ε = 0.4 on a complete graph: consensus in a few rounds.
        let hk = DynamicsConfig {
            rule: Rule::HegselmannKrause,
            epsilon: 0.4,
            steps: 30,
            ..Default::default()
        };
        let run = simulate(None, &hk).unwrap();
        assert_eq!(run.snapshots.last().unwrap().clusters, 1);
        // An AI at 0.9 that everyone hears a little: the consensus moves to it.
        let ai = AiInfluence {
            value: vec![0.9],
            weight: 0.05,
            reach: Some(2.0),
        };
        let with_ai = DynamicsConfig {
            ai: Some(ai.clone()),
            steps: 300,
            ..hk.clone()
        };
        let last = simulate(None, &with_ai)
            .unwrap()
            .snapshots
            .last()
            .unwrap()
            .clone();
        assert!(last.distance_to_ai < 1e-3, "{last:?}");
        // Under Deffuant too, and diversity falls.
        let df = DynamicsConfig {
            ai: Some(ai),
            epsilon: 0.1,
            steps: 400,
            ..Default::default()
        };
        let run = simulate(None, &df).unwrap();
        let (first, last) = (&run.snapshots[0], run.snapshots.last().unwrap());
        assert!(
            last.distance_to_ai < 0.05 && last.diversity < first.diversity / 5.0,
            "{last:?}"
        );
    }

    #[test]
    fn epsilon_and_mu_are_recovered_from_simulated_egos() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (eps, mu) = (0.3, 0.4);
        let dims = 10;
        let egos: Vec<Ego> = (0..275)
            .map(|_| {
                let before: Vec<f64> = (0..dims).map(|_| rng.random::<f64>()).collect();
                let friends: Vec<Vec<f64>> = (0..20)
                    .map(|_| {
                        before
                            .iter()
                            .map(|b| (b + rng.random_range(-0.2..0.2f64)).clamp(0.0, 1.0))
                            .collect()
                    })
                    .collect();
                let mut e = Ego {
                    before,
                    friends,
                    after: Vec::new(),
                };
                e.after = predict(&e, eps, mu)
                    .iter()
                    .map(|x| x + rng.random_range(-0.005..0.005))
                    .collect();
                e
            })
            .collect();
        let f = fit_bcm(&egos, 1.0, 100).unwrap();
        assert!((f.mu - mu).abs() <= 0.02, "{f:?}");
        assert!((f.epsilon - eps).abs() <= 0.05, "{f:?}");
        // Noise uniform on ±0.005 has variance 0.01²/12 ≈ 8.3e-6.
        assert!(f.mse < 1.2e-5 && f.mse_static > 10.0 * f.mse, "{f:?}");
        let e = fit_bcm(
            &[Ego {
                before: vec![0.1],
                friends: vec![vec![0.2, 0.3]],
                after: vec![0.1],
            }],
            1.0,
            10,
        )
        .unwrap_err();
        assert!(e.to_string().contains("ego 1"), "{e}");
    }
}
