//! Nash-MD (paper 26, Munos et al., "Nash Learning from Human Feedback", tabular Nash-MD).
//!
//! Mirror descent toward the equilibrium `π*_τ` of the KL-regularized game
//! `P(π ≻ π') − τ KL(π‖μ) + τ KL(π'‖μ)`. Each step first pulls the policy toward the
//! reference with the **geometric mixture**
//!
//! `π_t^μ(y) ∝ π_t(y)^{1−η_t τ} μ(y)^{η_t τ}`,
//!
//! then plays one mirror step against that mixture:
//!
//! `π_{t+1} = argmax_π [η_t P(π ≻ π_t^μ) − KL(π‖π_t^μ)]`, i.e.
//! `π_{t+1}(y) ∝ π_t^μ(y) exp(η_t P(y ≻ π_t^μ))`.
//!
//! With a constant `η` the last iterate contracts linearly, at a rate set by `ητ`, into
//! a neighbourhood of `π*_τ` whose size grows with `η/τ` (the paper's Theorem 1 bounds
//! `KL(π*_τ‖π_T)` by a contraction term plus a term linear in `η`, and takes
//! `η ∝ log T/(τ T)` to reach `Õ(1/T)`). [`Schedule::Decreasing`] removes the bias with
//! `η_t = min(η, 2/(τ (t + 2)))`.
//!
//! **Iterates.** Both are supported, chosen with [`super::SolveOptions::iterate`]
//! (default last):
//!
//! - [`Iterate::Last`] is the output of paper 26's algorithm and of its Theorem 1 (last
//!   iterate to `π*_τ`, for `τ > 0`). With `τ = 0` the theorem says nothing: the update is
//!   then plain multiplicative weights, whose last iterate cycles around the equilibrium
//!   of an intransitive game and drifts outward.
//! - [`Iterate::Average`], `π̄_t = (1/t) Σ_{s=1..t} π_s` (of the policies, not of their
//!   logits): with `τ = 0` Nash-MD is online mirror descent with the entropy (Hedge) fed
//!   the rewards `P(y ≻ π_s)`, and since `P(π_s ≻ π_s) = ½` the exploitability of `π̄_t`
//!   is exactly the learner's average regret, at most `ln n/(ηt) + η/8` for a constant
//!   `η` (Hedge's bound for rewards in `[0, 1]`). This is the iterate to use for the
//!   original game. With `τ > 0` the average tends to the last iterate's limit (the mean
//!   of a convergent sequence), more slowly; paper 26's deep-learning variant also
//!   outputs a mixture of past policies.
//!
//! One win-rate query per iteration.

use serde::{Deserialize, Serialize};

use super::inpo::Average;
use super::measure::softmax_into;
use super::{GameSolver, Iterate, Oracle, check_finite, logs};
use crate::{Error, Result};

/// The step-size schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// `η_t = η` (the paper's experiments).
    #[default]
    Constant,
    /// `η_t = min(η, 2/(τ (t + 2)))`: converges to `π*_τ` itself, at `O(1/t)`.
    Decreasing,
}

/// Nash-MD settings.
///
/// The output iterate is not a field here: both are supported (the last, paper 26's, by
/// default; the average, the no-regret guarantee at `τ = 0`; see the module docs) and
/// [`super::SolveOptions::iterate`] picks one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NashMdConfig {
    /// Regularization toward the reference, `τ` in paper 26 (default 0.1). 0 makes
    /// Nash-MD plain multiplicative weights, whose last iterate cycles on intransitive
    /// games (its average converges).
    pub tau: f64,
    /// Learning rate `η` (paper 26's `η_t`; default 0.5). `ητ` must be at most 1.
    pub eta: f64,
    /// Step-size schedule (default constant).
    pub schedule: Schedule,
}

impl Default for NashMdConfig {
    fn default() -> Self {
        Self {
            tau: 0.1,
            eta: 0.5,
            schedule: Schedule::Constant,
        }
    }
}

impl NashMdConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// `τ < 0`, `η ≤ 0`, non-finite values, or `ητ > 1` (the mixture exponent `1 − ητ`
    /// would be negative).
    pub fn validate(&self) -> Result<()> {
        check_tau_eta("nash-md", self.tau, self.eta)
    }

    fn eta_at(&self, t: usize) -> f64 {
        match self.schedule {
            Schedule::Constant => self.eta,
            Schedule::Decreasing if self.tau > 0.0 => {
                self.eta.min(2.0 / (self.tau * (t as f64 + 2.0)))
            }
            Schedule::Decreasing => self.eta / (t as f64 + 1.0).sqrt(),
        }
    }
}

/// Shared checks of a regularization and a step size.
pub(crate) fn check_tau_eta(name: &str, tau: f64, eta: f64) -> Result<()> {
    if !(tau.is_finite() && tau >= 0.0) {
        return Err(Error::Config(format!(
            "{name}: τ must be finite and ≥ 0, not {tau}"
        )));
    }
    if !(eta.is_finite() && eta > 0.0) {
        return Err(Error::Config(format!(
            "{name}: η must be finite and > 0, not {eta}"
        )));
    }
    if eta * tau > 1.0 {
        let show = |x: f64| {
            if (1e-3..1e6).contains(&x.abs()) {
                format!("{x}")
            } else {
                format!("{x:.3e}")
            }
        };
        return Err(Error::Config(format!(
            "{name}: ητ = {} exceeds 1: the step would overshoot the reference (the exponent \
             1 − ητ of the current policy turns negative); use η ≤ {}",
            show(eta * tau),
            show(1.0 / tau)
        )));
    }
    Ok(())
}

/// A running Nash-MD.
pub struct NashMd {
    cfg: NashMdConfig,
    log_mu: Vec<f64>,
    theta: Vec<f64>,
    pi: Vec<f64>,
    mix: Vec<f64>,
    w: Vec<f64>,
    t: usize,
    iterate: Iterate,
    avg: Average,
}

impl NashMd {
    /// Starts at `init` with reference `mu` (both validated distributions), outputting
    /// `iterate`.
    pub fn new(cfg: &NashMdConfig, mu: &[f64], init: &[f64], iterate: Iterate) -> Self {
        let n = mu.len();
        Self {
            cfg: *cfg,
            log_mu: logs(mu),
            theta: logs(init),
            pi: init.to_vec(),
            mix: vec![0.0; n],
            w: vec![0.0; n],
            t: 0,
            iterate,
            avg: Average::new(init),
        }
    }
}

impl GameSolver for NashMd {
    fn step(&mut self, oracle: &mut Oracle<'_>) -> Result<()> {
        let eta = self.cfg.eta_at(self.t);
        let pull = eta * self.cfg.tau;
        // θ ← (1 − ητ) θ + ητ log μ: the logits of the geometric mixture π_t^μ.
        for (t, &lm) in self.theta.iter_mut().zip(&self.log_mu) {
            if pull > 0.0 {
                *t = (1.0 - pull) * *t + pull * lm;
            }
        }
        softmax_into(&self.theta, &mut self.mix);
        oracle.win_rates(&self.mix, &mut self.w);
        let mut m = f64::NEG_INFINITY;
        for (t, &wy) in self.theta.iter_mut().zip(&self.w) {
            *t += eta * wy;
            m = m.max(*t);
        }
        for t in self.theta.iter_mut() {
            *t -= m;
        }
        softmax_into(&self.theta, &mut self.pi);
        self.t += 1;
        check_finite("nash-md's policy", &self.pi, eta)?;
        if self.iterate == Iterate::Average {
            self.avg.add(&self.pi);
        }
        Ok(())
    }

    fn policy(&self) -> &[f64] {
        match self.iterate {
            Iterate::Last => &self.pi,
            Iterate::Average => self.avg.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::exact::regularized_equilibrium;
    use crate::game::measure::kl;
    use crate::game::{Game, Method, PrefMatrix, SolveOptions, solve};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The certificate the reference equilibrium is computed to (regularized
    /// exploitability); its KL error is of the same order.
    const REF_TOL: f64 = 1e-13;

    fn random_game(n: usize, seed: u64) -> Game {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Game::new(PrefMatrix::from_upper(n, |_, _| rng.random::<f64>()).unwrap())
    }

    #[test]
    fn constant_step_stays_within_the_papers_bound_and_the_schedule_removes_the_bias() {
        let game = random_game(8, 3);
        let n = 8;
        let tau = 0.1;
        let mu = vec![1.0 / n as f64; n];
        let eq = regularized_equilibrium(game.matrix(), tau, &mu, REF_TOL, 1_000_000).unwrap();
        let init: Vec<f64> = {
            let mut v: Vec<f64> = (0..n).map(|i| (i as f64 + 1.0).powi(2)).collect();
            let s: f64 = v.iter().sum();
            v.iter_mut().for_each(|x| *x /= s);
            v
        };
        let kl0 = kl(&eq, &init);
        for eta in [0.05, 0.2, 0.5] {
            let cfg = NashMdConfig {
                tau,
                eta,
                schedule: Schedule::Constant,
            };
            let opts = SolveOptions {
                iterations: 3000,
                init: Some(init.clone()),
                equilibrium: Some(eq.clone()),
                ..Default::default()
            };
            let tr = solve(&game, &Method::NashMd(cfg), &opts).unwrap();
            // Paper 26, Theorem 1 (constant η): KL(π*_τ‖π_T) ≤ (1 − ητ)^T KL(π*_τ‖π_0) + 2η/τ.
            for p in &tr.points {
                let bound = (1.0 - eta * tau).powi(p.iter as i32) * kl0 + 2.0 * eta / tau;
                assert!(
                    p.kl_to_equilibrium.unwrap() <= bound,
                    "η={eta} t={}",
                    p.iter
                );
            }
            // And the bias is real: a constant step does not reach π*_τ.
            assert!(
                tr.last().unwrap().kl_to_equilibrium.unwrap() > 1e-8,
                "η={eta}"
            );
        }
        let cfg = NashMdConfig {
            tau,
            eta: 0.5,
            schedule: Schedule::Decreasing,
        };
        let opts = SolveOptions {
            iterations: 20_000,
            init: Some(init),
            equilibrium: Some(eq),
            ..Default::default()
        };
        let tr = solve(&game, &Method::NashMd(cfg), &opts).unwrap();
        let mid = tr
            .points
            .iter()
            .find(|p| p.iter == 2000)
            .unwrap()
            .kl_to_equilibrium
            .unwrap();
        let end = tr.last().unwrap().kl_to_equilibrium.unwrap();
        // O(1/t): ten times the iterations, at least ~5x closer (loosely).
        assert!(end < mid / 5.0, "{mid} -> {end}");
    }

    #[test]
    fn average_is_the_mean_of_the_policies_not_of_the_logits() {
        use crate::game::{Feedback, Oracle};
        let game = random_game(5, 8);
        let n = 5;
        let mu = vec![1.0 / n as f64; n];
        let init = vec![0.4, 0.3, 0.15, 0.1, 0.05];
        let cfg = NashMdConfig {
            tau: 0.0,
            eta: 0.5,
            schedule: Schedule::Constant,
        };
        let mut last = NashMd::new(&cfg, &mu, &init, Iterate::Last);
        let mut avg = NashMd::new(&cfg, &mu, &init, Iterate::Average);
        assert_eq!(avg.policy(), &init[..], "before any step: π_0");
        let mut oracle = Oracle::new(&game, Feedback::Exact, 0);
        let mut sum = vec![0.0; n];
        let mut logit_sum = vec![0.0; n];
        let t = 200;
        for _ in 0..t {
            last.step(&mut oracle).unwrap();
            avg.step(&mut oracle).unwrap();
            for ((s, l), &p) in sum.iter_mut().zip(&mut logit_sum).zip(last.policy()) {
                *s += p;
                *l += p.ln();
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / t as f64).collect();
        // Summing the same numbers in the same order: equal up to the last division.
        for (a, m) in avg.policy().iter().zip(&mean) {
            assert!((a - m).abs() < 1e-15, "{:?} vs {mean:?}", avg.policy());
        }
        // The softmax of the mean logits (a geometric mean) is a different policy here.
        let mut geo = vec![0.0; n];
        softmax_into(&logit_sum, &mut geo);
        assert!(crate::game::measure::l1(&geo, &mean) > 1e-3, "{geo:?}");
    }

    #[test]
    fn rejects_overshooting_steps() {
        let e = NashMdConfig {
            tau: 0.5,
            eta: 3.0,
            schedule: Schedule::Constant,
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("use η ≤ 2"), "{e}");
        assert!(
            NashMdConfig {
                tau: 0.1,
                eta: -1.0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            NashMdConfig {
                tau: f64::NAN,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
