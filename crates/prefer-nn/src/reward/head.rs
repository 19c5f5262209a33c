//! Small trainable networks on embeddings: a multi-layer perceptron with ReLU and optional
//! dropout, its parameters as candle `Var`s.

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// A linear layer `y = x W + b`, `W: [in, out]`.
#[derive(Debug, Clone)]
pub struct Dense {
    /// Weight `[in, out]`.
    pub w: Var,
    /// Bias `[out]` (absent for bias-free layers).
    pub b: Option<Var>,
}

impl Dense {
    /// PyTorch's `nn.Linear` initialization: W and b uniform in ±1/√in.
    pub fn new(
        inp: usize,
        out: usize,
        bias: bool,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Result<Self> {
        let bound = 1.0 / (inp.max(1) as f32).sqrt();
        let w: Vec<f32> = (0..inp * out)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let w = Var::from_tensor(&Tensor::from_vec(w, (inp, out), device)?)?;
        let b = if bias {
            let b: Vec<f32> = (0..out).map(|_| rng.random_range(-bound..bound)).collect();
            Some(Var::from_tensor(&Tensor::from_vec(b, out, device)?)?)
        } else {
            None
        };
        Ok(Dense { w, b })
    }

    /// A layer with given values (`w: [in, out]`).
    pub fn from_tensors(w: &Tensor, b: Option<&Tensor>) -> Result<Self> {
        Ok(Dense {
            w: Var::from_tensor(&w.to_dtype(DType::F32)?)?,
            b: b.map(|b| Var::from_tensor(&b.to_dtype(DType::F32)?))
                .transpose()?,
        })
    }

    /// # Shapes
    /// `[n, in] → [n, out]`
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(self.w.as_tensor())?;
        Ok(match &self.b {
            Some(b) => y.broadcast_add(b.as_tensor())?,
            None => y,
        })
    }

    /// Input width.
    pub fn inp(&self) -> usize {
        self.w.dims()[0]
    }

    /// Output width.
    pub fn out(&self) -> usize {
        self.w.dims()[1]
    }

    fn vars(&self) -> Vec<Var> {
        let mut v = vec![self.w.clone()];
        if let Some(b) = &self.b {
            v.push(b.clone());
        }
        v
    }

    fn tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut v = vec![(format!("{prefix}.weight"), self.w.as_tensor().detach())];
        if let Some(b) = &self.b {
            v.push((format!("{prefix}.bias"), b.as_tensor().detach()));
        }
        v
    }
}

/// Inverted dropout with a seeded generator: each element is zeroed with probability `p`
/// and the others scaled by 1/(1−p). `p = 0` returns `x`.
pub fn dropout(x: &Tensor, p: f32, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let n = x.elem_count();
    let keep = 1.0 / (1.0 - p);
    let m: Vec<f32> = (0..n)
        .map(|_| if rng.random::<f32>() < p { 0.0 } else { keep })
        .collect();
    let m = Tensor::from_vec(m, x.shape(), x.device())?;
    Ok((x * m)?)
}

/// A multi-layer perceptron: `Dense → ReLU → (dropout) → ... → Dense`.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Dense>,
    dropout: f32,
}

impl Mlp {
    /// Layers of widths `dims` (`[in, hidden.., out]`, at least two entries), seeded.
    pub fn new(dims: &[usize], dropout: f32, seed: u64, device: &Device) -> Result<Self> {
        if dims.len() < 2 || dims.contains(&0) {
            return Err(Error::Config(format!(
                "an MLP needs at least input and output widths, all positive (got {dims:?})"
            )));
        }
        if !(0.0..1.0).contains(&dropout) {
            return Err(Error::Config(format!(
                "dropout {dropout} must be in [0, 1)"
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let layers = dims
            .windows(2)
            .map(|w| Dense::new(w[0], w[1], true, &mut rng, device))
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp { layers, dropout })
    }

    /// Rebuilds from [`Self::tensors`] output (`{prefix}.{i}.weight`, `.bias`).
    pub fn from_tensors(
        map: &std::collections::HashMap<String, Tensor>,
        prefix: &str,
        dropout: f32,
    ) -> Result<Self> {
        let mut layers = Vec::new();
        for i in 0.. {
            let Some(w) = map.get(&format!("{prefix}.{i}.weight")) else {
                break;
            };
            layers.push(Dense::from_tensors(
                w,
                map.get(&format!("{prefix}.{i}.bias")),
            )?);
        }
        if layers.is_empty() {
            return Err(Error::Invalid(format!("no tensors `{prefix}.0.weight`")));
        }
        for w in layers.windows(2) {
            if w[0].out() != w[1].inp() {
                return Err(Error::Invalid(format!(
                    "`{prefix}`: layer widths {} and {} do not chain",
                    w[0].out(),
                    w[1].inp()
                )));
            }
        }
        Ok(Mlp { layers, dropout })
    }

    /// Input width.
    pub fn inp(&self) -> usize {
        self.layers.first().map_or(0, Dense::inp)
    }

    /// Output width.
    pub fn out(&self) -> usize {
        self.layers.last().map_or(0, Dense::out)
    }

    /// Forward; `rng = Some(_)` applies dropout after each hidden activation (training,
    /// or Monte-Carlo dropout at inference).
    ///
    /// # Shapes
    /// `[n, in] → [n, out]`
    pub fn forward(&self, x: &Tensor, mut rng: Option<&mut ChaCha8Rng>) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i < last {
                h = h.relu()?;
                if let Some(r) = rng.as_deref_mut() {
                    h = dropout(&h, self.dropout, r)?;
                }
            }
        }
        Ok(h)
    }

    /// The trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.layers.iter().flat_map(Dense::vars).collect()
    }

    /// Named tensors for saving (`{prefix}.{i}.weight`, `{prefix}.{i}.bias`).
    pub fn tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| l.tensors(&format!("{prefix}.{i}")))
            .collect()
    }

    /// Number of parameters.
    pub fn num_parameters(&self) -> usize {
        self.vars().iter().map(|v| v.elem_count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_round_trip_and_dropout_scale() -> Result<()> {
        let d = Device::Cpu;
        let m = Mlp::new(&[4, 8, 2], 0.5, 1, &d)?;
        let x = Tensor::ones((3, 4), DType::F32, &d)?;
        let y = m.forward(&x, None)?;
        assert_eq!(y.dims(), [3, 2]);
        let map: std::collections::HashMap<String, Tensor> = m.tensors("h").into_iter().collect();
        let m2 = Mlp::from_tensors(&map, "h", 0.5)?;
        let y2 = m2.forward(&x, None)?;
        assert_eq!(y.to_vec2::<f32>()?, y2.to_vec2::<f32>()?);
        // Inverted dropout keeps the mean: E[mask] = 1.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let big = Tensor::ones(100_000, DType::F32, &d)?;
        let mean = dropout(&big, 0.3, &mut rng)?
            .mean_all()?
            .to_scalar::<f32>()?;
        // Binomial sd of the mean: sqrt(0.3·0.7/1e5)/0.7 ≈ 0.0021; 5 sd.
        assert!((mean - 1.0).abs() < 0.011, "{mean}");
        assert!(Mlp::new(&[4], 0.0, 0, &d).is_err());
        assert!(Mlp::new(&[4, 1], 1.0, 0, &d).is_err());
        Ok(())
    }
}
