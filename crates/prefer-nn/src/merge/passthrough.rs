//! Passthrough (mergekit `passthrough`): each output tensor is one input's tensor, times
//! an optional `scale`; with `slices:` it stacks layer ranges of several models
//! ("frankenmerges", e.g. SOLAR's depth up-scaling, Kim et al. 2023, arXiv 2312.15166).
//!
//! Parameters: `scale` per model (default none: unchanged).

/// `tensor · scale`, or the tensor itself.
pub fn passthrough(tensor: &[f32], scale: Option<f64>) -> Vec<f32> {
    match scale {
        None => tensor.to_vec(),
        Some(s) => tensor.iter().map(|v| (*v as f64 * s) as f32).collect(),
    }
}
