//! From data files to what models and metrics consume: text pairs (with the implicit
//! prompt of HH-RLHF transcripts split off), their embeddings as [`PairData`], ratings as
//! [`RatingData`], and pairs that already carry scores.

use std::collections::BTreeMap;
use std::path::Path;

use prefer_data::convert::{HH_ASSISTANT, explicit_prompt};
use prefer_data::{Dataset, OpenOptions, Pair, Rating, Record};
use prefer_nn::encoder::{EmbeddingCache, Embeddings, EncodeOptions, SentenceEncoder};
use prefer_nn::reward::{PairData, RatingData};
use serde::{Deserialize, Serialize};

use crate::pairwise::ScoredPair;
use crate::{Error, Result};

/// A preference pair as texts, with what the models and breakdowns may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextPair {
    /// Where it was read (`file:line`).
    pub loc: String,
    /// Prompt (empty when the data has none).
    pub prompt: String,
    /// Chosen response.
    pub chosen: String,
    /// Rejected response.
    pub rejected: String,
    /// Annotations.
    pub user: Option<String>,
    /// The criterion.
    pub context: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// RewardBench subset (`subset` field).
    pub subset: Option<String>,
    /// Soft label.
    pub strength: Option<f64>,
    /// Margin.
    pub margin: Option<f64>,
    /// Precomputed score of chosen, when the file has one.
    pub score_chosen: Option<f64>,
    /// Precomputed score of rejected.
    pub score_rejected: Option<f64>,
    /// An absolute rating of chosen from the data (UltraFeedback's
    /// `metadata.score_chosen`), for multi-objective regression.
    pub rating_chosen: Option<f64>,
    /// The same for rejected (`metadata.score_rejected`).
    pub rating_rejected: Option<f64>,
}

/// Names of the fields holding precomputed scores, tried in order.
pub const SCORE_FIELDS: [(&str, &str); 4] = [
    ("score_chosen", "score_rejected"),
    ("scores_chosen", "scores_rejected"),
    ("reward_chosen", "reward_rejected"),
    ("chosen_score", "rejected_score"),
];

fn extra_f64(p: &Pair, k: &str) -> Option<f64> {
    let v = p.ann.extra.get(k)?;
    v.as_f64().or_else(|| {
        v.as_array()
            .and_then(|a| a.first())
            .and_then(serde_json::Value::as_f64)
    })
}

fn meta_f64(p: &Pair, k: &str) -> Option<f64> {
    p.ann.extra.get("metadata")?.get(k)?.as_f64()
}

/// Reads the pairs of a file (any format and layout prefer-data reads). Implicit-prompt
/// transcripts (HH-RLHF) are split at the last shared `\n\nAssistant:`. A bad record is an
/// error naming it; an empty file is an error naming the file.
pub fn read_pairs(path: &Path, opts: &OpenOptions) -> Result<Vec<TextPair>> {
    let (pairs, bad) = read_pairs_skipping(path, opts)?;
    match bad.into_iter().next() {
        Some(e) => Err(Error::Data(e)),
        None => Ok(pairs),
    }
}

/// [`read_pairs`], but records that fail prefer-data's checks (an empty response, chosen
/// identical to rejected, ...) are skipped and returned as messages naming them.
pub fn read_pairs_skipping(
    path: &Path,
    opts: &OpenOptions,
) -> Result<(Vec<TextPair>, Vec<String>)> {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for item in Dataset::open(path, opts)? {
        let item = match item {
            Ok(i) => i,
            Err(prefer_data::Error::Record(e)) => {
                bad.push(e.to_string());
                continue;
            }
            Err(e) => return Err(Error::Data(e.to_string())),
        };
        let loc = item.loc.to_string();
        let p = match item.record {
            Record::Pair(p) => p,
            other => {
                return Err(Error::Data(format!(
                    "{loc}: expected a preference pair (prompt/chosen/rejected), found a {:?} record",
                    other.shape()
                )));
            }
        };
        let p = if p.prompt.is_none() {
            explicit_prompt(p.clone(), HH_ASSISTANT).unwrap_or(p)
        } else {
            p
        };
        let (mut sc, mut sr) = (None, None);
        for (a, b) in SCORE_FIELDS {
            if let (Some(x), Some(y)) = (extra_f64(&p, a), extra_f64(&p, b)) {
                sc = Some(x);
                sr = Some(y);
                break;
            }
        }
        out.push(TextPair {
            loc,
            prompt: p.prompt.as_ref().map(|t| t.flat()).unwrap_or_default(),
            chosen: p.chosen.flat(),
            rejected: p.rejected.flat(),
            user: p.ann.user_id.clone(),
            context: p.ann.context.clone(),
            source: p.ann.source.clone(),
            subset: p
                .ann
                .extra
                .get("subset")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            strength: p.ann.strength,
            margin: p.ann.margin,
            score_chosen: sc,
            score_rejected: sr,
            rating_chosen: meta_f64(&p, "score_chosen"),
            rating_rejected: meta_f64(&p, "score_rejected"),
        });
    }
    if out.is_empty() {
        return Err(Error::Data(match bad.first() {
            None => format!(
                "{}: no pairs to evaluate (the file is empty)",
                path.display()
            ),
            Some(e) => format!(
                "{}: no valid pairs ({} invalid; first: {e})",
                path.display(),
                bad.len()
            ),
        }));
    }
    Ok((out, bad))
}

/// Pairs whose scores are in the file (`score_chosen`/`score_rejected` or the other
/// [`SCORE_FIELDS`]): the error names the first pair without them.
pub fn scored_from_texts(pairs: &[TextPair]) -> Result<Vec<ScoredPair>> {
    pairs
        .iter()
        .map(|p| match (p.score_chosen, p.score_rejected) {
            (Some(c), Some(r)) => Ok(with_meta(p, c - r)),
            _ => Err(Error::Data(format!(
                "{}: no scores (fields {}); score the file with a reward model (--model) instead",
                p.loc,
                SCORE_FIELDS
                    .iter()
                    .map(|(a, b)| format!("{a}/{b}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        })
        .collect()
}

/// A [`ScoredPair`] with the pair's subset, source, lengths and strength.
pub fn with_meta(p: &TextPair, logit: f64) -> ScoredPair {
    ScoredPair {
        logit,
        subset: p.subset.clone(),
        source: p.source.clone(),
        chosen_len: p.chosen.chars().count(),
        rejected_len: p.rejected.chars().count(),
        strength: p.strength,
    }
}

/// How texts become embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedOptions {
    /// Keep only the last this many characters of a prompt (default 1000): the encoder
    /// truncates the end of long inputs, and the end of a multi-turn prompt (the last user
    /// turn) matters most.
    pub prompt_tail_chars: usize,
    /// Texts per forward (default 32).
    pub batch_size: usize,
    /// Encoder threads (default: `PREFER_ENCODER_THREADS`, else 1).
    pub threads: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            prompt_tail_chars: 1000,
            batch_size: 32,
            threads: std::env::var("PREFER_ENCODER_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
        }
    }
}

fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        s.to_string()
    } else {
        s.chars().skip(count - n).collect()
    }
}

fn embed(
    enc: &SentenceEncoder,
    cache: &mut Option<&mut EmbeddingCache>,
    texts: &[String],
    opts: &EmbedOptions,
) -> Result<Embeddings> {
    let eo = EncodeOptions {
        batch_size: opts.batch_size,
        threads: opts.threads,
        ..Default::default()
    };
    Ok(match cache {
        Some(c) => c.embed(enc, texts, &eo)?,
        None => enc.encode(texts, &eo)?,
    })
}

/// Embeds the prompts, responses and (when every pair has one) criteria of `pairs`, and
/// carries user ids, strengths and margins over.
pub fn embed_pairs(
    enc: &SentenceEncoder,
    mut cache: Option<&mut EmbeddingCache>,
    pairs: &[TextPair],
    opts: &EmbedOptions,
) -> Result<PairData> {
    if pairs.is_empty() {
        return Err(Error::Invalid("no pairs to embed".into()));
    }
    let prompts: Vec<String> = pairs
        .iter()
        .map(|p| tail(&p.prompt, opts.prompt_tail_chars))
        .collect();
    let chosen: Vec<String> = pairs.iter().map(|p| p.chosen.clone()).collect();
    let rejected: Vec<String> = pairs.iter().map(|p| p.rejected.clone()).collect();
    let ep = embed(enc, &mut cache, &prompts, opts)?;
    let ec = embed(enc, &mut cache, &chosen, opts)?;
    let er = embed(enc, &mut cache, &rejected, opts)?;
    let mut data = PairData::new(Some(&ep), &ec, &er)?;
    if pairs.iter().all(|p| p.context.is_some()) {
        let ctx: Vec<String> = pairs
            .iter()
            .map(|p| p.context.clone().unwrap_or_default())
            .collect();
        data.context =
            Some(embed(enc, &mut cache, &ctx, opts)?.to_tensor(&candle_core::Device::Cpu)?);
    }
    if pairs.iter().any(|p| p.user.is_some()) {
        data.user = Some(
            pairs
                .iter()
                .map(|p| p.user.clone().unwrap_or_else(|| "(none)".into()))
                .collect(),
        );
    }
    if pairs.iter().any(|p| p.strength.is_some()) {
        data.strength = Some(
            pairs
                .iter()
                .map(|p| p.strength.unwrap_or(1.0) as f32)
                .collect(),
        );
    }
    if pairs.iter().any(|p| p.margin.is_some()) {
        data.margin = Some(
            pairs
                .iter()
                .map(|p| p.margin.unwrap_or(0.0) as f32)
                .collect(),
        );
    }
    Ok(data)
}

/// A rated response as texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextRating {
    /// Where it was read.
    pub loc: String,
    /// Prompt.
    pub prompt: String,
    /// Response.
    pub response: String,
    /// Scores per attribute.
    pub scores: BTreeMap<String, f64>,
}

/// Reads rating records (UltraFeedback, HelpSteer2 layouts included).
pub fn read_ratings(path: &Path, opts: &OpenOptions) -> Result<Vec<TextRating>> {
    let mut out = Vec::new();
    for item in Dataset::open(path, opts)? {
        let item = item?;
        let loc = item.loc.to_string();
        let r: Rating = match item.record {
            Record::Rating(r) => r,
            other => {
                return Err(Error::Data(format!(
                    "{loc}: expected a rating record, found a {:?} record",
                    other.shape()
                )));
            }
        };
        let mut scores = r.scores.clone();
        if let Some(o) = r.overall {
            scores.entry("overall".into()).or_insert(o);
        }
        out.push(TextRating {
            loc,
            prompt: r.prompt.as_ref().map(|t| t.flat()).unwrap_or_default(),
            response: r.response.flat(),
            scores,
        });
    }
    if out.is_empty() {
        return Err(Error::Data(format!(
            "{}: no ratings (the file is empty)",
            path.display()
        )));
    }
    Ok(out)
}

/// Absolute ratings from pairs that carry them (`metadata.score_chosen` and
/// `metadata.score_rejected`, as the UltraFeedback sample): two ratings per pair with the
/// attribute `score`, plus `length` = ln(1 + characters) when `length_attribute` (a
/// verbosity objective for ArmoRM's decorrelation). A pair without them is an error.
pub fn ratings_from_pairs(pairs: &[TextPair], length_attribute: bool) -> Result<Vec<TextRating>> {
    let mut out = Vec::with_capacity(2 * pairs.len());
    for p in pairs {
        let (Some(c), Some(r)) = (p.rating_chosen, p.rating_rejected) else {
            return Err(Error::Data(format!(
                "{}: no `metadata.score_chosen` / `metadata.score_rejected` to use as ratings",
                p.loc
            )));
        };
        for (resp, score) in [(&p.chosen, c), (&p.rejected, r)] {
            let mut scores = BTreeMap::new();
            scores.insert("score".to_string(), score);
            if length_attribute {
                scores.insert(
                    "length".to_string(),
                    (1.0 + resp.chars().count() as f64).ln(),
                );
            }
            out.push(TextRating {
                loc: p.loc.clone(),
                prompt: p.prompt.clone(),
                response: resp.clone(),
                scores,
            });
        }
    }
    Ok(out)
}

/// Embeds ratings; every rating must have every attribute (the error names the record).
pub fn embed_ratings(
    enc: &SentenceEncoder,
    mut cache: Option<&mut EmbeddingCache>,
    ratings: &[TextRating],
    attributes: &[String],
    opts: &EmbedOptions,
) -> Result<RatingData> {
    let prompts: Vec<String> = ratings
        .iter()
        .map(|r| tail(&r.prompt, opts.prompt_tail_chars))
        .collect();
    let resp: Vec<String> = ratings.iter().map(|r| r.response.clone()).collect();
    let ep = embed(enc, &mut cache, &prompts, opts)?;
    let er = embed(enc, &mut cache, &resp, opts)?;
    let scores: Vec<BTreeMap<String, f64>> = ratings.iter().map(|r| r.scores.clone()).collect();
    let names: Vec<String> = ratings.iter().map(|r| r.loc.clone()).collect();
    Ok(RatingData::from_rows(
        &ep, &er, &scores, attributes, &names,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hh_transcripts_split_and_empty_files_are_errors() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::Invalid(e.to_string()))?;
        let f = dir.path().join("hh.jsonl");
        std::fs::write(
            &f,
            concat!(
                r#"{"chosen": "\n\nHuman: hi\n\nAssistant: hello there", "rejected": "\n\nHuman: hi\n\nAssistant: go away", "source": "hh"}"#,
                "\n",
                r#"{"prompt": "q", "chosen": "a", "rejected": "b", "subset": "hep-go", "score_chosen": 1.5, "score_rejected": 2.0}"#,
                "\n"
            ),
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let p = read_pairs(&f, &OpenOptions::default())?;
        assert_eq!(p[0].prompt, "\n\nHuman: hi\n\nAssistant:");
        assert_eq!(p[0].chosen, " hello there");
        assert_eq!(p[0].source.as_deref(), Some("hh"));
        assert_eq!(p[1].subset.as_deref(), Some("hep-go"));
        let err = match scored_from_texts(&p) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        assert!(
            err.contains("hh.jsonl:1") && err.contains("no scores"),
            "{err}"
        );
        assert_eq!(scored_from_texts(&p[1..])?[0].logit, -0.5);
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").map_err(|e| Error::Invalid(e.to_string()))?;
        let err = match read_pairs(&empty, &OpenOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        assert!(
            err.contains("empty.jsonl") && err.contains("no pairs"),
            "{err}"
        );
        Ok(())
    }
}
