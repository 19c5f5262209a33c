//! Self-play for the minimax winner (paper 20, Swamy et al., "A Minimaximalist Approach
//! to RLHF", SPO), tabular form.
//!
//! The game is symmetric, so instead of dueling two policies, one policy plays against
//! itself: the reward of a response is the **proportion of wins** against the policy's
//! own samples, `r_t(y) = P(y ≻ π_t)` (estimated from sampled votes under
//! [`super::Feedback::Votes`], exactly otherwise), and any no-regret learner fed these
//! rewards has an average iterate that approaches the minimax winner at the rate of its
//! regret, `O(1/√T)`. The learner here is follow-the-regularized-leader with entropy
//! (Hedge) and an anytime step:
//!
//! `π_{t+1}(y) ∝ π_0(y) exp(η_t Σ_{s ≤ t} r_s(y))`, `η_t = η / √(t + 1)`,
//!
//! and the output is the average `π̄_T = (1/T) Σ_{t=1..T} π_t`. Paper 20 writes the
//! reward as the win proportion and uses policy-gradient learners; `η` is ours.
//! One query per iteration.

use serde::{Deserialize, Serialize};

use super::inpo::Average;
use super::measure::softmax_into;
use super::nash_md::check_tau_eta;
use super::{GameSolver, Iterate, Oracle, check_finite, logs};
use crate::Result;

/// Self-play (SPO) settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelfPlayConfig {
    /// Base step `η` of the anytime schedule `η/√(t+1)` (default 1).
    pub eta: f64,
    /// Output the average (default) or the last iterate; both are supported. Paper 20's
    /// guarantee is on the **average** of the self-play iterates (a minimax winner up to
    /// the learner's average regret), the iterate to use on intransitive games; its
    /// practical algorithm returns the policy of its RL learner, the **last** iterate,
    /// which has no such guarantee but settles on a Condorcet winner when there is one.
    pub iterate: Iterate,
}

impl Default for SelfPlayConfig {
    fn default() -> Self {
        Self {
            eta: 1.0,
            iterate: Iterate::Average,
        }
    }
}

impl SelfPlayConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// `η ≤ 0` or not finite.
    pub fn validate(&self) -> Result<()> {
        check_tau_eta("selfplay", 0.0, self.eta)
    }
}

/// A running self-play.
pub struct SelfPlay {
    cfg: SelfPlayConfig,
    log_init: Vec<f64>,
    cumulative: Vec<f64>,
    theta: Vec<f64>,
    pi: Vec<f64>,
    r: Vec<f64>,
    avg: Average,
    t: usize,
}

impl SelfPlay {
    /// Starts at `init`.
    pub fn new(cfg: &SelfPlayConfig, init: &[f64]) -> Self {
        let n = init.len();
        Self {
            cfg: *cfg,
            log_init: logs(init),
            cumulative: vec![0.0; n],
            theta: vec![0.0; n],
            pi: init.to_vec(),
            r: vec![0.0; n],
            avg: Average::new(init),
            t: 0,
        }
    }
}

impl GameSolver for SelfPlay {
    fn step(&mut self, oracle: &mut Oracle<'_>) -> Result<()> {
        oracle.win_rates(&self.pi, &mut self.r);
        self.t += 1;
        let eta = self.cfg.eta / (self.t as f64 + 1.0).sqrt();
        for (c, r) in self.cumulative.iter_mut().zip(&self.r) {
            // Centre the reward: the constant ½ does not change the policy, and keeps the
            // cumulative sums small.
            *c += r - 0.5;
        }
        for ((t, &l0), &c) in self
            .theta
            .iter_mut()
            .zip(&self.log_init)
            .zip(&self.cumulative)
        {
            *t = l0 + eta * c;
        }
        softmax_into(&self.theta, &mut self.pi);
        check_finite("selfplay's policy", &self.pi, eta)?;
        self.avg.add(&self.pi);
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
    use crate::game::exact::nash_lp;
    use crate::game::{Feedback, Game, Method, PrefMatrix, SolveOptions, solve};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn average_approaches_the_minimax_winner_at_the_no_regret_rate() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let game = Game::new(PrefMatrix::from_upper(10, |_, _| rng.random::<f64>()).unwrap());
        let lp = nash_lp(game.matrix()).unwrap();
        assert!(lp.value > 0.5 - 1e-9);
        let opts = SolveOptions {
            iterations: 20_000,
            record_every: 100,
            ..Default::default()
        };
        let tr = solve(&game, &Method::SelfPlay(SelfPlayConfig::default()), &opts).unwrap();
        let at = |t: usize| {
            tr.points
                .iter()
                .find(|p| p.iter == t)
                .unwrap()
                .exploitability
        };
        // Hedge regret ≤ c √T: exploitability of the average ≤ c/√T. Loosely: below 0.02
        // at the end, and 100x more iterations gain at least 3x (√100 = 10 in theory).
        assert!(at(20_000) < 0.02, "{}", at(20_000));
        assert!(at(20_000) < at(200) / 3.0, "{} -> {}", at(200), at(20_000));
    }

    #[test]
    fn sampled_win_proportions_still_find_the_condorcet_winner() {
        // Transitive preferences: item 3 beats everyone, so it is the minimax winner.
        let r: [f64; 4] = [0.0, 0.5, 1.5, 1.0];
        let game =
            Game::new(PrefMatrix::from_upper(4, |i, j| 1.0 / (1.0 + (r[j] - r[i]).exp())).unwrap());
        let opts = SolveOptions {
            iterations: 3000,
            feedback: Feedback::Votes { votes: 8 },
            seed: 5,
            ..Default::default()
        };
        let tr = solve(
            &game,
            &Method::SelfPlay(SelfPlayConfig {
                iterate: Iterate::Last,
                ..Default::default()
            }),
            &opts,
        )
        .unwrap();
        assert!(tr.policy[2] > 0.95, "{:?}", tr.policy);
    }
}
