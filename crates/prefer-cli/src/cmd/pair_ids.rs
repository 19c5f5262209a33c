//! Token ids of a text pair for the causal-LM reward model, shared by `prefer train reward
//! --model lm` and the demo's reward stage (a module below both, so neither command
//! imports the other).

use prefer_eval::TextPair;
use prefer_nn::logprobs::PairIds;
use prefer_nn::tokenizer::Tokenizer;

/// Each pair's prompt (with BOS) and answers (after one space), as the LM reward model
/// reads them.
pub fn lm_ids(tok: &Tokenizer, pairs: &[TextPair]) -> anyhow::Result<Vec<PairIds>> {
    pairs.iter().map(|p| one(tok, p)).collect()
}

fn one(tok: &Tokenizer, p: &TextPair) -> anyhow::Result<PairIds> {
    Ok(PairIds {
        prompt: tok.encode(&p.prompt, true)?,
        chosen: tok.encode(&format!(" {}", p.chosen.trim_start()), false)?,
        rejected: tok.encode(&format!(" {}", p.rejected.trim_start()), false)?,
    })
}
