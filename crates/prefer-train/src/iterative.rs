//! Iterative DPO with a proxy preference model (seed 47: Dong et al. 2024, "RLHF
//! Workflow: From Reward Modeling to Online RLHF"; Xiong et al. 2024), with the
//! reference choices of SePPO (seed 57: the previous checkpoint as reference) and APO's
//! Nesterov momentum across rounds (seed 31: He et al. 2024, "Accelerated Preference
//! Optimization").
//!
//! Round `t = 1 … rounds`:
//! 1. sample `samples` (k) completions of every prompt from the current policy `π_{t−1}`
//!    (seeded by the run seed and the round, so a rerun samples the same);
//! 2. score them with the proxy (the reward sources) and pair each prompt's best with its
//!    worst (a prompt whose k scores are all equal gives no pair);
//! 3. train DPO (the run's `[objective]` loss, optimizer and schedule) from `π_{t−1}` on
//!    those pairs, with the reference `π_0` (`reference = "initial"`, the default: RLHF
//!    Workflow) or `π_{t−1}` (`"previous"`: each round a proximal step from the last
//!    checkpoint, as SePPO and APO's proximal-point view take it), giving `θ̃_t`;
//! 4. with `momentum = α > 0` (APO), extrapolate: `θ_t = θ̃_t + α (θ̃_t − θ̃_{t−1})`
//!    (`θ̃_0 = θ_0`); otherwise `θ_t = θ̃_t`.
//!
//! Each round writes `round-<t>/pairs.jsonl` (the texts, with both scores),
//! `round-<t>/` (the DPO run: metrics, checkpoints) and `round-<t>/model/` (the round's
//! policy), and appends a line to `rounds.jsonl`: the mean proxy score of the round's
//! samples (the policy being improved), of the chosen and rejected, the pairs made and
//! the prompts left without one. After the last round the final policy is sampled once
//! more and scored (`round = rounds + 1`, no training). A rerun continues after the last
//! round `rounds.jsonl` records, and a round cut short resumes its DPO run from the
//! round's newest checkpoint.

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use prefer_nn::logprobs::PairIds;
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::sample::generate;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{Encoder, Examples, PairExample, Want};
use crate::error::io_err;
use crate::reward::{RewardSpec, build_weighted, score_weighted};
use crate::rollout::best_and_worst;
use crate::trainer::{Trainer, load_tokenizer};
use crate::{Error, Result};

/// Which reference each round's DPO compares with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundReference {
    /// The starting policy `π_0` in every round (default).
    #[default]
    Initial,
    /// The round's starting policy `π_{t−1}`.
    Previous,
}

/// `[iterative]`: the rounds around the run's DPO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IterativeConfig {
    /// Rounds (default 3).
    pub rounds: usize,
    /// Completions sampled per prompt, k (default 4; ≥ 2).
    pub samples: usize,
    /// Most new tokens per completion (default 64).
    pub max_new_tokens: usize,
    /// Sampling temperature (default 1.0).
    pub temperature: f64,
    /// The reference of each round (default `initial`).
    pub reference: RoundReference,
    /// APO's momentum α (default 0: plain iterative DPO).
    pub momentum: f64,
    /// The proxy: reward sources, summed with their weights (at least one).
    pub reward: Vec<RewardSpec>,
}

impl Default for IterativeConfig {
    fn default() -> Self {
        IterativeConfig {
            rounds: 3,
            samples: 4,
            max_new_tokens: 64,
            temperature: 1.0,
            reference: RoundReference::Initial,
            momentum: 0.0,
            reward: Vec::new(),
        }
    }
}

impl IterativeConfig {
    /// Checks the ranges and that there is a proxy.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("iterative.{m}")));
        if self.rounds == 0 {
            return bad("rounds must be ≥ 1".into());
        }
        if self.samples < 2 {
            return bad(format!("samples = {} must be ≥ 2", self.samples));
        }
        if self.max_new_tokens == 0 {
            return bad("max_new_tokens must be ≥ 1".into());
        }
        if !(self.momentum.is_finite() && self.momentum >= 0.0) {
            return bad(format!("momentum = {} must be ≥ 0", self.momentum));
        }
        if self.reward.is_empty() {
            return bad("reward: at least one [[iterative.reward]] source (the proxy)".into());
        }
        for r in &self.reward {
            r.validate()?;
        }
        Ok(())
    }
}

/// What one round did (a line of `rounds.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundReport {
    /// The round (`rounds + 1`: the final policy's samples, no training).
    pub round: usize,
    /// Mean proxy score of the round's samples.
    pub score: f64,
    /// Mean proxy score of the chosen and of the rejected completions.
    pub chosen: f64,
    /// Mean proxy score of the rejected completions.
    pub rejected: f64,
    /// Pairs made.
    pub pairs: usize,
    /// Prompts whose k scores were all equal (no pair).
    pub no_pair: usize,
    /// The DPO run's last loss and reward accuracy (none for the final sampling).
    pub loss: Option<f64>,
    /// `rewards/accuracies` of the DPO run's last step.
    pub accuracy: Option<f64>,
    /// The round's policy.
    pub model: PathBuf,
}

/// One round's samples: the pairs (ids) and their texts, and the statistics.
struct Sampled {
    pairs: Vec<PairExample>,
    lines: Vec<String>,
    report: RoundReport,
}

/// Samples k completions per prompt from `model`, scores and pairs them.
fn sample_round(
    model: &CausalLm,
    prompts: &Examples,
    tok: &prefer_nn::tokenizer::Tokenizer,
    cfg: &IterativeConfig,
    seed: u64,
    round: usize,
) -> Result<Sampled> {
    let ps = prompts
        .as_prompts()
        .ok_or_else(|| Error::Config("iterative DPO samples from prompts".into()))?;
    let sources = build_weighted(&cfg.reward)?;
    let k = cfg.samples;
    let eos: Vec<u32> = tok.eos_id().into_iter().collect();
    let sc = prefer_nn::sample::SampleConfig {
        max_new_tokens: cfg.max_new_tokens,
        temperature: cfg.temperature,
        seed: crate::objective::rollouts::step_seed(seed, round as u64),
        stop_at_eos: true,
        ..Default::default()
    };
    let (mut pairs, mut lines) = (Vec::new(), Vec::new());
    let (mut all, mut chosen, mut rejected, mut no_pair) = (Vec::new(), Vec::new(), Vec::new(), 0);
    // 64 rows per batch: whole prompts' k samples, seeded per batch.
    let per = (64 / k).max(1);
    for (b, chunk) in ps.chunks(per).enumerate() {
        let ids: Vec<Vec<u32>> = chunk
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.ids.clone(), k))
            .collect();
        let batch_cfg = prefer_nn::sample::SampleConfig {
            seed: sc.seed ^ (b as u64).wrapping_mul(0x9E37_79B9),
            ..sc.clone()
        };
        let gens = generate(model, &ids, &eos, &batch_cfg)?;
        let texts: Vec<String> = gens
            .iter()
            .map(|g| tok.decode(&g.tokens, true))
            .collect::<std::result::Result<_, _>>()?;
        let prompt_texts: Vec<String> = chunk
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.text.clone(), k))
            .collect();
        let (score, _) = score_weighted(&sources, &prompt_texts, &texts)?;
        all.extend_from_slice(&score);
        for (j, p) in chunk.iter().enumerate() {
            let s = &score[j * k..(j + 1) * k];
            let Some((best, worst)) = best_and_worst(s) else {
                no_pair += 1;
                continue;
            };
            let (w, l) = (j * k + best, j * k + worst);
            chosen.push(s[best]);
            rejected.push(s[worst]);
            pairs.push(PairExample {
                ids: PairIds {
                    prompt: p.ids.clone(),
                    chosen: gens[w].tokens.clone(),
                    rejected: gens[l].tokens.clone(),
                },
                strength: None,
            });
            lines.push(
                serde_json::json!({
                    "prompt": p.text, "chosen": texts[w], "rejected": texts[l],
                    "chosen_score": s[best], "rejected_score": s[worst],
                })
                .to_string(),
            );
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(Sampled {
        report: RoundReport {
            round,
            score: mean(&all),
            chosen: mean(&chosen),
            rejected: mean(&rejected),
            pairs: pairs.len(),
            no_pair,
            loss: None,
            accuracy: None,
            model: PathBuf::new(),
        },
        pairs,
        lines,
    })
}

/// `θ ← θ + α (θ − θ_prev)` on every parameter of `policy`.
fn extrapolate(policy: &CausalLm, prev: &[(String, Tensor)], alpha: f64) -> Result<()> {
    let prev: std::collections::HashMap<&str, &Tensor> =
        prev.iter().map(|(n, t)| (n.as_str(), t)).collect();
    for (name, var) in policy.vars()? {
        let p = prev
            .get(name.as_str())
            .ok_or_else(|| Error::Config(format!("momentum: no previous value of {name}")))?;
        let cur = var.as_tensor().detach();
        var.set(&(&cur + ((&cur - *p)? * alpha)?)?)?;
    }
    Ok(())
}

/// Rewrites `rounds.jsonl` with `done` and `new` (atomically).
fn write_rounds(path: &Path, done: &[RoundReport], new: &RoundReport) -> Result<()> {
    let mut text = done
        .iter()
        .chain(std::iter::once(new))
        .map(|r| serde_json::to_string(r).map_err(|e| Error::Config(e.to_string())))
        .collect::<Result<Vec<_>>>()?
        .join("\n");
    text.push('\n');
    prefer_data::write_atomic(path, text.as_bytes())
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))
}

fn read_rounds(path: &Path) -> Result<Vec<RoundReport>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| Error::Resume(format!("{}:{}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// Runs the rounds: `base` is the DPO run (its `model.path` is `π_0`, `data.train` the
/// prompts, `run.out_dir` the folder of the rounds); `progress` sees each round's report.
pub fn run(
    base: &TrainConfig,
    it: &IterativeConfig,
    progress: &mut dyn FnMut(&RoundReport),
) -> Result<Vec<RoundReport>> {
    it.validate()?;
    if base.objective.method() != "dpo" {
        return Err(Error::Config(format!(
            "iterative DPO trains each round with method = \"dpo\", not {}",
            base.objective.method()
        )));
    }
    let out = &base.run.out_dir;
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let tok = load_tokenizer(base)?;
    let enc = Encoder::new(tok.clone(), &base.data)
        .with_prompt_limit(base.batch.max_prompt_length, base.batch.bos_id);
    let (prompts, _) = enc.load_lenient(
        &base.data.train,
        Want::Prompts,
        base.data.max_train,
        base.data.skip_invalid,
    )?;
    let log = out.join("rounds.jsonl");
    let mut done = read_rounds(&log)?;
    done.retain(|r| r.round <= it.rounds);
    let initial = base.model.path.clone();
    let dtype = base.model.dtype.candle();
    let mut current = done.last().map_or(initial.clone(), |r| r.model.clone());
    // θ̃ of the previous round (for APO): π_0 before round 1.
    let mut prev: Option<Vec<(String, Tensor)>> = None;
    if it.momentum > 0.0 {
        let from = match done.len() {
            0 => initial.clone(),
            n => out.join(format!("round-{n}")).join("dpo-final"),
        };
        prev = Some(CausalLm::load(&from, &LoadOptions::frozen().with_dtype(dtype))?.state_dict());
    }
    for round in done.len() + 1..=it.rounds + 1 {
        let model = CausalLm::load(&current, &LoadOptions::frozen().with_dtype(dtype))?;
        let mut s = sample_round(&model, &prompts, &tok, it, base.run.seed, round)?;
        drop(model);
        if round > it.rounds {
            s.report.model = current.clone();
            write_rounds(&log, &done, &s.report)?;
            progress(&s.report);
            done.push(s.report);
            break;
        }
        let dir = out.join(format!("round-{round}"));
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        prefer_data::write_atomic(&dir.join("pairs.jsonl"), s.lines.join("\n").as_bytes())?;
        if s.pairs.is_empty() {
            return Err(Error::Config(format!(
                "round {round}: every prompt's {} samples scored alike; no pairs to learn from",
                it.samples
            )));
        }
        let mut cfg = base.clone();
        cfg.model.path = current.clone();
        cfg.data.train = dir.join("pairs.jsonl");
        cfg.data.eval = None;
        cfg.run.out_dir = dir.clone();
        cfg.reference.path = match it.reference {
            RoundReference::Initial => Some(initial.clone()),
            RoundReference::Previous => None,
        };
        let policy = CausalLm::load(&current, &LoadOptions::trainable().with_dtype(dtype))?;
        let mut t = Trainer::with_model(cfg, policy, Examples::Pairs(s.pairs), None)?;
        t.resume()?;
        let summary = t.train(&mut |_| std::ops::ControlFlow::Continue(()))?;
        s.report.loss = summary.last.get("loss");
        s.report.accuracy = summary.last.get("rewards/accuracies");
        let policy = t.policy();
        let next = dir.join("model");
        if let Some(p) = prev.as_ref() {
            // Keep θ̃_t for the next round's extrapolation before moving to θ_t.
            let tilde = policy.state_dict();
            policy.save_pretrained(&dir.join("dpo-final"))?;
            extrapolate(policy, p, it.momentum)?;
            prev = Some(tilde);
        }
        let tmp = dir.join(".model.tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        policy.save_pretrained(&tmp)?;
        if next.exists() {
            std::fs::remove_dir_all(&next).map_err(io_err(&next))?;
        }
        std::fs::rename(&tmp, &next).map_err(io_err(&next))?;
        s.report.model = next.clone();
        write_rounds(&log, &done, &s.report)?;
        progress(&s.report);
        done.push(s.report);
        current = next;
    }
    Ok(done)
}
