//! Where solvers get their win rates: exactly from the matrix, or from sampled votes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::Game;
use crate::{Error, Result};

/// How a solver observes `P(y ≻ q)`, the win rate of each response `y` against a policy
/// `q` (usually its own current policy: self-play).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Feedback {
    /// The exact expectation `(P q)_y`.
    #[default]
    Exact,
    /// For every response `y`, `votes` opponents `y' ~ q` are drawn and one vote
    /// `1[y ≻ y'] ~ Bernoulli(P(y ≻ y'))` is cast against each; the win rate is the share
    /// of wins. This is paper 20's "proportion of wins against the policy's own samples",
    /// and the noisy-gradient setting of paper 27. Unbiased, with variance ≤ 1/(4 votes).
    Votes {
        /// Opponents (and votes) per response and per query.
        votes: usize,
    },
}

impl Feedback {
    /// Checks the settings.
    ///
    /// # Errors
    /// `votes == 0`.
    pub fn validate(&self) -> Result<()> {
        match self {
            Feedback::Exact => Ok(()),
            Feedback::Votes { votes: 0 } => Err(Error::Config(
                "feedback votes must be at least 1 (or use exact feedback)".into(),
            )),
            Feedback::Votes { .. } => Ok(()),
        }
    }
}

/// The win-rate oracle a solver queries; counts its queries.
pub struct Oracle<'a> {
    game: &'a Game,
    feedback: Feedback,
    rng: ChaCha8Rng,
    cdf: Vec<f64>,
    queries: u64,
}

impl<'a> Oracle<'a> {
    /// An oracle over `game` (its population matrix and its groups).
    pub fn new(game: &'a Game, feedback: Feedback, seed: u64) -> Self {
        Self {
            game,
            feedback,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cdf: vec![0.0; game.n()],
            queries: 0,
        }
    }

    /// The game.
    pub fn game(&self) -> &'a Game {
        self.game
    }

    /// How many win-rate vectors were asked for so far.
    pub fn queries(&self) -> u64 {
        self.queries
    }

    /// `out_y ≈ P(y ≻ q)` under the population matrix.
    pub fn win_rates(&mut self, q: &[f64], out: &mut [f64]) {
        self.query(None, q, out);
    }

    /// `out_y ≈ P_g(y ≻ q)` under group `g`'s matrix.
    pub fn group_win_rates(&mut self, g: usize, q: &[f64], out: &mut [f64]) {
        self.query(Some(g), q, out);
    }

    fn query(&mut self, group: Option<usize>, q: &[f64], out: &mut [f64]) {
        self.queries += 1;
        let m = match group {
            Some(g) => &self.game.groups()[g].matrix,
            None => self.game.matrix(),
        };
        match self.feedback {
            Feedback::Exact => m.mul(q, out),
            Feedback::Votes { votes } => {
                let mut acc = 0.0;
                for (c, &p) in self.cdf.iter_mut().zip(q) {
                    acc += p.max(0.0);
                    *c = acc;
                }
                let total = acc;
                for (y, o) in out.iter_mut().enumerate() {
                    let mut wins = 0u64;
                    for _ in 0..votes {
                        let u = self.rng.random::<f64>() * total;
                        let opp = self.cdf.partition_point(|&c| c <= u).min(q.len() - 1);
                        if self.rng.random::<f64>() < m.get(y, opp) {
                            wins += 1;
                        }
                    }
                    *o = wins as f64 / votes as f64;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::PrefMatrix;

    #[test]
    fn sampled_win_rates_are_unbiased() {
        let p = PrefMatrix::from_upper(3, |i, j| [[0.0, 0.8, 0.3], [0.0, 0.0, 0.6]][i][j]).unwrap();
        let game = Game::new(p);
        let q = [0.2, 0.5, 0.3];
        let mut exact = [0.0; 3];
        Oracle::new(&game, Feedback::Exact, 0).win_rates(&q, &mut exact);
        let votes = 200_000;
        let mut o = Oracle::new(&game, Feedback::Votes { votes }, 7);
        let mut got = [0.0; 3];
        o.win_rates(&q, &mut got);
        // Standard error ≤ 0.5/√votes ≈ 0.0011; five of them.
        let five_se = 5.0 * 0.5 / (votes as f64).sqrt();
        for y in 0..3 {
            assert!(
                (got[y] - exact[y]).abs() < five_se,
                "{y}: {} vs {}",
                got[y],
                exact[y]
            );
        }
        assert_eq!(o.queries(), 1);
    }
}
