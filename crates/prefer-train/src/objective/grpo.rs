//! GRPO, Group Relative Policy Optimization (Shao et al. 2024, arXiv:2402.03300), online:
//! each step samples `num_generations` completions per prompt from the current policy,
//! scores them with the configured reward sources, and takes the clipped policy-gradient
//! step of [`prefer_nn::loss::clipped_surrogate`] with group-relative advantages.
//!
//! `A_i = (r_i − mean_group r) / (std_group r + 1e-4)` (`scale_rewards = "group"`; `"batch"`
//! divides by the batch's std, `"none"` not at all), then per token
//! `ℓ = −min(ρ A, clip(ρ, 1 − ε_low, 1 + ε_high) A) + β k3(π, π_ref)` reduced by
//! `loss_type` (`dapo` default, `grpo`, `bnpo`, `dr_grpo`); `importance_sampling_level =
//! "sequence"` is GSPO. The variants are TRL's `GRPOTrainer` parameters with its
//! defaults: `num_generations = 8`, `max_completion_length = 512`, `temperature = 1.0`,
//! `top_p = 1.0`, `top_k = None`, `beta = 0.0`, `epsilon = 0.2`, `epsilon_high = epsilon`,
//! `mask_truncated_completions = false`, `num_iterations = 1`: one gradient step per
//! rollout, so the old policy is the current one and `ρ = 1` in value. With
//! `num_iterations = μ > 1` each rollout serves μ steps: the sampling policy's log-probs
//! are computed once and kept (with the rollout, in checkpoints too), and the clip acts
//! from the second step on.
//!
//! `run.batch_size` and `run.grad_accum` count completions, as TRL's
//! `per_device_train_batch_size` does: a step draws `batch_size × grad_accum /
//! num_generations` prompts. Sampling is seeded by (run seed, step), so a resumed run
//! samples the same completions. Metrics (TRL's names): `reward`, `reward_std`,
//! `rewards/<source>/mean`, `frac_reward_zero_std`, `completions/mean_length`,
//! `completions/clipped_ratio`, `kl` (β ≠ 0), `clip_ratio/low_mean`, `clip_ratio/high_mean`,
//! `clip_ratio/region_mean`.
//!
//! **SPO** (`spo = true`; Swamy et al. 2024, "A Minimaximalist Approach to RLHF", seed 20):
//! the reward of each completion is replaced by its share of wins against the other
//! completions of its prompt, `(1/(G−1)) Σ_{j≠i} w_ij` with `w` = 1, ½, 0 for a win, tie,
//! loss, by the reward sources or by an LLM judge of every pair of the group
//! (`[objective.judge]`, both orders by default; failed pairs are left out of the shares,
//! and the `judge/*` rates are logged). Self-play against the policy's own samples: no
//! reward model, and a preference that is intransitive is still a game SPO plays.

use candle_core::Tensor;
use prefer_nn::logprobs::sequence_logps;
use prefer_nn::loss::{ClipConfig, PgLossType, TokenLogps, clipped_surrogate, group_advantages};
use prefer_nn::tokenizer::Tokenizer;

use super::rollouts::{
    Kept, Rollout, RolloutForward, Sampler, completion_logps, forward_rollouts, log_clip,
    token_layout,
};
use super::{Ctx, Micro, Objective, Reuse, scalar};
use crate::metrics::Averager;
use crate::online::GrpoConfig;
use crate::{Error, Result};

/// The GRPO objective.
pub struct Grpo {
    cfg: GrpoConfig,
    clip: ClipConfig,
    sampler: Sampler,
    judge: Option<(crate::judge::LlmJudge, bool)>,
    /// The current rollout, its advantages and (μ > 1) the sampling policy's log-probs.
    kept: Kept,
}

impl std::fmt::Debug for Grpo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grpo").field("cfg", &self.cfg).finish()
    }
}

impl Grpo {
    /// The objective; `tok` decodes completions for the reward sources.
    pub fn new(cfg: GrpoConfig, tok: Tokenizer) -> Result<Self> {
        cfg.validate()?;
        Ok(Grpo {
            clip: cfg.clip(),
            sampler: Sampler::new(cfg.sampling(), tok, "grpo", 2)?,
            judge: super::rollouts::build_judge(cfg.judge.as_ref())?,
            cfg,
            kept: Kept::default(),
        })
    }

    /// SPO's rewards: each rollout's share of wins in its group, by the judge (every pair
    /// of the group; failures left out of the share) or by the summed rewards.
    fn win_shares(
        &self,
        cx: &Ctx<'_>,
        idx: &[usize],
        rollouts: &[Rollout],
        avg: &mut Averager,
    ) -> Result<Vec<f64>> {
        let g = self.cfg.num_generations;
        let Some(judge) = &self.judge else {
            let r: Vec<f64> = rollouts.iter().map(|r| r.reward).collect();
            return Ok(win_shares(&r, g));
        };
        let mut pairs = Vec::new();
        let mut at = Vec::new();
        for (p, &ex) in idx.iter().enumerate() {
            for a in 0..g {
                for b in a + 1..g {
                    pairs.push((ex, &rollouts[p * g + a], &rollouts[p * g + b]));
                    at.push((p * g + a, p * g + b));
                }
            }
        }
        let verdicts = super::rollouts::judge_rollouts(judge, &self.sampler, cx, &pairs, avg)?;
        let (mut won, mut played) = (vec![0.0; rollouts.len()], vec![0.0; rollouts.len()]);
        for ((a, b), v) in at.iter().zip(verdicts) {
            if let Some(v) = v {
                won[*a] += v.score_a();
                won[*b] += 1.0 - v.score_a();
                played[*a] += 1.0;
                played[*b] += 1.0;
            }
        }
        Ok(won
            .iter()
            .zip(&played)
            .map(|(w, n)| if *n > 0.0 { w / n } else { 0.5 })
            .collect())
    }
}

/// SPO's win shares from scores: each completion's mean over the other completions of its
/// group of `k` of 1 (higher score), ½ (equal) or 0.
pub fn win_shares(scores: &[f64], k: usize) -> Vec<f64> {
    super::rollouts::against_the_others(scores, k, |si, sj| match si.partial_cmp(&sj) {
        Some(std::cmp::Ordering::Greater) => 1.0,
        Some(std::cmp::Ordering::Equal) => 0.5,
        _ => 0.0,
    })
}

impl Objective for Grpo {
    fn method(&self) -> &'static str {
        "grpo"
    }

    fn needs_reference(&self) -> bool {
        self.cfg.beta != 0.0
    }

    fn online(&self) -> bool {
        true
    }

    fn units_per_example(&self) -> usize {
        self.cfg.num_generations
    }

    fn reuse(&self) -> Reuse {
        Reuse {
            mini_batches: 1,
            epochs: self.cfg.num_iterations,
        }
    }

    fn plan(
        &mut self,
        cx: &mut Ctx<'_>,
        idx: &[usize],
        micro: usize,
        avg: &mut Averager,
    ) -> Result<Vec<Micro>> {
        if self.reuse().position(cx.step) == (0, 0) {
            let mut ra = Averager::default();
            let rollouts = self.sampler.sample(cx, idx, "grpo", &mut ra)?;
            let rewards: Vec<f64> = if self.cfg.spo {
                self.win_shares(cx, idx, &rollouts, &mut ra)?
            } else {
                rollouts.iter().map(|r| r.reward).collect()
            };
            let adv = group_advantages(&rewards, self.cfg.num_generations, self.cfg.scale_rewards);
            let mut per_token = Vec::new();
            if self.cfg.num_iterations > 1 {
                let rows: Vec<&Rollout> = rollouts.iter().collect();
                per_token.push((
                    OLD.into(),
                    completion_logps(cx.policy, &rows, cx.batch, micro)?,
                ));
            }
            self.kept = Kept {
                born: cx.step,
                rollouts,
                per_token,
                per_seq: vec![(ADVANTAGES.into(), adv)],
                metrics: ra.means().0,
                scalars: Vec::new(),
            };
        }
        self.kept.replay(avg, "grpo", cx.step)?;
        let counted = |r: &Rollout| !(self.cfg.mask_truncated_completions && r.truncated);
        let tokens: usize = self
            .kept
            .rollouts
            .iter()
            .filter(|r| counted(r))
            .map(|r| r.seq.completion.len())
            .sum();
        let all: Vec<usize> = (0..self.kept.rollouts.len()).collect();
        let mut plan = super::split_even(&all, micro);
        for p in &mut plan {
            p.norm = tokens.max(1) as f64;
        }
        Ok(plan)
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let rows: Vec<&Rollout> = m.idx.iter().map(|&i| &self.kept.rollouts[i]).collect();
        let RolloutForward {
            batch,
            logps: lp,
            mask,
        } = forward_rollouts(cx, &rows, "grpo")?;
        let dev = cx.policy.device().clone();
        let dt = lp.per_token.dtype();
        let mut mask = mask;
        if self.cfg.mask_truncated_completions {
            let keep: Vec<f64> = rows.iter().map(|r| f64::from(!r.truncated)).collect();
            let keep = Tensor::new(keep, &dev)?.to_dtype(dt)?.unsqueeze(1)?;
            mask = mask.broadcast_mul(&keep)?;
        }
        let reference = match (self.cfg.beta != 0.0, cx.reference.live()) {
            (false, _) => None,
            (true, Some(r)) => Some(sequence_logps(r, &batch)?.per_token.detach()),
            (true, None) => {
                return Err(Error::Config(
                    "grpo with beta ≠ 0 needs a reference model".into(),
                ));
            }
        };
        let adv: Vec<f64> = m
            .idx
            .iter()
            .map(|&i| self.kept.seqs(ADVANTAGES)[i])
            .collect();
        let old = match self.kept.tokens(OLD) {
            [] => None,
            o => {
                let o: Vec<&[f64]> = m.idx.iter().map(|&i| o[i].as_slice()).collect();
                Some(token_layout(&o, &batch, dt)?)
            }
        };
        let x = TokenLogps {
            logps: lp.per_token.clone(),
            old,
            reference,
            advantages: Tensor::new(adv, &dev)?.to_dtype(dt)?,
            mask,
        };
        let out = clipped_surrogate(&x, &self.clip, m.norm, self.cfg.max_completion_length)?;
        let loss = match self.cfg.loss_type {
            // Already divided by the step's tokens.
            PgLossType::Dapo => out.loss,
            _ => (out.loss * m.share)?,
        };
        let b = m.idx.len() as f64;
        // Weighted by rows, the mean of loss/share over micro-batches is the step's loss.
        avg.add("loss", scalar(&loss)? / m.share.max(f64::MIN_POSITIVE), b);
        if let Some((s, n)) = out.kl {
            avg.add("kl", s / n.max(1.0), n);
        }
        log_clip(avg, &out.clip);
        Ok(loss)
    }

    fn save_state(&self) -> Result<Option<serde_json::Value>> {
        (self.cfg.num_iterations > 1)
            .then(|| self.kept.to_json())
            .transpose()
    }

    fn load_state(&mut self, state: serde_json::Value) -> Result<()> {
        self.kept = Kept::from_json(state, "grpo")?;
        Ok(())
    }
}

const OLD: &str = "old_logps";
const ADVANTAGES: &str = "advantages";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_shares_count_wins_and_half_ties_against_the_others() {
        // Group [1, 2, 2]: 0 of 2, (1 + ½)/2 twice; group [5, 0, 3]: 1, 0, ½.
        let s = win_shares(&[1.0, 2.0, 2.0, 5.0, 0.0, 3.0], 3);
        assert_eq!(s, vec![0.0, 0.75, 0.75, 1.0, 0.0, 0.5]);
        // Each group's shares sum to G/2: the game is zero-sum.
        assert_eq!(s[..3].iter().sum::<f64>(), 1.5);
    }
}
