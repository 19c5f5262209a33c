//! K-Sort Arena's exploration-exploitation matchmaking (paper 5): the pivot q is the
//! model with the fewest comparisons so far; its K − 1 opponents maximize
//!
//! ```text
//! closeness(i, q) + α · sqrt(ln n / n_iq)
//! ```
//!
//! where n is the number of votes so far, n_iq the votes in which i and q met (a pair
//! that never met has an infinite bonus, as in UCB: unexplored pairs come first, the
//! closest in skill among them first), and closeness is −|S_i − S_q| on the conservative
//! scores S = μ − 3σ.
//!
//! **The sign.** The paper prints the objective with +|S_i − S_q|, while its text says
//! the strategy pairs models of similar skill (the informative comparisons: a vote
//! between models far apart is nearly certain and teaches little). We follow the text:
//! [`Closeness::Similar`] (−|S_i − S_q|) is the default, and [`Closeness::AsPrinted`]
//! keeps the printed +|S_i − S_q| so the simulator (`prefer rank simulate`) can show the
//! difference; see docs/ranking.md for the measured effect.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which skill term the opponent choice maximizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closeness {
    /// −|S_i − S_q|: similar models meet (the paper's text; default).
    #[default]
    Similar,
    /// +|S_i − S_q|: the formula as printed in the paper.
    AsPrinted,
}

/// Matchmaking settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Models per battle, K (default 4; 2 to 4 in K-Sort Arena).
    pub k: usize,
    /// Exploration weight α (default 1, in units of the score S).
    pub alpha: f64,
    /// The skill term.
    pub closeness: Closeness,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            k: 4,
            alpha: 1.0,
            closeness: Closeness::Similar,
        }
    }
}

/// Counts of comparisons, for matchmaking.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Exposure {
    /// Votes each model took part in.
    pub per_model: Vec<u64>,
    /// Votes each pair met in (row-major n × n).
    pub per_pair: Vec<u64>,
    /// Votes so far.
    pub total: u64,
}

impl Exposure {
    /// `n` models, no votes.
    pub fn new(n: usize) -> Self {
        Self {
            per_model: vec![0; n],
            per_pair: vec![0; n * n],
            total: 0,
        }
    }

    /// Records a vote among `items`.
    pub fn record(&mut self, items: &[usize]) {
        let n = self.per_model.len();
        for (a, &i) in items.iter().enumerate() {
            self.per_model[i] += 1;
            for &j in &items[a + 1..] {
                self.per_pair[i * n + j] += 1;
                self.per_pair[j * n + i] += 1;
            }
        }
        self.total += 1;
    }

    /// Votes in which i and j met.
    pub fn met(&self, i: usize, j: usize) -> u64 {
        self.per_pair[i * self.per_model.len() + j]
    }
}

/// Chooses the models of the next battle: the pivot first, then its K − 1 opponents.
/// `tie_break` in \[0, 1) per model (e.g. random) breaks exact ties deterministically.
///
/// # Errors
/// Fewer than K models, K < 2, or lengths that disagree.
pub fn choose(
    scores: &[f64],
    exposure: &Exposure,
    cfg: &MatchConfig,
    tie_break: &[f64],
) -> Result<Vec<usize>> {
    let n = scores.len();
    if cfg.k < 2 || n < cfg.k {
        return Err(Error::Invalid(format!(
            "matchmaking needs K >= 2 and at least K models (K = {}, {n} models)",
            cfg.k
        )));
    }
    if exposure.per_model.len() != n || tie_break.len() != n {
        return Err(Error::Invalid(
            "matchmaking: scores, exposure and tie-breaks differ in length".into(),
        ));
    }
    // Pivot: fewest comparisons.
    let q = (0..n)
        .min_by(|&a, &b| {
            exposure.per_model[a]
                .cmp(&exposure.per_model[b])
                .then(tie_break[a].total_cmp(&tie_break[b]))
        })
        .unwrap_or(0);
    let ln_n = ((exposure.total.max(1)) as f64).ln();
    let value = |i: usize| -> (bool, f64) {
        let gap = (scores[i] - scores[q]).abs();
        let skill = match cfg.closeness {
            Closeness::Similar => -gap,
            Closeness::AsPrinted => gap,
        };
        let met = exposure.met(i, q);
        if met == 0 {
            (true, skill)
        } else {
            (false, skill + cfg.alpha * (ln_n / met as f64).sqrt())
        }
    };
    let mut others: Vec<(usize, (bool, f64))> =
        (0..n).filter(|&i| i != q).map(|i| (i, value(i))).collect();
    // Never-met pairs first (infinite bonus), then by value; ties by the tie-break.
    others.sort_by(|x, y| {
        y.1.0
            .cmp(&x.1.0)
            .then(y.1.1.total_cmp(&x.1.1))
            .then(tie_break[x.0].total_cmp(&tie_break[y.0]))
    });
    let mut out = vec![q];
    out.extend(others.iter().take(cfg.k - 1).map(|x| x.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pivot_and_closeness() {
        let scores = [10.0, 11.0, 30.0, 12.0, 0.0];
        let mut e = Exposure::new(5);
        // Everyone met everyone once, except model 4 who has fewer votes overall.
        for i in 0..5 {
            for j in i + 1..5 {
                e.record(&[i, j]);
            }
        }
        e.per_model[4] = 0;
        let tb = [0.1, 0.2, 0.3, 0.4, 0.5];
        let cfg = MatchConfig {
            k: 3,
            alpha: 0.0,
            closeness: Closeness::Similar,
        };
        // Pivot 4 (score 0): the closest are 0 (10) and 1 (11).
        assert_eq!(choose(&scores, &e, &cfg, &tb).unwrap(), vec![4, 0, 1]);
        let printed = MatchConfig {
            closeness: Closeness::AsPrinted,
            ..cfg
        };
        // As printed: the farthest, 2 (30) and 3 (12).
        assert_eq!(choose(&scores, &e, &printed, &tb).unwrap(), vec![4, 2, 3]);
    }

    #[test]
    fn unmet_pairs_come_first() {
        let scores = [0.0, 1.0, 50.0];
        let mut e = Exposure::new(3);
        e.record(&[0, 1]);
        e.record(&[0, 1]);
        e.record(&[2, 1]);
        // Pivot: 2 (one vote). Both 0 and 1... 1 met 2 once, 0 never: 0 first.
        let cfg = MatchConfig {
            k: 2,
            alpha: 1.0,
            closeness: Closeness::Similar,
        };
        assert_eq!(
            choose(&scores, &e, &cfg, &[0.0, 0.0, 0.0]).unwrap(),
            vec![2, 0]
        );
    }
}
