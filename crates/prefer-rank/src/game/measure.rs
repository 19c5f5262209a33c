//! How far a policy is from equilibrium.
//!
//! For the symmetric game a preference matrix `P` defines, the value is ½ and:
//!
//! - **exploitability** `e(π) = max_y P(y ≻ π) − ½`: how much a best response beats `π`;
//!   zero exactly at a Nash equilibrium. The duality gap of the profile `(π, π)` is `2 e(π)`.
//! - **win rate against the best response**: `min_y P(π ≻ y) = ½ − e(π)`.
//! - **regularized exploitability** of the KL-regularized game
//!   `f_τ(π, π') = P(π ≻ π') − τ KL(π‖μ) + τ KL(π'‖μ)` (paper 26):
//!   `e_τ(π) = τ log Σ_y μ(y) exp(P(y ≻ π)/τ) + τ KL(π‖μ) − ½`. The first term is
//!   `max_π' [P(π' ≻ π) − τ KL(π'‖μ)]` (Gibbs), so `e_τ ≥ 0`, with equality exactly at the
//!   regularized equilibrium `π*_τ = softmax(log μ + P π*_τ / τ)`. Again the duality gap
//!   is `2 e_τ`.

use super::matrix::PrefMatrix;

/// `KL(p‖q) = Σ p log(p/q)`, with `0 log 0 = 0`; infinite when `q` misses mass of `p`.
pub fn kl(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            if a <= 0.0 {
                0.0
            } else if b <= 0.0 {
                f64::INFINITY
            } else {
                a * (a / b).ln()
            }
        })
        .sum::<f64>()
        .max(0.0)
}

/// `out = softmax(logits)`, stable for any finite logits.
pub fn softmax_into(logits: &[f64], out: &mut [f64]) {
    let m = logits.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let mut s = 0.0;
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = (l - m).exp();
        s += *o;
    }
    for o in out.iter_mut() {
        *o /= s;
    }
}

/// `log Σ exp(x)`, stable.
pub fn logsumexp(x: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = x.clone().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + x.map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// `‖p − q‖₁`.
pub fn l1(p: &[f64], q: &[f64]) -> f64 {
    p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum()
}

/// Exploitability from the win rates `w = P π`: `max_y w_y − ½`.
pub fn exploitability_from(w: &[f64]) -> f64 {
    w.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - 0.5
}

/// Exploitability `max_y P(y ≻ π) − ½` (one product with `P`).
pub fn exploitability(p: &PrefMatrix, pi: &[f64]) -> f64 {
    let mut w = vec![0.0; p.n()];
    p.mul(pi, &mut w);
    exploitability_from(&w)
}

/// Regularized exploitability from `w = P π` (see the module docs); `τ = 0` gives the
/// plain exploitability.
pub fn regularized_exploitability_from(w: &[f64], pi: &[f64], tau: f64, mu: &[f64]) -> f64 {
    if tau <= 0.0 {
        return exploitability_from(w);
    }
    let best = tau
        * logsumexp(w.iter().zip(mu).map(|(&wy, &m)| {
            if m > 0.0 {
                m.ln() + wy / tau
            } else {
                f64::NEG_INFINITY
            }
        }));
    (best + tau * kl(pi, mu) - 0.5).max(0.0)
}

/// Regularized exploitability `e_τ(π)` (one product with `P`).
pub fn regularized_exploitability(p: &PrefMatrix, pi: &[f64], tau: f64, mu: &[f64]) -> f64 {
    let mut w = vec![0.0; p.n()];
    p.mul(pi, &mut w);
    regularized_exploitability_from(&w, pi, tau, mu)
}

/// Win rate of `pi` against `q`: `πᵀ P q`.
pub fn win_rate(p: &PrefMatrix, pi: &[f64], q: &[f64]) -> f64 {
    let mut w = vec![0.0; p.n()];
    p.mul(q, &mut w);
    pi.iter().zip(&w).map(|(a, b)| a * b).sum()
}

/// Win rate of `pi` against its best response: `min_y P(π ≻ y) = ½ − e(π)`.
pub fn best_response_win_rate(p: &PrefMatrix, pi: &[f64]) -> f64 {
    0.5 - exploitability(p, pi)
}

/// Least-squares slope of `ln y` against `x`; `None` with fewer than 3 points.
pub fn log_slope(pts: &[(f64, f64)]) -> Option<f64> {
    if pts.len() < 3 {
        return None;
    }
    let k = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / k;
    let my = pts.iter().map(|p| p.1.ln()).sum::<f64>() / k;
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1.ln() - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closed forms evaluated in f64: a few ulps of error.
    const EXACT: f64 = 1e-12;

    fn rps() -> PrefMatrix {
        // Rock loses to paper, beats scissors; paper loses to scissors.
        PrefMatrix::from_upper(3, |i, j| match (i, j) {
            (0, 1) => 0.0,
            (0, 2) => 1.0,
            _ => 0.0,
        })
        .unwrap()
    }

    #[test]
    fn rock_paper_scissors_by_hand() {
        let p = rps();
        let u = [1.0 / 3.0; 3];
        assert!(exploitability(&p, &u).abs() < EXACT);
        // Pure rock loses to paper: exploitability ½, win rate against best response 0.
        assert!((exploitability(&p, &[1.0, 0.0, 0.0]) - 0.5).abs() < EXACT);
        assert!(best_response_win_rate(&p, &[1.0, 0.0, 0.0]).abs() < EXACT);
        // (½, ½, 0): paper gets ½·½ + ½·1 = ¾ → exploitability ¼.
        assert!((exploitability(&p, &[0.5, 0.5, 0.0]) - 0.25).abs() < EXACT);
        assert!((win_rate(&p, &[1.0, 0.0, 0.0], &[0.0, 0.0, 1.0]) - 1.0).abs() < EXACT);
    }

    #[test]
    fn regularized_exploitability_vanishes_only_at_the_fixed_point() {
        // 2 items, P(1 ≻ 2) = 0.7, uniform μ, τ = 0.2: the regularized equilibrium is
        // x = σ(((Pπ)_1 − (Pπ)_2)/τ), and with 2 items that difference is 0.2 for every π.
        let p = PrefMatrix::from_upper(2, |_, _| 0.7).unwrap();
        let (tau, mu) = (0.2, [0.5, 0.5]);
        // (Pπ)_1 − (Pπ)_2 = (0.5x + 0.7(1−x)) − (0.3x + 0.5(1−x)) = 0.2.
        let d: f64 = 0.2;
        let x = 1.0 / (1.0 + (-d / tau).exp());
        let eq = [x, 1.0 - x];
        assert!(regularized_exploitability(&p, &eq, tau, &mu) < EXACT);
        assert!(regularized_exploitability(&p, &[0.5, 0.5], tau, &mu) > 1e-3);
        assert!(regularized_exploitability(&p, &[0.99, 0.01], tau, &mu) > 1e-3);
    }

    #[test]
    fn kl_and_softmax() {
        let mut out = [0.0; 3];
        softmax_into(&[1000.0, 1000.0, f64::NEG_INFINITY], &mut out);
        assert_eq!(out, [0.5, 0.5, 0.0]);
        assert!(
            (kl(&[0.5, 0.5], &[0.25, 0.75]) - (0.5 * 2f64.ln() + 0.5 * (2.0f64 / 3.0).ln())).abs()
                < EXACT
        );
        assert_eq!(kl(&[1.0, 0.0], &[0.0, 1.0]), f64::INFINITY);
    }
}
