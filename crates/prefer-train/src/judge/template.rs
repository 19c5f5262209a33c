//! Judge prompts and the parsing of a judge's answer.
//!
//! Two formats, as MT-Bench's LLM-as-a-judge (Zheng et al. 2023, arXiv:2306.05685) asks
//! them and FastChat parses them:
//!
//! - **pairwise**: the judge sees a question and two answers labelled A and B and ends its
//!   reply with `[[A]]`, `[[B]]` or `[[C]]` (a tie);
//! - **single-answer grading**: the judge sees one answer and ends with `Rating: [[k]]`
//!   for `k` on the rubric's scale (1 to 10 by default).
//!
//! The parse is strict where FastChat's is lenient: a reply holding two different verdict
//! tags (`[[A]]` and `[[B]]`) is a failure, not the first tag found, and a reply with none
//! is a failure; a failure keeps the raw text and is never counted as a win or a tie.

use serde::{Deserialize, Serialize};

use super::Verdict;

/// A llama.cpp grammar that lets the judge write only a pairwise verdict tag (`[[A]]`,
/// `[[B]]` or `[[C]]`), for `extra_body = { grammar = ... }` on llama-server.
pub const VERDICT_GRAMMAR: &str = r#"root ::= "[[A]]" | "[[B]]" | "[[C]]""#;

/// The default instruction for pairwise judging (the rubric is appended).
pub const PAIRWISE_SYSTEM: &str = "You are an impartial judge. Compare the two answers \
below to the user's question and decide which one is better. Judge helpfulness, \
relevance, accuracy, depth and clarity. Do not let the order of the answers, their \
length or the assistants' names sway you. Explain briefly, then give your verdict in \
exactly this format: \"[[A]]\" if answer A is better, \"[[B]]\" if answer B is better, \
\"[[C]]\" for a tie.";

/// The default instruction for single-answer grading.
pub const SINGLE_SYSTEM: &str = "You are an impartial judge. Rate the answer below to \
the user's question for helpfulness, relevance, accuracy, depth and clarity. Explain \
briefly, then give your rating in exactly this format: \"Rating: [[k]]\" where k is an \
integer on the scale given.";

/// How a judge is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// The system message (default: [`PAIRWISE_SYSTEM`] or [`SINGLE_SYSTEM`]).
    #[serde(default)]
    pub system: Option<String>,
    /// Extra criteria appended to the system message (e.g. a task's rubric).
    #[serde(default)]
    pub rubric: Option<String>,
    /// Single-answer grading scale `[lo, hi]` (default `[1, 10]`, MT-Bench's).
    #[serde(default = "default_scale")]
    pub scale: [i64; 2],
}

fn default_scale() -> [i64; 2] {
    [1, 10]
}

impl Default for Template {
    fn default() -> Self {
        Template {
            system: None,
            rubric: None,
            scale: default_scale(),
        }
    }
}

impl Template {
    fn system(&self, default: &str) -> String {
        let base = self.system.as_deref().unwrap_or(default);
        match &self.rubric {
            Some(r) => format!("{base}\n\nRubric: {r}"),
            None => base.to_string(),
        }
    }

    /// `(system, user)` messages asking which of `a`, `b` better answers `question`.
    pub fn pairwise(&self, question: &str, a: &str, b: &str) -> (String, String) {
        let user = format!(
            "[User Question]\n{question}\n\n\
             [The Start of Answer A]\n{a}\n[The End of Answer A]\n\n\
             [The Start of Answer B]\n{b}\n[The End of Answer B]"
        );
        (self.system(PAIRWISE_SYSTEM), user)
    }

    /// `(system, user)` messages asking for a rating of `answer`.
    pub fn single(&self, question: &str, answer: &str) -> (String, String) {
        let [lo, hi] = self.scale;
        let user = format!(
            "[User Question]\n{question}\n\n[The Start of the Answer]\n{answer}\n\
             [The End of the Answer]\n\nScale: {lo} to {hi}."
        );
        (self.system(SINGLE_SYSTEM), user)
    }
}

/// The pairwise verdict in `text`: `Ok` when exactly one kind of tag (`[[A]]`, `[[B]]`,
/// `[[C]]`) occurs, otherwise the reason it could not be parsed.
pub fn parse_pairwise(text: &str) -> Result<Verdict, String> {
    let found: Vec<Verdict> = [
        ("[[A]]", Verdict::A),
        ("[[B]]", Verdict::B),
        ("[[C]]", Verdict::Tie),
    ]
    .into_iter()
    .filter(|(tag, _)| text.contains(tag))
    .map(|(_, v)| v)
    .collect();
    match found.as_slice() {
        [v] => Ok(*v),
        [] => Err("no verdict tag ([[A]], [[B]] or [[C]]) in the reply".into()),
        _ => Err("more than one verdict tag in the reply".into()),
    }
}

/// The rating in `text` (`Rating: [[k]]`, or the last `[[k]]`), checked against `scale`.
pub fn parse_rating(text: &str, scale: [i64; 2]) -> Result<f64, String> {
    let mut last = None;
    let mut rest = text;
    while let Some(open) = rest.find("[[") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("]]") else { break };
        if let Ok(v) = after[..close].trim().parse::<f64>() {
            last = Some(v);
        }
        rest = &after[close + 2..];
    }
    let v = last.ok_or_else(|| "no rating [[k]] in the reply".to_string())?;
    if !v.is_finite() || v < scale[0] as f64 || v > scale[1] as f64 {
        return Err(format!(
            "rating {v} is outside the scale {}..{}",
            scale[0], scale[1]
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_tags_parse_strictly() {
        assert_eq!(parse_pairwise("A is clearer. [[A]]"), Ok(Verdict::A));
        assert_eq!(parse_pairwise("[[B]]"), Ok(Verdict::B));
        assert_eq!(parse_pairwise("Both fine [[C]]"), Ok(Verdict::Tie));
        assert!(parse_pairwise("I prefer A").is_err());
        assert!(parse_pairwise("[[A]] no wait [[B]]").is_err());
        assert_eq!(parse_pairwise("[[A]] final: [[A]]"), Ok(Verdict::A));
    }

    #[test]
    fn ratings_parse_and_are_checked_against_the_scale() {
        assert_eq!(parse_rating("Good. Rating: [[7]]", [1, 10]), Ok(7.0));
        assert_eq!(parse_rating("[[3]] then Rating: [[8.5]]", [1, 10]), Ok(8.5));
        assert!(parse_rating("Rating: [[11]]", [1, 10]).is_err());
        assert!(parse_rating("Rating: 7", [1, 10]).is_err());
        assert!(parse_rating("[[x]]", [1, 10]).is_err());
    }

    #[test]
    fn prompts_carry_question_answers_and_rubric() {
        let t = Template {
            rubric: Some("be kind".into()),
            ..Template::default()
        };
        let (s, u) = t.pairwise("Q?", "one", "two");
        assert!(s.contains("[[C]]") && s.ends_with("Rubric: be kind"));
        let a = u.find("one").unwrap_or(usize::MAX);
        let b = u.find("two").unwrap_or(0);
        assert!(u.starts_with("[User Question]\nQ?") && a < b);
        let (_, u) = t.single("Q?", "one");
        assert!(u.ends_with("Scale: 1 to 10."));
    }
}
