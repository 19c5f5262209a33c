//! Loading votes from files: battles (Chatbot Arena JSONL/JSON/Parquet, CSV with
//! `model_a,model_b,winner` or evalica's `left,right,winner`, football results) and
//! K-wise votes, into [`RankData`].
//!
//! Plain JSONL battle logs take a fast path: the file is read in blocks and the lines of
//! a block are parsed in parallel into borrowed strings (only `model_a`, `model_b` and
//! `winner` are looked at), then interned in order. Any line the fast path cannot take
//! sends the whole file through the general reader, whose errors name the line and field.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use prefer_data::{
    Dataset, Error as DataError, Format, Layout, OpenOptions, Record, Shape, Winner,
};
use rayon::prelude::*;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::leaderboard::RankData;
use crate::style::normalized_difference;
use crate::votes::Outcome;

/// What to do with bad records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBad {
    /// Stop at the first bad record with its error (default).
    #[default]
    Stop,
    /// Skip bad records, counting them.
    Skip,
}

/// A style covariate: two fields (dot paths into the record) holding the statistic for
/// model_a and model_b, e.g. `conv_metadata.sum_assistant_a_tokens`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Covariate {
    /// Its name in the output.
    pub name: String,
    /// The field for model_a.
    pub field_a: String,
    /// The field for model_b.
    pub field_b: String,
}

/// What was loaded.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The votes.
    pub data: RankData,
    /// Bad records skipped (with `OnBad::Skip`), with the first few messages.
    pub skipped: u64,
    /// The first messages of skipped records.
    pub skipped_examples: Vec<String>,
    /// Voter names, by index (only from [`load_voters`]).
    pub voters: Vec<String>,
    /// The voter of each pairwise vote in `data.pairs.votes` (only from [`load_voters`];
    /// [`crate::quality::NO_VOTER`] for a record without the field).
    pub voter_of: Vec<u32>,
}

#[derive(Deserialize)]
struct BattleRef<'a> {
    #[serde(borrow)]
    model_a: Cow<'a, str>,
    #[serde(borrow)]
    model_b: Cow<'a, str>,
    #[serde(borrow)]
    winner: Cow<'a, str>,
}

/// A battle's two model names (borrowed from the line when unescaped) and its outcome.
type ParsedBattle<'a> = (Cow<'a, str>, Cow<'a, str>, Outcome);

fn outcome_of(w: &str) -> Option<Outcome> {
    Winner::parse(w).map(Outcome::from)
}

/// The fast path for plain JSONL battle logs; `None` when the file needs the general
/// reader (another format, another shape, or any line it cannot take).
fn fast_battles(path: &Path) -> Option<RankData> {
    let name = path.file_name()?.to_string_lossy().to_lowercase();
    if !(name.ends_with(".jsonl") || name.ends_with(".ndjson")) {
        return None;
    }
    let mut file = File::open(path).ok()?;
    let mut data = RankData::default();
    let mut carry: Vec<u8> = Vec::new();
    let mut block = vec![0u8; 8 << 20];
    loop {
        let n = file.read(&mut block).ok()?;
        let eof = n == 0;
        carry.extend_from_slice(&block[..n]);
        let cut = if eof {
            carry.len()
        } else {
            match memchr_last(b'\n', &carry) {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let chunk = &carry[..cut];
        let lines: Vec<&[u8]> = chunk
            .split(|&b| b == b'\n')
            .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
            .collect();
        let parsed: Vec<Option<ParsedBattle<'_>>> = lines
            .par_iter()
            .map(|l| {
                let b: BattleRef<'_> = serde_json::from_slice(l).ok()?;
                let o = outcome_of(&b.winner)?;
                (b.model_a != b.model_b
                    && !b.model_a.trim().is_empty()
                    && !b.model_b.trim().is_empty())
                .then_some((b.model_a, b.model_b, o))
            })
            .collect();
        for p in parsed {
            let (a, b, o) = p?;
            data.push_pair(&a, &b, o).ok()?;
        }
        carry.drain(..cut);
        if eof {
            break;
        }
    }
    Some(data)
}

fn memchr_last(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().rposition(|&b| b == needle)
}

fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(v, |v, key| v.get(key))
}

fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Loads votes from `path`.
///
/// # Errors
/// The file cannot be read, holds no votes, holds another kind of record, or (with
/// [`OnBad::Stop`]) has a bad record — the message names the file, line and field.
pub fn load(
    path: &Path,
    opts: &OpenOptions,
    on_bad: OnBad,
    covariates: &[Covariate],
) -> Result<Loaded> {
    load_where(path, opts, on_bad, covariates, None)
}

/// Which votes to keep: those whose `field` (a dotted path into the record, extra fields
/// included) equals `value`, or holds it when the field is a list (LMArena's category
/// and language leaderboards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The field, e.g. `category` or `conv_metadata.language`.
    pub field: String,
    /// The value, compared as text (`true`, `3`, `en`).
    pub value: String,
}

fn value_texts(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a.iter().flat_map(|x| value_texts(Some(x))).collect(),
        Some(other) => vec![other.to_string()],
    }
}

/// How many votes hold each value of `field` (a list field counts once per element);
/// votes without the field are counted under `None`.
///
/// # Errors
/// The file cannot be read.
pub fn field_values(
    path: &Path,
    opts: &OpenOptions,
    field: &str,
) -> Result<(std::collections::BTreeMap<String, u64>, u64)> {
    let mut counts = std::collections::BTreeMap::new();
    let mut missing = 0;
    for item in Dataset::open(path, opts)? {
        let Ok(item) = item else { continue };
        let v = item.record.to_value();
        let vals = value_texts(lookup(&v, field));
        if vals.is_empty() {
            missing += 1;
        }
        for t in vals {
            *counts.entry(t).or_insert(0) += 1;
        }
    }
    Ok((counts, missing))
}

/// [`load`], keeping only the votes that pass `filter`.
///
/// # Errors
/// As [`load`]; no vote passes the filter.
pub fn load_where(
    path: &Path,
    opts: &OpenOptions,
    on_bad: OnBad,
    covariates: &[Covariate],
    filter: Option<&Filter>,
) -> Result<Loaded> {
    if filter.is_some() {
        return load_general(path, opts, on_bad, covariates, filter, None);
    }
    let plain = opts.layout.is_none_or(|l| l == Layout::Native)
        && opts.shape.is_none_or(|s| s == Shape::Battle)
        && opts.read.format.is_none_or(|f| f == Format::Jsonl)
        && opts.renames.is_empty()
        && covariates.is_empty();
    if plain && let Some(data) = fast_battles(path) {
        if data.pairs.votes.is_empty() {
            return Err(Error::Invalid(format!("{}: no votes", path.display())));
        }
        return Ok(Loaded {
            data,
            ..Default::default()
        });
    }
    load_general(path, opts, on_bad, covariates, None, None)
}

/// [`load_where`] keeping who voted: the text of `voter_field` (a dotted path, e.g.
/// `judge` for Chatbot Arena battles or `user_id` for an annotator column) for each
/// pairwise vote, in [`Loaded::voters`] and [`Loaded::voter_of`].
///
/// # Errors
/// As [`load_where`].
pub fn load_voters(
    path: &Path,
    opts: &OpenOptions,
    on_bad: OnBad,
    filter: Option<&Filter>,
    voter_field: &str,
) -> Result<Loaded> {
    load_general(path, opts, on_bad, &[], filter, Some(voter_field))
}

/// The general path: every format and layout, errors naming line and field.
fn load_general(
    path: &Path,
    opts: &OpenOptions,
    on_bad: OnBad,
    covariates: &[Covariate],
    filter: Option<&Filter>,
    voter_field: Option<&str>,
) -> Result<Loaded> {
    let mut out = Loaded::default();
    let mut voter_index: std::collections::HashMap<String, u32> = Default::default();
    if !covariates.is_empty() {
        out.data.covariate_names = covariates.iter().map(|c| c.name.clone()).collect();
    }
    let skip = |out: &mut Loaded, msg: String| -> Result<()> {
        match on_bad {
            OnBad::Stop => Err(Error::Invalid(format!(
                "{msg}\n(pass --skip-invalid to skip bad records)"
            ))),
            OnBad::Skip => {
                out.skipped += 1;
                if out.skipped_examples.len() < 5 {
                    out.skipped_examples.push(msg);
                }
                Ok(())
            }
        }
    };
    let mut ds = Dataset::open(path, opts)?;
    let shape = ds.shape()?;
    match shape {
        Some(Shape::Battle | Shape::Kwise) | None => {}
        Some(other) => {
            return Err(Error::Invalid(format!(
                "{}: rating needs battles (model_a, model_b, winner) or K-wise votes (models, \
                 ranking); this file holds {other} records",
                path.display()
            )));
        }
    }
    for item in ds.by_ref() {
        let item = match item {
            Ok(i) => i,
            Err(DataError::Record(e)) => {
                skip(&mut out, e.to_string())?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let value = (filter.is_some() || voter_field.is_some()).then(|| item.record.to_value());
        if let (Some(f), Some(v)) = (filter, &value)
            && !value_texts(lookup(v, &f.field)).contains(&f.value)
        {
            continue;
        }
        let voter = voter_field.zip(value.as_ref()).map(|(f, v)| {
            match value_texts(lookup(v, f)).into_iter().next() {
                None => crate::quality::NO_VOTER,
                Some(name) => *voter_index.entry(name.clone()).or_insert_with(|| {
                    out.voters.push(name);
                    out.voters.len() as u32 - 1
                }),
            }
        });
        let before = out.data.pairs.votes.len();
        match item.record {
            Record::Battle(b) => {
                if covariates.is_empty() {
                    out.data
                        .push_pair(&b.model_a, &b.model_b, b.winner.into())?;
                } else {
                    let v = Record::Battle(b.clone()).to_value();
                    let mut x = Vec::with_capacity(covariates.len());
                    let mut missing = None;
                    for c in covariates {
                        match (
                            lookup(&v, &c.field_a).and_then(number),
                            lookup(&v, &c.field_b).and_then(number),
                        ) {
                            (Some(a), Some(bb)) => x.push(normalized_difference(a, bb)),
                            _ => {
                                missing = Some(format!(
                                    "{}: field `{}` / `{}`: missing or not a number (style covariate {})",
                                    item.loc, c.field_a, c.field_b, c.name
                                ));
                                break;
                            }
                        }
                    }
                    match missing {
                        Some(m) => skip(&mut out, m)?,
                        None => {
                            out.data
                                .push_pair_with(&b.model_a, &b.model_b, b.winner.into(), x)?
                        }
                    }
                }
            }
            Record::Kwise(k) => {
                if !covariates.is_empty() {
                    return Err(Error::Invalid(
                        "style covariates apply to battles, not K-wise votes".into(),
                    ));
                }
                if let Err(e) = out.data.push_kwise(&k.models, &k.ranking) {
                    skip(&mut out, format!("{}: {e}", item.loc))?;
                }
            }
            other => {
                return Err(Error::Invalid(format!(
                    "{}: a {} record; rating reads battles or K-wise votes",
                    item.loc,
                    other.shape()
                )));
            }
        }
        if let Some(w) = voter {
            let added = out.data.pairs.votes.len() - before;
            out.voter_of.extend(std::iter::repeat_n(w, added));
        }
    }
    if out.data.pairs.votes.is_empty() {
        return Err(Error::Invalid(match filter {
            Some(f) => format!(
                "{}: no votes with {} = {}",
                path.display(),
                f.field,
                f.value
            ),
            None => format!("{}: no votes", path.display()),
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_and_general_paths_agree_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.jsonl");
        let mut body = String::new();
        for i in 0..5000 {
            let w = ["model_a", "model_b", "tie", "tie (bothbad)"][i % 4];
            body.push_str(&format!(
                "{{\"model_a\":\"m{}\",\"model_b\":\"m{}\",\"winner\":\"{w}\",\"extra\":[1,2]}}\n",
                i % 7,
                (i + 1) % 7
            ));
        }
        std::fs::write(&p, &body).unwrap();
        let fast = load(&p, &OpenOptions::default(), OnBad::Stop, &[]).unwrap();
        let general =
            load_general(&p, &OpenOptions::default(), OnBad::Stop, &[], None, None).unwrap();
        assert_eq!(fast.data.pairs.votes, general.data.pairs.votes);
        assert_eq!(fast.data.items(), general.data.items());

        body.push_str("{\"model_a\":\"m1\",\"model_b\":\"m1\",\"winner\":\"tie\"}\n");
        std::fs::write(&p, &body).unwrap();
        let e = load(&p, &OpenOptions::default(), OnBad::Stop, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("b.jsonl:5001") && e.contains("model_b"), "{e}");
        let skipped = load(&p, &OpenOptions::default(), OnBad::Skip, &[]).unwrap();
        assert_eq!(skipped.skipped, 1);

        std::fs::write(&p, "").unwrap();
        assert!(
            load(&p, &OpenOptions::default(), OnBad::Stop, &[])
                .unwrap_err()
                .to_string()
                .contains("no votes")
        );
    }

    #[test]
    fn voters_are_kept_per_pairwise_vote() {
        // A K = 3 ranking is 3 pairwise votes of its voter; a record without the field
        // has no voter.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.jsonl");
        std::fs::write(
            &p,
            "{\"models\":[\"a\",\"b\",\"c\"],\"ranking\":[1,2,3],\"judge\":\"x\"}\n\
             {\"models\":[\"a\",\"b\"],\"ranking\":[2,1]}\n\
             {\"models\":[\"b\",\"c\"],\"ranking\":[1,2],\"judge\":\"y\"}\n\
             {\"models\":[\"c\",\"a\"],\"ranking\":[1,2],\"judge\":\"x\"}\n",
        )
        .unwrap();
        let l = load_voters(&p, &OpenOptions::default(), OnBad::Stop, None, "judge").unwrap();
        assert_eq!(l.voters, ["x", "y"]);
        let n = crate::quality::NO_VOTER;
        assert_eq!(l.voter_of, [0, 0, 0, n, 1, 0]);
        assert_eq!(l.data.pairs.votes.len(), 6);
    }

    #[test]
    fn filters_keep_one_category_and_count_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.jsonl");
        let mut body = String::new();
        for i in 0..30 {
            let cat = ["coding", "math", "chat"][i % 3];
            let tags = if i % 2 == 0 {
                "[\"hard\", \"en\"]"
            } else {
                "[\"en\"]"
            };
            body.push_str(&format!(
                "{{\"model_a\":\"m{}\",\"model_b\":\"m{}\",\"winner\":\"model_a\",\"category\":\"{cat}\",\"meta\":{{\"tags\":{tags}}}}}\n",
                i % 4,
                (i + 1) % 4
            ));
        }
        std::fs::write(&p, &body).unwrap();
        let f = Filter {
            field: "category".into(),
            value: "math".into(),
        };
        let l = load_where(&p, &OpenOptions::default(), OnBad::Stop, &[], Some(&f)).unwrap();
        assert_eq!(l.data.pairs.votes.len(), 10);
        // A list field: a vote is in every group its list names.
        let f = Filter {
            field: "meta.tags".into(),
            value: "hard".into(),
        };
        let l = load_where(&p, &OpenOptions::default(), OnBad::Stop, &[], Some(&f)).unwrap();
        assert_eq!(l.data.pairs.votes.len(), 15);
        let (counts, missing) = field_values(&p, &OpenOptions::default(), "meta.tags").unwrap();
        assert_eq!((counts["en"], counts["hard"], missing), (30, 15, 0));
        let (counts, missing) = field_values(&p, &OpenOptions::default(), "language").unwrap();
        assert!(counts.is_empty() && missing == 30);
        let f = Filter {
            field: "category".into(),
            value: "poetry".into(),
        };
        let e = load_where(&p, &OpenOptions::default(), OnBad::Stop, &[], Some(&f)).unwrap_err();
        assert!(
            e.to_string().contains("no votes with category = poetry"),
            "{e}"
        );
    }

    #[test]
    fn style_covariates_from_nested_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.jsonl");
        std::fs::write(
            &p,
            "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\",\"conv_metadata\":{\"a\":300,\"b\":100}}\n\
             {\"model_a\":\"y\",\"model_b\":\"x\",\"winner\":\"tie\",\"conv_metadata\":{\"a\":50,\"b\":50}}\n",
        )
        .unwrap();
        let cov = [Covariate {
            name: "length".into(),
            field_a: "conv_metadata.a".into(),
            field_b: "conv_metadata.b".into(),
        }];
        let l = load(&p, &OpenOptions::default(), OnBad::Stop, &cov).unwrap();
        assert_eq!(l.data.covariates, vec![vec![200.0 / 401.0], vec![0.0]]);
    }
}
