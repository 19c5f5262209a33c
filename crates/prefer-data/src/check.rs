//! Record checks beyond what the types enforce: empty texts, identical chosen and
//! rejected, non-finite numbers, inconsistent lengths, a model voting against itself.

use std::collections::HashSet;

use crate::record::{Annotations, Record, Text};

/// One problem with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field at fault.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn p(field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

fn text(out: &mut Vec<Problem>, field: &str, t: &Text) {
    if t.is_blank() {
        out.push(p(field, "is empty"));
    }
    if let Text::Chat(msgs) = t {
        for (i, m) in msgs.iter().enumerate() {
            if m.role.trim().is_empty() {
                out.push(p(format!("{field}[{i}].role"), "is empty"));
            }
        }
    }
}

fn opt_text(out: &mut Vec<Problem>, field: &str, t: &Option<Text>) {
    if let Some(t) = t {
        text(out, field, t);
    }
}

fn finite(out: &mut Vec<Problem>, field: &str, x: Option<f64>) {
    if let Some(x) = x
        && !x.is_finite()
    {
        out.push(p(field, format!("must be a finite number, found {x}")));
    }
}

fn annotations(out: &mut Vec<Problem>, a: &Annotations) {
    finite(out, "strength", a.strength);
    if let Some(s) = a.strength
        && s.is_finite()
        && !(0.0..=1.0).contains(&s)
    {
        out.push(p(
            "strength",
            format!("must be a probability in [0, 1], found {s}"),
        ));
    }
    finite(out, "margin", a.margin);
}

fn ranks(out: &mut Vec<Problem>, field: &str, ranks: &[u32], n: usize, ordered: bool) {
    if ranks.len() != n {
        out.push(p(
            field,
            format!("has {} entries for {n} items", ranks.len()),
        ));
        return;
    }
    if let Some(i) = ranks.iter().position(|&r| r == 0) {
        out.push(p(format!("{field}[{i}]"), "ranks start at 1 (1 = best)"));
    }
    if ordered && let Some(i) = ranks.windows(2).position(|w| w[1] < w[0]) {
        out.push(p(
            format!("{field}[{}]", i + 1),
            "ranks must not decrease: responses are listed best first",
        ));
    }
}

/// Every problem with `record`; empty when it passes.
pub fn check(record: &Record) -> Vec<Problem> {
    let mut out = Vec::new();
    match record {
        Record::Pair(r) => {
            opt_text(&mut out, "prompt", &r.prompt);
            text(&mut out, "chosen", &r.chosen);
            text(&mut out, "rejected", &r.rejected);
            if r.chosen == r.rejected && !r.chosen.is_blank() {
                out.push(p("rejected", "is identical to chosen"));
            }
            if r.prompt.is_some() && r.chosen.is_chat() != r.rejected.is_chat() {
                out.push(p(
                    "rejected",
                    "mixes formats: one of chosen/rejected is text, the other a message list",
                ));
            }
            annotations(&mut out, &r.ann);
        }
        Record::Unpaired(r) => {
            opt_text(&mut out, "prompt", &r.prompt);
            text(&mut out, "completion", &r.completion);
            annotations(&mut out, &r.ann);
        }
        Record::Ranking(r) => {
            opt_text(&mut out, "prompt", &r.prompt);
            if r.responses.len() < 2 {
                out.push(p("responses", "needs at least 2 responses to rank"));
            }
            for (i, t) in r.responses.iter().enumerate() {
                text(&mut out, &format!("responses[{i}]"), t);
            }
            if let Some(rk) = &r.ranks {
                ranks(&mut out, "ranks", rk, r.responses.len(), true);
            }
            annotations(&mut out, &r.ann);
        }
        Record::Rating(r) => {
            opt_text(&mut out, "prompt", &r.prompt);
            text(&mut out, "response", &r.response);
            for (k, v) in &r.scores {
                finite(&mut out, &format!("scores.{k}"), Some(*v));
            }
            finite(&mut out, "overall", r.overall);
            if r.scores.is_empty() && r.overall.is_none() {
                out.push(p("scores", "no attribute score and no overall score"));
            }
            annotations(&mut out, &r.ann);
        }
        Record::Stepwise(r) => {
            text(&mut out, "prompt", &r.prompt);
            if r.completions.is_empty() {
                out.push(p("completions", "has no steps"));
            }
            if r.completions.len() != r.labels.len() {
                out.push(p(
                    "labels",
                    format!(
                        "has {} labels for {} steps",
                        r.labels.len(),
                        r.completions.len()
                    ),
                ));
            }
            for (i, s) in r.completions.iter().enumerate() {
                if s.trim().is_empty() {
                    out.push(p(format!("completions[{i}]"), "is empty"));
                }
            }
            annotations(&mut out, &r.ann);
        }
        Record::Battle(r) => {
            if r.model_a.trim().is_empty() {
                out.push(p("model_a", "is empty"));
            }
            if r.model_b.trim().is_empty() {
                out.push(p("model_b", "is empty"));
            }
            if r.model_a == r.model_b && !r.model_a.trim().is_empty() {
                out.push(p(
                    "model_b",
                    format!(
                        "is the same model as model_a (\"{}\" against itself)",
                        r.model_a
                    ),
                ));
            }
            finite(&mut out, "tstamp", r.tstamp);
            annotations(&mut out, &r.ann);
        }
        Record::Kwise(r) => {
            if r.models.len() < 2 {
                out.push(p("models", "needs at least 2 models"));
            }
            let mut seen = HashSet::new();
            for (i, m) in r.models.iter().enumerate() {
                if m.trim().is_empty() {
                    out.push(p(format!("models[{i}]"), "is empty"));
                } else if !seen.insert(m) {
                    out.push(p(format!("models[{i}]"), format!("\"{m}\" is shown twice")));
                }
            }
            ranks(&mut out, "ranking", &r.ranking, r.models.len(), false);
            opt_text(&mut out, "prompt", &r.prompt);
            finite(&mut out, "tstamp", r.tstamp);
            annotations(&mut out, &r.ann);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::*;

    fn pair(c: &str, r: &str) -> Record {
        Record::Pair(Pair {
            prompt: Some("q".into()),
            chosen: c.into(),
            rejected: r.into(),
            ann: Annotations::default(),
        })
    }

    #[test]
    fn pairs() {
        assert!(check(&pair("a", "b")).is_empty());
        assert_eq!(check(&pair("a", "a"))[0].message, "is identical to chosen");
        assert_eq!(check(&pair(" ", "b"))[0].field, "chosen");
    }

    #[test]
    fn ratings_reject_non_finite_scores() {
        let mut r = Rating {
            prompt: None,
            response: "x".into(),
            model: None,
            scores: [("helpfulness".to_string(), f64::NAN)].into(),
            rationales: Default::default(),
            overall: None,
            ann: Annotations::default(),
        };
        assert_eq!(
            check(&Record::Rating(r.clone()))[0].field,
            "scores.helpfulness"
        );
        r.scores.clear();
        assert_eq!(check(&Record::Rating(r))[0].field, "scores");
    }

    #[test]
    fn battles_and_kwise() {
        let b = Battle::new("m", "m", Winner::Tie);
        assert!(
            check(&Record::Battle(b))[0]
                .message
                .contains("against itself")
        );
        let k = KWise {
            models: vec!["a".into(), "b".into(), "a".into()],
            ranking: vec![1, 2],
            prompt: None,
            judge: None,
            tstamp: None,
            language: None,
            ann: Annotations::default(),
        };
        let probs = check(&Record::Kwise(k));
        assert_eq!(probs.len(), 2, "{probs:?}");
    }

    #[test]
    fn rankings_must_be_ordered() {
        let r = Ranking {
            prompt: None,
            responses: vec!["a".into(), "b".into(), "c".into()],
            ranks: Some(vec![1, 3, 2]),
            ann: Annotations::default(),
        };
        assert_eq!(check(&Record::Ranking(r))[0].field, "ranks[2]");
    }
}
