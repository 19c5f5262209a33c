//! Reward sources for online objectives: one trait, many kinds.
//!
//! A [`RewardSource`] scores a batch of (prompt, completion) texts and names itself; an
//! online objective sums the configured sources with their weights (TRL's `reward_funcs`
//! and `reward_weights`) and logs each one as `rewards/<name>/mean`. A score that is NaN or
//! infinite, or a source that fails, is an error naming the source and the prompt, never a
//! silent zero ([`score_checked`]).
//!
//! Kinds here: [`Lexicon`] (a word-list rule anyone can check by hand; with `distinct =
//! true` each word counts once), `length` (the completion's length in words against a
//! target), `contains` (1 when the completion holds a string), `reward_model` (a causal-LM
//! reward model of ours, `prefer train reward --model lm`, scoring prompt + completion as
//! it was trained). They are configured as TOML tables:
//!
//! ```toml
//! [[objective.reward]]
//! type = "lexicon"          # +1 per positive word, −1 per negative word (TinyStories)
//! weight = 1.0
//! [[objective.reward]]
//! type = "length"
//! target = 40               # −|words − target| / target
//! weight = 0.5
//! ```
//!
//! # Quickstart
//! ```
//! use prefer_train::reward::{RewardSpec, score_checked};
//! let spec: RewardSpec = toml::from_str(r#"type = "contains"
//! text = "dog""#).unwrap();
//! let src = spec.build().unwrap();
//! let s = score_checked(src.as_ref(), &["Tom".into()], &["had a dog".into()]).unwrap();
//! assert_eq!(s, vec![1.0]);
//! ```

use std::path::PathBuf;

use prefer_nn::logprobs::{BatchConfig, SeqBatch, SeqIds};
use prefer_nn::model::LoadOptions;
use prefer_nn::reward::lm::LmRewardModel;
use prefer_nn::tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};

use crate::rollout::Lexicon;
use crate::{Error, Result};

/// Scores (prompt, completion) texts.
pub trait RewardSource {
    /// A short name for metrics (`rewards/<name>/mean`) and errors.
    fn name(&self) -> String;

    /// One score per completion; `prompts[i]` is completion `i`'s prompt.
    fn score(&self, prompts: &[String], completions: &[String]) -> Result<Vec<f64>>;
}

/// Builds each spec's source, with its weight.
pub fn build_weighted(specs: &[RewardSpec]) -> Result<Vec<(Box<dyn RewardSource>, f64)>> {
    specs.iter().map(|r| Ok((r.build()?, r.weight))).collect()
}

/// Each source's checked scores of the completions, and their weighted sum per completion
/// (TRL's `reward_funcs` with `reward_weights`).
pub fn score_weighted(
    sources: &[(Box<dyn RewardSource>, f64)],
    prompts: &[String],
    completions: &[String],
) -> Result<(Vec<f64>, Vec<Vec<f64>>)> {
    let mut total = vec![0.0; completions.len()];
    let mut each = Vec::with_capacity(sources.len());
    for (src, w) in sources {
        let s = score_checked(src.as_ref(), prompts, completions)?;
        for (t, x) in total.iter_mut().zip(&s) {
            *t += w * x;
        }
        each.push(s);
    }
    Ok((total, each))
}

/// Scores with `src` and checks the result: one finite score per completion, else an
/// error naming the source and the first bad prompt.
pub fn score_checked(
    src: &dyn RewardSource,
    prompts: &[String],
    completions: &[String],
) -> Result<Vec<f64>> {
    let name = src.name();
    let s = src
        .score(prompts, completions)
        .map_err(|e| Error::Reward(format!("reward `{name}` failed: {e}")))?;
    if s.len() != completions.len() {
        return Err(Error::Reward(format!(
            "reward `{name}` returned {} scores for {} completions",
            s.len(),
            completions.len()
        )));
    }
    if let Some(i) = s.iter().position(|x| !x.is_finite()) {
        return Err(Error::Reward(format!(
            "reward `{name}` gave {} for completion {i} of prompt {:?}",
            s[i],
            prompts.get(i).map(String::as_str).unwrap_or("")
        )));
    }
    Ok(s)
}

impl RewardSource for Lexicon {
    fn name(&self) -> String {
        if self.distinct {
            "lexicon_distinct".into()
        } else {
            "lexicon".into()
        }
    }

    fn score(&self, _prompts: &[String], completions: &[String]) -> Result<Vec<f64>> {
        Ok(completions
            .iter()
            .map(|c| Lexicon::score(self, c))
            .collect())
    }
}

/// Number of leading ids `a` and `b` share (TRL's `common_prefix_length`).
pub fn common_prefix_length(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A prompt and its answers as token ids the way TRL's reward trainer tokenizes them: the
/// prompt (with BOS) and each `prompt + " " + answer` are tokenized whole, and an answer is
/// what follows their common prefix (tokenizing an answer on its own would give a
/// sentencepiece tokenizer a spurious leading `▁`, and other splits at the join).
pub fn joined_ids(
    tok: &Tokenizer,
    prompt: &str,
    answers: &[&str],
) -> Result<(Vec<u32>, Vec<Vec<u32>>)> {
    let mut p = tok.encode(prompt, true)?;
    let whole = answers
        .iter()
        .map(|a| tok.encode(&format!("{prompt} {}", a.trim_start()), true))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let keep = whole
        .iter()
        .map(|w| common_prefix_length(&p, w))
        .min()
        .unwrap_or(p.len());
    p.truncate(keep);
    Ok((p, whole.into_iter().map(|w| w[keep..].to_vec()).collect()))
}

/// A causal-LM reward model of ours (frozen): the score of `prompt + " " + completion`
/// tokenized whole, as [`LmRewardModel`] was trained (TRL's reward trainer convention),
/// EOS appended.
pub struct ModelReward {
    rm: LmRewardModel,
    tok: Tokenizer,
    batch: BatchConfig,
    batch_size: usize,
}

impl ModelReward {
    /// Loads the model folder (`prefer train reward --model lm --out DIR`) and the
    /// tokenizer (`tokenizer`, else the folder's).
    pub fn load(
        dir: &std::path::Path,
        tokenizer: Option<&std::path::Path>,
        batch_size: usize,
    ) -> Result<Self> {
        let rm = LmRewardModel::load(dir, &LoadOptions::frozen())?;
        let t = tokenizer.unwrap_or(dir);
        let tok = if t.is_dir() {
            Tokenizer::from_dir(t)?
        } else {
            Tokenizer::from_file(t)?
        };
        let batch = BatchConfig {
            bos_id: tok.bos_id(),
            eos_id: tok.eos_id(),
            pad_id: tok.pad_id().unwrap_or(0),
            max_length: None,
            ..Default::default()
        };
        Ok(ModelReward {
            rm,
            tok,
            batch,
            batch_size: batch_size.max(1),
        })
    }
}

impl RewardSource for ModelReward {
    fn name(&self) -> String {
        "reward_model".into()
    }

    fn score(&self, prompts: &[String], completions: &[String]) -> Result<Vec<f64>> {
        let seqs = prompts
            .iter()
            .zip(completions)
            .map(|(p, c)| {
                let (prompt, mut answers) = joined_ids(&self.tok, p, &[c.as_str()])?;
                Ok(SeqIds {
                    prompt,
                    completion: answers.pop().unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(self.batch_size) {
            let b = SeqBatch::new(chunk, &self.batch, self.rm.backbone().device())?;
            let r = self.rm.rewards(&b)?;
            out.extend(
                r.detach()
                    .to_dtype(candle_core::DType::F64)?
                    .flatten_all()?
                    .to_vec1::<f64>()?,
            );
        }
        Ok(out)
    }
}

/// `−|words − target| / target`: 0 at the target length, −1 at no words.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Length {
    /// The target, in whitespace-separated words (> 0).
    pub target: usize,
}

impl RewardSource for Length {
    fn name(&self) -> String {
        "length".into()
    }

    fn score(&self, _prompts: &[String], completions: &[String]) -> Result<Vec<f64>> {
        let t = self.target.max(1) as f64;
        Ok(completions
            .iter()
            .map(|c| -((c.split_whitespace().count() as f64 - t).abs()) / t)
            .collect())
    }
}

/// 1 when the completion contains `text` (case-sensitive), else 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Contains {
    /// The string looked for.
    pub text: String,
}

impl RewardSource for Contains {
    fn name(&self) -> String {
        "contains".into()
    }

    fn score(&self, _prompts: &[String], completions: &[String]) -> Result<Vec<f64>> {
        Ok(completions
            .iter()
            .map(|c| f64::from(c.contains(&self.text)))
            .collect())
    }
}

/// One configured reward source and its weight: a table with `type`, the kind's fields
/// and an optional `weight` (default 1); any other field is an error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardSpec {
    /// What scores.
    #[serde(flatten)]
    pub kind: RewardKind,
    /// Its weight in the sum (default 1).
    pub weight: f64,
}

impl<'de> Deserialize<'de> for RewardSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let weight = match map.remove("weight") {
            None => 1.0,
            Some(w) => w
                .as_f64()
                .ok_or_else(|| D::Error::custom(format!("reward weight: {w} is not a number")))?,
        };
        let kind = RewardKind::deserialize(serde_json::Value::Object(map))
            .map_err(|e| D::Error::custom(format!("reward: {e}")))?;
        Ok(RewardSpec { kind, weight })
    }
}

/// The kinds of reward source a configuration can name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RewardKind {
    /// The TinyStories sentiment word list ([`Lexicon::sentiment`]), or given lists.
    Lexicon {
        /// Words that add one (default: the sentiment list's).
        #[serde(default)]
        positive: Option<Vec<String>>,
        /// Words that subtract one (default: the sentiment list's).
        #[serde(default)]
        negative: Option<Vec<String>>,
        /// Count each distinct word once (default false).
        #[serde(default)]
        distinct: bool,
    },
    /// Closeness to a length in words.
    Length {
        /// The target length in words.
        target: usize,
    },
    /// Whether the completion contains a string.
    Contains {
        /// The string.
        text: String,
    },
    /// A causal-LM reward model of ours (`prefer train reward --model lm`).
    RewardModel {
        /// Its folder.
        path: PathBuf,
        /// The tokenizer folder or file (default: the model folder).
        #[serde(default)]
        tokenizer: Option<PathBuf>,
        /// Completions scored per forward (default 16).
        #[serde(default = "default_rm_batch")]
        batch_size: usize,
    },
}

fn default_rm_batch() -> usize {
    16
}

impl RewardSpec {
    /// The source (a model source loads its model here).
    pub fn build(&self) -> Result<Box<dyn RewardSource>> {
        Ok(match &self.kind {
            RewardKind::Lexicon {
                positive,
                negative,
                distinct,
            } => {
                let d = Lexicon::sentiment();
                Box::new(Lexicon {
                    positive: positive.clone().unwrap_or(d.positive),
                    negative: negative.clone().unwrap_or(d.negative),
                    distinct: *distinct,
                })
            }
            RewardKind::Length { target } => Box::new(Length { target: *target }),
            RewardKind::Contains { text } => Box::new(Contains { text: text.clone() }),
            RewardKind::RewardModel {
                path,
                tokenizer,
                batch_size,
            } => Box::new(
                ModelReward::load(path, tokenizer.as_deref(), *batch_size).map_err(|e| {
                    Error::Reward(format!("reward `reward_model` {}: {e}", path.display()))
                })?,
            ),
        })
    }

    /// Checks the weight and parameters.
    pub fn validate(&self) -> Result<()> {
        if !self.weight.is_finite() {
            return Err(Error::Config(format!(
                "reward weight {} must be finite",
                self.weight
            )));
        }
        match &self.kind {
            RewardKind::Length { target: 0 } => {
                Err(Error::Config("reward `length`: target must be ≥ 1".into()))
            }
            RewardKind::Contains { text } if text.is_empty() => Err(Error::Config(
                "reward `contains`: text must not be empty".into(),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod tests {
    use super::*;

    struct Broken;
    impl RewardSource for Broken {
        fn name(&self) -> String {
            "broken".into()
        }
        fn score(&self, _p: &[String], c: &[String]) -> Result<Vec<f64>> {
            Ok(c.iter().map(|_| f64::NAN).collect())
        }
    }

    #[test]
    fn a_nan_reward_is_an_error_naming_source_and_prompt() {
        let Err(e) = score_checked(&Broken, &["Once".into()], &["upon".into()]) else {
            panic!("a NaN reward was accepted")
        };
        let msg = e.to_string();
        assert!(msg.contains("broken") && msg.contains("Once"), "{msg}");
    }

    #[test]
    fn length_and_lexicon_scores_by_hand() {
        let l = Length { target: 4 };
        let s = l
            .score(
                &[String::new(), String::new()],
                &["a b c d".into(), "a b".into()],
            )
            .unwrap();
        assert_eq!(s, vec![0.0, -0.5]);
        let spec: RewardSpec = toml::from_str("type = \"lexicon\"\nweight = 2.0").unwrap();
        assert_eq!(spec.weight, 2.0);
        let src = spec.build().unwrap();
        let s = src
            .score(&[String::new()], &["happy and sad and happy".into()])
            .unwrap();
        assert_eq!(s, vec![1.0]);
        let spec: RewardSpec = toml::from_str("type = \"lexicon\"\ndistinct = true").unwrap();
        let s = spec
            .build()
            .unwrap()
            .score(&[String::new()], &["Happy happy happy, sad. Fun!".into()])
            .unwrap();
        assert_eq!(s, vec![1.0]); // happy + fun − sad
        assert!(toml::from_str::<RewardSpec>("type = \"lexicon\"\nwieght = 2.0").is_err());
    }
}
