//! Rotary position embedding (rotate-half layout, as transformers' Llama) with an
//! analytic backward.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor};

use super::{Real, cpu_slice, fused, unsupported};
use crate::{Error, Result};

/// Rotary embedding in the "rotate half" layout of transformers' `apply_rotary_pos_emb`:
/// with `h = d/2`, `y_i = x_i·cos_i − x_{i+h}·sin_i` and `y_{i+h} = x_{i+h}·cos_i + x_i·sin_i`.
/// Differentiable in `x` (the backward is the inverse rotation); `cos` and `sin` are
/// constants (they get no gradient).
///
/// # Shapes
/// - `x`: `[batch, seq, heads, d]`
/// - `cos`, `sin`: `[batch, seq, d/2]` (one angle per row and position, so left-padded
///   rows can have their own positions)
/// - output: `[batch, seq, heads, d]`
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, t, _h, d) = x.dims4()?;
    if d % 2 != 0 || cos.dims() != [b, t, d / 2] || sin.dims() != cos.dims() {
        return Err(Error::Invalid(format!(
            "rope: x {:?} needs cos/sin of shape [{b}, {t}, {}], got {:?} / {:?}",
            x.dims(),
            d / 2,
            cos.dims(),
            sin.dims()
        )));
    }
    if fused(x) && x.dtype() == cos.dtype() && x.dtype() == sin.dtype() {
        Ok(x.contiguous()?.apply_op3(
            &cos.contiguous()?,
            &sin.contiguous()?,
            Rope { inverse: false },
        )?)
    } else {
        let half = d / 2;
        let x1 = x.narrow(3, 0, half)?;
        let x2 = x.narrow(3, half, half)?;
        let c = cos.unsqueeze(2)?.to_dtype(x.dtype())?;
        let s = sin.unsqueeze(2)?.to_dtype(x.dtype())?;
        let y1 = (x1.broadcast_mul(&c)? - x2.broadcast_mul(&s)?)?;
        let y2 = (x2.broadcast_mul(&c)? + x1.broadcast_mul(&s)?)?;
        Ok(Tensor::cat(&[y1, y2], 3)?)
    }
}

/// `inverse` rotates by the opposite angle (the backward).
struct Rope {
    inverse: bool,
}

fn fwd<T: Real>(x: &[T], cos: &[T], sin: &[T], dims: &[usize], inverse: bool) -> Vec<T> {
    let (heads, d) = (dims[2], dims[3]);
    let half = d / 2;
    let mut out = vec![T::ZERO; x.len()];
    // One (batch, position) pair at a time: `heads` vectors of `d` share cos/sin.
    for (pos, (xp, yp)) in x
        .chunks_exact(heads * d)
        .zip(out.chunks_exact_mut(heads * d))
        .enumerate()
    {
        let c = &cos[pos * half..(pos + 1) * half];
        let s = &sin[pos * half..(pos + 1) * half];
        for (xh, yh) in xp.chunks_exact(d).zip(yp.chunks_exact_mut(d)) {
            for i in 0..half {
                let (a, b) = (xh[i], xh[i + half]);
                let si = if inverse { -s[i] } else { s[i] };
                yh[i] = a * c[i] + (-b) * si;
                yh[i + half] = b * c[i] + a * si;
            }
        }
    }
    out
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "prefer-rope"
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
        let dims = l1.dims();
        let out = match s1.dtype() {
            DType::F32 => CpuStorage::F32(fwd(
                cpu_slice::<f32>(s1, l1, name)?,
                cpu_slice::<f32>(s2, l2, name)?,
                cpu_slice::<f32>(s3, l3, name)?,
                dims,
                self.inverse,
            )),
            DType::F64 => CpuStorage::F64(fwd(
                cpu_slice::<f64>(s1, l1, name)?,
                cpu_slice::<f64>(s2, l2, name)?,
                cpu_slice::<f64>(s3, l3, name)?,
                dims,
                self.inverse,
            )),
            dt => return Err(unsupported(name, dt)),
        };
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = dy.contiguous()?.apply_op3_no_bwd(
            cos,
            sin,
            &Rope {
                inverse: !self.inverse,
            },
        )?;
        Ok((Some(dx), None, None))
    }
}
