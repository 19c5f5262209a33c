//! Token ids of a text pair for the causal-LM reward model, shared by `prefer train reward
//! --model lm` and the demo's reward stage (a module below both, so neither command
//! imports the other).

use prefer_eval::TextPair;
use prefer_nn::logprobs::PairIds;
use prefer_nn::tokenizer::Tokenizer;
use prefer_train::reward::joined_ids;

/// Each pair's prompt (with BOS) and answers (joined after one space), as TRL's reward
/// trainer tokenizes them: the prompt and each prompt + answer are tokenized whole, and
/// an answer is what follows their common prefix. Tokenizing an answer on its own would
/// give a sentencepiece tokenizer a spurious leading `▁` (and other splits at the join).
pub fn lm_ids(tok: &Tokenizer, pairs: &[TextPair]) -> anyhow::Result<Vec<PairIds>> {
    pairs.iter().map(|p| one(tok, p)).collect()
}

fn one(tok: &Tokenizer, p: &TextPair) -> anyhow::Result<PairIds> {
    let (prompt, mut a) = joined_ids(tok, &p.prompt, &[&p.chosen, &p.rejected])?;
    let rejected = a.pop().unwrap_or_default();
    let chosen = a.pop().unwrap_or_default();
    Ok(PairIds {
        prompt,
        chosen,
        rejected,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Against TRL's own ids (prefer-train's DPOTrainer fixture, stories260K): where the
    /// fixture's completion starts with a space, our join gives the same text, so the
    /// prompt and answer ids must be TRL's prompt_ids and chosen_ids (less the EOS TRL
    /// appends; the reward model's batch appends it).
    #[test]
    fn answers_are_tokenized_as_trl_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let model = root.join("../shared/models/stories260K");
        if !model.join("tokenizer.json").exists() {
            println!("skipped: ../shared/models/stories260K is absent");
            return;
        }
        let tok = Tokenizer::from_dir(&model).unwrap();
        let fx = root.join("crates/prefer-train/tests/fixtures/trl_dpo/trl_dpo.json");
        let fx: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fx).unwrap()).unwrap();
        let case = &fx["sentencepiece"];
        let ids = |v: &serde_json::Value| -> Vec<u32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        };
        let mut checked = 0;
        for (p, want) in case["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["ids"].as_array().unwrap())
        {
            let s = |k: &str| p[k].as_str().unwrap().to_string();
            if !s("chosen").starts_with(' ') || !s("rejected").starts_with(' ') {
                continue;
            }
            let pair: TextPair = serde_json::from_value(serde_json::json!({
                "loc": "fixture",
                "prompt": s("prompt"),
                "chosen": s("chosen"),
                "rejected": s("rejected"),
            }))
            .unwrap();
            let got = one(&tok, &pair).unwrap();
            for (side, g) in [("chosen_ids", &got.chosen), ("rejected_ids", &got.rejected)] {
                let mut trl = ids(&want["prompt_ids"]);
                trl.extend(ids(&want[side]));
                trl.pop(); // TRL's EOS
                let mut ours = got.prompt.clone();
                ours.extend(g);
                assert_eq!(ours, trl, "{side} of {:?}", pair.prompt);
            }
            checked += 1;
        }
        assert!(checked >= 2, "{checked} pairs checked");
    }
}
