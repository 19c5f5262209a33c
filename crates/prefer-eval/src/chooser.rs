//! A causal language model as a chooser: asked a forced-choice question
//! ([`prefer_choice::ask`]), its probability of each option is the softmax, over the
//! option labels, of log p(` A` | question), log p(` B` | question), ... (the label's
//! full log-prob when it spans several tokens). Paper 70 reads a model's preferences
//! the same way from its answer distribution; papers 71 and 72 compare such choices
//! with people's.
//!
//! The question and each question + " " + label are tokenized whole, and a label's
//! tokens are what follows their common prefix, so a sentencepiece tokenizer's `▁` at
//! the join is the one the model would see (as the reward-model pairs are built).

use std::path::Path;

use prefer_choice::ask::Chooser;
use prefer_nn::logprobs::{BatchConfig, SeqBatch, SeqIds, sequence_logps};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::tokenizer::Tokenizer;

use crate::error::{Error, Result};

/// A model folder (config.json, safetensors, tokenizer.json) answering questions.
pub struct LmChooser {
    model: CausalLm,
    tok: Tokenizer,
    name: String,
}

impl LmChooser {
    /// Loads the model (frozen) and its tokenizer; `name` is the group of its answers.
    ///
    /// # Errors
    /// The folder cannot be loaded.
    pub fn load(dir: &Path, name: &str) -> Result<Self> {
        Ok(Self {
            model: CausalLm::load(dir, &LoadOptions::frozen())?,
            tok: Tokenizer::from_dir(dir)?,
            name: name.to_string(),
        })
    }

    /// log p(label | prompt) for each label (summed over the label's tokens).
    ///
    /// # Errors
    /// Tokenizer or model failure, or a label that adds no token.
    pub fn label_logps(&self, prompt: &str, labels: &[String]) -> Result<Vec<f64>> {
        let p = self.tok.encode(prompt, true)?;
        let wholes = labels
            .iter()
            .map(|l| self.tok.encode(&format!("{prompt} {l}"), true))
            .collect::<prefer_nn::Result<Vec<_>>>()?;
        let keep = wholes
            .iter()
            .map(|w| p.iter().zip(w).take_while(|(a, b)| a == b).count())
            .min()
            .unwrap_or(0);
        let seqs: Vec<SeqIds> = wholes
            .iter()
            .zip(labels)
            .map(|(w, l)| {
                if w.len() <= keep {
                    return Err(Error::Invalid(format!(
                        "label `{l}` adds no token after the question"
                    )));
                }
                Ok(SeqIds {
                    prompt: p[..keep].to_vec(),
                    completion: w[keep..].to_vec(),
                })
            })
            .collect::<Result<_>>()?;
        let cfg = BatchConfig {
            bos_id: self.tok.bos_id(),
            ..Default::default()
        };
        let batch = SeqBatch::new(&seqs, &cfg, self.model.device())?;
        let out = sequence_logps(&self.model, &batch)?;
        let sums = out
            .sum
            .to_dtype(candle_core::DType::F64)?
            .to_vec1::<f64>()?;
        Ok(sums)
    }
}

/// softmax over the labels.
fn softmax(x: &[f64]) -> Vec<f64> {
    let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

impl Chooser for LmChooser {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn probs(&mut self, prompt: &str, labels: &[String]) -> prefer_choice::Result<Vec<f64>> {
        let lp = self
            .label_logps(prompt, labels)
            .map_err(|e| prefer_choice::Error::Invalid(e.to_string()))?;
        Ok(softmax(&lp))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prefer_choice::ask::{AskConfig, render};
    use prefer_choice::problem::{Problem, Prospect};

    fn stories() -> Option<std::path::PathBuf> {
        let d = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/models/stories260K");
        if d.join("config.json").exists() {
            Some(d)
        } else {
            println!("skipped: {} is absent", d.display());
            None
        }
    }

    fn problem(options: Vec<Prospect>) -> Problem {
        let n = options.len();
        Problem {
            id: None,
            group: None,
            options,
            counts: vec![1.0; n],
        }
    }

    /// Against transformers (tests/fixtures/chooser/make_chooser.py): the questions the
    /// renderer writes and the label probabilities stories260K gives them.
    #[test]
    fn label_probabilities_match_transformers_on_stories260k() {
        let Some(dir) = stories() else { return };
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/chooser/chooser.json");
        let fx: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let risky = problem(vec![
            Prospect::lottery(vec![100.0, 0.0], vec![0.5, 0.5]),
            Prospect::sure(40.0),
        ]);
        let timed = problem(vec![
            Prospect::delayed(50.0, 0.0),
            Prospect::delayed(80.0, 30.0),
        ]);
        let three = problem(vec![
            Prospect::lottery(vec![-20.0, 5.0], vec![0.1, 0.9]),
            Prospect::sure(-1.0),
            Prospect::sure(0.0),
        ]);
        let cfg = AskConfig::default();
        let prompts = [
            render(&risky, &[0, 1], &cfg).unwrap(),
            render(&risky, &[1, 0], &cfg).unwrap(),
            render(&timed, &[0, 1], &cfg).unwrap(),
            render(&three, &[0, 1, 2], &cfg).unwrap(),
        ];
        let mut lm = LmChooser::load(&dir, "stories260K").unwrap();
        let rows = fx["rows"].as_array().unwrap();
        assert_eq!(rows.len(), prompts.len());
        for (row, prompt) in rows.iter().zip(&prompts) {
            assert_eq!(row["prompt"].as_str().unwrap(), prompt);
            let labels: Vec<String> = row["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_string())
                .collect();
            let lp = lm.label_logps(prompt, &labels).unwrap();
            let probs = lm.probs(prompt, &labels).unwrap();
            for (k, (a, b)) in lp.iter().zip(row["logps"].as_array().unwrap()).enumerate() {
                // f32 forward passes in both: agreement to 1e-4 in log-prob.
                assert!(
                    (a - b.as_f64().unwrap()).abs() < 1e-4,
                    "{prompt:?} label {k}: {a} vs {b}"
                );
            }
            for (a, b) in probs.iter().zip(row["probs"].as_array().unwrap()) {
                assert!((a - b.as_f64().unwrap()).abs() < 1e-4);
            }
        }
    }
}
