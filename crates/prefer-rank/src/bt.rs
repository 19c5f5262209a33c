//! Bradley-Terry maximum likelihood on aggregated pair counts, with three tie models.
//!
//! Item i has log-strength θ_i. Without ties, P(i beats j) = σ(θ_i − θ_j) (Bradley and
//! Terry 1952). Ties:
//!
//! | [`TieModel`] | P(i wins) | P(tie) | reference |
//! |---|---|---|---|
//! | `Half` (default) | σ(d) with a tie counted as half a win each way | — | the Chatbot Arena / FastChat convention |
//! | `Davidson` | e^{d/2} / Z | ν / Z, Z = e^{d/2} + e^{−d/2} + ν | Davidson 1970 (evalica's `newman` uses 2v = ν) |
//! | `RaoKupper` | σ(d − c) | 1 − σ(d − c) − σ(−d − c), c = ln θ ≥ 0 | Rao and Kupper 1967 |
//!
//! with d = θ_i − θ_j. The fit maximizes the log-likelihood of the counts minus an
//! optional Gaussian prior (λ/2)‖θ‖² by Newton's method with backtracking, on the
//! counts, never on one row per vote; it stops when the largest Newton step is below
//! `tol` (default 1e-10 natural-log units, i.e. 2e-8 Elo points).
//!
//! Ratings are reported on the Elo scale: R_i = `init` + `scale` / ln(`base`) · θ_i, so
//! that P(i beats j) = 1 / (1 + `base`^((R_j − R_i) / `scale`)); the additive constant is
//! fixed by centering the ratings at `init` (what FastChat's unpenalized logistic
//! regression converges to) or by an anchor item held at a given rating.
//!
//! # Quickstart
//! ```
//! use prefer_rank::bt::{BtConfig, fit};
//! use prefer_rank::votes::{Outcome, Votes};
//! let mut v = Votes::new();
//! for _ in 0..3 { v.push("a", "b", Outcome::Win)?; }
//! v.push("a", "b", Outcome::Loss)?;
//! let f = fit(&v.pair_counts(), &v.items, &BtConfig::default())?;
//! // 3 wins in 4: the rating gap is 400 log10(3).
//! assert!((f.ratings[0] - f.ratings[1] - 400.0 * 3f64.log10()).abs() < 1e-6);
//! # Ok::<(), prefer_rank::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pairwise::{self, OutcomeTerms, PairModel, SolverConfig, log_sigmoid, sigmoid};
use crate::votes::{PairCounts, check_identifiable};

/// How ties enter the likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieModel {
    /// A tie is half a win for each side (Chatbot Arena, FastChat, evalica).
    #[default]
    Half,
    /// Davidson (1970): ties have probability ν·sqrt(π_i π_j) / (π_i + π_j + ν·sqrt(π_i π_j)).
    Davidson,
    /// Rao and Kupper (1967): P(i wins) = π_i / (π_i + θ π_j), θ ≥ 1.
    RaoKupper,
}

/// The Elo-style scale ratings are reported on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scale {
    /// Rating points per factor of `base` in odds (default 400).
    pub scale: f64,
    /// The odds base (default 10).
    pub base: f64,
    /// The mean rating (default 1000).
    pub init: f64,
}

impl Default for Scale {
    fn default() -> Self {
        Self {
            scale: 400.0,
            base: 10.0,
            init: 1000.0,
        }
    }
}

impl Scale {
    /// Rating points per natural-log unit of strength: scale / ln(base).
    pub fn factor(&self) -> f64 {
        self.scale / self.base.ln()
    }

    /// P(i beats j) for ratings `ri`, `rj` (no ties).
    pub fn expected(&self, ri: f64, rj: f64) -> f64 {
        1.0 / (1.0 + self.base.powf((rj - ri) / self.scale))
    }

    /// Checks the values.
    ///
    /// # Errors
    /// Non-positive scale, base not above 1, non-finite init.
    pub fn validate(&self) -> Result<()> {
        if !(self.scale > 0.0 && self.base > 1.0 && self.init.is_finite()) {
            return Err(Error::Config(format!(
                "scale must be > 0 and base > 1 (got scale {}, base {}, init {})",
                self.scale, self.base, self.init
            )));
        }
        Ok(())
    }
}

/// An item held at a fixed rating (FastChat anchors a reference model this way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The item's name.
    pub item: String,
    /// Its rating.
    pub rating: f64,
}

/// Bradley-Terry settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BtConfig {
    /// Tie model (default `half`).
    pub ties: TieModel,
    /// Rating scale (default 400 / base 10 / mean 1000).
    pub scale: Scale,
    /// Hold this item at this rating instead of centering at `scale.init`.
    pub anchor: Option<Anchor>,
    /// Precision λ of a Gaussian prior N(0, 1/λ) on each natural-log strength (default 0:
    /// plain maximum likelihood). A prior keeps ratings finite when an item won or lost
    /// every vote.
    pub l2: f64,
    /// Convergence tolerance on the largest Newton step, natural-log units (1e-10).
    pub tol: f64,
    /// Iteration limit (200).
    pub max_iter: usize,
}

impl Default for BtConfig {
    fn default() -> Self {
        Self {
            ties: TieModel::Half,
            scale: Scale::default(),
            anchor: None,
            l2: 0.0,
            tol: 1e-10,
            max_iter: 200,
        }
    }
}

impl BtConfig {
    /// Checks the values.
    ///
    /// # Errors
    /// Out-of-range values.
    pub fn validate(&self) -> Result<()> {
        self.scale.validate()?;
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(Error::Config(format!("l2 must be >= 0, got {}", self.l2)));
        }
        if !(self.tol > 0.0) || self.max_iter == 0 {
            return Err(Error::Config("tol must be > 0 and max_iter >= 1".into()));
        }
        Ok(())
    }
}

/// The result of a Bradley-Terry fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BtFit {
    /// Ratings on the Elo scale, one per item.
    pub ratings: Vec<f64>,
    /// Natural-log strengths θ, centered at mean 0.
    pub theta: Vec<f64>,
    /// The tie parameter: ν (Davidson) or θ (Rao-Kupper); `None` for `Half` or no ties.
    pub tie_param: Option<f64>,
    /// Log-likelihood at the optimum (without the prior).
    pub log_likelihood: f64,
    /// Newton iterations used.
    pub iterations: usize,
    /// The largest component of the last Newton step.
    pub last_step: f64,
    /// Standard errors of the ratings from the observed Fisher information (Elo points).
    pub std_errors: Vec<f64>,
    /// Robust (sandwich, Huber-White) standard errors of the ratings (Elo points).
    pub sandwich_std_errors: Vec<f64>,
}

impl PairModel for TieModel {
    fn terms(&self, d: f64, tau: f64) -> [OutcomeTerms; 3] {
        match self {
            TieModel::Half => {
                let s = sigmoid(d);
                let h = -s * (1.0 - s);
                // ln σ(−d) = ln σ(d) − d: one logarithm per pair.
                let ls = log_sigmoid(d);
                let win = OutcomeTerms {
                    ll: ls,
                    gd: 1.0 - s,
                    hdd: h,
                    ..Default::default()
                };
                let loss = OutcomeTerms {
                    ll: ls - d,
                    gd: -s,
                    hdd: h,
                    ..Default::default()
                };
                let tie = OutcomeTerms {
                    ll: 0.5 * (win.ll + loss.ll),
                    gd: 0.5 - s,
                    hdd: h,
                    ..Default::default()
                };
                [win, loss, tie]
            }
            TieModel::Davidson => {
                let u = 0.5 * d;
                let m = u.abs().max(tau);
                // Scaled by e^{-m} for stability: Z' = Z e^{-m}.
                let (ep, en, nu) = ((u - m).exp(), (-u - m).exp(), (tau - m).exp());
                let z = ep + en + nu;
                let (pi, pj, pt) = (ep / z, en / z, nu / z);
                let lz = m + z.ln();
                // Derivatives of -ln Z: d/dd = -(pi - pj)/2, d/dτ = -pt.
                let dz_d = 0.5 * (pi - pj);
                let hdd = -(0.25 * (pi + pj) - dz_d * dz_d);
                let hdt = dz_d * pt;
                let htt = -(pt - pt * pt);
                let base = OutcomeTerms {
                    hdd,
                    hdt,
                    htt,
                    ..Default::default()
                };
                [
                    OutcomeTerms {
                        ll: u - lz,
                        gd: 0.5 - dz_d,
                        gt: -pt,
                        ..base
                    },
                    OutcomeTerms {
                        ll: -u - lz,
                        gd: -0.5 - dz_d,
                        gt: -pt,
                        ..base
                    },
                    OutcomeTerms {
                        ll: tau - lz,
                        gd: -dz_d,
                        gt: 1.0 - pt,
                        ..base
                    },
                ]
            }
            TieModel::RaoKupper => {
                let c = tau;
                let a = sigmoid(d - c);
                let b = sigmoid(-d - c);
                let (sa, sb) = (a * (1.0 - a), b * (1.0 - b));
                // log a: d/dd = 1-a, d/dc = -(1-a); second: -sa, -sa, cross +sa.
                let win = OutcomeTerms {
                    ll: log_sigmoid(d - c),
                    gd: 1.0 - a,
                    gt: -(1.0 - a),
                    hdd: -sa,
                    htt: -sa,
                    hdt: sa,
                };
                // log b: d/dd = -(1-b), d/dc = -(1-b); second: -sb, -sb, cross -sb.
                let loss = OutcomeTerms {
                    ll: log_sigmoid(-d - c),
                    gd: -(1.0 - b),
                    gt: -(1.0 - b),
                    hdd: -sb,
                    htt: -sb,
                    hdt: -sb,
                };
                // p = 1 - a - b = σ(c - d) - σ(-c - d).
                let p = (sigmoid(c - d) - sigmoid(-c - d)).max(1e-300);
                let pd = -sa + sb;
                let pc = sa + sb;
                let (ta, tb) = (sa * (1.0 - 2.0 * a), sb * (1.0 - 2.0 * b));
                // a_dd = ta, a_cc = ta, a_dc = -ta; b_dd = tb, b_cc = tb, b_dc = tb.
                let pdd = -ta - tb;
                let pcc = -ta - tb;
                let pdc = ta - tb;
                let tie = OutcomeTerms {
                    ll: p.ln(),
                    gd: pd / p,
                    gt: pc / p,
                    hdd: (pdd * p - pd * pd) / (p * p),
                    htt: (pcc * p - pc * pc) / (p * p),
                    hdt: (pdc * p - pd * pc) / (p * p),
                };
                [win, loss, tie]
            }
        }
    }

    fn tau_init(&self) -> Option<f64> {
        match self {
            TieModel::Half => None,
            TieModel::Davidson => Some(0.0),
            TieModel::RaoKupper => Some(0.5),
        }
    }

    fn tau_valid(&self, tau: f64) -> bool {
        // Rao-Kupper's threshold c = ln θ must stay positive.
        !(matches!(self, TieModel::RaoKupper) && tau <= 0.0)
    }
}

/// Returns the index of the anchor item, checking it exists.
fn anchor_index(names: &[String], anchor: &Option<Anchor>) -> Result<Option<(usize, f64)>> {
    match anchor {
        Some(a) => Ok(Some((
            names.iter().position(|n| *n == a.item).ok_or_else(|| {
                Error::Invalid(format!("anchor item \"{}\" has no votes", a.item))
            })?,
            a.rating,
        ))),
        None => Ok(None),
    }
}

/// Refuses counts whose maximum-likelihood strengths are infinite (an item that won or
/// lost every vote) when there is no prior to keep them finite.
pub(crate) fn check_bounded(counts: &PairCounts, names: &[String], l2: f64) -> Result<()> {
    if l2 > 0.0 {
        return Ok(());
    }
    let unbounded = counts.unbounded_items();
    if unbounded.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = unbounded
        .iter()
        .take(8)
        .map(|&i| names[i].as_str())
        .collect();
    Err(Error::Invalid(format!(
        "{} item(s) won or lost every vote, so their maximum-likelihood ratings are \
         infinite: {}{}; add a prior (--l2, e.g. 0.01) or more votes",
        unbounded.len(),
        shown.join(", "),
        if unbounded.len() > 8 { ", ..." } else { "" }
    )))
}

/// Maps centered natural-log strengths to the Elo scale, centered at `scale.init` or with
/// the anchor at its rating.
pub(crate) fn to_ratings(
    theta: &[f64],
    factor: f64,
    init: f64,
    anchor: Option<(usize, f64)>,
) -> Vec<f64> {
    let shift = match anchor {
        Some((i, r)) => r - factor * theta[i],
        None => init,
    };
    theta.iter().map(|t| shift + factor * t).collect()
}

/// Fits Bradley-Terry to pair counts. `names` are the items' names (for messages and the
/// anchor).
///
/// # Errors
/// Invalid config, no votes, items without votes, a disconnected comparison graph, an
/// item that won or lost every vote (without a prior), an unknown anchor, or no
/// convergence.
pub fn fit(counts: &PairCounts, names: &[String], cfg: &BtConfig) -> Result<BtFit> {
    fit_with(counts, names, cfg, true)
}

/// [`fit`] without standard errors (for bootstrap rounds).
///
/// # Errors
/// As [`fit`].
pub fn fit_with(
    counts: &PairCounts,
    names: &[String],
    cfg: &BtConfig,
    std_errors: bool,
) -> Result<BtFit> {
    fit_from(counts, names, cfg, std_errors, None)
}

/// [`fit_with`] starting Newton's method from `init` (natural-log strengths, e.g. the
/// full-data fit's `theta` for a bootstrap round: the answer is the same, reached in
/// fewer steps).
///
/// # Errors
/// As [`fit`].
pub fn fit_from(
    counts: &PairCounts,
    names: &[String],
    cfg: &BtConfig,
    std_errors: bool,
    init: Option<&[f64]>,
) -> Result<BtFit> {
    cfg.validate()?;
    check_identifiable(counts, names)?;
    check_bounded(counts, names, cfg.l2)?;
    let anchor = anchor_index(names, &cfg.anchor)?;
    let total_ties: f64 = counts.cells.iter().map(|c| c.ties).sum();
    // Without ties the tie parameter's MLE sits on the boundary (ν = 0, θ = 1) and the
    // models reduce to plain Bradley-Terry.
    let model = if total_ties == 0.0 {
        TieModel::Half
    } else {
        cfg.ties
    };
    let solver = SolverConfig {
        l2: cfg.l2,
        tol: cfg.tol,
        max_iter: cfg.max_iter,
        anchor: anchor.map(|a| a.0),
        std_errors,
        init: init.map(<[f64]>::to_vec),
    };
    let f = pairwise::fit(counts, &model, &solver)
        .map_err(|e| Error::Numeric(format!("Bradley-Terry: {e}")))?;
    let factor = cfg.scale.factor();
    Ok(BtFit {
        ratings: to_ratings(&f.theta, factor, cfg.scale.init, anchor),
        // τ is ln ν (Davidson) or c = ln θ (Rao-Kupper).
        tie_param: f.tau.map(f64::exp),
        log_likelihood: f.log_likelihood,
        iterations: f.iterations,
        last_step: f.last_step,
        std_errors: f.std_errors.iter().map(|s| s * factor).collect(),
        sandwich_std_errors: f.sandwich_std_errors.iter().map(|s| s * factor).collect(),
        theta: f.theta,
    })
}

/// P(i beats j) under Bradley-Terry for two ratings on `scale`, counting a tie as half.
pub fn win_probability(scale: &Scale, ri: f64, rj: f64) -> f64 {
    scale.expected(ri, rj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::votes::{Outcome, Votes};

    fn votes(list: &[(&str, &str, Outcome, usize)]) -> Votes {
        let mut v = Votes::new();
        for &(a, b, o, n) in list {
            for _ in 0..n {
                v.push(a, b, o).unwrap();
            }
        }
        v
    }

    #[test]
    fn two_items_closed_form() {
        // 7 wins, 3 losses, 2 ties: with half ties the MLE odds are 8/4.
        let v = votes(&[
            ("a", "b", Outcome::Win, 7),
            ("a", "b", Outcome::Loss, 3),
            ("a", "b", Outcome::Tie, 2),
        ]);
        let f = fit(&v.pair_counts(), &v.items, &BtConfig::default()).unwrap();
        let gap = f.ratings[0] - f.ratings[1];
        assert!((gap - 400.0 * 2f64.log10()).abs() < 1e-8, "{gap}");
        assert!(((f.ratings[0] + f.ratings[1]) / 2.0 - 1000.0).abs() < 1e-9);
        // Fisher SE of the log-odds d with n = 12 votes at p = 2/3: 1/sqrt(n p (1-p));
        // each centered rating carries half of it.
        let se_d = 1.0 / (12.0f64 * (2.0 / 3.0) * (1.0 / 3.0)).sqrt();
        let want = 0.5 * se_d * 400.0 / 10f64.ln();
        assert!(
            (f.std_errors[0] - want).abs() < 1e-6,
            "{} vs {want}",
            f.std_errors[0]
        );
    }

    #[test]
    fn davidson_two_items_closed_form() {
        // Davidson MLE for two items: pi/pj = W/L and nu = T / sqrt(W L).
        let v = votes(&[
            ("a", "b", Outcome::Win, 6),
            ("a", "b", Outcome::Loss, 2),
            ("a", "b", Outcome::Tie, 4),
        ]);
        let cfg = BtConfig {
            ties: TieModel::Davidson,
            ..Default::default()
        };
        let f = fit(&v.pair_counts(), &v.items, &cfg).unwrap();
        let gap = (f.theta[0] - f.theta[1]).exp();
        assert!((gap - 3.0).abs() < 1e-8, "{gap}");
        assert!((f.tie_param.unwrap() - 4.0 / 12f64.sqrt()).abs() < 1e-8);
    }

    #[test]
    fn rao_kupper_two_items_closed_form() {
        // Rao-Kupper for two items: a = W/n = σ(d - c), b = L/n = σ(-d - c).
        let v = votes(&[
            ("a", "b", Outcome::Win, 5),
            ("a", "b", Outcome::Loss, 2),
            ("a", "b", Outcome::Tie, 3),
        ]);
        let cfg = BtConfig {
            ties: TieModel::RaoKupper,
            ..Default::default()
        };
        let f = fit(&v.pair_counts(), &v.items, &cfg).unwrap();
        let logit = |p: f64| (p / (1.0 - p)).ln();
        let (x, y) = (logit(0.5), logit(0.2)); // d - c, -d - c
        let (d, c) = ((x - y) / 2.0, -(x + y) / 2.0);
        assert!((f.theta[0] - f.theta[1] - d).abs() < 1e-8);
        assert!((f.tie_param.unwrap() - c.exp()).abs() < 1e-8);
    }

    #[test]
    fn anchor_and_prior() {
        let v = votes(&[
            ("a", "b", Outcome::Win, 3),
            ("b", "c", Outcome::Win, 3),
            ("c", "a", Outcome::Win, 1),
            ("a", "c", Outcome::Win, 2),
        ]);
        let cfg = BtConfig {
            anchor: Some(Anchor {
                item: "b".into(),
                rating: 1114.0,
            }),
            ..Default::default()
        };
        let f = fit(&v.pair_counts(), &v.items, &cfg).unwrap();
        assert!((f.ratings[1] - 1114.0).abs() < 1e-9);
        let plain = fit(&v.pair_counts(), &v.items, &BtConfig::default()).unwrap();
        assert!(
            ((f.ratings[0] - f.ratings[2]) - (plain.ratings[0] - plain.ratings[2])).abs() < 1e-9
        );
        // A prior shrinks the spread.
        let prior = fit(
            &v.pair_counts(),
            &v.items,
            &BtConfig {
                l2: 1.0,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            (prior.ratings[0] - prior.ratings[2]).abs()
                < (plain.ratings[0] - plain.ratings[2]).abs()
        );
    }

    #[test]
    fn unbounded_items_need_a_prior() {
        let v = votes(&[("a", "b", Outcome::Win, 3), ("b", "c", Outcome::Tie, 1)]);
        let e = fit(&v.pair_counts(), &v.items, &BtConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("won or lost every vote") && e.contains('a'),
            "{e}"
        );
        assert!(
            fit(
                &v.pair_counts(),
                &v.items,
                &BtConfig {
                    l2: 0.1,
                    ..Default::default()
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn gradient_matches_finite_differences_for_every_tie_model() {
        let v = votes(&[
            ("a", "b", Outcome::Win, 4),
            ("a", "b", Outcome::Tie, 2),
            ("b", "c", Outcome::Loss, 3),
            ("c", "a", Outcome::Win, 1),
            ("c", "a", Outcome::Tie, 1),
            ("a", "c", Outcome::Loss, 2),
        ]);
        let counts = v.pair_counts();
        let theta = [0.3, -0.2, 0.1];
        for (model, tau) in [
            (TieModel::Half, None),
            (TieModel::Davidson, Some(-0.4)),
            (TieModel::RaoKupper, Some(0.7)),
        ] {
            let (_, og, oh) = crate::pairwise::value_and_grad(&counts, &model, &theta, tau);
            let h = 1e-6;
            for p in 0..3 + usize::from(tau.is_some()) {
                let bump = |s: f64| {
                    let mut th = theta.to_vec();
                    let mut ta = tau;
                    if p < 3 {
                        th[p] += s
                    } else {
                        ta = ta.map(|t| t + s)
                    }
                    crate::pairwise::value_and_grad(&counts, &model, &th, ta)
                };
                let (up, dn) = (bump(h), bump(-h));
                let fd = (up.0 - dn.0) / (2.0 * h);
                assert!(
                    (fd - og[p]).abs() < 1e-6,
                    "{model:?} grad {p}: {fd} vs {}",
                    og[p]
                );
                for q in 0..og.len() {
                    let fd2 = (up.1[q] - dn.1[q]) / (2.0 * h);
                    assert!(
                        (fd2 - oh.get(q, p)).abs() < 1e-5,
                        "{model:?} hess {q},{p}: {fd2} vs {}",
                        oh.get(q, p)
                    );
                }
            }
        }
    }
}
