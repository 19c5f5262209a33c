//! Unpaired preference optimization: KTO (Ethayarajh et al. 2024, arXiv:2402.01306,
//! Eq. 7), APO-zero-unpaired (D'Oosterlinck et al. 2024) and BCO (Jung et al. 2024), on
//! completions labelled desirable or undesirable.
//!
//! With `ρ = log π(y|x) − log π_ref(y|x)` and the detached reference point
//! `z₀ = max(0, mean_j[log π(y'_j|x_j) − log π_ref(y'_j|x_j)])` over mismatched completions
//! `y'` (the next example's completion after this prompt, as TRL shifts them):
//! desirable `λ_D (1 − σ(β(ρ − z₀)))`, undesirable `λ_U (1 − σ(β(z₀ − ρ)))`; β = 0.1,
//! λ_D = λ_U = 1 by default ([`prefer_nn::loss::UnpairedLoss`] has each loss's
//! parameters). z₀ is estimated per micro-batch, as TRL does per device. BCO's running
//! reward moments are updated by training steps only and saved in checkpoints. Metrics:
//! `rewards/chosen`, `rewards/rejected`, `logps/chosen`, `logps/rejected`, `kl`.

use candle_core::Tensor;
use prefer_nn::logprobs::{BatchConfig, SeqBatch, SeqIds, sequence_logps};
use prefer_nn::loss::{UnpairedLogps, UnpairedLoss};
use prefer_nn::model::CausalLm;

use super::{Ctx, Micro, Objective, scalar, vec64, wrong_examples};
use crate::data::{Examples, UnpairedExample};
use crate::metrics::Averager;
use crate::{Error, Result};

/// The unpaired objective.
#[derive(Debug, Clone)]
pub struct Kto {
    loss: UnpairedLoss,
}

impl Kto {
    /// The objective with this unpaired loss.
    pub fn new(loss: UnpairedLoss) -> Self {
        Kto { loss }
    }
}

fn unpaired(ex: &Examples) -> Result<&[UnpairedExample]> {
    ex.as_unpaired().ok_or_else(|| wrong_examples("kto"))
}

/// The completions and the mismatched (KL) completions of `rows`, as two batches.
fn batches(
    rows: &[&UnpairedExample],
    cfg: &BatchConfig,
    dev: &candle_core::Device,
) -> Result<(SeqBatch, SeqBatch)> {
    let s: Vec<SeqIds> = rows.iter().map(|u| u.seq.clone()).collect();
    let k: Vec<SeqIds> = rows.iter().map(|u| u.kl_seq.clone()).collect();
    Ok((SeqBatch::new(&s, cfg, dev)?, SeqBatch::new(&k, cfg, dev)?))
}

impl Objective for Kto {
    fn method(&self) -> &'static str {
        "kto"
    }

    fn accepts(&self, examples: &Examples) -> bool {
        examples.as_unpaired().is_some()
    }

    fn needs_reference(&self) -> bool {
        true
    }

    fn reference_values(
        &self,
        model: &CausalLm,
        examples: &Examples,
        batch: &BatchConfig,
        bs: usize,
    ) -> Result<Vec<[f64; 2]>> {
        let mut out = Vec::with_capacity(examples.len());
        for chunk in unpaired(examples)?.chunks(bs.max(1)) {
            let rows: Vec<&UnpairedExample> = chunk.iter().collect();
            let (s, k) = batches(&rows, batch, model.device())?;
            let a = vec64(&sequence_logps(model, &s)?.sum)?;
            let b = vec64(&sequence_logps(model, &k)?.sum)?;
            out.extend(a.into_iter().zip(b).map(|(a, b)| [a, b]));
        }
        Ok(out)
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let v = unpaired(cx.examples)?;
        let dt = cx.policy.dtype();
        let b = m.idx.len() as f64;
        let rows: Vec<&UnpairedExample> = m.idx.iter().map(|&i| &v[i]).collect();
        let labels: Vec<bool> = rows.iter().map(|u| u.label).collect();
        let (batch, kl_batch) = batches(&rows, cx.batch, cx.policy.device())?;
        let pol = sequence_logps(cx.policy, &batch)?;
        let kl_pol = sequence_logps(cx.policy, &kl_batch)?.sum.detach();
        let (r, kl_r) = match cx.reference.live() {
            Some(model) => (
                sequence_logps(model, &batch)?.sum.detach(),
                sequence_logps(model, &kl_batch)?.sum.detach(),
            ),
            None => cx
                .reference
                .cached(cx.split, &m.idx, dt)?
                .ok_or_else(|| Error::Config("kto needs a reference".into()))?,
        };
        let x = UnpairedLogps::new(pol.sum.clone(), r, labels.clone()).with_kl(kl_pol, kl_r);
        let lo = if cx.training {
            self.loss.forward(&x, cx.running)?
        } else {
            self.loss.evaluate(&x, cx.running)?
        };
        let loss = lo.loss.mean_all()?;
        let rw = vec64(&lo.rewards)?;
        let lp = vec64(&pol.sum)?;
        avg.add("loss", scalar(&loss)?, b);
        // The mean of the desirable (or undesirable) entries, with their count.
        let pick = |xs: &[f64], want: bool| -> (f64, f64) {
            let s: Vec<f64> = xs
                .iter()
                .zip(&labels)
                .filter(|(_, l)| **l == want)
                .map(|(x, _)| *x)
                .collect();
            (super::mean(&s), s.len() as f64)
        };
        let (rc, nc) = pick(&rw, true);
        let (rj, nj) = pick(&rw, false);
        avg.add("rewards/chosen", rc, nc);
        avg.add("rewards/rejected", rj, nj);
        let (lc, _) = pick(&lp, true);
        let (lj, _) = pick(&lp, false);
        avg.add("logps/chosen", lc, nc);
        avg.add("logps/rejected", lj, nj);
        avg.add("kl", lo.reference_point, b);
        Ok((loss * m.share)?)
    }
}
