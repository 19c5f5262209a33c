//! Valuations: what an option is worth to a chooser, by theory. Each file is one theory
//! with the same shape: a config struct (its fixed settings, serde, `Default`), the
//! parameter names, a starting point, the domain, and the value of a [`Prospect`].
//!
//! Every valuation plugs into the same choice rule (softmax, Luce 1959; McFadden 1974):
//!
//! P(option i) = exp(φ V_i) / Σ_j exp(φ V_j)
//!
//! with sensitivity φ > 0 (an inverse temperature, `beta` in hBayesDM's delay-discounting
//! models and `tau` in its `ra_prospect`), fitted with the theory's own parameters by
//! [`crate::fit`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::problem::{Problem, Prospect};

mod crra;
mod ev;
mod exponential;
mod hyperbolic;
mod prospect;

pub use crra::{Crra, crra_utility};
pub use ev::ExpectedValue;
pub use exponential::Exponential;
pub use hyperbolic::Hyperbolic;
pub use prospect::{ProspectTheory, tk_value, tk_weight};

/// A theory of what an option is worth.
pub trait Valuation: Sync {
    /// The theory's name, as the CLI and reports write it.
    fn name(&self) -> &'static str;
    /// Its parameters (without the sensitivity φ), in the order of `theta`.
    fn params(&self) -> &'static [&'static str];
    /// A starting point for the fit (also the usual published values).
    fn start(&self) -> Vec<f64>;
    /// Whether `theta` is inside the parameter domain.
    fn valid(&self, theta: &[f64]) -> bool;
    /// The value of one option.
    fn value(&self, theta: &[f64], option: &Prospect) -> f64;
    /// Whether the theory can value these problems (e.g. risky-choice theories take no
    /// delays); the error names the record.
    ///
    /// # Errors
    /// A problem the theory cannot value.
    fn check(&self, _problems: &[Problem]) -> Result<()> {
        Ok(())
    }
}

/// The theories, for configs and the CLI: `{"type": "prospect_theory"}` and so on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Model {
    /// Expected value.
    ExpectedValue(ExpectedValue),
    /// Expected utility with constant relative risk aversion.
    Crra(Crra),
    /// Cumulative prospect theory (Tversky and Kahneman 1992).
    ProspectTheory(ProspectTheory),
    /// Exponential discounting of expected value.
    Exponential(Exponential),
    /// Hyperbolic discounting of expected value.
    Hyperbolic(Hyperbolic),
}

impl Model {
    /// The theory behind the variant.
    pub fn valuation(&self) -> &dyn Valuation {
        match self {
            Model::ExpectedValue(m) => m,
            Model::Crra(m) => m,
            Model::ProspectTheory(m) => m,
            Model::Exponential(m) => m,
            Model::Hyperbolic(m) => m,
        }
    }

    /// Every theory with default settings.
    pub fn all() -> Vec<Model> {
        vec![
            Model::ExpectedValue(ExpectedValue::default()),
            Model::Crra(Crra::default()),
            Model::ProspectTheory(ProspectTheory::default()),
            Model::Exponential(Exponential::default()),
            Model::Hyperbolic(Hyperbolic::default()),
        ]
    }

    /// The theory named `name` (`ev`, `crra`, `prospect`, `exponential`, `hyperbolic`,
    /// or the full snake-case names), with default settings.
    ///
    /// # Errors
    /// An unknown name, listing the known ones.
    pub fn by_name(name: &str) -> Result<Model> {
        let m = match name {
            "ev" | "expected_value" => Model::ExpectedValue(ExpectedValue::default()),
            "crra" | "eu" | "expected_utility" => Model::Crra(Crra::default()),
            "pt" | "prospect" | "prospect_theory" | "cpt" => {
                Model::ProspectTheory(ProspectTheory::default())
            }
            "exponential" | "exp" => Model::Exponential(Exponential::default()),
            "hyperbolic" | "hyp" => Model::Hyperbolic(Hyperbolic::default()),
            other => {
                return Err(Error::Config(format!(
                    "unknown choice model `{other}` (expected ev, crra, prospect, exponential or hyperbolic)"
                )));
            }
        };
        Ok(m)
    }
}

/// Names of a record for messages: its id, or its position.
pub(crate) fn record_name(i: usize, p: &Problem) -> String {
    match &p.id {
        Some(id) => format!("record {} (id {id})", i + 1),
        None => format!("record {}", i + 1),
    }
}

/// Risky-choice theories value lotteries paid now: a delay would be silently ignored.
pub(crate) fn no_delays(name: &str, problems: &[Problem]) -> Result<()> {
    for (i, p) in problems.iter().enumerate() {
        if let Some(k) = p.options.iter().position(|o| o.delay != 0.0) {
            return Err(Error::Invalid(format!(
                "{}: options[{k}].delay is {}, but {name} values risk only (fit a discounting model: exponential or hyperbolic)",
                record_name(i, p),
                p.options[k].delay
            )));
        }
    }
    Ok(())
}
