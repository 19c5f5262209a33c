//! Hyperbolic discounting (Mazur 1987): V = Σ p x / (1 + k t), which discounts the near
//! future steeply and the far future little, so preferences reverse as both rewards
//! recede; `k` per unit of delay (hBayesDM `dd_hyperbolic`). Start: k = 0.01.

use serde::{Deserialize, Serialize};

use super::Valuation;
use crate::problem::Prospect;

/// Hyperbolic discounting (no settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hyperbolic {}

impl Valuation for Hyperbolic {
    fn name(&self) -> &'static str {
        "hyperbolic"
    }
    fn params(&self) -> &'static [&'static str] {
        &["k"]
    }
    fn start(&self) -> Vec<f64> {
        vec![0.01]
    }
    fn valid(&self, t: &[f64]) -> bool {
        t[0] >= 0.0 && t[0].is_finite()
    }
    fn value(&self, t: &[f64], o: &Prospect) -> f64 {
        o.expected_value() / (1.0 + t[0] * o.delay)
    }
}
