//! Cumulative prospect theory (Tversky and Kahneman 1992, "Advances in prospect theory").
//!
//! Value function, with reference point 0:  v(x) = x^α for x ≥ 0, −λ (−x)^α for x < 0.
//! Probability weighting:  w(p) = p^γ / (p^γ + (1 − p)^γ)^{1/γ}.
//! Rank-dependent weights: gains ranked from the best down get
//! π_i = w(P(X ≥ x_i)) − w(P(X > x_i)); losses ranked from the worst up get
//! π_i = w(P(X ≤ x_i)) − w(P(X < x_i)); V = Σ π_i v(x_i).
//!
//! One curvature α and one weighting γ serve gains and losses (the paper's estimates were
//! α = β = 0.88, λ = 2.25, γ = 0.61 for gains and δ = 0.69 for losses; we start at
//! α = 0.88, λ = 2.25, γ = 0.65). With γ = 1 and α = 1 this is expected value with loss
//! aversion; with λ = 1 too, expected value.

use serde::{Deserialize, Serialize};

use super::{Valuation, no_delays};
use crate::error::Result;
use crate::problem::{Problem, Prospect};

/// Cumulative prospect theory (no settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProspectTheory {}

/// The value function v(x) with curvature α and loss aversion λ.
pub fn tk_value(x: f64, alpha: f64, lambda: f64) -> f64 {
    if x >= 0.0 {
        x.powf(alpha)
    } else {
        -lambda * (-x).powf(alpha)
    }
}

/// The weighting function w(p) with parameter γ (w(0) = 0, w(1) = 1).
pub fn tk_weight(p: f64, gamma: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let a = p.powf(gamma);
    let b = (1.0 - p).powf(gamma);
    a / (a + b).powf(1.0 / gamma)
}

impl ProspectTheory {
    /// V of a lottery under (α, λ, γ).
    pub fn cpt_value(o: &Prospect, alpha: f64, lambda: f64, gamma: f64) -> f64 {
        let mut xs = o.support();
        xs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut v = 0.0;
        // Gains from the best down: decumulative probabilities.
        let mut above = 0.0;
        for &(x, p) in xs.iter().filter(|(x, _)| *x >= 0.0) {
            let at = (above + p).min(1.0);
            v += (tk_weight(at, gamma) - tk_weight(above, gamma)) * tk_value(x, alpha, lambda);
            above = at;
        }
        // Losses from the worst up: cumulative probabilities.
        let mut below = 0.0;
        for &(x, p) in xs.iter().rev().filter(|(x, _)| *x < 0.0) {
            let at = (below + p).min(1.0);
            v += (tk_weight(at, gamma) - tk_weight(below, gamma)) * tk_value(x, alpha, lambda);
            below = at;
        }
        v
    }
}

impl Valuation for ProspectTheory {
    fn name(&self) -> &'static str {
        "prospect_theory"
    }
    fn params(&self) -> &'static [&'static str] {
        &["alpha", "lambda", "gamma"]
    }
    fn start(&self) -> Vec<f64> {
        vec![0.88, 2.25, 0.65]
    }
    fn valid(&self, t: &[f64]) -> bool {
        // w is increasing in p only for γ above about 0.279 (Ingersoll 2008).
        (0.05..=3.0).contains(&t[0])
            && (0.05..=20.0).contains(&t[1])
            && (0.28..=3.0).contains(&t[2])
    }
    fn value(&self, t: &[f64], o: &Prospect) -> f64 {
        Self::cpt_value(o, t[0], t[1], t[2])
    }
    fn check(&self, problems: &[Problem]) -> Result<()> {
        no_delays(self.name(), problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighting_and_values_match_closed_forms() {
        // w(0.5) at γ = 0.61: 0.5^0.61 / (2 · 0.5^0.61)^{1/0.61}, by hand.
        let h = 0.5f64.powf(0.61);
        assert!((tk_weight(0.5, 0.61) - h / (2.0 * h).powf(1.0 / 0.61)).abs() < 1e-15);
        // Published shape (TK 1992, Fig. 3): small probabilities overweighted, large
        // ones underweighted; w(0.5) ≈ 0.42.
        assert!((tk_weight(0.5, 0.61) - 0.421).abs() < 1e-3);
        assert!(tk_weight(0.05, 0.61) > 0.05 && tk_weight(0.9, 0.61) < 0.9);
        assert_eq!(tk_weight(0.3, 1.0), 0.3);
        // A sure outcome: V = v(x).
        let s = Prospect::sure(-20.0);
        assert!(
            (ProspectTheory::cpt_value(&s, 0.88, 2.25, 0.61) + 2.25 * 20f64.powf(0.88)).abs()
                < 1e-12
        );
        // A mixed 50/50 gamble on ±100: V = w(.5)·100^α − λ w(.5)·100^α < 0 (loss aversion).
        let g = Prospect::lottery(vec![100.0, -100.0], vec![0.5, 0.5]);
        let w = tk_weight(0.5, 0.61);
        let want = w * 100f64.powf(0.88) * (1.0 - 2.25);
        assert!((ProspectTheory::cpt_value(&g, 0.88, 2.25, 0.61) - want).abs() < 1e-9);
        // Two gains: the best gets w(p1), the next w(p1 + p2) − w(p1).
        let two = Prospect::lottery(vec![10.0, 50.0, 0.0], vec![0.3, 0.2, 0.5]);
        let want = tk_weight(0.2, 0.61) * 50f64.powf(0.88)
            + (tk_weight(0.5, 0.61) - tk_weight(0.2, 0.61)) * 10f64.powf(0.88);
        assert!((ProspectTheory::cpt_value(&two, 0.88, 2.25, 0.61) - want).abs() < 1e-9);
        // With α = γ = λ = 1 it is expected value.
        assert!(
            (ProspectTheory::cpt_value(&two, 1.0, 1.0, 1.0) - two.expected_value()).abs() < 1e-12
        );
    }
}
