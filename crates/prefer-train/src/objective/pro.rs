//! Listwise PRO (Song et al. 2023, arXiv:2306.17492; seed paper 64): Plackett–Luce over
//! each ranked list of K completions on length-normalised log-probs, reference-free, plus
//! an SFT term on the best one.
//!
//! With `s_k = log π(y_k|x)/|y_k|`:
//! `ℓ = Σ_{k<K} −log [exp(s_k T_k^k) / Σ_{i≥k} exp(s_i T_k^i)] + β (K−1)² (−log π(y_1|x))`;
//! the temperatures (`reward_gap` from the record's `scores`, or `constant`) and β
//! (`sft_weight`, default 0.05) are [`prefer_nn::loss::ProConfig`]'s. A batch needs lists
//! of one length. Metrics: `scores/accuracies` (the best completion scores highest),
//! `scores/margins` (best minus second), `logps/best`.

use candle_core::{DType, Tensor};
use prefer_nn::logprobs::{SeqBatch, SeqIds, sequence_logps};
use prefer_nn::loss::{ProConfig, RankedLogps, pro};

use super::{Ctx, Micro, Objective, scalar, wrong_examples};
use crate::data::{Examples, RankedExample};
use crate::metrics::Averager;
use crate::{Error, Result};

/// The ranked-list objective.
#[derive(Debug, Clone)]
pub struct Pro {
    cfg: ProConfig,
}

impl Pro {
    /// The objective with these PRO settings.
    pub fn new(cfg: ProConfig) -> Self {
        Pro { cfg }
    }
}

fn ranked(ex: &Examples) -> Result<&[RankedExample]> {
    ex.as_ranked().ok_or_else(|| wrong_examples("pro"))
}

impl Objective for Pro {
    fn method(&self) -> &'static str {
        "pro"
    }

    fn accepts(&self, examples: &Examples) -> bool {
        examples.as_ranked().is_some()
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let v = ranked(cx.examples)?;
        let idx = &m.idx;
        let dev = cx.policy.device().clone();
        let dt = cx.policy.dtype();
        let k = v[idx[0]].responses.len();
        if let Some(&bad) = idx.iter().find(|&&i| v[i].responses.len() != k) {
            return Err(Error::Config(format!(
                "PRO batches need one list length: example {bad} has {} responses, \
                 example {} has {k} (use batch_size = 1 for mixed lengths)",
                v[bad].responses.len(),
                idx[0]
            )));
        }
        let seqs: Vec<SeqIds> = idx
            .iter()
            .flat_map(|&i| {
                v[i].responses.iter().map(move |c| SeqIds {
                    prompt: v[i].prompt.clone(),
                    completion: c.clone(),
                })
            })
            .collect();
        let batch = SeqBatch::new(&seqs, cx.batch, &dev)?;
        let lp = sequence_logps(cx.policy, &batch)?;
        let nb = idx.len();
        let rewards = if idx.iter().all(|&i| v[i].rewards.is_some()) {
            let r: Vec<f64> = idx
                .iter()
                .flat_map(|&i| v[i].rewards.clone().unwrap_or_default())
                .collect();
            Some(Tensor::from_vec(r, (nb, k), &dev)?.to_dtype(dt)?)
        } else {
            None
        };
        let x = RankedLogps {
            policy: lp.sum.reshape((nb, k))?,
            len: lp.count.reshape((nb, k))?,
            rewards,
        };
        let lo = pro(&x, &self.cfg)?;
        let loss = lo.loss.mean_all()?;
        let scores = lo.scores.detach().to_dtype(DType::F64)?.to_vec2::<f64>()?;
        let top1 = scores
            .iter()
            .map(|r| f64::from(r.iter().skip(1).all(|s| *s < r[0])))
            .sum::<f64>()
            / nb as f64;
        let margin = scores.iter().map(|r| r[0] - r[1]).sum::<f64>() / nb as f64;
        let sums = lp.sum.detach().to_dtype(DType::F64)?.to_vec1::<f64>()?;
        let best = (0..nb).map(|j| sums[j * k]).sum::<f64>() / nb as f64;
        let b = nb as f64;
        avg.add("loss", scalar(&loss)?, b);
        avg.add("scores/accuracies", top1, b);
        avg.add("scores/margins", margin, b);
        avg.add("logps/best", best, b);
        Ok((loss * m.share)?)
    }
}
