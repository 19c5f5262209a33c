//! Expected utility with constant relative risk aversion (Arrow 1965; Pratt 1964):
//!
//! u(x) = ((w + x)^{1−ρ} − 1) / (1 − ρ)  (ln(w + x) at ρ = 1),  V = Σ p u(x)
//!
//! ρ > 0 is risk averse, ρ = 0 risk neutral (u is then x up to a constant), ρ < 0 risk
//! seeking. `wealth` w (default 0) is added to every outcome, so losses can be valued
//! when w exceeds them. Start: ρ = 0.3.

use serde::{Deserialize, Serialize};

use super::{Valuation, no_delays, record_name};
use crate::error::{Error, Result};
use crate::problem::{Problem, Prospect};

/// CRRA expected utility.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Crra {
    /// Background wealth w added to each outcome (default 0).
    pub wealth: f64,
}

impl Default for Crra {
    fn default() -> Self {
        Self { wealth: 0.0 }
    }
}

/// u(y) = (y^{1−ρ} − 1) / (1 − ρ) for y = w + x ≥ 0, through ρ = 1 without a jump.
pub fn crra_utility(y: f64, rho: f64) -> f64 {
    let a = 1.0 - rho;
    if y == 0.0 {
        return if a > 0.0 { -1.0 / a } else { f64::NEG_INFINITY };
    }
    let l = y.ln();
    if a.abs() < 1e-9 {
        l
    } else {
        (a * l).exp_m1() / a
    }
}

impl Valuation for Crra {
    fn name(&self) -> &'static str {
        "crra"
    }
    fn params(&self) -> &'static [&'static str] {
        &["rho"]
    }
    fn start(&self) -> Vec<f64> {
        vec![0.3]
    }
    fn valid(&self, t: &[f64]) -> bool {
        t[0].is_finite() && t[0].abs() < 20.0
    }
    fn value(&self, t: &[f64], o: &Prospect) -> f64 {
        o.outcomes
            .iter()
            .zip(&o.probs)
            .filter(|(_, p)| **p > 0.0)
            .map(|(x, p)| p * crra_utility(self.wealth + x, t[0]))
            .sum()
    }
    fn check(&self, problems: &[Problem]) -> Result<()> {
        if !self.wealth.is_finite() {
            return Err(Error::Config(format!(
                "crra wealth {} is not finite",
                self.wealth
            )));
        }
        no_delays(self.name(), problems)?;
        for (i, p) in problems.iter().enumerate() {
            for (k, o) in p.options.iter().enumerate() {
                if let Some(x) = o.outcomes.iter().find(|x| self.wealth + **x < 0.0) {
                    return Err(Error::Invalid(format!(
                        "{}: options[{k}] has outcome {x} below −wealth ({}); CRRA needs wealth + outcome >= 0 (set wealth, or fit prospect theory for losses)",
                        record_name(i, p),
                        self.wealth
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utility_is_continuous_through_log_utility_and_matches_closed_forms() {
        // ρ = 0: u = y − 1; ρ = 2: u = 1 − 1/y; ρ = 1: ln y; ρ = 0.5: 2(√y − 1).
        assert!((crra_utility(7.0, 0.0) - 6.0).abs() < 1e-12);
        assert!((crra_utility(4.0, 2.0) - 0.75).abs() < 1e-12);
        assert!((crra_utility(9.0, 0.5) - 4.0).abs() < 1e-12);
        assert!((crra_utility(5.0, 1.0) - 5f64.ln()).abs() < 1e-12);
        assert!((crra_utility(5.0, 1.0 + 1e-7) - 5f64.ln()).abs() < 1e-6);
        // A risk averter (ρ > 0) values a 50/50 gamble on 0 or 100 below its expected 50.
        let m = Crra { wealth: 10.0 };
        let g = Prospect::lottery(vec![0.0, 100.0], vec![0.5, 0.5]);
        let s = Prospect::sure(50.0);
        assert!(m.value(&[0.5], &g) < m.value(&[0.5], &s));
        assert!(m.value(&[-0.5], &g) > m.value(&[-0.5], &s));
    }
}
