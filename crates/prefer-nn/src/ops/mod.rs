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
