//! Spherical linear interpolation of two models (mergekit `slerp`), tensor by tensor over
//! the flattened tensor:
//! `θ = sin((1−t)Ω)/sin Ω · a + sin(tΩ)/sin Ω · b`, `cos Ω = â·b̂`,
//! falling back to `(1−t) a + t b` when `|cos Ω| > 0.9995` (nearly colinear).
//! `t = 0` is the base model.
//!
//! Shoemake 1985, "Animating rotation with quaternion curves"; as used for LLM merges by
//! mergekit (Goddard et al. 2024, arXiv 2403.13257).
//!
//! Parameters: `t` (required; usually a gradient over layers with filters).

/// SLERP from `a` (the base, `t = 0`) to `b`.
pub fn slerp(t: f64, a: &[f32], b: &[f32]) -> Vec<f32> {
    const DOT_THRESHOLD: f64 = 0.9995;
    const EPS: f64 = 1e-8;
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let na = match norm(a) {
        n if n > EPS => n,
        _ => 1.0,
    };
    let nb = match norm(b) {
        n if n > EPS => n,
        _ => 1.0,
    };
    let dot = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 / na) * (*y as f64 / nb))
        .sum::<f64>()
        .clamp(-1.0, 1.0);
    let (ca, cb) = if dot.abs() > DOT_THRESHOLD {
        (1.0 - t, t)
    } else {
        let theta = dot.acos();
        let s = theta.sin();
        (((1.0 - t) * theta).sin() / s, (t * theta).sin() / s)
    };
    a.iter()
        .zip(b)
        .map(|(x, y)| (ca * *x as f64 + cb * *y as f64) as f32)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quarter_circle_midpoint_and_ends() {
        let a = [1.0f32, 0.0];
        let b = [0.0f32, 1.0];
        let m = slerp(0.5, &a, &b);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((m[0] - h).abs() < 1e-6 && (m[1] - h).abs() < 1e-6);
        assert_eq!(slerp(0.0, &a, &b), a.to_vec());
        // Colinear: linear interpolation.
        assert_eq!(slerp(0.25, &[2.0, 0.0], &[4.0, 0.0]), vec![2.5, 0.0]);
    }
}
