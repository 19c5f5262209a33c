//! Offline preference optimization on pairs with any loss of the DPO family, or a
//! weighted mixture of them ([`prefer_nn::loss::Mixture`]).
//!
//! For the default `sigmoid` loss (Rafailov et al. 2023, DPO):
//! `L = −log σ(β [(log π(y_w|x) − log π_ref(y_w|x)) − (log π(y_l|x) − log π_ref(y_l|x))])`,
//! β = 0.1. Every other loss (IPO, SimPO, hinge, robust, cDPO, APO, NCA, SPPO, AOT, BCO
//! pairs, …) reads the same [`PairLogps`]: sequence log-probs of both sides, their token
//! counts, the chosen side's token-mean NLL, the reference values when the loss needs
//! them, and the pair's soft label (`strength`) when the data has one. Metrics are TRL's
//! `DPOTrainer` names: `rewards/chosen`, `rewards/rejected`, `rewards/accuracies`,
//! `rewards/margins`, `logps/chosen`, `logps/rejected`, `logits/chosen`,
//! `logits/rejected`.

use candle_core::Tensor;
use prefer_nn::logprobs::{BatchConfig, PairBatch, pair_logps};
use prefer_nn::loss::{LossOutput, Mixture, PairLogps};
use prefer_nn::model::CausalLm;

use super::{Ctx, Micro, Objective, mean, scalar, vec64, wrong_examples};
use crate::Result;
use crate::data::{Examples, PairExample};
use crate::metrics::Averager;

/// The pair objective.
#[derive(Debug, Clone)]
pub struct Dpo {
    mix: Mixture,
}

impl Dpo {
    /// The objective of a loss mixture (a single loss is a mixture of one).
    pub fn new(mix: Mixture) -> Self {
        Dpo { mix }
    }
}

fn pairs(ex: &Examples) -> Result<&[PairExample]> {
    ex.as_pairs().ok_or_else(|| wrong_examples("dpo"))
}

/// TRL's pair metrics of a loss output, weighted by `w` pairs: `rewards/chosen`,
/// `rewards/rejected`, `rewards/accuracies` (chosen reward above rejected),
/// `rewards/margins`, and `logps/chosen`, `logps/rejected` of the sequence log-probs
/// `chosen` and `rejected`, which it returns (detached, f64).
pub(super) fn log_pair_rewards(
    avg: &mut Averager,
    out: &LossOutput,
    chosen: &Tensor,
    rejected: &Tensor,
    w: f64,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let cr = vec64(&out.chosen_rewards)?;
    let rr = vec64(&out.rejected_rewards)?;
    let accs: Vec<f64> = cr.iter().zip(&rr).map(|(c, r)| f64::from(c > r)).collect();
    let margins: Vec<f64> = cr.iter().zip(&rr).map(|(c, r)| c - r).collect();
    avg.add("rewards/chosen", mean(&cr), w);
    avg.add("rewards/rejected", mean(&rr), w);
    avg.add("rewards/accuracies", mean(&accs), w);
    avg.add("rewards/margins", mean(&margins), w);
    let (lc, lr) = (vec64(chosen)?, vec64(rejected)?);
    avg.add("logps/chosen", mean(&lc), w);
    avg.add("logps/rejected", mean(&lr), w);
    Ok((lc, lr))
}

impl Objective for Dpo {
    fn method(&self) -> &'static str {
        "dpo"
    }

    fn accepts(&self, examples: &Examples) -> bool {
        examples.as_pairs().is_some()
    }

    fn needs_reference(&self) -> bool {
        self.mix.terms.iter().any(|(l, _)| l.needs_reference())
    }

    fn reference_values(
        &self,
        model: &CausalLm,
        examples: &Examples,
        batch: &BatchConfig,
        bs: usize,
    ) -> Result<Vec<[f64; 2]>> {
        let mut out = Vec::with_capacity(examples.len());
        for chunk in pairs(examples)?.chunks(bs.max(1)) {
            let ids: Vec<_> = chunk.iter().map(|p| p.ids.clone()).collect();
            let o = pair_logps(model, &PairBatch::new(&ids, batch, model.device())?)?;
            let (c, r) = (vec64(&o.chosen)?, vec64(&o.rejected)?);
            out.extend(c.into_iter().zip(r).map(|(a, b)| [a, b]));
        }
        Ok(out)
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let v = pairs(cx.examples)?;
        let dev = cx.policy.device().clone();
        let dt = cx.policy.dtype();
        let b = m.idx.len() as f64;
        let ids: Vec<_> = m.idx.iter().map(|&i| v[i].ids.clone()).collect();
        let strengths: Vec<Option<f64>> = m.idx.iter().map(|&i| v[i].strength).collect();
        let batch = PairBatch::new(&ids, cx.batch, &dev)?;
        let out = pair_logps(cx.policy, &batch)?;
        let reference = match cx.reference.live() {
            Some(r) => {
                let o = pair_logps(r, &batch)?;
                Some((o.chosen.detach(), o.rejected.detach()))
            }
            None => cx.reference.cached(cx.split, &m.idx, dt)?,
        };
        let mut x = PairLogps::new(
            out.chosen.clone(),
            out.rejected.clone(),
            out.chosen_len.clone(),
            out.rejected_len.clone(),
        )
        .with_chosen_nll(PairLogps::batch_token_mean_nll(
            &out.chosen.neg()?,
            &out.chosen_len,
        )?);
        if let Some((rc, rr)) = reference {
            x = x.with_reference(rc, rr);
        }
        if strengths.iter().any(Option::is_some) {
            let s: Vec<f64> = strengths.iter().map(|s| s.unwrap_or(1.0)).collect();
            x = x.with_soft_label(Tensor::new(s, &dev)?.to_dtype(dt)?);
        }
        let lo = self.mix.forward(&x)?;
        let loss = lo.loss.mean_all()?;
        avg.add("loss", scalar(&loss)?, b);
        log_pair_rewards(avg, &lo, &out.chosen, &out.rejected, b)?;
        let ct = scalar(&out.chosen_len.sum_all()?)?;
        let rt = scalar(&out.rejected_len.sum_all()?)?;
        avg.add("logits/chosen", out.logits_mean_chosen, ct);
        avg.add("logits/rejected", out.logits_mean_rejected, rt);
        Ok((loss * m.share)?)
    }
}
