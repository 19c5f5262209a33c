//! Exponential discounting (Samuelson 1937): V = e^{−r t} · Σ p x, the time-consistent
//! discounter; `r` is the discount rate per unit of delay (hBayesDM `dd_exp`).
//! Start: r = 0.01.

use serde::{Deserialize, Serialize};

use super::Valuation;
use crate::problem::Prospect;

/// Exponential discounting (no settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exponential {}

impl Valuation for Exponential {
    fn name(&self) -> &'static str {
        "exponential"
    }
    fn params(&self) -> &'static [&'static str] {
        &["r"]
    }
    fn start(&self) -> Vec<f64> {
        vec![0.01]
    }
    fn valid(&self, t: &[f64]) -> bool {
        t[0] >= 0.0 && t[0].is_finite()
    }
    fn value(&self, t: &[f64], o: &Prospect) -> f64 {
        (-t[0] * o.delay).exp() * o.expected_value()
    }
}
