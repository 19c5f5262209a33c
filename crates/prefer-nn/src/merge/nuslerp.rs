//! NuSLERP (mergekit `nuslerp`): SLERP between two models with the interpolation factor
//! from their weights, `t = w₂ / (w₁ + w₂)` (0.5 when the weights sum to ~0), either over
//! the flattened tensor (`nuslerp_flatten: true`, the default) or row by row
//! (`nuslerp_flatten: false`; columns with `nuslerp_row_wise: true`). With a `base_model`
//! it interpolates the task vectors `θᵢ − θ_base` and adds the base back.
//!
//! mergekit's own method (Goddard et al. 2024, arXiv 2403.13257); nearly colinear vectors
//! (`1 − cos² ≤ 1e-16`) fall back to linear interpolation.
//!
//! Parameters: `weight` per model (required), `nuslerp_flatten` (default `true`),
//! `nuslerp_row_wise` (default `false`).

/// The interpolation factor from the two models' weights.
pub fn factor(w0: f64, w1: f64) -> f64 {
    let total = w0 + w1;
    if total.abs() < 1e-6 { 0.5 } else { w1 / total }
}

/// NuSLERP of `v0` and `v1` of `shape`; `base` turns it into task-vector SLERP.
pub fn nuslerp(
    t: f64,
    v0: &[f32],
    v1: &[f32],
    base: Option<&[f32]>,
    shape: &[usize],
    flatten: bool,
    row_wise: bool,
) -> Vec<f32> {
    let (a, b): (Vec<f64>, Vec<f64>) = match base {
        Some(z) => (
            v0.iter()
                .zip(z)
                .map(|(x, z)| *x as f64 - *z as f64)
                .collect(),
            v1.iter()
                .zip(z)
                .map(|(x, z)| *x as f64 - *z as f64)
                .collect(),
        ),
        None => (
            v0.iter().map(|x| *x as f64).collect(),
            v1.iter().map(|x| *x as f64).collect(),
        ),
    };
    let n = a.len();
    let cols = if shape.len() >= 2 {
        n / shape[0].max(1)
    } else {
        n
    };
    let rows = n / cols.max(1);
    // Vectors as lists of element indices: the whole tensor, each row, or each column.
    let vectors: Vec<Vec<usize>> = if flatten || shape.len() < 2 {
        vec![(0..n).collect()]
    } else if row_wise {
        (0..cols)
            .map(|c| (0..rows).map(|r| r * cols + c).collect())
            .collect()
    } else {
        (0..rows)
            .map(|r| (r * cols..(r + 1) * cols).collect())
            .collect()
    };
    let mut out = vec![0.0f64; n];
    for idx in vectors {
        let norm = |v: &[f64]| {
            idx.iter()
                .map(|&i| v[i] * v[i])
                .sum::<f64>()
                .sqrt()
                .max(1e-7)
        };
        let (na, nb) = (norm(&a), norm(&b));
        let cos = idx
            .iter()
            .map(|&i| (a[i] / na) * (b[i] / nb))
            .sum::<f64>()
            .clamp(-1.0, 1.0);
        let (ca, cb) = if 1.0 - cos * cos <= 1e-16 {
            (1.0 - t, t)
        } else {
            let theta = cos.acos();
            let s = theta.sin();
            (((1.0 - t) * theta).sin() / s, (t * theta).sin() / s)
        };
        for &i in &idx {
            out[i] = ca * a[i] + cb * b[i];
        }
    }
    match base {
        Some(z) => out
            .iter()
            .zip(z)
            .map(|(d, z)| (*z as f64 + d) as f32)
            .collect(),
        None => out.iter().map(|v| *v as f32).collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn row_wise_slerp_is_per_row_and_flat_equals_plain_slerp() {
        let a = [1.0f32, 0.0, 3.0, 0.0];
        let b = [0.0f32, 1.0, 0.0, 3.0];
        let rows = nuslerp(0.5, &a, &b, None, &[2, 2], false, false);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        for (r, want) in rows.iter().zip([h, h, 3.0 * h, 3.0 * h]) {
            assert!((r - want).abs() < 1e-6);
        }
        let flat = nuslerp(0.3, &a, &b, None, &[2, 2], true, false);
        let plain = super::super::slerp::slerp(0.3, &a, &b);
        for (x, y) in flat.iter().zip(&plain) {
            assert!((x - y).abs() < 1e-6);
        }
        assert_eq!(factor(1.0, 3.0), 0.75);
        assert_eq!(factor(1.0, -1.0), 0.5);
    }
}
