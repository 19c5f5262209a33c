//! EGPO, extragradient preference optimization (paper 27, Zhou, Fazel & Du), tabular form.
//!
//! Extragradient (mirror-prox) steps on the KL-regularized game
//! `P(π ≻ π') − τ KL(π‖μ) + τ KL(π'‖μ)`: a look-ahead step from `π_t` against `π_t`, then
//! the real step from `π_t` against the look-ahead policy:
//!
//! `π_{t+½}(y) ∝ π_t(y)^{1−ητ} μ(y)^{ητ} exp(η P(y ≻ π_t))`
//!
//! `π_{t+1}(y) ∝ π_t(y)^{1−ητ} μ(y)^{ητ} exp(η P(y ≻ π_{t+½}))`
//!
//! (the game is symmetric, so both players' updates coincide and one policy suffices).
//! The paper (after Cen et al. 2021's policy extragradient) proves last-iterate **linear**
//! convergence to `π*_τ`: `KL(π*_τ‖π_t) ≤ (1 − ητ)^t KL(π*_τ‖π_0)` for step sizes up to
//! [`stable_eta`], and polynomial convergence to the original game's equilibrium by
//! taking `τ` small; with noisy win rates it converges to a neighbourhood that shrinks
//! with the noise. With `τ = 0` it is plain extragradient multiplicative weights, whose
//! last iterate still converges on games with a unique equilibrium, where plain
//! multiplicative weights ([`super::sppo`]) cycles.
//!
//! The paper writes `β` for `τ` and `π_ref` for `μ`. Two win-rate queries per iteration.

use serde::{Deserialize, Serialize};

use super::measure::softmax_into;
use super::nash_md::check_tau_eta;
use super::{GameSolver, Oracle, check_finite, logs, md_step};
use crate::Result;

/// EGPO settings.
///
/// EGPO outputs its **last iterate only**: paper 27's results (linear convergence of
/// `KL(π*_τ‖π_t)`, polynomial convergence to the original game's equilibrium as `τ → 0`)
/// are all on the last iterate, which is the point of extragradient; averaging the
/// iterates would only slow that down. Asking for [`super::Iterate::Average`]
/// ([`super::SolveOptions::iterate`]) is an error naming egpo.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgpoConfig {
    /// Regularization `τ` (paper 27's `β`; default 0.1). 0 solves the original game.
    pub tau: f64,
    /// Step size `η` (default 0.5; at most [`stable_eta`] for the linear guarantee).
    pub eta: f64,
}

impl Default for EgpoConfig {
    fn default() -> Self {
        Self { tau: 0.1, eta: 0.5 }
    }
}

impl EgpoConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// `τ < 0`, `η ≤ 0`, non-finite values, or `ητ > 1`.
    pub fn validate(&self) -> Result<()> {
        check_tau_eta("egpo", self.tau, self.eta)
    }
}

/// The largest step size of the linear-convergence guarantee, `1/(τ + 2‖P − ½‖_max)`
/// (Cen et al. 2021, Theorem 1, with the payoff `P − ½`, which has the same updates as
/// `P` because the constant ½ cancels in the normalization).
pub fn stable_eta(tau: f64, max_skew: f64) -> f64 {
    1.0 / (tau + 2.0 * max_skew.max(f64::MIN_POSITIVE))
}

/// A running EGPO.
pub struct Egpo {
    cfg: EgpoConfig,
    log_mu: Vec<f64>,
    theta: Vec<f64>,
    pi: Vec<f64>,
    theta_half: Vec<f64>,
    pi_half: Vec<f64>,
    w: Vec<f64>,
}

impl Egpo {
    /// Starts at `init` with reference `mu`.
    pub fn new(cfg: &EgpoConfig, mu: &[f64], init: &[f64]) -> Self {
        let n = mu.len();
        Self {
            cfg: *cfg,
            log_mu: logs(mu),
            theta: logs(init),
            pi: init.to_vec(),
            theta_half: vec![0.0; n],
            pi_half: vec![0.0; n],
            w: vec![0.0; n],
        }
    }
}

impl GameSolver for Egpo {
    fn step(&mut self, oracle: &mut Oracle<'_>) -> Result<()> {
        let EgpoConfig { tau, eta } = self.cfg;
        oracle.win_rates(&self.pi, &mut self.w);
        md_step(
            &self.theta,
            &self.log_mu,
            &self.w,
            eta,
            tau,
            &mut self.theta_half,
        );
        softmax_into(&self.theta_half, &mut self.pi_half);
        oracle.win_rates(&self.pi_half, &mut self.w);
        // The real step starts again from θ_t; θ_half is free to hold the result.
        md_step(
            &self.theta,
            &self.log_mu,
            &self.w,
            eta,
            tau,
            &mut self.theta_half,
        );
        std::mem::swap(&mut self.theta, &mut self.theta_half);
        softmax_into(&self.theta, &mut self.pi);
        check_finite("egpo's policy", &self.pi, eta)
    }

    fn policy(&self) -> &[f64] {
        &self.pi
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::exact::{nash_lp, regularized_equilibrium};
    use crate::game::measure::{kl, l1};
    use crate::game::{Game, Method, PrefMatrix, SolveOptions, solve};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Certificate of the reference equilibrium (regularized exploitability).
    const REF_TOL: f64 = 1e-14;
    /// Slack on the contraction bound for round-off in KL values near 1e-12.
    const ROUND_OFF: f64 = 1e-11;

    fn random_game(n: usize, seed: u64) -> Game {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Game::new(PrefMatrix::from_upper(n, |_, _| rng.random::<f64>()).unwrap())
    }

    fn random_policy(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f64> = (0..n).map(|_| (2.0 * rng.random::<f64>()).exp()).collect();
        let s: f64 = v.iter().sum();
        v.iter().map(|x| x / s).collect()
    }

    #[test]
    fn last_iterate_contracts_at_the_papers_linear_rate() {
        for (n, seed) in [(3, 1), (10, 2), (50, 3)] {
            let game = random_game(n, seed);
            let mu = random_policy(n, seed + 100);
            for tau in [0.05, 0.2, 1.0] {
                let eta = stable_eta(tau, game.matrix().max_skew());
                let eq =
                    regularized_equilibrium(game.matrix(), tau, &mu, REF_TOL, 1_000_000).unwrap();
                let init = random_policy(n, seed + 200);
                let kl0 = kl(&eq, &init);
                let opts = SolveOptions {
                    iterations: 400,
                    record_every: 1,
                    reference: Some(mu.clone()),
                    init: Some(init),
                    equilibrium: Some(eq),
                    ..Default::default()
                };
                let tr = solve(&game, &Method::Egpo(EgpoConfig { tau, eta }), &opts).unwrap();
                for p in &tr.points {
                    let bound = (1.0 - eta * tau).powi(p.iter as i32) * kl0 + ROUND_OFF;
                    let k = p.kl_to_equilibrium.unwrap();
                    assert!(k <= bound, "n={n} τ={tau} t={}: {k} > {bound}", p.iter);
                }
            }
        }
    }

    #[test]
    fn unregularized_last_iterate_reaches_the_lp_equilibrium() {
        // A random skew game has a unique equilibrium almost surely.
        for (n, seed) in [(5, 4), (12, 5)] {
            let game = random_game(n, seed);
            let lp = nash_lp(game.matrix()).unwrap();
            let opts = SolveOptions {
                iterations: 60_000,
                ..Default::default()
            };
            let tr = solve(
                &game,
                &Method::Egpo(EgpoConfig { tau: 0.0, eta: 0.5 }),
                &opts,
            )
            .unwrap();
            // Convergence is linear but its rate depends on the game; 1e-4 in L1 is loose.
            assert!(
                l1(&tr.policy, &lp.policy) < 1e-4,
                "n={n}: {:?} vs {:?}",
                tr.policy,
                lp.policy
            );
            assert!(tr.last().unwrap().exploitability < 1e-5);
        }
    }

    #[test]
    fn huge_steps_are_caught() {
        let game = random_game(20, 9);
        let opts = SolveOptions {
            iterations: 2000,
            init: Some(random_policy(20, 1)),
            ..Default::default()
        };
        let r = solve(
            &game,
            &Method::Egpo(EgpoConfig {
                tau: 0.0,
                eta: 200.0,
            }),
            &opts,
        );
        let e = r.unwrap_err().to_string();
        assert!(e.contains("diverges") && e.contains("η ≤"), "{e}");
    }
}
