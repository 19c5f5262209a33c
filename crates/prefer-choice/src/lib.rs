//! # prefer-choice
//!
//! Models of how people, and language models, choose, on plain `f64`: each with its
//! likelihood, a maximum-likelihood fit with standard errors, and simulation from known
//! parameters.
//!
//! | module | what |
//! |---|---|
//! | [`ask`] | the same questions put to a model (any [`ask::Chooser`]), answers as soft counts |
//! | [`introspect`] | self- vs cross-prediction of a model's choices (paper 32) |
//! | [`problem`] | choice problems (lotteries, delays, choices or counts), JSONL with record-level errors |
//! | [`models`] | what an option is worth: expected value, CRRA expected utility, cumulative prospect theory, exponential and hyperbolic discounting |
//! | [`control`] | utility control: a target's utilities as training pairs, and agreement before and after (paper 70) |
//! | [`dilemmas`] | value preferences revealed by dilemmas, per value and per framework dimension (paper 17) |
//! | [`dynamics`] | bounded-confidence value dynamics (Deffuant, Hegselmann-Krause) with an AI's influence; ε and μ fitted to egos (paper 38) |
//! | [`explain`] | which properties drive a preference: Bayesian logistic effects per annotator group (papers 28, 65) |
//! | [`fit`] | softmax choice likelihood, MLE, standard errors, AIC/BIC, held-out comparison |
//! | [`simulate`] | question designs and choices drawn from a theory |
//! | [`study`] | parameter recovery: coverage and z-scores over simulated data sets |
//! | [`thurstonian`] | utilities with a mean and a variance per item from pairwise forced choices (paper 70) |
//! | [`active`] | which pairs to ask next: the paper's active edge sampling |
//! | [`coherence`] | transitivity, expected-utility consistency, held-out fit and its growth |
//!
//! # Quickstart
//!
//! ```
//! use prefer_choice::{fit::{fit, FitConfig}, models::{Model, Valuation}, simulate};
//! let model = Model::by_name("hyperbolic")?;
//! let design = simulate::intertemporal_design(300, 1);
//! // k = 0.05 per day, φ = 0.2 per unit of value.
//! let data = simulate::simulate(model.valuation(), &[0.05, 0.2], &design, 10, 2);
//! let f = fit(&model, &data, &FitConfig::default())?;
//! let k = f.get("k").unwrap();
//! assert!(k.lower < 0.05 && 0.05 < k.upper);
//! # Ok::<(), prefer_choice::Error>(())
//! ```

// Tests unwrap freely: a failure there is the test failing.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]
// Checks are written `!(x > 0.0)` on purpose: NaN must fail them too.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod active;
pub mod ask;
pub mod coherence;
pub mod control;
pub mod dilemmas;
pub mod dynamics;
pub mod error;
pub mod explain;
pub mod fit;
pub mod introspect;
pub mod models;
pub mod problem;
pub mod simulate;
pub mod study;
pub mod thurstonian;

pub use error::{Error, Result};
