//! Field mappings: foreign layouts that load without a script.
//!
//! | layout | input fields | records |
//! |---|---|---|
//! | `native` | prefer's own names (= TRL, HF datasets, Chatbot Arena) | any shape |
//! | `pandalm` | `idx, cmp_key, instruction, input, response1, response2, annotator1..3` (0 tie, 1 first, 2 second) | pairs (majority or soft label), or battles (one per annotator) |
//! | `evalica` | `left, right, winner` (left / right / tie) | battles |
//! | `football` | `date, home_team, away_team, home_score, away_score, tournament, ...` | battles (score decides win or tie) |
//! | `ultrafeedback` | openbmb/UltraFeedback: `instruction, completions[{model, response, annotations{aspect{Rating, Rationale}}, overall_score}]` | ratings |
//! | `helpsteer2` | `prompt, response, helpfulness, correctness, coherence, complexity, verbosity` | ratings |
//!
//! Any layout also takes renames (`--map chosen=response_a`) applied before it.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::error::{Location, RecordError};
use crate::read::kind_of;
use crate::record::{Annotations, Battle, Pair, Rating, Record, Shape, Text, Winner};

/// A known input layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// prefer's own field names.
    Native,
    /// PandaLM's human test set.
    Pandalm,
    /// evalica's `left,right,winner`.
    Evalica,
    /// International football results (`home_team`, `away_team`, scores).
    Football,
    /// openbmb/UltraFeedback's raw completions with per-aspect ratings.
    UltraFeedback,
    /// nvidia/HelpSteer2: one response with five attribute scores.
    HelpSteer2,
}

/// How several annotators' labels of one item become one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// The label most annotators gave; an item with no majority preference (a tie, or a
    /// split) is rejected with that reason.
    #[default]
    Majority,
    /// A soft label: `strength` = (votes for the chosen side + half the tie votes) /
    /// votes, with the side that has the larger share as chosen.
    Soft,
    /// One record per annotator (battles, for rating engines).
    Each,
}

impl Layout {
    /// All layouts.
    pub const ALL: [Layout; 6] = [
        Layout::Native,
        Layout::Pandalm,
        Layout::Evalica,
        Layout::Football,
        Layout::UltraFeedback,
        Layout::HelpSteer2,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Native => "native",
            Layout::Pandalm => "pandalm",
            Layout::Evalica => "evalica",
            Layout::Football => "football",
            Layout::UltraFeedback => "ultrafeedback",
            Layout::HelpSteer2 => "helpsteer2",
        }
    }

    /// Parses [`Layout::name`].
    pub fn parse(s: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.name() == s)
    }

    /// Guesses the layout from one record's field names.
    pub fn detect(obj: &Map<String, Value>) -> Layout {
        let has = |k: &str| obj.contains_key(k);
        if has("response1") && has("response2") && has("annotator1") {
            Layout::Pandalm
        } else if has("left") && has("right") && has("winner") {
            Layout::Evalica
        } else if has("home_team") && has("away_team") && has("home_score") {
            Layout::Football
        } else if has("instruction") && has("completions") {
            Layout::UltraFeedback
        } else if has("response") && HELPSTEER2_ATTRIBUTES.iter().all(|a| has(a)) && !has("scores")
        {
            Layout::HelpSteer2
        } else {
            Layout::Native
        }
    }

    /// The shape of the records this layout produces, given a requested shape (only
    /// PandaLM offers a choice) or `None` for native files (detected per file).
    pub fn output_shape(self, requested: Option<Shape>, agg: Aggregate) -> Option<Shape> {
        match self {
            Layout::Native => requested,
            Layout::Pandalm => Some(match (requested, agg) {
                (Some(Shape::Battle), _) | (None, Aggregate::Each) => Shape::Battle,
                _ => Shape::Pair,
            }),
            Layout::Evalica | Layout::Football => Some(Shape::Battle),
            Layout::UltraFeedback | Layout::HelpSteer2 => Some(Shape::Rating),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// HelpSteer2's attribute columns.
pub const HELPSTEER2_ATTRIBUTES: [&str; 5] = [
    "helpfulness",
    "correctness",
    "coherence",
    "complexity",
    "verbosity",
];

/// Renames fields: each `(new, old)` moves `old` to `new`.
pub fn apply_renames(obj: &mut Map<String, Value>, renames: &[(String, String)]) {
    for (new, old) in renames {
        if let Some(v) = obj.remove(old) {
            obj.insert(new.clone(), v);
        }
    }
}

fn take_str(
    obj: &mut Map<String, Value>,
    loc: &Location,
    key: &str,
) -> Result<String, RecordError> {
    match obj.remove(key) {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(RecordError::field(
            loc.clone(),
            key,
            format!("expected a string, found {}", kind_of(&other)),
        )),
        None => Err(RecordError::field(loc.clone(), key, "missing")),
    }
}

/// A PandaLM response. A few of its answers to true/false questions are stored as JSON
/// booleans (the model wrote "True"); they come back as the text Python prints.
fn take_response(
    obj: &mut Map<String, Value>,
    loc: &Location,
    key: &str,
) -> Result<String, RecordError> {
    match obj.get(key) {
        Some(Value::Bool(b)) => {
            let s = if *b { "True" } else { "False" };
            obj.remove(key);
            Ok(s.to_string())
        }
        _ => take_str(obj, loc, key),
    }
}

fn opt_str(obj: &mut Map<String, Value>, key: &str) -> Option<String> {
    match obj.remove(key) {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

/// A number from a JSON number or a numeric string (CSV cells are strings).
fn num(v: &Value, loc: &Location, key: &str) -> Result<f64, RecordError> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match x {
        Some(x) if x.is_finite() => Ok(x),
        Some(x) => Err(RecordError::field(
            loc.clone(),
            key,
            format!("expected a finite number, found {x}"),
        )),
        None => Err(RecordError::field(
            loc.clone(),
            key,
            format!("expected a number, found {}", show(v)),
        )),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// Maps one foreign row to records. `Layout::Native` is handled by the caller (typed
/// deserialization) and returns the object unchanged in `Err(Ok(obj))`.
pub(crate) fn map_row(
    layout: Layout,
    agg: Aggregate,
    shape: Shape,
    loc: &Location,
    mut obj: Map<String, Value>,
) -> Result<Vec<Record>, RecordError> {
    match layout {
        Layout::Native => Err(RecordError::record(
            loc.clone(),
            "internal: native rows are decoded by type",
        )),
        Layout::Evalica => {
            let a = take_str(&mut obj, loc, "left")?;
            let b = take_str(&mut obj, loc, "right")?;
            let w = take_str(&mut obj, loc, "winner")?;
            let winner = match w.as_str() {
                "left" => Winner::ModelA,
                "right" => Winner::ModelB,
                "tie" => Winner::Tie,
                other => {
                    return Err(RecordError::field(
                        loc.clone(),
                        "winner",
                        format!("unknown value \"{other}\": expected left, right or tie"),
                    ));
                }
            };
            let mut battle = Battle::new(a, b, winner);
            battle.ann.extra = obj;
            Ok(vec![Record::Battle(battle)])
        }
        Layout::Football => football(loc, obj),
        Layout::Pandalm => pandalm(agg, shape, loc, obj),
        Layout::UltraFeedback => ultrafeedback(loc, obj),
        Layout::HelpSteer2 => {
            let prompt = take_str(&mut obj, loc, "prompt")?;
            let response = take_str(&mut obj, loc, "response")?;
            let mut scores = BTreeMap::new();
            for a in HELPSTEER2_ATTRIBUTES {
                let v = obj
                    .remove(a)
                    .ok_or_else(|| RecordError::field(loc.clone(), a, "missing attribute score"))?;
                scores.insert(a.to_string(), num(&v, loc, a)?);
            }
            Ok(vec![Record::Rating(Rating {
                prompt: Some(Text::Plain(prompt)),
                response: Text::Plain(response),
                model: None,
                scores,
                rationales: BTreeMap::new(),
                overall: None,
                ann: Annotations {
                    extra: obj,
                    ..Default::default()
                },
            })])
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch of `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<f64> {
    let mut it = s.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) as f64 * 86_400.0)
}

fn football(loc: &Location, mut obj: Map<String, Value>) -> Result<Vec<Record>, RecordError> {
    let home = take_str(&mut obj, loc, "home_team")?;
    let away = take_str(&mut obj, loc, "away_team")?;
    let hs = obj.get("home_score").ok_or_else(|| {
        RecordError::field(loc.clone(), "home_score", "missing (match not played?)")
    })?;
    let hs = num(hs, loc, "home_score")?;
    let aw = obj.get("away_score").ok_or_else(|| {
        RecordError::field(loc.clone(), "away_score", "missing (match not played?)")
    })?;
    let aw = num(aw, loc, "away_score")?;
    let winner = if hs > aw {
        Winner::ModelA
    } else if hs < aw {
        Winner::ModelB
    } else {
        Winner::Tie
    };
    let tstamp = match obj.get("date") {
        Some(Value::String(d)) => Some(parse_date(d).ok_or_else(|| {
            RecordError::field(
                loc.clone(),
                "date",
                format!("expected YYYY-MM-DD, found \"{d}\""),
            )
        })?),
        _ => None,
    };
    let mut b = Battle::new(home, away, winner);
    b.tstamp = tstamp;
    b.ann.source = opt_str(&mut obj, "tournament");
    b.ann.extra = obj;
    Ok(vec![Record::Battle(b)])
}

fn pandalm(
    agg: Aggregate,
    shape: Shape,
    loc: &Location,
    mut obj: Map<String, Value>,
) -> Result<Vec<Record>, RecordError> {
    let id = opt_str(&mut obj, "idx");
    let key = take_str(&mut obj, loc, "cmp_key")?;
    let (ma, mb) = match key.split('_').collect::<Vec<_>>()[..] {
        [a, b] if !a.is_empty() && !b.is_empty() => (a.to_string(), b.to_string()),
        _ => {
            return Err(RecordError::field(
                loc.clone(),
                "cmp_key",
                format!("expected \"modelA_modelB\" with one underscore, found \"{key}\""),
            ));
        }
    };
    let mut votes = Vec::new();
    let mut k = 1;
    while let Some(v) = obj.remove(&format!("annotator{k}")) {
        let field = format!("annotator{k}");
        let label = num(&v, loc, &field)?;
        let w = match label as i64 {
            0 if label == 0.0 => Winner::Tie,
            1 if label == 1.0 => Winner::ModelA,
            2 if label == 2.0 => Winner::ModelB,
            _ => {
                return Err(RecordError::field(
                    loc.clone(),
                    field,
                    format!("expected 0 (tie), 1 (response1) or 2 (response2), found {label}"),
                ));
            }
        };
        votes.push((format!("annotator{k}"), w));
        k += 1;
    }
    if votes.is_empty() {
        return Err(RecordError::field(loc.clone(), "annotator1", "missing"));
    }
    if shape == Shape::Battle || agg == Aggregate::Each {
        return Ok(votes
            .into_iter()
            .map(|(who, w)| {
                let mut b = Battle::new(ma.clone(), mb.clone(), w);
                b.judge = Some(who);
                b.ann.id = id.clone();
                Record::Battle(b)
            })
            .collect());
    }
    let instruction = take_str(&mut obj, loc, "instruction")?;
    let input = opt_str(&mut obj, "input").unwrap_or_default();
    let prompt = if input.trim().is_empty() {
        instruction
    } else {
        format!("{instruction}\n\n{input}")
    };
    let r1 = take_response(&mut obj, loc, "response1")?;
    let r2 = take_response(&mut obj, loc, "response2")?;
    let n1 = votes.iter().filter(|v| v.1 == Winner::ModelA).count();
    let n2 = votes.iter().filter(|v| v.1 == Winner::ModelB).count();
    let n0 = votes.len() - n1 - n2;
    let share1 = (n1 as f64 + 0.5 * n0 as f64) / votes.len() as f64;
    let first_wins = match agg {
        Aggregate::Majority => {
            let best = n0.max(n1).max(n2);
            let winners = [n0, n1, n2].iter().filter(|&&n| n == best).count();
            if winners > 1 || best == n0 {
                return Err(RecordError::record(
                    loc.clone(),
                    format!(
                        "no majority preference among annotators (response1: {n1}, \
                         response2: {n2}, tie: {n0}); use --aggregate soft to keep it"
                    ),
                ));
            }
            best == n1
        }
        _ => share1 >= 0.5,
    };
    let (chosen, rejected, cm, rm, strength) = if first_wins {
        (r1, r2, ma, mb, share1)
    } else {
        (r2, r1, mb, ma, 1.0 - share1)
    };
    let mut extra = obj;
    extra.insert("chosen_model".into(), Value::String(cm));
    extra.insert("rejected_model".into(), Value::String(rm));
    extra.insert(
        "votes".into(),
        Value::Object(
            votes
                .iter()
                .map(|(who, w)| (who.clone(), Value::String(w.as_str().to_string())))
                .collect(),
        ),
    );
    Ok(vec![Record::Pair(Pair {
        prompt: Some(Text::Plain(prompt)),
        chosen: Text::Plain(chosen),
        rejected: Text::Plain(rejected),
        ann: Annotations {
            id,
            strength: (agg == Aggregate::Soft).then_some(strength),
            extra,
            ..Default::default()
        },
    })])
}

fn ultrafeedback(loc: &Location, mut obj: Map<String, Value>) -> Result<Vec<Record>, RecordError> {
    let prompt = take_str(&mut obj, loc, "instruction")?;
    let id = opt_str(&mut obj, "id");
    let source = opt_str(&mut obj, "source");
    let Some(Value::Array(completions)) = obj.remove("completions") else {
        return Err(RecordError::field(
            loc.clone(),
            "completions",
            "expected a list",
        ));
    };
    let mut out = Vec::with_capacity(completions.len());
    for (i, c) in completions.into_iter().enumerate() {
        let at = |f: &str| format!("completions[{i}].{f}");
        let Value::Object(mut c) = c else {
            return Err(RecordError::field(
                loc.clone(),
                format!("completions[{i}]"),
                "expected an object",
            ));
        };
        let response = take_str(&mut c, loc, "response").map_err(|mut e| {
            e.field = Some(at("response"));
            e
        })?;
        let model = opt_str(&mut c, "model");
        let mut scores = BTreeMap::new();
        let mut rationales = BTreeMap::new();
        if let Some(Value::Object(ann)) = c.remove("annotations") {
            for (aspect, a) in ann {
                let field = at(&format!("annotations.{aspect}.Rating"));
                let rating = match &a {
                    Value::Object(a) => a.get("Rating").cloned(),
                    Value::Array(list) => list.first().and_then(|x| x.get("Rating").cloned()),
                    _ => None,
                }
                .ok_or_else(|| RecordError::field(loc.clone(), field.clone(), "missing"))?;
                // UltraFeedback writes "N/A" for aspects that do not apply.
                if rating.as_str() == Some("N/A") {
                    continue;
                }
                scores.insert(aspect.clone(), num(&rating, loc, &field)?);
                if let Some(Value::String(r)) = a.get("Rationale") {
                    rationales.insert(aspect, r.clone());
                }
            }
        }
        let overall = match c.remove("overall_score") {
            Some(v) => Some(num(&v, loc, &at("overall_score"))?),
            None => None,
        };
        out.push(Record::Rating(Rating {
            prompt: Some(Text::Plain(prompt.clone())),
            response: Text::Plain(response),
            model,
            scores,
            rationales,
            overall,
            ann: Annotations {
                id: id.clone(),
                source: source.clone(),
                extra: c,
                ..Default::default()
            },
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Pos;
    use std::path::Path;

    fn loc() -> Location {
        Location::new(Path::new("x"), Pos::Line(1))
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn dates_to_epoch_seconds() {
        assert_eq!(parse_date("1970-01-01"), Some(0.0));
        assert_eq!(parse_date("2000-03-01"), Some(951_868_800.0));
        // Python: (date(1872,11,30) - date(1970,1,1)).days * 86400
        assert_eq!(parse_date("1872-11-30"), Some(-3_063_744_000.0));
        assert_eq!(parse_date("1872-13-30"), None);
    }

    #[test]
    fn pandalm_majority_soft_and_each() {
        let row = serde_json::json!({"idx": 3, "cmp_key": "a_b", "instruction": "Do.", "input": "",
            "response1": "r1", "response2": "r2", "annotator1": 2, "annotator2": 2, "annotator3": 0});
        let r = map_row(
            Layout::Pandalm,
            Aggregate::Majority,
            Shape::Pair,
            &loc(),
            obj(row.clone()),
        )
        .unwrap();
        let Record::Pair(p) = &r[0] else { panic!() };
        assert_eq!(p.chosen, Text::from("r2"));
        assert_eq!(p.ann.extra["chosen_model"], "b");
        let r = map_row(
            Layout::Pandalm,
            Aggregate::Soft,
            Shape::Pair,
            &loc(),
            obj(row.clone()),
        )
        .unwrap();
        let Record::Pair(p) = &r[0] else { panic!() };
        assert!((p.ann.strength.unwrap() - 2.5 / 3.0).abs() < 1e-12);
        let r = map_row(
            Layout::Pandalm,
            Aggregate::Each,
            Shape::Battle,
            &loc(),
            obj(row),
        )
        .unwrap();
        assert_eq!(r.len(), 3);

        let split = serde_json::json!({"idx": 4, "cmp_key": "a_b", "instruction": "Do.",
            "response1": "r1", "response2": "r2", "annotator1": 1, "annotator2": 2, "annotator3": 0});
        let e = map_row(
            Layout::Pandalm,
            Aggregate::Majority,
            Shape::Pair,
            &loc(),
            obj(split),
        )
        .unwrap_err();
        assert!(e.message.contains("no majority"), "{e}");
    }

    #[test]
    fn football_scores_decide_and_bad_scores_are_named() {
        let row = serde_json::json!({"date": "1872-11-30", "home_team": "Scotland", "away_team": "England",
            "home_score": "0", "away_score": "0", "tournament": "Friendly"});
        let r = map_row(
            Layout::Football,
            Aggregate::Majority,
            Shape::Battle,
            &loc(),
            obj(row),
        )
        .unwrap();
        let Record::Battle(b) = &r[0] else { panic!() };
        assert_eq!(b.winner, Winner::Tie);
        assert_eq!(b.ann.source.as_deref(), Some("Friendly"));
        let row = serde_json::json!({"home_team": "A", "away_team": "B", "home_score": "NA", "away_score": "1"});
        let e = map_row(
            Layout::Football,
            Aggregate::Majority,
            Shape::Battle,
            &loc(),
            obj(row),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("home_score"));
    }

    #[test]
    fn ultrafeedback_raw_completions_become_ratings() {
        let row = serde_json::json!({"instruction": "Q", "source": "evol", "completions": [
            {"model": "m1", "response": "A1", "overall_score": 7.5, "annotations": {
                "helpfulness": {"Rating": "4", "Rationale": "good"},
                "honesty": {"Rating": "N/A", "Rationale": ""}}},
            {"model": "m2", "response": "A2", "overall_score": 3, "annotations": {
                "helpfulness": {"Rating": "2", "Rationale": "meh"}}}]});
        let r = map_row(
            Layout::UltraFeedback,
            Aggregate::Majority,
            Shape::Rating,
            &loc(),
            obj(row),
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        let Record::Rating(x) = &r[0] else { panic!() };
        assert_eq!(x.scores["helpfulness"], 4.0);
        assert!(!x.scores.contains_key("honesty"));
        assert_eq!(x.rationales["helpfulness"], "good");
        assert_eq!(x.overall, Some(7.5));
    }
}
