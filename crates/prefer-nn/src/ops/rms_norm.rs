//! RMSNorm with an analytic backward.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};

use super::{Real, cpu_slice, fused, unsupported};
use crate::{Error, Result};

/// `y = x / sqrt(mean(x²) + eps) * w` over the last dimension (Llama's RMSNorm, computed
/// in the order of transformers' `LlamaRMSNorm`), differentiable in `x` and `w`.
///
/// Backward, with `r = (mean(x²) + eps)^(-1/2)` per row:
/// `dx_j = r·dy_j·w_j − x_j·r³·mean_i(dy_i·w_i·x_i)`, `dw_j = Σ_rows dy_j·x_j·r`.
///
/// # Shapes
/// - `x`: `[..., n]`, `w`: `[n]` → `[..., n]`
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let n = x.dims().last().copied().unwrap_or(0);
    if w.dims() != [n] {
        return Err(Error::Invalid(format!(
            "rms_norm: weight shape {:?} does not match the last dimension {n} of x {:?}",
            w.dims(),
            x.dims()
        )));
    }
    if fused(x) && x.dtype() == w.dtype() {
        Ok(x.contiguous()?
            .apply_op2(&w.contiguous()?, RmsNorm { eps })?)
    } else {
        Ok(candle_nn::ops::rms_norm_slow(x, w, eps as f32)?)
    }
}

struct RmsNorm {
    eps: f64,
}

fn fwd<T: Real>(x: &[T], w: &[T], eps: f64) -> Vec<T> {
    let n = w.len();
    let mut out = vec![T::ZERO; x.len()];
    let inv_n = T::of(1.0 / n as f64);
    for (xr, yr) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        let mut ss = T::ZERO;
        for &v in xr {
            ss += v * v;
        }
        let r = T::ONE / (ss * inv_n + T::of(eps)).sqrt();
        for ((y, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
            *y = g * (v * r);
        }
    }
    out
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "prefer-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = match s1.dtype() {
            DType::F32 => CpuStorage::F32(fwd(
                cpu_slice::<f32>(s1, l1, name)?,
                cpu_slice::<f32>(s2, l2, name)?,
                self.eps,
            )),
            DType::F64 => CpuStorage::F64(fwd(
                cpu_slice::<f64>(s1, l1, name)?,
                cpu_slice::<f64>(s2, l2, name)?,
                self.eps,
            )),
            dt => return Err(unsupported(name, dt)),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let n = w.elem_count();
        let rows = x.elem_count() / n.max(1);
        // One pass computes both gradients, packed as [dx (rows·n) | dw (n)].
        let packed = x.contiguous()?.apply_op3_no_bwd(
            &w.contiguous()?,
            &dy.contiguous()?,
            &RmsNormBwd { eps: self.eps },
        )?;
        let dx = packed.narrow(0, 0, rows * n)?.reshape(x.shape())?;
        let dw = packed.narrow(0, rows * n, n)?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw)))
    }
}

struct RmsNormBwd {
    eps: f64,
}

fn bwd<T: Real>(x: &[T], w: &[T], dy: &[T], eps: f64) -> Vec<T> {
    let n = w.len();
    let rows = x.len() / n.max(1);
    let mut out = vec![T::ZERO; rows * n + n];
    let (dx, dw) = out.split_at_mut(rows * n);
    let inv_n = T::of(1.0 / n as f64);
    for ((xr, gr), dxr) in x
        .chunks_exact(n)
        .zip(dy.chunks_exact(n))
        .zip(dx.chunks_exact_mut(n))
    {
        let mut ss = T::ZERO;
        let mut dot = T::ZERO;
        for ((&v, &g), &wj) in xr.iter().zip(gr).zip(w) {
            ss += v * v;
            dot += g * wj * v;
        }
        let r = T::ONE / (ss * inv_n + T::of(eps)).sqrt();
        let c = r * r * r * dot * inv_n;
        for (((d, &v), &g), (&wj, dwj)) in dxr
            .iter_mut()
            .zip(xr)
            .zip(gr)
            .zip(w.iter().zip(dw.iter_mut()))
        {
            *d = r * g * wj - v * c;
            *dwj += g * v * r;
        }
    }
    out
}

impl CustomOp3 for RmsNormBwd {
    fn name(&self) -> &'static str {
        "prefer-rms-norm-bwd"
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
        let out = match s1.dtype() {
            DType::F32 => CpuStorage::F32(bwd(
                cpu_slice::<f32>(s1, l1, name)?,
                cpu_slice::<f32>(s2, l2, name)?,
                cpu_slice::<f32>(s3, l3, name)?,
                self.eps,
            )),
            DType::F64 => CpuStorage::F64(bwd(
                cpu_slice::<f64>(s1, l1, name)?,
                cpu_slice::<f64>(s2, l2, name)?,
                cpu_slice::<f64>(s3, l3, name)?,
                self.eps,
            )),
            dt => return Err(unsupported(name, dt)),
        };
        let len = l1.shape().elem_count() + l2.shape().elem_count();
        Ok((out, Shape::from(len)))
    }
}
