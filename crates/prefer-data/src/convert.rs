//! Conversions between shapes.
//!
//! | from | to | function |
//! |---|---|---|
//! | ratings (several responses per prompt) | pairs | [`Binarizer`] (UltraFeedback binarization, or all pairs with margin) |
//! | ranking | pairs | [`ranking_to_pairs`] (all or adjacent) |
//! | K-wise vote | battles | [`kwise_to_battles`] |
//! | battle-style votes of several annotators | one label | [`aggregate_pairs`] (majority or soft) |
//! | pair | two unpaired labels | [`pair_to_unpaired`] |
//! | implicit-prompt pair | explicit prompt | [`explicit_prompt`] |
//! | HH-RLHF transcript | messages | [`transcript_to_messages`] |

use std::collections::HashMap;

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::layout::Aggregate;
use crate::record::{
    Annotations, Battle, KWise, Message, Pair, Ranking, Rating, Text, Unpaired, Winner,
};

/// Which responses of a prompt become pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PairMode {
    /// UltraFeedback binarization (HuggingFaceH4/ultrafeedback_binarized): the best
    /// response is chosen, one of the responses scored strictly lower, drawn at random, is
    /// rejected. One pair per prompt; prompts whose responses all tie give none.
    #[default]
    BestVsRandom,
    /// Every two responses with different scores, the better one chosen, with
    /// `margin` = the score gap.
    AllPairs,
}

/// Which score orders the responses of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScoreBy {
    /// `overall` when present, else the mean of the attribute scores.
    #[default]
    OverallOrMean,
    /// The mean of the attribute scores.
    Mean,
    /// One attribute.
    Attribute(String),
}

impl ScoreBy {
    /// The score of a rating, or `None` when it lacks what is asked.
    pub fn score(&self, r: &Rating) -> Option<f64> {
        let mean = || {
            (!r.scores.is_empty()).then(|| r.scores.values().sum::<f64>() / r.scores.len() as f64)
        };
        match self {
            ScoreBy::OverallOrMean => r.overall.or_else(mean),
            ScoreBy::Mean => mean(),
            ScoreBy::Attribute(a) => r.scores.get(a).copied(),
        }
    }
}

/// Turns ratings into pairs, one prompt at a time: feed ratings in file order with
/// [`Binarizer::push`]; responses of one prompt must be consecutive (as UltraFeedback and
/// HelpSteer2 store them). Call [`Binarizer::finish`] at the end.
#[derive(Debug)]
pub struct Binarizer {
    mode: PairMode,
    score: ScoreBy,
    rng: ChaCha8Rng,
    group: Vec<Rating>,
}

impl Binarizer {
    /// A binarizer; `seed` makes the random choice of rejected response reproducible.
    pub fn new(mode: PairMode, score: ScoreBy, seed: u64) -> Self {
        Self {
            mode,
            score,
            rng: ChaCha8Rng::seed_from_u64(seed),
            group: Vec::new(),
        }
    }

    fn same_group(a: &Rating, b: &Rating) -> bool {
        match (&a.ann.id, &b.ann.id) {
            (Some(x), Some(y)) => x == y,
            _ => a.prompt == b.prompt,
        }
    }

    /// Adds one rating; returns the pairs of the previous prompt when this one starts a
    /// new prompt.
    ///
    /// # Errors
    /// The rating lacks the score asked for (the message names it).
    pub fn push(&mut self, r: Rating) -> Result<Vec<Pair>, String> {
        if self.score.score(&r).is_none() {
            return Err(match &self.score {
                ScoreBy::Attribute(a) => format!("no `{a}` score"),
                _ => "no overall or attribute score".into(),
            });
        }
        let out = match self.group.last() {
            Some(last) if !Self::same_group(last, &r) => self.flush(),
            _ => Vec::new(),
        };
        self.group.push(r);
        Ok(out)
    }

    /// The pairs of the last prompt.
    pub fn finish(&mut self) -> Vec<Pair> {
        self.flush()
    }

    fn flush(&mut self) -> Vec<Pair> {
        let group = std::mem::take(&mut self.group);
        let scored: Vec<(f64, Rating)> = group
            .into_iter()
            .filter_map(|r| self.score.score(&r).map(|s| (s, r)))
            .collect();
        let mut out = Vec::new();
        let make = |c: &(f64, Rating), r: &(f64, Rating)| Pair {
            prompt: c.1.prompt.clone(),
            chosen: c.1.response.clone(),
            rejected: r.1.response.clone(),
            ann: Annotations {
                id: c.1.ann.id.clone(),
                margin: Some(c.0 - r.0),
                source: c.1.ann.source.clone(),
                extra: [
                    ("score_chosen".to_string(), Value::from(c.0)),
                    ("score_rejected".to_string(), Value::from(r.0)),
                ]
                .into_iter()
                .chain(
                    c.1.model
                        .as_ref()
                        .map(|m| ("chosen_model".into(), Value::from(m.as_str()))),
                )
                .chain(
                    r.1.model
                        .as_ref()
                        .map(|m| ("rejected_model".into(), Value::from(m.as_str()))),
                )
                .collect(),
                ..Default::default()
            },
        };
        match self.mode {
            PairMode::BestVsRandom => {
                // The first of the best-scored responses, as Python's max() picks.
                let Some(best) =
                    scored
                        .iter()
                        .enumerate()
                        .fold(None::<usize>, |b, (i, s)| match b {
                            Some(j) if scored[j].0 >= s.0 => Some(j),
                            _ => Some(i),
                        })
                else {
                    return out;
                };
                let lower: Vec<usize> = (0..scored.len())
                    .filter(|&i| scored[i].0 < scored[best].0)
                    .collect();
                if !lower.is_empty() {
                    let j = lower[self.rng.random_range(0..lower.len())];
                    out.push(make(&scored[best], &scored[j]));
                }
            }
            PairMode::AllPairs => {
                for i in 0..scored.len() {
                    for j in i + 1..scored.len() {
                        if scored[i].0 > scored[j].0 {
                            out.push(make(&scored[i], &scored[j]));
                        } else if scored[j].0 > scored[i].0 {
                            out.push(make(&scored[j], &scored[i]));
                        }
                    }
                }
            }
        }
        out
    }
}

/// Which pairs a ranking gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RankPairs {
    /// Every two responses of different rank (K(K-1)/2 for a strict ranking).
    #[default]
    All,
    /// Responses of adjacent rank levels only (K-1 for a strict ranking).
    Adjacent,
}

/// The pairs a ranking implies: the better-ranked response chosen. Tied responses give
/// no pair.
pub fn ranking_to_pairs(r: &Ranking, mode: RankPairs) -> Vec<Pair> {
    let ranks = r.effective_ranks();
    let mut levels: Vec<u32> = ranks.clone();
    levels.sort_unstable();
    levels.dedup();
    let level_of = |rank: u32| levels.iter().position(|&l| l == rank).unwrap_or(0);
    let mut out = Vec::new();
    for i in 0..r.responses.len() {
        for j in 0..r.responses.len() {
            if ranks[i] >= ranks[j] {
                continue;
            }
            if mode == RankPairs::Adjacent && level_of(ranks[j]) != level_of(ranks[i]) + 1 {
                continue;
            }
            out.push(Pair {
                prompt: r.prompt.clone(),
                chosen: r.responses[i].clone(),
                rejected: r.responses[j].clone(),
                ann: Annotations {
                    id: r.ann.id.clone(),
                    user_id: r.ann.user_id.clone(),
                    context: r.ann.context.clone(),
                    source: r.ann.source.clone(),
                    ..Default::default()
                },
            });
        }
    }
    out
}

/// The battles a K-wise vote implies: every two models shown, in display order; equal
/// ranks are ties. (K-Sort Arena splits a K-wise vote into K(K-1)/2 pairwise results the
/// same way.)
pub fn kwise_to_battles(k: &KWise) -> Vec<Battle> {
    let mut out = Vec::new();
    for i in 0..k.models.len() {
        for j in i + 1..k.models.len() {
            let (ri, rj) = (k.ranking[i], k.ranking[j]);
            let winner = match ri.cmp(&rj) {
                std::cmp::Ordering::Less => Winner::ModelA,
                std::cmp::Ordering::Greater => Winner::ModelB,
                std::cmp::Ordering::Equal => Winner::Tie,
            };
            let mut b = Battle::new(k.models[i].clone(), k.models[j].clone(), winner);
            b.judge = k.judge.clone();
            b.tstamp = k.tstamp;
            b.language = k.language.clone();
            b.ann.id = k.ann.id.clone();
            out.push(b);
        }
    }
    out
}

/// A desirable and an undesirable unpaired label from one pair (KTO's conversion).
pub fn pair_to_unpaired(p: &Pair) -> [Unpaired; 2] {
    let ann = Annotations {
        id: p.ann.id.clone(),
        user_id: p.ann.user_id.clone(),
        context: p.ann.context.clone(),
        source: p.ann.source.clone(),
        ..Default::default()
    };
    [
        Unpaired {
            prompt: p.prompt.clone(),
            completion: p.chosen.clone(),
            label: true,
            ann: ann.clone(),
        },
        Unpaired {
            prompt: p.prompt.clone(),
            completion: p.rejected.clone(),
            label: false,
            ann,
        },
    ]
}

/// The turn boundary of Anthropic HH-RLHF transcripts.
pub const HH_ASSISTANT: &str = "\n\nAssistant:";
/// The user-turn marker of Anthropic HH-RLHF transcripts.
pub const HH_HUMAN: &str = "\n\nHuman:";

/// Splits an implicit-prompt pair (whole transcripts in chosen and rejected) into an
/// explicit prompt: the shared prefix up to and including the last `marker` (the turn
/// boundary) they share; chosen and rejected keep what follows. Conversational pairs: the
/// prompt is the longest shared run of messages.
///
/// # Errors
/// The transcripts share no turn boundary, or one of them would be left empty.
pub fn explicit_prompt(p: Pair, marker: &str) -> Result<Pair, String> {
    if p.prompt.is_some() {
        return Ok(p);
    }
    let (prompt, chosen, rejected) = match (&p.chosen, &p.rejected) {
        (Text::Plain(c), Text::Plain(r)) => {
            let common = c
                .char_indices()
                .zip(r.chars())
                .find(|((_, a), b)| a != b)
                .map_or(c.len().min(r.len()), |((i, _), _)| i);
            let shared = &c[..common];
            let Some(at) = shared.rfind(marker) else {
                return Err(format!(
                    "chosen and rejected share no turn boundary `{}` to split the prompt at",
                    marker.escape_debug()
                ));
            };
            let cut = at + marker.len();
            (
                Text::Plain(c[..cut].to_string()),
                Text::Plain(c[cut..].to_string()),
                Text::Plain(r[cut..].to_string()),
            )
        }
        (Text::Chat(c), Text::Chat(r)) => {
            let common = c.iter().zip(r).take_while(|(a, b)| a == b).count();
            (
                Text::Chat(c[..common].to_vec()),
                Text::Chat(c[common..].to_vec()),
                Text::Chat(r[common..].to_vec()),
            )
        }
        _ => return Err("chosen and rejected mix text and message lists".into()),
    };
    if prompt.is_blank() {
        return Err("chosen and rejected share no prompt".into());
    }
    if chosen.is_blank() || rejected.is_blank() {
        return Err("after the shared prompt, chosen or rejected is empty".into());
    }
    Ok(Pair {
        prompt: Some(prompt),
        chosen,
        rejected,
        ann: p.ann,
    })
}

/// Parses an HH-RLHF transcript (`\n\nHuman: ...\n\nAssistant: ...`) into messages with
/// roles `user` and `assistant`. Text before the first marker is kept as a `system`
/// message when not blank.
pub fn transcript_to_messages(t: &str) -> Vec<Message> {
    let mut out = Vec::new();
    let mut rest = t;
    let mut role: Option<&str> = None;
    loop {
        let h = rest.find(HH_HUMAN).map(|i| (i, HH_HUMAN, "user"));
        let a = rest
            .find(HH_ASSISTANT)
            .map(|i| (i, HH_ASSISTANT, "assistant"));
        let next = match (h, a) {
            (Some(x), Some(y)) => Some(if x.0 <= y.0 { x } else { y }),
            (x, y) => x.or(y),
        };
        let (end, marker, next_role) = match next {
            Some(n) => n,
            None => (rest.len(), "", "user"),
        };
        let content = rest[..end].trim();
        match role {
            Some(r) => out.push(Message::new(r, content)),
            None if !content.is_empty() => out.push(Message::new("system", content)),
            None => {}
        }
        if marker.is_empty() {
            break;
        }
        role = Some(next_role);
        rest = &rest[end + marker.len()..];
    }
    // A transcript ending in "Assistant:" (a prompt) has an empty last turn: drop it.
    if out.last().is_some_and(|m| m.content.is_empty()) {
        out.pop();
    }
    out
}

/// Converts standard-text prompt/chosen/rejected written as HH transcripts into
/// conversational messages.
pub fn pair_to_chat(p: Pair) -> Pair {
    let to_chat = |t: Text| match t {
        Text::Plain(s) => Text::Chat(transcript_to_messages(&s)),
        chat => chat,
    };
    let mut p = p;
    let prompt_plain = matches!(p.prompt, Some(Text::Plain(_)));
    p.prompt = p.prompt.map(to_chat);
    if prompt_plain {
        // A completion after an explicit prompt is the assistant's turn without marker.
        let as_reply = |t: Text| match t {
            Text::Plain(s) if !s.contains(HH_HUMAN) => {
                Text::Chat(vec![Message::new("assistant", s.trim())])
            }
            other => to_chat(other),
        };
        p.chosen = as_reply(p.chosen);
        p.rejected = as_reply(p.rejected);
    } else {
        p.chosen = to_chat(p.chosen);
        p.rejected = to_chat(p.rejected);
    }
    p
}

/// Several annotators' pairs of one item become one pair. Items are grouped by `id`, or
/// by prompt and the unordered two responses when there is no id. Each record is one
/// vote: chosen over rejected, or a tie when its `strength` is 0.5.
///
/// Returns the aggregated pairs (in first-seen order) and the items left out with the
/// reason (no majority under [`Aggregate::Majority`]).
pub fn aggregate_pairs(pairs: Vec<Pair>, agg: Aggregate) -> (Vec<Pair>, Vec<(Pair, String)>) {
    if agg == Aggregate::Each {
        return (pairs, Vec::new());
    }
    let key = |p: &Pair| -> String {
        match &p.ann.id {
            Some(id) => format!("id:{id}"),
            None => {
                let (a, b) = (
                    serde_json::to_string(&p.chosen).unwrap_or_default(),
                    serde_json::to_string(&p.rejected).unwrap_or_default(),
                );
                let (a, b) = if a <= b { (a, b) } else { (b, a) };
                format!(
                    "{}\u{0}{a}\u{0}{b}",
                    serde_json::to_string(&p.prompt).unwrap_or_default()
                )
            }
        }
    };
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<Pair>> = HashMap::new();
    for p in pairs {
        let k = key(&p);
        groups
            .entry(k.clone())
            .or_insert_with(|| {
                order.push(k);
                Vec::new()
            })
            .push(p);
    }
    let mut out = Vec::new();
    let mut left_out = Vec::new();
    for k in order {
        let Some(votes) = groups.remove(&k) else {
            continue;
        };
        let first = &votes[0];
        // Votes for the first record's chosen side, against it, and ties.
        let (mut pro, mut con, mut tie) = (0usize, 0usize, 0usize);
        for v in &votes {
            if v.ann.strength == Some(0.5) {
                tie += 1;
            } else if v.chosen == first.chosen {
                pro += 1;
            } else {
                con += 1;
            }
        }
        let n = votes.len() as f64;
        let share = (pro as f64 + 0.5 * tie as f64) / n;
        let mut base = first.clone();
        let flip = |mut p: Pair| {
            std::mem::swap(&mut p.chosen, &mut p.rejected);
            p
        };
        base.ann.user_id = None;
        base.ann.extra.insert(
            "votes".into(),
            serde_json::json!({"for": pro, "against": con, "tie": tie}),
        );
        match agg {
            Aggregate::Majority => {
                if pro > con && pro > tie {
                    base.ann.strength = None;
                    out.push(base);
                } else if con > pro && con > tie {
                    base.ann.strength = None;
                    out.push(flip(base));
                } else {
                    left_out.push((
                        base,
                        format!("no majority preference (for {pro}, against {con}, tie {tie})"),
                    ));
                }
            }
            Aggregate::Soft => {
                if share >= 0.5 {
                    base.ann.strength = Some(share);
                    out.push(base);
                } else {
                    base.ann.strength = Some(1.0 - share);
                    out.push(flip(base));
                }
            }
            // Returned unchanged above.
            Aggregate::Each => {}
        }
    }
    (out, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rating(prompt: &str, resp: &str, overall: f64) -> Rating {
        Rating {
            prompt: Some(prompt.into()),
            response: resp.into(),
            model: None,
            scores: BTreeMap::new(),
            rationales: BTreeMap::new(),
            overall: Some(overall),
            ann: Annotations::default(),
        }
    }

    #[test]
    fn best_vs_random_picks_best_and_a_strictly_lower_one() {
        let mut seen_rejected = std::collections::HashSet::new();
        for seed in 0..50 {
            let mut b = Binarizer::new(PairMode::BestVsRandom, ScoreBy::default(), seed);
            let mut out = Vec::new();
            for (r, s) in [("a", 3.0), ("b", 9.0), ("c", 9.0), ("d", 1.0)] {
                out.extend(b.push(rating("q", r, s)).unwrap());
            }
            out.extend(b.push(rating("q2", "x", 5.0)).unwrap());
            out.extend(b.push(rating("q2", "y", 5.0)).unwrap());
            out.extend(b.finish());
            // q2's responses all tie: no pair.
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].chosen, Text::from("b"));
            seen_rejected.insert(out[0].rejected.flat());
        }
        let expected: std::collections::HashSet<String> = ["a", "d"].map(String::from).into();
        assert_eq!(seen_rejected, expected);
    }

    #[test]
    fn all_pairs_with_margins() {
        let mut b = Binarizer::new(PairMode::AllPairs, ScoreBy::default(), 0);
        for (r, s) in [("a", 3.0), ("b", 9.0), ("c", 9.0), ("d", 1.0)] {
            assert!(b.push(rating("q", r, s)).unwrap().is_empty());
        }
        let out = b.finish();
        // 6 pairs minus the tie b=c.
        assert_eq!(out.len(), 5);
        let bd = out
            .iter()
            .find(|p| p.chosen == Text::from("b") && p.rejected == Text::from("d"))
            .unwrap();
        assert_eq!(bd.ann.margin, Some(8.0));
    }

    #[test]
    fn rankings_all_and_adjacent_with_ties() {
        let r = Ranking {
            prompt: Some("q".into()),
            responses: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            ranks: Some(vec![1, 2, 2, 3]),
            ann: Annotations::default(),
        };
        // All: a>b, a>c, a>d, b>d, c>d.
        assert_eq!(ranking_to_pairs(&r, RankPairs::All).len(), 5);
        // Adjacent levels: a>b, a>c, b>d, c>d.
        assert_eq!(ranking_to_pairs(&r, RankPairs::Adjacent).len(), 4);
        let strict = Ranking { ranks: None, ..r };
        assert_eq!(ranking_to_pairs(&strict, RankPairs::All).len(), 6);
        assert_eq!(ranking_to_pairs(&strict, RankPairs::Adjacent).len(), 3);
    }

    #[test]
    fn kwise_splits_into_all_pairs() {
        let k = KWise {
            models: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            ranking: vec![2, 1, 2, 3],
            prompt: None,
            judge: Some("u".into()),
            tstamp: None,
            language: None,
            ann: Annotations::default(),
        };
        let b = kwise_to_battles(&k);
        assert_eq!(b.len(), 6);
        assert_eq!(b[0].winner, Winner::ModelB); // a (2) vs b (1)
        assert_eq!(b[1].winner, Winner::Tie); // a (2) vs c (2)
        assert_eq!(b[2].winner, Winner::ModelA); // a (2) vs d (3)
    }

    #[test]
    fn hh_implicit_prompt_split_at_last_shared_assistant_turn() {
        let p = Pair {
            prompt: None,
            chosen: "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant: Fine, thanks."
                .into(),
            rejected: "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant: Go away."
                .into(),
            ann: Annotations::default(),
        };
        let e = explicit_prompt(p, HH_ASSISTANT).unwrap();
        assert_eq!(
            e.prompt,
            Some("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant:".into())
        );
        assert_eq!(e.chosen, Text::from(" Fine, thanks."));
        assert_eq!(e.rejected, Text::from(" Go away."));
        let chat = pair_to_chat(e);
        let Some(Text::Chat(m)) = &chat.prompt else {
            panic!()
        };
        assert_eq!(m.len(), 3);
        assert_eq!(m[2], Message::new("user", "how?"));
        assert_eq!(
            chat.chosen,
            Text::Chat(vec![Message::new("assistant", "Fine, thanks.")])
        );
    }

    #[test]
    fn implicit_prompt_without_boundary_is_an_error() {
        let p = Pair {
            prompt: None,
            chosen: "abc".into(),
            rejected: "abd".into(),
            ann: Annotations::default(),
        };
        assert!(explicit_prompt(p, HH_ASSISTANT).is_err());
    }

    #[test]
    fn annotators_majority_and_soft() {
        let vote = |c: &str, r: &str, tie: bool| Pair {
            prompt: Some("q".into()),
            chosen: c.into(),
            rejected: r.into(),
            ann: Annotations {
                id: Some("1".into()),
                strength: tie.then_some(0.5),
                ..Default::default()
            },
        };
        let votes = vec![
            vote("x", "y", false),
            vote("y", "x", false),
            vote("y", "x", false),
        ];
        let (m, left) = aggregate_pairs(votes.clone(), Aggregate::Majority);
        assert!(left.is_empty());
        assert_eq!(m[0].chosen, Text::from("y"));
        let (s, _) = aggregate_pairs(votes, Aggregate::Soft);
        assert!((s[0].ann.strength.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s[0].chosen, Text::from("y"));
        let split = vec![
            vote("x", "y", false),
            vote("y", "x", false),
            vote("x", "y", true),
        ];
        let (m, left) = aggregate_pairs(split, Aggregate::Majority);
        assert!(m.is_empty());
        assert!(left[0].1.contains("no majority"));
    }
}
