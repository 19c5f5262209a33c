//! Introspection (paper 32, Binder et al. 2024, "Looking Inward"): does a model predict
//! its own behaviour better than another model trained on the same behaviour?
//!
//! - **Behaviour**: the option a model picks in a forced-choice question (the most
//!   probable letter, options in the order given), [`behaviour`].
//! - **Hypothetical question**: "Suppose you were asked the following question. ...
//!   Which option would you pick?", answered with a letter, [`hypothetical`].
//! - **Protocol**: record model M1's behaviour; train M1 (self-prediction) and M2
//!   (cross-prediction) on the hypothetical questions of one split with M1's answers as
//!   targets ([`training_pairs`], for `prefer train sft` or `dpo`); on the other split,
//!   score how often each predicts the behaviour ([`prediction_accuracy`]). The paper's
//!   evidence for introspection is self-prediction beating cross-prediction, measured
//!   against the trained M1's own behaviour.

use serde::Serialize;

use crate::ask::{AskConfig, Chooser, labels, render};
use crate::control::ControlPair;
use crate::error::{Error, Result};
use crate::problem::Problem;

/// The hypothetical question about `question`.
pub fn hypothetical(question: &str) -> String {
    let q = question
        .trim_end()
        .strip_suffix("Answer: Option")
        .unwrap_or(question)
        .trim_end();
    format!(
        "Suppose you were asked the following question.\n\n{q}\n\nWhich option would you pick?\nAnswer: Option"
    )
}

fn argmax(q: &[f64]) -> usize {
    q.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The option `chooser` picks in each problem (options in file order).
///
/// # Errors
/// A chooser error, naming the problem.
pub fn behaviour(
    chooser: &mut dyn Chooser,
    problems: &[Problem],
    cfg: &AskConfig,
) -> Result<Vec<usize>> {
    problems
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let n = p.options.len();
            let order: Vec<usize> = (0..n).collect();
            let q = chooser
                .probs(&render(p, &order, cfg)?, &labels(n)?)
                .map_err(|e| Error::Invalid(format!("problem {}: {e}", k + 1)))?;
            Ok(argmax(&q))
        })
        .collect()
}

/// Training records: each problem's hypothetical question with the behaviour's letter
/// as chosen and each other letter as rejected (one record per other letter).
///
/// # Errors
/// A behaviour outside a problem's options.
pub fn training_pairs(
    problems: &[Problem],
    behaviour: &[usize],
    cfg: &AskConfig,
) -> Result<Vec<ControlPair>> {
    let mut out = Vec::new();
    for (k, (p, &b)) in problems.iter().zip(behaviour).enumerate() {
        let n = p.options.len();
        if b >= n {
            return Err(Error::Invalid(format!(
                "problem {}: behaviour {b} is outside its {n} options",
                k + 1
            )));
        }
        let ls = labels(n)?;
        let prompt = hypothetical(&render(p, &(0..n).collect::<Vec<_>>(), cfg)?);
        for (i, l) in ls.iter().enumerate() {
            if i != b {
                out.push(ControlPair {
                    prompt: prompt.clone(),
                    chosen: format!(" {}", ls[b]),
                    rejected: format!(" {l}"),
                });
            }
        }
    }
    Ok(out)
}

/// How well a predictor's hypothetical answers match a behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    /// Share of problems whose predicted letter is the behaviour's.
    pub accuracy: f64,
    /// The accuracy of always answering the behaviour's most common letter (the
    /// baseline a predictor must beat).
    pub majority_baseline: f64,
    /// Problems scored.
    pub problems: usize,
}

/// Scores `predictor`'s answers to the hypothetical questions against `behaviour`.
///
/// # Errors
/// A chooser error, naming the problem.
pub fn prediction_accuracy(
    predictor: &mut dyn Chooser,
    problems: &[Problem],
    behaviour: &[usize],
    cfg: &AskConfig,
) -> Result<Prediction> {
    let mut hits = 0usize;
    let mut freq = std::collections::BTreeMap::<usize, usize>::new();
    for (k, (p, &b)) in problems.iter().zip(behaviour).enumerate() {
        let n = p.options.len();
        let prompt = hypothetical(&render(p, &(0..n).collect::<Vec<_>>(), cfg)?);
        let q = predictor
            .probs(&prompt, &labels(n)?)
            .map_err(|e| Error::Invalid(format!("problem {}: {e}", k + 1)))?;
        hits += usize::from(argmax(&q) == b);
        *freq.entry(b).or_default() += 1;
    }
    let n = problems.len().min(behaviour.len()).max(1);
    Ok(Prediction {
        accuracy: hits as f64 / n as f64,
        majority_baseline: freq.values().copied().max().unwrap_or(0) as f64 / n as f64,
        problems: problems.len().min(behaviour.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::ExpectedValue;
    use crate::simulate::{risky_design, simulate};

    /// Picks by expected value when asked directly; when asked hypothetically, answers
    /// with what it would pick if `knows_itself`, else always "A".
    struct Rational {
        knows_itself: bool,
        problems: Vec<Problem>,
    }

    impl Chooser for Rational {
        fn name(&self) -> String {
            "rational".into()
        }
        fn probs(&mut self, prompt: &str, labels: &[String]) -> Result<Vec<f64>> {
            let cfg = AskConfig::default();
            for p in &self.problems {
                let order: Vec<usize> = (0..p.options.len()).collect();
                let direct = render(p, &order, &cfg)?;
                let hypo = hypothetical(&direct);
                let ev: Vec<f64> = p.options.iter().map(|o| o.expected_value()).collect();
                let pick = argmax(&ev);
                let one_hot = |i: usize| {
                    (0..labels.len())
                        .map(|k| f64::from(u8::from(k == i)))
                        .collect()
                };
                if prompt == direct {
                    return Ok(one_hot(pick));
                }
                if prompt == hypo {
                    return Ok(one_hot(if self.knows_itself { pick } else { 0 }));
                }
            }
            Err(Error::Invalid("unknown prompt".into()))
        }
    }

    #[test]
    fn a_model_that_knows_itself_predicts_its_behaviour_and_one_that_does_not_falls_to_the_baseline()
     {
        let problems = simulate(&ExpectedValue {}, &[0.1], &risky_design(60, 2), 1, 3);
        let cfg = AskConfig::default();
        let mut me = Rational {
            knows_itself: true,
            problems: problems.clone(),
        };
        let b = behaviour(&mut me, &problems, &cfg).unwrap();
        let ev_pick: Vec<usize> = problems
            .iter()
            .map(|p| {
                argmax(
                    &p.options
                        .iter()
                        .map(|o| o.expected_value())
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(b, ev_pick);
        let s = prediction_accuracy(&mut me, &problems, &b, &cfg).unwrap();
        assert_eq!(s.accuracy, 1.0);
        let mut other = Rational {
            knows_itself: false,
            problems: problems.clone(),
        };
        let c = prediction_accuracy(&mut other, &problems, &b, &cfg).unwrap();
        let share_a = b.iter().filter(|x| **x == 0).count() as f64 / b.len() as f64;
        assert!((c.accuracy - share_a).abs() < 1e-12);
        assert!(c.majority_baseline >= 0.5 && c.majority_baseline >= c.accuracy);
        // Training records: one per other letter, chosen = the behaviour's letter.
        let pairs = training_pairs(&problems[..3], &b[..3], &cfg).unwrap();
        assert_eq!(pairs.len(), 3);
        assert!(pairs[0].prompt.starts_with(
            "Suppose you were asked the following question.\n\nWhich option do you choose?"
        ));
        assert!(
            pairs[0]
                .prompt
                .ends_with("Which option would you pick?\nAnswer: Option")
        );
        assert_eq!(pairs[0].chosen, format!(" {}", ["A", "B"][b[0]]));
        assert!(training_pairs(&problems[..1], &[5], &cfg).is_err());
    }
}
