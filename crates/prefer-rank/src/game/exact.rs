//! Exact references: equilibria computed by a linear program, and the regularized
//! equilibrium computed to a certified precision.
//!
//! - [`zero_sum_lp`]: any zero-sum matrix game, row player maximizing `xᵀ A y`:
//!   `max v s.t. Aᵀ x ≥ v·1, Σ x = 1, x ≥ 0`, and the column player's LP
//!   `min w s.t. A y ≤ w·1, Σ y = 1, y ≥ 0`. LP duality says `v = w` (the game's value);
//!   both are solved (by the pure-Rust simplex of the `microlp` crate) so that the
//!   agreement can be checked.
//! - [`nash_lp`]: the symmetric game of a preference matrix (value ½).
//! - [`maxmin_lp`]: MaxMin's game ([`super::maxmin`]) with `τ = 0`.
//! - [`regularized_equilibrium`]: `π*_τ = softmax(log μ + P π*_τ/τ)`, iterated with EGPO
//!   at its guaranteed step (linear convergence) until the regularized exploitability,
//!   which is zero only at `π*_τ`, is below a tolerance: the answer carries its own
//!   certificate.

use microlp::{ComparisonOp, OptimizationDirection, Problem};

use super::egpo::{Egpo, EgpoConfig, stable_eta};
use super::maxmin::Opponent;
use super::measure::regularized_exploitability;
use super::{Feedback, Game, GameSolver, Oracle, PrefMatrix};
use crate::{Error, Result};

/// An equilibrium strategy and the game's value for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Equilibrium {
    /// The (row player's) equilibrium policy.
    pub policy: Vec<f64>,
    /// The value: the payoff it guarantees against every opponent.
    pub value: f64,
}

/// Both players' LP solutions of a zero-sum game.
#[derive(Debug, Clone, PartialEq)]
pub struct ZeroSumSolution {
    /// The row player's maximin strategy.
    pub row: Vec<f64>,
    /// The value from the row player's LP.
    pub value: f64,
    /// The column player's minimax strategy.
    pub col: Vec<f64>,
    /// The value from the column player's LP (equal to `value` by LP duality).
    pub col_value: f64,
}

fn lp_error(e: impl std::fmt::Display) -> Error {
    Error::Numeric(format!("the linear program failed: {e}"))
}

/// Clips the simplex's round-off (tiny negatives) and renormalizes.
fn clean(v: Vec<f64>) -> Vec<f64> {
    let v: Vec<f64> = v.into_iter().map(|x| x.max(0.0)).collect();
    let s: f64 = v.iter().sum();
    v.into_iter().map(|x| x / s).collect()
}

/// The row player's LP: `max v s.t. Σ_i x_i a(i, c) ≥ v for every column c`.
fn maximin(rows: usize, cols: usize, a: &impl Fn(usize, usize) -> f64) -> Result<(Vec<f64>, f64)> {
    let mut lp = Problem::new(OptimizationDirection::Maximize);
    let x: Vec<_> = (0..rows)
        .map(|_| lp.add_var(0.0, (0.0, f64::INFINITY)))
        .collect();
    let v = lp.add_var(1.0, (f64::NEG_INFINITY, f64::INFINITY));
    for c in 0..cols {
        let mut expr: Vec<_> = x.iter().enumerate().map(|(i, &xi)| (xi, a(i, c))).collect();
        expr.push((v, -1.0));
        lp.add_constraint(expr.as_slice(), ComparisonOp::Ge, 0.0);
    }
    let ones: Vec<_> = x.iter().map(|&xi| (xi, 1.0)).collect();
    lp.add_constraint(ones.as_slice(), ComparisonOp::Eq, 1.0);
    let sol = lp
        .solve()
        .map_err(lp_error)?
        .into_solution()
        .map_err(|_| lp_error("interrupted"))?;
    let xs = x.iter().map(|&xi| sol.var_value(xi)).collect();
    Ok((clean(xs), sol.var_value(v)))
}

/// Solves the zero-sum game with payoff `a(i, c)` to the row player (who maximizes) by
/// two linear programs.
///
/// # Errors
/// An empty game, or the LP solver failing.
pub fn zero_sum_lp(
    rows: usize,
    cols: usize,
    a: impl Fn(usize, usize) -> f64,
) -> Result<ZeroSumSolution> {
    if rows == 0 || cols == 0 {
        return Err(Error::Invalid("an empty game has no equilibrium".into()));
    }
    let (row, value) = maximin(rows, cols, &a)?;
    // The column player maximizes −a: its LP is the row LP of −aᵀ.
    let (col, neg) = maximin(cols, rows, &|c, i| -a(i, c))?;
    Ok(ZeroSumSolution {
        row,
        value,
        col,
        col_value: -neg,
    })
}

/// A Nash equilibrium of the symmetric game `P(π ≻ π')` (a minimax winner), by LP.
///
/// # Errors
/// The LP solver failing.
pub fn nash_lp(p: &PrefMatrix) -> Result<Equilibrium> {
    let n = p.n();
    let (policy, value) = maximin(n, n, &|i, j| p.get(i, j))?;
    Ok(Equilibrium { policy, value })
}

/// MaxMin's optimum `max_π min_g u_g(π)` (`τ = 0`), by LP; `value` is the worst group's
/// win rate.
///
/// # Errors
/// `mu` of the wrong length, or the LP solver failing.
pub fn maxmin_lp(game: &Game, mu: &[f64], opponent: Opponent) -> Result<Equilibrium> {
    let n = game.n();
    if mu.len() != n {
        return Err(Error::Invalid(format!(
            "reference of {} entries for {n} responses",
            mu.len()
        )));
    }
    let (policy, value) = match opponent {
        Opponent::Reference => {
            let cols: Vec<Vec<f64>> = game
                .groups()
                .iter()
                .map(|g| {
                    let mut c = vec![0.0; n];
                    g.matrix.mul(mu, &mut c);
                    c
                })
                .collect();
            maximin(n, cols.len(), &|i, c| cols[c][i])?
        }
        Opponent::BestResponse => {
            let gs = game.groups();
            maximin(n, n * gs.len(), &|i, c| gs[c / n].matrix.get(i, c % n))?
        }
    };
    Ok(Equilibrium { policy, value })
}

/// The equilibrium `π*_τ` of the KL-regularized game, certified: iterates EGPO at its
/// guaranteed step `1/(τ + 2‖P − ½‖_max)` until the regularized exploitability is below
/// `tol` (checked every 10 iterations).
///
/// # Errors
/// `τ ≤ 0` (use [`nash_lp`]), a bad reference, or `tol` not reached in `max_iter`.
pub fn regularized_equilibrium(
    p: &PrefMatrix,
    tau: f64,
    mu: &[f64],
    tol: f64,
    max_iter: usize,
) -> Result<Vec<f64>> {
    if !(tau > 0.0 && tau.is_finite()) {
        return Err(Error::Config(format!(
            "the regularized equilibrium needs τ > 0 (got {tau}); for τ = 0 use the LP"
        )));
    }
    let mu = super::check_policy("the reference policy", mu, p.n())?;
    if mu.iter().any(|&m| m <= 0.0) {
        return Err(Error::Config(
            "the reference policy must give every response positive probability".into(),
        ));
    }
    let game = Game::new(p.clone());
    let cfg = EgpoConfig {
        tau,
        eta: stable_eta(tau, p.max_skew()).min(1.0 / tau),
    };
    let mut solver = Egpo::new(&cfg, &mu, &mu);
    let mut oracle = Oracle::new(&game, Feedback::Exact, 0);
    let mut gap = f64::INFINITY;
    for it in 0..max_iter {
        if it % 10 == 0 {
            gap = regularized_exploitability(p, solver.policy(), tau, &mu);
            if gap < tol {
                return Ok(solver.policy().to_vec());
            }
        }
        solver.step(&mut oracle)?;
    }
    Err(Error::Numeric(format!(
        "the regularized equilibrium (τ = {tau}) reached a gap of {gap:.3e}, not {tol:.1e}, in {max_iter} iterations"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::measure::{exploitability, l1};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The simplex's feasibility tolerance is 1e-7; answers are within a few of it.
    const LP_TOL: f64 = 1e-6;

    fn rows(m: &[[f64; 3]; 3]) -> Vec<Vec<f64>> {
        m.iter().map(|r| r.to_vec()).collect()
    }

    #[test]
    fn rock_paper_scissors_is_uniform() {
        let p = PrefMatrix::from_rows(
            &rows(&[[0.5, 0.0, 1.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.5]]),
            None,
            0.0,
        )
        .unwrap();
        let eq = nash_lp(&p).unwrap();
        assert!(l1(&eq.policy, &[1.0 / 3.0; 3]) < LP_TOL, "{:?}", eq.policy);
        assert!((eq.value - 0.5).abs() < LP_TOL);
    }

    #[test]
    fn hand_solved_games() {
        // Weighted RPS: skew part [[0, a, −b], [−a, 0, c], [b, −c, 0]] → π ∝ (c, b, a).
        let (a, b, c) = (0.1, 0.4, 0.25);
        let p = PrefMatrix::from_upper(3, |i, j| match (i, j) {
            (0, 1) => 0.5 + a,
            (0, 2) => 0.5 - b,
            _ => 0.5 + c,
        })
        .unwrap();
        let s = a + b + c;
        let eq = nash_lp(&p).unwrap();
        assert!(
            l1(&eq.policy, &[c / s, b / s, a / s]) < LP_TOL,
            "{:?}",
            eq.policy
        );
        // RPS plus a fourth response that loses to everything: it gets nothing.
        let p = PrefMatrix::from_upper(4, |i, j| match (i, j) {
            (0, 1) => 0.0,
            (0, 2) => 1.0,
            (1, 2) => 0.0,
            _ => 0.8,
        })
        .unwrap();
        let eq = nash_lp(&p).unwrap();
        assert!(
            l1(&eq.policy, &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0]) < LP_TOL,
            "{:?}",
            eq.policy
        );
        // Transitive (Bradley-Terry) preferences: the Condorcet winner, purely.
        let r: [f64; 5] = [0.3, -1.0, 2.0, 1.9, 0.0];
        let p = PrefMatrix::from_upper(5, |i, j| 1.0 / (1.0 + (r[j] - r[i]).exp())).unwrap();
        let eq = nash_lp(&p).unwrap();
        assert!(
            l1(&eq.policy, &[0.0, 0.0, 1.0, 0.0, 0.0]) < LP_TOL,
            "{:?}",
            eq.policy
        );
    }

    #[test]
    fn lp_duality_and_a_zero_gap_on_random_games() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for n in [2, 5, 20, 60] {
            let p = PrefMatrix::from_upper(n, |_, _| rng.random::<f64>()).unwrap();
            let s = zero_sum_lp(n, n, |i, j| p.get(i, j)).unwrap();
            assert!(
                (s.value - s.col_value).abs() < LP_TOL,
                "n={n}: {} vs {}",
                s.value,
                s.col_value
            );
            // A symmetric constant-sum game has value ½.
            assert!((s.value - 0.5).abs() < LP_TOL);
            assert!(exploitability(&p, &s.row) < LP_TOL);
            // The column player's strategy is an equilibrium too (by symmetry).
            assert!(exploitability(&p, &s.col) < LP_TOL);
        }
        // A rectangular game solved by hand: matching pennies with payoffs 2 and 1.
        let s = zero_sum_lp(2, 2, |i, c| [[2.0, 0.0], [0.0, 1.0]][i][c]).unwrap();
        assert!(
            l1(&s.row, &[1.0 / 3.0, 2.0 / 3.0]) < LP_TOL && (s.value - 2.0 / 3.0).abs() < LP_TOL
        );
        assert!(
            l1(&s.col, &[1.0 / 3.0, 2.0 / 3.0]) < LP_TOL
                && (s.col_value - 2.0 / 3.0).abs() < LP_TOL
        );
    }

    #[test]
    fn regularized_equilibrium_is_the_fixed_point_and_tends_to_the_nash_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let n = 12;
        let p = PrefMatrix::from_upper(n, |_, _| rng.random::<f64>()).unwrap();
        let mu = vec![1.0 / n as f64; n];
        let tau = 0.3;
        let eq = regularized_equilibrium(&p, tau, &mu, 1e-14, 100_000).unwrap();
        // The fixed point: π = softmax(log μ + Pπ/τ), checked directly.
        let mut w = vec![0.0; n];
        p.mul(&eq, &mut w);
        let z: f64 = w.iter().zip(&mu).map(|(x, m)| m * (x / tau).exp()).sum();
        for i in 0..n {
            assert!((eq[i] - mu[i] * (w[i] / tau).exp() / z).abs() < 1e-6);
        }
        // As τ → 0, π*_τ approaches the LP equilibrium: its exploitability shrinks.
        let e: Vec<f64> = [0.3, 0.03, 0.003]
            .iter()
            .map(|&t| {
                exploitability(
                    &p,
                    &regularized_equilibrium(&p, t, &mu, 1e-13, 2_000_000).unwrap(),
                )
            })
            .collect();
        assert!(e[0] > e[1] && e[1] > e[2] && e[2] < 0.01, "{e:?}");
    }
}
