//! Expected value: V = Σ p_i x_i. The benchmark of rational risky choice that paper 71
//! finds language models assume people follow. No parameters besides φ.

use serde::{Deserialize, Serialize};

use super::{Valuation, no_delays};
use crate::error::Result;
use crate::problem::{Problem, Prospect};

/// Expected value (no settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedValue {}

impl Valuation for ExpectedValue {
    fn name(&self) -> &'static str {
        "expected_value"
    }
    fn params(&self) -> &'static [&'static str] {
        &[]
    }
    fn start(&self) -> Vec<f64> {
        Vec::new()
    }
    fn valid(&self, _theta: &[f64]) -> bool {
        true
    }
    fn value(&self, _theta: &[f64], o: &Prospect) -> f64 {
        o.expected_value()
    }
    fn check(&self, problems: &[Problem]) -> Result<()> {
        no_delays(self.name(), problems)
    }
}
