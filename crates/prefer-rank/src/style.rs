//! Style control: Bradley-Terry with covariates, so ratings are adjusted for what a vote
//! also reflects (answer length, markdown) rather than quality alone — Chatbot Arena's
//! "style control" (LMSYS 2024).
//!
//! P(a beats b) = σ(θ_a − θ_b + βᵀx), with x the vote's covariates. For a style statistic
//! with values s_a, s_b the covariate is the normalized difference (s_a − s_b) /
//! (s_a + s_b + 1), then (by default) standardized to mean 0 and unit variance over the
//! votes, as FastChat does. A tie counts half a win each way (two half-weighted rows,
//! the second with the sides and covariates flipped). The fit is per vote (covariates
//! differ vote to vote), by Newton's method on (θ, β) with the last θ held at 0.
//!
//! Reported: the adjusted ratings (Elo scale, centered at `init`) and β, one coefficient
//! per covariate, in log-odds per standard deviation of the covariate.

use serde::{Deserialize, Serialize};

use crate::bt::{Scale, to_ratings};
use crate::error::{Error, Result};
use crate::linalg::Matrix;
use crate::newton;
use crate::pairwise::{log_sigmoid, sigmoid};
use crate::votes::{Outcome, PairCounts, Vote, check_identifiable};

/// Style-controlled Bradley-Terry settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StyleConfig {
    /// The rating scale.
    pub scale: Scale,
    /// Standardize each covariate over the votes (default true, as FastChat).
    pub standardize: bool,
    /// Prior precision on θ and β (default 0).
    pub l2: f64,
    /// Tolerance on the largest Newton step (1e-10).
    pub tol: f64,
    /// Iteration limit (200).
    pub max_iter: usize,
}

impl Default for StyleConfig {
    fn default() -> Self {
        Self {
            scale: Scale::default(),
            standardize: true,
            l2: 0.0,
            tol: 1e-10,
            max_iter: 200,
        }
    }
}

/// The normalized difference (a − b) / (a + b + 1) of a style statistic.
pub fn normalized_difference(a: f64, b: f64) -> f64 {
    (a - b) / (a + b + 1.0)
}

/// The result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StyleFit {
    /// Adjusted ratings.
    pub ratings: Vec<f64>,
    /// Covariate coefficients β (log-odds per unit of the, possibly standardized,
    /// covariate).
    pub coefficients: Vec<f64>,
    /// Means and standard deviations used to standardize (identity when off).
    pub standardization: Vec<(f64, f64)>,
    /// Log-likelihood.
    pub log_likelihood: f64,
}

/// Fits Bradley-Terry with covariates: `covariates[v]` belongs to `votes[v]`.
///
/// # Errors
/// Mismatched lengths, non-finite covariates, a disconnected graph, no convergence.
pub fn fit(
    n: usize,
    names: &[String],
    votes: &[Vote],
    covariates: &[Vec<f64>],
    cfg: &StyleConfig,
) -> Result<StyleFit> {
    cfg.scale.validate()?;
    if votes.len() != covariates.len() {
        return Err(Error::Invalid(format!(
            "{} votes but {} covariate rows",
            votes.len(),
            covariates.len()
        )));
    }
    let k = covariates.first().map_or(0, Vec::len);
    for (v, row) in covariates.iter().enumerate() {
        if row.len() != k {
            return Err(Error::Invalid(format!(
                "vote {v}: {} covariates, expected {k}",
                row.len()
            )));
        }
        if let Some(c) = row.iter().position(|x| !x.is_finite()) {
            return Err(Error::Invalid(format!(
                "vote {v}: covariate {c} is not a finite number"
            )));
        }
    }
    let counts = PairCounts::from_votes(n, votes.iter().copied());
    check_identifiable(&counts, names)?;
    let mut standardization = vec![(0.0, 1.0); k];
    if cfg.standardize && !votes.is_empty() {
        for c in 0..k {
            let m = covariates.iter().map(|r| r[c]).sum::<f64>() / votes.len() as f64;
            let var =
                covariates.iter().map(|r| (r[c] - m).powi(2)).sum::<f64>() / votes.len() as f64;
            let sd = var.sqrt();
            standardization[c] = (m, if sd > 0.0 { sd } else { 1.0 });
        }
    }
    let x = |v: usize, c: usize| (covariates[v][c] - standardization[c].0) / standardization[c].1;
    // Parameters: θ_0..θ_{n-2} (θ_{n-1} = 0), then β.
    let free_theta = n - 1;
    let dim = free_theta + k;
    let params = vec![0.0; dim];
    let theta_of = |p: &[f64], i: usize| if i < free_theta { p[i] } else { 0.0 };
    // Rows: (a, b, x-sign, weight, outcome as win for a).
    let eval = |p: &[f64], hess: bool| -> (f64, Vec<f64>, Option<Matrix>) {
        let mut ll = 0.0;
        let mut g = vec![0.0; dim];
        let mut h = hess.then(|| Matrix::zeros(dim));
        for (v, vote) in votes.iter().enumerate() {
            let (a, b) = (vote.a as usize, vote.b as usize);
            let mut z = theta_of(p, a) - theta_of(p, b);
            for c in 0..k {
                z += p[free_theta + c] * x(v, c);
            }
            // y = share of the vote won by a: 1, 0, or 1/2 (two half rows combine to
            // y = 1/2 with the same linear predictor).
            let y = match vote.outcome {
                Outcome::Win => 1.0,
                Outcome::Loss => 0.0,
                Outcome::Tie => 0.5,
            };
            ll += y * log_sigmoid(z) + (1.0 - y) * log_sigmoid(-z);
            let s = sigmoid(z);
            let r = y - s;
            let w = s * (1.0 - s);
            // Sparse gradient: +1 on a, −1 on b, x on β.
            let mut idx: Vec<(usize, f64)> = Vec::with_capacity(2 + k);
            if a < free_theta {
                idx.push((a, 1.0));
            }
            if b < free_theta {
                idx.push((b, -1.0));
            }
            for c in 0..k {
                idx.push((free_theta + c, x(v, c)));
            }
            for &(i, xi) in &idx {
                g[i] += r * xi;
            }
            if let Some(h) = h.as_mut() {
                for &(i, xi) in &idx {
                    for &(j, xj) in &idx {
                        h.add(i, j, -w * xi * xj);
                    }
                }
            }
        }
        let mut value = ll;
        if cfg.l2 > 0.0 {
            for i in 0..dim {
                value -= 0.5 * cfg.l2 * p[i] * p[i];
                g[i] -= cfg.l2 * p[i];
                if let Some(h) = h.as_mut() {
                    h.add(i, i, -cfg.l2);
                }
            }
        }
        (value, g, h)
    };
    let params = newton::maximize(
        params,
        |p| {
            let (value, grad, hess) = eval(p, true);
            newton::Eval {
                value,
                grad,
                hess: hess.unwrap_or_else(|| Matrix::zeros(dim)),
            }
        },
        |_| true,
        newton::Stop {
            tol: cfg.tol,
            max_iter: cfg.max_iter,
        },
    )
    .map_err(|e| {
        Error::Numeric(format!(
            "style control: {e}; an item that won or lost every vote needs a prior (--l2)"
        ))
    })?
    .x;
    let theta: Vec<f64> = (0..n).map(|i| theta_of(&params, i)).collect();
    let mean = theta.iter().sum::<f64>() / n as f64;
    let centered: Vec<f64> = theta.iter().map(|t| t - mean).collect();
    let (ll, _, _) = {
        let (v, g, h) = eval(&params, false);
        (v, g, h)
    };
    Ok(StyleFit {
        ratings: to_ratings(&centered, cfg.scale.factor(), cfg.scale.init, None),
        coefficients: params[free_theta..].to_vec(),
        standardization,
        log_likelihood: ll,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn recovers_ratings_and_a_length_effect() {
        // Four models; true log-strengths; the longer answer gets +0.8 log-odds per unit
        // of normalized length difference. Model 3 writes much longer answers, so plain BT
        // overrates it; style control recovers the truth.
        let truth = [0.6, 0.2, -0.2, -0.6];
        let length = [100.0, 100.0, 100.0, 400.0];
        let beta = 0.8;
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (mut votes, mut cov) = (Vec::new(), Vec::new());
        for _ in 0..40_000 {
            let a = rng.random_range(0..4usize);
            let mut b = rng.random_range(0..4usize);
            while b == a {
                b = rng.random_range(0..4usize);
            }
            let la = length[a] * rng.random_range(0.5..1.5);
            let lb = length[b] * rng.random_range(0.5..1.5);
            let xd = normalized_difference(la, lb);
            let p = sigmoid(truth[a] - truth[b] + beta * xd);
            let outcome = if rng.random::<f64>() < p {
                Outcome::Win
            } else {
                Outcome::Loss
            };
            votes.push(Vote {
                a: a as u32,
                b: b as u32,
                outcome,
            });
            cov.push(vec![xd]);
        }
        let names: Vec<String> = (0..4).map(|i| format!("m{i}")).collect();
        let cfg = StyleConfig {
            standardize: false,
            ..Default::default()
        };
        let f = fit(4, &names, &votes, &cov, &cfg).unwrap();
        assert!(
            (f.coefficients[0] - beta).abs() < 0.1,
            "{:?}",
            f.coefficients
        );
        let k = cfg.scale.factor();
        let mean_t = truth.iter().sum::<f64>() / 4.0;
        for (i, t) in truth.iter().enumerate() {
            let want = 1000.0 + k * (t - mean_t);
            assert!(
                (f.ratings[i] - want).abs() < 15.0,
                "{i}: {} vs {want}",
                f.ratings[i]
            );
        }
        // Plain BT (no covariate) overrates the verbose model.
        let plain = crate::bt::fit(
            &PairCounts::from_votes(4, votes.iter().copied()),
            &names,
            &Default::default(),
        )
        .unwrap();
        assert!(
            plain.ratings[3] > f.ratings[3] + 20.0,
            "{} vs {}",
            plain.ratings[3],
            f.ratings[3]
        );
    }
}
