//! REINFORCE++ (Hu 2025, arXiv:2501.03262; OpenRLHF's `--advantage_estimator reinforce`
//! and `reinforce_baseline`), online, without a critic.
//!
//! Each step samples `num_generations` completions per prompt and scores them. Every
//! completion token gets the reward `r_t = −β kl_t` with the first-order estimate
//! `kl_t = log π(y_t) − log π_ref(y_t)`, and the last token also gets the sequence reward
//! (minus its group's mean with `baseline = true`, REINFORCE++-baseline). The advantage
//! of a token is its return `G_t = Σ_{s≥t} γ^{s−t} r_s`, standardised over every token of
//! the batch (global normalisation: `(G − mean)/std`). The loss is PPO's clipped surrogate
//! per token, `−min(ρA_t, clip(ρ, 1 − ε, 1 + ε)A_t)`, averaged over the step's tokens
//! ([`prefer_nn::loss::clipped_surrogate`] with per-token advantages, `dapo` reduction).
//!
//! Defaults (OpenRLHF): `kl_coef = 0.01` (`--init_kl_coef`), `gamma = 1.0`, `epsilon = 0.2`
//! (`--eps_clip`), `num_generations = 1` (`--n_samples_per_prompt`; the baseline variant
//! needs ≥ 2), `max_completion_length = 512`, `temperature = 1.0`. Metrics: the rollout
//! metrics of [`super::rollouts`], `kl` (the token mean of the estimate), `clip_ratio/*`.

use candle_core::Tensor;
use prefer_nn::loss::{TokenLogps, clipped_surrogate, reinforce_pp_advantages};
use prefer_nn::tokenizer::Tokenizer;

use super::rollouts::{
    Rollout, RolloutForward, Sampler, forward_rollouts, log_clip, token_kl, token_layout,
};
use super::{Ctx, Micro, Objective, scalar, split_even};
use crate::Result;
use crate::metrics::Averager;
use crate::online::ReinforcePpConfig;

/// The REINFORCE++ objective.
pub struct ReinforcePp {
    cfg: ReinforcePpConfig,
    sampler: Sampler,
    /// This step's rollouts and their per-token advantages.
    rollouts: Vec<(Rollout, Vec<f64>)>,
}

impl ReinforcePp {
    /// The objective; `tok` decodes completions for the reward sources.
    pub fn new(cfg: ReinforcePpConfig, tok: Tokenizer) -> Result<Self> {
        cfg.validate()?;
        let min = if cfg.baseline { 2 } else { 1 };
        Ok(ReinforcePp {
            sampler: Sampler::new(cfg.sampling(), tok, "reinforce_pp", min)?,
            cfg,
            rollouts: Vec::new(),
        })
    }
}

impl Objective for ReinforcePp {
    fn method(&self) -> &'static str {
        "reinforce_pp"
    }

    fn needs_reference(&self) -> bool {
        self.cfg.kl_coef != 0.0
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
        let rollouts = self.sampler.sample(cx, idx, "reinforce_pp", avg)?;
        let mut rewards: Vec<f64> = rollouts.iter().map(|r| r.reward).collect();
        if self.cfg.baseline {
            let g = self.cfg.num_generations;
            for c in rewards.chunks_mut(g) {
                let m = c.iter().sum::<f64>() / c.len() as f64;
                c.iter_mut().for_each(|r| *r -= m);
            }
        }
        let kl = if self.cfg.kl_coef != 0.0 {
            let kl = token_kl(cx, &rollouts, micro, "reinforce_pp")?;
            let n = kl.iter().map(Vec::len).sum::<usize>().max(1) as f64;
            avg.add("kl", kl.iter().flatten().sum::<f64>() / n, 1.0);
            kl
        } else {
            rollouts
                .iter()
                .map(|r| vec![0.0; r.seq.completion.len()])
                .collect()
        };
        let adv = reinforce_pp_advantages(&rewards, &kl, self.cfg.kl_coef, self.cfg.gamma);
        let tokens: usize = rollouts.iter().map(|r| r.seq.completion.len()).sum();
        self.rollouts = rollouts.into_iter().zip(adv).collect();
        let all: Vec<usize> = (0..self.rollouts.len()).collect();
        let mut plan = split_even(&all, micro);
        for p in &mut plan {
            p.norm = tokens.max(1) as f64;
        }
        Ok(plan)
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let rows: Vec<&Rollout> = m.idx.iter().map(|&i| &self.rollouts[i].0).collect();
        let RolloutForward {
            batch,
            logps: lp,
            mask,
        } = forward_rollouts(cx, &rows, "reinforce_pp")?;
        let adv: Vec<&[f64]> = m
            .idx
            .iter()
            .map(|&i| self.rollouts[i].1.as_slice())
            .collect();
        let adv = token_layout(&adv, &batch, lp.per_token.dtype())?;
        let x = TokenLogps {
            logps: lp.per_token.clone(),
            old: None,
            reference: None,
            advantages: adv,
            mask,
        };
        let out = clipped_surrogate(&x, &self.cfg.clip(), m.norm, self.cfg.max_completion_length)?;
        avg.add(
            "loss",
            scalar(&out.loss)? / m.share.max(f64::MIN_POSITIVE),
            m.idx.len() as f64,
        );
        log_clip(avg, &out.clip);
        Ok(out.loss)
    }
}
