//! Model Stock (mergekit `model_stock`): the fine-tuned models' average pulled toward the
//! base by the angle between their task vectors,
//! `θ = t · mean(θᵢ) + (1 − t) θ₀`, `t = N cos φ / (1 + (N − 1) cos φ)`, with `cos φ` the
//! mean pairwise cosine of the task vectors `θᵢ − θ₀` (over the whole tensor, or per row
//! with `filter_wise: true`). When the denominator is ~0 the base is kept.
//!
//! Jang et al. 2024, "Model Stock: All we need is just a few fine-tuned models"
//! (arXiv 2403.19522).
//!
//! Parameters: `filter_wise` (default `false`). Needs a base and at least two others.

/// Model Stock of `base` and the fine-tuned `ws` (each of `shape`).
pub fn model_stock(base: &[f32], ws: &[&[f32]], shape: &[usize], filter_wise: bool) -> Vec<f32> {
    let n = base.len();
    let cols = if filter_wise && shape.len() >= 2 {
        n / shape[0].max(1)
    } else {
        n
    };
    let count = ws.len() as f64;
    let mut out = vec![0.0f32; n];
    for start in (0..n).step_by(cols.max(1)) {
        let end = (start + cols).min(n);
        let off: Vec<Vec<f64>> = ws
            .iter()
            .map(|w| (start..end).map(|k| w[k] as f64 - base[k] as f64).collect())
            .collect();
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let mut cos = Vec::new();
        for i in 0..off.len() {
            for j in i + 1..off.len() {
                let dot: f64 = off[i].iter().zip(&off[j]).map(|(a, b)| a * b).sum();
                cos.push((dot / (norm(&off[i]) * norm(&off[j])).max(1e-6)).clamp(-1.0, 1.0));
            }
        }
        let c = cos.iter().sum::<f64>() / cos.len().max(1) as f64;
        let denom = 1.0 + (count - 1.0) * c;
        let t = if denom.abs() < 1e-6 {
            0.0
        } else {
            count * c / denom
        };
        for k in start..end {
            let avg = ws.iter().map(|w| w[k] as f64).sum::<f64>() / count;
            out[k] = (t * avg + (1.0 - t) * base[k] as f64) as f32;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_task_vectors_keep_the_base_and_equal_ones_take_the_average() {
        let base = [0.0f32, 0.0];
        // cos 0 -> t 0: the base.
        assert_eq!(
            model_stock(&base, &[&[1.0, 0.0], &[0.0, 1.0]], &[2], false),
            vec![0.0, 0.0]
        );
        // cos 1 -> t = N / (1 + N - 1) = 1: the average.
        assert_eq!(
            model_stock(&base, &[&[1.0, 1.0], &[2.0, 2.0]], &[2], false),
            vec![1.5, 1.5]
        );
    }
}
