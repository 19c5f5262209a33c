//! Maximum-likelihood fits of a [`Valuation`] under the softmax choice rule, with
//! standard errors from the observed information, Wald intervals, AIC and BIC, and
//! held-out log-likelihood for model comparison.
//!
//! log L(θ, φ) = Σ_problems Σ_i n_i log P_i,  P_i = softmax(φ V(θ, option_i))
//!
//! The theories' values are nonlinear in θ (prospect theory's weighting), so derivatives
//! are central differences of log L on a scaled grid (each coordinate divided by its
//! starting magnitude); Newton's method with backtracking ([`prefer_rank::newton`])
//! climbs from the theory's start and from a few perturbed starts (the likelihood of
//! prospect theory is not concave), keeping the best. The covariance is the inverse of
//! −∇² log L at the maximum; BIC = k ln n − 2 log L with n the number of choices.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use prefer_rank::linalg::{Matrix, spd_inverse};
use prefer_rank::newton::{Eval, Stop, maximize};

use crate::error::{Error, Result};
use crate::models::{Model, Valuation};
use crate::problem::Problem;

/// Fit settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// Newton stops when no scaled coordinate moves more than this (default 1e-7).
    pub tol: f64,
    /// Newton iteration limit per start (default 200).
    pub max_iter: usize,
    /// Extra starts, perturbed from the theory's start, for theories with parameters
    /// besides φ (default 4).
    pub restarts: usize,
    /// Confidence level of the intervals (default 0.95).
    pub level: f64,
    /// Seed of the perturbations (default 0).
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            tol: 1e-7,
            max_iter: 200,
            restarts: 4,
            level: 0.95,
            seed: 0,
        }
    }
}

impl FitConfig {
    /// Checks the ranges.
    ///
    /// # Errors
    /// A setting out of range, named.
    pub fn validate(&self) -> Result<()> {
        if !(self.tol > 0.0) {
            return Err(Error::Config(format!("tol must be > 0, got {}", self.tol)));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::Config(format!(
                "level must be in (0, 1), got {}",
                self.level
            )));
        }
        if self.max_iter == 0 {
            return Err(Error::Config("max_iter must be >= 1".into()));
        }
        Ok(())
    }
}

/// One fitted parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Its name (`phi` is the choice sensitivity).
    pub name: String,
    /// The maximum-likelihood value.
    pub value: f64,
    /// Its standard error (observed information).
    pub std_error: f64,
    /// Lower end of the Wald interval.
    pub lower: f64,
    /// Upper end of the Wald interval.
    pub upper: f64,
}

/// A fitted theory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    /// The theory.
    pub model: String,
    /// Its parameters, then `phi`.
    pub estimates: Vec<Estimate>,
    /// The parameter vector (theory's parameters, then φ), for [`log_likelihood`].
    pub theta: Vec<f64>,
    /// log L at the maximum.
    pub log_likelihood: f64,
    /// Number of choices n (sum of counts).
    pub n_choices: f64,
    /// Number of parameters k (including φ).
    pub n_params: usize,
    /// 2k − 2 log L.
    pub aic: f64,
    /// k ln n − 2 log L.
    pub bic: f64,
}

impl Fit {
    /// The estimate named `name`.
    pub fn get(&self, name: &str) -> Option<&Estimate> {
        self.estimates.iter().find(|e| e.name == name)
    }
}

/// P(each option) in one problem under `theta` (the theory's parameters, then φ).
pub fn choice_probs(v: &dyn Valuation, theta: &[f64], p: &Problem) -> Vec<f64> {
    let (t, phi) = theta.split_at(theta.len() - 1);
    let z: Vec<f64> = p.options.iter().map(|o| phi[0] * v.value(t, o)).collect();
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|x| (x - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// log L of the problems under `theta` (the theory's parameters, then φ).
pub fn log_likelihood(v: &dyn Valuation, theta: &[f64], problems: &[Problem]) -> f64 {
    let (t, phi) = theta.split_at(theta.len() - 1);
    let mut ll = 0.0;
    for p in problems {
        let z: Vec<f64> = p.options.iter().map(|o| phi[0] * v.value(t, o)).collect();
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
        for (zi, n) in z.iter().zip(&p.counts) {
            if *n > 0.0 {
                ll += n * (zi - lse);
            }
        }
    }
    ll
}

// The steps h[i] index alongside the point and the Hessian.
#[allow(clippy::needless_range_loop)]
/// Central-difference value, gradient and Hessian of `f` at `x`, shrinking the step
/// where it would leave the domain. `None` when no step stays inside.
fn derivatives(
    f: &dyn Fn(&[f64]) -> f64,
    valid: &dyn Fn(&[f64]) -> bool,
    x: &[f64],
) -> Option<Eval> {
    let n = x.len();
    let f0 = f(x);
    if !f0.is_finite() {
        return None;
    }
    // Step 1e-4 on the scaled grid: truncation O(h²) ≈ 1e-8 relative, rounding
    // ε|f|/h² ≈ 1e-8 |f| — both well below the standard errors we report.
    let mut h = vec![1e-4; n];
    let at = |d: &[(usize, f64)]| {
        let mut y = x.to_vec();
        for &(i, s) in d {
            y[i] += s;
        }
        y
    };
    for i in 0..n {
        let mut tries = 0;
        while !(valid(&at(&[(i, h[i])])) && valid(&at(&[(i, -h[i])]))) {
            h[i] *= 0.25;
            tries += 1;
            if tries > 8 {
                return None;
            }
        }
    }
    let mut grad = vec![0.0; n];
    let mut hess = Matrix::zeros(n);
    for i in 0..n {
        let fp = f(&at(&[(i, h[i])]));
        let fm = f(&at(&[(i, -h[i])]));
        grad[i] = (fp - fm) / (2.0 * h[i]);
        hess.set(i, i, (fp - 2.0 * f0 + fm) / (h[i] * h[i]));
        for j in 0..i {
            let d = |si: f64, sj: f64| f(&at(&[(i, si * h[i]), (j, sj * h[j])]));
            let v =
                (d(1.0, 1.0) - d(1.0, -1.0) - d(-1.0, 1.0) + d(-1.0, -1.0)) / (4.0 * h[i] * h[j]);
            hess.set(i, j, v);
            hess.set(j, i, v);
        }
    }
    if grad.iter().chain(&hess.data).any(|v| !v.is_finite()) {
        return None;
    }
    Some(Eval {
        value: f0,
        grad,
        hess,
    })
}

/// A φ that makes the typical value gap worth one logit at `theta`.
fn phi_start(v: &dyn Valuation, theta: &[f64], problems: &[Problem]) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for p in problems {
        let vals: Vec<f64> = p.options.iter().map(|o| v.value(theta, o)).collect();
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        if (hi - lo).is_finite() {
            sum += hi - lo;
            n += 1.0;
        }
    }
    let gap = if n > 0.0 { sum / n } else { 0.0 };
    if gap > 0.0 { 1.0 / gap } else { 1.0 }
}

/// Fits `model` to `problems` by maximum likelihood.
///
/// # Errors
/// No problems or choices, a problem the theory cannot value, no convergence from any
/// start, or a singular information matrix (a parameter the data do not identify).
pub fn fit(model: &Model, problems: &[Problem], cfg: &FitConfig) -> Result<Fit> {
    cfg.validate()?;
    let v = model.valuation();
    if problems.is_empty() {
        return Err(Error::Invalid("no choice problems to fit".into()));
    }
    v.check(problems)?;
    let n_choices: f64 = problems.iter().map(Problem::total).sum();
    let base = v.start();
    let mut starts = vec![base.clone()];
    if !base.is_empty() {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut tries = 0;
        while starts.len() <= cfg.restarts && tries < 100 * (cfg.restarts + 1) {
            tries += 1;
            let s: Vec<f64> = base
                .iter()
                .map(|x| {
                    let m: f64 = rng.random_range(-0.7..0.7);
                    if *x == 0.0 { m } else { x * m.exp() }
                })
                .collect();
            if v.valid(&s) {
                starts.push(s);
            }
        }
    }
    let mut best: Option<(Vec<f64>, f64)> = None;
    let mut last_err = None;
    for s in starts {
        let mut x0 = s.clone();
        x0.push(phi_start(v, &s, problems));
        let scale: Vec<f64> = x0
            .iter()
            .map(|x| if *x == 0.0 { 1.0 } else { x.abs() })
            .collect();
        let unscale =
            |u: &[f64]| -> Vec<f64> { u.iter().zip(&scale).map(|(a, s)| a * s).collect() };
        let valid = |u: &[f64]| {
            let th = unscale(u);
            let (t, phi) = th.split_at(th.len() - 1);
            phi[0] > 0.0 && phi[0].is_finite() && v.valid(t)
        };
        let f = |u: &[f64]| log_likelihood(v, &unscale(u), problems);
        let eval = |u: &[f64]| {
            derivatives(&f, &valid, u).unwrap_or_else(|| Eval {
                value: f64::NAN,
                grad: vec![0.0; u.len()],
                hess: Matrix::zeros(u.len()),
            })
        };
        let u0 = vec![1.0; x0.len()];
        let r = maximize(
            u0,
            eval,
            valid,
            Stop {
                tol: cfg.tol,
                max_iter: cfg.max_iter,
            },
        );
        match r {
            Ok(m) => {
                let th = unscale(&m.x);
                let ll = log_likelihood(v, &th, problems);
                if best.as_ref().is_none_or(|(_, b)| ll > *b) {
                    best = Some((th, ll));
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((theta, ll)) = best else {
        return Err(Error::Numeric(format!(
            "{}: the fit did not converge from any start ({})",
            v.name(),
            last_err.map(|e| e.to_string()).unwrap_or_default()
        )));
    };
    let estimates = standard_errors(v, &theta, problems, cfg.level)?;
    let k = theta.len();
    Ok(Fit {
        model: v.name().into(),
        estimates,
        theta,
        log_likelihood: ll,
        n_choices,
        n_params: k,
        aic: 2.0 * k as f64 - 2.0 * ll,
        bic: k as f64 * n_choices.ln() - 2.0 * ll,
    })
}

fn standard_errors(
    v: &dyn Valuation,
    theta: &[f64],
    problems: &[Problem],
    level: f64,
) -> Result<Vec<Estimate>> {
    let scale: Vec<f64> = theta
        .iter()
        .map(|x| if *x == 0.0 { 1.0 } else { x.abs() })
        .collect();
    let unscale = |u: &[f64]| -> Vec<f64> { u.iter().zip(&scale).map(|(a, s)| a * s).collect() };
    let valid = |u: &[f64]| {
        let th = unscale(u);
        let (t, phi) = th.split_at(th.len() - 1);
        phi[0] > 0.0 && v.valid(t)
    };
    let f = |u: &[f64]| log_likelihood(v, &unscale(u), problems);
    let e = derivatives(&f, &valid, &vec![1.0; theta.len()]).ok_or_else(|| {
        let names = v.params().iter().copied().chain(["phi"]);
        let at: Vec<String> = names.zip(theta).map(|(n, x)| format!("{n}={x:.3e}")).collect();
        Error::Numeric(format!(
            "{}: the maximum is on the edge of the parameter domain ({}); a sensitivity phi near 0 means the choices barely depend on the options' values",
            v.name(),
            at.join(", ")
        ))
    })?;
    let mut info = e.hess;
    info.data.iter_mut().for_each(|x| *x = -*x);
    let cov = spd_inverse(&info).ok_or_else(|| {
        Error::Numeric(format!(
            "{}: the information matrix is singular at the maximum: the data do not identify every parameter (e.g. no mixed gambles for loss aversion)",
            v.name()
        ))
    })?;
    let names = v.params().iter().copied().chain(["phi"]);
    Ok(names
        .enumerate()
        .map(|(i, name)| {
            let se = cov.get(i, i).sqrt() * scale[i];
            let (lower, upper) = prefer_rank::intervals::normal_interval(theta[i], se, level);
            Estimate {
                name: name.into(),
                value: theta[i],
                std_error: se,
                lower,
                upper,
            }
        })
        .collect())
}

/// One theory's row in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The fit on the training problems.
    pub fit: Fit,
    /// log L of the held-out problems under the training fit.
    pub test_log_likelihood: f64,
    /// Held-out log L per held-out choice.
    pub test_log_likelihood_per_choice: f64,
    /// Share of held-out choices that went to the option the fit rates most probable.
    pub test_accuracy: f64,
}

/// Fits each theory on `train` and scores it on `test`. Theories that cannot value the
/// data (a risky theory on delayed options) are reported as errors, not skipped.
///
/// # Errors
/// The first theory that fails, named.
pub fn compare(
    models: &[Model],
    train: &[Problem],
    test: &[Problem],
    cfg: &FitConfig,
) -> Result<Vec<Comparison>> {
    let n_test: f64 = test.iter().map(Problem::total).sum();
    models
        .iter()
        .map(|m| {
            let fit = fit(m, train, cfg)?;
            let v = m.valuation();
            let tll = log_likelihood(v, &fit.theta, test);
            let mut hit = 0.0;
            for p in test {
                let probs = choice_probs(v, &fit.theta, p);
                let best = probs
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                hit += p.counts[best];
            }
            Ok(Comparison {
                fit,
                test_log_likelihood: tll,
                test_log_likelihood_per_choice: if n_test > 0.0 { tll / n_test } else { f64::NAN },
                test_accuracy: if n_test > 0.0 { hit / n_test } else { f64::NAN },
            })
        })
        .collect()
}

/// Splits problems into (train, test) with `test_fraction` of them held out, shuffled by
/// `seed`.
pub fn split(problems: &[Problem], test_fraction: f64, seed: u64) -> (Vec<Problem>, Vec<Problem>) {
    let mut idx: Vec<usize> = (0..problems.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in (1..idx.len()).rev() {
        let j = rng.random_range(0..=i);
        idx.swap(i, j);
    }
    let n_test = ((problems.len() as f64) * test_fraction.clamp(0.0, 1.0)).round() as usize;
    let test = idx[..n_test].iter().map(|&i| problems[i].clone()).collect();
    let train = idx[n_test..].iter().map(|&i| problems[i].clone()).collect();
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Crra, ExpectedValue, Exponential, Hyperbolic, ProspectTheory};
    use crate::problem::Prospect;
    use crate::simulate::{intertemporal_design, risky_design, simulate};

    #[test]
    fn one_binary_problem_has_a_closed_form_maximum_and_standard_error() {
        // EV model, one problem with value gap Δ = 20 chosen a of n times:
        // φ̂ = logit(a/n)/Δ and Var φ̂ = 1/(n p (1−p) Δ²).
        let p = Problem {
            id: None,
            group: None,
            options: vec![
                Prospect::lottery(vec![100.0, 0.0], vec![0.5, 0.5]),
                Prospect::sure(30.0),
            ],
            counts: vec![70.0, 30.0],
        };
        let f = fit(
            &Model::ExpectedValue(ExpectedValue {}),
            &[p],
            &FitConfig::default(),
        )
        .unwrap();
        let (q, n, d) = (0.7f64, 100.0, 20.0);
        let phi = (q / (1.0 - q)).ln() / d;
        let se = (1.0 / (n * q * (1.0 - q) * d * d)).sqrt();
        let e = f.get("phi").unwrap();
        assert!((e.value - phi).abs() < 1e-7, "{} vs {phi}", e.value);
        // Finite-difference information: agree to 1e-5 relative.
        assert!(
            (e.std_error - se).abs() < 1e-5 * se,
            "{} vs {se}",
            e.std_error
        );
        let ll = 70.0 * q.ln() + 30.0 * (1.0 - q).ln();
        assert!((f.log_likelihood - ll).abs() < 1e-9);
        assert!((f.bic - (100f64.ln() - 2.0 * ll)).abs() < 1e-9);
    }

    /// Fits 30 data sets simulated at `truth` and checks each parameter's interval
    /// coverage and z-score spread: a calibrated MLE covers 95% and has z ~ N(0, 1).
    fn recovery(model: &Model, truth: &[f64], problems: usize, per_problem: usize) {
        let cfg = crate::study::RecoveryConfig {
            reps: 30,
            problems,
            per_problem,
            seed: 0,
        };
        for r in crate::study::recovery(model, truth, &cfg, &FitConfig::default()).unwrap() {
            // Binomial(30, 0.95): fewer than 24 covered has probability ~0.1%.
            assert!(r.coverage >= 0.8, "{r:?}");
            // Mean of 30 N(0,1) has sd 0.18; the sample sd of 30 lies in (0.6, 1.45) w.p. > 99.9%.
            assert!(r.z_mean.abs() < 0.65, "{r:?}");
            assert!(r.z_sd > 0.6 && r.z_sd < 1.45, "{r:?}");
        }
    }

    #[test]
    fn expected_value_and_crra_parameters_are_recovered_within_their_intervals() {
        recovery(&Model::ExpectedValue(ExpectedValue {}), &[0.08], 150, 4);
        // CRRA needs outcomes >= −wealth: its design is over gains only.
        recovery(&Model::Crra(Crra::default()), &[0.4, 1.5], 100, 6);
    }

    #[test]
    fn prospect_theory_parameters_are_recovered_within_their_intervals() {
        // Tversky and Kahneman's (1992) estimates, with γ between their gain and loss values.
        recovery(
            &Model::ProspectTheory(ProspectTheory {}),
            &[0.88, 2.25, 0.65, 0.15],
            300,
            8,
        );
    }

    #[test]
    fn discount_rates_are_recovered_within_their_intervals() {
        recovery(&Model::Exponential(Exponential {}), &[0.01, 0.15], 200, 5);
        recovery(&Model::Hyperbolic(Hyperbolic {}), &[0.03, 0.15], 200, 5);
    }

    #[test]
    fn held_out_likelihood_and_bic_pick_the_generating_theory() {
        let cfg = FitConfig::default();
        // Hyperbolic choosers: hyperbolic beats exponential out of sample and by BIC.
        let hyp = Model::Hyperbolic(Hyperbolic {});
        let data = simulate(
            hyp.valuation(),
            &[0.05, 0.2],
            &intertemporal_design(400, 7),
            5,
            8,
        );
        let (train, test) = split(&data, 0.3, 9);
        let c = compare(
            &[Model::Exponential(Exponential {}), hyp],
            &train,
            &test,
            &cfg,
        )
        .unwrap();
        assert!(c[1].test_log_likelihood > c[0].test_log_likelihood);
        assert!(c[1].fit.bic < c[0].fit.bic);
        // Prospect-theory choosers: PT beats EV and CRRA-free EV out of sample.
        let pt = Model::ProspectTheory(ProspectTheory {});
        let data = simulate(
            pt.valuation(),
            &[0.88, 2.25, 0.65, 0.15],
            &risky_design(600, 3),
            5,
            4,
        );
        let (train, test) = split(&data, 0.3, 5);
        let c = compare(
            &[Model::ExpectedValue(ExpectedValue {}), pt.clone()],
            &train,
            &test,
            &cfg,
        )
        .unwrap();
        assert!(
            c[1].test_log_likelihood > c[0].test_log_likelihood + 10.0,
            "{c:#?}"
        );
        assert!(c[1].test_accuracy > c[0].test_accuracy);
        // Expected-value choosers: PT nests EV (α = λ = γ = 1), so it fits at least as
        // well in sample, but BIC charges its three extra parameters and prefers EV.
        let ev = Model::ExpectedValue(ExpectedValue {});
        let data = simulate(ev.valuation(), &[0.1], &risky_design(300, 11), 4, 12);
        let fe = fit(&ev, &data, &cfg).unwrap();
        let fp = fit(&pt, &data, &cfg).unwrap();
        assert!(fp.log_likelihood >= fe.log_likelihood - 1e-6);
        assert!(fe.bic < fp.bic);
        // And the likelihood-ratio test of the nested EV does not reject it: 2 ΔlogL is
        // χ²(3) under EV, whose 99.9% quantile is 16.27.
        let lr = 2.0 * (fp.log_likelihood - fe.log_likelihood);
        assert!(lr < 16.27, "LR {lr}: {fp:#?}");
    }

    #[test]
    fn theories_refuse_data_they_cannot_value() {
        let delayed = simulate(
            &Hyperbolic {},
            &[0.05, 0.2],
            &intertemporal_design(10, 1),
            1,
            1,
        );
        let e = fit(
            &Model::ProspectTheory(ProspectTheory {}),
            &delayed,
            &FitConfig::default(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("record") && e.to_string().contains("delay"),
            "{e}"
        );
        let losses = simulate(&ExpectedValue {}, &[0.1], &risky_design(3, 1), 1, 1);
        let e = fit(
            &Model::Crra(Crra::default()),
            &losses,
            &FitConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("wealth"), "{e}");
        let e = fit(&Model::Crra(Crra::default()), &[], &FitConfig::default()).unwrap_err();
        assert!(e.to_string().contains("no choice problems"), "{e}");
    }
}
