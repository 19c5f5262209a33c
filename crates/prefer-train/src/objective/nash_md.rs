//! Nash-MD at language-model scale (Munos et al. 2024, "Nash Learning from Human
//! Feedback", arXiv:2312.00886), as TRL's experimental `NashMDTrainer` computes it.
//!
//! Each step samples, for every prompt, one completion `y ~ π` from the policy and one
//! `y' ~ π_mix` from the geometric mixture `π_mix ∝ π^(1−c) π_ref^c` (token by token,
//! `softmax((1−c) z_π + c z_ref)`; `mixture_coef` c, default 0.5): the mirror-descent
//! regularised opponent of the paper. The preference `P = P(y ≻ y')` is `σ(r(y) − r(y'))`
//! from the reward sources (after `missing_eos_penalty`) or the judge's verdict (1, ½,
//! 0; a failure leaves the prompt out). The loss is TRL's REINFORCE estimate of the
//! Nash-MD step, with ½ as the control variate and the KL to the reference by REINFORCE:
//!
//! `L = mean_x [ β Σ_t sg(log π(y_t) − log π_ref(y_t)) log π(y_t) − (P − ½) Σ_t log π(y_t) ]`
//!
//! Defaults (TRL 1.16 `NashMDConfig`): `beta = 0.1`, `mixture_coef = 0.5`,
//! `max_new_tokens = 64`, `temperature = 0.9`; `run.batch_size` counts completions (two
//! per prompt). Metrics, TRL's names: `loss/score` (mean `(P − ½) Σ log π`), `loss/kl`
//! (mean `Σ_t log π − log π_ref`), `rewards/probabilities`, `rewards/chosen` and
//! `rewards/rejected` (the policy's and the mixture's mean reward), `logps/chosen` and
//! `logps/rejected` (`Σ log π` and `Σ log π_ref` of the policy's samples),
//! `rewards/margins`, `rewards/accuracies` (their difference, and how often it is > 0),
//! `objective/entropy`, `val/model_contain_eos_token`, `val/ref_contain_eos_token` (the
//! mixture's), `beta`, `mixture_coef`; with a judge the `judge/*` rates.

use candle_core::Tensor;
use prefer_nn::tokenizer::Tokenizer;

use super::rollouts::{
    Rollout, RolloutForward, Sampler, build_judge, consecutive_pairs, eos_share, forward_rollouts,
    judge_rollouts, live_reference, penalised, reference_logps, token_layout,
};
use super::{Ctx, Micro, Objective, mean, scalar, split_even, vec64};
use crate::Result;
use crate::judge::LlmJudge;
use crate::metrics::Averager;
use crate::online::NashMdConfig;

/// One prompt's policy sample, its preference over the mixture's, and its reference
/// log-probs.
struct Played {
    rollout: Rollout,
    /// `P(y ≻ y')`.
    p: f64,
    /// `log π_ref` of each completion token.
    reference: Vec<f64>,
}

/// The Nash-MD objective.
pub struct NashMd {
    cfg: NashMdConfig,
    sampler: Sampler,
    judge: Option<(LlmJudge, bool)>,
    played: Vec<Played>,
}

impl NashMd {
    /// The objective; `tok` decodes completions for the reward sources and the judge.
    pub fn new(cfg: NashMdConfig, tok: Tokenizer) -> Result<Self> {
        cfg.validate()?;
        Ok(NashMd {
            sampler: Sampler::new(cfg.sampling(), tok, "nash_md", 2)?,
            judge: build_judge(cfg.judge.as_ref())?,
            cfg,
            played: Vec::new(),
        })
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Objective for NashMd {
    fn method(&self) -> &'static str {
        "nash_md"
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
        let r = live_reference(cx, "nash_md samples from a policy–reference mixture")?;
        let c = self.cfg.mixture_coef();
        let policy = cx.policy;
        let rollouts =
            self.sampler
                .sample_against(cx, &[(policy, 1.0 - c), (r, c)], idx, "nash_md", avg)?;
        let (mine, theirs) = (
            rollouts.iter().step_by(2),
            rollouts.iter().skip(1).step_by(2),
        );
        avg.add("val/model_contain_eos_token", eos_share(mine), 1.0);
        avg.add("val/ref_contain_eos_token", eos_share(theirs), 1.0);
        let rewards = penalised(&rollouts, self.cfg.missing_eos_penalty);
        let probs: Vec<Option<f64>> = match &self.judge {
            Some(j) => judge_rollouts(
                j,
                &self.sampler,
                cx,
                &consecutive_pairs(idx, &rollouts),
                avg,
            )?
            .into_iter()
            .map(|v| v.map(|v| v.score_a()))
            .collect(),
            None => rewards
                .chunks(2)
                .map(|s| Some(sigmoid(s[0] - s[1])))
                .collect(),
        };
        if !self.cfg.reward.is_empty() {
            let (m, x): (Vec<f64>, Vec<f64>) = rewards.chunks(2).map(|s| (s[0], s[1])).unzip();
            avg.add("rewards/chosen", mean(&m), 1.0);
            avg.add("rewards/rejected", mean(&x), 1.0);
        }
        let kept: Vec<(Rollout, f64)> = rollouts
            .into_iter()
            .step_by(2)
            .zip(&probs)
            .filter_map(|(r, p)| p.map(|p| (r, p)))
            .collect();
        let ps: Vec<f64> = kept.iter().map(|k| k.1).collect();
        if !ps.is_empty() {
            avg.add("rewards/probabilities", mean(&ps), 1.0);
        }
        let rows: Vec<&Rollout> = kept.iter().map(|k| &k.0).collect();
        let refs = reference_logps(cx, &rows, micro, "nash_md")?;
        self.played = kept
            .into_iter()
            .zip(refs)
            .map(|((rollout, p), reference)| Played {
                rollout,
                p,
                reference,
            })
            .collect();
        let all: Vec<usize> = (0..self.played.len()).collect();
        Ok(split_even(&all, (micro / 2).max(1)))
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let played: Vec<&Played> = m.idx.iter().map(|&i| &self.played[i]).collect();
        let rows: Vec<&Rollout> = played.iter().map(|p| &p.rollout).collect();
        let RolloutForward {
            batch,
            logps: lp,
            mask,
        } = forward_rollouts(cx, &rows, "nash_md")?;
        let dt = lp.per_token.dtype();
        let dev = cx.policy.device().clone();
        let refs: Vec<&[f64]> = played.iter().map(|p| p.reference.as_slice()).collect();
        let ref_tok = token_layout(&refs, &batch, dt)?;
        // sg(log π − log π_ref) per token, zero off the completions.
        let log_ratio = ((lp.per_token.detach() - &ref_tok)? * &mask)?;
        let kl_loss = (&log_ratio * &lp.per_token)?.sum(1)?;
        let centred: Vec<f64> = played.iter().map(|p| p.p - 0.5).collect();
        let score = (Tensor::new(centred, &dev)?.to_dtype(dt)? * &lp.sum)?;
        let beta = self.cfg.beta();
        let loss = ((kl_loss * beta)? - &score)?.mean_all()?;
        let w = played.len() as f64;
        let kl = vec64(&log_ratio.sum(1)?)?;
        let lps = vec64(&lp.sum)?;
        let ref_sums: Vec<f64> = played.iter().map(|p| p.reference.iter().sum()).collect();
        let margins: Vec<f64> = lps.iter().zip(&ref_sums).map(|(a, b)| a - b).collect();
        let acc: Vec<f64> = margins.iter().map(|d| f64::from(*d > 0.0)).collect();
        let ent: Vec<f64> = lps.iter().map(|l| -l).collect();
        avg.add("loss", scalar(&loss)?, w);
        avg.add("loss/score", mean(&vec64(&score)?), w);
        avg.add("loss/kl", mean(&kl), w);
        avg.add("logps/chosen", mean(&lps), w);
        avg.add("logps/rejected", mean(&ref_sums), w);
        avg.add("rewards/margins", mean(&margins), w);
        avg.add("rewards/accuracies", mean(&acc), w);
        avg.add("objective/entropy", mean(&ent), w);
        avg.add("beta", beta, w);
        avg.add("mixture_coef", self.cfg.mixture_coef(), w);
        Ok((loss * m.share)?)
    }
}
