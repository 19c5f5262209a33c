//! Online DPO (Guo et al. 2024, "Direct Language Model Alignment from Online AI
//! Feedback", arXiv:2402.04792), as TRL's experimental `OnlineDPOTrainer` computes it.
//!
//! Each step samples two completions `y¹, y²` of every prompt from the current policy
//! and asks who prefers which: the reward sources (the larger summed reward is chosen,
//! the first on a tie: TRL's `first >= second`), after `missing_eos_penalty` is taken off
//! completions that ran out of tokens; or a pairwise [judge](crate::judge), in both
//! orders by default, whose ties and failures are left out of the step. With
//! `h = [log π(y_w) − log π_ref(y_w)] − [log π(y_l) − log π_ref(y_l)]` (sequence sums over
//! the completion tokens, EOS included), the loss is TRL's
//!
//! - `sigmoid` (default): `−log σ(β h)`;
//! - `ipo`: `(h − 1/(2β))²`;
//!
//! or any per-pair loss of the DPO family (`loss = { type = … }`), averaged over the
//! step's pairs. Defaults (TRL 1.16 `OnlineDPOConfig`): `beta = 0.1`,
//! `max_new_tokens = 64`, `temperature = 0.9`, `top_p = 1.0`, `top_k` off,
//! `missing_eos_penalty` none; `run.batch_size` counts completions (two per prompt).
//!
//! Metrics, TRL's names: `objective/kl` (mean over completions of `Σ_t log π − log π_ref`),
//! `objective/entropy` (`−` the mean sequence log-prob), `objective/non_score_reward`
//! (`−β` × the KL), `objective/rlhf_reward` (score + non-score reward) and
//! `objective/scores`, `objective/scores_margin` (with reward sources), `rewards/chosen`,
//! `rewards/rejected`, `rewards/margins`, `rewards/accuracies`, `logps/chosen`,
//! `logps/rejected`, `beta`, `val/contain_eos_token`; with a judge `judge/failure_rate`,
//! `judge/tie_rate`, `judge/position_consistency` and `judge/pairs_used`. Unlike TRL, the
//! KL sums leave out the padding after EOS, and the completion metrics cover the pairs
//! trained on.
//!
//! **XPO** (`method = "xpo"`; Xie et al. 2024, "Exploratory Preference Optimization",
//! arXiv:2405.21046; TRL's `XPOTrainer`): the second completion of each prompt is sampled
//! from the reference model instead, the policy's is chosen on a tie of rewards, and the
//! loss gains the exploration term `α Σ_t log π(y_ref)` of the reference's completion
//! (`alpha`, default 1e-5), which lowers the policy's likelihood of what the reference
//! would say. Metrics as TRL's: `loss/dpo`, `loss/xpo`, `objective/model_scores`,
//! `objective/ref_scores`, `objective/scores_margin` (policy − reference),
//! `val/model_contain_eos_token`, `val/ref_contain_eos_token`, `alpha`, and the ones above.

use candle_core::Tensor;
use prefer_nn::loss::{PairLogps, PairLoss};
use prefer_nn::tokenizer::Tokenizer;

use super::dpo::log_pair_rewards;
use super::rollouts::{
    Rollout, RolloutForward, Sampler, build_judge, consecutive_pairs, eos_share, forward_rollouts,
    judge_rollouts, live_reference, penalised, reference_logps,
};
use super::{Ctx, Micro, Objective, mean, scalar, split_even};
use crate::Result;
use crate::judge::{LlmJudge, Verdict};
use crate::metrics::Averager;
use crate::online::OnlineDpoConfig;

/// One pair of a step, chosen first.
struct Pair {
    chosen: Rollout,
    rejected: Rollout,
    /// `Σ_t log π_ref` of the chosen and rejected completions.
    reference: [f64; 2],
    /// The rewards of the chosen and rejected completions (with reward sources).
    scores: Option<[f64; 2]>,
    /// XPO: whether the chosen completion is the reference's sample.
    reference_chosen: bool,
}

/// The Online DPO objective.
pub struct OnlineDpo {
    cfg: OnlineDpoConfig,
    loss: PairLoss,
    sampler: Sampler,
    judge: Option<(LlmJudge, bool)>,
    /// XPO's α (`None`: Online DPO).
    xpo: Option<f64>,
    pairs: Vec<Pair>,
}

impl OnlineDpo {
    /// The objective (XPO's with `xpo`); `tok` decodes completions for the reward sources
    /// and the judge.
    pub fn new(cfg: OnlineDpoConfig, tok: Tokenizer, xpo: bool) -> Result<Self> {
        cfg.validate_as(xpo)?;
        let judge = build_judge(cfg.judge.as_ref())?;
        Ok(OnlineDpo {
            loss: cfg.pair_loss(),
            sampler: Sampler::new(cfg.sampling(), tok, "online_dpo", 2)?,
            judge,
            xpo: xpo.then(|| cfg.alpha()),
            cfg,
            pairs: Vec::new(),
        })
    }

    /// Which completion of each prompt's two is chosen: `Some(true)` the first,
    /// `Some(false)` the second, `None` left out (a judge's tie or failure).
    fn preferences(
        &self,
        cx: &Ctx<'_>,
        idx: &[usize],
        rollouts: &[Rollout],
        rewards: &[f64],
        avg: &mut Averager,
    ) -> Result<Vec<Option<bool>>> {
        let Some(judge) = &self.judge else {
            return Ok(rewards.chunks(2).map(|r| Some(r[0] >= r[1])).collect());
        };
        let pairs = consecutive_pairs(idx, rollouts);
        let verdicts = judge_rollouts(judge, &self.sampler, cx, &pairs, avg)?;
        Ok(verdicts
            .iter()
            .map(|v| match v {
                Some(Verdict::A) => Some(true),
                Some(Verdict::B) => Some(false),
                _ => None,
            })
            .collect())
    }
}

impl Objective for OnlineDpo {
    fn method(&self) -> &'static str {
        if self.xpo.is_some() {
            "xpo"
        } else {
            "online_dpo"
        }
    }

    fn needs_reference(&self) -> bool {
        true
    }

    fn online(&self) -> bool {
        true
    }

    fn units_per_example(&self) -> usize {
        2
    }

    fn plan(
        &mut self,
        cx: &mut Ctx<'_>,
        idx: &[usize],
        micro: usize,
        avg: &mut Averager,
    ) -> Result<Vec<Micro>> {
        let method = self.method();
        let rollouts = if self.xpo.is_some() {
            let r = live_reference(cx, "xpo samples from the reference")?;
            self.sampler
                .sample_against(cx, &[(r, 1.0)], idx, method, avg)?
        } else {
            self.sampler.sample(cx, idx, method, avg)?
        };
        if self.xpo.is_some() {
            let (mine, ref_) = (
                rollouts.iter().step_by(2),
                rollouts.iter().skip(1).step_by(2),
            );
            avg.add("val/model_contain_eos_token", eos_share(mine), 1.0);
            avg.add("val/ref_contain_eos_token", eos_share(ref_), 1.0);
        } else {
            avg.add("val/contain_eos_token", eos_share(rollouts.iter()), 1.0);
        }
        let rewards = penalised(&rollouts, self.cfg.missing_eos_penalty);
        let scored = !self.cfg.reward.is_empty();
        if scored && self.xpo.is_some() {
            let (m, r): (Vec<f64>, Vec<f64>) = rewards.chunks(2).map(|c| (c[0], c[1])).unzip();
            avg.add("objective/model_scores", mean(&m), 1.0);
            avg.add("objective/ref_scores", mean(&r), 1.0);
            avg.add("objective/scores_margin", mean(&m) - mean(&r), 1.0);
        } else if scored {
            avg.add("objective/scores", mean(&rewards), 1.0);
        }
        let pick = self.preferences(cx, idx, &rollouts, &rewards, avg)?;
        let mut kept: Vec<(Rollout, Rollout, [f64; 2], bool)> = Vec::new();
        for ((r, s), p) in rollouts.chunks(2).zip(rewards.chunks(2)).zip(&pick) {
            match p {
                Some(true) => kept.push((r[0].clone(), r[1].clone(), [s[0], s[1]], false)),
                Some(false) => kept.push((r[1].clone(), r[0].clone(), [s[1], s[0]], true)),
                None => {}
            }
        }
        if scored && self.xpo.is_none() && !kept.is_empty() {
            let m: Vec<f64> = kept.iter().map(|k| k.2[0] - k.2[1]).collect();
            avg.add("objective/scores_margin", mean(&m), 1.0);
        }
        let rows: Vec<&Rollout> = kept.iter().flat_map(|k| [&k.0, &k.1]).collect();
        let refs: Vec<f64> = reference_logps(cx, &rows, micro, method)?
            .iter()
            .map(|v| v.iter().sum())
            .collect();
        self.pairs = kept
            .into_iter()
            .zip(refs.chunks(2))
            .map(|((chosen, rejected, s, second), r)| Pair {
                chosen,
                rejected,
                reference: [r[0], r[1]],
                scores: scored.then_some(s),
                reference_chosen: second,
            })
            .collect();
        let all: Vec<usize> = (0..self.pairs.len()).collect();
        Ok(split_even(&all, (micro / 2).max(1)))
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let pairs: Vec<&Pair> = m.idx.iter().map(|&i| &self.pairs[i]).collect();
        let rows: Vec<&Rollout> = pairs
            .iter()
            .map(|p| &p.chosen)
            .chain(pairs.iter().map(|p| &p.rejected))
            .collect();
        let RolloutForward { logps: lp, .. } = forward_rollouts(cx, &rows, self.method())?;
        let dev = cx.policy.device().clone();
        let dt = lp.sum.dtype();
        let b = pairs.len();
        let (chosen, rejected) = (lp.sum.narrow(0, 0, b)?, lp.sum.narrow(0, b, b)?);
        let (cl, rl) = (lp.count.narrow(0, 0, b)?, lp.count.narrow(0, b, b)?);
        let side = |k: usize| -> Result<Tensor> {
            let v: Vec<f64> = pairs.iter().map(|p| p.reference[k]).collect();
            Ok(Tensor::new(v, &dev)?.to_dtype(dt)?)
        };
        let x = PairLogps::new(chosen.clone(), rejected.clone(), cl.clone(), rl)
            .with_chosen_nll(PairLogps::batch_token_mean_nll(&chosen.neg()?, &cl)?)
            .with_reference(side(0)?, side(1)?);
        let out = self.loss.forward(&x)?;
        let w = b as f64;
        let loss = match self.xpo {
            None => out.loss.mean_all()?,
            Some(alpha) => {
                // α Σ log π of the reference's completion: the chosen or the rejected one.
                let m: Vec<f64> = pairs
                    .iter()
                    .map(|p| f64::from(p.reference_chosen))
                    .collect();
                let m = Tensor::new(m, &dev)?.to_dtype(dt)?;
                let explored = ((&chosen * &m)? + (&rejected * (1.0 - &m)?)?)?;
                let xpo = (explored * alpha)?;
                avg.add("loss/dpo", scalar(&out.loss.mean_all()?)?, w);
                avg.add("loss/xpo", scalar(&xpo.mean_all()?)?, w);
                avg.add("alpha", alpha, w);
                (&out.loss + xpo)?.mean_all()?
            }
        };
        avg.add("loss", scalar(&loss)?, w);
        let (lc, lr) = log_pair_rewards(avg, &out, &chosen, &rejected, w)?;
        // Per completion: KL = Σ_t log π − log π_ref, entropy estimate −Σ_t log π.
        let beta = self.cfg.beta();
        let mut kl = Vec::with_capacity(2 * b);
        let mut rlhf = Vec::with_capacity(2 * b);
        for (k, logps) in [&lc, &lr].into_iter().enumerate() {
            for (p, l) in pairs.iter().zip(logps) {
                let d = l - p.reference[k];
                kl.push(d);
                if let Some(s) = p.scores {
                    rlhf.push(s[k] - beta * d);
                }
            }
        }
        let all: Vec<f64> = lc.iter().chain(&lr).map(|l| -l).collect();
        avg.add("objective/kl", mean(&kl), 2.0 * w);
        avg.add("objective/entropy", mean(&all), 2.0 * w);
        avg.add("objective/non_score_reward", -beta * mean(&kl), 2.0 * w);
        if !rlhf.is_empty() {
            avg.add("objective/rlhf_reward", mean(&rlhf), 2.0 * w);
        }
        avg.add("beta", beta, w);
        Ok((loss * m.share)?)
    }
}
