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
mod rows_matmul;
mod softmax;
mod token_logps;

pub use rms_norm::rms_norm;
pub use rope::rope;
pub use rows_matmul::{MAX_ROWS, rows_matmul};
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
    /// e^x for x ≤ 0 (softmax and log-sum-exp arguments, `x − max`): for f32 a
    /// polynomial that inlines, so loops over it vectorize ([`exp_le0_f32`]); for f64
    /// libm's `exp`.
    fn exp_le0(self) -> Self;
    fn ln(self) -> Self;
    fn sqrt(self) -> Self;
    fn of(v: f64) -> Self;
}

macro_rules! real {
    ($t:ty, $exp_le0:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INF: Self = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn exp_le0(self) -> Self {
                $exp_le0(self)
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
real!(f32, exp_le0_f32);
real!(f64, f64::exp);

/// e^x for x ≤ 0 in f32 without a libm call, so that a loop over it vectorizes (libm's
/// `expf` was 7% of a training step, called once per logit).
///
/// Cody-Waite reduction x = n·ln 2 + r with |r| ≤ ln 2 / 2 (n rounded by the 1.5·2²³
/// shift, which needs no rounding instruction), Cephes' degree-6 polynomial for e^r,
/// and 2ⁿ built from exponent bits. Relative error under 2 ulp on [−87.3, 0]; below
/// −87.3 (where e^x is under the smallest normal f32) it returns 0; NaN stays NaN.
/// Positive x is outside its domain (it would be wrong above 88.3).
#[inline(always)]
pub(crate) fn exp_le0_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const SHIFT: f32 = 12_582_912.0; // 1.5 · 2²³: adding it leaves round(x) in the mantissa
    let xc = x.max(-87.3);
    let t = xc * LOG2E + SHIFT;
    let n = t - SHIFT;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let n_int = t.to_bits() as i32 - 0x4B40_0000;
    let scale = f32::from_bits(((n_int + 127) << 23) as u32);
    let y = er * scale;
    if x < -87.3 {
        0.0
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// Σ e^(x − m) over a row, with eight partial sums so that the f32 loop vectorizes.
#[inline]
pub(crate) fn sum_exp<T: Real>(row: &[T], m: T) -> T {
    let mut acc = [T::ZERO; 8];
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += (v - m).exp_le0();
        }
    }
    let mut s = T::ZERO;
    for &v in rest {
        s += (v - m).exp_le0();
    }
    for a in acc {
        s += a;
    }
    s
}

/// The largest entry of a row (−∞ for an empty row; NaN entries are skipped).
#[inline]
pub(crate) fn row_max<T: Real>(row: &[T]) -> T {
    let mut acc = [T::NEG_INF; 8];
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    let mut m = T::NEG_INF;
    for &v in rest.iter().chain(acc.iter()) {
        if v > m {
            m = v;
        }
    }
    m
}

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

    #[test]
    fn fast_exp_is_within_two_ulp_of_the_exact_exponential() {
        // Every 1/4096 on [−87.3, 0] plus the ends, against f64's exp rounded to f32.
        let mut worst = 0f64;
        let mut x = -87.3f32;
        while x <= 0.0 {
            let got = exp_le0_f32(x) as f64;
            let want = (x as f64).exp();
            worst = worst.max(((got - want) / want).abs());
            x += 1.0 / 4096.0;
        }
        assert!(
            worst < 2.0 * f32::EPSILON as f64,
            "worst relative error {worst:e}"
        );
        assert_eq!(exp_le0_f32(0.0), 1.0);
        assert_eq!(exp_le0_f32(-100.0), 0.0);
        assert_eq!(exp_le0_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_le0_f32(f32::NAN).is_nan());
        // Slightly positive arguments (rounding in the backward) stay accurate.
        let e = (exp_le0_f32(1e-3) as f64 - 1e-3f64.exp()).abs();
        assert!(e < 2.0 * f32::EPSILON as f64, "{e:e}");
    }

    #[test]
    fn lane_reductions_equal_the_plain_loops() {
        for n in [0usize, 1, 7, 8, 9, 63, 1000] {
            let row: Vec<f32> = (0..n)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            assert_eq!(row_max(&row), m);
            if n > 0 {
                let plain: f64 = row.iter().map(|&v| ((v - m) as f64).exp()).sum();
                let got = sum_exp(&row, m) as f64;
                assert!((got - plain).abs() < 1e-6 * plain, "{n}: {got} vs {plain}");
            }
        }
    }
}
