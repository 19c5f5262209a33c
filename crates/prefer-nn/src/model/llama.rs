//! The Llama-family causal language model, written for training: a full-sequence forward
//! (logits at every position), differentiable fused ops, parameters in a candle `VarMap`.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_distr::Distribution;

use super::config::ModelConfig;
use super::weights::{WeightFiles, save_safetensors, write_atomic};
use crate::ops;
use crate::{Error, Result};

/// How to place and hold the parameters when loading or creating a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Parameter dtype (default f32; the file's dtype is converted).
    pub dtype: DType,
    /// Device (default CPU).
    pub device: Device,
    /// `true`: parameters are `Var`s in a `VarMap` (an optimizer can train them);
    /// `false`: plain tensors, no gradient is tracked (inference, reference models).
    pub trainable: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            dtype: DType::F32,
            device: Device::Cpu,
            trainable: true,
        }
    }
}

impl LoadOptions {
    /// Trainable, f32, CPU.
    pub fn trainable() -> Self {
        Self::default()
    }

    /// Frozen (no gradient tracked), f32, CPU.
    pub fn frozen() -> Self {
        LoadOptions {
            trainable: false,
            ..Self::default()
        }
    }

    /// The same with another dtype.
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }
}

/// Random initialisation (transformers' `_init_weights`: linear and embedding weights
/// `N(0, std²)`, biases 0, norm weights 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InitConfig {
    /// Seed of the ChaCha8 generator.
    pub seed: u64,
    /// Standard deviation (transformers' `initializer_range`, default 0.02).
    pub std: f64,
}

impl Default for InitConfig {
    fn default() -> Self {
        InitConfig { seed: 0, std: 0.02 }
    }
}

#[derive(Debug, Clone)]
struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    /// `x W^T + b`, flattened to 2-D first so the backward builds one weight gradient
    /// (candle's batched matmul would build one per batch element); a few rows (a
    /// decoding step) go through [`ops::rows_matmul`].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (last, lead) = dims
            .split_last()
            .ok_or_else(|| Error::Invalid("linear: scalar input".into()))?;
        let m: usize = lead.iter().product();
        let y = ops::rows_matmul(&x.reshape((m, *last))?, &self.w)?;
        let y = match &self.b {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let mut out = lead.to_vec();
        out.push(self.w.dim(0)?);
        Ok(y.reshape(out)?)
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln1: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ln2: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// Keys and values of the positions seen so far, for incremental decoding
/// ([`CausalLm::step`]).
#[derive(Debug, Clone)]
pub struct KvCache {
    kv: Vec<Option<(Tensor, Tensor)>>,
    /// Per row: whether each cached position is a real token (not padding).
    real: Vec<Vec<bool>>,
    /// Per row: real tokens seen so far (the next token's RoPE position).
    seen: Vec<u32>,
}

impl KvCache {
    /// An empty cache for `batch` rows of `model`.
    pub fn new(model: &CausalLm, batch: usize) -> Self {
        KvCache {
            kv: vec![None; model.cfg.num_hidden_layers],
            real: vec![Vec::new(); batch],
            seen: vec![0; batch],
        }
    }

    /// Number of cached positions (padding included).
    pub fn len(&self) -> usize {
        self.real.first().map_or(0, Vec::len)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.real.len()
    }
}

/// A Llama-family causal LM (Llama 2/3, SmolLM, Mistral, Qwen2 through
/// [`ModelConfig`] switches), with a full-sequence forward for training.
///
/// # Quickstart
/// ```no_run
/// use prefer_nn::model::{CausalLm, LoadOptions};
/// use candle_core::Tensor;
/// let model = CausalLm::load("path/to/hf-folder".as_ref(), &LoadOptions::trainable())?;
/// let ids = Tensor::new(&[[1u32, 403, 407]], model.device())?;
/// let logits = model.forward(&ids, None)?; // [1, 3, vocab]
/// # Ok::<(), prefer_nn::Error>(())
/// ```
#[derive(Clone)]
pub struct CausalLm {
    cfg: ModelConfig,
    raw_config: serde_json::Value,
    source: Option<PathBuf>,
    dtype: DType,
    device: Device,
    embed: Tensor,
    layers: Vec<Block>,
    norm: Tensor,
    lm_head: Option<Tensor>,
    inv_freq: Vec<f64>,
    varmap: Option<VarMap>,
    /// Every parameter with its Hugging Face name, in a fixed order.
    params: Vec<(String, Tensor)>,
    /// Gradient checkpointing (see [`CausalLm::set_gradient_checkpointing`]).
    checkpointing: bool,
    /// Checkpointed forwards waiting for their backward (shared by clones).
    pending: std::sync::Arc<std::sync::Mutex<Vec<Checkpoint>>>,
}

/// What a checkpointed forward keeps: each layer's input and what the layers need to
/// run again; `top` is the last layer's output as a fresh variable, where the loss's
/// gradient arrives.
struct Checkpoint {
    ids: Tensor,
    rope: (Tensor, Tensor, Tensor),
    inputs: Vec<Tensor>,
    top: Var,
}

impl std::fmt::Debug for CausalLm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CausalLm")
            .field("config", &self.cfg)
            .field("dtype", &self.dtype)
            .field("device", &self.device)
            .field("trainable", &self.varmap.is_some())
            .field("parameters", &self.num_parameters())
            .finish()
    }
}

/// The Hugging Face names and shapes of a model's parameters, in a fixed order.
pub fn parameter_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let h = cfg.hidden_size;
    let (nh, nkv, d) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
    let f = cfg.intermediate_size;
    let mut v = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, h],
    )];
    for i in 0..cfg.num_hidden_layers {
        let p = |s: &str| format!("model.layers.{i}.{s}");
        v.push((p("input_layernorm.weight"), vec![h]));
        for (name, out, inp, bias) in [
            ("self_attn.q_proj", nh * d, h, cfg.qkv_bias()),
            ("self_attn.k_proj", nkv * d, h, cfg.qkv_bias()),
            ("self_attn.v_proj", nkv * d, h, cfg.qkv_bias()),
            ("self_attn.o_proj", h, nh * d, cfg.o_bias()),
        ] {
            v.push((p(&format!("{name}.weight")), vec![out, inp]));
            if bias {
                v.push((p(&format!("{name}.bias")), vec![out]));
            }
        }
        v.push((p("post_attention_layernorm.weight"), vec![h]));
        for (name, out, inp) in [
            ("mlp.gate_proj", f, h),
            ("mlp.up_proj", f, h),
            ("mlp.down_proj", h, f),
        ] {
            v.push((p(&format!("{name}.weight")), vec![out, inp]));
            if cfg.mlp_bias {
                v.push((p(&format!("{name}.bias")), vec![out]));
            }
        }
    }
    v.push(("model.norm.weight".to_string(), vec![h]));
    if !cfg.tie_word_embeddings {
        v.push(("lm_head.weight".to_string(), vec![cfg.vocab_size, h]));
    }
    v
}

impl CausalLm {
    /// Loads a Hugging Face model folder: `config.json` and the safetensors weights
    /// (`model.safetensors`, or the shards named by `model.safetensors.index.json`).
    /// The tokenizer is separate: [`crate::tokenizer::Tokenizer::from_dir`].
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        let text = std::fs::read_to_string(&cfg_path)
            .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
        let cfg = ModelConfig::from_json_str(&text)
            .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
        let raw: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::File(format!("{}: {e}", cfg_path.display())))?;
        let files = WeightFiles::open_dir(dir)?;
        let mut m = Self::from_weights(cfg, &files, opts)?;
        m.raw_config = raw;
        m.source = Some(dir.to_path_buf());
        Ok(m)
    }

    /// Builds a model from a configuration and opened safetensors files.
    pub fn from_weights(cfg: ModelConfig, files: &WeightFiles, opts: &LoadOptions) -> Result<Self> {
        Self::assemble(cfg, opts, |name, shape| {
            files.load(name, shape, opts.dtype, &opts.device)
        })
    }

    /// A model with random weights ([`InitConfig`]), for tests and benchmarks.
    pub fn random(cfg: &ModelConfig, init: &InitConfig, opts: &LoadOptions) -> Result<Self> {
        cfg.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(init.seed);
        let normal = rand_distr::Normal::new(0.0, init.std)
            .map_err(|e| Error::Config(format!("init std {}: {e}", init.std)))?;
        Self::assemble(cfg.clone(), opts, |name, shape| {
            let n: usize = shape.iter().product();
            let data: Vec<f64> = if name.ends_with("norm.weight") {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else {
                (0..n).map(|_| normal.sample(&mut rng)).collect()
            };
            Ok(Tensor::from_vec(data, shape, &opts.device)?.to_dtype(opts.dtype)?)
        })
    }

    fn assemble(
        cfg: ModelConfig,
        opts: &LoadOptions,
        mut get: impl FnMut(&str, &[usize]) -> Result<Tensor>,
    ) -> Result<Self> {
        cfg.validate()?;
        let varmap = opts.trainable.then(VarMap::new);
        let mut params = Vec::new();
        for (name, shape) in parameter_shapes(&cfg) {
            let t = get(&name, &shape)?;
            let t = match &varmap {
                Some(vm) => {
                    let var = Var::from_tensor(&t)?;
                    let t = var.as_tensor().clone();
                    vm.data()
                        .lock()
                        .map_err(|_| Error::Invalid("VarMap lock poisoned".into()))?
                        .insert(name.clone(), var);
                    t
                }
                None => t,
            };
            params.push((name, t));
        }
        let raw_config =
            serde_json::to_value(&cfg).map_err(|e| Error::Config(format!("config: {e}")))?;
        Self::from_params(cfg, raw_config, params, varmap, opts)
    }

    fn from_params(
        cfg: ModelConfig,
        raw_config: serde_json::Value,
        params: Vec<(String, Tensor)>,
        varmap: Option<VarMap>,
        opts: &LoadOptions,
    ) -> Result<Self> {
        let map: std::collections::HashMap<&str, &Tensor> =
            params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let get = |n: &str| -> Result<Tensor> {
            map.get(n)
                .map(|t| (*t).clone())
                .ok_or_else(|| Error::Invalid(format!("missing parameter `{n}`")))
        };
        let lin = |p: &str, bias: bool| -> Result<Linear> {
            Ok(Linear {
                w: get(&format!("{p}.weight"))?,
                b: if bias {
                    Some(get(&format!("{p}.bias"))?)
                } else {
                    None
                },
            })
        };
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = |s: &str| format!("model.layers.{i}.{s}");
            layers.push(Block {
                ln1: get(&p("input_layernorm.weight"))?,
                q: lin(&p("self_attn.q_proj"), cfg.qkv_bias())?,
                k: lin(&p("self_attn.k_proj"), cfg.qkv_bias())?,
                v: lin(&p("self_attn.v_proj"), cfg.qkv_bias())?,
                o: lin(&p("self_attn.o_proj"), cfg.o_bias())?,
                ln2: get(&p("post_attention_layernorm.weight"))?,
                gate: lin(&p("mlp.gate_proj"), cfg.mlp_bias)?,
                up: lin(&p("mlp.up_proj"), cfg.mlp_bias)?,
                down: lin(&p("mlp.down_proj"), cfg.mlp_bias)?,
            });
        }
        let embed = get("model.embed_tokens.weight")?;
        let norm = get("model.norm.weight")?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(get("lm_head.weight")?)
        };
        let inv_freq = cfg.inv_freq();
        drop(map);
        Ok(CausalLm {
            cfg,
            raw_config,
            source: None,
            dtype: opts.dtype,
            device: opts.device.clone(),
            embed,
            layers,
            norm,
            lm_head,
            inv_freq,
            varmap,
            params,
            checkpointing: false,
            pending: Default::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The device of the parameters.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The dtype of the parameters.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Whether the parameters are trainable `Var`s.
    pub fn is_trainable(&self) -> bool {
        self.varmap.is_some()
    }

    /// The `VarMap` holding the parameters under their Hugging Face names (`None` when
    /// frozen). Give `varmap.all_vars()` to an optimizer.
    pub fn varmap(&self) -> Option<&VarMap> {
        self.varmap.as_ref()
    }

    /// The trainable parameters with their Hugging Face names, in a fixed order (empty
    /// when frozen). `Var::set` on them changes the model in place.
    pub fn vars(&self) -> Result<Vec<(String, Var)>> {
        let Some(vm) = &self.varmap else {
            return Ok(Vec::new());
        };
        let data = vm
            .data()
            .lock()
            .map_err(|_| Error::Invalid("VarMap lock poisoned".into()))?;
        self.params
            .iter()
            .map(|(n, _)| {
                data.get(n)
                    .map(|v| (n.clone(), v.clone()))
                    .ok_or_else(|| Error::Invalid(format!("VarMap has no `{n}`")))
            })
            .collect()
    }

    /// Every parameter with its Hugging Face name, in a fixed order.
    pub fn parameters(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Total number of parameter elements.
    pub fn num_parameters(&self) -> usize {
        self.params.iter().map(|(_, t)| t.elem_count()).sum()
    }

    /// A deep copy with its own storage; `trainable` chooses `Var`s or plain tensors.
    /// `frozen_copy` of the policy at step 0 is the usual DPO reference model.
    pub fn copy_with(&self, trainable: bool) -> Result<Self> {
        let opts = LoadOptions {
            dtype: self.dtype,
            device: self.device.clone(),
            trainable,
        };
        let src: std::collections::HashMap<&str, &Tensor> =
            self.params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut m = Self::assemble(self.cfg.clone(), &opts, |name, _| {
            Ok(src
                .get(name)
                .ok_or_else(|| Error::Invalid(format!("missing parameter `{name}`")))?
                .detach()
                .copy()?)
        })?;
        m.raw_config = self.raw_config.clone();
        m.source = self.source.clone();
        Ok(m)
    }

    /// A frozen deep copy (for a reference model).
    pub fn frozen_copy(&self) -> Result<Self> {
        self.copy_with(false)
    }

    /// cos and sin of RoPE at the given positions, `[b, t, d/2]` each.
    fn rope_tables(&self, pos: &[u32], b: usize, t: usize) -> Result<(Tensor, Tensor)> {
        let half = self.inv_freq.len();
        let shape = (b, t, half);
        if self.dtype == DType::F64 {
            let mut c = Vec::with_capacity(pos.len() * half);
            let mut s = Vec::with_capacity(pos.len() * half);
            for &p in pos {
                for &f in &self.inv_freq {
                    let a = p as f64 * f;
                    c.push(a.cos());
                    s.push(a.sin());
                }
            }
            Ok((
                Tensor::from_vec(c, shape, &self.device)?,
                Tensor::from_vec(s, shape, &self.device)?,
            ))
        } else {
            // As transformers: angle = position · inv_freq in f32, then cos/sin in f32.
            let mut c = Vec::with_capacity(pos.len() * half);
            let mut s = Vec::with_capacity(pos.len() * half);
            for &p in pos {
                for &f in &self.inv_freq {
                    let a = p as f32 * f as f32;
                    c.push(a.cos());
                    s.push(a.sin());
                }
            }
            Ok((
                Tensor::from_vec(c, shape, &self.device)?.to_dtype(self.dtype)?,
                Tensor::from_vec(s, shape, &self.device)?.to_dtype(self.dtype)?,
            ))
        }
    }

    /// The additive attention mask `[b, 1, tq, tk]` (0 where visible, a large negative
    /// value elsewhere): causal, key padding, optional sliding window.
    fn attention_mask(&self, key_real: &[Vec<bool>], past: usize, tq: usize) -> Result<Tensor> {
        let b = key_real.len();
        let tk = past + tq;
        let all_real = key_real.iter().all(|r| r.iter().all(|&x| x));
        let rows = if all_real { 1 } else { b };
        let neg = ops::mask_value(self.dtype);
        let window = self.cfg.window();
        let mut m = vec![0f64; rows * tq * tk];
        for r in 0..rows {
            for i in 0..tq {
                let qa = past + i;
                for j in 0..tk {
                    let visible = j <= qa && key_real[r][j] && window.is_none_or(|w| qa - j < w);
                    if !visible {
                        m[(r * tq + i) * tk + j] = neg;
                    }
                }
            }
        }
        Ok(Tensor::from_vec(m, (rows, 1, tq, tk), &self.device)?.to_dtype(self.dtype)?)
    }

    /// The final hidden states (after the last norm) of the new tokens.
    ///
    /// `real`: per row, whether each new token is real (false = padding). `cache`: keys
    /// and values of earlier positions; updated in place when given.
    fn hidden(
        &self,
        ids: &Tensor,
        real: &[Vec<bool>],
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if real.len() != b || real.iter().any(|r| r.len() != t) {
            return Err(Error::Invalid(format!(
                "attention mask shape does not match input ids [{b}, {t}]"
            )));
        }
        if let Some(c) = &cache
            && c.batch() != b
        {
            return Err(Error::Invalid(format!(
                "KV cache has {} rows, input ids {b}",
                c.batch()
            )));
        }
        let vocab = self.cfg.vocab_size as u32;
        let flat_ids = ids.flatten_all()?.to_dtype(DType::U32)?;
        if let Some(&bad) = flat_ids.to_vec1::<u32>()?.iter().find(|&&i| i >= vocab) {
            return Err(Error::Invalid(format!(
                "token id {bad} out of range for vocabulary size {vocab}"
            )));
        }
        let past = cache.as_ref().map_or(0, |c| c.len());
        // Positions count real tokens only, so left padding does not shift RoPE.
        let mut pos = Vec::with_capacity(b * t);
        let mut key_real = Vec::with_capacity(b);
        for (r, row) in real.iter().enumerate() {
            let mut seen = cache.as_ref().map_or(0, |c| c.seen[r]);
            for &is_real in row {
                pos.push(if is_real { seen } else { 0 });
                if is_real {
                    seen += 1;
                }
            }
            let mut kr = cache.as_ref().map_or_else(Vec::new, |c| c.real[r].clone());
            kr.extend_from_slice(row);
            key_real.push(kr);
        }
        let (cos, sin) = self.rope_tables(&pos, b, t)?;
        let mask = self.attention_mask(&key_real, past, t)?;

        let h = self.cfg.hidden_size;
        let x = self.embed.index_select(&flat_ids, 0)?.reshape((b, t, h))?;
        let rope = (cos, sin, mask);
        let x = if self.checkpointing && self.varmap.is_some() && cache.is_none() {
            // Keep only each layer's input; the layers' graphs are rebuilt one at a time
            // by `backward_checkpointed`.
            let mut inputs = Vec::with_capacity(self.layers.len());
            let mut x = x.detach();
            for li in 0..self.layers.len() {
                let next = self.block(li, &x, &rope, None)?.detach();
                inputs.push(std::mem::replace(&mut x, next));
            }
            let top = Var::from_tensor(&x)?;
            let out = top.as_tensor().clone();
            self.pending
                .lock()
                .map_err(|_| Error::Invalid("checkpoint list poisoned".into()))?
                .push(Checkpoint {
                    ids: flat_ids,
                    rope,
                    inputs,
                    top,
                });
            out
        } else {
            let mut x = x;
            for li in 0..self.layers.len() {
                x = self.block(li, &x, &rope, cache.as_deref_mut())?;
            }
            x
        };
        if let Some(c) = cache {
            for (r, row) in real.iter().enumerate() {
                c.real[r].extend_from_slice(row);
                c.seen[r] += row.iter().filter(|&&x| x).count() as u32;
            }
        }
        ops::rms_norm(&x, &self.norm, self.cfg.rms_norm_eps)
    }

    /// Decoder layer `li`: attention and MLP with their residuals. `cache`: keys and
    /// values of earlier positions, extended in place.
    fn block(
        &self,
        li: usize,
        x: &Tensor,
        (cos, sin, mask): &(Tensor, Tensor, Tensor),
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let layer = &self.layers[li];
        let (b, t, _) = x.dims3()?;
        let (nh, nkv, d) = (
            self.cfg.num_attention_heads,
            self.cfg.kv_heads(),
            self.cfg.head_dim(),
        );
        let rep = nh / nkv;
        let scale = 1.0 / (d as f64).sqrt();
        let eps = self.cfg.rms_norm_eps;
        let hn = ops::rms_norm(x, &layer.ln1, eps)?;
        let q = layer.q.forward(&hn)?.reshape((b, t, nh, d))?;
        let k = layer.k.forward(&hn)?.reshape((b, t, nkv, d))?;
        let v = layer.v.forward(&hn)?.reshape((b, t, nkv, d))?;
        let q = ops::rope(&q, cos, sin)?;
        let k = ops::rope(&k, cos, sin)?;
        let q = (q.transpose(1, 2)?.contiguous()? * scale)?; // [b, nh, t, d]
        let mut k = k.transpose(1, 2)?.contiguous()?; // [b, nkv, t, d]
        let mut v = v.transpose(1, 2)?.contiguous()?;
        if let Some(c) = cache {
            if let Some((pk, pv)) = &c.kv[li] {
                k = Tensor::cat(&[pk, &k], 2)?;
                v = Tensor::cat(&[pv, &v], 2)?;
            }
            c.kv[li] = Some((k.clone(), v.clone()));
        }
        let tk = k.dim(2)?;
        // Grouped-query attention without repeating K/V: the `rep` query heads that
        // share a K/V head are stacked along the sequence axis.
        let qg = q.reshape((b, nkv, rep * t, d))?;
        let scores = qg.matmul(&k.t()?)?.reshape((b, nh, t, tk))?;
        let scores = scores.broadcast_add(mask)?;
        let p = ops::softmax_last_dim(&scores)?.reshape((b, nkv, rep * t, tk))?;
        let o = p
            .matmul(&v)?
            .reshape((b, nh, t, d))?
            .transpose(1, 2)?
            .reshape((b, t, nh * d))?;
        let x = (x + layer.o.forward(&o)?)?;
        let hn = ops::rms_norm(&x, &layer.ln2, eps)?;
        let g = candle_nn::ops::silu(&layer.gate.forward(&hn)?)?;
        let u = layer.up.forward(&hn)?;
        Ok((x + layer.down.forward(&(g * u)?)?)?)
    }

    /// Turns gradient checkpointing on or off (off by default). On, a training forward
    /// keeps only each layer's input instead of every activation of every layer, and
    /// [`Self::backward_checkpointed`] rebuilds one layer's graph at a time: activation
    /// memory falls from all layers' to about one layer's, for one more forward of the
    /// layers (transformers' `gradient_checkpointing_enable`).
    pub fn set_gradient_checkpointing(&mut self, on: bool) {
        self.checkpointing = on;
    }

    /// Whether gradient checkpointing is on.
    pub fn gradient_checkpointing(&self) -> bool {
        self.checkpointing
    }

    /// Forgets the checkpoints of forwards that will not be backpropagated (evaluation).
    pub fn discard_checkpoints(&self) {
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
        }
    }

    /// With gradient checkpointing on: after `grads = loss.backward()`, carries the
    /// gradient through the layers of every checkpointed forward since the last call,
    /// newest first, and hands `sink` the parameter gradients piece by piece (one
    /// [`GradStore`](candle_core::backprop::GradStore) per layer, then the embedding).
    /// `grads` itself holds the gradients of the final norm and the LM head. Without
    /// checkpoints this does nothing.
    pub fn backward_checkpointed<E: From<Error>>(
        &self,
        grads: &candle_core::backprop::GradStore,
        mut sink: impl FnMut(&candle_core::backprop::GradStore) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let pending = std::mem::take(
            &mut *self
                .pending
                .lock()
                .map_err(|_| Error::Invalid("checkpoint list poisoned".into()))?,
        );
        let nn = |e: candle_core::Error| E::from(Error::from(e));
        for c in pending.into_iter().rev() {
            // A forward whose output did not reach the loss has no gradient to carry.
            let Some(mut g) = grads.get(c.top.as_tensor()).map(Tensor::detach) else {
                continue;
            };
            for (li, x) in c.inputs.iter().enumerate().rev() {
                let input = Var::from_tensor(x).map_err(nn)?;
                let out = self.block(li, input.as_tensor(), &c.rope, None)?;
                // d/dθ Σ out ⊙ g = (∂out/∂θ)ᵀ g: the vector-Jacobian product of the layer.
                let layer_grads = (out * &g)
                    .and_then(|v| v.sum_all())
                    .and_then(|v| v.backward())
                    .map_err(nn)?;
                g = layer_grads
                    .get(input.as_tensor())
                    .map(Tensor::detach)
                    .ok_or_else(|| Error::Invalid(format!("layer {li}: no input gradient")))?;
                sink(&layer_grads)?;
            }
            let embed_grads = self
                .embed
                .index_select(&c.ids, 0)
                .and_then(|x0| x0.reshape(c.top.shape()))
                .and_then(|x0| x0 * &g)
                .and_then(|v| v.sum_all())
                .and_then(|v| v.backward())
                .map_err(nn)?;
            sink(&embed_grads)?;
        }
        Ok(())
    }

    /// Logits from final hidden states.
    ///
    /// # Shapes
    /// - `hidden`: `[..., hidden_size]` → `[..., vocab_size]`
    pub fn lm_head(&self, hidden: &Tensor) -> Result<Tensor> {
        let w = self.lm_head.as_ref().unwrap_or(&self.embed).clone();
        Linear { w, b: None }.forward(hidden)
    }

    /// Reads a `[b, t]` 0/1 attention mask into per-row flags.
    fn mask_rows(mask: Option<&Tensor>, b: usize, t: usize) -> Result<Vec<Vec<bool>>> {
        match mask {
            None => Ok(vec![vec![true; t]; b]),
            Some(m) => {
                if m.dims() != [b, t] {
                    return Err(Error::Invalid(format!(
                        "attention mask shape {:?} does not match input ids [{b}, {t}]",
                        m.dims()
                    )));
                }
                Ok(m.to_dtype(DType::F32)?
                    .to_vec2::<f32>()?
                    .into_iter()
                    .map(|r| r.into_iter().map(|x| x != 0.0).collect())
                    .collect())
            }
        }
    }

    /// Full-sequence logits with the padding given as per-row flags (see [`Self::forward`]).
    pub fn forward_rows(&self, input_ids: &Tensor, real: &[Vec<bool>]) -> Result<Tensor> {
        let hidden = self.hidden_rows(input_ids, real)?;
        self.lm_head(&hidden)
    }

    /// Final hidden states with the padding given as per-row flags (see
    /// [`Self::forward_hidden`]).
    pub fn hidden_rows(&self, input_ids: &Tensor, real: &[Vec<bool>]) -> Result<Tensor> {
        self.hidden(input_ids, real, None)
    }

    /// Final hidden states of every position (after the last RMSNorm), e.g. for a
    /// reward head.
    ///
    /// # Shapes
    /// - `input_ids`: `[b, t]` (u32), `attention_mask`: `[b, t]` (1 = token, 0 = padding;
    ///   `None` = all tokens) → `[b, t, hidden_size]`
    pub fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let real = Self::mask_rows(attention_mask, b, t)?;
        self.hidden(input_ids, &real, None)
    }

    /// Full-sequence forward: logits at every position (position `i` predicts token
    /// `i + 1`). Padding may be on either side: RoPE positions count real tokens only,
    /// and padded keys are masked, so a row's logits do not depend on its padding.
    ///
    /// # Shapes
    /// - `input_ids`: `[b, t]` (u32), `attention_mask`: `[b, t]` (1 = token, 0 = padding;
    ///   `None` = all tokens) → `[b, t, vocab_size]` (the model's dtype)
    pub fn forward(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<Tensor> {
        let hidden = self.forward_hidden(input_ids, attention_mask)?;
        self.lm_head(&hidden)
    }

    /// Incremental forward for decoding: runs the new tokens against the cache, appends
    /// their keys and values to it, and returns the logits of the last new position.
    ///
    /// # Shapes
    /// - `input_ids`: `[b, t_new]`; `real`: `b` rows of `t_new` flags (false = padding;
    ///   `None` = all real) → `[b, vocab_size]`
    pub fn step(
        &self,
        input_ids: &Tensor,
        real: Option<&[Vec<bool>]>,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let (b, t) = input_ids.dims2()?;
        let owned;
        let real = match real {
            Some(r) => r,
            None => {
                owned = vec![vec![true; t]; b];
                &owned
            }
        };
        let hidden = self.hidden(input_ids, real, Some(cache))?;
        let last = hidden.narrow(1, t.saturating_sub(1), 1)?.squeeze(1)?;
        self.lm_head(&last)
    }

    /// The tensors to save, with Hugging Face names (a tied `lm_head` is not stored).
    pub fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(n, t)| (n.clone(), t.detach()))
            .collect()
    }

    /// Writes the weights to one safetensors file (atomically), Hugging Face names.
    pub fn save_safetensors(&self, path: &Path) -> Result<()> {
        save_safetensors(path, &self.state_dict())
    }

    /// Writes a folder that transformers' `AutoModelForCausalLM.from_pretrained` loads
    /// as-is: `model.safetensors`, `config.json` (the loaded one, every field kept, with
    /// `torch_dtype` set), and the tokenizer files of the folder the model was loaded from.
    pub fn save_pretrained(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::File(format!("{}: {e}", dir.display())))?;
        self.save_safetensors(&dir.join("model.safetensors"))?;
        let mut cfg = self.raw_config.clone();
        if let Some(o) = cfg.as_object_mut() {
            let dt = match self.dtype {
                DType::F64 => "float64",
                DType::F16 => "float16",
                DType::BF16 => "bfloat16",
                _ => "float32",
            };
            // transformers 5 writes `dtype`, 4 wrote `torch_dtype`: update the one present.
            let key = if o.contains_key("dtype") {
                "dtype"
            } else {
                "torch_dtype"
            };
            o.insert(key.into(), dt.into());
            o.entry("architectures")
                .or_insert_with(|| serde_json::json!(["LlamaForCausalLM"]));
        }
        let text = serde_json::to_string_pretty(&cfg).map_err(|e| Error::Config(e.to_string()))?;
        write_atomic(&dir.join("config.json"), text.as_bytes())?;
        if let Some(src) = &self.source
            && src.canonicalize().ok() != dir.canonicalize().ok()
        {
            for f in [
                "tokenizer.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "generation_config.json",
                "tokenizer.model",
            ] {
                let p = src.join(f);
                if p.exists() {
                    let bytes = std::fs::read(&p)
                        .map_err(|e| Error::File(format!("{}: {e}", p.display())))?;
                    write_atomic(&dir.join(f), &bytes)?;
                }
            }
        }
        Ok(())
    }
}
