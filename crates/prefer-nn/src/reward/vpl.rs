//! Variational preference learning (VPL, paper 50: Poddar et al. 2024, "Personalizing
//! Reinforcement Learning from Human Feedback with Variational Preference Learning",
//! arXiv:2408.10075): a user is a latent z inferred from a few of their labelled pairs,
//! and the reward is conditioned on it.
//!
//! - encoder q(z | C_u): each context pair (y_w, y_l) of user u is embedded by an MLP on
//!   [e(y_w), e(y_l)]; the embeddings are averaged (a permutation-invariant set encoder;
//!   the authors' code adds a self-attention layer before the mean) and mapped to a mean μ
//!   and log-variance of a diagonal Gaussian;
//! - decoder r(x, y, z) = MLP([φ(x, y), z]);
//! - ELBO: E_q[−log σ(r(y_w, z) − r(y_l, z))] + β_KL · KL(q(z | C_u) ‖ N(0, I)), with
//!   z = μ + σ ε during training and z = μ at inference (as the authors' code).
//!
//! Context sets are drawn at random from the user's own training pairs at every step. A
//! trained user's latent is the posterior mean given all their training pairs; a new user
//! needs no training, only a few labelled pairs ([`Vpl::add_user`]). An unknown user is an
//! error unless [`UnknownUser::Population`], which uses the prior mean z = 0.
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `latent_dim` | 8 | dim z |
//! | `hidden` | 64 | MLP width |
//! | `context_size` | 8 | |C_u| per step |
//! | `kl_weight` | 0.01 | β_KL |
//! | `features` | `response_and_product` | φ |
//! | `unknown_user` | `error` | — |
//! | `train` | [`TrainConfig`] defaults | — |

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::data::{
    FeatureMap, PairData, TrainConfig, TrainLog, UnknownUser, UserIndex, index_tensor,
    require_users, train_loop,
};
use super::head::Mlp;
use crate::loss::ops::log_sigmoid;
use crate::{Error, Result};

/// Configuration of [`Vpl`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VplConfig {
    /// Width of z (default 8).
    pub latent_dim: usize,
    /// Hidden width of encoder and decoder (default 64).
    pub hidden: usize,
    /// Context pairs per user per step (default 8).
    pub context_size: usize,
    /// β_KL (default 0.01).
    pub kl_weight: f64,
    /// φ of the decoder (default `response_and_product`).
    pub features: FeatureMap,
    /// What to do with a user id without a latent (default `error`).
    pub unknown_user: UnknownUser,
    /// Optimization.
    pub train: TrainConfig,
}

impl Default for VplConfig {
    fn default() -> Self {
        VplConfig {
            latent_dim: 8,
            hidden: 64,
            context_size: 8,
            kl_weight: 0.01,
            features: FeatureMap::default(),
            unknown_user: UnknownUser::Error,
            train: TrainConfig::default(),
        }
    }
}

impl VplConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.latent_dim == 0 || self.hidden == 0 || self.context_size == 0 {
            return Err(Error::Config(
                "latent_dim, hidden and context_size must be positive".into(),
            ));
        }
        if self.kl_weight.is_nan() || self.kl_weight < 0.0 {
            return Err(Error::Config("kl_weight must be >= 0".into()));
        }
        self.train.validate()
    }
}

/// A VPL reward model.
#[derive(Debug, Clone)]
pub struct Vpl {
    cfg: VplConfig,
    dim: usize,
    pair_enc: Mlp,
    /// `[hidden → 2·latent]`: mean and log-variance.
    head: Mlp,
    decoder: Mlp,
    users: UserIndex,
    /// `[users, latent]` posterior means.
    latents: Tensor,
}

impl Vpl {
    /// Trains on pairs that all carry a `user_id`.
    pub fn fit(data: &PairData, cfg: &VplConfig) -> Result<(Self, TrainLog)> {
        cfg.validate()?;
        data.validate()?;
        let ids = require_users(data, "VPL")?;
        let users = UserIndex::new(ids);
        let uidx: Vec<usize> = ids.iter().map(|u| users.get(u).unwrap_or(0)).collect();
        let mut by_user: Vec<Vec<usize>> = vec![Vec::new(); users.len()];
        for (i, &u) in uidx.iter().enumerate() {
            by_user[u].push(i);
        }
        let d = data.dim();
        let (h, l) = (cfg.hidden, cfg.latent_dim);
        let dev = Device::Cpu;
        let s = cfg.train.seed;
        let m = Vpl {
            cfg: cfg.clone(),
            dim: d,
            pair_enc: Mlp::new(&[2 * d, h, h], 0.0, s, &dev)?,
            head: Mlp::new(&[h, 2 * l], 0.0, s + 1, &dev)?,
            decoder: Mlp::new(&[cfg.features.dim(d) + l, h, 1], 0.0, s + 2, &dev)?,
            users: users.clone(),
            latents: Tensor::zeros((users.len(), l), DType::F32, &dev)?,
        };
        let mut vars = m.pair_enc.vars();
        vars.extend(m.head.vars());
        vars.extend(m.decoder.vars());
        let c = cfg.context_size;
        let log = train_loop(vars, data.len(), &cfg.train, |idx, rng| {
            let b = idx.len();
            // A context set per target pair, from its user's other pairs.
            let mut ctx = Vec::with_capacity(b * c);
            for &i in idx {
                let pool = &by_user[uidx[i]];
                for _ in 0..c {
                    let mut j = pool[rng.random_range(0..pool.len())];
                    if j == i && pool.len() > 1 {
                        j = pool[rng.random_range(0..pool.len())];
                    }
                    ctx.push(j);
                }
            }
            let (mu, logvar) = m.encode_idx(data, &ctx, b, c)?;
            let eps: Vec<f32> = (0..b * l)
                .map(|_| rng.sample::<f32, _>(StandardNormal))
                .collect();
            let eps = Tensor::from_vec(eps, (b, l), &Device::Cpu)?;
            let z = (&mu + (logvar.affine(0.5, 0.0)?.exp()? * eps)?)?;
            let t = index_tensor(idx)?;
            let zlog = m.logits_z(
                &data.prompt.index_select(&t, 0)?,
                &data.chosen.index_select(&t, 0)?,
                &data.rejected.index_select(&t, 0)?,
                &z,
            )?;
            let nll = log_sigmoid(&zlog)?.neg()?.mean_all()?;
            let kl = ((mu.sqr()? + logvar.exp()?)? - logvar)?
                .affine(0.5, -0.5)?
                .sum(1)?
                .mean_all()?;
            Ok((nll + (kl * m.cfg.kl_weight)?)?)
        })?;
        // Each trained user's latent: the posterior mean given all their pairs.
        let mut m = m;
        let mut rows = Vec::with_capacity(users.len());
        for pool in &by_user {
            rows.push(m.encode_idx(data, pool, 1, pool.len())?.0);
        }
        m.latents = Tensor::cat(&rows, 0)?;
        Ok((m, log))
    }

    /// μ and log-variance `[b, L]` of contexts given as `b` groups of `c` pair indices.
    fn encode_idx(
        &self,
        data: &PairData,
        ctx: &[usize],
        b: usize,
        c: usize,
    ) -> Result<(Tensor, Tensor)> {
        let t = index_tensor(ctx)?;
        let pc = data.chosen.index_select(&t, 0)?;
        let pr = data.rejected.index_select(&t, 0)?;
        let e = self.pair_enc.forward(&Tensor::cat(&[&pc, &pr], 1)?, None)?;
        let pooled = e.reshape((b, c, self.cfg.hidden))?.mean(1)?;
        let out = self.head.forward(&pooled, None)?;
        let l = self.cfg.latent_dim;
        Ok((out.narrow(1, 0, l)?, out.narrow(1, l, l)?.clamp(-8.0, 8.0)?))
    }

    fn logits_z(
        &self,
        prompt: &Tensor,
        chosen: &Tensor,
        rejected: &Tensor,
        z: &Tensor,
    ) -> Result<Tensor> {
        let r = |y: &Tensor| -> Result<Tensor> {
            let phi = self.cfg.features.apply(prompt, y)?;
            Ok(self
                .decoder
                .forward(&Tensor::cat(&[&phi, z], 1)?, None)?
                .squeeze(1)?)
        };
        Ok((r(chosen)? - r(rejected)?)?)
    }

    /// The posterior mean of z given a user's labelled pairs `[L]`.
    pub fn infer_latent(&self, context: &PairData) -> Result<Tensor> {
        if context.is_empty() {
            return Err(Error::Invalid(
                "VPL needs at least one labelled pair of the user".into(),
            ));
        }
        let idx: Vec<usize> = (0..context.len()).collect();
        Ok(self.encode_idx(context, &idx, 1, idx.len())?.0.squeeze(0)?)
    }

    /// Registers (or replaces) a user from a few labelled pairs: no training.
    pub fn add_user(&mut self, user: &str, context: &PairData) -> Result<()> {
        let z = self.infer_latent(context)?.unsqueeze(0)?;
        match self.users.get(user) {
            Some(i) => {
                let mut rows = Vec::new();
                for j in 0..self.users.len() {
                    rows.push(if j == i {
                        z.clone()
                    } else {
                        self.latents.narrow(0, j, 1)?
                    });
                }
                self.latents = Tensor::cat(&rows, 0)?;
            }
            None => {
                let mut ids = self.users.ids().to_vec();
                ids.push(user.to_string());
                self.users = UserIndex::from_ids(ids);
                self.latents = Tensor::cat(&[&self.latents, &z], 0)?;
            }
        }
        Ok(())
    }

    /// r(y_w, z_u) − r(y_l, z_u) per pair with its user's latent (z = 0 for an unknown user
    /// under the population fallback).
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        let ids = require_users(data, "VPL")?;
        let resolved = self.users.resolve(ids, self.cfg.unknown_user, "VPL")?;
        let l = self.cfg.latent_dim;
        let zero = Tensor::zeros((1, l), DType::F32, &Device::Cpu)?;
        let rows: Vec<Tensor> = resolved
            .iter()
            .map(|r| match r {
                Some(k) => self.latents.narrow(0, *k, 1),
                None => Ok(zero.clone()),
            })
            .collect::<candle_core::Result<_>>()?;
        let z = Tensor::cat(&rows, 0)?;
        Ok(self
            .logits_z(&data.prompt, &data.chosen, &data.rejected, &z)?
            .to_vec1::<f32>()?)
    }

    /// The users with a latent.
    pub fn users(&self) -> &UserIndex {
        &self.users
    }

    /// The configuration.
    pub fn config(&self) -> &VplConfig {
        &self.cfg
    }

    /// Sets what happens with unknown users.
    pub fn set_unknown_user(&mut self, policy: UnknownUser) {
        self.cfg.unknown_user = policy;
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Named tensors for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let mut v = self.pair_enc.tensors("pair_encoder");
        v.extend(self.head.tensors("posterior"));
        v.extend(self.decoder.tensors("decoder"));
        v.push(("user_latents".into(), self.latents.clone()));
        v
    }

    /// Rebuilds from [`Self::tensors`] and the user ids.
    pub fn from_tensors(
        cfg: &VplConfig,
        dim: usize,
        users: Vec<String>,
        map: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        let latents = map
            .get("user_latents")
            .cloned()
            .ok_or_else(|| Error::Invalid("no tensor `user_latents`".into()))?;
        if latents.dim(0)? != users.len() {
            return Err(Error::Invalid(
                "user_latents rows do not match the user list".into(),
            ));
        }
        Ok(Vpl {
            cfg: cfg.clone(),
            dim,
            pair_enc: Mlp::from_tensors(map, "pair_encoder", 0.0)?,
            head: Mlp::from_tensors(map, "posterior", 0.0)?,
            decoder: Mlp::from_tensors(map, "decoder", 0.0)?,
            users: UserIndex::from_ids(users),
            latents,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::pairwise_accuracy;
    use crate::reward::pal::tests::{group_accuracy, group_bayes, split_per_user};
    use crate::reward::synth::{user_name, user_pairs};

    #[test]
    fn latent_serves_both_groups_and_new_users_from_context() -> Result<()> {
        let per = 60;
        let up = user_pairs(80, per, &[0.7, 0.3], 16, 8.0, 51)?;
        let (tr, te) = split_per_user(per, 40, 0..70);
        let train = up.data.select(&tr)?;
        let test = up.data.select(&te)?;
        let cfg = VplConfig {
            features: FeatureMap::Response,
            train: TrainConfig {
                epochs: 40,
                lr: 3e-3,
                ..Default::default()
            },
            ..Default::default()
        };
        let (mut vpl, _) = Vpl::fit(&train, &cfg)?;
        let acc = group_accuracy(&vpl.pair_logits(&test)?, &up, &te, 2);
        let bayes = group_bayes(&up, &te, 2);
        for g in 0..2 {
            assert!(
                acc[g] > bayes[g] - 0.07,
                "VPL per group {acc:?} vs truth {bayes:?}"
            );
        }
        // Unseen users: an error, the prior explicitly, or 10 labelled pairs as context.
        let stranger = up
            .data
            .select(&(72 * per..72 * per + 5).collect::<Vec<_>>())?;
        assert!(crate::reward::data::err_text(vpl.pair_logits(&stranger)).contains("not seen"));
        let mut few = Vec::new();
        for u in 70..80 {
            let ctx = up
                .data
                .select(&(u * per..u * per + 10).collect::<Vec<_>>())?;
            vpl.add_user(&user_name(u), &ctx)?;
            let rest = up
                .data
                .select(&(u * per + 10..(u + 1) * per).collect::<Vec<_>>())?;
            few.extend(vpl.pair_logits(&rest)?);
        }
        let fs = pairwise_accuracy(&few);
        assert!(fs > 0.75, "10-shot accuracy on unseen minority users: {fs}");
        Ok(())
    }
}
