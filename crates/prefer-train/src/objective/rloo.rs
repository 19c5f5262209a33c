//! RLOO, REINFORCE Leave-One-Out (Ahmadian et al. 2024, arXiv:2402.14740; Kool et al.
//! 2019), online, as TRL's `RLOOTrainer` computes it.
//!
//! Each step samples `num_generations` completions per prompt from the current policy and
//! scores them; with β ≠ 0 the reward carries the sequence KL to the reference,
//! `r_i ← r_i − β Σ_t (log π(y_it) − log π_ref(y_it))` (the first-order estimate of the
//! RLOO paper, summed over the completion). The advantage is the reward minus the mean of
//! the other completions of its prompt, `A_i = r_i − (Σ_j r_j − r_i)/(k − 1)`, optionally
//! normalised over the batch (`normalize_advantages`). The loss is sequence-level:
//! `mean_i −min(ρ_i A_i, clip(ρ_i, 1 − ε_low, 1 + ε_high) A_i)` with
//! `ρ_i = exp(Σ_t log π − Σ_t log π_old)` ([`prefer_nn::loss::sequence_surrogate`]).
//!
//! TRL 1.16 `RLOOConfig` defaults: `num_generations = 2`, `max_completion_length = 512`,
//! `temperature = 1.0`, `beta = 0.05`, `epsilon = 0.2`, `epsilon_high = epsilon`,
//! `normalize_advantages = false`. `run.batch_size` counts completions. Metrics: the
//! rollout metrics of [`super::rollouts`], `kl` (β ≠ 0: the token mean of the estimate),
//! `clip_ratio/low_mean`, `clip_ratio/high_mean`, `clip_ratio/region_mean`.

use candle_core::Tensor;
use prefer_nn::loss::{rloo_advantages, sample_std, sequence_surrogate};
use prefer_nn::tokenizer::Tokenizer;

use super::rollouts::{Rollout, RolloutForward, Sampler, forward_rollouts, log_clip, token_kl};
use super::{Ctx, Micro, Objective, scalar, split_even};
use crate::Result;
use crate::metrics::Averager;
use crate::online::RlooConfig;

/// The RLOO objective.
pub struct Rloo {
    cfg: RlooConfig,
    sampler: Sampler,
    /// This step's rollouts and their advantages.
    rollouts: Vec<(Rollout, f64)>,
}

impl Rloo {
    /// The objective; `tok` decodes completions for the reward sources.
    pub fn new(cfg: RlooConfig, tok: Tokenizer) -> Result<Self> {
        cfg.validate()?;
        Ok(Rloo {
            sampler: Sampler::new(cfg.sampling(), tok, "rloo", 2)?,
            cfg,
            rollouts: Vec::new(),
        })
    }

    /// `Σ_t (log π − log π_ref)` per rollout (detached), and the token sum and count.
    fn sequence_kl(
        &self,
        cx: &Ctx<'_>,
        rollouts: &[Rollout],
        micro: usize,
    ) -> Result<(Vec<f64>, f64, f64)> {
        let kl = token_kl(cx, rollouts, micro, "rloo")?;
        let sum: f64 = kl.iter().flatten().sum();
        let count = kl.iter().map(Vec::len).sum::<usize>() as f64;
        Ok((kl.iter().map(|k| k.iter().sum()).collect(), sum, count))
    }
}

impl Objective for Rloo {
    fn method(&self) -> &'static str {
        "rloo"
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

    fn plan(
        &mut self,
        cx: &mut Ctx<'_>,
        idx: &[usize],
        micro: usize,
        avg: &mut Averager,
    ) -> Result<Vec<Micro>> {
        let rollouts = self.sampler.sample(cx, idx, "rloo", avg)?;
        let mut rewards: Vec<f64> = rollouts.iter().map(|r| r.reward).collect();
        if self.cfg.beta != 0.0 {
            let (kl, sum, count) = self.sequence_kl(cx, &rollouts, micro)?;
            for (r, k) in rewards.iter_mut().zip(&kl) {
                *r -= self.cfg.beta * k;
            }
            avg.add("kl", sum / count.max(1.0), 1.0);
        }
        let mut adv = rloo_advantages(&rewards, self.cfg.num_generations);
        if self.cfg.normalize_advantages {
            let (m, sd) = (super::mean(&adv), sample_std(&adv));
            adv.iter_mut().for_each(|a| *a = (*a - m) / (sd + 1e-4));
        }
        self.rollouts = rollouts.into_iter().zip(adv).collect();
        let all: Vec<usize> = (0..self.rollouts.len()).collect();
        Ok(split_even(&all, micro))
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let rows: Vec<&Rollout> = m.idx.iter().map(|&i| &self.rollouts[i].0).collect();
        let RolloutForward {
            logps: lp, mask, ..
        } = forward_rollouts(cx, &rows, "rloo")?;
        let dev = cx.policy.device().clone();
        let dt = lp.per_token.dtype();
        let adv: Vec<f64> = m.idx.iter().map(|&i| self.rollouts[i].1).collect();
        let adv = Tensor::new(adv, &dev)?.to_dtype(dt)?;
        let eh = self.cfg.epsilon_high.unwrap_or(self.cfg.epsilon);
        let (loss, clip) =
            sequence_surrogate(&lp.per_token, &mask, None, &adv, self.cfg.epsilon, eh)?;
        let b = m.idx.len() as f64;
        avg.add("loss", scalar(&loss)?, b);
        log_clip(avg, &clip);
        Ok((loss * m.share)?)
    }
}
