//! Plackett-Luce maximum likelihood for rankings of any length (K-wise votes).
//!
//! A ranking of the shown items is a sequence of choices: the best is chosen from all
//! shown, the second from those left, and so on: P = Π_k exp(u_{(k)}) / Σ_{r ≥ k}
//! exp(u_{(r)}) (Plackett 1975, Luce 1959). Ties inside a ranking use Breslow's
//! approximation (each tied item is chosen from the same remaining set); a last group
//! of tied items that is everything left carries no order information and is dropped,
//! so a "pick the best" vote (ranks 1, 2, 2, 2) is one choice of the winner from the K
//! shown. For K = 2 this is exactly Bradley-Terry (without ties).
//!
//! The log-likelihood is concave; Newton's method with backtracking, on the choice
//! events, with the same gauge, prior and Elo-scale reporting as [`crate::bt`]
//! (u in natural-log units, R = init + 400/ln 10 · u).

use serde::{Deserialize, Serialize};

use crate::bt::to_ratings;
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::newton;
use crate::votes::{Outcome, PairCounts, Vote, check_identifiable};

/// One ranking: the items shown and the rank each got (1 = best; equal = tie).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankVote {
    /// Item indices.
    pub items: Vec<u32>,
    /// Rank of each.
    pub ranks: Vec<u32>,
}

impl RankVote {
    /// The choice events of this ranking: (chosen items, the set chosen from).
    pub fn choices(&self) -> Vec<Choice> {
        let mut order: Vec<usize> = (0..self.items.len()).collect();
        order.sort_by_key(|&k| self.ranks[k]);
        let mut out = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let r = self.ranks[order[start]];
            let mut end = start;
            while end < order.len() && self.ranks[order[end]] == r {
                end += 1;
            }
            if start == 0 && end == order.len() {
                break; // everything tied: no information
            }
            if end == order.len() {
                break; // the tied remainder: no order among it
            }
            let chosen: Vec<u32> = order[start..end].iter().map(|&k| self.items[k]).collect();
            let from: Vec<u32> = order[start..].iter().map(|&k| self.items[k]).collect();
            out.push((chosen, from));
            start = end;
        }
        out
    }

    /// The pairwise outcomes this ranking implies (for checks and for Elo-style methods).
    pub fn pairs(&self) -> Vec<Vote> {
        let mut out = Vec::new();
        for a in 0..self.items.len() {
            for b in a + 1..self.items.len() {
                let outcome = match self.ranks[a].cmp(&self.ranks[b]) {
                    std::cmp::Ordering::Less => Outcome::Win,
                    std::cmp::Ordering::Greater => Outcome::Loss,
                    std::cmp::Ordering::Equal => Outcome::Tie,
                };
                out.push(Vote {
                    a: self.items[a],
                    b: self.items[b],
                    outcome,
                });
            }
        }
        out
    }
}

/// Plackett-Luce settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlConfig {
    /// Rating points per factor of `base` in odds (400).
    pub scale: f64,
    /// Base (10).
    pub base: f64,
    /// Mean rating (1000).
    pub init: f64,
    /// Prior precision on each utility (0).
    pub l2: f64,
    /// Tolerance on the largest Newton step (1e-10).
    pub tol: f64,
    /// Iteration limit (200).
    pub max_iter: usize,
}

impl Default for PlConfig {
    fn default() -> Self {
        Self {
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
            l2: 0.0,
            tol: 1e-10,
            max_iter: 200,
        }
    }
}

/// The result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlFit {
    /// Utilities (natural log), centered.
    pub utility: Vec<f64>,
    /// Ratings on the Elo scale.
    pub ratings: Vec<f64>,
    /// Log-likelihood.
    pub log_likelihood: f64,
    /// Newton iterations.
    pub iterations: usize,
}

/// One choice: the items chosen and the set they were chosen from.
pub type Choice = (Vec<u32>, Vec<u32>);

/// A choice event with a weight (bootstrap multiplicity).
struct Event<'a> {
    chosen: &'a [u32],
    from: &'a [u32],
    weight: f64,
}

fn objective(
    events: &[Event<'_>],
    u: &[f64],
    l2: f64,
    with_hessian: bool,
) -> (f64, f64, Vec<f64>, Option<Matrix>) {
    let n = u.len();
    let mut ll = 0.0;
    let mut g = vec![0.0; n];
    let mut h = with_hessian.then(|| Matrix::zeros(n));
    let mut p: Vec<f64> = Vec::new();
    for e in events {
        let m = e
            .from
            .iter()
            .map(|&r| u[r as usize])
            .fold(f64::NEG_INFINITY, f64::max);
        p.clear();
        p.extend(e.from.iter().map(|&r| (u[r as usize] - m).exp()));
        let z: f64 = p.iter().sum();
        p.iter_mut().for_each(|x| *x /= z);
        let c = e.chosen.len() as f64;
        let w = e.weight;
        ll += w * (e.chosen.iter().map(|&i| u[i as usize]).sum::<f64>() - c * (m + z.ln()));
        for &i in e.chosen {
            g[i as usize] += w;
        }
        for (k, &r) in e.from.iter().enumerate() {
            g[r as usize] -= w * c * p[k];
        }
        if let Some(h) = h.as_mut() {
            for (a, &ra) in e.from.iter().enumerate() {
                h.add(ra as usize, ra as usize, -w * c * p[a]);
                for (b, &rb) in e.from.iter().enumerate() {
                    h.add(ra as usize, rb as usize, w * c * p[a] * p[b]);
                }
            }
        }
    }
    let mut value = ll;
    if l2 > 0.0 {
        for i in 0..n {
            value -= 0.5 * l2 * u[i] * u[i];
            g[i] -= l2 * u[i];
            if let Some(h) = h.as_mut() {
                h.add(i, i, -l2);
            }
        }
    }
    (value, ll, g, h)
}

/// Pairwise counts implied by the rankings (for the identifiability checks).
pub fn implied_counts(n: usize, votes: &[RankVote]) -> PairCounts {
    PairCounts::from_votes(n, votes.iter().flat_map(RankVote::pairs))
}

/// Fits Plackett-Luce to rankings among `names.len()` items, each vote weighted by
/// `weights` (all 1 when `None`).
///
/// # Errors
/// No votes, a disconnected comparison graph, an item ranked first (or last) in every
/// vote without a prior, or no convergence.
pub fn fit(
    votes: &[RankVote],
    names: &[String],
    weights: Option<&[f64]>,
    cfg: &PlConfig,
) -> Result<PlFit> {
    if !(cfg.scale > 0.0 && cfg.base > 1.0 && cfg.l2 >= 0.0 && cfg.tol > 0.0) {
        return Err(Error::Config(
            "plackett-luce: scale > 0, base > 1, l2 >= 0, tol > 0".into(),
        ));
    }
    let n = names.len();
    for (k, v) in votes.iter().enumerate() {
        if v.items.len() != v.ranks.len() || v.items.iter().any(|&i| i as usize >= n) {
            return Err(Error::Invalid(format!(
                "vote {k}: items and ranks do not match"
            )));
        }
    }
    let implied = implied_counts(n, votes);
    check_identifiable(&implied, names)?;
    crate::bt::check_bounded(&implied, names, cfg.l2)?;
    let choices: Vec<(Vec<Choice>, f64)> = votes
        .iter()
        .enumerate()
        .map(|(k, v)| (v.choices(), weights.map_or(1.0, |w| w[k])))
        .collect();
    let events: Vec<Event<'_>> = choices
        .iter()
        .flat_map(|(cs, w)| {
            cs.iter().map(move |(c, f)| Event {
                chosen: c,
                from: f,
                weight: *w,
            })
        })
        .filter(|e| e.weight > 0.0)
        .collect();
    // Without a prior the last utility is held at 0 (the gauge).
    let free = n - usize::from(cfg.l2 == 0.0);
    let full = |x: &[f64]| -> Vec<f64> {
        let mut u = x.to_vec();
        u.resize(n, 0.0);
        u
    };
    let max = newton::maximize(
        vec![0.0; free],
        |x| {
            let (value, _, g, h) = objective(&events, &full(x), cfg.l2, true);
            let h = h.unwrap_or_else(|| Matrix::zeros(n));
            let mut hess = Matrix::zeros(free);
            for a in 0..free {
                for b in 0..free {
                    hess.set(a, b, h.get(a, b));
                }
            }
            newton::Eval {
                value,
                grad: g[..free].to_vec(),
                hess,
            }
        },
        |_| true,
        newton::Stop {
            tol: cfg.tol,
            max_iter: cfg.max_iter,
        },
    )
    .map_err(|e| Error::Numeric(format!("Plackett-Luce: {e}")))?;
    let u = full(&max.x);
    let (_, ll, _, _) = objective(&events, &u, cfg.l2, false);
    let iterations = max.iterations;
    let mean = u.iter().sum::<f64>() / n as f64;
    let utility: Vec<f64> = u.iter().map(|x| x - mean).collect();
    Ok(PlFit {
        ratings: to_ratings(&utility, cfg.scale / cfg.base.ln(), cfg.init, None),
        utility,
        log_likelihood: ll,
        iterations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use prefer_data::synth;

    #[test]
    fn choices_handle_ties_and_best_of_k() {
        let v = RankVote {
            items: vec![7, 8, 9, 10],
            ranks: vec![2, 1, 2, 2],
        };
        assert_eq!(v.choices(), vec![(vec![8], vec![8, 7, 9, 10])]);
        let v = RankVote {
            items: vec![0, 1, 2],
            ranks: vec![1, 1, 2],
        };
        assert_eq!(v.choices(), vec![(vec![0, 1], vec![0, 1, 2])]);
        let v = RankVote {
            items: vec![0, 1, 2],
            ranks: vec![3, 1, 2],
        };
        assert_eq!(
            v.choices(),
            vec![(vec![1], vec![1, 2, 0]), (vec![2], vec![2, 0])]
        );
    }

    #[test]
    fn k2_equals_bradley_terry() {
        let mut votes = Vec::new();
        let pattern = [
            (0, 1, true),
            (0, 1, true),
            (1, 0, true),
            (1, 2, true),
            (2, 1, true),
            (2, 0, true),
            (0, 2, true),
        ];
        for &(a, b, _) in &pattern {
            votes.push(RankVote {
                items: vec![a, b],
                ranks: vec![1, 2],
            });
        }
        let names: Vec<String> = (0..3).map(|i| i.to_string()).collect();
        let pl = fit(&votes, &names, None, &PlConfig::default()).unwrap();
        let counts = implied_counts(3, &votes);
        let bt = crate::bt::fit(&counts, &names, &crate::bt::BtConfig::default()).unwrap();
        for i in 0..3 {
            assert!(
                (pl.ratings[i] - bt.ratings[i]).abs() < 1e-7,
                "{} vs {}",
                pl.ratings[i],
                bt.ratings[i]
            );
        }
    }

    #[test]
    fn recovers_plackett_luce_utilities_from_4_wise_votes() {
        let names = synth::model_names(8);
        let truth: Vec<f64> = (0..8).map(|i| 1000.0 + 60.0 * (i as f64 - 3.5)).collect();
        let votes = synth::kwise(&names, &truth, 4, 20_000, 11);
        let index = |m: &str| names.iter().position(|n| n == m).unwrap() as u32;
        let rv: Vec<RankVote> = votes
            .iter()
            .map(|k| RankVote {
                items: k.models.iter().map(|m| index(m)).collect(),
                ranks: k.ranking.clone(),
            })
            .collect();
        let f = fit(&rv, &names, None, &PlConfig::default()).unwrap();
        // 20k full 4-way rankings: utilities are known to a few Elo points.
        for (i, t) in truth.iter().enumerate() {
            assert!(
                (f.ratings[i] - t).abs() < 12.0,
                "{i}: {} vs {}",
                f.ratings[i],
                truth[i]
            );
        }
    }
}
