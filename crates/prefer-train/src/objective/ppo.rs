//! PPO for language models (Schulman et al. 2017, arXiv:1707.06347; RLHF as in Ziegler et
//! al. 2019, arXiv:1909.08593, and Ouyang et al. 2022), with a critic, as TRL's `PPOTrainer`.
//!
//! A rollout samples `num_generations` completions per prompt of
//! `num_mini_batches × run.batch_size × run.grad_accum / num_generations` prompts and
//! scores them (`s`, minus `missing_eos_penalty` without EOS). It keeps per token: the
//! policy's log-probs (the "old" ones), the reference's, the critic's values `V_t`; the
//! reward `r_t = −β kl_t` with `s` added at the last token ([`kl_penalized_rewards`],
//! `kl_estimator` k1 or k3; `whiten_rewards` optional); GAE advantages and returns
//! ([`gae`], γ, λ), the advantages whitened over the rollout ([`whiten`]).
//!
//! Then `num_ppo_epochs` passes, each over the rollout in a fresh seeded order split into
//! `num_mini_batches` optimizer steps, minimise
//!
//! `ℓ = mean_t −min(ρ_t A_t, clip(ρ_t, 1 − ε, 1 + ε) A_t) + c_v · ½ mean_t max((V − R)², (clip(V, V_old ± ε_v) − R)²)`
//!
//! with `ρ_t = π(y_t)/π_old(y_t)` (means over the micro-batch's completion tokens, as TRL's
//! `masked_mean`). The critic is a copy of the policy (or `value_model`) with a score head
//! `hidden · w` that starts at zero; the loop trains it with the policy under one AdamW and
//! one gradient-norm clip (TRL's `PolicyAndValueWrapper`). With `kl_target`, β adapts after
//! each rollout ([`adapt_kl_coef`], Ziegler et al.). The rollout and β are kept in
//! checkpoints, so a run killed inside a rollout's epochs resumes bit-identically.
//!
//! Defaults (TRL `PPOConfig`): `num_ppo_epochs = 4`, `num_mini_batches = 1`,
//! `kl_coef = 0.05`, `kl_estimator = "k1"`, `cliprange = 0.2`, `vf_coef = 0.1`,
//! `cliprange_value = 0.2`, `gamma = 1.0`, `lam = 0.95`, `whiten_rewards = false`,
//! `max_completion_length` (TRL's `response_length`) 53, `temperature = 0.7`.
//! Log-probs for the ratio and the KL are taken at temperature 1 (TRL divides the logits by
//! the sampling temperature).
//!
//! Metrics (TRL names): the rollout metrics of [`super::rollouts`], `objective/kl`,
//! `objective/entropy`, `objective/non_score_reward`, `objective/rlhf_reward`,
//! `objective/scores`, `objective/kl_coef`, `val/num_eos_tokens` (per rollout, repeated on
//! each of its steps), and per step `loss/policy_avg`, `loss/value_avg`,
//! `policy/approxkl_avg`, `policy/clipfrac_avg`, `val/clipfrac_avg`, `val/ratio`,
//! `val/var_explained`.

use candle_core::{DType, Tensor, Var};
use prefer_nn::logprobs::SeqBatch;
use prefer_nn::loss::{
    Gae, TokenLogps, adapt_kl_coef, clipped_surrogate, explained_variance, gae,
    kl_penalized_rewards, value_loss, whiten,
};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::tokenizer::Tokenizer;

use super::rollouts::{
    Kept, Rollout, RolloutForward, Sampler, completion_entries, completion_logps, forward_rollouts,
    reference_logps, rollout_batch, step_seed, token_layout,
};
use super::{Ctx, Micro, Objective, Reuse, mean, scalar, split_even};
use crate::data::epoch_order;
use crate::metrics::Averager;
use crate::online::PpoConfig;
use crate::{Error, Result};

/// The critic: a causal LM backbone and a linear score head on its final hidden states.
struct Critic {
    backbone: CausalLm,
    head: Var,
}

impl Critic {
    /// `[n, t]` values at every position (position `p` values the state before token
    /// `p + 1`, the layout of the per-token log-probs).
    fn values(&self, batch: &SeqBatch) -> Result<Tensor> {
        let h = self.backbone.hidden_rows(&batch.input_ids, batch.real())?;
        let (n, t, d) = h.dims3()?;
        let w = self.head.as_tensor().reshape((d, 1))?;
        Ok(h.reshape((n * t, d))?.matmul(&w)?.reshape((n, t))?)
    }
}

/// The PPO objective.
pub struct Ppo {
    cfg: PpoConfig,
    sampler: Sampler,
    critic: Option<Critic>,
    kl_coef: f64,
    buf: Kept,
}

impl Ppo {
    /// The objective; `tok` decodes completions for the reward sources. The critic is made
    /// from the policy in [`Objective::own_params`].
    pub fn new(cfg: PpoConfig, tok: Tokenizer) -> Result<Self> {
        cfg.validate()?;
        Ok(Ppo {
            sampler: Sampler::new(cfg.sampling(), tok, "ppo", 1)?,
            kl_coef: cfg.kl_coef,
            cfg,
            critic: None,
            buf: Kept::default(),
        })
    }

    fn critic(&self) -> Result<&Critic> {
        self.critic
            .as_ref()
            .ok_or_else(|| Error::Config("ppo: the critic was not created".into()))
    }

    /// Samples, scores and evaluates a new rollout from prompts `idx`.
    fn roll_out(&mut self, cx: &mut Ctx<'_>, idx: &[usize], micro: usize) -> Result<()> {
        let mut ra = Averager::default();
        let rollouts = self.sampler.sample(cx, idx, "ppo", &mut ra)?;
        let rows: Vec<&Rollout> = rollouts.iter().collect();
        let old = completion_logps(cx.policy, &rows, cx.batch, micro)?;
        // The policy's log-probs are the rollout's old ones anyway: the KL reuses them.
        let kl: Vec<Vec<f64>> = if self.kl_coef != 0.0 {
            let q = reference_logps(cx, &rows, micro, "ppo")?;
            old.iter()
                .zip(&q)
                .map(|(p, q)| {
                    p.iter()
                        .zip(q)
                        .map(|(a, b)| self.cfg.kl_estimator.estimate(*a, *b))
                        .collect()
                })
                .collect()
        } else {
            old.iter().map(|p| vec![0.0; p.len()]).collect()
        };
        let critic = self.critic()?;
        let mut values = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(micro.max(1)) {
            let (b, _) = rollout_batch(chunk, cx.batch, cx.policy.device(), cx.policy.dtype())?;
            values.extend(completion_entries(&critic.values(&b)?, &b, chunk)?);
        }
        let scores: Vec<f64> = rollouts
            .iter()
            .map(|r| match self.cfg.missing_eos_penalty {
                Some(p) if r.truncated => r.reward - p,
                _ => r.reward,
            })
            .collect();
        let mut rewards = kl_penalized_rewards(&scores, &kl, self.kl_coef);
        if self.cfg.whiten_rewards {
            whiten(&mut rewards, false);
        }
        let Gae {
            mut advantages,
            returns,
        } = gae(&rewards, &values, self.cfg.gamma, self.cfg.lam)?;
        whiten(&mut advantages, true);

        let seq_sum = |xs: &[Vec<f64>], f: &dyn Fn(f64) -> f64| {
            mean(
                &xs.iter()
                    .map(|x| x.iter().map(|v| f(*v)).sum())
                    .collect::<Vec<f64>>(),
            )
        };
        let kl_mean = seq_sum(&kl, &|v| v);
        let non_score = seq_sum(&kl, &|v| -self.kl_coef * v);
        ra.add("objective/kl", kl_mean, 1.0);
        ra.add("objective/entropy", seq_sum(&old, &|v| -v), 1.0);
        ra.add("objective/non_score_reward", non_score, 1.0);
        ra.add("objective/rlhf_reward", mean(&scores) + non_score, 1.0);
        ra.add("objective/scores", mean(&scores), 1.0);
        ra.add("objective/kl_coef", self.kl_coef, 1.0);
        let eos = rollouts.iter().filter(|r| !r.truncated).count();
        ra.add("val/num_eos_tokens", eos as f64, 1.0);
        if let Some(target) = self.cfg.kl_target {
            self.kl_coef = adapt_kl_coef(
                self.kl_coef,
                kl_mean,
                target,
                self.cfg.kl_horizon,
                rollouts.len(),
            );
        }
        self.buf = Kept {
            born: cx.step,
            rollouts,
            per_token: vec![
                (OLD.into(), old),
                (VALUES.into(), values),
                (ADVANTAGES.into(), advantages),
                (RETURNS.into(), returns),
            ],
            per_seq: Vec::new(),
            metrics: ra.means().0,
            scalars: vec![(KL_COEF.into(), self.kl_coef)],
        };
        Ok(())
    }
}

impl Objective for Ppo {
    fn method(&self) -> &'static str {
        "ppo"
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

    fn reuse(&self) -> Reuse {
        Reuse {
            mini_batches: self.cfg.num_mini_batches,
            epochs: self.cfg.num_ppo_epochs,
        }
    }

    fn own_params(&mut self, policy: &CausalLm) -> Result<Vec<(String, Var)>> {
        let backbone = match &self.cfg.value_model {
            Some(p) => {
                let opts = LoadOptions::trainable().with_dtype(policy.dtype());
                CausalLm::load(p, &opts)?
            }
            None => policy.copy_with(true)?,
        };
        let d = backbone.config().hidden_size;
        let head = Var::zeros(d, backbone.dtype(), backbone.device())?;
        let mut params: Vec<(String, Var)> = backbone
            .vars()?
            .into_iter()
            .map(|(n, v)| (format!("critic.{n}"), v))
            .collect();
        params.push(("critic.score.weight".into(), head.clone()));
        self.critic = Some(Critic { backbone, head });
        Ok(params)
    }

    fn plan(
        &mut self,
        cx: &mut Ctx<'_>,
        idx: &[usize],
        micro: usize,
        avg: &mut Averager,
    ) -> Result<Vec<Micro>> {
        let reuse = self.reuse();
        let (epoch, part) = reuse.position(cx.step);
        if (epoch, part) == (0, 0) {
            self.roll_out(cx, idx, micro)?;
        }
        self.buf.replay(avg, "ppo", cx.step)?;
        let n = self.buf.rollouts.len();
        let order = epoch_order(n, step_seed(cx.seed, self.buf.born), epoch as u64, true);
        let m = reuse.mini_batches;
        let part = &order[part * n / m..(part + 1) * n / m];
        let rows = if part.is_empty() { &order[..] } else { part };
        Ok(split_even(rows, micro))
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let b = &self.buf;
        let rows: Vec<&Rollout> = m.idx.iter().map(|&i| &b.rollouts[i]).collect();
        let RolloutForward {
            batch,
            logps: lp,
            mask,
        } = forward_rollouts(cx, &rows, "ppo")?;
        let dt = lp.per_token.dtype();
        fn pick<'v>(v: &'v [Vec<f64>], idx: &[usize]) -> Vec<&'v [f64]> {
            idx.iter().map(|&i| v[i].as_slice()).collect()
        }
        let old = token_layout(&pick(b.tokens(OLD), &m.idx), &batch, dt)?;
        let x = TokenLogps {
            logps: lp.per_token.clone(),
            old: Some(old.clone()),
            reference: None,
            advantages: token_layout(&pick(b.tokens(ADVANTAGES), &m.idx), &batch, dt)?,
            mask: mask.clone(),
        };
        let pg = clipped_surrogate(&x, &self.cfg.clip(), 1.0, self.cfg.max_completion_length)?;
        let v = self.critic()?.values(&batch)?.to_dtype(dt)?;
        let ret = token_layout(&pick(b.tokens(RETURNS), &m.idx), &batch, dt)?;
        let vl = value_loss(
            &v,
            &token_layout(&pick(b.tokens(VALUES), &m.idx), &batch, dt)?,
            &ret,
            &mask,
            self.cfg.cliprange_value,
        )?;
        let loss = ((&pg.loss + (&vl.loss * self.cfg.vf_coef)?)? * m.share)?;

        let w = m.idx.len() as f64;
        let (pl, vlv) = (scalar(&pg.loss)?, scalar(&vl.loss)?);
        avg.add("loss", pl + self.cfg.vf_coef * vlv, w);
        avg.add("loss/policy_avg", pl, w);
        avg.add("loss/value_avg", vlv, w);
        let (s, c) = pg.clip[2];
        avg.add("policy/clipfrac_avg", s / c.max(1.0), c);
        avg.add(
            "val/clipfrac_avg",
            vl.clipfrac.0 / vl.clipfrac.1.max(1.0),
            vl.clipfrac.1,
        );
        // Over the completion tokens: ½ (log ρ)², ρ, and the critic's fit to the returns.
        let mask64 = mask.to_dtype(DType::F64)?;
        let tokens = scalar(&mask64.sum_all()?)?.max(1.0);
        let d = ((lp.per_token.detach() - &old)?.to_dtype(DType::F64)? * &mask64)?;
        avg.add(
            "policy/approxkl_avg",
            0.5 * scalar(&d.sqr()?.sum_all()?)? / tokens,
            tokens,
        );
        let ratio = (d.exp()? * &mask64)?;
        avg.add("val/ratio", scalar(&ratio.sum_all()?)? / tokens, tokens);
        let vs = completion_entries(&v, &batch, &rows)?;
        let rs: Vec<f64> = pick(b.tokens(RETURNS), &m.idx).concat();
        avg.add(
            "val/var_explained",
            explained_variance(&vs.concat(), &rs),
            tokens,
        );
        Ok(loss)
    }

    fn save_state(&self) -> Result<Option<serde_json::Value>> {
        Ok(Some(self.buf.to_json()?))
    }

    fn load_state(&mut self, state: serde_json::Value) -> Result<()> {
        self.buf = Kept::from_json(state, "ppo")?;
        self.kl_coef = self.buf.scalar(KL_COEF).unwrap_or(self.cfg.kl_coef);
        Ok(())
    }
}

const OLD: &str = "old_logps";
const VALUES: &str = "values";
const ADVANTAGES: &str = "advantages";
const RETURNS: &str = "returns";
const KL_COEF: &str = "kl_coef";
