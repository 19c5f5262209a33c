//! Maximum likelihood for pairwise-comparison models on aggregated counts: the Newton
//! solver shared by Bradley-Terry (any tie model) and Thurstone.
//!
//! A model gives, for a pair with strength difference d = θ_i − θ_j and an optional
//! scalar tie parameter τ, the log-probability of each outcome (i wins, j wins, tie) and
//! its first and second derivatives in (d, τ). The solver sums them over the counts,
//! subtracts an optional Gaussian prior (λ/2)‖θ‖², and runs Newton's method with
//! backtracking until the largest step is below the tolerance. Without a prior the
//! strengths are defined up to a constant: the last item is held at 0 while solving and
//! the result is centered.

use crate::error::Result;
use crate::linalg::{Matrix, spd_inverse};
use crate::newton;
use crate::votes::PairCounts;

/// Log-probability of one outcome and its derivatives with respect to (d, τ).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutcomeTerms {
    /// log P(outcome)
    pub ll: f64,
    /// ∂/∂d
    pub gd: f64,
    /// ∂/∂τ
    pub gt: f64,
    /// ∂²/∂d²
    pub hdd: f64,
    /// ∂²/∂d∂τ
    pub hdt: f64,
    /// ∂²/∂τ²
    pub htt: f64,
}

/// A pairwise-comparison likelihood.
pub trait PairModel: Sync {
    /// The terms of (i wins, j wins, tie) at difference `d` and tie parameter `tau`.
    fn terms(&self, d: f64, tau: f64) -> [OutcomeTerms; 3];
    /// The tie parameter's starting value, or `None` when the model has none.
    fn tau_init(&self) -> Option<f64>;
    /// Whether `tau` is inside the parameter space.
    fn tau_valid(&self, _tau: f64) -> bool {
        true
    }
}

/// Solver settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SolverConfig {
    /// Prior precision λ on each strength (0: plain maximum likelihood).
    pub l2: f64,
    /// Stop when the largest Newton step is below this.
    pub tol: f64,
    /// Iteration limit.
    pub max_iter: usize,
    /// Report errors relative to this item instead of the mean.
    pub anchor: Option<usize>,
    /// Compute the standard errors (costs an O(n³) inverse; bootstrap rounds skip it).
    pub std_errors: bool,
    /// Starting strengths (e.g. the full-data fit, for bootstrap rounds); zeros if
    /// `None`.
    pub init: Option<Vec<f64>>,
}

/// The solution.
#[derive(Debug, Clone, PartialEq)]
pub struct PairwiseFit {
    /// Strengths, centered at mean 0.
    pub theta: Vec<f64>,
    /// The tie parameter τ at the optimum.
    pub tau: Option<f64>,
    /// Log-likelihood (without the prior).
    pub log_likelihood: f64,
    /// Newton iterations.
    pub iterations: usize,
    /// The largest component of the last step.
    pub last_step: f64,
    /// Standard errors of θ_i minus the reference (mean, or the anchor), from the observed
    /// information; empty unless asked for.
    pub std_errors: Vec<f64>,
    /// Robust (sandwich, Huber-White) standard errors of the same.
    pub sandwich_std_errors: Vec<f64>,
}

/// The logistic function σ(x).
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// ln σ(x), stable for large |x|.
#[inline]
pub fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

struct Objective {
    value: f64,
    ll: f64,
    grad: Vec<f64>,
    hess: Matrix,
}

/// Value, gradient and Hessian of the penalized log-likelihood over the full parameter
/// vector (n strengths, then τ when the model has one).
fn evaluate<M: PairModel + ?Sized>(
    counts: &PairCounts,
    model: &M,
    theta: &[f64],
    tau: Option<f64>,
    l2: f64,
) -> Objective {
    let n = counts.n;
    let dim = n + usize::from(tau.is_some());
    let mut grad = vec![0.0; dim];
    let mut hess = Matrix::zeros(dim);
    let mut ll = 0.0;
    let t = tau.unwrap_or(0.0);
    for c in &counts.cells {
        let (i, j) = (c.i as usize, c.j as usize);
        let terms = model.terms(theta[i] - theta[j], t);
        let w = [c.wins_i, c.wins_j, c.ties];
        let mut acc = OutcomeTerms::default();
        for (k, term) in terms.iter().enumerate() {
            if w[k] == 0.0 {
                continue;
            }
            acc.ll += w[k] * term.ll;
            acc.gd += w[k] * term.gd;
            acc.gt += w[k] * term.gt;
            acc.hdd += w[k] * term.hdd;
            acc.hdt += w[k] * term.hdt;
            acc.htt += w[k] * term.htt;
        }
        ll += acc.ll;
        grad[i] += acc.gd;
        grad[j] -= acc.gd;
        hess.add(i, i, acc.hdd);
        hess.add(j, j, acc.hdd);
        hess.add(i, j, -acc.hdd);
        hess.add(j, i, -acc.hdd);
        if tau.is_some() {
            grad[n] += acc.gt;
            hess.add(n, n, acc.htt);
            hess.add(i, n, acc.hdt);
            hess.add(n, i, acc.hdt);
            hess.add(j, n, -acc.hdt);
            hess.add(n, j, -acc.hdt);
        }
    }
    let mut value = ll;
    if l2 > 0.0 {
        for i in 0..n {
            value -= 0.5 * l2 * theta[i] * theta[i];
            grad[i] -= l2 * theta[i];
            hess.add(i, i, -l2);
        }
    }
    Objective {
        value,
        ll,
        grad,
        hess,
    }
}

/// Fits `model` to `counts` by Newton's method. The caller has checked identifiability.
///
/// # Errors
/// A singular system or no convergence within `max_iter`.
pub fn fit<M: PairModel + ?Sized>(
    counts: &PairCounts,
    model: &M,
    cfg: &SolverConfig,
) -> Result<PairwiseFit> {
    let n = counts.n;
    let mut theta = match &cfg.init {
        Some(t) if t.len() == n && t.iter().all(|x| x.is_finite()) => {
            // Shift so the held (last) item is at 0.
            let last = if cfg.l2 == 0.0 { t[n - 1] } else { 0.0 };
            t.iter().map(|x| x - last).collect()
        }
        _ => vec![0.0; n],
    };
    let mut tau = model.tau_init();
    let reduced = cfg.l2 == 0.0;
    let free: Vec<usize> = {
        let mut f: Vec<usize> = (0..n - usize::from(reduced)).collect();
        if tau.is_some() {
            f.push(n);
        }
        f
    };
    // Solve in the free coordinates x; `unpack` maps them to (θ, τ).
    let unpack = |x: &[f64]| -> (Vec<f64>, Option<f64>) {
        let mut th = vec![0.0; n];
        let mut ta = None;
        for (a, &fa) in free.iter().enumerate() {
            if fa < n {
                th[fa] = x[a];
            } else {
                ta = Some(x[a]);
            }
        }
        (th, ta)
    };
    let x0: Vec<f64> = free
        .iter()
        .map(|&f| if f < n { theta[f] } else { tau.unwrap_or(0.0) })
        .collect();
    let max = newton::maximize(
        x0,
        |x| {
            let (th, ta) = unpack(x);
            let o = evaluate(counts, model, &th, ta, cfg.l2);
            let mut hess = Matrix::zeros(free.len());
            for (a, &fa) in free.iter().enumerate() {
                for (b, &fb) in free.iter().enumerate() {
                    hess.set(a, b, o.hess.get(fa, fb));
                }
            }
            newton::Eval {
                value: o.value,
                grad: free.iter().map(|&f| o.grad[f]).collect(),
                hess,
            }
        },
        |x| unpack(x).1.is_none_or(|t| model.tau_valid(t)),
        newton::Stop {
            tol: cfg.tol,
            max_iter: cfg.max_iter,
        },
    )?;
    let (theta_new, tau_new) = unpack(&max.x);
    theta = theta_new;
    tau = tau_new;
    let obj = evaluate(counts, model, &theta, tau, cfg.l2);
    let (iterations, last_step) = (max.iterations, max.last_step);
    let (std_errors, sandwich_std_errors) = if cfg.std_errors {
        standard_errors(counts, model, &theta, tau, cfg.l2, &free, cfg.anchor)
    } else {
        (Vec::new(), Vec::new())
    };
    let mean = theta.iter().sum::<f64>() / n as f64;
    Ok(PairwiseFit {
        theta: theta.iter().map(|t| t - mean).collect(),
        tau,
        log_likelihood: obj.ll,
        iterations,
        last_step,
        std_errors,
        sandwich_std_errors,
    })
}

/// Standard errors of the strengths relative to their mean (or the anchor): model-based
/// from the observed information, and robust (sandwich) from the per-vote scores.
fn standard_errors<M: PairModel + ?Sized>(
    counts: &PairCounts,
    model: &M,
    theta: &[f64],
    tau: Option<f64>,
    l2: f64,
    free: &[usize],
    anchor: Option<usize>,
) -> (Vec<f64>, Vec<f64>) {
    let n = counts.n;
    let k = free.len();
    let obj = evaluate(counts, model, theta, tau, l2);
    let mut info = Matrix::zeros(k);
    for a in 0..k {
        for b in 0..k {
            info.set(a, b, -obj.hess.get(free[a], free[b]));
        }
    }
    // The sandwich's meat: the sum over votes of score outer products; the votes of one
    // cell with one outcome share one score.
    let pos: Vec<Option<usize>> = (0..=n).map(|p| free.iter().position(|&f| f == p)).collect();
    let mut meat = Matrix::zeros(k);
    let t = tau.unwrap_or(0.0);
    for c in &counts.cells {
        let (i, j) = (c.i as usize, c.j as usize);
        let terms = model.terms(theta[i] - theta[j], t);
        for (w, term) in [c.wins_i, c.wins_j, c.ties].iter().zip(terms) {
            if *w == 0.0 {
                continue;
            }
            let mut g: Vec<(usize, f64)> = Vec::with_capacity(3);
            if let Some(p) = pos[i] {
                g.push((p, term.gd));
            }
            if let Some(p) = pos[j] {
                g.push((p, -term.gd));
            }
            if tau.is_some()
                && let Some(p) = pos[n]
            {
                g.push((p, term.gt));
            }
            for &(a, ga) in &g {
                for &(b, gb) in &g {
                    meat.add(a, b, w * ga * gb);
                }
            }
        }
    }
    let Some(cov) = spd_inverse(&info) else {
        return (vec![f64::NAN; n], vec![f64::NAN; n]);
    };
    let robust = cov.mul(&meat).mul(&cov);
    // The reported value is θ_i − wᵀθ with w = 1/n (centered) or e_anchor:
    // Var = C_ii − 2 (C w)_i + wᵀ C w, C the strengths' covariance (the held item is 0).
    let project = |cov: &Matrix| -> Vec<f64> {
        let mut full = vec![0.0; n * n];
        for a in 0..k {
            for b in 0..k {
                if free[a] < n && free[b] < n {
                    full[free[a] * n + free[b]] = cov.get(a, b);
                }
            }
        }
        let weights: Vec<f64> = match anchor {
            Some(a) => (0..n).map(|i| if i == a { 1.0 } else { 0.0 }).collect(),
            None => vec![1.0 / n as f64; n],
        };
        let cw: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| full[i * n + j] * weights[j]).sum())
            .collect();
        let wcw: f64 = (0..n).map(|i| weights[i] * cw[i]).sum();
        (0..n)
            .map(|i| (full[i * n + i] - 2.0 * cw[i] + wcw).max(0.0).sqrt())
            .collect()
    };
    (project(&cov), project(&robust))
}

/// Finite-difference check helper for tests of models: the objective's value and
/// gradient at a point.
#[cfg(test)]
pub(crate) fn value_and_grad<M: PairModel>(
    counts: &PairCounts,
    model: &M,
    theta: &[f64],
    tau: Option<f64>,
) -> (f64, Vec<f64>, Matrix) {
    let o = evaluate(counts, model, theta, tau, 0.0);
    (o.value, o.grad, o.hess)
}
