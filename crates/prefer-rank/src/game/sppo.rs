//! SPPO, self-play preference optimization (paper 29, Wu et al.), tabular form.
//!
//! Multiplicative weights on the win rate against the current policy:
//!
//! `π_{t+1}(y) ∝ π_t(y) exp(η P(y ≻ π_t))`,
//!
//! starting from the reference policy (no explicit KL term: the reference enters as
//! `π_0`). Paper 29 shows the **average** `π̄_T = (1/T) Σ π_t` approaches the Nash
//! equilibrium at `O(1/√T)` with `η ∝ 1/√T` (the no-regret argument); its practical
//! version keeps the last iterate, which on intransitive games cycles around the
//! equilibrium and drifts outward. Paper 29 writes `η` (and `β = 1/η` in its loss).
//! One query per iteration.

use serde::{Deserialize, Serialize};

use super::inpo::Average;
use super::measure::softmax_into;
use super::nash_md::check_tau_eta;
use super::{GameSolver, Iterate, Oracle, check_finite, logs};
use crate::Result;

/// SPPO settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SppoConfig {
    /// Learning rate `η` (paper 29's `η`; default 0.5).
    pub eta: f64,
    /// Output the last iterate (default) or the average; both are supported. Paper 29's
    /// theorem is on the **average** `(1/T) Σ π_t` (an `O(1/√T)`-approximate Nash
    /// equilibrium for `η ∝ 1/√T`), the iterate to use on intransitive games; its
    /// algorithm and experiments output the **last** iterate, which has no such guarantee
    /// (on rock-paper-scissors it spirals outward) but finds a Condorcet winner.
    pub iterate: Iterate,
}

impl Default for SppoConfig {
    fn default() -> Self {
        Self {
            eta: 0.5,
            iterate: Iterate::Last,
        }
    }
}

impl SppoConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// `η ≤ 0` or not finite.
    pub fn validate(&self) -> Result<()> {
        check_tau_eta("sppo", 0.0, self.eta)
    }
}

/// A running SPPO.
pub struct Sppo {
    cfg: SppoConfig,
    theta: Vec<f64>,
    pi: Vec<f64>,
    w: Vec<f64>,
    avg: Average,
}

impl Sppo {
    /// Starts at `init` (the reference policy by default).
    pub fn new(cfg: &SppoConfig, init: &[f64]) -> Self {
        Self {
            cfg: *cfg,
            theta: logs(init),
            pi: init.to_vec(),
            w: vec![0.0; init.len()],
            avg: Average::new(init),
        }
    }
}

impl GameSolver for Sppo {
    fn step(&mut self, oracle: &mut Oracle<'_>) -> Result<()> {
        oracle.win_rates(&self.pi, &mut self.w);
        let mut m = f64::NEG_INFINITY;
        for (t, &wy) in self.theta.iter_mut().zip(&self.w) {
            *t += self.cfg.eta * wy;
            m = m.max(*t);
        }
        for t in self.theta.iter_mut() {
            *t -= m;
        }
        softmax_into(&self.theta, &mut self.pi);
        check_finite("sppo's policy", &self.pi, self.cfg.eta)?;
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
    use crate::game::{Game, Method, PrefMatrix, SolveOptions, solve};

    fn rps() -> Game {
        Game::new(
            PrefMatrix::from_rows(
                &[
                    vec![0.5, 0.0, 1.0],
                    vec![1.0, 0.5, 0.0],
                    vec![0.0, 1.0, 0.5],
                ],
                None,
                0.0,
            )
            .unwrap(),
        )
    }

    #[test]
    fn last_iterate_cycles_on_rock_paper_scissors_but_the_average_converges() {
        // The known behaviour of multiplicative weights on RPS: KL(uniform‖π_t) grows
        // (the last iterate spirals outward), while the average tends to uniform.
        let game = rps();
        let init = vec![0.5, 0.3, 0.2];
        let opts = SolveOptions {
            iterations: 5000,
            init: Some(init),
            ..Default::default()
        };
        let last = solve(
            &game,
            &Method::Sppo(SppoConfig {
                eta: 0.5,
                iterate: Iterate::Last,
            }),
            &opts,
        )
        .unwrap();
        let avg = solve(
            &game,
            &Method::Sppo(SppoConfig {
                eta: 0.05,
                iterate: Iterate::Average,
            }),
            &opts,
        )
        .unwrap();
        let e0 = last.points[0].exploitability;
        let worst_late = last
            .points
            .iter()
            .rev()
            .take(50)
            .map(|p| p.exploitability)
            .fold(0.0, f64::max);
        assert!(
            worst_late > e0,
            "last iterate should not settle: {e0} -> {worst_late}"
        );
        // The average's exploitability shrinks (bounded by regret/T: loosely 0.02 here).
        assert!(
            avg.last().unwrap().exploitability < 0.02,
            "{:?}",
            avg.last()
        );
    }
}
