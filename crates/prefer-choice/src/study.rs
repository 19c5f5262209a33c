//! Parameter recovery: simulate many data sets from known parameters, fit each, and
//! report per parameter the mean and spread of the estimates, the mean standard error,
//! the coverage of the intervals and the spread of z = (estimate − truth) / SE. A
//! calibrated maximum-likelihood fit has coverage near the nominal level and z close to
//! N(0, 1). `prefer choice recovery` prints this table (see docs/choice.md).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::fit::{FitConfig, fit};
use crate::models::Model;
use crate::simulate::{design_for, simulate};

/// Settings of a recovery study.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryConfig {
    /// Simulated data sets (default 30).
    pub reps: usize,
    /// Problems per data set (default 300).
    pub problems: usize,
    /// Choices per problem (default 5).
    pub per_problem: usize,
    /// Data set r uses design seed `seed + r` and choice seed `seed + 1000 + r`
    /// (default 0).
    pub seed: u64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            reps: 30,
            problems: 300,
            per_problem: 5,
            seed: 0,
        }
    }
}

/// One parameter's recovery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamRecovery {
    /// The theory.
    pub model: String,
    /// The parameter.
    pub name: String,
    /// Its true value.
    pub truth: f64,
    /// Mean of the estimates.
    pub mean: f64,
    /// Standard deviation of the estimates.
    pub sd: f64,
    /// Mean of the standard errors (≈ `sd` when the errors are right).
    pub mean_se: f64,
    /// Share of intervals that hold the truth.
    pub coverage: f64,
    /// Mean of z.
    pub z_mean: f64,
    /// Standard deviation of z.
    pub z_sd: f64,
    /// Data sets fitted.
    pub reps: usize,
}

fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (m, v.sqrt())
}

/// Runs the study for `model` at `truth` (the theory's parameters, then φ).
///
/// # Errors
/// A fit that fails.
pub fn recovery(
    model: &Model,
    truth: &[f64],
    cfg: &RecoveryConfig,
    fit_cfg: &FitConfig,
) -> Result<Vec<ParamRecovery>> {
    let v = model.valuation();
    let k = truth.len();
    let mut est = vec![Vec::new(); k];
    let mut se = vec![Vec::new(); k];
    let mut covered = vec![0usize; k];
    for r in 0..cfg.reps as u64 {
        let design = design_for(model, cfg.problems, cfg.seed + r);
        let data = simulate(v, truth, &design, cfg.per_problem, cfg.seed + 1000 + r);
        let f = fit(model, &data, fit_cfg)?;
        for (i, e) in f.estimates.iter().enumerate().take(k) {
            est[i].push(e.value);
            se[i].push(e.std_error);
            if e.lower <= truth[i] && truth[i] <= e.upper {
                covered[i] += 1;
            }
        }
    }
    let names: Vec<&str> = v.params().iter().copied().chain(["phi"]).collect();
    Ok((0..k)
        .map(|i| {
            let (mean, sd) = mean_sd(&est[i]);
            let z: Vec<f64> = est[i]
                .iter()
                .zip(&se[i])
                .map(|(e, s)| (e - truth[i]) / s)
                .collect();
            let (z_mean, z_sd) = mean_sd(&z);
            ParamRecovery {
                model: v.name().into(),
                name: names[i].into(),
                truth: truth[i],
                mean,
                sd,
                mean_se: se[i].iter().sum::<f64>() / se[i].len().max(1) as f64,
                coverage: covered[i] as f64 / cfg.reps.max(1) as f64,
                z_mean,
                z_sd,
                reps: cfg.reps,
            }
        })
        .collect())
}
