//! Battles: which models meet on which prompt (K-Sort matchmaking), and what a vote
//! may say.
//!
//! The pivot and the order of its opponents come from
//! [`prefer_rank::matchmaking::choose`] on the conservative K-Sort scores; then a prompt
//! is picked among the pivot's prompts so that the best-placed opponents answered it
//! too (a sample of at most [`PROMPT_TRIES`] prompts, the first perfect fit wins).

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::ApiError;
use crate::ratings::Online;
use prefer_rank::matchmaking::{MatchConfig, choose};

/// Prompts of the pivot looked at per battle.
pub const PROMPT_TRIES: usize = 64;

/// Display labels.
pub const LABELS: [&str; 4] = ["A", "B", "C", "D"];

/// A battle to store: models and outputs in display order.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    /// Prompt index.
    pub prompt: usize,
    /// Model indices, display order.
    pub models: Vec<usize>,
    /// Output ids, display order.
    pub outputs: Vec<i64>,
}

/// Picks K models and a prompt they all answered.
///
/// # Errors
/// Fewer than K models with outputs, or no prompt that K models answered.
pub fn draw(
    catalog: &Catalog,
    online: &Online,
    cfg: &MatchConfig,
    rng: &mut impl Rng,
) -> Result<Draw, ApiError> {
    let k = cfg.k;
    let active: Vec<usize> = catalog
        .active()
        .iter()
        .enumerate()
        .filter_map(|(i, &a)| a.then_some(i))
        .collect();
    if active.len() < k {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_enough_models",
            format!(
                "a battle needs {k} models with outputs; {} have any (import outputs first)",
                active.len()
            ),
        ));
    }
    // Matchmaking over the active models only (a model without outputs cannot be shown).
    let mut online = online.clone();
    online.grow(catalog.models.len());
    let scores: Vec<f64> = active
        .iter()
        .map(|&m| online.ksort.skills[m].conservative(online.ksort.config.conservative_k))
        .collect();
    let n = active.len();
    let mut exposure = prefer_rank::matchmaking::Exposure::new(n);
    for (a, &i) in active.iter().enumerate() {
        exposure.per_model[a] = online.exposure.per_model[i];
        for (b, &j) in active.iter().enumerate() {
            exposure.per_pair[a * n + b] = online.exposure.met(i, j);
        }
    }
    exposure.total = online.exposure.total;
    let tie_break: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    // The whole order of opponents (K = n), to fall back on when the best ones did not
    // answer a common prompt.
    let all = MatchConfig { k: n, ..*cfg };
    let order: Vec<usize> = choose(&scores, &exposure, &all, &tie_break)
        .map_err(|e| ApiError::invalid("matchmaking", e.to_string()))?
        .into_iter()
        .map(|a| active[a])
        .collect();
    let pivot = order[0];
    let mut prompts = catalog.prompts_of[pivot].clone();
    prompts.shuffle(rng);
    let best_cost: usize = (1..k).sum();
    let mut best: Option<(usize, Vec<usize>, usize)> = None;
    for &p in prompts.iter().take(PROMPT_TRIES) {
        let answered = &catalog.prompts[p].answers;
        let picked: Vec<usize> = order[1..]
            .iter()
            .enumerate()
            .filter(|(_, m)| answered.iter().any(|a| a.0 == **m))
            .take(k - 1)
            .map(|(pos, _)| pos + 1)
            .collect();
        if picked.len() < k - 1 {
            continue;
        }
        let cost: usize = picked.iter().sum();
        if best.as_ref().is_none_or(|b| cost < b.2) {
            best = Some((p, picked, cost));
            if cost == best_cost {
                break;
            }
        }
    }
    let Some((prompt, picked, _)) = best else {
        return Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "no_common_prompt",
            format!(
                "no prompt of model `{}` was answered by {} other models",
                catalog.name(pivot),
                k - 1
            ),
        ));
    };
    let mut models: Vec<usize> = std::iter::once(pivot)
        .chain(picked.iter().map(|&pos| order[pos]))
        .collect();
    // Display order is random: the pivot is not always A.
    models.shuffle(rng);
    let outputs = models
        .iter()
        .map(|m| {
            catalog.prompts[prompt]
                .answers
                .iter()
                .find(|a| a.0 == *m)
                .map_or(-1, |a| a.1)
        })
        .collect();
    Ok(Draw {
        prompt,
        models,
        outputs,
    })
}

/// A vote as the API takes it: exactly one of `winner` or `ranking`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// The best response's label (`A`..`D`), or `tie`, or `bothbad` (all equally bad).
    #[serde(default)]
    pub winner: Option<String>,
    /// The rank of each response in display order (1 = best): a permutation of 1..K.
    #[serde(default)]
    pub ranking: Option<Vec<u32>>,
}

/// What a vote says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// One response is the best (the others share rank 2).
    Best(usize),
    /// All equally good.
    Tie,
    /// All equally bad (Chatbot Arena's `tie (bothbad)`).
    BothBad,
    /// A full ranking (a permutation of 1..K).
    Ranking(Vec<u32>),
}

impl Choice {
    /// The stored kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Choice::Best(_) => "best",
            Choice::Tie => "tie",
            Choice::BothBad => "bothbad",
            Choice::Ranking(_) => "ranking",
        }
    }

    /// Ranks for K responses (1 = best).
    pub fn ranks(&self, k: usize) -> Vec<u32> {
        match self {
            Choice::Best(i) => (0..k).map(|j| if j == *i { 1 } else { 2 }).collect(),
            Choice::Tie | Choice::BothBad => vec![1; k],
            Choice::Ranking(r) => r.clone(),
        }
    }
}

/// Checks a vote against a battle of K responses.
///
/// # Errors
/// 422 with `bad_vote` (neither or both of winner/ranking, an unknown label) or
/// `bad_ranking` (not a permutation of 1..K).
pub fn parse_choice(body: &VoteBody, k: usize) -> Result<Choice, ApiError> {
    match (&body.winner, &body.ranking) {
        (Some(w), None) => {
            let w = w.trim();
            match w.to_ascii_lowercase().as_str() {
                "tie" => Ok(Choice::Tie),
                "bothbad" | "both_bad" | "tie (bothbad)" => Ok(Choice::BothBad),
                _ => LABELS[..k]
                    .iter()
                    .position(|l| l.eq_ignore_ascii_case(w))
                    .map(Choice::Best)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            "bad_vote",
                            format!(
                                "`winner` must be one of {}, tie or bothbad (got {w:?})",
                                LABELS[..k].join(", ")
                            ),
                        )
                    }),
            }
        }
        (None, Some(r)) => {
            let mut seen = vec![false; k];
            let ok = r.len() == k
                && r.iter().all(|&x| {
                    let i = x as usize;
                    (1..=k).contains(&i) && !std::mem::replace(&mut seen[i - 1], true)
                });
            if ok {
                Ok(Choice::Ranking(r.clone()))
            } else {
                Err(ApiError::invalid(
                    "bad_ranking",
                    format!(
                        "`ranking` must give each of the {k} responses a different rank from 1 to {k} \
                         (a permutation of 1..{k}); got {r:?}"
                    ),
                ))
            }
        }
        _ => Err(ApiError::invalid(
            "bad_vote",
            "a vote needs exactly one of `winner` (A, B, ..., tie, bothbad) or `ranking`",
        )),
    }
}

/// A fresh battle id: 128 random bits from the thread's CSPRNG, as hex.
pub fn new_id(rng: &mut impl Rng) -> String {
    let x: u128 = rng.random();
    format!("{x:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::OutputRow;

    fn body(w: Option<&str>, r: Option<Vec<u32>>) -> VoteBody {
        VoteBody {
            winner: w.map(str::to_string),
            ranking: r,
        }
    }

    #[test]
    fn choices_and_rankings() {
        assert_eq!(
            parse_choice(&body(Some("b"), None), 2).unwrap(),
            Choice::Best(1)
        );
        assert_eq!(
            parse_choice(&body(Some("tie"), None), 4).unwrap().ranks(4),
            vec![1; 4]
        );
        assert_eq!(Choice::Best(2).ranks(4), vec![2, 2, 1, 2]);
        assert!(parse_choice(&body(Some("C"), None), 2).is_err());
        assert!(parse_choice(&body(None, Some(vec![2, 1, 3])), 3).is_ok());
        for bad in [
            vec![1, 1, 2],
            vec![1, 2],
            vec![0, 1, 2],
            vec![1, 2, 4],
            vec![1, 2, 3, 4],
        ] {
            let e = parse_choice(&body(None, Some(bad)), 3).unwrap_err();
            assert_eq!(e.code, "bad_ranking");
        }
        assert_eq!(
            parse_choice(&body(Some("A"), Some(vec![1, 2])), 2)
                .unwrap_err()
                .code,
            "bad_vote"
        );
        assert_eq!(
            parse_choice(&body(None, None), 2).unwrap_err().code,
            "bad_vote"
        );
    }

    #[test]
    fn draws_distinct_models_on_a_shared_prompt() {
        // Six models; model 5 answered only p0, the others every prompt.
        let models: Vec<(i64, String)> = (0..6).map(|i| (i + 1, format!("m{i}"))).collect();
        let mut outputs = Vec::new();
        let mut id = 0;
        for m in 0..6i64 {
            for p in 0..5 {
                if m == 5 && p > 0 {
                    continue;
                }
                id += 1;
                outputs.push(OutputRow {
                    id,
                    model_id: m + 1,
                    prompt_id: format!("p{p}"),
                    prompt: format!("prompt {p}"),
                    response: format!("answer {m} {p}"),
                });
            }
        }
        let c = Catalog::build(models, outputs);
        let mut online = Online::new(6);
        let mut rng = rand::rng();
        let cfg = MatchConfig {
            k: 4,
            ..Default::default()
        };
        for _ in 0..200 {
            let d = draw(&c, &online, &cfg, &mut rng).unwrap();
            let mut m = d.models.clone();
            m.sort_unstable();
            m.dedup();
            assert_eq!(m.len(), 4);
            for (mi, o) in d.models.iter().zip(&d.outputs) {
                let out = &c.outputs[o];
                assert_eq!((out.model, out.prompt), (*mi, d.prompt));
            }
            let ranks = [1u8, 2, 3, 4];
            online.apply(&crate::ratings::LoggedVote {
                voter: prefer_rank::quality::NO_VOTER,
                capped: false,
                id: 0,
                k: 4,
                models: [
                    d.models[0] as u32,
                    d.models[1] as u32,
                    d.models[2] as u32,
                    d.models[3] as u32,
                ],
                ranks,
            });
        }
        // The pivot is the least-seen model, so model 5 (one prompt) still gets shown.
        assert!(online.votes[5] > 0, "{:?}", online.votes);
    }
}
