//! Batches of token sequences and their per-token / per-sequence log-probs.
//!
//! A preference pair is one prompt and two completions. [`PairBatch`] lays a batch of
//! pairs out as `2B` rows, `[chosen_0 .. chosen_{B-1}; rejected_0 .. rejected_{B-1}]`,
//! so one forward computes both halves (as TRL's `concatenated_forward`); a completion
//! mask keeps only completion tokens (prompt and padding are masked).
//!
//! The traps handled here, each with a test:
//! - EOS is appended to a completion exactly once (not when it already ends with it);
//! - a prompt that starts with several BOS (a chat template that writes `<s>` plus a
//!   tokenizer that adds one) keeps one;
//! - padding on either side gives the same log-probs (positions count real tokens);
//! - truncation: the prompt to `max_prompt_length`, then the sequence to `max_length`,
//!   keeping the start or the end ([`Truncation`]); a leading BOS survives keep-end.
//!
//! # Quickstart
//! ```no_run
//! # use prefer_nn::{logprobs::*, model::*};
//! # let policy = CausalLm::load("dir".as_ref(), &LoadOptions::trainable())?;
//! let cfg = BatchConfig { bos_id: Some(1), eos_id: Some(2), ..Default::default() };
//! let pairs = vec![PairIds { prompt: vec![1, 5], chosen: vec![7, 8], rejected: vec![9] }];
//! let batch = PairBatch::new(&pairs, &cfg, policy.device())?;
//! let out = pair_logps(&policy, &batch)?;
//! // out.chosen, out.rejected: [B] sums of log-probs (differentiable);
//! // out.chosen_len, out.rejected_len: [B] token counts; out.chosen_nll: scalar.
//! # Ok::<(), prefer_nn::Error>(())
//! ```

use candle_core::{D, DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::model::CausalLm;
use crate::{Error, Result, ops};

/// Where padding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaddingSide {
    /// Pad after the tokens (training default).
    #[default]
    Right,
    /// Pad before the tokens (generation).
    Left,
}

/// Which end of a too-long sequence to keep (TRL's `truncation_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// Keep the end: the prompt loses its first tokens (after a leading BOS, which is
    /// kept); if the completion alone is too long, it keeps its last tokens. TRL's default.
    #[default]
    KeepEnd,
    /// Keep the start: the prompt and then the completion lose their last tokens.
    KeepStart,
}

/// How token ids become a padded batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Longest prompt, in tokens (default `None`: no limit; TRL uses 512).
    pub max_prompt_length: Option<usize>,
    /// Longest prompt + completion, in tokens (default `None`: no limit; TRL uses 1024).
    pub max_length: Option<usize>,
    /// Which end to keep when truncating (default keep end).
    pub truncation: Truncation,
    /// Where padding goes (default right).
    pub padding_side: PaddingSide,
    /// Token id written in padding positions (default 0; never attended to).
    pub pad_id: u32,
    /// Beginning-of-sequence id: repeated leading BOS in a prompt collapse to one
    /// (default `None`: untouched).
    pub bos_id: Option<u32>,
    /// Prepend `bos_id` to prompts that do not start with it (default false: the
    /// tokenizer or chat template decides).
    pub add_bos: bool,
    /// End-of-sequence id appended to each completion that does not already end with it
    /// (default `None`: nothing appended).
    pub eos_id: Option<u32>,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_prompt_length: None,
            max_length: None,
            truncation: Truncation::KeepEnd,
            padding_side: PaddingSide::Right,
            pad_id: 0,
            bos_id: None,
            add_bos: false,
            eos_id: None,
        }
    }
}

impl BatchConfig {
    /// Checks the lengths and that `add_bos` has a `bos_id`.
    pub fn validate(&self) -> Result<()> {
        if self.max_length == Some(0) {
            return Err(Error::Config("max_length must be positive".into()));
        }
        if let (Some(p), Some(m)) = (self.max_prompt_length, self.max_length)
            && p >= m
        {
            return Err(Error::Config(format!(
                "max_prompt_length {p} must be below max_length {m} (room for the completion)"
            )));
        }
        if self.add_bos && self.bos_id.is_none() {
            return Err(Error::Config("add_bos needs bos_id".into()));
        }
        Ok(())
    }

    /// Builds one sequence: BOS and EOS fixed, truncated. Returns the tokens and the
    /// prompt length (the completion is the rest).
    pub fn build(&self, prompt: &[u32], completion: &[u32]) -> Result<(Vec<u32>, usize)> {
        let mut p: Vec<u32> = prompt.to_vec();
        if let Some(bos) = self.bos_id {
            let lead = p.iter().take_while(|&&t| t == bos).count();
            if lead > 1 {
                p.drain(..lead - 1);
            }
            if self.add_bos && lead == 0 {
                p.insert(0, bos);
            }
        }
        let keep_bos = usize::from(self.bos_id.is_some() && p.first() == self.bos_id.as_ref());
        let mut c: Vec<u32> = completion.to_vec();
        if let Some(eos) = self.eos_id
            && c.last() != Some(&eos)
        {
            c.push(eos);
        }
        if let Some(mp) = self.max_prompt_length
            && p.len() > mp
        {
            match self.truncation {
                Truncation::KeepStart => p.truncate(mp),
                Truncation::KeepEnd => {
                    let kb = keep_bos.min(mp);
                    let drop = p.len() - mp;
                    p.drain(kb..kb + drop);
                }
            }
        }
        if let Some(ml) = self.max_length
            && p.len() + c.len() > ml
        {
            match self.truncation {
                Truncation::KeepStart => {
                    if p.len() >= ml {
                        return Err(Error::Invalid(format!(
                            "the prompt ({} tokens) leaves no room for a completion in max_length {ml}; set max_prompt_length",
                            p.len()
                        )));
                    }
                    c.truncate(ml - p.len());
                }
                Truncation::KeepEnd => {
                    let over = p.len() + c.len() - ml;
                    let kb = keep_bos.min(p.len());
                    let from_prompt = over.min(p.len() - kb);
                    p.drain(kb..kb + from_prompt);
                    let rest = over - from_prompt;
                    if rest > 0 {
                        c.drain(..rest);
                    }
                }
            }
        }
        if c.is_empty() {
            return Err(Error::Invalid("empty completion".into()));
        }
        let n = p.len();
        p.extend_from_slice(&c);
        Ok((p, n))
    }
}

/// One prompt and one completion, as token ids.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SeqIds {
    /// Prompt ids (BOS included or not: see [`BatchConfig`]).
    pub prompt: Vec<u32>,
    /// Completion ids (EOS appended when missing, if `eos_id` is set).
    pub completion: Vec<u32>,
}

/// One prompt and two completions, as token ids.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PairIds {
    /// Prompt ids.
    pub prompt: Vec<u32>,
    /// Preferred completion ids.
    pub chosen: Vec<u32>,
    /// Dispreferred completion ids.
    pub rejected: Vec<u32>,
}

/// A padded batch of sequences with their masks.
#[derive(Debug, Clone)]
pub struct SeqBatch {
    /// `[n, t]` u32 token ids (padding holds `pad_id`).
    pub input_ids: Tensor,
    /// `[n, t]` u8: 1 for tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// `[n, t]` u8: 1 for completion tokens (the ones whose log-probs count).
    pub completion_mask: Tensor,
    rows: Vec<Vec<u32>>,
    real: Vec<Vec<bool>>,
    completion: Vec<Vec<bool>>,
    prompt_lens: Vec<usize>,
}

impl SeqBatch {
    /// Builds, truncates and pads `seqs` (see [`BatchConfig`]). Errors name the row.
    pub fn new(seqs: &[SeqIds], cfg: &BatchConfig, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let built = seqs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                cfg.build(&s.prompt, &s.completion)
                    .map_err(|e| Error::Invalid(format!("sequence {i}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Self::from_built(built, cfg, device)
    }

    /// Pads already-built sequences `(tokens, prompt_len)` (no BOS/EOS/truncation).
    pub fn from_built(
        built: Vec<(Vec<u32>, usize)>,
        cfg: &BatchConfig,
        device: &Device,
    ) -> Result<Self> {
        if built.is_empty() {
            return Err(Error::Invalid("empty batch".into()));
        }
        let t = built.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
        let n = built.len();
        let mut rows = Vec::with_capacity(n);
        let mut real = Vec::with_capacity(n);
        let mut completion = Vec::with_capacity(n);
        let mut prompt_lens = Vec::with_capacity(n);
        for (i, (s, pl)) in built.into_iter().enumerate() {
            if pl > s.len() {
                return Err(Error::Invalid(format!(
                    "sequence {i}: prompt length {pl} exceeds its {} tokens",
                    s.len()
                )));
            }
            let pad = t - s.len();
            let (mut r, mut m, mut c) = (
                Vec::with_capacity(t),
                Vec::with_capacity(t),
                Vec::with_capacity(t),
            );
            if cfg.padding_side == PaddingSide::Left {
                r.extend(std::iter::repeat_n(cfg.pad_id, pad));
                m.extend(std::iter::repeat_n(false, pad));
                c.extend(std::iter::repeat_n(false, pad));
            }
            for (j, &tok) in s.iter().enumerate() {
                r.push(tok);
                m.push(true);
                c.push(j >= pl);
            }
            if cfg.padding_side == PaddingSide::Right {
                r.extend(std::iter::repeat_n(cfg.pad_id, pad));
                m.extend(std::iter::repeat_n(false, pad));
                c.extend(std::iter::repeat_n(false, pad));
            }
            rows.push(r);
            real.push(m);
            completion.push(c);
            prompt_lens.push(pl);
        }
        let flat: Vec<u32> = rows.iter().flatten().copied().collect();
        let input_ids = Tensor::from_vec(flat, (n, t), device)?;
        let u8s =
            |v: &[Vec<bool>]| -> Vec<u8> { v.iter().flatten().map(|&b| u8::from(b)).collect() };
        let attention_mask = Tensor::from_vec(u8s(&real), (n, t), device)?;
        let completion_mask = Tensor::from_vec(u8s(&completion), (n, t), device)?;
        Ok(SeqBatch {
            input_ids,
            attention_mask,
            completion_mask,
            rows,
            real,
            completion,
            prompt_lens,
        })
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the batch has no row (never true for a built batch).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Padded length.
    pub fn seq_len(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }

    /// The tokens of row `i` without padding.
    pub fn tokens(&self, i: usize) -> Vec<u32> {
        self.rows[i]
            .iter()
            .zip(&self.real[i])
            .filter(|(_, r)| **r)
            .map(|(t, _)| *t)
            .collect()
    }

    /// The prompt length of row `i` (without padding).
    pub fn prompt_len(&self, i: usize) -> usize {
        self.prompt_lens[i]
    }

    /// The completion tokens of row `i`.
    pub fn completion_tokens(&self, i: usize) -> Vec<u32> {
        self.rows[i]
            .iter()
            .zip(&self.completion[i])
            .filter(|(_, c)| **c)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Per-row flags: token (true) or padding.
    pub fn real(&self) -> &[Vec<bool>] {
        &self.real
    }
}

/// A batch of `B` pairs as `2B` rows: `[chosen; rejected]`.
#[derive(Debug, Clone)]
pub struct PairBatch {
    /// The rows: `0..B` chosen, `B..2B` rejected.
    pub seqs: SeqBatch,
    /// Number of pairs `B`.
    pub n_pairs: usize,
}

impl PairBatch {
    /// Builds, truncates and pads the pairs. Errors name the pair.
    pub fn new(pairs: &[PairIds], cfg: &BatchConfig, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let mut built = Vec::with_capacity(2 * pairs.len());
        for (side, pick) in [("chosen", 0), ("rejected", 1)] {
            for (i, p) in pairs.iter().enumerate() {
                let comp = if pick == 0 { &p.chosen } else { &p.rejected };
                built.push(
                    cfg.build(&p.prompt, comp)
                        .map_err(|e| Error::Invalid(format!("pair {i} ({side}): {e}")))?,
                );
            }
        }
        Ok(PairBatch {
            seqs: SeqBatch::from_built(built, cfg, device)?,
            n_pairs: pairs.len(),
        })
    }
}

/// Log-probs of the completion tokens of each row.
#[derive(Debug, Clone)]
pub struct SeqLogps {
    /// `[n]` Σ log p(completion token | previous tokens), differentiable (f32, or f64
    /// for an f64 model).
    pub sum: Tensor,
    /// `[n]` number of completion tokens (same dtype as `sum`).
    pub count: Tensor,
    /// `[n, t]` the log-prob of token `i + 1` at position `i`, zero where masked.
    pub per_token: Tensor,
    /// `[n]` Σ over completion positions of the mean logit over the vocabulary
    /// (detached; TRL's `logits/chosen` is `Σ logits_sum / Σ count` over chosen rows).
    pub logits_sum: Tensor,
}

impl SeqLogps {
    /// `sum / count`: the per-token mean log-prob of each row (SimPO, IPO, TRL's
    /// `average_log_prob`).
    pub fn mean(&self) -> Result<Tensor> {
        Ok((&self.sum / &self.count)?)
    }
}

/// The log-probs from logits already computed for `batch`.
///
/// # Shapes
/// - `logits`: `[n, t, vocab]` for `batch` of `n` rows of `t` tokens → [`SeqLogps`]
pub fn logps_from_logits(logits: &Tensor, batch: &SeqBatch) -> Result<SeqLogps> {
    let (n, t, v) = logits.dims3()?;
    if n != batch.len() || t != batch.seq_len() {
        return Err(Error::Invalid(format!(
            "logits {:?} do not match a batch of {} rows of {} tokens",
            logits.dims(),
            batch.len(),
            batch.seq_len()
        )));
    }
    let logits = match logits.dtype() {
        DType::F32 | DType::F64 => logits.clone(),
        _ => logits.to_dtype(DType::F32)?,
    };
    let dt = logits.dtype();
    // Position i predicts token i+1: labels and mask shifted left by one; the last
    // position gets a dummy label and mask 0 (no copy of the logits needed).
    let mut labels = Vec::with_capacity(n * t);
    let mut mask = Vec::with_capacity(n * t);
    for (row, comp) in batch.rows.iter().zip(&batch.completion) {
        for i in 0..t {
            if i + 1 < t {
                labels.push(row[i + 1]);
                mask.push(if comp[i + 1] { 1.0 } else { 0.0 });
            } else {
                labels.push(0);
                mask.push(0.0);
            }
        }
    }
    let dev = logits.device();
    let labels = Tensor::from_vec(labels, n * t, dev)?;
    let mask = Tensor::from_vec(mask, (n, t), dev)?.to_dtype(dt)?;
    let flat = logits.reshape((n * t, v))?;
    let lp = ops::token_logps(&flat, &labels)?.reshape((n, t))?;
    let per_token = (lp * &mask)?;
    let sum = per_token.sum(1)?;
    let count = mask.sum(1)?;
    let mean_logit = (logits.detach().sum(D::Minus1)? / v as f64)?;
    let logits_sum = (mean_logit * &mask)?.sum(1)?;
    Ok(SeqLogps {
        sum,
        count,
        per_token,
        logits_sum,
    })
}

/// One forward of `model` over `batch`: the same as [`logps_from_logits`] of the full
/// logits, but the LM head runs only at the positions that predict a completion token
/// (as TRL's `fused_lm_head`), so the `[n, t, vocab]` logits of prompt and padding
/// positions are never built: on pairs whose prompt is half the tokens this halves the
/// head's time and memory, forward and backward.
pub fn sequence_logps(model: &CausalLm, batch: &SeqBatch) -> Result<SeqLogps> {
    let hidden = model.hidden_rows(&batch.input_ids, &batch.real)?;
    let (n, t, h) = hidden.dims3()?;
    // Position i predicts token i + 1: keep the positions whose next token is scored.
    let (mut pos, mut row_of, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for (r, (row, comp)) in batch.rows.iter().zip(&batch.completion).enumerate() {
        for i in 0..t.saturating_sub(1) {
            if comp[i + 1] {
                pos.push((r * t + i) as u32);
                row_of.push(r as u32);
                labels.push(row[i + 1]);
            }
        }
    }
    if pos.is_empty() {
        // Nothing to score: the full path gives the zeros, still tied to the graph.
        return logps_from_logits(&model.lm_head(&hidden)?, batch);
    }
    let dev = hidden.device();
    let m = pos.len();
    let pos = Tensor::from_vec(pos, m, dev)?;
    let row_of = Tensor::from_vec(row_of, m, dev)?;
    let labels = Tensor::from_vec(labels, m, dev)?;
    let picked = hidden.reshape((n * t, h))?.index_select(&pos, 0)?;
    let logits = model.lm_head(&picked)?;
    let logits = match logits.dtype() {
        DType::F32 | DType::F64 => logits,
        _ => logits.to_dtype(DType::F32)?,
    };
    let (dt, v) = (logits.dtype(), logits.dim(1)?);
    let lp = ops::token_logps(&logits, &labels)?; // [m]
    let per_token = Tensor::zeros(n * t, dt, dev)?
        .index_add(&pos, &lp, 0)?
        .reshape((n, t))?;
    let sum = Tensor::zeros(n, dt, dev)?.index_add(&row_of, &lp, 0)?;
    let count: Vec<f64> = batch
        .completion
        .iter()
        .map(|c| c.iter().skip(1).filter(|&&x| x).count() as f64)
        .collect();
    let count = Tensor::from_vec(count, n, dev)?.to_dtype(dt)?;
    let mean_logit = (logits.detach().sum(D::Minus1)? / v as f64)?;
    let logits_sum = Tensor::zeros(n, dt, dev)?.index_add(&row_of, &mean_logit, 0)?;
    Ok(SeqLogps {
        sum,
        count,
        per_token,
        logits_sum,
    })
}

/// What one forward over a [`PairBatch`] gives a preference loss.
#[derive(Debug, Clone)]
pub struct PolicyPairLogps {
    /// `[B]` Σ log-probs of the chosen completions (differentiable).
    pub chosen: Tensor,
    /// `[B]` Σ log-probs of the rejected completions (differentiable).
    pub rejected: Tensor,
    /// `[B]` chosen completion lengths (tokens).
    pub chosen_len: Tensor,
    /// `[B]` rejected completion lengths (tokens).
    pub rejected_len: Tensor,
    /// Scalar: mean negative log-likelihood per chosen completion token over the batch,
    /// `−Σ chosen / Σ chosen_len` (the SFT term of RPO and ORPO; TRL's `nll_loss`).
    pub chosen_nll: Tensor,
    /// Mean logit over chosen completion positions and the vocabulary (TRL's
    /// `logits/chosen`).
    pub logits_mean_chosen: f64,
    /// The same for rejected (`logits/rejected`).
    pub logits_mean_rejected: f64,
    /// Everything per row, `[chosen; rejected]`.
    pub rows: SeqLogps,
}

/// One forward over `[chosen; rejected]`, split into the two halves.
pub fn pair_logps(model: &CausalLm, batch: &PairBatch) -> Result<PolicyPairLogps> {
    let rows = sequence_logps(model, &batch.seqs)?;
    split_pairs(rows, batch.n_pairs)
}

/// Splits per-row log-probs of a `[chosen; rejected]` batch of `b` pairs.
pub fn split_pairs(rows: SeqLogps, b: usize) -> Result<PolicyPairLogps> {
    if rows.sum.dim(0)? != 2 * b {
        return Err(Error::Invalid(format!(
            "{} rows are not 2 × {b} pairs",
            rows.sum.dim(0)?
        )));
    }
    let chosen = rows.sum.narrow(0, 0, b)?;
    let rejected = rows.sum.narrow(0, b, b)?;
    let chosen_len = rows.count.narrow(0, 0, b)?;
    let rejected_len = rows.count.narrow(0, b, b)?;
    let chosen_nll = (chosen.sum_all()?.neg()?
        / chosen_len
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?)?;
    let mean = |lo: usize| -> Result<f64> {
        let s = rows
            .logits_sum
            .narrow(0, lo, b)?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        let c = rows
            .count
            .narrow(0, lo, b)?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        Ok(if c > 0.0 { s / c } else { 0.0 })
    };
    Ok(PolicyPairLogps {
        logits_mean_chosen: mean(0)?,
        logits_mean_rejected: mean(b)?,
        chosen,
        rejected,
        chosen_len,
        rejected_len,
        chosen_nll,
        rows,
    })
}
