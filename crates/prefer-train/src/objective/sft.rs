//! Supervised fine-tuning: the token-mean negative log-likelihood of the completions.
//!
//! `L = −Σ_steps tokens log π(y_t | x, y_<t) / N`, where `N` is the number of completion
//! tokens of the whole optimizer step (so accumulated micro-batches of different lengths
//! weigh each token the same, as TRL's `SFTTrainer` with `average_tokens_across_devices`).
//! Evaluation divides by each micro-batch's own tokens. No parameters.

use candle_core::Tensor;
use prefer_nn::logprobs::{SeqBatch, SeqIds, sequence_logps};

use super::{Ctx, Micro, Objective, scalar, split_even, wrong_examples};
use crate::Result;
use crate::data::Examples;
use crate::metrics::Averager;

/// The SFT objective.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sft;

fn seqs(ex: &Examples) -> Result<&[SeqIds]> {
    ex.as_seqs().ok_or_else(|| wrong_examples("sft"))
}

impl Objective for Sft {
    fn method(&self) -> &'static str {
        "sft"
    }

    fn accepts(&self, examples: &Examples) -> bool {
        examples.as_seqs().is_some()
    }

    fn plan(
        &mut self,
        cx: &mut Ctx<'_>,
        idx: &[usize],
        micro: usize,
        _avg: &mut Averager,
    ) -> Result<Vec<Micro>> {
        let v = seqs(cx.examples)?;
        let mut tokens = 0usize;
        for &i in idx {
            let (s, pl) = cx.batch.build(&v[i].prompt, &v[i].completion)?;
            tokens += s.len() - pl;
        }
        let mut plan = split_even(idx, micro);
        for m in &mut plan {
            m.norm = tokens.max(1) as f64;
        }
        Ok(plan)
    }

    fn loss(&mut self, cx: &mut Ctx<'_>, m: &Micro, avg: &mut Averager) -> Result<Tensor> {
        let v = seqs(cx.examples)?;
        let rows: Vec<SeqIds> = m.idx.iter().map(|&i| v[i].clone()).collect();
        let batch = SeqBatch::new(&rows, cx.batch, cx.policy.device())?;
        let lp = sequence_logps(cx.policy, &batch)?;
        let nll = lp.sum.sum_all()?.neg()?;
        let tokens = scalar(&lp.count.sum_all()?)?;
        avg.add("loss", scalar(&nll)? / tokens.max(1.0), tokens);
        avg.add("num_tokens", tokens, 1.0);
        let denom = if cx.training { m.norm } else { tokens.max(1.0) };
        Ok((nll / denom)?)
    }
}
