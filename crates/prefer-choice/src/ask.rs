//! Asking a model the same questions people answered (papers 71 and 72 compare the two).
//! A problem is rendered as a forced-choice question with lettered options; a
//! [`Chooser`] returns its probability for each letter; asking in both orders (options
//! reversed) cancels a preference for the first or the last letter, as paper 70 asks
//! each pair both ways. The answers are problems again, with soft `counts` (the
//! probabilities times `per_problem`) and `group` set to the chooser's name, so they fit
//! and compare like human data (`prefer choice fit --by-group`).
//!
//! The question reads, for a risky problem:
//!
//! ```text
//! Which option do you choose?
//! Option A: a 50% chance of $100, otherwise $0
//! Option B: $40 for sure
//! Answer: Option
//! ```
//!
//! and the chooser scores the continuations ` A` and ` B`. Delays are written as "in 30
//! days" (or "today"), losses as "lose $20" ("a 10% chance of losing $20").

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::problem::{Problem, Prospect};

/// Anything that answers forced-choice questions with a probability per label.
pub trait Chooser {
    /// Its name (the `group` of its answers).
    fn name(&self) -> String;
    /// P(label) for each label after `prompt`, summing to one.
    ///
    /// # Errors
    /// The chooser failed (a model error, a prompt too long).
    fn probs(&mut self, prompt: &str, labels: &[String]) -> Result<Vec<f64>>;
}

/// How questions are written and answers counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AskConfig {
    /// Currency prefix (default `$`).
    pub currency: String,
    /// Unit of delays (default `days`).
    pub delay_unit: String,
    /// Also ask with the options reversed and average (default true).
    pub both_orders: bool,
    /// Soft counts per problem: the probabilities times this (default 10).
    pub per_problem: f64,
}

impl Default for AskConfig {
    fn default() -> Self {
        Self {
            currency: "$".into(),
            delay_unit: "days".into(),
            both_orders: true,
            per_problem: 10.0,
        }
    }
}

fn trim_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// An amount; a loss reads "`loss_verb` $x" ("lose" after "otherwise" or before "for
/// sure", "losing" after "a p% chance of").
fn money(x: f64, loss_verb: &str, cfg: &AskConfig) -> String {
    if x < 0.0 {
        format!("{loss_verb} {}{}", cfg.currency, trim_number(-x))
    } else {
        format!("{}{}", cfg.currency, trim_number(x))
    }
}

fn percent(p: f64) -> String {
    trim_number((p * 1000.0).round() / 10.0) + "%"
}

/// One option in words.
pub fn describe(o: &Prospect, timed: bool, cfg: &AskConfig) -> String {
    let outcomes = o.support();
    let mut s = match outcomes.as_slice() {
        [(x, _)] => format!("{} for sure", money(*x, "lose", cfg)),
        [(x, p), (y, _)] => format!(
            "a {} chance of {}, otherwise {}",
            percent(*p),
            money(*x, "losing", cfg),
            money(*y, "lose", cfg)
        ),
        many => many
            .iter()
            .map(|(x, p)| format!("a {} chance of {}", percent(*p), money(*x, "losing", cfg)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    if timed {
        if o.delay == 0.0 {
            s.push_str(" today");
        } else {
            s.push_str(&format!(" in {} {}", trim_number(o.delay), cfg.delay_unit));
        }
    }
    s
}

/// Option labels: A, B, ..., Z.
pub fn labels(n: usize) -> Result<Vec<String>> {
    if n > 26 {
        return Err(Error::Invalid(format!(
            "{n} options: at most 26 can be lettered"
        )));
    }
    Ok((0..n)
        .map(|i| char::from(b'A' + i as u8).to_string())
        .collect())
}

/// The question for `p` with its options in `order` (indices into `p.options`).
pub fn render(p: &Problem, order: &[usize], cfg: &AskConfig) -> Result<String> {
    let timed = p.options.iter().any(|o| o.delay != 0.0);
    let ls = labels(order.len())?;
    let mut s = String::from("Which option do you choose?\n");
    for (l, &i) in ls.iter().zip(order) {
        s.push_str(&format!(
            "Option {l}: {}\n",
            describe(&p.options[i], timed, cfg)
        ));
    }
    s.push_str("Answer: Option");
    Ok(s)
}

/// Asks `chooser` every problem; returns the problems with its soft counts.
///
/// # Errors
/// A chooser error (naming the problem) or probabilities that are not a distribution.
pub fn ask(
    problems: &[Problem],
    chooser: &mut dyn Chooser,
    cfg: &AskConfig,
) -> Result<Vec<Problem>> {
    let name = chooser.name();
    problems
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let n = p.options.len();
            let forward: Vec<usize> = (0..n).collect();
            let mut orders = vec![forward.clone()];
            if cfg.both_orders {
                orders.push(forward.iter().rev().copied().collect());
            }
            let mut acc = vec![0.0; n];
            for order in &orders {
                let prompt = render(p, order, cfg)?;
                let q = chooser
                    .probs(&prompt, &labels(n)?)
                    .map_err(|e| Error::Invalid(format!("problem {}: {e}", k + 1)))?;
                let s: f64 = q.iter().sum();
                if q.len() != n || !((s - 1.0).abs() < 1e-6) || q.iter().any(|x| !(*x >= 0.0)) {
                    return Err(Error::Invalid(format!(
                        "problem {}: {name} returned {q:?}, not a distribution over {n} options",
                        k + 1
                    )));
                }
                for (slot, &i) in order.iter().enumerate() {
                    acc[i] += q[slot] / orders.len() as f64;
                }
            }
            Ok(Problem {
                id: p.id.clone(),
                group: Some(name.clone()),
                options: p.options.clone(),
                counts: acc.iter().map(|x| x * cfg.per_problem).collect(),
            })
        })
        .collect()
}

/// The forced-choice question between two outcomes (paper 70's preference elicitation).
pub fn render_pair(a: &str, b: &str) -> String {
    format!(
        "Which of these would you prefer?\nOption A: {}\nOption B: {}\nAnswer: Option",
        a.trim(),
        b.trim()
    )
}

/// P(`items[i]` is preferred to `items[j]`) from `chooser`, averaged over both orders
/// when `both_orders`, returned as soft counts (`answers` · P, `answers` · (1 − P)): the
/// oracle [`crate::active::run`] asks.
///
/// # Errors
/// A chooser error, naming the pair.
pub fn pair_answer(
    chooser: &mut dyn Chooser,
    items: &[String],
    i: usize,
    j: usize,
    answers: f64,
    both_orders: bool,
) -> Result<(f64, f64)> {
    let ab = labels(2)?;
    let named = |e: Error| Error::Invalid(format!("pair ({i}, {j}): {e}"));
    let p = chooser
        .probs(&render_pair(&items[i], &items[j]), &ab)
        .map_err(named)?[0];
    let p = if both_orders {
        let q = chooser
            .probs(&render_pair(&items[j], &items[i]), &ab)
            .map_err(named)?[1];
        0.5 * (p + q)
    } else {
        p
    };
    Ok((answers * p, answers * (1.0 - p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::{FitConfig, choice_probs, fit};
    use crate::models::{ExpectedValue, Model};

    #[test]
    fn questions_read_as_the_experiments_write_them() {
        let p = Problem {
            id: None,
            group: None,
            options: vec![
                Prospect::lottery(vec![100.0, 0.0], vec![0.5, 0.5]),
                Prospect::sure(-40.0),
                Prospect::lottery(vec![10.0, 20.0, -5.0], vec![0.25, 0.25, 0.5]),
            ],
            counts: vec![1.0, 0.0, 0.0],
        };
        let cfg = AskConfig::default();
        assert_eq!(
            render(&p, &[0, 1, 2], &cfg).unwrap(),
            "Which option do you choose?\n\
             Option A: a 50% chance of $100, otherwise $0\n\
             Option B: lose $40 for sure\n\
             Option C: a 25% chance of $10, a 25% chance of $20, a 50% chance of losing $5\n\
             Answer: Option"
        );
        let d = Problem {
            id: None,
            group: None,
            options: vec![Prospect::delayed(50.0, 0.0), Prospect::delayed(80.5, 30.0)],
            counts: vec![1.0, 0.0],
        };
        assert_eq!(
            render(&d, &[1, 0], &cfg).unwrap(),
            "Which option do you choose?\nOption A: $80.5 for sure in 30 days\nOption B: $50 for sure today\nAnswer: Option"
        );
    }

    /// A chooser that reads the question back and picks by expected value with softmax
    /// sensitivity φ, plus a bias toward the first letter: asking in both orders must
    /// cancel the bias, and fitting EV to its answers must recover φ.
    struct EvReader {
        phi: f64,
        first_bias: f64,
        problems: Vec<Problem>,
        cfg: AskConfig,
    }

    impl Chooser for EvReader {
        fn name(&self) -> String {
            "ev-reader".into()
        }
        fn probs(&mut self, prompt: &str, labels: &[String]) -> Result<Vec<f64>> {
            // Find the problem and order that render to this prompt.
            for p in &self.problems {
                let n = p.options.len();
                for order in [(0..n).collect::<Vec<_>>(), (0..n).rev().collect()] {
                    if render(p, &order, &self.cfg)? == prompt {
                        let mut q = choice_probs(&ExpectedValue {}, &[self.phi], p);
                        q = order.iter().map(|&i| q[i]).collect();
                        q[0] *= self.first_bias;
                        let s: f64 = q.iter().sum();
                        assert_eq!(labels.len(), n);
                        return Ok(q.into_iter().map(|x| x / s).collect());
                    }
                }
            }
            Err(Error::Invalid("unknown prompt".into()))
        }
    }

    #[test]
    fn answers_become_soft_counts_that_fit_like_human_data() {
        let design = crate::simulate::risky_design(200, 5);
        let problems = crate::simulate::simulate(&ExpectedValue {}, &[0.1], &design, 1, 6);
        let cfg = AskConfig {
            per_problem: 20.0,
            ..Default::default()
        };
        let mut chooser = EvReader {
            phi: 0.1,
            first_bias: 1.0,
            problems: problems.clone(),
            cfg: cfg.clone(),
        };
        let answers = ask(&problems, &mut chooser, &cfg).unwrap();
        assert!(answers.iter().all(|a| a.group.as_deref() == Some("ev-reader") && (a.total() - 20.0).abs() < 1e-9));
        let f = fit(
            &Model::ExpectedValue(ExpectedValue {}),
            &answers,
            &FitConfig::default(),
        )
        .unwrap();
        assert!((f.get("phi").unwrap().value - 0.1).abs() < 1e-6, "{f:?}");
        // A first-letter bias: one order alone is biased; both orders cancel it in the
        // log odds (P averaged over orders is symmetric in the options' positions).
        chooser.first_bias = 3.0;
        let one = ask(
            &problems,
            &mut chooser,
            &AskConfig {
                both_orders: false,
                ..cfg.clone()
            },
        )
        .unwrap();
        let both = ask(&problems, &mut chooser, &cfg).unwrap();
        let first_share = |ps: &[Problem]| {
            ps.iter().map(|p| p.counts[0] / p.total()).sum::<f64>() / ps.len() as f64
        };
        let truth = problems
            .iter()
            .map(|p| choice_probs(&ExpectedValue {}, &[0.1], p)[0])
            .sum::<f64>()
            / problems.len() as f64;
        assert!(first_share(&one) > truth + 0.1);
        assert!((first_share(&both) - truth).abs() < (first_share(&one) - truth).abs() / 3.0);
    }

    /// Prefers outcomes by a hidden utility (the number in the text), with a bias for
    /// the first letter.
    struct ByNumber;

    impl Chooser for ByNumber {
        fn name(&self) -> String {
            "by-number".into()
        }
        fn probs(&mut self, prompt: &str, _labels: &[String]) -> Result<Vec<f64>> {
            let num = |tag: &str| -> f64 {
                let line = prompt.lines().find(|l| l.starts_with(tag)).unwrap();
                line.rsplit(' ').next().unwrap().parse().unwrap()
            };
            let (a, b) = (num("Option A:"), num("Option B:"));
            let pa = 1.0 / (1.0 + (-(a - b)).exp());
            let pa = pa * 2.0 / (pa * 2.0 + (1.0 - pa));
            Ok(vec![pa, 1.0 - pa])
        }
    }

    #[test]
    fn active_elicitation_through_a_chooser_recovers_its_hidden_utilities() {
        let items: Vec<String> = (0..24)
            .map(|k| format!("outcome worth {}", (k * 7 % 24) as f64 / 4.0))
            .collect();
        let worth: Vec<f64> = (0..24).map(|k| (k * 7 % 24) as f64 / 4.0).collect();
        let mut c = ByNumber;
        // Both orders cancel the first-letter bias: a pair of equal worth answers 50/50.
        let (x, y) = pair_answer(&mut c, &items, 0, 0, 10.0, true).unwrap();
        assert!((x - 5.0).abs() < 1e-12 && (y - 5.0).abs() < 1e-12);
        let (x, _) = pair_answer(&mut c, &items, 0, 0, 10.0, false).unwrap();
        assert!((x - 10.0 * 2.0 / 3.0).abs() < 1e-12);
        let cfg = crate::active::ActiveConfig {
            edges_per_round: 20,
            ..Default::default()
        };
        let run = crate::active::run(
            items.len(),
            |i, j| pair_answer(&mut c, &items, i, j, 10.0, true),
            &cfg,
            &crate::thurstonian::ThurstonianConfig::default(),
        )
        .unwrap();
        let r = crate::coherence::pearson(&run.utilities.mean, &worth);
        assert!(r > 0.98, "{r}");
    }
}
