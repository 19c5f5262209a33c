//! BERT (Devlin et al. 2019, arXiv:1810.04805) as transformers' `BertModel` computes it, for
//! inference: the encoder of sentence-transformers models such as all-MiniLM-L6-v2.
//!
//! The forward is the post-norm Transformer encoder of `modeling_bert.py`:
//!
//! ```text
//! h₀ = LayerNorm(E_word[ids] + E_pos[0..t] + E_type[type_ids])
//! a  = LayerNorm(h + W_o · softmax(Q Kᵀ / √d + mask) V)        (per head, d = hidden / heads)
//! h' = LayerNorm(a + W_2 · GELU(W_1 a))                        (GELU with erf, "gelu")
//! ```
//!
//! The encoder is frozen (no gradient): it uses candle's fused layer norm and softmax, which
//! have no backward (see `../shared/notes/candle-training.md`). Reward heads train on its
//! outputs.

use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use rand::SeedableRng;
use rand_distr::Distribution;
use serde::{Deserialize, Serialize};

use crate::model::WeightFiles;
use crate::{Error, Result};

/// The fields of a Hugging Face BERT `config.json` the forward needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size (30522 for the uncased English BERT vocabulary).
    pub vocab_size: usize,
    /// Hidden size (384 for MiniLM-L6-H384).
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward inner size.
    pub intermediate_size: usize,
    /// Longest input, in tokens (the position-embedding table).
    pub max_position_embeddings: usize,
    /// Number of token types (segments); default 2.
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// ε of every layer norm; default 1e-12 (BERT's).
    #[serde(default = "eps12")]
    pub layer_norm_eps: f64,
    /// Activation of the feed-forward layer: `gelu` (erf), `gelu_new`/`gelu_pytorch_tanh`
    /// (tanh approximation) or `relu`. Default `gelu`.
    #[serde(default = "gelu")]
    pub hidden_act: String,
    /// Id of the padding token; default 0.
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// `absolute` only (relative position embeddings are not implemented).
    #[serde(default = "absolute")]
    pub position_embedding_type: String,
}

fn two() -> usize {
    2
}
fn eps12() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}
fn absolute() -> String {
    "absolute".into()
}

impl BertConfig {
    /// Reads a `config.json`; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let cfg: BertConfig = serde_path_to_error::deserialize(de)
            .map_err(|e| Error::File(format!("{}: field `{}`: {e}", path.display(), e.path())))?;
        cfg.validate()
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        Ok(cfg)
    }

    /// Checks sizes and the supported options.
    pub fn validate(&self) -> Result<()> {
        let pos = |v: usize, name: &str| {
            if v == 0 {
                Err(Error::Config(format!("{name} must be positive")))
            } else {
                Ok(())
            }
        };
        pos(self.vocab_size, "vocab_size")?;
        pos(self.hidden_size, "hidden_size")?;
        pos(self.num_hidden_layers, "num_hidden_layers")?;
        pos(self.num_attention_heads, "num_attention_heads")?;
        pos(self.intermediate_size, "intermediate_size")?;
        pos(self.max_position_embeddings, "max_position_embeddings")?;
        pos(self.type_vocab_size, "type_vocab_size")?;
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(Error::Config(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(Error::Config("layer_norm_eps must be positive".into()));
        }
        Activation::parse(&self.hidden_act)?;
        if self.position_embedding_type != "absolute" {
            return Err(Error::Config(format!(
                "position_embedding_type `{}` is not supported (only `absolute`)",
                self.position_embedding_type
            )));
        }
        Ok(())
    }

    /// A small configuration for tests and the offline fallback of the demo.
    pub fn tiny(vocab_size: usize) -> Self {
        BertConfig {
            vocab_size,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
            pad_token_id: Some(0),
            position_embedding_type: "absolute".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activation {
    GeluErf,
    GeluTanh,
    Relu,
}

impl Activation {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "gelu" => Activation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(Error::Config(format!(
                    "hidden_act `{other}` is not supported (gelu, gelu_new, relu)"
                )));
            }
        })
    }

    /// act(x + b): the feed-forward activation with the bias add fused in (one pass,
    /// one allocation) for the erf GELU on CPU f32.
    fn apply_biased(self, x: &Tensor, b: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::GeluErf if x.device().is_cpu() && x.dtype() == DType::F32 => x
                .contiguous()?
                .apply_op2_no_bwd(&b.contiguous()?, &BiasGelu)?,
            Activation::GeluErf => x.broadcast_add(b)?.gelu_erf()?,
            Activation::GeluTanh => x.broadcast_add(b)?.gelu()?,
            Activation::Relu => x.broadcast_add(b)?.relu()?,
        })
    }
}

/// erf(x) for f32 as a rational function of x (the minimax approximation Eigen uses for
/// `erf` in single precision; inputs clamped to ±4, where erf is ±1 in f32). Pure
/// multiplies and adds (no `mul_add`: without the `fma` target feature it is a libm
/// call), so the loop over a row vectorizes; |error| < 1e-6 (test).
#[inline(always)]
fn fast_erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.954_600_1e-3;
    p = p * x2 + -1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329e-3;
    q = q * x2 + -1.426_474e-2;
    x * p / q
}

/// `gelu(x + b)` over rows of `[m, n]` with a bias `[n]` (forward only: the encoder is
/// frozen).
struct BiasGelu;

impl candle_core::CustomOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "prefer-bias-gelu"
    }

    fn cpu_fwd(
        &self,
        s1: &candle_core::CpuStorage,
        l1: &candle_core::Layout,
        s2: &candle_core::CpuStorage,
        l2: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let x = crate::ops::cpu_slice::<f32>(s1, l1, self.name())?;
        let b = crate::ops::cpu_slice::<f32>(s2, l2, self.name())?;
        let n = b.len();
        if n == 0 || x.len() % n != 0 {
            return Err(candle_core::Error::Msg(
                "bias-gelu: bias does not match the rows".into(),
            ));
        }
        let mut out = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            for ((y, &v), &bb) in yr.iter_mut().zip(xr).zip(b) {
                let z = v + bb;
                *y = 0.5 * z * (1.0 + fast_erf(z * std::f32::consts::FRAC_1_SQRT_2));
            }
        }
        Ok((candle_core::CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// A dense layer with its weight stored transposed (`[in, out]`, contiguous), so the
/// forward is one plain matmul.
#[derive(Debug, Clone)]
struct Dense {
    wt: Tensor,
    b: Tensor,
}

impl Dense {
    fn new(w: Tensor, b: Tensor) -> Result<Self> {
        Ok(Dense {
            wt: w.t()?.contiguous()?,
            b,
        })
    }

    /// `[m, in] → [m, out]`
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.wt)?.broadcast_add(&self.b)?)
    }
}

#[derive(Debug, Clone)]
struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm(x, &self.w, &self.b, self.eps)?)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    inter: Dense,
    out: Dense,
    out_norm: Norm,
}

/// A frozen BERT encoder.
///
/// # Quickstart
/// ```no_run
/// use prefer_nn::encoder::Bert;
/// use candle_core::Tensor;
/// let bert = Bert::load("path/to/all-MiniLM-L6-v2".as_ref())?;
/// let ids = Tensor::new(&[[101u32, 7592, 102]], bert.device())?;
/// let mask = Tensor::new(&[[1u8, 1, 1]], bert.device())?;
/// let h = bert.forward(&ids, None, &mask)?; // [1, 3, 384]
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Bert {
    cfg: BertConfig,
    device: Device,
    word: Tensor,
    pos: Tensor,
    typ: Tensor,
    emb_norm: Norm,
    layers: Vec<Layer>,
    act: Activation,
}

impl Bert {
    /// Loads `config.json` and `model.safetensors` of a Hugging Face `BertModel` folder
    /// (parameter names with or without the `bert.` prefix), f32 on the CPU.
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg = BertConfig::from_file(&dir.join("config.json"))?;
        let files = WeightFiles::open_dir(dir)?;
        let prefix = if files.contains("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let device = Device::Cpu;
        Self::assemble(cfg, &device, |name, shape| {
            files.load(&format!("{prefix}{name}"), shape, DType::F32, &device)
        })
    }

    /// A BERT with random weights (normal, σ = 0.02; layer norms 1 and 0; biases 0), as
    /// transformers initializes one: for tests and the offline fallback of the demo.
    pub fn random(cfg: &BertConfig, seed: u64) -> Result<Self> {
        cfg.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let normal = rand_distr::Normal::new(0.0f32, 0.02)
            .map_err(|e| Error::Config(format!("init: {e}")))?;
        let device = Device::Cpu;
        Self::assemble(cfg.clone(), &device, |name, shape| {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.ends_with("LayerNorm.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| normal.sample(&mut rng)).collect()
            };
            Ok(Tensor::from_vec(data, shape, &device)?)
        })
    }

    /// The names and shapes of the parameters, in a fixed order.
    pub fn parameter_shapes(cfg: &BertConfig) -> Vec<(String, Vec<usize>)> {
        let h = cfg.hidden_size;
        let f = cfg.intermediate_size;
        let mut v = vec![
            (
                "embeddings.word_embeddings.weight".to_string(),
                vec![cfg.vocab_size, h],
            ),
            (
                "embeddings.position_embeddings.weight".to_string(),
                vec![cfg.max_position_embeddings, h],
            ),
            (
                "embeddings.token_type_embeddings.weight".to_string(),
                vec![cfg.type_vocab_size, h],
            ),
            ("embeddings.LayerNorm.weight".to_string(), vec![h]),
            ("embeddings.LayerNorm.bias".to_string(), vec![h]),
        ];
        for i in 0..cfg.num_hidden_layers {
            let p = |s: &str| format!("encoder.layer.{i}.{s}");
            for (name, out, inp) in [
                ("attention.self.query", h, h),
                ("attention.self.key", h, h),
                ("attention.self.value", h, h),
                ("attention.output.dense", h, h),
                ("intermediate.dense", f, h),
                ("output.dense", h, f),
            ] {
                v.push((p(&format!("{name}.weight")), vec![out, inp]));
                v.push((p(&format!("{name}.bias")), vec![out]));
            }
            for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
                v.push((p(&format!("{name}.weight")), vec![h]));
                v.push((p(&format!("{name}.bias")), vec![h]));
            }
        }
        v
    }

    fn assemble(
        cfg: BertConfig,
        device: &Device,
        mut get: impl FnMut(&str, &[usize]) -> Result<Tensor>,
    ) -> Result<Self> {
        cfg.validate()?;
        let mut map = std::collections::HashMap::new();
        for (name, shape) in Self::parameter_shapes(&cfg) {
            let t = get(&name, &shape)?;
            map.insert(name, t);
        }
        let mut take = |n: &str| -> Result<Tensor> {
            map.remove(n)
                .ok_or_else(|| Error::Invalid(format!("missing parameter `{n}`")))
        };
        let eps = cfg.layer_norm_eps as f32;
        let emb_norm = Norm {
            w: take("embeddings.LayerNorm.weight")?,
            b: take("embeddings.LayerNorm.bias")?,
            eps,
        };
        let word = take("embeddings.word_embeddings.weight")?;
        let pos = take("embeddings.position_embeddings.weight")?;
        let typ = take("embeddings.token_type_embeddings.weight")?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = |s: &str| format!("encoder.layer.{i}.{s}");
            let mut dense = |n: &str| -> Result<Dense> {
                Dense::new(
                    take(&p(&format!("{n}.weight")))?,
                    take(&p(&format!("{n}.bias")))?,
                )
            };
            let q = dense("attention.self.query")?;
            let k = dense("attention.self.key")?;
            let v = dense("attention.self.value")?;
            // One matmul for Q, K and V: [h, 3h].
            let qkv = Dense {
                wt: Tensor::cat(&[&q.wt, &k.wt, &v.wt], 1)?.contiguous()?,
                b: Tensor::cat(&[&q.b, &k.b, &v.b], 0)?,
            };
            let attn_out = dense("attention.output.dense")?;
            let inter = dense("intermediate.dense")?;
            let out = dense("output.dense")?;
            let mut norm = |n: &str| -> Result<Norm> {
                Ok(Norm {
                    w: take(&p(&format!("{n}.weight")))?,
                    b: take(&p(&format!("{n}.bias")))?,
                    eps,
                })
            };
            let attn_norm = norm("attention.output.LayerNorm")?;
            let out_norm = norm("output.LayerNorm")?;
            layers.push(Layer {
                qkv,
                attn_out,
                attn_norm,
                inter,
                out,
                out_norm,
            });
        }
        let act = Activation::parse(&cfg.hidden_act)?;
        Ok(Bert {
            cfg,
            device: device.clone(),
            word,
            pos,
            typ,
            emb_norm,
            layers,
            act,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    /// The device of the weights.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The last hidden states.
    ///
    /// # Shapes
    /// - `input_ids`: `[b, t]` u32; `token_type_ids`: `[b, t]` u32 or `None` (all 0);
    ///   `attention_mask`: `[b, t]` (1 = token, 0 = padding, any dtype) → `[b, t, hidden]` f32
    pub fn forward(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        attention_mask: &Tensor,
    ) -> Result<Tensor> {
        self.forward_impl(input_ids, token_type_ids, attention_mask, true)
    }

    fn forward_impl(
        &self,
        input_ids: &Tensor,
        token_type_ids: Option<&Tensor>,
        attention_mask: &Tensor,
        per_row: bool,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        if attention_mask.dims() != [b, t] {
            return Err(Error::Invalid(format!(
                "attention mask {:?} does not match input ids [{b}, {t}]",
                attention_mask.dims()
            )));
        }
        if t > self.cfg.max_position_embeddings {
            return Err(Error::Invalid(format!(
                "{t} tokens exceed max_position_embeddings {}",
                self.cfg.max_position_embeddings
            )));
        }
        let h = self.cfg.hidden_size;
        let nh = self.cfg.num_attention_heads;
        let d = h / nh;
        let ids = input_ids.flatten_all()?.to_dtype(DType::U32)?;
        let vocab = self.cfg.vocab_size as u32;
        if let Some(&bad) = ids.to_vec1::<u32>()?.iter().find(|&&i| i >= vocab) {
            return Err(Error::Invalid(format!(
                "token id {bad} out of range for vocabulary size {vocab}"
            )));
        }
        let mut x = self.word.index_select(&ids, 0)?.reshape((b, t, h))?;
        x = x.broadcast_add(&self.pos.narrow(0, 0, t)?.unsqueeze(0)?)?;
        x = match token_type_ids {
            None => x.broadcast_add(&self.typ.narrow(0, 0, 1)?.unsqueeze(0)?)?,
            Some(tt) => {
                let tt = tt.flatten_all()?.to_dtype(DType::U32)?;
                (x + self.typ.index_select(&tt, 0)?.reshape((b, t, h))?)?
            }
        };
        let mut x = self.emb_norm.forward(&x)?.reshape((b * t, h))?;
        // transformers' extended mask: 0 where visible, the dtype's minimum elsewhere.
        let neg = f32::MIN as f64;
        let mask = ((attention_mask.to_dtype(DType::F32)?.affine(-1.0, 1.0)? * neg)?)
            .reshape((b, 1, 1, t))?;
        let scale = 1.0 / (d as f64).sqrt();
        // Right padding (every row's tokens a prefix): attention runs per row on its real
        // tokens only, which skips the padded keys and queries (their attention weight is
        // exactly 0 under the mask) and keeps the score tensors small. Other masks take the
        // masked batched path.
        let rows = attention_mask.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let prefix: Option<Vec<usize>> = rows
            .iter()
            .map(|r| {
                let l = r.iter().take_while(|&&m| m != 0.0).count();
                r[l..].iter().all(|&m| m == 0.0).then_some(l)
            })
            .collect::<Option<Vec<usize>>>()
            .filter(|_| per_row);
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?.reshape((b, t, 3, nh, d))?;
            let ctx = match &prefix {
                Some(lens) => {
                    let mut parts = Vec::with_capacity(b);
                    for (r, &l) in lens.iter().enumerate() {
                        let row = qkv.narrow(0, r, 1)?;
                        let mut c = if l == 0 {
                            Tensor::zeros((1, 0, h), DType::F32, input_ids.device())?
                        } else {
                            let row = row.narrow(1, 0, l)?;
                            let head = |i: usize| -> Result<Tensor> {
                                Ok(row
                                    .narrow(2, i, 1)?
                                    .squeeze(2)?
                                    .transpose(1, 2)?
                                    .contiguous()?)
                            };
                            let q = (head(0)? * scale)?;
                            let p = candle_nn::ops::softmax_last_dim(
                                &q.matmul(&head(1)?.transpose(2, 3)?)?,
                            )?;
                            p.matmul(&head(2)?)?.transpose(1, 2)?.reshape((1, l, h))?
                        };
                        if l < t {
                            c = Tensor::cat(
                                &[
                                    &c,
                                    &Tensor::zeros((1, t - l, h), DType::F32, input_ids.device())?,
                                ],
                                1,
                            )?;
                        }
                        parts.push(c);
                    }
                    Tensor::cat(&parts, 0)?.reshape((b * t, h))?
                }
                None => {
                    let heads = |i: usize| -> Result<Tensor> {
                        Ok(qkv
                            .narrow(2, i, 1)?
                            .squeeze(2)?
                            .transpose(1, 2)?
                            .contiguous()?)
                    };
                    let q = (heads(0)? * scale)?;
                    let scores = q
                        .matmul(&heads(1)?.transpose(2, 3)?)?
                        .broadcast_add(&mask)?;
                    let p = candle_nn::ops::softmax_last_dim(&scores)?;
                    p.matmul(&heads(2)?)?
                        .transpose(1, 2)?
                        .contiguous()?
                        .reshape((b * t, h))?
                }
            };
            let a = layer
                .attn_norm
                .forward(&(layer.attn_out.forward(&ctx)? + &x)?)?;
            let f = self
                .act
                .apply_biased(&a.matmul(&layer.inter.wt)?, &layer.inter.b)?;
            x = layer.out_norm.forward(&(layer.out.forward(&f)? + a)?)?;
        }
        Ok(x.reshape((b, t, h))?)
    }
}

/// Mean of the token states over real tokens (sentence-transformers' `Pooling` with
/// `pooling_mode_mean_tokens`): Σ_t m_t h_t / max(Σ_t m_t, 1e-9).
///
/// # Shapes
/// - `hidden`: `[b, t, h]`, `attention_mask`: `[b, t]` → `[b, h]`
pub fn mean_pool(hidden: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
    let m = attention_mask.to_dtype(hidden.dtype())?.unsqueeze(2)?;
    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
    let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    Ok(sum.broadcast_div(&count)?)
}

/// `x / max(‖x‖₂, 1e-12)` per row (torch's `F.normalize`, sentence-transformers'
/// `Normalize`).
///
/// # Shapes
/// - `x`: `[b, h]` → `[b, h]`
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let n = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    Ok(x.broadcast_div(&n)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f32 sums in a different order (padding changes the matmul blocking).
    const PAD_TOL: f32 = 1e-5;

    #[test]
    fn padding_does_not_change_real_tokens() -> Result<()> {
        let bert = Bert::random(&BertConfig::tiny(50), 3)?;
        let d = Device::Cpu;
        let ids = Tensor::new(&[[2u32, 7, 9, 3]], &d)?;
        let one = bert.forward(&ids, None, &Tensor::new(&[[1u8, 1, 1, 1]], &d)?)?;
        let ids2 = Tensor::new(&[[2u32, 7, 9, 3, 0, 0], [2, 5, 3, 0, 0, 0]], &d)?;
        let m2 = Tensor::new(&[[1u8, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]], &d)?;
        let two = bert.forward(&ids2, None, &m2)?;
        let a = one.flatten_all()?.to_vec1::<f32>()?;
        let b = two
            .narrow(0, 0, 1)?
            .narrow(1, 0, 4)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < PAD_TOL, "{x} vs {y}");
        }
        // The per-row attention and the masked batched attention agree on real tokens
        // (padded positions are never read: pooling masks them).
        let masked = bert.forward_impl(&ids2, None, &m2, false)?;
        for (r, l) in [(0usize, 4usize), (1, 3)] {
            let x2 = two
                .narrow(0, r, 1)?
                .narrow(1, 0, l)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let y2 = masked
                .narrow(0, r, 1)?
                .narrow(1, 0, l)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (x, y) in x2.iter().zip(&y2) {
                assert!((x - y).abs() < PAD_TOL, "per-row {x} vs masked {y}");
            }
        }
        let pooled = l2_normalize(&mean_pool(&two, &m2)?)?;
        let norms = pooled.sqr()?.sum(1)?.to_vec1::<f32>()?;
        for n in norms {
            assert!((n - 1.0).abs() < 1e-5);
        }
        Ok(())
    }

    #[test]
    fn fast_erf_matches_a_series_expansion() {
        // A grid over [-6, 6] in steps of 1e-4 against an f64 series: the worst absolute
        // error (f32 rounding of erf itself is up to 6e-8).
        let mut worst = 0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((fast_erf(x) - erf_ref(x)).abs());
        }
        assert!(worst < 1e-6, "worst |fast_erf - erff| = {worst}");
    }

    /// erf by its Taylor series in f64 (|x| ≤ 3) or its asymptotic complement (|x| > 3).
    fn erf_ref(x: f32) -> f32 {
        let x = f64::from(x);
        let a = x.abs();
        let r = if a <= 3.0 {
            let mut term = a;
            let mut sum = a;
            let mut k = 0.0;
            while term.abs() > 1e-17 * sum.abs().max(1e-300) {
                k += 1.0;
                term *= -a * a / k;
                sum += term / (2.0 * k + 1.0);
            }
            2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            // erfc by the continued fraction (Lentz), enough terms for |x| > 3.
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (a + f);
            }
            1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * (a + f))
        };
        (r.copysign(x)) as f32
    }

    #[test]
    fn bad_ids_and_shapes_are_errors() -> Result<()> {
        let bert = Bert::random(&BertConfig::tiny(10), 1)?;
        let d = Device::Cpu;
        let ids = Tensor::new(&[[2u32, 11]], &d)?;
        let m = Tensor::new(&[[1u8, 1]], &d)?;
        assert!(bert.forward(&ids, None, &m).is_err());
        let m3 = Tensor::new(&[[1u8, 1, 1]], &d)?;
        assert!(
            bert.forward(&Tensor::new(&[[2u32, 3]], &d)?, None, &m3)
                .is_err()
        );
        let mut cfg = BertConfig::tiny(10);
        cfg.hidden_act = "swish".into();
        assert!(cfg.validate().is_err());
        Ok(())
    }
}
