//! AdamW that updates the parameters in place, gradient accumulation, and clipping by the
//! global norm: the one optimizer of policies, reward models and value heads
//! (`prefer_train` re-exports it as `prefer_train::optim`).
//!
//! AdamW (Loshchilov & Hutter 2019, arXiv:1711.05101, Algorithm 2) with PyTorch's
//! `torch.optim.AdamW` arithmetic (decoupled weight decay applied first, bias corrections
//! folded into the step size and the denominator):
//!
//! ```text
//! θ ← θ·(1 − η·λ)
//! m ← m + (1 − β₁)(g − m)            v ← β₂·v + (1 − β₂)·g²
//! θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! The moments live in plain vectors beside each parameter and the update runs in one pass
//! over the parameter's storage (a candle in-place op): no temporary tensors. candle_nn's
//! `AdamW` builds about ten temporaries per parameter and step, which on a 135M model cost
//! 6.8 s against 0.5 s for this loop (`../shared/notes/candle-training.md`).
//!
//! # Quickstart
//! ```
//! use candle_core::{Device, Tensor, Var};
//! use prefer_nn::optim::{AdamW, AdamWConfig, GradAccumulator};
//! let w = Var::new(&[1.0f32, -2.0], &Device::Cpu)?;
//! let mut opt = AdamW::new(vec![("w".into(), w.clone())], AdamWConfig { lr: 0.1, ..Default::default() })?;
//! let mut acc = GradAccumulator::new(opt.len());
//! let loss = w.as_tensor().sqr()?.sum_all()?;             // ∇ = 2w
//! acc.add(&loss.backward()?, opt.vars())?;
//! let norm = acc.global_norm()?;                         // ‖(2, −4)‖ = √20
//! assert!((norm - 20f64.sqrt()).abs() < 1e-6);
//! opt.step(&acc, 1.0, 0.1)?;                             // first step moves each weight by ≈ η
//! let w1 = w.as_tensor().to_vec1::<f32>()?;
//! assert!((w1[0] - 0.9).abs() < 1e-5 && (w1[1] + 1.9).abs() < 1e-5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::RefCell;

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, Layout, Storage, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// AdamW hyper-parameters (PyTorch's names and defaults, except `weight_decay`, which is
/// transformers' `TrainingArguments` default 0.0).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    /// Peak learning rate η (default 1e-6, TRL's `DPOConfig.learning_rate`); the schedule
    /// scales it per step.
    pub lr: f64,
    /// β₁, decay of the first moment (default 0.9).
    pub beta1: f64,
    /// β₂, decay of the second moment (default 0.999).
    pub beta2: f64,
    /// ε added to the denominator (default 1e-8).
    pub eps: f64,
    /// λ, decoupled weight decay (default 0.0).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-6,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamWConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        let bad = |k: &str, v: f64, want: &str| {
            Err(Error::Config(format!("optim.{k} = {v}: must be {want}")))
        };
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad("lr", self.lr, "finite and ≥ 0");
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", self.beta1, "in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", self.beta2, "in [0, 1)");
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad("eps", self.eps, "finite and > 0");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", self.weight_decay, "finite and ≥ 0");
        }
        Ok(())
    }
}

/// First and second moments of one parameter, in the parameter's dtype.
#[derive(Debug, Clone, PartialEq)]
pub enum Moments {
    /// f32 parameter.
    F32 {
        /// m
        m: Vec<f32>,
        /// v
        v: Vec<f32>,
    },
    /// f64 parameter.
    F64 {
        /// m
        m: Vec<f64>,
        /// v
        v: Vec<f64>,
    },
}

impl Moments {
    fn zeros(dtype: DType, n: usize) -> Result<Self> {
        match dtype {
            DType::F32 => Ok(Moments::F32 {
                m: vec![0.0; n],
                v: vec![0.0; n],
            }),
            DType::F64 => Ok(Moments::F64 {
                m: vec![0.0; n],
                v: vec![0.0; n],
            }),
            d => Err(Error::Config(format!(
                "AdamW supports f32 and f64 parameters, not {d:?}"
            ))),
        }
    }

    /// The moments as tensors `(m, v)` of `shape` (for checkpoints).
    pub fn to_tensors(&self, shape: &[usize]) -> Result<(Tensor, Tensor)> {
        let dev = candle_core::Device::Cpu;
        Ok(match self {
            Moments::F32 { m, v } => (
                Tensor::from_slice(m, shape, &dev)?,
                Tensor::from_slice(v, shape, &dev)?,
            ),
            Moments::F64 { m, v } => (
                Tensor::from_slice(m, shape, &dev)?,
                Tensor::from_slice(v, shape, &dev)?,
            ),
        })
    }
}

/// Gradients summed over the micro-batches of one optimizer step, one slot per parameter
/// (in the optimizer's order).
#[derive(Debug, Clone)]
pub struct GradAccumulator {
    sums: Vec<Option<Tensor>>,
}

impl GradAccumulator {
    /// Empty slots for `n` parameters.
    pub fn new(n: usize) -> Self {
        GradAccumulator {
            sums: vec![None; n],
        }
    }

    /// Adds the gradients of `vars` found in `grads` (a parameter without a gradient keeps
    /// its slot; [`AdamW::step`] then treats its gradient as zero).
    pub fn add(&mut self, grads: &GradStore, vars: &[Var]) -> Result<()> {
        if vars.len() != self.sums.len() {
            return Err(Error::Config(format!(
                "{} gradient slots for {} parameters",
                self.sums.len(),
                vars.len()
            )));
        }
        for (slot, var) in self.sums.iter_mut().zip(vars) {
            if let Some(g) = grads.get(var.as_tensor()) {
                let g = g.detach();
                *slot = Some(match slot.take() {
                    None => g,
                    Some(acc) => (acc + g)?,
                });
            }
        }
        Ok(())
    }

    /// Forgets every gradient (start of the next optimizer step).
    pub fn clear(&mut self) {
        self.sums.iter_mut().for_each(|s| *s = None);
    }

    /// The summed gradient of parameter `i`, if it received one.
    pub fn get(&self, i: usize) -> Option<&Tensor> {
        self.sums.get(i).and_then(Option::as_ref)
    }

    /// Number of parameters that received a gradient.
    pub fn count(&self) -> usize {
        self.sums.iter().filter(|s| s.is_some()).count()
    }

    /// ‖g‖₂ over all parameters together (accumulated in f64): what clipping compares with
    /// `max_grad_norm` and what TRL logs as `grad_norm`.
    pub fn global_norm(&self) -> Result<f64> {
        let mut ss = 0f64;
        for g in self.sums.iter().flatten() {
            ss += with_slice(g, |s| match s {
                Slice::F32(x) => x.iter().map(|&a| (a as f64) * (a as f64)).sum::<f64>(),
                Slice::F64(x) => x.iter().map(|&a| a * a).sum::<f64>(),
            })?;
        }
        Ok(ss.sqrt())
    }

    /// The first parameter (index) whose gradient holds a NaN or infinity.
    pub fn first_non_finite(&self) -> Result<Option<usize>> {
        for (i, g) in self.sums.iter().enumerate() {
            if let Some(g) = g {
                let bad = with_slice(g, |s| match s {
                    Slice::F32(x) => x.iter().any(|a| !a.is_finite()),
                    Slice::F64(x) => x.iter().any(|a| !a.is_finite()),
                })?;
                if bad {
                    return Ok(Some(i));
                }
            }
        }
        Ok(None)
    }
}

/// The coefficient by which clipping scales the gradients: `min(1, max_norm / (norm + 1e-6))`
/// (PyTorch's `clip_grad_norm_`); 1 when `max_norm` is `None`.
pub fn clip_coefficient(norm: f64, max_norm: Option<f64>) -> f64 {
    match max_norm {
        Some(m) if norm > m => m / (norm + 1e-6),
        _ => 1.0,
    }
}

/// A borrowed view of a contiguous CPU tensor's data.
enum Slice<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
}

/// Runs `f` on the data of `t` (CPU, f32 or f64; made contiguous first if needed).
fn with_slice<R>(t: &Tensor, f: impl FnOnce(Slice<'_>) -> R) -> Result<R> {
    let owned;
    let t = if t.is_contiguous() {
        t
    } else {
        owned = t.contiguous()?;
        &owned
    };
    let (storage, layout) = t.storage_and_layout();
    let (a, b) = layout
        .contiguous_offsets()
        .ok_or_else(|| Error::Config("gradient is not contiguous".into()))?;
    match &*storage {
        Storage::Cpu(CpuStorage::F32(v)) => Ok(f(Slice::F32(&v[a..b]))),
        Storage::Cpu(CpuStorage::F64(v)) => Ok(f(Slice::F64(&v[a..b]))),
        _ => Err(Error::Config(format!(
            "optimizer: only CPU f32/f64 tensors are supported (got {:?} on {:?})",
            t.dtype(),
            t.device().location()
        ))),
    }
}

/// The per-element AdamW update of one parameter, run in place on its storage.
struct AdamWUpdate<'a> {
    grad: Option<&'a Tensor>,
    moments: RefCell<&'a mut Moments>,
    /// Multiplies the gradient first (clipping).
    gscale: f64,
    /// 1 − η·λ
    decay: f64,
    beta1: f64,
    beta2: f64,
    /// η / (1 − β₁ᵗ)
    step_size: f64,
    /// √(1 − β₂ᵗ)
    bc2_sqrt: f64,
    eps: f64,
}

macro_rules! adamw_loop {
    ($t:ty, $p:expr, $g:expr, $m:expr, $v:expr, $c:expr) => {{
        let c = $c;
        let (gscale, decay, b2) = (c.gscale as $t, c.decay as $t, c.beta2 as $t);
        let (w1, w2) = ((1.0 - c.beta1) as $t, (1.0 - c.beta2) as $t);
        let (step, inv_bc2, eps) = (c.step_size as $t, (1.0 / c.bc2_sqrt) as $t, c.eps as $t);
        // Zipped slices (no bounds checks) so the loop vectorizes.
        let update = |p: &mut $t, m: &mut $t, v: &mut $t, gi: $t| {
            let gi = gi * gscale;
            *m += w1 * (gi - *m);
            *v = *v * b2 + w2 * gi * gi;
            *p = *p * decay - step * (*m / (v.sqrt() * inv_bc2 + eps));
        };
        let n = $p.len();
        let (m, v) = (&mut $m[..n], &mut $v[..n]);
        match $g {
            Some(g) => {
                let g: &[$t] = &g[..n];
                for (((p, m), v), &gi) in $p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                    update(p, m, v, gi);
                }
            }
            None => {
                for ((p, m), v) in $p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()) {
                    update(p, m, v, 0.0);
                }
            }
        }
    }};
}

impl candle_core::InplaceOp1 for AdamWUpdate<'_> {
    fn name(&self) -> &'static str {
        "prefer-adamw"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (a, b) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("AdamW: parameter is not contiguous".into()))?;
        let mut mom = self.moments.borrow_mut();
        let grad_err = |e: Error| candle_core::Error::Msg(e.to_string());
        match (storage, &mut **mom) {
            (CpuStorage::F32(p), Moments::F32 { m, v }) => {
                let p = &mut p[a..b];
                match self.grad {
                    Some(g) => with_slice(g, |s| match s {
                        Slice::F32(g) if g.len() == p.len() => {
                            adamw_loop!(f32, p, Some(g), m, v, self);
                            Ok(())
                        }
                        _ => Err(candle_core::Error::Msg("AdamW: gradient dtype/size".into())),
                    })
                    .map_err(grad_err)??,
                    None => adamw_loop!(f32, p, None::<&[f32]>, m, v, self),
                }
            }
            (CpuStorage::F64(p), Moments::F64 { m, v }) => {
                let p = &mut p[a..b];
                match self.grad {
                    Some(g) => with_slice(g, |s| match s {
                        Slice::F64(g) if g.len() == p.len() => {
                            adamw_loop!(f64, p, Some(g), m, v, self);
                            Ok(())
                        }
                        _ => Err(candle_core::Error::Msg("AdamW: gradient dtype/size".into())),
                    })
                    .map_err(grad_err)??,
                    None => adamw_loop!(f64, p, None::<&[f64]>, m, v, self),
                }
            }
            _ => {
                return Err(candle_core::Error::Msg(
                    "AdamW: parameter and moments dtypes differ".into(),
                ));
            }
        }
        Ok(())
    }
}

/// AdamW over a fixed list of named parameters, updating them in place.
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    names: Vec<String>,
    vars: Vec<Var>,
    moments: Vec<Moments>,
    /// Number of updates taken (t).
    t: u64,
}

impl AdamW {
    /// An optimizer for `params` (name, variable), with zero moments.
    pub fn new(params: Vec<(String, Var)>, cfg: AdamWConfig) -> Result<Self> {
        cfg.validate()?;
        let mut names = Vec::with_capacity(params.len());
        let mut vars = Vec::with_capacity(params.len());
        let mut moments = Vec::with_capacity(params.len());
        for (n, v) in params {
            if !v.as_tensor().is_contiguous() {
                return Err(Error::Config(format!("parameter `{n}` is not contiguous")));
            }
            moments.push(Moments::zeros(v.dtype(), v.elem_count())?);
            names.push(n);
            vars.push(v);
        }
        Ok(AdamW {
            cfg,
            names,
            vars,
            moments,
            t: 0,
        })
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether there is no parameter.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The parameters, in order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The parameter names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.cfg
    }

    /// Number of updates taken so far (PyTorch's `state["step"]`).
    pub fn steps_taken(&self) -> u64 {
        self.t
    }

    /// The moments of each parameter, in order.
    pub fn moments(&self) -> &[Moments] {
        &self.moments
    }

    /// Restores the moments and the update count (from a checkpoint).
    pub fn restore(&mut self, moments: Vec<Moments>, t: u64) -> Result<()> {
        if moments.len() != self.moments.len() {
            return Err(Error::Invalid(format!(
                "optimizer state has {} parameters, the model {}",
                moments.len(),
                self.moments.len()
            )));
        }
        for (i, (new, old)) in moments.iter().zip(&self.moments).enumerate() {
            let len = |m: &Moments| match m {
                Moments::F32 { m, .. } => (m.len(), 0),
                Moments::F64 { m, .. } => (m.len(), 1),
            };
            if len(new) != len(old) {
                return Err(Error::Invalid(format!(
                    "optimizer state of `{}` does not match the parameter's size or dtype",
                    self.names[i]
                )));
            }
        }
        self.moments = moments;
        self.t = t;
        Ok(())
    }

    /// An optimizer of unnamed parameters (named `param.<i>` in errors).
    pub fn unnamed(vars: Vec<Var>, cfg: AdamWConfig) -> Result<Self> {
        let named = vars
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("param.{i}"), v))
            .collect();
        Self::new(named, cfg)
    }

    /// Backpropagates `loss` and takes one step at the configured learning rate, without
    /// clipping or accumulation (what `candle_nn::Optimizer::backward_step` does).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        let mut acc = GradAccumulator::new(self.len());
        acc.add(&grads, self.vars())?;
        let lr = self.cfg.lr;
        self.step(&acc, 1.0, lr)
    }

    /// One update with learning rate `lr` (the schedule's value for this step), the
    /// accumulated gradients multiplied by `grad_scale` (the clipping coefficient).
    /// A parameter without a gradient is updated with g = 0 (as PyTorch does for a zero
    /// gradient; PyTorch skips `None` gradients, which our models never produce).
    pub fn step(&mut self, grads: &GradAccumulator, grad_scale: f64, lr: f64) -> Result<()> {
        self.t += 1;
        let t = self.t as i32;
        let bc1 = 1.0 - self.cfg.beta1.powi(t);
        let bc2 = 1.0 - self.cfg.beta2.powi(t);
        for (i, (var, mom)) in self.vars.iter().zip(self.moments.iter_mut()).enumerate() {
            let op = AdamWUpdate {
                grad: grads.get(i),
                moments: RefCell::new(mom),
                gscale: grad_scale,
                decay: 1.0 - lr * self.cfg.weight_decay,
                beta1: self.cfg.beta1,
                beta2: self.cfg.beta2,
                step_size: lr / bc1,
                bc2_sqrt: bc2.sqrt(),
                eps: self.cfg.eps,
            };
            var.as_tensor().inplace_op1(&op)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod tests {
    use super::*;
    use candle_core::Device;

    /// f32 arithmetic of a few AdamW steps against a scalar f64 transcription of PyTorch's
    /// `_single_tensor_adamw`: agreement to f32 rounding of values of order 1.
    const F32_TOL: f64 = 1e-6;

    fn reference_adamw(
        p: &mut [f64],
        m: &mut [f64],
        v: &mut [f64],
        g: &[f64],
        t: i32,
        c: &AdamWConfig,
        lr: f64,
    ) {
        for i in 0..p.len() {
            p[i] *= 1.0 - lr * c.weight_decay;
            m[i] += (1.0 - c.beta1) * (g[i] - m[i]);
            v[i] = v[i] * c.beta2 + (1.0 - c.beta2) * g[i] * g[i];
            let bc1 = 1.0 - c.beta1.powi(t);
            let bc2 = 1.0 - c.beta2.powi(t);
            p[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2.sqrt() + c.eps);
        }
    }

    #[test]
    fn matches_the_pytorch_update_rule_over_several_steps() -> Result<()> {
        let cfg = AdamWConfig {
            lr: 0.05,
            weight_decay: 0.1,
            ..Default::default()
        };
        let init = [0.5f64, -1.5, 2.0, 0.0];
        let w = Var::new(&[0.5f32, -1.5, 2.0, 0.0], &Device::Cpu)?;
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], cfg)?;
        let (mut p, mut m, mut v) = (init.to_vec(), vec![0.0; 4], vec![0.0; 4]);
        for t in 1..=5 {
            // loss = Σ w³/3 + w  → ∇ = w² + 1
            let x = w.as_tensor();
            let loss = ((x.powf(3.0)? / 3.0)? + x)?.sum_all()?;
            let mut acc = GradAccumulator::new(1);
            acc.add(&loss.backward()?, opt.vars())?;
            let g: Vec<f64> = p.iter().map(|a| a * a + 1.0).collect();
            let lr = 0.05 * t as f64 / 5.0;
            opt.step(&acc, 1.0, lr)?;
            reference_adamw(&mut p, &mut m, &mut v, &g, t, &cfg, lr);
            let got = w.as_tensor().to_vec1::<f32>()?;
            for (a, b) in got.iter().zip(&p) {
                assert!((*a as f64 - b).abs() < F32_TOL, "step {t}: {a} vs {b}");
            }
        }
        Ok(())
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        assert_eq!(clip_coefficient(0.5, Some(1.0)), 1.0);
        assert_eq!(clip_coefficient(3.0, None), 1.0);
        let c = clip_coefficient(4.0, Some(1.0));
        assert!((c * 4.0 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_hyper_parameters_are_named() {
        let e = AdamWConfig {
            beta2: 1.0,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("optim.beta2"), "{e}");
    }
}
