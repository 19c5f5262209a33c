//! Softmax over the last dimension with an analytic backward.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, D, DType, Layout, Shape, Tensor};

use super::{Real, cpu_slice, fused, unsupported};
use crate::Result;

/// `softmax(x)` over the last dimension, differentiable.
///
/// Forward `y_i = exp(x_i - max x) / sum_j exp(x_j - max x)`; backward
/// `dx = y * (dy - sum(dy * y))`.
///
/// # Shapes
/// - `x`: `[..., n]` → `[..., n]`
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        Ok(x.contiguous()?.apply_op1(Softmax)?)
    } else {
        Ok(candle_nn::ops::softmax(x, D::Minus1)?)
    }
}

struct Softmax;

fn fwd<T: Real>(x: &[T], n: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; x.len()];
    for (xr, yr) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let m = super::row_max(xr);
        for (y, &v) in yr.iter_mut().zip(xr) {
            *y = (v - m).exp_le0();
        }
        let mut acc = [T::ZERO; 8];
        let chunks = yr.chunks_exact(8);
        let mut s = chunks.remainder().iter().fold(T::ZERO, |a, &y| a + y);
        for c in chunks {
            for (a, &y) in acc.iter_mut().zip(c) {
                *a += y;
            }
        }
        for a in acc {
            s += a;
        }
        let inv = T::ONE / s;
        for y in yr.iter_mut() {
            *y *= inv;
        }
    }
    out
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "prefer-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = l.dims().last().copied().unwrap_or(1).max(1);
        let out = match s.dtype() {
            DType::F32 => CpuStorage::F32(fwd(cpu_slice::<f32>(s, l, self.name())?, n)),
            DType::F64 => CpuStorage::F64(fwd(cpu_slice::<f64>(s, l, self.name())?, n)),
            dt => return Err(unsupported(self.name(), dt)),
        };
        Ok((out, l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(
            y.contiguous()?
                .apply_op2_no_bwd(&dy.contiguous()?, &SoftmaxBwd)?,
        ))
    }
}

/// `(y, dy) -> y * (dy - sum(dy * y))` row by row.
struct SoftmaxBwd;

fn bwd<T: Real>(y: &[T], dy: &[T], n: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; y.len()];
    for ((yr, gr), or) in y
        .chunks_exact(n)
        .zip(dy.chunks_exact(n))
        .zip(out.chunks_exact_mut(n))
    {
        let mut dot = T::ZERO;
        for (&a, &b) in yr.iter().zip(gr) {
            dot += a * b;
        }
        for ((o, &a), &b) in or.iter_mut().zip(yr).zip(gr) {
            *o = a * (b - dot);
        }
    }
    out
}

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "prefer-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let n = l1.dims().last().copied().unwrap_or(1).max(1);
        let name = self.name();
        let out = match s1.dtype() {
            DType::F32 => CpuStorage::F32(bwd(
                cpu_slice::<f32>(s1, l1, name)?,
                cpu_slice::<f32>(s2, l2, name)?,
                n,
            )),
            DType::F64 => CpuStorage::F64(bwd(
                cpu_slice::<f64>(s1, l1, name)?,
                cpu_slice::<f64>(s2, l2, name)?,
                n,
            )),
            dt => return Err(unsupported(name, dt)),
        };
        Ok((out, l1.shape().clone()))
    }
}
