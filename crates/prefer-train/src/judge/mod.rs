//! Judges: who says which of two answers is better.
//!
//! A [`PairJudge`] answers [`PairQuery`]s (a prompt and answers A and B) with a
//! [`Judgment`]: a [`Verdict`] or a failure that keeps the judge's raw text and the
//! reason, never scored as a win or a tie. The kinds:
//!
//! - [`LlmJudge`]: an LLM asked with a [template](template) (MT-Bench's pairwise format,
//!   `[[A]]` / `[[B]]` / `[[C]]`) over an OpenAI-compatible [endpoint] (llama.cpp's
//!   `llama-server`, vLLM, OpenAI) with retries, timeouts, a concurrency limit and a
//!   request-keyed [cache];
//! - [`RewardJudge`]: any [`RewardSource`](crate::reward::RewardSource) (a BT reward
//!   model, a rule) as `P(A ≻ B) = σ(r_A − r_B)`: the verdict is the larger reward.
//!
//! [`judge_both_orders`] asks each pair twice, A/B and B/A, to cancel position bias
//! (Zheng et al. 2023): two agreeing answers give the verdict, two disagreeing ones a tie
//! (FastChat's rule), a failure in either order a failure. [`Report`] says how a run
//! went: verdict counts, the failure rate, position consistency, agreement with labels
//! (human votes) where there are labels, and the cost per 1,000 judgments.

pub mod bench;
pub mod cache;
pub mod endpoint;
pub mod template;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::reward::RewardSource;
use endpoint::{Endpoint, EndpointConfig, Usage};

/// Which answer won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Answer A.
    A,
    /// Answer B.
    B,
    /// Neither.
    Tie,
}

impl Verdict {
    /// The verdict with A and B exchanged.
    pub fn swap(self) -> Verdict {
        match self {
            Verdict::A => Verdict::B,
            Verdict::B => Verdict::A,
            Verdict::Tie => Verdict::Tie,
        }
    }

    /// A's score: 1 for a win, ½ for a tie, 0 for a loss.
    pub fn score_a(self) -> f64 {
        match self {
            Verdict::A => 1.0,
            Verdict::B => 0.0,
            Verdict::Tie => 0.5,
        }
    }
}

/// A question and two answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairQuery {
    /// The question.
    pub prompt: String,
    /// Answer A.
    pub a: String,
    /// Answer B.
    pub b: String,
}

/// One judgment: a verdict, or the reason there is none, with the judge's own text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgment {
    /// The verdict (`None`: a failure).
    pub verdict: Option<Verdict>,
    /// Why there is no verdict (a reply that did not parse, an endpoint that failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The judge's reply as given (empty when there was none).
    #[serde(default)]
    pub raw: String,
}

impl Judgment {
    /// A verdict with its raw text.
    pub fn ok(verdict: Verdict, raw: String) -> Self {
        Judgment {
            verdict: Some(verdict),
            failure: None,
            raw,
        }
    }

    /// A failure with its reason and raw text.
    pub fn failed(why: String, raw: String) -> Self {
        Judgment {
            verdict: None,
            failure: Some(why),
            raw,
        }
    }
}

/// Says which of two answers is better.
pub trait PairJudge: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> String;

    /// One judgment per query, in order. An `Err` is a failure of the whole call (a
    /// judge that cannot run at all); a query the judge could not answer is a
    /// [`Judgment::failed`].
    fn judge(&self, queries: &[PairQuery]) -> Result<Vec<Judgment>>;

    /// What the judge has cost so far (requests, tokens, seconds).
    fn usage(&self) -> Usage {
        Usage::default()
    }
}

/// An LLM behind an OpenAI-compatible endpoint, asked in MT-Bench's pairwise format.
pub struct LlmJudge {
    endpoint: Endpoint,
}

impl LlmJudge {
    /// The judge for `cfg` (opens the cache; sends nothing).
    pub fn new(cfg: EndpointConfig) -> Result<Self> {
        Ok(LlmJudge {
            endpoint: Endpoint::new(cfg)?,
        })
    }

    /// The client.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl PairJudge for LlmJudge {
    fn name(&self) -> String {
        format!("llm:{}", self.endpoint.config().model)
    }

    fn judge(&self, queries: &[PairQuery]) -> Result<Vec<Judgment>> {
        let t = &self.endpoint.config().template;
        let msgs: Vec<(String, String)> = queries
            .iter()
            .map(|q| t.pairwise(&q.prompt, &q.a, &q.b))
            .collect();
        Ok(self
            .endpoint
            .complete_many(&msgs)
            .into_iter()
            .map(|r| match r {
                Ok(reply) => match template::parse_pairwise(&reply.content) {
                    Ok(v) => Judgment::ok(v, reply.content),
                    Err(why) => Judgment::failed(why, reply.content),
                },
                Err(why) => Judgment::failed(format!("endpoint: {why}"), String::new()),
            })
            .collect())
    }

    fn usage(&self) -> Usage {
        self.endpoint.usage()
    }
}

/// A reward source as a judge: the answer with the larger reward wins (a BT reward
/// model's `P(A ≻ B) = σ(r_A − r_B)` thresholded at ½); equal rewards are a tie.
pub struct RewardJudge {
    source: Box<dyn RewardSource + Send + Sync>,
}

impl RewardJudge {
    /// The judge scoring with `source`.
    pub fn new(source: Box<dyn RewardSource + Send + Sync>) -> Self {
        RewardJudge { source }
    }
}

impl PairJudge for RewardJudge {
    fn name(&self) -> String {
        format!("reward:{}", self.source.name())
    }

    fn judge(&self, queries: &[PairQuery]) -> Result<Vec<Judgment>> {
        let prompts: Vec<String> = queries
            .iter()
            .flat_map(|q| [q.prompt.clone(), q.prompt.clone()])
            .collect();
        let answers: Vec<String> = queries
            .iter()
            .flat_map(|q| [q.a.clone(), q.b.clone()])
            .collect();
        let s = crate::reward::score_checked(self.source.as_ref(), &prompts, &answers)?;
        Ok(s.chunks(2)
            .map(|r| {
                let v = match r[0].partial_cmp(&r[1]) {
                    Some(std::cmp::Ordering::Greater) => Verdict::A,
                    Some(std::cmp::Ordering::Less) => Verdict::B,
                    _ => Verdict::Tie,
                };
                Judgment::ok(v, format!("{} vs {}", r[0], r[1]))
            })
            .collect())
    }
}

/// A pair judged in both orders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Swapped {
    /// The combined verdict (`None`: either order failed).
    pub verdict: Option<Verdict>,
    /// Whether both orders gave the same verdict (`None`: either failed).
    pub consistent: Option<bool>,
    /// The judgment of (A, B).
    pub first: Judgment,
    /// The judgment of (B, A), in its own labels.
    pub second: Judgment,
}

/// Judges every pair as (A, B) and as (B, A) and combines the two (see the module docs).
pub fn judge_both_orders(judge: &dyn PairJudge, queries: &[PairQuery]) -> Result<Vec<Swapped>> {
    let mut both: Vec<PairQuery> = queries.to_vec();
    both.extend(queries.iter().map(|q| PairQuery {
        prompt: q.prompt.clone(),
        a: q.b.clone(),
        b: q.a.clone(),
    }));
    let mut js = judge.judge(&both)?;
    let second = js.split_off(queries.len());
    Ok(js.into_iter().zip(second).map(combine).collect())
}

/// The combined verdict of (A, B) and (B, A) judgments.
pub fn combine((first, second): (Judgment, Judgment)) -> Swapped {
    let (verdict, consistent) = match (first.verdict, second.verdict) {
        (Some(x), Some(y)) if x == y.swap() => (Some(x), Some(true)),
        (Some(_), Some(_)) => (Some(Verdict::Tie), Some(false)),
        _ => (None, None),
    };
    Swapped {
        verdict,
        consistent,
        first,
        second,
    }
}

/// How a judge run went.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Pairs judged.
    pub pairs: usize,
    /// Verdicts for A, for B, ties.
    pub wins_a: usize,
    /// Verdicts for B.
    pub wins_b: usize,
    /// Ties.
    pub ties: usize,
    /// Pairs without a verdict.
    pub failures: usize,
    /// `failures / pairs`.
    pub failure_rate: f64,
    /// Share of pairs judged in both orders whose two verdicts agree (`None` when the
    /// run judged one order).
    pub position_consistency: Option<f64>,
    /// Share of labelled, judged pairs whose verdict equals the label (`None`: no labels).
    pub agreement: Option<f64>,
    /// The same without the pairs where the label or the verdict is a tie.
    pub agreement_without_ties: Option<f64>,
    /// Labelled pairs that were judged.
    pub labelled: usize,
    /// What the judge cost.
    pub usage: Usage,
    /// Endpoint tokens (prompt + completion) per 1,000 judgments.
    pub tokens_per_1000: f64,
    /// Seconds waiting for the endpoint per 1,000 judgments.
    pub seconds_per_1000: f64,
}

/// The report of `verdicts` (one per pair; `consistent` when judged in both orders),
/// against `labels` where given.
pub fn report(
    verdicts: &[Option<Verdict>],
    consistent: Option<&[Option<bool>]>,
    labels: Option<&[Option<Verdict>]>,
    usage: Usage,
) -> Report {
    let count = |v: Verdict| verdicts.iter().filter(|x| **x == Some(v)).count();
    let failures = verdicts.iter().filter(|x| x.is_none()).count();
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    let position_consistency = consistent.and_then(|c| {
        let judged: Vec<bool> = c.iter().flatten().copied().collect();
        ratio(judged.iter().filter(|x| **x).count(), judged.len())
    });
    let (mut hit, mut n, mut hit_nt, mut n_nt) = (0, 0, 0, 0);
    if let Some(labels) = labels {
        for (v, l) in verdicts.iter().zip(labels) {
            if let (Some(v), Some(l)) = (v, l) {
                n += 1;
                hit += usize::from(v == l);
                if *v != Verdict::Tie && *l != Verdict::Tie {
                    n_nt += 1;
                    hit_nt += usize::from(v == l);
                }
            }
        }
    }
    let judgments = (usage.answered + usage.failed).max(1) as f64;
    Report {
        pairs: verdicts.len(),
        wins_a: count(Verdict::A),
        wins_b: count(Verdict::B),
        ties: count(Verdict::Tie),
        failures,
        failure_rate: ratio(failures, verdicts.len()).unwrap_or(0.0),
        position_consistency,
        agreement: labels.and(ratio(hit, n)),
        agreement_without_ties: labels.and(ratio(hit_nt, n_nt)),
        labelled: n,
        tokens_per_1000: (usage.prompt_tokens + usage.completion_tokens) as f64 * 1000.0
            / judgments,
        seconds_per_1000: usage.seconds * 1000.0 / judgments,
        usage,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod tests {
    use super::*;
    use crate::reward::Length;

    /// A judge that always prefers the first answer shown: all position bias.
    struct First;
    impl PairJudge for First {
        fn name(&self) -> String {
            "first".into()
        }
        fn judge(&self, q: &[PairQuery]) -> Result<Vec<Judgment>> {
            Ok(q.iter()
                .map(|q| {
                    if q.a == "broken" || q.b == "broken" {
                        Judgment::failed("no tag".into(), "hm".into())
                    } else {
                        Judgment::ok(Verdict::A, "[[A]]".into())
                    }
                })
                .collect())
        }
    }

    fn q(a: &str, b: &str) -> PairQuery {
        PairQuery {
            prompt: "p".into(),
            a: a.into(),
            b: b.into(),
        }
    }

    #[test]
    fn swapping_turns_pure_position_bias_into_ties_and_keeps_failures() {
        let s = judge_both_orders(&First, &[q("x", "y"), q("x", "broken")]).unwrap();
        assert_eq!(s[0].verdict, Some(Verdict::Tie));
        assert_eq!(s[0].consistent, Some(false));
        assert_eq!(s[1].verdict, None);
        assert_eq!(s[1].first.raw, "hm");
        let v: Vec<_> = s.iter().map(|x| x.verdict).collect();
        let c: Vec<_> = s.iter().map(|x| x.consistent).collect();
        let r = report(&v, Some(&c), None, Usage::default());
        assert_eq!((r.ties, r.failures, r.failure_rate), (1, 1, 0.5));
        assert_eq!(r.position_consistency, Some(0.0));
        assert_eq!(r.agreement, None);
    }

    #[test]
    fn a_consistent_reward_judge_agrees_with_itself_in_both_orders() {
        // Length with target 3: closer to 3 words wins.
        let j = RewardJudge::new(Box::new(Length { target: 3 }));
        let qs = [q("a b c", "a"), q("a", "a b c"), q("a b", "a b")];
        let s = judge_both_orders(&j, &qs).unwrap();
        let v: Vec<_> = s.iter().map(|x| x.verdict).collect();
        assert_eq!(
            v,
            vec![Some(Verdict::A), Some(Verdict::B), Some(Verdict::Tie)]
        );
        let c: Vec<_> = s.iter().map(|x| x.consistent).collect();
        let labels = [Some(Verdict::A), Some(Verdict::A), Some(Verdict::Tie)];
        let r = report(&v, Some(&c), Some(&labels), Usage::default());
        assert_eq!(r.position_consistency, Some(1.0));
        assert_eq!(r.agreement, Some(2.0 / 3.0));
        assert_eq!(r.agreement_without_ties, Some(0.5));
    }

    #[test]
    fn cost_per_thousand_counts_failed_judgments_too() {
        let u = Usage {
            answered: 3,
            failed: 1,
            prompt_tokens: 300,
            completion_tokens: 100,
            seconds: 2.0,
            ..Usage::default()
        };
        let r = report(&[Some(Verdict::A), None], None, None, u);
        assert_eq!(r.tokens_per_1000, 100_000.0);
        assert_eq!(r.seconds_per_1000, 500.0);
        assert_eq!(r.position_consistency, None);
    }
}
