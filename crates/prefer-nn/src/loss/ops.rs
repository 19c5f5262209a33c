//! Differentiable building blocks shared by the losses.
//!
//! Everything here is built from candle primitives that have a backward pass (`exp`, `log`,
//! `where_cond`, arithmetic), never from ops created with `apply_op*_no_bwd`. The branches
//! of [`log_sigmoid`] are selected with `where_cond` on inputs that are themselves masked,
//! so that neither the forward nor the backward pass of the unused branch can overflow, and
//! the derivative at exactly 0 (every DPO step 0, where policy = reference) is the true
//! σ(0) = 1/2, not a one-sided value of a kink.

use candle_core::{D, DType, Tensor};

use crate::error::{Error, Result};

/// log σ(x), elementwise, stable for any finite x and differentiable everywhere.
///
/// For x ≥ 0: -log(1 + e^{-x}); for x < 0: x - log(1 + e^{x}).
///
/// # Shapes
/// - `x`: any shape → same shape.
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    let zeros = x.zeros_like()?;
    let pos = x.ge(&zeros)?;
    // Each branch only sees the inputs it is evaluated on; elsewhere it sees 0.
    let xp = pos.where_cond(x, &zeros)?;
    let xn = pos.where_cond(&zeros, x)?;
    let branch_pos = (xp.neg()?.exp()? + 1.0)?.log()?.neg()?;
    let branch_neg = (&xn - (xn.exp()? + 1.0)?.log()?)?;
    Ok(pos.where_cond(&branch_pos, &branch_neg)?)
}

/// σ(x) = exp(log σ(x)), elementwise; never NaN, differentiable everywhere.
///
/// # Shapes
/// - `x`: any shape → same shape.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(log_sigmoid(x)?.exp()?)
}

/// log Σ_j exp(x_j) over the last dimension, with the maximum subtracted first.
///
/// # Shapes
/// - `x`: `[..., n]` → `[...]`.
pub fn log_sum_exp_last(x: &Tensor) -> Result<Tensor> {
    // The shift is a constant for autograd: the gradient of the result is softmax(x) either way.
    let m = x.max_keepdim(D::Minus1)?.detach();
    let s = x.broadcast_sub(&m)?.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok((s + m)?.squeeze(D::Minus1)?)
}

/// Checks that `t` is a 1-D floating-point tensor of length `n` (or any length when `n` is
/// `None`) and returns its length.
pub(crate) fn check_vec(t: &Tensor, name: &str, n: Option<usize>) -> Result<usize> {
    if !t.dtype().is_float() {
        return Err(Error::Invalid(format!(
            "{name}: expected a floating-point tensor, got {:?}",
            t.dtype()
        )));
    }
    let dims = t.dims();
    if dims.len() != 1 {
        return Err(Error::Invalid(format!(
            "{name}: expected shape [batch], got {dims:?}"
        )));
    }
    if let Some(n) = n
        && dims[0] != n
    {
        return Err(Error::Invalid(format!(
            "{name}: expected {n} elements (the batch size), got {}",
            dims[0]
        )));
    }
    Ok(dims[0])
}

/// Converts `t` to `dtype` (lengths and labels may come as integers).
pub(crate) fn as_dtype(t: &Tensor, dtype: DType) -> Result<Tensor> {
    if t.dtype() == dtype {
        Ok(t.clone())
    } else {
        Ok(t.to_dtype(dtype)?)
    }
}

/// Checks a configuration value: finite and inside `ok`; the message names the field.
pub(crate) fn check_param(name: &str, value: f64, ok: bool, expected: &str) -> Result<()> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{name} = {value}: expected {expected}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// f64 arithmetic: log σ and its derivative have closed forms.
    const TOL: f64 = 1e-12;

    #[test]
    fn log_sigmoid_matches_closed_form_and_is_finite_at_extremes() -> Result<()> {
        let xs: [f64; 8] = [-800.0, -40.0, -1.5, 0.0, 1e-9, 2.0, 40.0, 800.0];
        let t = Tensor::new(&xs[..], &Device::Cpu)?;
        let got = log_sigmoid(&t)?.to_vec1::<f64>()?;
        for (x, g) in xs.iter().zip(&got) {
            // Reference: log σ(x) = -ln(1 + e^{-x}) via ln_1p for x ≥ 0, x - ln(1+e^x) else.
            let want = if *x >= 0.0 {
                -(-x).exp().ln_1p()
            } else {
                x - x.exp().ln_1p()
            };
            // log(1 + u) with u below f64's ε rounds to 0: an absolute error under ε, while
            // the gradient (through u itself) stays relatively exact.
            assert!(
                (g - want).abs() <= TOL * want.abs() + f64::EPSILON,
                "x={x}: {g} vs {want}"
            );
        }
        Ok(())
    }

    #[test]
    fn log_sigmoid_gradient_is_sigmoid_of_minus_x_including_zero() -> Result<()> {
        let xs: [f64; 5] = [-800.0, -3.0, 0.0, 3.0, 800.0];
        let v = Var::new(&xs[..], &Device::Cpu)?;
        let grads = log_sigmoid(v.as_tensor())?.sum_all()?.backward()?;
        let g = grads
            .get(v.as_tensor())
            .ok_or_else(|| Error::Invalid("no gradient".into()))?
            .to_vec1::<f64>()?;
        for (x, g) in xs.iter().zip(&g) {
            let want = 1.0 / (1.0 + x.exp()); // d/dx log σ(x) = σ(-x)
            assert!((g - want).abs() <= TOL, "x={x}: {g} vs {want}");
            assert!(g.is_finite());
        }
        Ok(())
    }

    #[test]
    fn log_sum_exp_matches_direct_sum() -> Result<()> {
        let t = Tensor::new(
            &[[1.0f64, 2.0, 3.0], [-1000.0, -1000.0, -1000.0]],
            &Device::Cpu,
        )?;
        let got = log_sum_exp_last(&t)?.to_vec1::<f64>()?;
        let want0 = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let want1 = -1000.0 + 3f64.ln();
        assert!((got[0] - want0).abs() < TOL);
        assert!((got[1] - want1).abs() < 1e-9);
        Ok(())
    }
}
