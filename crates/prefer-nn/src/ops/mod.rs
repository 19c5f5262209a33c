//! Differentiable fused operations.
//!
//! candle's fused `softmax_last_dim`, `rms_norm` and `rope` are built with
//! `apply_op*_no_bwd`: autograd silently stops at them (no error, the weights before them
//! simply get no gradient; see `../shared/notes/candle-training.md` and upstream issues
//! #2168, #3568, #3569). The operations here are candle `CustomOp`s with an analytic
//! backward, so they are as fast as the fused ones and train. On a device other than the
//! CPU, or a dtype other than f32/f64, each falls back to a composition of differentiable
//! candle operations with the same result.
//!
//! # Quickstart
//! ```
//! use candle_core::{Device, Tensor, Var};
//! let x = Var::new(&[[1f32, 2., 3.]], &Device::Cpu)?;
//! let y = prefer_nn::ops::softmax_last_dim(x.as_tensor())?;
//! let loss = y.narrow(1, 0, 1)?.sum_all()?;
//! let grads = loss.backward()?;
//! assert!(grads.get(&x).is_some()); // the gradient reaches x
//! # Ok::<(), prefer_nn::Error>(())
//! ```

mod rms_norm;
mod rope;
mod softmax;
mod token_logps;

pub use rms_norm::rms_norm;
pub use rope::rope;
pub use softmax::softmax_last_dim;
pub use token_logps::token_logps;

use candle_core::{CpuStorage, DType, Layout, Tensor, WithDType};

/// The float types the CPU kernels run on.
pub(crate) trait Real:
    WithDType
    + Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::MulAssign
    + PartialOrd
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INF: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn of(v: f64) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INF: Self = <$t>::NEG_INFINITY;
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn of(v: f64) -> Self {
                v as $t
            }
        }
    };
}
real!(f32);
real!(f64);

/// The contiguous data of a CPU tensor argument.
pub(crate) fn cpu_slice<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<T>()?[a..b]),
        None => Err(candle_core::Error::Msg(format!(
            "{op}: input must be contiguous"
        ))),
    }
}

/// Whether the custom CPU kernels apply to this tensor (else use the fallback).
pub(crate) fn fused(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

pub(crate) fn unsupported(op: &str, dt: DType) -> candle_core::Error {
    candle_core::Error::Msg(format!("{op}: unsupported dtype {dt:?} (f32 or f64)"))
}

/// Largest (most negative) finite value used to mask attention scores of `dtype`.
pub(crate) fn mask_value(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => -6.0e4,
        _ => -1.0e30,
    }
}

#[cfg(test)]
mod tests {
    //! Each fused op against its composition of differentiable candle ops (forward and
    //! backward), in f64 where both are exact to rounding.
    use super::*;
    use candle_core::{D, Device, Var};

    /// f64 results of two summation orders of the same formula.
    const TOL: f64 = 1e-12;
    /// candle's `rms_norm_slow` takes ε as f32 (1e-5 becomes 1e-5·(1 − 2.5e-9)).
    const RMS_TOL: f64 = 1e-10;

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|_| rand_distr::StandardNormal.sample(&mut rng))
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).expect("tensor")
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f64>())
            .expect("diff")
    }

    /// Forward values and gradients (w.r.t. each var) of `f(vars) · w` for a fixed `w`.
    fn run(vars: &[&Var], f: &dyn Fn(&[Tensor]) -> Tensor, w: &Tensor) -> (Tensor, Vec<Tensor>) {
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&ts);
        let loss = (&y * w).and_then(|l| l.sum_all()).expect("loss");
        let g = loss.backward().expect("backward");
        (
            y,
            vars.iter()
                .map(|v| g.get(v).expect("grad").clone())
                .collect(),
        )
    }

    #[test]
    fn softmax_matches_the_composed_op() {
        let x = Var::from_tensor(&randn(&[3, 4, 7], 1)).expect("var");
        let w = randn(&[3, 4, 7], 2);
        let (a, ga) = run(&[&x], &|t| softmax_last_dim(&t[0]).expect("fused"), &w);
        let (b, gb) = run(
            &[&x],
            &|t| candle_nn::ops::softmax(&t[0], D::Minus1).expect("slow"),
            &w,
        );
        assert!(max_diff(&a, &b) < TOL && max_diff(&ga[0], &gb[0]) < TOL);
        // Non-contiguous input (a transpose) gives the transposed result.
        let xt = x.as_tensor().transpose(1, 2).expect("t");
        let c = softmax_last_dim(&xt).expect("fused");
        let d = candle_nn::ops::softmax(&xt, D::Minus1).expect("slow");
        assert!(max_diff(&c, &d) < TOL);
    }

    #[test]
    fn rms_norm_matches_the_composed_op() {
        let x = Var::from_tensor(&randn(&[2, 5, 6], 3)).expect("var");
        let g = Var::from_tensor(&randn(&[6], 4)).expect("var");
        let w = randn(&[2, 5, 6], 5);
        let (a, ga) = run(
            &[&x, &g],
            &|t| rms_norm(&t[0], &t[1], 1e-5).expect("fused"),
            &w,
        );
        let (b, gb) = run(
            &[&x, &g],
            &|t| candle_nn::ops::rms_norm_slow(&t[0], &t[1], 1e-5).expect("slow"),
            &w,
        );
        assert!(max_diff(&a, &b) < RMS_TOL);
        let (dx, dw) = (max_diff(&ga[0], &gb[0]), max_diff(&ga[1], &gb[1]));
        assert!(dx < RMS_TOL && dw < RMS_TOL, "dx {dx:e} dw {dw:e}");
    }

    #[test]
    fn rope_matches_the_composed_op_and_inverts() {
        let x = Var::from_tensor(&randn(&[2, 3, 4, 8], 6)).expect("var");
        let ang = randn(&[2, 3, 4], 7);
        let (c, s) = (ang.cos().expect("cos"), ang.sin().expect("sin"));
        let w = randn(&[2, 3, 4, 8], 8);
        let (a, ga) = run(&[&x], &|t| rope(&t[0], &c, &s).expect("fused"), &w);
        // The same formula composed of differentiable candle ops.
        let half = |t: &Tensor, i: usize| t.narrow(3, i * 4, 4).expect("narrow");
        let (b, gb) = run(
            &[&x],
            &|t| {
                let (x1, x2) = (half(&t[0], 0), half(&t[0], 1));
                let (cc, ss) = (c.unsqueeze(2).expect("u"), s.unsqueeze(2).expect("u"));
                let y1 = (x1.broadcast_mul(&cc).expect("m") - x2.broadcast_mul(&ss).expect("m"))
                    .expect("s");
                let y2 = (x2.broadcast_mul(&cc).expect("m") + x1.broadcast_mul(&ss).expect("m"))
                    .expect("a");
                Tensor::cat(&[y1, y2], 3).expect("cat")
            },
            &w,
        );
        assert!(max_diff(&a, &b) < TOL && max_diff(&ga[0], &gb[0]) < TOL);
        // Rotations preserve norms: |rope(x)| = |x| per head vector.
        let n0 = x
            .as_tensor()
            .sqr()
            .and_then(|t| t.sum(D::Minus1))
            .expect("n");
        let n1 = a.sqr().and_then(|t| t.sum(D::Minus1)).expect("n");
        assert!(max_diff(&n0, &n1) < TOL);
    }

    #[test]
    fn token_logps_match_log_softmax_gather() {
        let x = Var::from_tensor(&randn(&[6, 11], 9)).expect("var");
        let labels = Tensor::new(&[0u32, 10, 3, 3, 7, 5], &Device::Cpu).expect("labels");
        let w = randn(&[6], 10);
        let (a, ga) = run(&[&x], &|t| token_logps(&t[0], &labels).expect("fused"), &w);
        let (b, gb) = run(
            &[&x],
            &|t| {
                candle_nn::ops::log_softmax(&t[0], D::Minus1)
                    .and_then(|l| l.gather(&labels.unsqueeze(1)?, 1))
                    .and_then(|l| l.squeeze(1))
                    .expect("slow")
            },
            &w,
        );
        assert!(max_diff(&a, &b) < TOL && max_diff(&ga[0], &gb[0]) < TOL);
        let bad = Tensor::new(&[0u32, 11, 3, 3, 7, 5], &Device::Cpu).expect("labels");
        assert!(token_logps(x.as_tensor(), &bad).is_err());
    }
}
