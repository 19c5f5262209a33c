//! INPO, iterative Nash policy optimization (paper 48, Zhang et al.), tabular form.
//!
//! No-regret self-play: online mirror descent (multiplicative weights with a pull toward
//! the reference) on the KL-regularized game, each step a best reply to the current
//! policy's win rates:
//!
//! `π_{t+1}(y) ∝ π_t(y)^{1−ητ} μ(y)^{ητ} exp(η P(y ≻ π_t))`.
//!
//! The regularized equilibrium `π*_τ ∝ μ exp(P π*_τ/τ)` is a fixed point for every `η`
//! (unlike Nash-MD's, whose fixed point moves with `η`). The update is a no-regret
//! algorithm, so the **average** iterate approaches the equilibrium at `O(1/√T)` with
//! `η ∝ 1/√T`; with `τ > 0` the game is strongly monotone and for small `η` the last
//! iterate contracts toward `π*_τ` too (the magnetic-mirror-descent analysis), slower
//! than EGPO's guarantee allows. With `τ = 0` it is multiplicative weights and its last
//! iterate cycles on intransitive games. Paper 48 trains this update through a loss on
//! preference pairs; here it is applied exactly. One query per iteration.

use serde::{Deserialize, Serialize};

use super::measure::softmax_into;
use super::nash_md::check_tau_eta;
use super::{GameSolver, Iterate, Oracle, check_finite, logs, md_step};
use crate::Result;

/// INPO settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InpoConfig {
    /// Regularization `τ` (paper 48's `τ`; default 0.1).
    pub tau: f64,
    /// Learning rate `η` (paper 48's `η`; default 0.5). `ητ` must be at most 1.
    pub eta: f64,
    /// Output the last iterate (default) or the average; both are supported. Paper 48's
    /// analysis is of a no-regret learner, whose **average** `(1/t) Σ π_s` approaches the
    /// equilibrium of the game it plays (`π*_τ`, or the Nash equilibrium at `τ = 0`);
    /// with `τ > 0` its **last** iterate converges to `π*_τ` as well (the regularized game
    /// is strongly monotone), and it is what the paper's algorithm outputs. At `τ = 0` the
    /// last iterate cycles on intransitive games: use the average there.
    pub iterate: Iterate,
}

impl Default for InpoConfig {
    fn default() -> Self {
        Self {
            tau: 0.1,
            eta: 0.5,
            iterate: Iterate::Last,
        }
    }
}

impl InpoConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// `τ < 0`, `η ≤ 0`, non-finite values, or `ητ > 1`.
    pub fn validate(&self) -> Result<()> {
        check_tau_eta("inpo", self.tau, self.eta)
    }
}

/// A running average of policies.
pub(crate) struct Average {
    sum: Vec<f64>,
    mean: Vec<f64>,
    count: usize,
}

impl Average {
    pub(crate) fn new(init: &[f64]) -> Self {
        Self {
            sum: vec![0.0; init.len()],
            mean: init.to_vec(),
            count: 0,
        }
    }

    pub(crate) fn add(&mut self, pi: &[f64]) {
        self.count += 1;
        let k = self.count as f64;
        for ((s, m), p) in self.sum.iter_mut().zip(&mut self.mean).zip(pi) {
            *s += p;
            *m = *s / k;
        }
    }

    pub(crate) fn mean(&self) -> &[f64] {
        &self.mean
    }
}

/// A running INPO.
pub struct Inpo {
    cfg: InpoConfig,
    log_mu: Vec<f64>,
    theta: Vec<f64>,
    next: Vec<f64>,
    pi: Vec<f64>,
    w: Vec<f64>,
    avg: Average,
}

impl Inpo {
    /// Starts at `init` with reference `mu`.
    pub fn new(cfg: &InpoConfig, mu: &[f64], init: &[f64]) -> Self {
        Self {
            cfg: *cfg,
            log_mu: logs(mu),
            theta: logs(init),
            next: vec![0.0; mu.len()],
            pi: init.to_vec(),
            w: vec![0.0; mu.len()],
            avg: Average::new(init),
        }
    }
}

impl GameSolver for Inpo {
    fn step(&mut self, oracle: &mut Oracle<'_>) -> Result<()> {
        oracle.win_rates(&self.pi, &mut self.w);
        md_step(
            &self.theta,
            &self.log_mu,
            &self.w,
            self.cfg.eta,
            self.cfg.tau,
            &mut self.next,
        );
        std::mem::swap(&mut self.theta, &mut self.next);
        softmax_into(&self.theta, &mut self.pi);
        check_finite("inpo's policy", &self.pi, self.cfg.eta)?;
        if self.cfg.iterate == Iterate::Average {
            self.avg.add(&self.pi);
        }
        Ok(())
    }

    fn policy(&self) -> &[f64] {
        match self.cfg.iterate {
            Iterate::Last => &self.pi,
            Iterate::Average => self.avg.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::exact::regularized_equilibrium;
    use crate::game::{Game, Method, PrefMatrix, SolveOptions, solve};

    #[test]
    fn converges_to_the_regularized_equilibrium_of_a_hand_solved_game() {
        // Generalized rock-paper-scissors with margins a, b, c: the skew part
        // [[0, a, −b], [−a, 0, c], [b, −c, 0]] has the equilibrium ∝ (c, b, a).
        let (a, b, c) = (0.1, 0.3, 0.4);
        let p = PrefMatrix::from_rows(
            &[
                vec![0.5, 0.5 + a, 0.5 - b],
                vec![0.5 - a, 0.5, 0.5 + c],
                vec![0.5 + b, 0.5 - c, 0.5],
            ],
            None,
            1e-12,
        )
        .unwrap();
        let game = Game::new(p);
        // With μ at the unregularized equilibrium, P π = ½ there, so it is also π*_τ
        // for every τ (the fixed point π ∝ μ exp(Pπ/τ) holds).
        let s = a + b + c;
        let eq = vec![c / s, b / s, a / s];
        let check = regularized_equilibrium(game.matrix(), 0.2, &eq, 1e-14, 100_000).unwrap();
        assert!(crate::game::measure::l1(&check, &eq) < 1e-9);
        let opts = SolveOptions {
            iterations: 4000,
            reference: Some(eq.clone()),
            init: Some(vec![0.7, 0.2, 0.1]),
            ..Default::default()
        };
        let tr = solve(
            &game,
            &Method::Inpo(InpoConfig {
                tau: 0.2,
                eta: 0.5,
                ..Default::default()
            }),
            &opts,
        )
        .unwrap();
        for (got, want) in tr.policy.iter().zip(&eq) {
            // Linear convergence over 4,000 steps of ητ = 0.1: far below this.
            assert!((got - want).abs() < 1e-9, "{:?}", tr.policy);
        }
    }
}
