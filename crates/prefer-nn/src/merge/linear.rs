//! Linear merge (mergekit `linear`): a weighted average of the models' tensors,
//! `θ = Σᵢ wᵢ θᵢ / Σᵢ wᵢ` (or the plain weighted sum when `normalize: false`).
//!
//! Wortsman et al. 2022, "Model soups: averaging weights of multiple fine-tuned models
//! improves accuracy without increasing inference time" (arXiv 2203.05482).
//!
//! Parameters (mergekit's names): `weight` per model (required); `normalize` (default
//! `true`).

/// The weighted sum of `tensors` (each the same length), divided by `Σ w` if `normalize`.
pub fn linear(tensors: &[Vec<f32>], weights: &[f64], normalize: bool) -> Vec<f32> {
    let n = tensors.first().map_or(0, Vec::len);
    let total: f64 = weights.iter().sum();
    (0..n)
        .map(|k| {
            let s: f64 = tensors
                .iter()
                .zip(weights)
                .map(|(t, w)| t[k] as f64 * w)
                .sum();
            (if normalize { s / total } else { s }) as f32
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn weights_average_or_sum() {
        let t = vec![vec![1.0, 2.0], vec![3.0, 6.0]];
        assert_eq!(linear(&t, &[1.0, 3.0], true), vec![2.5, 5.0]);
        assert_eq!(linear(&t, &[1.0, 3.0], false), vec![10.0, 20.0]);
    }
}
