//! What every online objective shares: sampling `num_generations` completions per prompt
//! from the current policy, decoding them, scoring them with the reward sources, and the
//! TRL metrics of a rollout (`reward`, `reward_std`, `rewards/<source>/mean`,
//! `frac_reward_zero_std`, `completions/mean_length`, `completions/clipped_ratio`), and,
//! when gold sources are configured (`[[objective.gold]]`: scored, logged as `gold` and
//! `gold/<source>/mean`, never trained on), the gold reward the proxy is meant to track.
//!
//! Sampling is seeded by (run seed, step): a resumed run samples the same completions.

use candle_core::{DType, Tensor};
use prefer_nn::logprobs::{BatchConfig, SeqBatch, SeqIds};
use prefer_nn::loss::sample_std;
use prefer_nn::sample::{generate, generate_mixture};
use prefer_nn::tokenizer::Tokenizer;

use super::{Ctx, mean, wrong_examples};
use crate::judge::{LlmJudge, PairJudge, PairQuery, Verdict, judge_both_orders};
use crate::metrics::Averager;
use crate::online::Sampling;
use crate::reward::{RewardSource, build_weighted, score_weighted};
use crate::{Error, Result};

/// One sampled completion.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// Prompt and completion ids.
    pub seq: SeqIds,
    /// The weighted sum of the reward sources.
    pub reward: f64,
    /// Whether it ran out of `max_completion_length` before EOS.
    pub truncated: bool,
}

/// Samples and scores rollouts.
pub struct Sampler {
    cfg: Sampling,
    sources: Vec<(Box<dyn RewardSource>, f64)>,
    gold: Vec<(Box<dyn RewardSource>, f64)>,
    tok: Tokenizer,
}

impl Sampler {
    /// A sampler; `tok` decodes completions for the reward sources.
    pub fn new(
        cfg: Sampling,
        tok: Tokenizer,
        method: &str,
        min_generations: usize,
    ) -> Result<Self> {
        cfg.validate(method, min_generations)?;
        let sources = build_weighted(&cfg.reward)?;
        let gold = build_weighted(&cfg.gold)?;
        Ok(Sampler {
            cfg,
            sources,
            gold,
            tok,
        })
    }

    /// The text of a rollout's completion (special tokens left out), as the reward sources
    /// read it.
    pub fn decode(&self, r: &Rollout) -> Result<String> {
        Ok(self.tok.decode(&r.seq.completion, true)?)
    }

    /// G completions of each prompt `idx` (consecutive), scored; the rollout metrics go to
    /// `avg` (the reward's only when there are reward sources).
    pub fn sample(
        &self,
        cx: &mut Ctx<'_>,
        idx: &[usize],
        method: &str,
        avg: &mut Averager,
    ) -> Result<Vec<Rollout>> {
        let ids = repeated_ids(cx, idx, self.cfg.num_generations, method)?;
        let eos: Vec<u32> = self.tok.eos_id().into_iter().collect();
        let sampling = self.cfg.sample_config(step_seed(cx.seed, cx.step));
        let gens = generate(cx.policy, &ids, &eos, &sampling)?;
        self.score(cx, idx, ids, gens, method, avg)
    }

    /// One completion of each prompt `idx` from the policy and one from the geometric
    /// mixture `opponent` (XPO's reference alone, Nash-MD's policy–reference mixture),
    /// each pair consecutive with the policy's first, scored as [`sample`](Self::sample)
    /// scores.
    pub fn sample_against(
        &self,
        cx: &mut Ctx<'_>,
        opponent: &[(&prefer_nn::model::CausalLm, f64)],
        idx: &[usize],
        method: &str,
        avg: &mut Averager,
    ) -> Result<Vec<Rollout>> {
        let one = repeated_ids(cx, idx, 1, method)?;
        let eos: Vec<u32> = self.tok.eos_id().into_iter().collect();
        let seed = step_seed(cx.seed, cx.step);
        let mine = generate(cx.policy, &one, &eos, &self.cfg.sample_config(seed))?;
        let theirs = generate_mixture(opponent, &one, &eos, &self.cfg.sample_config(!seed))?;
        let ids = one.iter().flat_map(|p| [p.clone(), p.clone()]).collect();
        let gens = mine
            .into_iter()
            .zip(theirs)
            .flat_map(|(a, b)| [a, b])
            .collect();
        self.score(cx, idx, ids, gens, method, avg)
    }

    /// Decodes and scores `gens` (the continuations of `ids`, the same number for each
    /// prompt `idx`, consecutive), logs the rollout metrics and the completions.
    fn score(
        &self,
        cx: &mut Ctx<'_>,
        idx: &[usize],
        ids: Vec<Vec<u32>>,
        gens: Vec<prefer_nn::sample::Generation>,
        method: &str,
        avg: &mut Averager,
    ) -> Result<Vec<Rollout>> {
        let ps = cx
            .examples
            .as_prompts()
            .ok_or_else(|| wrong_examples(method))?;
        let g = (gens.len() / idx.len().max(1)).max(1);
        let texts: Vec<String> = gens
            .iter()
            .map(|o| self.tok.decode(&o.tokens, true))
            .collect::<std::result::Result<_, _>>()?;
        let prompt_texts: Vec<String> = idx
            .iter()
            .flat_map(|&i| std::iter::repeat_n(ps[i].text.clone(), g))
            .collect();
        let mut per_source = Vec::new();
        let total = weighted(
            &self.sources,
            "rewards",
            &prompt_texts,
            &texts,
            avg,
            &mut per_source,
        )?;
        let scored = !self.sources.is_empty();
        if scored {
            avg.add("reward", mean(&total), 1.0);
        }
        let gold = if self.gold.is_empty() {
            None
        } else {
            let g = weighted(
                &self.gold,
                "gold",
                &prompt_texts,
                &texts,
                avg,
                &mut per_source,
            )?;
            avg.add("gold", mean(&g), 1.0);
            Some(g)
        };
        if let Some(log) = cx.completions.as_mut() {
            for (i, (p, c)) in prompt_texts.iter().zip(&texts).enumerate() {
                let mut o = serde_json::json!({ "prompt": p, "completion": c, "reward": total[i] });
                for (name, s) in &per_source {
                    o[name.as_str()] = s[i].into();
                }
                if let Some(g) = &gold {
                    o["gold"] = g[i].into();
                }
                log.push(o);
            }
        }
        if scored {
            avg.add("reward_std", sample_std(&total), 1.0);
            let zero = total.chunks(g).filter(|c| sample_std(c) < 1e-8).count();
            avg.add(
                "frac_reward_zero_std",
                zero as f64 / total.chunks(g).len().max(1) as f64,
                1.0,
            );
        }
        let lens: Vec<f64> = gens.iter().map(|o| o.tokens.len() as f64).collect();
        avg.add("completions/mean_length", mean(&lens), 1.0);
        let clipped = gens.iter().filter(|o| !o.stopped_at_eos).count() as f64;
        avg.add(
            "completions/clipped_ratio",
            clipped / gens.len().max(1) as f64,
            1.0,
        );
        Ok(ids
            .into_iter()
            .zip(gens)
            .zip(total)
            .map(|((prompt, o), reward)| Rollout {
                truncated: !o.stopped_at_eos,
                seq: SeqIds {
                    prompt,
                    completion: o.tokens,
                },
                reward,
            })
            .collect())
    }
}

/// Each prompt's two rollouts (consecutive in `rollouts`) as judge pairs, the first as A.
pub fn consecutive_pairs<'a>(
    idx: &[usize],
    rollouts: &'a [Rollout],
) -> Vec<(usize, &'a Rollout, &'a Rollout)> {
    idx.iter()
        .zip(rollouts.chunks(2))
        .map(|(&i, r)| (i, &r[0], &r[1]))
        .collect()
}

/// The judge's verdict on each pair (example index, answer A, answer B), asked in both
/// orders when `judge.1`; `judge/failure_rate`,
/// `judge/tie_rate`, `judge/pairs_used` (pairs with a winner) and, in both orders,
/// `judge/position_consistency` go to `avg`.
pub fn judge_rollouts(
    (judge, both): &(LlmJudge, bool),
    sampler: &Sampler,
    cx: &Ctx<'_>,
    pairs: &[(usize, &Rollout, &Rollout)],
    avg: &mut Averager,
) -> Result<Vec<Option<Verdict>>> {
    let ps = cx
        .examples
        .as_prompts()
        .ok_or_else(|| wrong_examples("an online objective"))?;
    let queries = pairs
        .iter()
        .map(|&(i, a, b)| {
            Ok(PairQuery {
                prompt: ps[i].text.clone(),
                a: sampler.decode(a)?,
                b: sampler.decode(b)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let verdicts: Vec<Option<Verdict>> = if *both {
        let s = judge_both_orders(judge, &queries)?;
        let judged: Vec<bool> = s.iter().filter_map(|x| x.consistent).collect();
        if !judged.is_empty() {
            let agree = judged.iter().filter(|c| **c).count() as f64;
            avg.add(
                "judge/position_consistency",
                agree / judged.len() as f64,
                1.0,
            );
        }
        s.into_iter().map(|x| x.verdict).collect()
    } else {
        judge
            .judge(&queries)?
            .into_iter()
            .map(|j| j.verdict)
            .collect()
    };
    let n = verdicts.len().max(1) as f64;
    let count =
        |f: &dyn Fn(&Option<Verdict>) -> bool| verdicts.iter().filter(|v| f(v)).count() as f64;
    avg.add("judge/failure_rate", count(&|v| v.is_none()) / n, 1.0);
    avg.add(
        "judge/tie_rate",
        count(&|v| *v == Some(Verdict::Tie)) / n,
        1.0,
    );
    avg.add(
        "judge/pairs_used",
        count(&|v| matches!(v, Some(Verdict::A | Verdict::B))) / n,
        1.0,
    );
    Ok(verdicts)
}

/// Builds the judge of `spec`, if any.
pub fn build_judge(spec: Option<&crate::online::JudgeSpec>) -> Result<Option<(LlmJudge, bool)>> {
    spec.map(|j| Ok((LlmJudge::new(j.endpoint.clone())?, j.both_orders)))
        .transpose()
}

/// Each rollout's reward less `penalty` when it ran out of tokens before EOS.
pub fn penalised(rollouts: &[Rollout], penalty: Option<f64>) -> Vec<f64> {
    let pen = penalty.unwrap_or(0.0);
    rollouts
        .iter()
        .map(|r| r.reward - if r.truncated { pen } else { 0.0 })
        .collect()
}

/// The share of `rollouts` that ended with EOS.
pub fn eos_share<'a>(rollouts: impl Iterator<Item = &'a Rollout>) -> f64 {
    let v: Vec<f64> = rollouts.map(|r| f64::from(!r.truncated)).collect();
    mean(&v)
}

/// Each score's mean of `f(s_i, s_j)` over the other scores `j ≠ i` of its group of `k`
/// (SPPO's win rates, SPO's win shares).
pub fn against_the_others(scores: &[f64], k: usize, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    scores
        .chunks(k)
        .flat_map(|g| {
            let f = &f;
            g.iter().enumerate().map(move |(i, si)| {
                let s: f64 = g
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, sj)| f(*si, *sj))
                    .sum();
                s / (g.len() - 1).max(1) as f64
            })
        })
        .collect()
}

/// The live reference model, or an error saying that `why` needs one.
pub fn live_reference<'a>(cx: &Ctx<'a>, why: &str) -> Result<&'a prefer_nn::model::CausalLm> {
    cx.reference
        .live()
        .ok_or_else(|| Error::Config(format!("{why}: it needs a live reference model")))
}

/// The ids of each prompt `idx`, `each` times in a row.
fn repeated_ids(cx: &Ctx<'_>, idx: &[usize], each: usize, method: &str) -> Result<Vec<Vec<u32>>> {
    let ps = cx
        .examples
        .as_prompts()
        .ok_or_else(|| wrong_examples(method))?;
    Ok(idx
        .iter()
        .flat_map(|&i| std::iter::repeat_n(ps[i].ids.clone(), each))
        .collect())
}

/// The weighted sum of `sources` per completion; each source's mean goes to `avg` as
/// `<prefix>/<name>/mean` and its scores to `per_source` as `<prefix>/<name>`.
fn weighted(
    sources: &[(Box<dyn RewardSource>, f64)],
    prefix: &str,
    prompts: &[String],
    texts: &[String],
    avg: &mut Averager,
    per_source: &mut Vec<(String, Vec<f64>)>,
) -> Result<Vec<f64>> {
    let (total, each) = score_weighted(sources, prompts, texts)?;
    for ((src, _), s) in sources.iter().zip(each) {
        avg.add(&format!("{prefix}/{}/mean", src.name()), mean(&s), 1.0);
        per_source.push((format!("{prefix}/{}", src.name()), s));
    }
    Ok(total)
}

/// The sampling seed of a step: a function of (run seed, step) only.
pub fn step_seed(seed: u64, step: u64) -> u64 {
    seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// The rollouts' rows as a batch of exactly the sampled tokens (no EOS appended, no
/// truncation), and the `[n, t]` mask of the per-token log-prob layout (position `i`
/// scores token `i + 1`).
pub fn rollout_batch(
    rows: &[&Rollout],
    batch: &BatchConfig,
    dev: &candle_core::Device,
    dtype: DType,
) -> Result<(SeqBatch, Tensor)> {
    let seqs: Vec<SeqIds> = rows.iter().map(|r| r.seq.clone()).collect();
    let bc = BatchConfig {
        eos_id: None,
        max_length: None,
        max_prompt_length: None,
        ..batch.clone()
    };
    let b = SeqBatch::new(&seqs, &bc, dev)?;
    let m = b.completion_mask.to_dtype(dtype)?;
    let (n, t) = m.dims2()?;
    let mask = if t < 2 {
        Tensor::zeros((n, t), dtype, dev)?
    } else {
        Tensor::cat(
            &[&m.narrow(1, 1, t - 1)?, &Tensor::zeros((n, 1), dtype, dev)?],
            1,
        )?
    };
    Ok((b, mask))
}

/// The per-token log-probs of each rollout's completion under `model` (detached, f64),
/// computed in batches of `micro` rows.
pub fn completion_logps(
    model: &prefer_nn::model::CausalLm,
    rollouts: &[&Rollout],
    batch: &BatchConfig,
    micro: usize,
) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::with_capacity(rollouts.len());
    for chunk in rollouts.chunks(micro.max(1)) {
        let (b, _) = rollout_batch(chunk, batch, model.device(), DType::F64)?;
        let lp = prefer_nn::logprobs::sequence_logps(model, &b)?;
        out.extend(completion_entries(&lp.per_token, &b, chunk)?);
    }
    Ok(out)
}

/// Each row's completion-token entries of a `[n, t]` per-token tensor over `batch` (made
/// by [`rollout_batch`] from `rows`): position `p` scores token `p + 1`, so completion
/// token `k` of row `i` is at `prompt_len(i) − 1 + k`. Detached, f64.
pub fn completion_entries(
    per_token: &Tensor,
    batch: &SeqBatch,
    rows: &[&Rollout],
) -> Result<Vec<Vec<f64>>> {
    let all = per_token.detach().to_dtype(DType::F64)?.to_vec2::<f64>()?;
    Ok(all
        .iter()
        .zip(rows)
        .enumerate()
        .map(|(i, (row, r))| {
            let start = batch.prompt_len(i).saturating_sub(1);
            row[start..start + r.seq.completion.len()].to_vec()
        })
        .collect())
}

/// The inverse of [`completion_entries`]: one value per completion token of each row laid
/// out as the `[n, t]` per-token tensor of `batch` (zero elsewhere), in `dtype`.
pub fn token_layout(values: &[&[f64]], batch: &SeqBatch, dtype: DType) -> Result<Tensor> {
    let (n, t) = (values.len(), batch.seq_len());
    let mut out = vec![0.0; n * t];
    for (r, vals) in values.iter().enumerate() {
        let start = batch.prompt_len(r).saturating_sub(1);
        for (k, v) in vals.iter().enumerate() {
            if start + k < t {
                out[r * t + start + k] = *v;
            }
        }
    }
    Ok(Tensor::from_vec(out, (n, t), batch.input_ids.device())?.to_dtype(dtype)?)
}

/// The reference model's per-token log-probs of each rollout's completion (detached, f64);
/// `method` names the objective in the error when there is no reference.
pub fn reference_logps(
    cx: &Ctx<'_>,
    rows: &[&Rollout],
    micro: usize,
    method: &str,
) -> Result<Vec<Vec<f64>>> {
    let reference = cx.reference.live().ok_or_else(|| {
        Error::Config(format!(
            "{method} with a KL coefficient ≠ 0 needs a reference model"
        ))
    })?;
    completion_logps(reference, rows, cx.batch, micro)
}

/// The first-order KL estimate `log π(y_t) − log π_ref(y_t)` of each completion token
/// (detached); `method` names the objective in the error when there is no reference.
pub fn token_kl(
    cx: &Ctx<'_>,
    rollouts: &[Rollout],
    micro: usize,
    method: &str,
) -> Result<Vec<Vec<f64>>> {
    let rows: Vec<&Rollout> = rollouts.iter().collect();
    let r = reference_logps(cx, &rows, micro, method)?;
    let pol = completion_logps(cx.policy, &rows, cx.batch, micro)?;
    Ok(pol
        .iter()
        .zip(&r)
        .map(|(p, q)| p.iter().zip(q).map(|(a, b)| a - b).collect())
        .collect())
}

/// The current policy's forward over some of a step's rollouts.
pub struct RolloutForward {
    /// The rows (prompt + sampled completion, no EOS added).
    pub batch: SeqBatch,
    /// The policy's log-probs (differentiable).
    pub logps: prefer_nn::logprobs::SeqLogps,
    /// `[n, t]` completion mask of the per-token layout, in the log-probs' dtype.
    pub mask: Tensor,
}

/// The policy's forward over `rows` for a training micro-batch of `method` (online
/// objectives have no offline evaluation set: an error when asked to evaluate).
pub fn forward_rollouts(cx: &Ctx<'_>, rows: &[&Rollout], method: &str) -> Result<RolloutForward> {
    if !cx.training {
        return Err(Error::Config(format!(
            "{method} has no offline evaluation; leave data.eval unset"
        )));
    }
    let (batch, mask) = rollout_batch(rows, cx.batch, cx.policy.device(), cx.policy.dtype())?;
    let logps = prefer_nn::logprobs::sequence_logps(cx.policy, &batch)?;
    let mask = mask.to_dtype(logps.per_token.dtype())?;
    Ok(RolloutForward { batch, logps, mask })
}

/// Logs a surrogate's clip fractions (sum, count) under TRL's `clip_ratio/low_mean`,
/// `clip_ratio/high_mean` and `clip_ratio/region_mean`.
pub fn log_clip(avg: &mut Averager, clip: &[(f64, f64); 3]) {
    for (k, (s, n)) in ["low_mean", "high_mean", "region_mean"].iter().zip(clip) {
        avg.add(&format!("clip_ratio/{k}"), s / n.max(1.0), *n);
    }
}

/// A rollout an objective reuses over several optimizer steps ([`super::Reuse`]): the
/// sampled rollouts, named per-token and per-sequence quantities, the rollout's metrics
/// (logged again on each step that reuses it) and scalars of the objective, kept in
/// checkpoints with floats as their bits so a resume reads back exactly them.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    /// The step that sampled it.
    pub born: u64,
    /// The rollouts.
    pub rollouts: Vec<Rollout>,
    /// Per-token quantities by name, one vector per rollout.
    pub per_token: Vec<(String, Vec<Vec<f64>>)>,
    /// Per-rollout quantities by name.
    pub per_seq: Vec<(String, Vec<f64>)>,
    /// The rollout's metrics.
    pub metrics: Vec<(String, f64)>,
    /// The objective's own scalars (PPO's adapted KL coefficient).
    pub scalars: Vec<(String, f64)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KeptBits {
    born: u64,
    prompts: Vec<Vec<u32>>,
    completions: Vec<Vec<u32>>,
    rewards: Vec<u64>,
    truncated: Vec<bool>,
    per_token: Vec<(String, Vec<Vec<u64>>)>,
    per_seq: Vec<(String, Vec<u64>)>,
    metrics: Vec<(String, u64)>,
    scalars: Vec<(String, u64)>,
}

fn to_bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|f| f.to_bits()).collect()
}

fn from_bits(v: Vec<u64>) -> Vec<f64> {
    v.into_iter().map(f64::from_bits).collect()
}

fn named_bits(v: &[(String, f64)]) -> Vec<(String, u64)> {
    v.iter().map(|(k, x)| (k.clone(), x.to_bits())).collect()
}

fn named_floats(v: Vec<(String, u64)>) -> Vec<(String, f64)> {
    v.into_iter().map(|(k, x)| (k, f64::from_bits(x))).collect()
}

impl Kept {
    /// The objective scalar `name`, if kept.
    pub fn scalar(&self, name: &str) -> Option<f64> {
        self.scalars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// The per-token quantity `name` (empty when absent).
    pub fn tokens(&self, name: &str) -> &[Vec<f64>] {
        self.per_token
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The per-rollout quantity `name` (empty when absent).
    pub fn seqs(&self, name: &str) -> &[f64] {
        self.per_seq
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// Adds the rollout's metrics to `avg` for step `step` of `method`; an error when
    /// there is no rollout (a resume whose checkpoint does not hold the one reused).
    pub fn replay(&self, avg: &mut Averager, method: &str, step: u64) -> Result<()> {
        if self.rollouts.is_empty() {
            return Err(Error::Resume(format!(
                "{method}: step {step} reuses a rollout that the checkpoint does not hold"
            )));
        }
        for (k, v) in &self.metrics {
            avg.add(k, *v, 1.0);
        }
        Ok(())
    }

    /// The checkpoint form.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        let r = &self.rollouts;
        let b = KeptBits {
            born: self.born,
            prompts: r.iter().map(|r| r.seq.prompt.clone()).collect(),
            completions: r.iter().map(|r| r.seq.completion.clone()).collect(),
            rewards: r.iter().map(|r| r.reward.to_bits()).collect(),
            truncated: r.iter().map(|r| r.truncated).collect(),
            per_token: self
                .per_token
                .iter()
                .map(|(n, v)| (n.clone(), v.iter().map(|x| to_bits(x)).collect()))
                .collect(),
            per_seq: self
                .per_seq
                .iter()
                .map(|(n, v)| (n.clone(), to_bits(v)))
                .collect(),
            metrics: named_bits(&self.metrics),
            scalars: named_bits(&self.scalars),
        };
        serde_json::to_value(b).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads [`Kept::to_json`]'s form back.
    pub fn from_json(v: serde_json::Value, method: &str) -> Result<Self> {
        let b: KeptBits = serde_json::from_value(v)
            .map_err(|e| Error::Resume(format!("{method}: the kept rollout: {e}")))?;
        let n = b.prompts.len();
        if [b.completions.len(), b.rewards.len(), b.truncated.len()] != [n; 3] {
            return Err(Error::Resume(format!(
                "{method}: the kept rollout's fields disagree on its length"
            )));
        }
        let rollouts = b
            .prompts
            .into_iter()
            .zip(b.completions)
            .zip(b.rewards.into_iter().zip(b.truncated))
            .map(|((prompt, completion), (reward, truncated))| Rollout {
                seq: SeqIds { prompt, completion },
                reward: f64::from_bits(reward),
                truncated,
            })
            .collect();
        Ok(Kept {
            born: b.born,
            rollouts,
            per_token: b
                .per_token
                .into_iter()
                .map(|(n, v)| (n, v.into_iter().map(from_bits).collect()))
                .collect(),
            per_seq: b
                .per_seq
                .into_iter()
                .map(|(n, v)| (n, from_bits(v)))
                .collect(),
            metrics: named_floats(b.metrics),
            scalars: named_floats(b.scalars),
        })
    }
}
