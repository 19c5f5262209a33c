//! One entry point for every rating method: votes in, a leaderboard out (rating,
//! interval, rank, votes per item).
//!
//! ```
//! use prefer_rank::leaderboard::{Interval, Method, RankData, leaderboard};
//! use prefer_rank::votes::Outcome;
//! let mut data = RankData::default();
//! for (a, b, o) in [("x", "y", Outcome::Win), ("y", "z", Outcome::Win), ("z", "x", Outcome::Win), ("x", "z", Outcome::Win), ("x", "y", Outcome::Win), ("y", "x", Outcome::Tie)] {
//!     data.push_pair(a, b, o)?;
//! }
//! let board = leaderboard(&data, &Method::Bt(Default::default()), &Interval::Sandwich { level: 0.95 })?;
//! assert_eq!(board.rows[0].model, "x");
//! # Ok::<(), prefer_rank::Error>(())
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bt::{self, BtConfig};
use crate::elo::{self, EloConfig};
use crate::error::{Error, Result};
use crate::intervals::{self, BootstrapConfig, interval_ranks, normal_interval};
use crate::ksort::{KSort, KSortConfig};
use crate::pl::{self, PlConfig, RankVote};
use crate::simple;
use crate::style::{self, StyleConfig};
use crate::thurstone::{self, ThurstoneConfig};
use crate::votes::{Outcome, PairCounts, Vote, Votes, check_identifiable};

/// A rating method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Method {
    /// Bradley-Terry MLE ([`crate::bt`]).
    Bt(BtConfig),
    /// Online Elo in vote order ([`crate::elo`]).
    Elo(EloConfig),
    /// Plackett-Luce MLE on full rankings ([`crate::pl`]).
    Pl(PlConfig),
    /// Thurstone Case V ([`crate::thurstone`]).
    Thurstone(ThurstoneConfig),
    /// K-Sort Arena's TrueSkill ratings, scored μ − 3σ ([`crate::ksort`]).
    Ksort(KSortConfig),
    /// Bradley-Terry with style covariates ([`crate::style`]).
    Style(StyleConfig),
    /// Points (ties half) over votes played.
    WinRate,
    /// evalica's average win rate.
    AverageWinRate,
    /// Wins plus half the ties.
    Counting,
}

impl Method {
    /// The method's short name.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Bt(_) => "bt",
            Method::Elo(_) => "elo",
            Method::Pl(_) => "pl",
            Method::Thurstone(_) => "thurstone",
            Method::Ksort(_) => "ksort",
            Method::Style(_) => "style",
            Method::WinRate => "win-rate",
            Method::AverageWinRate => "average-win-rate",
            Method::Counting => "counting",
        }
    }
}

/// How intervals are made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Interval {
    /// None.
    None,
    /// Bootstrap percentiles.
    Bootstrap(BootstrapConfig),
    /// Normal interval from the sandwich (robust) standard errors (Bradley-Terry).
    Sandwich {
        /// Level (0.95).
        level: f64,
    },
    /// Normal interval from the Fisher standard errors (Bradley-Terry, Thurstone).
    Fisher {
        /// Level (0.95).
        level: f64,
    },
}

/// Votes to rate: pairwise outcomes (time-ordered), K-wise rankings, and covariates.
#[derive(Debug, Clone, Default)]
pub struct RankData {
    /// Items and pairwise votes (K-wise votes are also split into pairs here).
    pub pairs: Votes,
    /// K-wise votes as rankings. Empty for battle data: then [`RankData::rankings`]
    /// reads each battle as a K = 2 ranking, built only when a method needs it.
    pub rankings: Vec<RankVote>,
    /// For each pairwise vote, its covariates (style control); empty when unused.
    pub covariates: Vec<Vec<f64>>,
    /// Names of the covariates.
    pub covariate_names: Vec<String>,
}

impl RankData {
    /// Adds a pairwise vote (a battle).
    ///
    /// # Errors
    /// An item against itself.
    pub fn push_pair(&mut self, a: &str, b: &str, o: Outcome) -> Result<()> {
        if !self.rankings.is_empty() {
            return Err(Error::Invalid(
                "battles and K-wise votes cannot be mixed in one data set".into(),
            ));
        }
        self.pairs.push(a, b, o)
    }

    /// Adds a pairwise vote with covariates.
    ///
    /// # Errors
    /// An item against itself, or a different number of covariates than before.
    pub fn push_pair_with(&mut self, a: &str, b: &str, o: Outcome, x: Vec<f64>) -> Result<()> {
        if let Some(first) = self.covariates.first()
            && first.len() != x.len()
        {
            return Err(Error::Invalid(
                "every vote needs the same covariates".into(),
            ));
        }
        self.push_pair(a, b, o)?;
        self.covariates.push(x);
        Ok(())
    }

    /// Adds a K-wise vote: the ranking, and its pairwise split.
    ///
    /// # Errors
    /// Fewer than two models, a model twice, lengths that differ.
    pub fn push_kwise(&mut self, models: &[String], ranks: &[u32]) -> Result<()> {
        if models.len() < 2 || models.len() != ranks.len() {
            return Err(Error::Invalid(
                "a K-wise vote needs K >= 2 models, one rank each".into(),
            ));
        }
        let items: Vec<u32> = models.iter().map(|m| self.pairs.intern(m)).collect();
        for (a, i) in items.iter().enumerate() {
            if items[..a].contains(i) {
                return Err(Error::Invalid(format!("\"{}\" is shown twice", models[a])));
            }
        }
        if self.rankings.is_empty() && !self.pairs.votes.is_empty() {
            return Err(Error::Invalid(
                "battles and K-wise votes cannot be mixed in one data set".into(),
            ));
        }
        let rv = RankVote {
            items,
            ranks: ranks.to_vec(),
        };
        self.pairs.votes.extend(rv.pairs());
        self.rankings.push(rv);
        Ok(())
    }

    /// Every vote as a ranking: the K-wise votes, or each battle as a K = 2 ranking (a
    /// tie ranks both first).
    pub fn rankings(&self) -> std::borrow::Cow<'_, [RankVote]> {
        if !self.rankings.is_empty() {
            return std::borrow::Cow::Borrowed(&self.rankings);
        }
        std::borrow::Cow::Owned(
            self.pairs
                .votes
                .iter()
                .map(|v| RankVote {
                    items: vec![v.a, v.b],
                    ranks: match v.outcome {
                        Outcome::Win => vec![1, 2],
                        Outcome::Loss => vec![2, 1],
                        Outcome::Tie => vec![1, 1],
                    },
                })
                .collect(),
        )
    }

    /// Item names.
    pub fn items(&self) -> &[String] {
        &self.pairs.items
    }

    /// The votes among the items of the largest connected component of the comparison
    /// graph (ratings are only comparable within a component), and the names of the
    /// items left out.
    pub fn largest_component(&self) -> (RankData, Vec<String>) {
        let comps = self.pairs.pair_counts().components();
        let Some(keep) = comps.first() else {
            return (self.clone(), Vec::new());
        };
        if comps.len() == 1 {
            return (self.clone(), Vec::new());
        }
        let mut kept = vec![false; self.pairs.items.len()];
        for &i in keep {
            kept[i] = true;
        }
        let mut out = RankData {
            covariate_names: self.covariate_names.clone(),
            ..Default::default()
        };
        for (k, v) in self.pairs.votes.iter().enumerate() {
            if kept[v.a as usize] && kept[v.b as usize] {
                let (a, b) = (
                    &self.pairs.items[v.a as usize],
                    &self.pairs.items[v.b as usize],
                );
                // Same items, so push cannot fail.
                let _ = out.pairs.push(a, b, v.outcome);
                if let Some(x) = self.covariates.get(k) {
                    out.covariates.push(x.clone());
                }
            }
        }
        for r in &self.rankings {
            if r.items.iter().all(|&i| kept[i as usize]) {
                let items = r
                    .items
                    .iter()
                    .map(|&i| out.pairs.intern(&self.pairs.items[i as usize]))
                    .collect();
                out.rankings.push(RankVote {
                    items,
                    ranks: r.ranks.clone(),
                });
            }
        }
        let dropped = (0..self.pairs.items.len())
            .filter(|&i| !kept[i])
            .map(|i| self.pairs.items[i].clone())
            .collect();
        (out, dropped)
    }
}

/// One leaderboard line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The item.
    pub model: String,
    /// Its rating (or score).
    pub rating: f64,
    /// Lower bound of the interval.
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
    /// Rank: 1 + the number of items whose lower bound is above this upper bound (or,
    /// without intervals, whose rating is higher).
    pub rank: usize,
    /// Pairwise votes the item took part in.
    pub votes: u64,
}

/// A leaderboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leaderboard {
    /// The method's name.
    pub method: String,
    /// Rows, best first.
    pub rows: Vec<Row>,
    /// The fitted tie parameter (Davidson ν or Rao-Kupper θ), when there is one.
    pub tie_param: Option<f64>,
    /// Style covariate coefficients, by name.
    pub coefficients: Vec<(String, f64)>,
    /// Remarks (failed bootstrap rounds, ...).
    pub notes: Vec<String>,
}

/// A method's point estimate: (ratings, Fisher standard errors, sandwich standard
/// errors, tie parameter, style coefficients).
type Point = (
    Vec<f64>,
    Option<Vec<f64>>,
    Option<Vec<f64>>,
    Option<f64>,
    Vec<f64>,
);

/// Per-item values of a method on some data (no intervals).
fn point(data: &RankData, counts: &PairCounts, method: &Method, std_errors: bool) -> Result<Point> {
    let names = data.items();
    let n = names.len();
    Ok(match method {
        Method::Bt(c) => {
            let f = bt::fit_with(counts, names, c, std_errors)?;
            (
                f.ratings,
                Some(f.std_errors),
                Some(f.sandwich_std_errors),
                f.tie_param,
                Vec::new(),
            )
        }
        Method::Thurstone(c) => {
            let f = thurstone::fit(counts, names, c)?;
            (f.ratings, Some(f.std_errors), None, None, Vec::new())
        }
        Method::Elo(c) => {
            c.validate()?;
            (
                elo::run(n, &data.pairs.votes, c),
                None,
                None,
                None,
                Vec::new(),
            )
        }
        Method::Pl(c) => (
            pl::fit(&data.rankings(), names, None, c)?.ratings,
            None,
            None,
            None,
            Vec::new(),
        ),
        Method::Ksort(c) => {
            c.validate()?;
            let mut k = KSort::new(n, *c);
            for r in data.rankings().iter() {
                let items: Vec<usize> = r.items.iter().map(|&i| i as usize).collect();
                k.update(&items, &r.ranks)?;
            }
            (k.scores(), None, None, None, Vec::new())
        }
        Method::Style(c) => {
            if data.covariates.len() != data.pairs.votes.len() {
                return Err(Error::Invalid(
                    "style control needs covariates for every pairwise vote".into(),
                ));
            }
            let f = style::fit(n, names, &data.pairs.votes, &data.covariates, c)?;
            (f.ratings, None, None, None, f.coefficients)
        }
        Method::WinRate => (simple::win_rate(counts), None, None, None, Vec::new()),
        Method::AverageWinRate => (
            simple::average_win_rate(counts),
            None,
            None,
            None,
            Vec::new(),
        ),
        Method::Counting => (simple::counting(counts, 0.5), None, None, None, Vec::new()),
    })
}

/// Builds a leaderboard.
///
/// # Errors
/// No votes, an unidentifiable comparison graph (for model-based methods), an interval
/// the method cannot give, or a failed fit.
pub fn leaderboard(data: &RankData, method: &Method, interval: &Interval) -> Result<Leaderboard> {
    let names = data.items();
    let n = names.len();
    if n == 0 || data.pairs.votes.is_empty() {
        return Err(Error::Invalid("no votes".into()));
    }
    let counts = data.pairs.pair_counts();
    if matches!(
        method,
        Method::Elo(_)
            | Method::Ksort(_)
            | Method::WinRate
            | Method::AverageWinRate
            | Method::Counting
    ) {
        // Not model-based, but a split graph still makes the ranking meaningless across
        // components: say so rather than print a table that looks comparable.
        check_identifiable(&counts, names)?;
    }
    let (ratings, fisher, sandwich, tie_param, coef) = point(
        data,
        &counts,
        method,
        !matches!(interval, Interval::None | Interval::Bootstrap(_)),
    )?;
    let mut notes = Vec::new();
    let (lower, upper): (Option<Vec<f64>>, Option<Vec<f64>>) = match interval {
        Interval::None => (None, None),
        Interval::Sandwich { level } | Interval::Fisher { level } => {
            let se = match (interval, &fisher, &sandwich) {
                (Interval::Sandwich { .. }, _, Some(s)) => s,
                (Interval::Fisher { .. }, Some(f), _) => f,
                _ => {
                    return Err(Error::Invalid(format!(
                        "{} gives no {} standard errors; use --ci bootstrap",
                        method.name(),
                        if matches!(interval, Interval::Sandwich { .. }) {
                            "sandwich"
                        } else {
                            "Fisher"
                        }
                    )));
                }
            };
            let (lo, hi): (Vec<f64>, Vec<f64>) = ratings
                .iter()
                .zip(se)
                .map(|(r, s)| normal_interval(*r, *s, *level))
                .unzip();
            (Some(lo), Some(hi))
        }
        Interval::Bootstrap(b) => {
            let boot = match method {
                Method::Bt(_)
                | Method::Thurstone(_)
                | Method::WinRate
                | Method::AverageWinRate
                | Method::Counting => {
                    let warm = match method {
                        Method::Bt(c) => {
                            bt::fit_with(&counts, names, c, false).ok().map(|f| f.theta)
                        }
                        _ => None,
                    };
                    intervals::bootstrap(&counts, b, |c| match (method, &warm) {
                        (Method::Bt(cfg), Some(w)) => {
                            Ok(bt::fit_from(c, names, cfg, false, Some(w))?.ratings)
                        }
                        _ => Ok(point(data, c, method, false)?.0),
                    })?
                }
                _ => row_bootstrap(data, method, b)?,
            };
            if boot.rounds_failed > 0 {
                notes.push(format!(
                    "{} of {} bootstrap rounds could not be fitted and were left out",
                    boot.rounds_failed,
                    boot.rounds_failed + boot.rounds_used
                ));
            }
            (Some(boot.lower), Some(boot.upper))
        }
    };
    let ranks = match (&lower, &upper) {
        (Some(lo), Some(hi)) => interval_ranks(lo, hi),
        _ => (0..n)
            .map(|i| 1 + (0..n).filter(|&j| ratings[j] > ratings[i]).count())
            .collect(),
    };
    let votes = data.pairs.counts();
    let mut rows: Vec<Row> = (0..n)
        .map(|i| Row {
            model: names[i].clone(),
            rating: ratings[i],
            lower: lower.as_ref().map(|l| l[i]),
            upper: upper.as_ref().map(|u| u[i]),
            rank: ranks[i],
            votes: votes[i],
        })
        .collect();
    rows.sort_by(|a, b| b.rating.total_cmp(&a.rating).then(a.model.cmp(&b.model)));
    Ok(Leaderboard {
        method: method.name().to_string(),
        rows,
        tie_param,
        coefficients: data.covariate_names.iter().cloned().zip(coef).collect(),
        notes,
    })
}

/// The bootstrap over rows for methods that use each vote (online Elo, Plackett-Luce,
/// K-Sort, style control): each round draws N votes with replacement, in random order
/// (as pandas' `sample(frac=1, replace=True)` does for FastChat's online-Elo bootstrap).
fn row_bootstrap(
    data: &RankData,
    method: &Method,
    b: &BootstrapConfig,
) -> Result<intervals::Bootstrap> {
    b.validate()?;
    let by_ranking = matches!(method, Method::Pl(_) | Method::Ksort(_));
    let all = if by_ranking {
        data.rankings()
    } else {
        std::borrow::Cow::Borrowed(&[][..])
    };
    let rows = if by_ranking {
        all.len()
    } else {
        data.pairs.votes.len()
    };
    let samples: Vec<Option<Vec<f64>>> = (0..b.rounds)
        .into_par_iter()
        .map(|r| {
            let mut rng = ChaCha8Rng::seed_from_u64(b.seed.wrapping_add(r as u64));
            let pick: Vec<usize> = (0..rows).map(|_| rng.random_range(0..rows)).collect();
            let mut d = RankData {
                pairs: data.pairs.clone(),
                rankings: Vec::new(),
                covariates: Vec::new(),
                covariate_names: data.covariate_names.clone(),
            };
            if by_ranking {
                d.rankings = pick.iter().map(|&k| all[k].clone()).collect();
                d.pairs.votes = d.rankings.iter().flat_map(RankVote::pairs).collect();
            } else {
                d.pairs.votes = pick
                    .iter()
                    .map(|&k| data.pairs.votes[k])
                    .collect::<Vec<Vote>>();
                if !data.covariates.is_empty() {
                    d.covariates = pick.iter().map(|&k| data.covariates[k].clone()).collect();
                }
            }
            let c = d.pairs.pair_counts();
            point(&d, &c, method, false).ok().map(|p| p.0)
        })
        .collect();
    let good: Vec<&Vec<f64>> = samples.iter().flatten().collect();
    if good.is_empty() {
        return Err(Error::Numeric("every bootstrap round failed to fit".into()));
    }
    let n = data.items().len();
    let (a, z) = ((1.0 - b.level) / 2.0, 1.0 - (1.0 - b.level) / 2.0);
    let mut lower = vec![0.0; n];
    let mut upper = vec![0.0; n];
    let mut median = vec![0.0; n];
    for i in 0..n {
        let mut col: Vec<f64> = good.iter().map(|s| s[i]).collect();
        col.sort_by(f64::total_cmp);
        lower[i] = intervals::percentile(&col, a);
        upper[i] = intervals::percentile(&col, z);
        median[i] = intervals::percentile(&col, 0.5);
    }
    Ok(intervals::Bootstrap {
        lower,
        upper,
        median,
        rounds_used: good.len(),
        rounds_failed: b.rounds - good.len(),
    })
}

/// The predicted probability that row i beats column j under a Bradley-Terry leaderboard
/// on `scale` (for the win-rate heatmap).
pub fn predicted_win_matrix(ratings: &[f64], scale: &bt::Scale) -> Vec<Vec<f64>> {
    ratings
        .iter()
        .map(|&ri| ratings.iter().map(|&rj| scale.expected(ri, rj)).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use prefer_data::synth::{BattleSpec, battles};

    #[test]
    fn bootstrap_intervals_cover_the_truth_about_95_percent() {
        // 40 independent worlds of 12 models and 3000 battles; count how often the 95%
        // bootstrap interval holds the true (centered) rating. No ties: the generator
        // draws ties independently of the gap, which half-tie BT does not model (the fit
        // then estimates compressed ratings, not the generator's).
        let mut covered = 0usize;
        let mut total = 0usize;
        for seed in 0..40u64 {
            let s = battles(&BattleSpec {
                models: 12,
                battles: 3000,
                tie_rate: 0.0,
                spread: 120.0,
                skew: 0.0,
                seed,
            });
            let mut d = RankData::default();
            for b in &s.battles {
                d.push_pair(&b.model_a, &b.model_b, b.winner.into())
                    .unwrap();
            }
            let board = leaderboard(
                &d,
                &Method::Bt(BtConfig::default()),
                &Interval::Bootstrap(BootstrapConfig {
                    rounds: 200,
                    seed,
                    level: 0.95,
                }),
            )
            .unwrap();
            let mean_true = s.ratings.iter().sum::<f64>() / s.ratings.len() as f64;
            for row in &board.rows {
                let i = s.models.iter().position(|m| *m == row.model).unwrap();
                let truth = 1000.0 + s.ratings[i] - mean_true;
                total += 1;
                if row.lower.unwrap() <= truth && truth <= row.upper.unwrap() {
                    covered += 1;
                }
            }
        }
        let rate = covered as f64 / total as f64;
        // 480 intervals; binomial sd at 0.95 is 0.01. Intervals of centered ratings are
        // correlated within a world, so allow 4 sd.
        assert!((rate - 0.95).abs() < 0.04, "coverage {rate}");
    }

    #[test]
    fn sandwich_and_fisher_agree_when_the_model_is_right() {
        let s = battles(&BattleSpec {
            models: 10,
            battles: 20_000,
            tie_rate: 0.0,
            spread: 150.0,
            skew: 0.5,
            seed: 9,
        });
        let mut d = RankData::default();
        for b in &s.battles {
            d.push_pair(&b.model_a, &b.model_b, b.winner.into())
                .unwrap();
        }
        let f = bt::fit(&d.pairs.pair_counts(), d.items(), &BtConfig::default()).unwrap();
        for (a, b) in f.std_errors.iter().zip(&f.sandwich_std_errors) {
            assert!((a / b - 1.0).abs() < 0.1, "{a} vs {b}");
        }
    }
}
