//! Log-probability of one chosen token per row, `log_softmax(logits)[label]`, fused.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, DType, Layout, Shape, Tensor};

use super::{Real, cpu_slice, fused, unsupported};
use crate::{Error, Result};

/// `log_softmax(logits)[label]` per row, differentiable in `logits`.
///
/// Fused: the `[n, vocab]` log-softmax is never stored; the backward recomputes the
/// softmax row by row: `dlogits_j = dy · (1[j = label] − softmax_j)`. Computed in the dtype
/// of `logits` (transformers and TRL upcast to f32 first; so should the caller for
/// half-precision logits).
///
/// # Shapes
/// - `logits`: `[n, vocab]` (f32/f64), `labels`: `[n]` (u32) → `[n]`
pub fn token_logps(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let (n, v) = logits.dims2()?;
    if labels.dims() != [n] {
        return Err(Error::Invalid(format!(
            "token_logps: labels shape {:?} does not match logits {:?}",
            labels.dims(),
            logits.dims()
        )));
    }
    let labels = labels.to_dtype(DType::U32)?;
    if let Some(&bad) = labels.to_vec1::<u32>()?.iter().find(|&&l| l as usize >= v) {
        return Err(Error::Invalid(format!(
            "token_logps: label {bad} out of range for vocabulary size {v}"
        )));
    }
    if fused(logits) {
        Ok(logits
            .contiguous()?
            .apply_op2(&labels.contiguous()?, TokenLogps)?)
    } else {
        let lsm = candle_nn::ops::log_softmax(logits, D::Minus1)?;
        Ok(lsm.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?)
    }
}

struct TokenLogps;

fn lse<T: Real>(row: &[T]) -> T {
    let m = super::row_max(row);
    m + super::sum_exp(row, m).ln()
}

fn fwd<T: Real>(x: &[T], labels: &[u32], v: usize) -> Vec<T> {
    x.chunks_exact(v)
        .zip(labels)
        .map(|(row, &l)| row[l as usize] - lse(row))
        .collect()
}

impl CustomOp2 for TokenLogps {
    fn name(&self) -> &'static str {
        "prefer-token-logps"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (n, v) = l1.shape().dims2()?;
        let labels = cpu_slice::<u32>(s2, l2, name)?;
        let out = match s1.dtype() {
            DType::F32 => CpuStorage::F32(fwd(cpu_slice::<f32>(s1, l1, name)?, labels, v)),
            DType::F64 => CpuStorage::F64(fwd(cpu_slice::<f64>(s1, l1, name)?, labels, v)),
            dt => return Err(unsupported(name, dt)),
        };
        Ok((out, Shape::from(n)))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // Pack [dy | y] so the backward kernel gets log Z = x[label] − y without
        // recomputing it (one exp per logit instead of two).
        let dy_y = Tensor::cat(&[&dy.contiguous()?, &y.contiguous()?], 0)?;
        let dx = logits.apply_op3_no_bwd(labels, &dy_y, &TokenLogpsBwd)?;
        Ok((Some(dx), None))
    }
}

struct TokenLogpsBwd;

/// `dy_y` is `[dy (n) | y (n)]`, with `y = x[label] − log Z` from the forward.
fn bwd<T: Real>(x: &[T], labels: &[u32], dy_y: &[T], v: usize) -> Vec<T> {
    let n = labels.len();
    let (dy, y) = dy_y.split_at(n);
    let mut out = vec![T::ZERO; x.len()];
    for ((((row, o), &l), &g), &yi) in x
        .chunks_exact(v)
        .zip(out.chunks_exact_mut(v))
        .zip(labels)
        .zip(dy)
        .zip(y)
    {
        let z = row[l as usize] - yi;
        for (oj, &xj) in o.iter_mut().zip(row) {
            *oj = -(g * (xj - z).exp_le0());
        }
        o[l as usize] += g;
    }
    out
}

impl CustomOp3 for TokenLogpsBwd {
    fn name(&self) -> &'static str {
        "prefer-token-logps-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (_, v) = l1.shape().dims2()?;
        let labels = cpu_slice::<u32>(s2, l2, name)?;
        let out = match s1.dtype() {
            DType::F32 => CpuStorage::F32(bwd(
                cpu_slice::<f32>(s1, l1, name)?,
                labels,
                cpu_slice::<f32>(s3, l3, name)?,
                v,
            )),
            DType::F64 => CpuStorage::F64(bwd(
                cpu_slice::<f64>(s1, l1, name)?,
                labels,
                cpu_slice::<f64>(s3, l3, name)?,
                v,
            )),
            dt => return Err(unsupported(name, dt)),
        };
        Ok((out, l1.shape().clone()))
    }
}
