//! Thurstone Case V (probit) ratings: each item's quality is Gaussian with equal
//! variance, so P(i beats j) = Φ(μ_i − μ_j) with the √2σ absorbed into the units; a tie
//! counts half a win each way. Thurstone (1927), "A law of comparative judgment"; the
//! Thurstonian utilities of paper 70 in ../shared/seeds/papers.txt.
//!
//! Ratings are reported on an Elo-like scale matched at equal strength: Elo's win
//! probability has slope ln 10 / (4 · 400) at a zero gap and Φ has slope 1/√(2π), so
//! R = init + μ · 1600 / (ln 10 · √(2π)) ≈ init + 277.2 μ. Close gaps then read like Elo
//! gaps; large gaps differ (the probit has thinner tails).

use serde::{Deserialize, Serialize};

use crate::bt::{check_bounded, to_ratings};
use crate::error::{Error, Result};
use crate::intervals::{erfc, normal_cdf};
use crate::pairwise::{self, OutcomeTerms, PairModel, SolverConfig};
use crate::votes::{PairCounts, check_identifiable};

/// Thurstone settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThurstoneConfig {
    /// The mean rating (default 1000).
    pub init: f64,
    /// Prior precision on μ (default 0).
    pub l2: f64,
    /// Convergence tolerance on the largest Newton step (1e-10).
    pub tol: f64,
    /// Iteration limit (200).
    pub max_iter: usize,
}

impl Default for ThurstoneConfig {
    fn default() -> Self {
        Self {
            init: 1000.0,
            l2: 0.0,
            tol: 1e-10,
            max_iter: 200,
        }
    }
}

/// Rating points per unit of μ: 1600 / (ln 10 · √(2π)).
pub fn elo_factor() -> f64 {
    1600.0 / (std::f64::consts::LN_10 * (2.0 * std::f64::consts::PI).sqrt())
}

/// The result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThurstoneFit {
    /// μ per item, centered.
    pub mu: Vec<f64>,
    /// Ratings on the Elo-like scale.
    pub ratings: Vec<f64>,
    /// Standard errors of the ratings (observed information).
    pub std_errors: Vec<f64>,
    /// Log-likelihood.
    pub log_likelihood: f64,
}

/// ln Φ(x), accurate far into the lower tail.
fn log_phi(x: f64) -> f64 {
    if x > -5.0 {
        normal_cdf(x).ln()
    } else {
        (0.5 * erfc(-x / std::f64::consts::SQRT_2)).ln()
    }
}

/// The inverse Mills ratio λ(x) = φ(x) / Φ(x), stable for very negative x.
fn mills(x: f64) -> f64 {
    let phi = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let cdf = normal_cdf(x);
    if cdf > 1e-300 {
        phi / cdf
    } else {
        // Asymptotically λ(x) ≈ −x for x → −∞.
        -x
    }
}

/// The probit likelihood (ties half).
struct Probit;

impl PairModel for Probit {
    fn terms(&self, d: f64, _tau: f64) -> [OutcomeTerms; 3] {
        // d/dd ln Φ(d) = λ(d); d²/dd² = −λ(d)(d + λ(d)).
        let (lp, ln) = (mills(d), mills(-d));
        let win = OutcomeTerms {
            ll: log_phi(d),
            gd: lp,
            hdd: -lp * (d + lp),
            ..Default::default()
        };
        let loss = OutcomeTerms {
            ll: log_phi(-d),
            gd: -ln,
            hdd: -ln * (-d + ln),
            ..Default::default()
        };
        let tie = OutcomeTerms {
            ll: 0.5 * (win.ll + loss.ll),
            gd: 0.5 * (win.gd + loss.gd),
            hdd: 0.5 * (win.hdd + loss.hdd),
            ..Default::default()
        };
        [win, loss, tie]
    }

    fn tau_init(&self) -> Option<f64> {
        None
    }
}

/// Fits Thurstone Case V.
///
/// # Errors
/// As [`crate::bt::fit`].
pub fn fit(counts: &PairCounts, names: &[String], cfg: &ThurstoneConfig) -> Result<ThurstoneFit> {
    if !(cfg.l2 >= 0.0 && cfg.tol > 0.0 && cfg.init.is_finite()) {
        return Err(Error::Config(
            "thurstone: l2 >= 0 and tol > 0 required".into(),
        ));
    }
    check_identifiable(counts, names)?;
    check_bounded(counts, names, cfg.l2)?;
    let f = pairwise::fit(
        counts,
        &Probit,
        &SolverConfig {
            l2: cfg.l2,
            tol: cfg.tol,
            max_iter: cfg.max_iter,
            anchor: None,
            std_errors: true,
            init: None,
        },
    )
    .map_err(|e| Error::Numeric(format!("Thurstone: {e}")))?;
    let k = elo_factor();
    Ok(ThurstoneFit {
        ratings: to_ratings(&f.theta, k, cfg.init, None),
        std_errors: f.std_errors.iter().map(|s| s * k).collect(),
        log_likelihood: f.log_likelihood,
        mu: f.theta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::votes::{Outcome, Votes};

    #[test]
    fn two_items_closed_form_and_derivatives() {
        // 8 wins in 10: Φ(d) = 0.8, d = 0.8416212335729143 (scipy.stats.norm.ppf(0.8)).
        let mut v = Votes::new();
        for k in 0..10 {
            v.push("a", "b", if k < 8 { Outcome::Win } else { Outcome::Loss })
                .unwrap();
        }
        let f = fit(&v.pair_counts(), &v.items, &ThurstoneConfig::default()).unwrap();
        assert!((f.mu[0] - f.mu[1] - 0.841_621_233_572_914_3).abs() < 1e-9);
        // Derivatives against finite differences at a few points.
        for d in [-3.0, -0.4, 0.0, 1.3, 6.0] {
            let t = Probit.terms(d, 0.0);
            let h = 1e-5;
            let (up, dn) = (Probit.terms(d + h, 0.0), Probit.terms(d - h, 0.0));
            for k in 0..3 {
                let g = (up[k].ll - dn[k].ll) / (2.0 * h);
                let hh = (up[k].gd - dn[k].gd) / (2.0 * h);
                assert!(
                    (g - t[k].gd).abs() < 1e-6,
                    "d={d} k={k}: {g} vs {}",
                    t[k].gd
                );
                assert!(
                    (hh - t[k].hdd).abs() < 1e-5,
                    "d={d} k={k}: {hh} vs {}",
                    t[k].hdd
                );
            }
        }
    }
}
