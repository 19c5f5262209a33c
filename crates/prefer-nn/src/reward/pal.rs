//! PAL: pluralistic alignment with an ideal-point mixture (paper 14: Chen et al. 2024,
//! "PAL: Pluralistic Alignment Framework for Learning from Heterogeneous Preferences",
//! arXiv:2406.08469; the PAL-A model, "Pw" user learner, "dist" preference learner of the
//! authors' code `src/pal_rm_a/`).
//!
//! Responses are mapped to a preference space by a shared f; there are K prototype ideal
//! points p_1..p_K; user u's ideal point is a convex mixture of them,
//!
//! a_u = Σ_k softmax(w_u)_k p_k,   r_u(x, y) = −‖f(φ(x, y)) − a_u‖²
//!
//! and P_u(y_w ≻ y_l) = σ(r_u(y_w) − r_u(y_l)): a user prefers what lies closer to their
//! ideal point. Users share f and the prototypes; each has only K numbers of their own, so
//! a new user is fitted from a few pairs ([`Pal::adapt_user`], few-shot, f and prototypes
//! frozen). The authors use the (unsquared) distance; the squared one used here has the
//! same ranking per user and a smooth gradient at a_u.
//!
//! An unseen user id is an error unless [`UnknownUser::Population`] is chosen, which
//! scores with the average user's ideal point (the mean of the trained users' mixtures).
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `prototypes` | 2 | K |
//! | `pref_dim` | 16 | dim of the preference space |
//! | `features`, `hidden` | `response_and_product`, none | φ, f |
//! | `unknown_user` | `error` | — |
//! | `train` | [`TrainConfig`] defaults | joint training |
//! | `adapt` | 100 epochs, batch 16, lr 0.05 | few-shot fitting of w_u |

use std::collections::HashMap;

use candle_core::{D, DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use super::data::{
    FeatureMap, PairData, TrainConfig, TrainLog, UnknownUser, UserIndex, index_tensor,
    require_users, train_loop,
};
use super::head::Mlp;
use crate::loss::ops::log_sigmoid;
use crate::{Error, Result};

/// Configuration of [`Pal`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PalConfig {
    /// K, prototype ideal points (default 2).
    pub prototypes: usize,
    /// Width of the preference space (default 16).
    pub pref_dim: usize,
    /// φ (default `response_and_product`).
    pub features: FeatureMap,
    /// Hidden widths of f (default none: linear).
    pub hidden: Vec<usize>,
    /// What to do with a user id not seen in training (default `error`).
    pub unknown_user: UnknownUser,
    /// Joint training.
    pub train: TrainConfig,
    /// Few-shot fitting of a new user's mixture weights.
    pub adapt: TrainConfig,
}

impl Default for PalConfig {
    fn default() -> Self {
        PalConfig {
            prototypes: 2,
            pref_dim: 16,
            features: FeatureMap::default(),
            hidden: Vec::new(),
            unknown_user: UnknownUser::Error,
            train: TrainConfig::default(),
            adapt: TrainConfig {
                epochs: 100,
                batch_size: 16,
                lr: 0.05,
                weight_decay: 0.0,
                seed: 0,
            },
        }
    }
}

impl PalConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.prototypes == 0 || self.pref_dim == 0 || self.hidden.contains(&0) {
            return Err(Error::Config(
                "prototypes, pref_dim and hidden widths must be positive".into(),
            ));
        }
        self.train.validate()?;
        self.adapt.validate()
    }
}

/// A PAL ideal-point mixture reward model.
#[derive(Debug, Clone)]
pub struct Pal {
    cfg: PalConfig,
    dim: usize,
    f: Mlp,
    /// `[K, pref_dim]`
    protos: Var,
    /// `[users, K]` mixture logits.
    weights: Var,
    users: UserIndex,
}

impl Pal {
    /// Trains on pairs that all carry a `user_id`.
    pub fn fit(data: &PairData, cfg: &PalConfig) -> Result<(Self, TrainLog)> {
        cfg.validate()?;
        data.validate()?;
        let users = UserIndex::new(require_users(data, "PAL")?);
        let uidx: Vec<usize> = require_users(data, "PAL")?
            .iter()
            .map(|u| users.get(u).unwrap_or(0))
            .collect();
        let dev = Device::Cpu;
        let mut dims = vec![cfg.features.dim(data.dim())];
        dims.extend(&cfg.hidden);
        dims.push(cfg.pref_dim);
        let f = Mlp::new(&dims, 0.0, cfg.train.seed, &dev)?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.train.seed ^ 0x9a1);
        let normal = Normal::new(0.0f32, 1.0).map_err(|e| Error::Config(e.to_string()))?;
        let scale = 1.0 / (cfg.pref_dim as f32).sqrt();
        let protos: Vec<f32> = (0..cfg.prototypes * cfg.pref_dim)
            .map(|_| scale * normal.sample(&mut rng))
            .collect();
        let w: Vec<f32> = (0..users.len() * cfg.prototypes)
            .map(|_| normal.sample(&mut rng))
            .collect();
        let m = Pal {
            cfg: cfg.clone(),
            dim: data.dim(),
            f,
            protos: Var::from_tensor(&Tensor::from_vec(
                protos,
                (cfg.prototypes, cfg.pref_dim),
                &dev,
            )?)?,
            weights: Var::from_tensor(&Tensor::from_vec(w, (users.len(), cfg.prototypes), &dev)?)?,
            users,
        };
        let mut vars = m.f.vars();
        vars.push(m.protos.clone());
        vars.push(m.weights.clone());
        let log = train_loop(vars, data.len(), &cfg.train, |idx, _| {
            let t = index_tensor(idx)?;
            let u = index_tensor(&idx.iter().map(|&i| uidx[i]).collect::<Vec<_>>())?;
            let a = m.ideal_points(&m.weights.as_tensor().index_select(&u, 0)?)?;
            let z = m.logits_with(&data.select(idx)?, &a)?;
            let _ = t;
            Ok(log_sigmoid(&z)?.neg()?.mean_all()?)
        })?;
        Ok((m, log))
    }

    /// Ideal points from mixture logits `[n, K]` → `[n, pref_dim]`.
    fn ideal_points(&self, logits: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(logits, D::Minus1)?.matmul(self.protos.as_tensor())?)
    }

    /// r_u(y_w) − r_u(y_l) given each pair's ideal point `[n, pref_dim]`.
    fn logits_with(&self, data: &PairData, a: &Tensor) -> Result<Tensor> {
        let fc = self
            .f
            .forward(&self.cfg.features.apply(&data.prompt, &data.chosen)?, None)?;
        let fr = self.f.forward(
            &self.cfg.features.apply(&data.prompt, &data.rejected)?,
            None,
        )?;
        let dc = (fc - a)?.sqr()?.sum(1)?;
        let dr = (fr - a)?.sqr()?.sum(1)?;
        Ok((dr - dc)?)
    }

    /// The mixture weights softmax(w_u) of every trained user, `[users, K]`.
    pub fn user_weights(&self) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(
            self.weights.as_tensor(),
            D::Minus1,
        )?)
    }

    /// The ideal point of each pair's user (or the population's, under the fallback).
    fn pair_ideal_points(&self, users: &[String]) -> Result<Tensor> {
        let resolved = self.users.resolve(users, self.cfg.unknown_user, "PAL")?;
        let w = self.user_weights()?;
        let pop = w.mean_keepdim(0)?;
        let rows: Vec<Tensor> = resolved
            .iter()
            .map(|r| match r {
                Some(k) => w.narrow(0, *k, 1),
                None => Ok(pop.clone()),
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Tensor::cat(&rows, 0)?.matmul(self.protos.as_tensor())?)
    }

    /// r_u(y_w) − r_u(y_l) per pair, u = the pair's `user_id`.
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        let users = require_users(data, "PAL")?;
        let a = self.pair_ideal_points(users)?;
        Ok(self.logits_with(data, &a)?.to_vec1::<f32>()?)
    }

    /// Fits a new user's mixture weights from a few of their pairs (every pair's
    /// `user_id` must be `user`), f and the prototypes frozen. Replaces a known user's
    /// weights.
    pub fn adapt_user(&mut self, user: &str, data: &PairData) -> Result<TrainLog> {
        data.validate()?;
        if let Some(u) = data
            .user
            .as_ref()
            .and_then(|us| us.iter().find(|x| x.as_str() != user))
        {
            return Err(Error::Invalid(format!(
                "adapt_user(`{user}`) was given a pair of user `{u}`"
            )));
        }
        let k = self.cfg.prototypes;
        let w = Var::from_tensor(&Tensor::zeros((1, k), DType::F32, &Device::Cpu)?)?;
        let fc = self
            .f
            .forward(&self.cfg.features.apply(&data.prompt, &data.chosen)?, None)?
            .detach();
        let fr = self
            .f
            .forward(
                &self.cfg.features.apply(&data.prompt, &data.rejected)?,
                None,
            )?
            .detach();
        let protos = self.protos.as_tensor().detach();
        let log = train_loop(vec![w.clone()], data.len(), &self.cfg.adapt, |idx, _| {
            let t = index_tensor(idx)?;
            let a = candle_nn::ops::softmax(w.as_tensor(), D::Minus1)?.matmul(&protos)?;
            let dc = fc.index_select(&t, 0)?.broadcast_sub(&a)?.sqr()?.sum(1)?;
            let dr = fr.index_select(&t, 0)?.broadcast_sub(&a)?.sqr()?.sum(1)?;
            Ok(log_sigmoid(&(dr - dc)?)?.neg()?.mean_all()?)
        })?;
        let new_row = w.as_tensor().detach();
        let all = match self.users.get(user) {
            Some(i) => {
                let mut rows = Vec::new();
                for j in 0..self.users.len() {
                    rows.push(if j == i {
                        new_row.clone()
                    } else {
                        self.weights.as_tensor().narrow(0, j, 1)?
                    });
                }
                Tensor::cat(&rows, 0)?
            }
            None => {
                let mut ids = self.users.ids().to_vec();
                ids.push(user.to_string());
                self.users = UserIndex::from_ids(ids);
                Tensor::cat(&[&self.weights.as_tensor().detach(), &new_row], 0)?
            }
        };
        self.weights = Var::from_tensor(&all)?;
        Ok(log)
    }

    /// The trained users.
    pub fn users(&self) -> &UserIndex {
        &self.users
    }

    /// The configuration.
    pub fn config(&self) -> &PalConfig {
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

    /// Named tensors for saving (users are saved beside, by id).
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let mut v = self.f.tensors("f");
        v.push(("prototypes".into(), self.protos.as_tensor().detach()));
        v.push(("user_logits".into(), self.weights.as_tensor().detach()));
        v
    }

    /// Rebuilds from [`Self::tensors`] and the user ids.
    pub fn from_tensors(
        cfg: &PalConfig,
        dim: usize,
        users: Vec<String>,
        map: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        let get = |n: &str| {
            map.get(n)
                .cloned()
                .ok_or_else(|| Error::Invalid(format!("no tensor `{n}`")))
        };
        let weights = get("user_logits")?;
        if weights.dim(0)? != users.len() {
            return Err(Error::Invalid(
                "user_logits rows do not match the user list".into(),
            ));
        }
        Ok(Pal {
            cfg: cfg.clone(),
            dim,
            f: Mlp::from_tensors(map, "f", 0.0)?,
            protos: Var::from_tensor(&get("prototypes")?)?,
            weights: Var::from_tensor(&weights)?,
            users: UserIndex::from_ids(users),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::reward::data::pairwise_accuracy;
    use crate::reward::synth::{UserPairs, user_name, user_pairs};
    use crate::reward::{BradleyTerryRm, BradleyTerryRmConfig};

    /// Splits each user's pairs: the first `k` for training, the rest for testing.
    pub(crate) fn split_per_user(
        per_user: usize,
        k: usize,
        users: std::ops::Range<usize>,
    ) -> (Vec<usize>, Vec<usize>) {
        let (mut tr, mut te) = (Vec::new(), Vec::new());
        for u in users {
            for j in 0..per_user {
                let i = u * per_user + j;
                if j < k { tr.push(i) } else { te.push(i) }
            }
        }
        (tr, te)
    }

    /// Accuracy per group on the pairs `idx`.
    pub(crate) fn group_accuracy(
        logits: &[f32],
        up: &UserPairs,
        idx: &[usize],
        groups: usize,
    ) -> Vec<f64> {
        (0..groups)
            .map(|g| {
                let z: Vec<f32> = idx
                    .iter()
                    .zip(logits)
                    .filter(|(i, _)| up.group[**i] == g)
                    .map(|(_, z)| *z)
                    .collect();
                pairwise_accuracy(&z)
            })
            .collect()
    }

    /// Accuracy of the true rewards per group (the best any model can do, up to noise).
    pub(crate) fn group_bayes(up: &UserPairs, idx: &[usize], groups: usize) -> Vec<f64> {
        let z: Vec<f32> = idx.iter().map(|&i| up.true_margin[i]).collect();
        group_accuracy(&z, up, idx, groups)
    }

    #[test]
    fn minority_is_served_and_a_new_user_is_fitted_from_few_pairs() -> Result<()> {
        // 80 users, 60 pairs each; the last 30% (users 56..79) hold the minority taste.
        // Users 70..79 are unseen in training (all minority): few-shot.
        let per = 60;
        let up = user_pairs(80, per, &[0.7, 0.3], 16, 8.0, 31)?;
        let (tr, te) = split_per_user(per, 40, 0..70);
        let train = up.data.select(&tr)?;
        let test = up.data.select(&te)?;
        let tc = TrainConfig {
            epochs: 60,
            lr: 0.01,
            ..Default::default()
        };
        let (bt, _) = BradleyTerryRm::fit(
            &train,
            &BradleyTerryRmConfig {
                features: FeatureMap::Response,
                train: tc.clone(),
                ..Default::default()
            },
        )?;
        let bt_acc = group_accuracy(&bt.pair_logits(&test)?, &up, &te, 2);
        let cfg = PalConfig {
            features: FeatureMap::Response,
            train: tc,
            ..Default::default()
        };
        let (mut pal, _) = Pal::fit(&train, &cfg)?;
        let pal_acc = group_accuracy(&pal.pair_logits(&test)?, &up, &te, 2);
        assert!(
            bt_acc[1] < 0.5,
            "a single BT model fails the minority: {bt_acc:?}"
        );
        let bayes = group_bayes(&up, &te, 2);
        for g in 0..2 {
            // ~600-1500 test pairs per group: sd ≈ 0.015.
            assert!(
                pal_acc[g] > bayes[g] - 0.06,
                "PAL per group: {pal_acc:?}, truth {bayes:?} (BT {bt_acc:?})"
            );
        }

        // An unseen user: an error by default, the population explicitly, or few-shot.
        let stranger = up
            .data
            .select(&(75 * per..75 * per + 10).collect::<Vec<_>>())?;
        let err = crate::reward::data::err_text(pal.pair_logits(&stranger));
        assert!(
            err.contains(&format!("`{}`", user_name(75))) && err.contains("not seen"),
            "{err}"
        );
        pal.set_unknown_user(UnknownUser::Population);
        assert_eq!(pal.pair_logits(&stranger)?.len(), 10);
        pal.set_unknown_user(UnknownUser::Error);
        let mut few_shot = Vec::new();
        for u in 70..80 {
            let shots = up
                .data
                .select(&(u * per..u * per + 10).collect::<Vec<_>>())?;
            pal.adapt_user(&user_name(u), &shots)?;
            let rest = up
                .data
                .select(&(u * per + 10..(u + 1) * per).collect::<Vec<_>>())?;
            few_shot.extend(pal.pair_logits(&rest)?);
        }
        let fs = pairwise_accuracy(&few_shot);
        assert!(
            fs > 0.75,
            "few-shot accuracy on 10 unseen minority users: {fs}"
        );
        Ok(())
    }
}
