//! SPPO at language-model scale (Wu et al. 2024, "Self-Play Preference Optimization for
//! Language Model Alignment", arXiv:2405.00675).
//!
//! Each step samples K completions `y_1 … y_K` of every prompt from the current policy and
//! estimates each one's win rate against the policy from the others,
//! `P̂_i = (1/(K−1)) Σ_{j≠i} σ(r(y_i) − r(y_j))` (the reward sources as a Bradley–Terry
//! preference). The loss regresses the sequence log-ratio to the reference on the
//! centred win rate, the paper's square loss with η = 1/β:
//!
//! `L = mean_i ( Σ_t (log π(y_it) − log π_ref(y_it)) − (P̂_i − ½)/β )²`
//!
//! In the paper π_ref is the previous iteration's policy `π_t`: with
//! `[reference] mode = "live"` and `sync = { alpha = 1.0, steps = N }` the loop copies the
//! policy into the reference every N steps, one SPPO iteration per N steps; without sync
//! the reference stays the starting policy. Defaults: `num_generations = 4`,
//! `max_completion_length = 64`, `temperature = 1.0`, `beta = 0.1`. Metrics: the rollout
//! metrics of [`super::rollouts`], `rewards/probabilities` (mean P̂), `objective/kl`
//! (mean sequence log-ratio), `logps/mean`.

use candle_core::Tensor;
use prefer_nn::tokenizer::Tokenizer;

use super::rollouts::{
    Rollout, RolloutForward, Sampler, against_the_others, forward_rollouts, reference_logps,
};
use super::{Ctx, Micro, Objective, mean, scalar, split_even, vec64};
use crate::Result;
use crate::metrics::Averager;
use crate::online::SppoConfig;

/// The SPPO objective.
pub struct Sppo {
    cfg: SppoConfig,
    sampler: Sampler,
    /// This step's rollouts, each with its win rate and `Σ_t log π_ref`.
    rollouts: Vec<(Rollout, f64, f64)>,
}

impl Sppo {
    /// The objective; `tok` decodes completions for the reward sources.
    pub fn new(cfg: SppoConfig, tok: Tokenizer) -> Result<Self> {
        cfg.validate()?;
        Ok(Sppo {
            sampler: Sampler::new(cfg.sampling(), tok, "sppo", 2)?,
            cfg,
            rollouts: Vec::new(),
        })
    }
}

/// Each completion's mean `σ(r_i − r_j)` over the other completions of its group of `k`.
pub fn win_rates(rewards: &[f64], k: usize) -> Vec<f64> {
    against_the_others(rewards, k, |ri, rj| 1.0 / (1.0 + (rj - ri).exp()))
}

impl Objective for Sppo {
    fn method(&self) -> &'static str {
        "sppo"
    }

    fn needs_reference(&self) -> bool {
        true
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
        let rollouts = self.sampler.sample(cx, idx, "sppo", avg)?;
        let rewards: Vec<f64> = rollouts.iter().map(|r| r.reward).collect();
        let p = win_rates(&rewards, self.cfg.num_generations);
        avg.add("rewards/probabilities", mean(&p), 1.0);
        let rows: Vec<&Rollout> = rollouts.iter().collect();
        let refs: Vec<f64> = reference_logps(cx, &rows, micro, "sppo")?
            .iter()
            .map(|v| v.iter().sum())
            .collect();
        self.rollouts = rollouts
            .into_iter()
            .zip(p)
            .zip(refs)
            .map(|((r, p), q)| (r, p, q))
            .collect();
        let all: Vec<usize> = (0..self.rollouts.len()).collect();
        Ok(split_even(&all, micro))
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let rows: Vec<&Rollout> = m.idx.iter().map(|&i| &self.rollouts[i].0).collect();
        let RolloutForward { logps: lp, .. } = forward_rollouts(cx, &rows, "sppo")?;
        let dev = cx.policy.device().clone();
        let dt = lp.sum.dtype();
        let col = |f: &dyn Fn(&(Rollout, f64, f64)) -> f64| -> Result<Tensor> {
            let v: Vec<f64> = m.idx.iter().map(|&i| f(&self.rollouts[i])).collect();
            Ok(Tensor::new(v, &dev)?.to_dtype(dt)?)
        };
        let target = col(&|r| (r.1 - 0.5) / self.cfg.beta)?;
        let reference = col(&|r| r.2)?;
        let ratio = (&lp.sum - &reference)?;
        let loss = (&ratio - &target)?.sqr()?.mean_all()?;
        let b = m.idx.len() as f64;
        avg.add("loss", scalar(&loss)?, b);
        avg.add("objective/kl", mean(&vec64(&ratio)?), b);
        avg.add("logps/mean", mean(&vec64(&lp.sum)?), b);
        Ok((loss * m.share)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_rates_are_the_mean_preference_over_the_others() {
        let p = win_rates(&[0.0, 1.0, 1.0, 3.0], 2);
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let want = [s(-1.0), s(1.0), s(-2.0), s(2.0)];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-15);
        }
        let p = win_rates(&[0.0, 1.0, 2.0], 3);
        assert!((p[1] - 0.5 * (s(1.0) + s(-1.0))).abs() < 1e-15);
        assert!(
            (p.iter().sum::<f64>() - 1.5).abs() < 1e-12,
            "win rates of a group sum to K/2"
        );
    }
}
