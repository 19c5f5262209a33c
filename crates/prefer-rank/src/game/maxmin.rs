//! MaxMin over groups (paper 41, Chakraborty et al., "MaxMin-RLHF"), tabular form.
//!
//! When a population is made of groups with different preferences `P_1 … P_G`, the
//! policy that is best for the average preference can serve a minority badly. Paper 41's
//! egalitarian objective is the policy whose **worst group** is best served:
//!
//! `max_π min_g u_g(π) − τ KL(π‖μ)`,
//!
//! where `u_g(π)` is group `g`'s win rate of `π` against an opponent:
//!
//! - [`Opponent::Reference`] (default): against the reference policy,
//!   `u_g(π) = P_g(π ≻ μ)` (the paper measures win rates against the reference model);
//! - [`Opponent::BestResponse`]: against each group's best response,
//!   `u_g(π) = min_y P_g(π ≻ y)` (the groups' minimax winner: the game version).
//!
//! Either way this is a zero-sum game between `π` and a column player picking a column
//! `a_c` of `A` (the `G` vectors `P_g μ`, or the `nG` columns of `[P_1 … P_G]`):
//! `max_π min_{y ∈ Δ} πᵀ A y − τ KL(π‖μ)`. Two updates:
//!
//! - [`MaxMinUpdate::Extragradient`] (default): extragradient steps for both players,
//!   `π ∝ π^{1−ητ} μ^{ητ} exp(η A y)` and `y ∝ y exp(−η Aᵀ π)`, look-ahead then real
//!   step, as in [`super::egpo`]; the last iterate converges.
//! - [`MaxMinUpdate::WorstGroup`]: paper 41's loop, each iteration finds the worst-served
//!   group (and its worst column) and takes a policy step on that group's reward only:
//!   `π ∝ π^{1−η_t τ} μ^{η_t τ} exp(η_t a_{c_t})`, `η_t = η/√(t+1)` (a subgradient step;
//!   its average converges, the last iterate oscillates between groups).
//!
//! The duality gap of `(π, y)` (`y` being the column player's policy, or for
//! `WorstGroup` the frequency of the columns picked) bounds how far `min_g u_g(π)` is from
//! the optimum; [`super::Point::own_gap`] records it. With `τ = 0` the exact optimum is a
//! linear program ([`super::exact::maxmin_lp`]). `τ` is paper 41's `β`.

use serde::{Deserialize, Serialize};

use super::inpo::Average;
use super::matrix::Payoff;
use super::measure::{kl, logsumexp, softmax_into};
use super::nash_md::check_tau_eta;
use super::{Game, GameSolver, Iterate, Oracle, check_finite, logs, md_step};
use crate::{Error, Result};

/// Whom each group's win rate is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Opponent {
    /// The reference policy `μ`.
    #[default]
    Reference,
    /// Each group's best response.
    BestResponse,
}

/// How the policy is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MaxMinUpdate {
    /// Extragradient on the policy-versus-columns game.
    #[default]
    Extragradient,
    /// Paper 41's loop: a step on the worst-served group's reward.
    WorstGroup,
}

/// MaxMin settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxMinConfig {
    /// KL regularization toward the reference, paper 41's `β` (default 0).
    pub tau: f64,
    /// Step size `η` (default 1; the payoffs `u_g` of different policies often differ by
    /// a few hundredths, so larger steps than the symmetric solvers' pay off).
    pub eta: f64,
    /// Win rate against the reference (default) or against each group's best response.
    pub opponent: Opponent,
    /// Extragradient (default) or paper 41's worst-group steps.
    pub update: MaxMinUpdate,
    /// Last iterate (default) or average; both are supported. Extragradient's last
    /// iterate converges (as EGPO's, see [`super::egpo`]), and so does its average, more
    /// slowly; paper 41's worst-group loop outputs its last policy, which oscillates
    /// between the groups' favourites, while the average of its subgradient steps is what
    /// converges: use the average with [`MaxMinUpdate::WorstGroup`].
    pub iterate: Iterate,
}

impl Default for MaxMinConfig {
    fn default() -> Self {
        Self {
            tau: 0.0,
            eta: 1.0,
            opponent: Opponent::Reference,
            update: MaxMinUpdate::Extragradient,
            iterate: Iterate::Last,
        }
    }
}

impl MaxMinConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// `τ < 0`, `η ≤ 0`, non-finite values, or `ητ > 1`.
    pub fn validate(&self) -> Result<()> {
        check_tau_eta("maxmin", self.tau, self.eta)
    }
}

/// The column player's options: `G` fixed vectors, or every group's every response.
enum Columns {
    Fixed(Payoff),
    Groups { n: usize, groups: usize },
}

impl Columns {
    fn new(opponent: Opponent, game: &Game, mu: &[f64]) -> Result<Self> {
        Ok(match opponent {
            Opponent::Reference => {
                let cols: Vec<Vec<f64>> = game
                    .groups()
                    .iter()
                    .map(|g| {
                        let mut c = vec![0.0; game.n()];
                        g.matrix.mul(mu, &mut c);
                        c
                    })
                    .collect();
                Columns::Fixed(Payoff::from_columns(&cols)?)
            }
            Opponent::BestResponse => Columns::Groups {
                n: game.n(),
                groups: game.groups().len(),
            },
        })
    }

    fn len(&self) -> usize {
        match self {
            Columns::Fixed(a) => a.cols(),
            Columns::Groups { n, groups } => n * groups,
        }
    }

    /// `out = A y` (values for the policy player).
    fn mul(&self, oracle: &mut Oracle<'_>, y: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        match self {
            Columns::Fixed(a) => a.mul(y, out),
            Columns::Groups { n, groups } => {
                out.fill(0.0);
                for g in 0..*groups {
                    let block = &y[g * n..(g + 1) * n];
                    let mass: f64 = block.iter().sum();
                    if mass <= 0.0 {
                        continue;
                    }
                    let q: Vec<f64> = block.iter().map(|v| v / mass).collect();
                    oracle.group_win_rates(g, &q, scratch);
                    for (o, s) in out.iter_mut().zip(scratch.iter()) {
                        *o += mass * s;
                    }
                }
            }
        }
    }

    /// `out = Aᵀ x` (values for the column player): `(P_gᵀ x)_j = 1 − P_g(j ≻ x)`.
    fn tmul(&self, oracle: &mut Oracle<'_>, x: &[f64], out: &mut [f64], scratch: &mut [f64]) {
        match self {
            Columns::Fixed(a) => a.tmul(x, out),
            Columns::Groups { n, groups } => {
                for g in 0..*groups {
                    oracle.group_win_rates(g, x, scratch);
                    for (o, s) in out[g * n..(g + 1) * n].iter_mut().zip(scratch.iter()) {
                        *o = 1.0 - s;
                    }
                }
            }
        }
    }
}

/// Each group's win rate `u_g(π)` (against the reference or its best response).
pub fn group_values(game: &Game, mu: &[f64], opponent: Opponent, pi: &[f64]) -> Vec<f64> {
    game.groups()
        .iter()
        .map(|g| match opponent {
            Opponent::Reference => super::measure::win_rate(&g.matrix, pi, mu),
            Opponent::BestResponse => super::measure::best_response_win_rate(&g.matrix, pi),
        })
        .collect()
}

/// The MaxMin objective `min_g u_g(π)` (without the KL term).
pub fn objective(game: &Game, mu: &[f64], opponent: Opponent, pi: &[f64]) -> f64 {
    group_values(game, mu, opponent, pi)
        .into_iter()
        .fold(f64::INFINITY, f64::min)
}

/// A running MaxMin.
pub struct MaxMin {
    cfg: MaxMinConfig,
    cols: Columns,
    mu: Vec<f64>,
    log_mu: Vec<f64>,
    theta: Vec<f64>,
    pi: Vec<f64>,
    theta_y: Vec<f64>,
    y: Vec<f64>,
    // Buffers.
    theta_half: Vec<f64>,
    pi_half: Vec<f64>,
    theta_y_half: Vec<f64>,
    y_half: Vec<f64>,
    u: Vec<f64>,
    v: Vec<f64>,
    scratch: Vec<f64>,
    /// WorstGroup: how often each column was picked (its dual average).
    picks: Vec<f64>,
    avg: Average,
    t: usize,
}

impl MaxMin {
    /// Starts at `init`, with the column player uniform.
    ///
    /// # Errors
    /// A game with no groups (never, for a built [`Game`]).
    pub fn new(cfg: &MaxMinConfig, game: &Game, mu: &[f64], init: &[f64]) -> Result<Self> {
        let cols = Columns::new(cfg.opponent, game, mu)?;
        let m = cols.len();
        if m == 0 {
            return Err(Error::Invalid("maxmin needs at least one group".into()));
        }
        let n = game.n();
        Ok(Self {
            cfg: *cfg,
            cols,
            mu: mu.to_vec(),
            log_mu: logs(mu),
            theta: logs(init),
            pi: init.to_vec(),
            theta_y: vec![0.0; m],
            y: vec![1.0 / m as f64; m],
            theta_half: vec![0.0; n],
            pi_half: vec![0.0; n],
            theta_y_half: vec![0.0; m],
            y_half: vec![0.0; m],
            u: vec![0.0; n],
            v: vec![0.0; m],
            scratch: vec![0.0; n],
            picks: vec![0.0; m],
            avg: Average::new(init),
            t: 0,
        })
    }

    /// The column player's current policy (over groups, or over group × response).
    pub fn columns_policy(&self) -> &[f64] {
        &self.y
    }

    fn column_step(theta_y: &[f64], v: &[f64], eta: f64, out: &mut [f64]) {
        let mut m = f64::NEG_INFINITY;
        for ((o, &t), &vc) in out.iter_mut().zip(theta_y).zip(v) {
            *o = t - eta * vc;
            m = m.max(*o);
        }
        for o in out.iter_mut() {
            *o -= m;
        }
    }

    fn extragradient(&mut self, oracle: &mut Oracle<'_>) {
        let (eta, tau) = (self.cfg.eta, self.cfg.tau);
        self.cols
            .mul(oracle, &self.y, &mut self.u, &mut self.scratch);
        self.cols
            .tmul(oracle, &self.pi, &mut self.v, &mut self.scratch);
        md_step(
            &self.theta,
            &self.log_mu,
            &self.u,
            eta,
            tau,
            &mut self.theta_half,
        );
        Self::column_step(&self.theta_y, &self.v, eta, &mut self.theta_y_half);
        softmax_into(&self.theta_half, &mut self.pi_half);
        softmax_into(&self.theta_y_half, &mut self.y_half);
        self.cols
            .mul(oracle, &self.y_half, &mut self.u, &mut self.scratch);
        self.cols
            .tmul(oracle, &self.pi_half, &mut self.v, &mut self.scratch);
        md_step(
            &self.theta,
            &self.log_mu,
            &self.u,
            eta,
            tau,
            &mut self.theta_half,
        );
        Self::column_step(&self.theta_y, &self.v, eta, &mut self.theta_y_half);
        std::mem::swap(&mut self.theta, &mut self.theta_half);
        std::mem::swap(&mut self.theta_y, &mut self.theta_y_half);
        softmax_into(&self.theta, &mut self.pi);
        softmax_into(&self.theta_y, &mut self.y);
    }

    fn worst_group(&mut self, oracle: &mut Oracle<'_>) {
        let eta = self.cfg.eta / (self.t as f64 + 1.0).sqrt();
        self.cols
            .tmul(oracle, &self.pi, &mut self.v, &mut self.scratch);
        let c = self
            .v
            .iter()
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |b, (i, &x)| if x < b.1 { (i, x) } else { b },
            )
            .0;
        self.picks[c] += 1.0;
        let k: f64 = self.picks.iter().sum();
        for (y, p) in self.y.iter_mut().zip(&self.picks) {
            *y = p / k;
        }
        // The picked column a_c: group g's value of each response against the opponent.
        let mut e = vec![0.0; self.v.len()];
        e[c] = 1.0;
        self.cols.mul(oracle, &e, &mut self.u, &mut self.scratch);
        md_step(
            &self.theta,
            &self.log_mu,
            &self.u,
            eta,
            self.cfg.tau,
            &mut self.theta_half,
        );
        std::mem::swap(&mut self.theta, &mut self.theta_half);
        softmax_into(&self.theta, &mut self.pi);
    }
}

impl GameSolver for MaxMin {
    fn step(&mut self, oracle: &mut Oracle<'_>) -> Result<()> {
        match self.cfg.update {
            MaxMinUpdate::Extragradient => self.extragradient(oracle),
            MaxMinUpdate::WorstGroup => self.worst_group(oracle),
        }
        self.t += 1;
        check_finite("maxmin's policy", &self.pi, self.cfg.eta)?;
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

    fn own_gap(&self, game: &Game) -> Option<f64> {
        // Exact products (the gap is a measure, not part of the run's feedback).
        let mut oracle = Oracle::new(game, super::Feedback::Exact, 0);
        let n = game.n();
        let pi = self.policy();
        let mut u = vec![0.0; n];
        let mut v = vec![0.0; self.y.len()];
        let mut scratch = vec![0.0; n];
        self.cols.mul(&mut oracle, &self.y, &mut u, &mut scratch);
        self.cols.tmul(&mut oracle, pi, &mut v, &mut scratch);
        let tau = self.cfg.tau;
        let best = if tau > 0.0 {
            tau * logsumexp(u.iter().zip(&self.log_mu).map(|(&a, &l)| l + a / tau))
        } else {
            u.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b))
        };
        let worst = v.iter().fold(f64::INFINITY, |a, &b| a.min(b));
        Some((best - (worst - tau * kl(pi, &self.mu))).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::exact::maxmin_lp;
    use crate::game::{Group, Method, PrefMatrix, SolveOptions, solve};

    /// Two groups over 4 responses: the majority (weight 0.8) likes A ≻ D ≻ B ≻ C, the
    /// minority likes C and D and dislikes A.
    pub(crate) fn two_groups() -> Game {
        let maj = PrefMatrix::from_upper(4, |i, j| {
            [
                [0.0, 0.9, 0.95, 0.65],
                [0.0, 0.0, 0.7, 0.2],
                [0.0, 0.0, 0.0, 0.1],
            ][i][j]
        })
        .unwrap();
        let min = PrefMatrix::from_upper(4, |i, j| {
            [
                [0.0, 0.4, 0.05, 0.1],
                [0.0, 0.0, 0.2, 0.2],
                [0.0, 0.0, 0.0, 0.45],
            ][i][j]
        })
        .unwrap();
        Game::from_groups(
            ["A", "B", "C", "D"].map(String::from).to_vec(),
            vec![
                Group {
                    name: "majority".into(),
                    weight: 0.8,
                    matrix: maj,
                },
                Group {
                    name: "minority".into(),
                    weight: 0.2,
                    matrix: min,
                },
            ],
        )
        .unwrap()
    }

    #[test]
    fn extragradient_reaches_the_lp_optimum_for_both_opponents() {
        let game = two_groups();
        let mu = vec![0.25; 4];
        for opponent in [Opponent::Reference, Opponent::BestResponse] {
            let lp = maxmin_lp(&game, &mu, opponent).unwrap();
            let cfg = MaxMinConfig {
                opponent,
                eta: 2.0,
                ..Default::default()
            };
            let opts = SolveOptions {
                iterations: 20_000,
                ..Default::default()
            };
            let tr = solve(&game, &Method::MaxMin(cfg), &opts).unwrap();
            let got = objective(&game, &mu, opponent, &tr.policy);
            // Extragradient's last iterate: 1e-6 of the LP value after 20,000 steps.
            assert!(
                (got - lp.value).abs() < 1e-6,
                "{opponent:?}: {got} vs {}",
                lp.value
            );
            assert!(tr.last().unwrap().own_gap.unwrap() < 1e-5);
        }
    }

    #[test]
    fn regularized_optimum_matches_its_one_dimensional_dual() {
        // max_π min_{w∈[0,1]} πᵀ(w a_1 + (1−w) a_2) − τ KL(π‖μ) has the dual
        // min_w τ log Σ μ exp((w a_1 + (1−w) a_2)/τ): convex in w, solved by golden section.
        let game = two_groups();
        let mu = vec![0.1, 0.2, 0.3, 0.4];
        let tau = 0.05;
        let cols: Vec<Vec<f64>> = game
            .groups()
            .iter()
            .map(|g| {
                let mut c = vec![0.0; 4];
                g.matrix.mul(&mu, &mut c);
                c
            })
            .collect();
        let dual = |w: f64| {
            tau * logsumexp(
                (0..4).map(|i| mu[i].ln() + (w * cols[0][i] + (1.0 - w) * cols[1][i]) / tau),
            )
        };
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        let g = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..200 {
            let (a, b) = (hi - g * (hi - lo), lo + g * (hi - lo));
            if dual(a) < dual(b) { hi = b } else { lo = a }
        }
        let value = dual(0.5 * (lo + hi));
        let cfg = MaxMinConfig {
            tau,
            ..Default::default()
        };
        let opts = SolveOptions {
            iterations: 20_000,
            reference: Some(mu.clone()),
            ..Default::default()
        };
        let tr = solve(&game, &Method::MaxMin(cfg), &opts).unwrap();
        let primal =
            objective(&game, &mu, Opponent::Reference, &tr.policy) - tau * kl(&tr.policy, &mu);
        assert!((primal - value).abs() < 1e-7, "{primal} vs {value}");
    }

    #[test]
    fn worst_group_steps_average_to_the_optimum() {
        let game = two_groups();
        let mu = vec![0.25; 4];
        let lp = maxmin_lp(&game, &mu, Opponent::Reference).unwrap();
        let cfg = MaxMinConfig {
            update: MaxMinUpdate::WorstGroup,
            iterate: Iterate::Average,
            eta: 2.0,
            ..Default::default()
        };
        let opts = SolveOptions {
            iterations: 20_000,
            ..Default::default()
        };
        let tr = solve(&game, &Method::MaxMin(cfg), &opts).unwrap();
        let got = objective(&game, &mu, Opponent::Reference, &tr.policy);
        // A subgradient method's average: O(1/√T) ≈ 1e-2 loosely.
        assert!(
            lp.value - got < 1e-2 && got <= lp.value + 1e-12,
            "{got} vs {}",
            lp.value
        );
    }
}
