//! Newton's method with backtracking for the concave log-likelihoods of this crate
//! (pairwise models, Plackett-Luce, style control): one routine, so the stopping rule,
//! the line search and the error messages are the same everywhere.

use crate::error::{Error, Result};
use crate::linalg::{Matrix, solve_spd_ridged};

/// Value, gradient and Hessian of the objective at a point.
pub struct Eval {
    /// The objective (to maximize).
    pub value: f64,
    /// Its gradient.
    pub grad: Vec<f64>,
    /// Its Hessian (negative definite near the optimum of a concave objective).
    pub hess: Matrix,
}

/// Stopping rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    /// Stop when the largest component of a step is below this.
    pub tol: f64,
    /// Iteration limit.
    pub max_iter: usize,
}

/// The maximizer.
#[derive(Debug, Clone, PartialEq)]
pub struct Maximum {
    /// The point.
    pub x: Vec<f64>,
    /// Iterations used.
    pub iterations: usize,
    /// The largest component of the last step taken.
    pub last_step: f64,
}

/// Maximizes `eval` from `x0`. Each step solves −H s = g (with a ridge when H is
/// singular) and backtracks (1, ½, ¼, ...) to the largest step that does not lower the
/// objective and stays where `valid` holds.
///
/// # Errors
/// A singular system, no ascent direction, or no convergence within `stop.max_iter`.
pub fn maximize(
    x0: Vec<f64>,
    mut eval: impl FnMut(&[f64]) -> Eval,
    valid: impl Fn(&[f64]) -> bool,
    stop: Stop,
) -> Result<Maximum> {
    let mut x = x0;
    let mut cur = eval(&x);
    let mut iterations = 0;
    let mut last_step = f64::INFINITY;
    while iterations < stop.max_iter {
        iterations += 1;
        let mut neg = cur.hess;
        neg.data.iter_mut().for_each(|v| *v = -*v);
        let step = solve_spd_ridged(&neg, &cur.grad)
            .ok_or_else(|| Error::Numeric("the Newton system is singular".into()))?;
        let mut alpha = 1.0;
        let mut accepted = None;
        for _ in 0..60 {
            let cand: Vec<f64> = x.iter().zip(&step).map(|(a, s)| a + alpha * s).collect();
            if valid(&cand) {
                let e = eval(&cand);
                if e.value.is_finite() && e.value >= cur.value - 1e-12 * cur.value.abs().max(1.0) {
                    accepted = Some((cand, e));
                    break;
                }
            }
            alpha *= 0.5;
        }
        let Some((cand, e)) = accepted else {
            return Err(Error::Numeric(format!(
                "no ascent direction at Newton iteration {iterations}"
            )));
        };
        last_step = step.iter().fold(0.0f64, |m, s| m.max((alpha * s).abs()));
        x = cand;
        cur = e;
        if last_step < stop.tol {
            return Ok(Maximum {
                x,
                iterations,
                last_step,
            });
        }
    }
    Err(Error::Numeric(format!(
        "did not converge in {} Newton iterations (last step {last_step:.3e})",
        stop.max_iter
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_maximum_of_a_concave_quadratic_and_respects_the_domain() {
        // f(x, y) = −(x − 1)² − 2 (y + 3)² + x y / 2: concave; optimum from ∇f = 0.
        let eval = |p: &[f64]| {
            let (x, y) = (p[0], p[1]);
            let mut h = Matrix::zeros(2);
            h.data = vec![-2.0, 0.5, 0.5, -4.0];
            Eval {
                value: -(x - 1.0).powi(2) - 2.0 * (y + 3.0).powi(2) + 0.5 * x * y,
                grad: vec![-2.0 * (x - 1.0) + 0.5 * y, -4.0 * (y + 3.0) + 0.5 * x],
                hess: h,
            }
        };
        let m = maximize(
            vec![0.0, 0.0],
            eval,
            |_| true,
            Stop {
                tol: 1e-12,
                max_iter: 20,
            },
        )
        .unwrap();
        // ∇f = 0: −2x + y/2 = −2 and x/2 − 4y = 12; Cramer's rule.
        let det = 2.0 * 4.0 - 0.25;
        let xs = (2.0 * 4.0 + 0.5 * -12.0) / det;
        let ys = (2.0 * -12.0 + 0.5 * 2.0) / det;
        assert!(
            (m.x[0] - xs).abs() < 1e-10 && (m.x[1] - ys).abs() < 1e-10,
            "{:?}",
            m.x
        );
        assert!(m.iterations <= 2);
        // A domain that excludes the unconstrained optimum: every accepted point stays in it.
        let r = maximize(
            vec![0.0, 0.0],
            eval,
            |p| p[1] > -0.1,
            Stop {
                tol: 1e-9,
                max_iter: 200,
            },
        );
        if let Ok(m) = r {
            assert!(m.x[1] > -0.1);
        }
    }
}
