//! `x Wᵀ` for a few rows (decoding), with an analytic backward.
//!
//! A decoding step multiplies a handful of rows (one per sequence of the batch) by every
//! weight matrix. candle's GEMM packs the whole `W` for each call, so 8 rows cost 8 times
//! one row and batching buys nothing; here each row of `W` is read once and dotted with
//! every row of `x` while it sits in L1, at memory speed (AVX2/FMA chosen at run time by
//! `pulp`).

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};

use super::{cpu_slice, unsupported};
use crate::Result;

/// The most rows this kernel takes; more go to candle's GEMM, which is faster there.
pub const MAX_ROWS: usize = 16;

/// `x Wᵀ` with `W` stored as `[n, k]` (a linear layer's weight), differentiable.
///
/// Backward: `dx = dy W`, `dW = dyᵀ x`. Uses the row kernel for f32 CPU tensors with at
/// most [`MAX_ROWS`] rows, candle's matmul otherwise.
///
/// # Shapes
/// - `x`: `[m, k]`, `w`: `[n, k]` → `[m, n]`
pub fn rows_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let (m, _) = x.dims2()?;
    if x.device().is_cpu() && x.dtype() == DType::F32 && w.dtype() == DType::F32 && m <= MAX_ROWS {
        Ok(x.contiguous()?.apply_op2(&w.contiguous()?, RowsMatmul)?)
    } else {
        Ok(x.matmul(&w.t()?)?)
    }
}

struct RowsMatmul;

/// Dot products of every row of `x` with each row of `w`: four `x` rows at a time
/// sharing each load of `w`, then the rest one by one.
struct Kernel<'a> {
    x: &'a [f32],
    w: &'a [f32],
    k: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Kernel<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Kernel { x, w, k, out } = self;
        let m = x.len() / k;
        let n = w.len() / k;
        for (j, wj) in w.chunks_exact(k).enumerate() {
            let (wh, wt) = S::as_simd_f32s(wj);
            let mut i = 0;
            while i + 4 <= m {
                let xr = |r: usize| &x[(i + r) * k..][..k];
                let (x0, t0) = S::as_simd_f32s(xr(0));
                let (x1, t1) = S::as_simd_f32s(xr(1));
                let (x2, t2) = S::as_simd_f32s(xr(2));
                let (x3, t3) = S::as_simd_f32s(xr(3));
                let zero = simd.splat_f32s(0.0);
                let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
                for ((((&wv, &v0), &v1), &v2), &v3) in wh.iter().zip(x0).zip(x1).zip(x2).zip(x3) {
                    a0 = simd.mul_add_f32s(v0, wv, a0);
                    a1 = simd.mul_add_f32s(v1, wv, a1);
                    a2 = simd.mul_add_f32s(v2, wv, a2);
                    a3 = simd.mul_add_f32s(v3, wv, a3);
                }
                let mut s = [
                    simd.reduce_sum_f32s(a0),
                    simd.reduce_sum_f32s(a1),
                    simd.reduce_sum_f32s(a2),
                    simd.reduce_sum_f32s(a3),
                ];
                for ((((&wv, &v0), &v1), &v2), &v3) in wt.iter().zip(t0).zip(t1).zip(t2).zip(t3) {
                    s[0] += v0 * wv;
                    s[1] += v1 * wv;
                    s[2] += v2 * wv;
                    s[3] += v3 * wv;
                }
                for (r, v) in s.iter().enumerate() {
                    out[(i + r) * n + j] = *v;
                }
                i += 4;
            }
            // The last rows one at a time, four partial sums for the FMA latency.
            for i in i..m {
                let (xh, xt) = S::as_simd_f32s(&x[i * k..][..k]);
                let zero = simd.splat_f32s(0.0);
                let mut a = [zero; 4];
                let (wc, xc) = (wh.chunks_exact(4), xh.chunks_exact(4));
                let (wr, xrest) = (wc.remainder(), xc.remainder());
                for (wq, xq) in wc.zip(xc) {
                    for ((acc, &wv), &xv) in a.iter_mut().zip(wq).zip(xq) {
                        *acc = simd.mul_add_f32s(xv, wv, *acc);
                    }
                }
                for (&wv, &xv) in wr.iter().zip(xrest) {
                    a[0] = simd.mul_add_f32s(xv, wv, a[0]);
                }
                let sum = simd.add_f32s(simd.add_f32s(a[0], a[1]), simd.add_f32s(a[2], a[3]));
                let mut s = simd.reduce_sum_f32s(sum);
                for (&wv, &xv) in wt.iter().zip(xt) {
                    s += xv * wv;
                }
                out[i * n + j] = s;
            }
        }
    }
}

impl CustomOp2 for RowsMatmul {
    fn name(&self) -> &'static str {
        "prefer-rows-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 {
            return Err(candle_core::Error::Msg(format!(
                "{name}: x is [{m}, {k}] but W is [{n}, {k2}]"
            )));
        }
        if s1.dtype() != DType::F32 || s2.dtype() != DType::F32 {
            return Err(unsupported(name, s1.dtype()));
        }
        let mut out = vec![0f32; m * n];
        if k > 0 {
            pulp::Arch::new().dispatch(Kernel {
                x: cpu_slice::<f32>(s1, l1, name)?,
                w: cpu_slice::<f32>(s2, l2, name)?,
                k,
                out: &mut out,
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = dy.matmul(w)?;
        let dw = dy.t()?.matmul(x)?;
        Ok((Some(dx), Some(dw)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn randn(shape: (usize, usize), seed: u64) -> Tensor {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let normal = rand_distr::Normal::new(0f32, 1.0).expect("normal");
        let v: Vec<f32> = (0..shape.0 * shape.1)
            .map(|_| normal.sample(&mut rng))
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).expect("tensor")
    }

    /// Against the exact product in f64, for row counts around the 4-row groups and
    /// widths around the SIMD lanes; gradients against candle's matmul.
    #[test]
    fn equals_the_matmul_values_and_gradients() -> Result<()> {
        for (m, k, n) in [
            (1, 256, 37),
            (3, 7, 5),
            (4, 64, 9),
            (5, 33, 16),
            (8, 100, 3),
            (16, 17, 4),
        ] {
            let x = Var::from_tensor(&randn((m, k), 1))?;
            let w = Var::from_tensor(&randn((n, k), 2))?;
            let y = rows_matmul(x.as_tensor(), w.as_tensor())?;
            let exact = x
                .as_tensor()
                .to_dtype(DType::F64)?
                .matmul(&w.as_tensor().to_dtype(DType::F64)?.t()?)?;
            let (y64, e) = (
                y.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?,
                exact.flatten_all()?.to_vec1::<f64>()?,
            );
            assert_eq!(y.dims(), [m, n]);
            for (a, b) in y64.iter().zip(&e) {
                // f32 dot products of length k: a few ulp of the sum of |terms|.
                assert!(
                    (a - b).abs() <= 1e-5 * (k as f64).sqrt() * (1.0 + b.abs()),
                    "{m}x{k}x{n}: {a} vs {b}"
                );
            }
            let g = randn((m, n), 3);
            let got = (y * &g)?.sum_all()?.backward()?;
            let want = (x.as_tensor().matmul(&w.as_tensor().t()?)? * &g)?
                .sum_all()?
                .backward()?;
            for v in [&x, &w] {
                let (a, b) = (got.get(v).expect("grad"), want.get(v).expect("grad"));
                let d = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(d < 1e-4, "{m}x{k}x{n}: gradient differs by {d}");
            }
        }
        Ok(())
    }
}
