//! MaxMin-RLHF's reward mixture (paper 41: Chakraborty et al. 2024, "MaxMin-RLHF: Towards
//! Equitable Alignment of Large Language Models with Diverse Human Preferences",
//! arXiv:2402.08925, §4, Algorithm 1): users come from K sub-populations, each with its own
//! Bradley–Terry reward r_k; hard EM learns them without knowing who belongs where.
//!
//! - E-step: each user u joins the cluster under which their pairs are most likely,
//!   k(u) = argmax_k Σ_{i ∈ u} log σ(r_k(x_i, y_w,i) − r_k(x_i, y_l,i));
//! - M-step: each r_k is trained on the pairs of its users (warm start).
//!
//! The policy step of the paper then maximizes the worst group's reward,
//! max_π min_k E_π[r_k]; [`MaxMin::min_reward`] gives min_k r_k(x, y) for that.
//!
//! Initialization (ours; the paper does not fix one): one BT model on all data, then the
//! users it fits worst are split off, K−1 times, so a minority that a single model ignores
//! starts in its own cluster. An unknown user is an error unless
//! [`UnknownUser::Population`], which scores with the cluster-size-weighted mean reward.
//!
//! | field | default | symbol |
//! |---|---|---|
//! | `clusters` | 2 | K |
//! | `iterations` | 5 | EM rounds |
//! | `member` | [`BradleyTerryRmConfig`] defaults (epochs per M-step) | r_k |
//! | `unknown_user` | `error` | — |

use std::collections::HashMap;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::bradley_terry::{BradleyTerryRm, BradleyTerryRmConfig};
use super::data::{PairData, TrainLog, UnknownUser, UserIndex, require_users};
use crate::{Error, Result};

/// Configuration of [`MaxMin`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxMinConfig {
    /// K, sub-populations (default 2).
    pub clusters: usize,
    /// EM rounds (default 5; stops early when no user moves).
    pub iterations: usize,
    /// Each cluster's reward model (its `train.epochs` run per M-step).
    pub member: BradleyTerryRmConfig,
    /// What to do with a user id not seen in training (default `error`).
    pub unknown_user: UnknownUser,
}

impl Default for MaxMinConfig {
    fn default() -> Self {
        MaxMinConfig {
            clusters: 2,
            iterations: 5,
            member: BradleyTerryRmConfig::default(),
            unknown_user: UnknownUser::Error,
        }
    }
}

impl MaxMinConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        if self.clusters == 0 || self.iterations == 0 {
            return Err(Error::Config(
                "clusters and iterations must be positive".into(),
            ));
        }
        self.member.validate()
    }
}

/// K Bradley–Terry reward models and each user's cluster.
#[derive(Debug, Clone)]
pub struct MaxMin {
    cfg: MaxMinConfig,
    models: Vec<BradleyTerryRm>,
    users: UserIndex,
    assignment: Vec<usize>,
}

/// Σ log σ(z) of each user's pairs under one model.
fn user_loglik(logits: &[f32], uidx: &[usize], n_users: usize) -> Vec<f64> {
    let mut ll = vec![0f64; n_users];
    for (&z, &u) in logits.iter().zip(uidx) {
        let z = f64::from(z);
        // log σ(z) without overflow.
        ll[u] += -((-z.abs()).exp().ln_1p()) + z.min(0.0);
    }
    ll
}

impl MaxMin {
    /// Runs hard EM on pairs that all carry a `user_id`.
    pub fn fit(data: &PairData, cfg: &MaxMinConfig) -> Result<(Self, TrainLog)> {
        cfg.validate()?;
        data.validate()?;
        let ids = require_users(data, "MaxMin")?;
        let users = UserIndex::new(ids);
        let uidx: Vec<usize> = ids.iter().map(|u| users.get(u).unwrap_or(0)).collect();
        let nu = users.len();
        let k = cfg.clusters.min(nu).max(1);
        let mut log = TrainLog::default();
        // Initialization: split off the worst-fitted users, K−1 times.
        let mut assignment = vec![0usize; nu];
        for c in 1..k {
            let idx: Vec<usize> = (0..data.len())
                .filter(|&i| assignment[uidx[i]] < c)
                .collect();
            let (m, l) = BradleyTerryRm::fit(&data.select(&idx)?, &cfg.member)?;
            log.extend(l);
            let ll = user_loglik(&m.pair_logits(data)?, &uidx, nu);
            let counts = count_pairs(&uidx, nu);
            let mut cand: Vec<usize> = (0..nu).filter(|&u| assignment[u] < c).collect();
            cand.sort_by(|&a, &b| {
                (ll[a] / counts[a] as f64).total_cmp(&(ll[b] / counts[b] as f64))
            });
            let take = cand.len() / (k - c + 1);
            for &u in &cand[..take] {
                assignment[u] = c;
            }
        }
        let mut models: Vec<BradleyTerryRm> = (0..k)
            .map(|c| {
                let mut mc = cfg.member.clone();
                mc.train.seed = cfg.member.train.seed.wrapping_add(c as u64);
                BradleyTerryRm::new(data.dim(), &mc)
            })
            .collect::<Result<_>>()?;
        for _ in 0..cfg.iterations {
            // M-step.
            for (c, m) in models.iter_mut().enumerate() {
                let idx: Vec<usize> = (0..data.len())
                    .filter(|&i| assignment[uidx[i]] == c)
                    .collect();
                if idx.is_empty() {
                    continue;
                }
                log.extend(m.train(&data.select(&idx)?)?);
            }
            // E-step.
            let lls: Vec<Vec<f64>> = models
                .iter()
                .map(|m| Ok(user_loglik(&m.pair_logits(data)?, &uidx, nu)))
                .collect::<Result<_>>()?;
            let next: Vec<usize> = (0..nu)
                .map(|u| {
                    (0..k)
                        .max_by(|&a, &b| lls[a][u].total_cmp(&lls[b][u]))
                        .unwrap_or(0)
                })
                .collect();
            let moved = next != assignment;
            assignment = next;
            if !moved {
                break;
            }
        }
        Ok((
            MaxMin {
                cfg: cfg.clone(),
                models,
                users,
                assignment,
            },
            log,
        ))
    }

    /// Each trained user's cluster, by user index ([`Self::users`]).
    pub fn assignment(&self) -> &[usize] {
        &self.assignment
    }

    /// The trained users.
    pub fn users(&self) -> &UserIndex {
        &self.users
    }

    /// The cluster reward models.
    pub fn models(&self) -> &[BradleyTerryRm] {
        &self.models
    }

    /// The configuration.
    pub fn config(&self) -> &MaxMinConfig {
        &self.cfg
    }

    /// Sets what happens with unknown users.
    pub fn set_unknown_user(&mut self, policy: UnknownUser) {
        self.cfg.unknown_user = policy;
    }

    /// r_{k(u)}(y_w) − r_{k(u)}(y_l) per pair with its user's cluster (or the size-weighted
    /// mean over clusters for an unknown user under the population fallback).
    pub fn pair_logits(&self, data: &PairData) -> Result<Vec<f32>> {
        let ids = require_users(data, "MaxMin")?;
        let resolved = self.users.resolve(ids, self.cfg.unknown_user, "MaxMin")?;
        let per: Vec<Vec<f32>> = self
            .models
            .iter()
            .map(|m| m.pair_logits(data))
            .collect::<Result<_>>()?;
        let sizes: Vec<f64> = (0..self.models.len())
            .map(|c| self.assignment.iter().filter(|&&a| a == c).count() as f64)
            .collect();
        let total: f64 = sizes.iter().sum::<f64>().max(1.0);
        Ok(resolved
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                Some(u) => per[self.assignment[*u]][i],
                None => (0..per.len())
                    .map(|c| per[c][i] as f64 * sizes[c] / total)
                    .sum::<f64>() as f32,
            })
            .collect())
    }

    /// min_k r_k(x, y): the egalitarian reward of MaxMin's policy step, `[n]`.
    pub fn min_reward(&self, prompt: &Tensor, response: &Tensor) -> Result<Tensor> {
        let rs: Vec<Tensor> = self
            .models
            .iter()
            .map(|m| {
                m.rewards(prompt, response)?
                    .unsqueeze(1)
                    .map_err(Error::from)
            })
            .collect::<Result<_>>()?;
        Ok(Tensor::cat(&rs, 1)?.min(1)?)
    }

    /// Named tensors for saving (`cluster{k}.head...`).
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.models
            .iter()
            .enumerate()
            .flat_map(|(k, m)| {
                m.tensors()
                    .into_iter()
                    .map(move |(n, t)| (format!("cluster{k}.{n}"), t))
            })
            .collect()
    }

    /// Rebuilds from [`Self::tensors`], the user ids and their clusters.
    pub fn from_tensors(
        cfg: &MaxMinConfig,
        dim: usize,
        users: Vec<String>,
        assignment: Vec<usize>,
        map: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        let mut models = Vec::new();
        for k in 0.. {
            let prefix = format!("cluster{k}.");
            let sub: HashMap<String, Tensor> = map
                .iter()
                .filter_map(|(n, t)| n.strip_prefix(&prefix).map(|s| (s.to_string(), t.clone())))
                .collect();
            if sub.is_empty() {
                break;
            }
            models.push(BradleyTerryRm::from_tensors(&cfg.member, dim, &sub)?);
        }
        if users.len() != assignment.len() || assignment.iter().any(|&a| a >= models.len()) {
            return Err(Error::Invalid(
                "MaxMin users and clusters do not match".into(),
            ));
        }
        Ok(MaxMin {
            cfg: cfg.clone(),
            models,
            users: UserIndex::from_ids(users),
            assignment,
        })
    }
}

fn count_pairs(uidx: &[usize], n: usize) -> Vec<usize> {
    let mut c = vec![0usize; n];
    for &u in uidx {
        c[u] += 1;
    }
    c.iter_mut().for_each(|x| *x = (*x).max(1));
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::data::{FeatureMap, TrainConfig};
    use crate::reward::pal::tests::{group_accuracy, group_bayes, split_per_user};
    use crate::reward::synth::user_pairs;

    #[test]
    fn em_recovers_the_groups_and_serves_the_minority() -> Result<()> {
        let per = 60;
        let up = user_pairs(60, per, &[0.75, 0.25], 16, 8.0, 41)?;
        let (tr, te) = split_per_user(per, 40, 0..60);
        let train = up.data.select(&tr)?;
        let test = up.data.select(&te)?;
        let member = BradleyTerryRmConfig {
            features: FeatureMap::Response,
            train: TrainConfig {
                epochs: 15,
                lr: 0.02,
                ..Default::default()
            },
            ..Default::default()
        };
        let (single, _) = BradleyTerryRm::fit(&train, &member)?;
        let single_acc = group_accuracy(&single.pair_logits(&test)?, &up, &te, 2);
        let (mm, _) = MaxMin::fit(
            &train,
            &MaxMinConfig {
                member,
                ..Default::default()
            },
        )?;
        // Cluster purity: users of one true group share a cluster.
        let mut agree = 0;
        for (u, id) in mm.users().ids().iter().enumerate() {
            let true_g = up.user_group[id[1..].parse::<usize>().unwrap_or(0)];
            let c0 = mm.assignment()[0];
            agree += usize::from((mm.assignment()[u] == c0) == (true_g == up.user_group[0]));
        }
        let purity = agree as f64 / mm.users().len() as f64;
        assert!(purity > 0.95, "cluster purity {purity}");
        let acc = group_accuracy(&mm.pair_logits(&test)?, &up, &te, 2);
        let bayes = group_bayes(&up, &te, 2);
        assert!(
            single_acc[1] < 0.5,
            "single BT on the minority: {single_acc:?}"
        );
        for g in 0..2 {
            assert!(
                acc[g] > bayes[g] - 0.05,
                "MaxMin {acc:?} vs truth {bayes:?}"
            );
        }
        // The egalitarian reward is the pointwise minimum.
        let mr = mm
            .min_reward(&test.prompt, &test.chosen)?
            .to_vec1::<f32>()?;
        let r0 = mm.models()[0]
            .rewards(&test.prompt, &test.chosen)?
            .to_vec1::<f32>()?;
        let r1 = mm.models()[1]
            .rewards(&test.prompt, &test.chosen)?
            .to_vec1::<f32>()?;
        for i in 0..mr.len() {
            assert_eq!(mr[i], r0[i].min(r1[i]));
        }
        Ok(())
    }
}
