//! Sampling-based preference data and evaluation: a programmatic judge (a word-list
//! rule a reader can check by hand), preference pairs built from a model's own samples,
//! and the three figures of a run: the rule's mean score, the win rate over the starting
//! model, and the KL divergence to it.
//!
//! KL(π‖π₀) for one prompt is estimated by Monte Carlo over the policy's own samples at
//! temperature 1: `mean_y [log π(y|x) − log π₀(y|x)]`, the sequence log-probs summed over
//! the sampled tokens (EOS included when sampled). It is an unbiased estimate of the
//! sequence-level KL; each sample's term may be negative, the mean is ≥ 0 in expectation.
//!
//! # Quickstart
//! ```
//! use prefer_train::rollout::Lexicon;
//! let rule = Lexicon::sentiment();
//! // +1 per positive word, −1 per negative word, case-insensitive, whole words only.
//! assert_eq!(rule.score("Lily was happy. She smiled and laughed, then was sad."), 2.0);
//! ```

use prefer_data::{Annotations, Pair, Ranking, Text};
use prefer_nn::logprobs::{BatchConfig, SeqBatch, SeqIds, sequence_logps};
use prefer_nn::model::CausalLm;
use prefer_nn::sample::{SampleConfig, generate};
use prefer_nn::tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A word-list rule: +1 per occurrence of a positive word, −1 per negative word (with
/// `distinct`, per distinct word: repeating a word earns nothing more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lexicon {
    /// Words that add one.
    pub positive: Vec<String>,
    /// Words that subtract one.
    pub negative: Vec<String>,
    /// Count each distinct word once.
    #[serde(default)]
    pub distinct: bool,
}

impl Lexicon {
    /// A small sentiment lexicon for children's stories (the vocabulary of TinyStories).
    pub fn sentiment() -> Self {
        let pos = [
            "happy",
            "smile",
            "smiled",
            "smiles",
            "laugh",
            "laughed",
            "love",
            "loved",
            "loves",
            "fun",
            "kind",
            "nice",
            "good",
            "great",
            "friend",
            "friends",
            "fun",
            "joy",
            "glad",
            "proud",
            "hug",
            "hugged",
            "best",
            "beautiful",
            "excited",
            "enjoy",
            "enjoyed",
            "thank",
            "thanked",
            "safe",
            "yummy",
            "pretty",
        ];
        let neg = [
            "sad", "cry", "cried", "angry", "mad", "scared", "afraid", "hurt", "bad", "upset",
            "lost", "broke", "broken", "mean", "sorry", "fear", "lonely", "tired", "sick",
        ];
        Lexicon {
            positive: pos.iter().map(|s| s.to_string()).collect(),
            negative: neg.iter().map(|s| s.to_string()).collect(),
            distinct: false,
        }
    }

    /// One target word: the score is its count.
    pub fn word(word: &str) -> Self {
        Lexicon {
            positive: vec![word.to_lowercase()],
            negative: Vec::new(),
            distinct: false,
        }
    }

    /// The same lists counting each distinct word once.
    pub fn distinct(self) -> Self {
        Lexicon {
            distinct: true,
            ..self
        }
    }

    /// The score of `text`: whole words, case-insensitive.
    pub fn score(&self, text: &str) -> f64 {
        let mut s = 0.0;
        let mut words: Vec<String> = text
            .split(|c: char| !c.is_alphabetic() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if self.distinct {
            words.sort();
            words.dedup();
        }
        for w in words {
            if self.positive.contains(&w) {
                s += 1.0;
            }
            if self.negative.contains(&w) {
                s -= 1.0;
            }
        }
        s
    }
}

/// Samples `n` completions of each prompt text (batched), returned as token ids per
/// prompt. Prompts are encoded with the tokenizer's special tokens (a BOS).
pub fn sample(
    model: &CausalLm,
    tok: &Tokenizer,
    prompts: &[String],
    n: usize,
    cfg: &SampleConfig,
) -> Result<Vec<Vec<Vec<u32>>>> {
    let mut ids = Vec::with_capacity(prompts.len() * n);
    for p in prompts {
        let e = tok.encode(p, true)?;
        for _ in 0..n {
            ids.push(e.clone());
        }
    }
    let mut eos = model.config().eos_ids();
    if let Some(e) = tok.eos_id()
        && !eos.contains(&e)
    {
        eos.push(e);
    }
    let gens = generate(model, &ids, &eos, cfg)?;
    let mut out = vec![Vec::with_capacity(n); prompts.len()];
    for (i, g) in gens.into_iter().enumerate() {
        out[i / n.max(1)].push(g.tokens);
    }
    Ok(out)
}

/// The text of sampled tokens (special tokens dropped).
pub fn decode(tok: &Tokenizer, ids: &[u32]) -> Result<String> {
    Ok(tok.decode(ids, true)?)
}

/// Statistics of a preference set built from samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairStats {
    /// Prompts sampled.
    pub prompts: usize,
    /// Pairs made (prompts whose samples did not all tie).
    pub pairs: usize,
    /// Mean score of all samples.
    pub mean_score: f64,
    /// Mean score of the chosen completions.
    pub mean_chosen: f64,
    /// Mean score of the rejected completions.
    pub mean_rejected: f64,
}

/// The indices of the highest and the lowest score (the first of equal ones), or `None`
/// when all scores are equal (nothing to prefer).
pub fn best_and_worst(scores: &[f64]) -> Option<(usize, usize)> {
    let n = scores.len();
    let best = (0..n).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
    let worst = (0..n).fold(0, |b, i| if scores[i] < scores[b] { i } else { b });
    (n > 0 && scores[best] != scores[worst]).then_some((best, worst))
}

/// Preference pairs from a model's own samples: for each prompt, `n` samples scored by
/// `rule`; the best is chosen, the worst rejected (the first of equal scores); prompts
/// whose samples all score the same give no pair. The `strength` annotation holds
/// σ(best − worst).
pub fn rule_pairs(
    model: &CausalLm,
    tok: &Tokenizer,
    prompts: &[String],
    n: usize,
    cfg: &SampleConfig,
    rule: &Lexicon,
) -> Result<(Vec<Pair>, PairStats)> {
    if n < 2 {
        return Err(Error::Config(
            "rule pairs need at least 2 samples per prompt".into(),
        ));
    }
    let samples = sample(model, tok, prompts, n, cfg)?;
    let mut pairs = Vec::new();
    let (mut tot, mut cnt, mut sc, mut sr) = (0.0, 0usize, 0.0, 0.0);
    for (p, ss) in prompts.iter().zip(samples) {
        let texts: Vec<String> = ss.iter().map(|s| decode(tok, s)).collect::<Result<_>>()?;
        let scores: Vec<f64> = texts.iter().map(|t| rule.score(t)).collect();
        tot += scores.iter().sum::<f64>();
        cnt += scores.len();
        let Some((best, worst)) = best_and_worst(&scores) else {
            continue;
        };
        sc += scores[best];
        sr += scores[worst];
        let ann = Annotations {
            strength: Some(1.0 / (1.0 + (scores[worst] - scores[best]).exp())),
            ..Default::default()
        };
        pairs.push(Pair {
            prompt: Some(Text::Plain(p.clone())),
            chosen: Text::Plain(texts[best].clone()),
            rejected: Text::Plain(texts[worst].clone()),
            ann,
        });
    }
    let np = pairs.len().max(1) as f64;
    let stats = PairStats {
        prompts: prompts.len(),
        pairs: pairs.len(),
        mean_score: tot / cnt.max(1) as f64,
        mean_chosen: sc / np,
        mean_rejected: sr / np,
    };
    Ok((pairs, stats))
}

/// Ranked lists from a model's own samples (PRO): for each prompt, the `n` samples
/// ordered by `rule` score, best first (ties share a rank, in sampling order); the scores
/// go into the record's `scores` field. Prompts whose samples all tie give no list.
pub fn rule_rankings(
    model: &CausalLm,
    tok: &Tokenizer,
    prompts: &[String],
    n: usize,
    cfg: &SampleConfig,
    rule: &Lexicon,
) -> Result<Vec<Ranking>> {
    let samples = sample(model, tok, prompts, n, cfg)?;
    let mut out = Vec::new();
    for (p, ss) in prompts.iter().zip(samples) {
        let mut scored: Vec<(f64, String)> = ss
            .iter()
            .map(|s| decode(tok, s).map(|t| (rule.score(&t), t)))
            .collect::<Result<_>>()?;
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        if scored.first().map(|x| x.0) == scored.last().map(|x| x.0) {
            continue;
        }
        let mut ranks = Vec::with_capacity(scored.len());
        for (i, (sc, _)) in scored.iter().enumerate() {
            let r = if i > 0 && *sc == scored[i - 1].0 {
                ranks[i - 1]
            } else {
                i as u32 + 1
            };
            ranks.push(r);
        }
        let mut ann = Annotations::default();
        ann.extra.insert(
            "scores".into(),
            serde_json::Value::from(scored.iter().map(|x| x.0).collect::<Vec<f64>>()),
        );
        out.push(Ranking {
            prompt: Some(Text::Plain(p.clone())),
            responses: scored.into_iter().map(|x| Text::Plain(x.1)).collect(),
            ranks: Some(ranks),
            ann,
        });
    }
    Ok(out)
}

/// The figures of a trained policy against its starting model on held-out prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleReport {
    /// Mean rule score of the policy's samples.
    pub score: f64,
    /// Mean rule score of the starting model's samples.
    pub base_score: f64,
    /// Share of (prompt, sample index) where the policy's sample scores higher than the
    /// starting model's, ties counting one half.
    pub win_rate: f64,
    /// Monte-Carlo KL(π‖π₀) per sequence, in nats (see the module docs).
    pub kl: f64,
    /// Standard error of `kl`.
    pub kl_se: f64,
    /// Mean completion length of the policy's samples, tokens.
    pub length: f64,
    /// Mean completion length of the starting model's samples, tokens.
    pub base_length: f64,
    /// Mean score of the policy's samples under a second scorer (a proxy reward model),
    /// when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<f64>,
    /// The same for the starting model's samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_proxy: Option<f64>,
}

/// A second scorer of (prompt, completion) texts for [`rule_report_with`].
pub type Scorer<'a> = &'a dyn Fn(&[String], &[String]) -> Result<Vec<f64>>;

/// Summed log-probs of `completions` after `prompt` ids under `model` (no EOS added).
fn seq_logps(model: &CausalLm, seqs: &[SeqIds], bs: usize) -> Result<Vec<f64>> {
    let cfg = BatchConfig::default();
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(bs.max(1)) {
        let b = SeqBatch::new(chunk, &cfg, model.device())?;
        let lp = sequence_logps(model, &b)?;
        out.extend(
            lp.sum
                .detach()
                .to_dtype(candle_core::DType::F64)?
                .to_vec1::<f64>()?,
        );
    }
    Ok(out)
}

/// Samples `n` completions per prompt from `policy` and from `base` (same settings and
/// seed) and reports the rule's score, the win rate and the KL estimate. Sample at
/// temperature 1 without top-k/top-p for the KL estimate to be unbiased.
pub fn rule_report(
    policy: &CausalLm,
    base: &CausalLm,
    tok: &Tokenizer,
    prompts: &[String],
    n: usize,
    cfg: &SampleConfig,
    rule: &Lexicon,
) -> Result<RuleReport> {
    rule_report_with(policy, base, tok, prompts, n, cfg, rule, None)
}

/// [`rule_report`], and each sample's mean score under `proxy` too (an overoptimization
/// study's proxy reward beside the rule as its gold).
#[allow(clippy::too_many_arguments)]
pub fn rule_report_with(
    policy: &CausalLm,
    base: &CausalLm,
    tok: &Tokenizer,
    prompts: &[String],
    n: usize,
    cfg: &SampleConfig,
    rule: &Lexicon,
    proxy: Option<Scorer<'_>>,
) -> Result<RuleReport> {
    let ps = sample(policy, tok, prompts, n, cfg)?;
    let bs = sample(base, tok, prompts, n, cfg)?;
    let (mut s, mut s0, mut wins, mut cnt, mut len, mut len0) = (0.0, 0.0, 0.0, 0usize, 0.0, 0.0);
    let mut seqs = Vec::new();
    let (mut texts, mut base_texts, mut of) = (Vec::new(), Vec::new(), Vec::new());
    for ((p, a), b) in prompts.iter().zip(&ps).zip(&bs) {
        let pid = tok.encode(p, true)?;
        for (ya, yb) in a.iter().zip(b) {
            let (ta, tb) = (decode(tok, ya)?, decode(tok, yb)?);
            let (sa, sb) = (rule.score(&ta), rule.score(&tb));
            texts.push(ta);
            base_texts.push(tb);
            of.push(p.clone());
            s += sa;
            s0 += sb;
            wins += if sa > sb {
                1.0
            } else if sa == sb {
                0.5
            } else {
                0.0
            };
            cnt += 1;
            len += ya.len() as f64;
            len0 += yb.len() as f64;
            if !ya.is_empty() {
                seqs.push(SeqIds {
                    prompt: pid.clone(),
                    completion: ya.clone(),
                });
            }
        }
    }
    let lp = seq_logps(policy, &seqs, 32)?;
    let lb = seq_logps(base, &seqs, 32)?;
    let d: Vec<f64> = lp.iter().zip(&lb).map(|(a, b)| a - b).collect();
    let m = d.iter().sum::<f64>() / d.len().max(1) as f64;
    let var = d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (d.len().max(2) - 1) as f64;
    let c = cnt.max(1) as f64;
    let mean_of = |v: Vec<f64>| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (proxy, base_proxy) = match proxy {
        Some(f) => (
            Some(mean_of(f(&of, &texts)?)),
            Some(mean_of(f(&of, &base_texts)?)),
        ),
        None => (None, None),
    };
    Ok(RuleReport {
        score: s / c,
        base_score: s0 / c,
        win_rate: wins / c,
        kl: m,
        kl_se: (var / d.len().max(1) as f64).sqrt(),
        length: len / c,
        base_length: len0 / c,
        proxy,
        base_proxy,
    })
}

/// Story openings for stories260K-style models: `{opening} {character} named {name}.`,
/// deterministic, in a fixed order; the first `n` of them.
pub fn story_prompts(n: usize, offset: usize) -> Vec<String> {
    let openings = ["Once upon a time, there was a", "One day, a", "There was a"];
    let who = [
        "little girl",
        "little boy",
        "dog",
        "cat",
        "bird",
        "bunny",
        "bear",
        "fish",
    ];
    let names = [
        "Lily", "Tom", "Sue", "Max", "Ben", "Mia", "Tim", "Anna", "Sam", "Lucy", "Jack", "Zoe",
    ];
    let mut all = Vec::new();
    for name in names {
        for w in who {
            for o in openings {
                all.push(format!("{o} {w} named {name}."));
            }
        }
    }
    all.into_iter().skip(offset).take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_counts_whole_words_case_insensitively() {
        let r = Lexicon::sentiment();
        assert_eq!(r.score("Happy HAPPY happyness unhappy"), 2.0);
        assert_eq!(r.score("She was sad and scared."), -2.0);
        assert_eq!(
            Lexicon::word("ball").score("The ball, the Ball! balls"),
            2.0
        );
    }

    #[test]
    fn story_prompts_are_distinct() {
        let a = story_prompts(288, 0);
        let mut s = a.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), a.len());
        assert_eq!(a.len(), 288);
    }
}
