//! Choice problems: a set of options (lotteries, possibly delayed) and what was chosen.
//!
//! One JSON object per line:
//!
//! ```json
//! {"id": "q1", "options": [{"outcomes": [100, 0], "probs": [0.5, 0.5]}, {"amount": 40}], "choice": 1}
//! {"options": [{"amount": 50, "delay": 0}, {"amount": 80, "delay": 30}], "counts": [12, 8]}
//! ```
//!
//! An option is a lottery (`outcomes` with `probs` that sum to one) or a sure `amount`,
//! paid after `delay` (default 0; any unit, the same across the file). What was chosen is
//! either one `choice` (0-based index into `options`) or `counts` per option (aggregated
//! data such as choice proportions times the number of people asked). `group` (optional)
//! says whose choices these are (`"human"`, a model name), for comparisons.

use std::io::BufRead;
use std::path::Path;

use prefer_data::{Location, Pos, RecordError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Result;

/// How far the probabilities of a lottery may sum from one (rounding in data files).
pub const PROB_SUM_TOL: f64 = 1e-6;

/// One option: a lottery over outcomes, paid after a delay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prospect {
    /// The outcomes (money or any cardinal unit).
    pub outcomes: Vec<f64>,
    /// Their probabilities (same length, summing to one).
    pub probs: Vec<f64>,
    /// When it is paid (0 = now).
    pub delay: f64,
}

impl Prospect {
    /// A sure amount now.
    pub fn sure(amount: f64) -> Self {
        Self::delayed(amount, 0.0)
    }

    /// A sure amount after `delay`.
    pub fn delayed(amount: f64, delay: f64) -> Self {
        Self {
            outcomes: vec![amount],
            probs: vec![1.0],
            delay,
        }
    }

    /// A lottery paid now.
    pub fn lottery(outcomes: Vec<f64>, probs: Vec<f64>) -> Self {
        Self {
            outcomes,
            probs,
            delay: 0.0,
        }
    }

    /// The (outcome, probability) pairs with a positive probability.
    pub fn support(&self) -> Vec<(f64, f64)> {
        self.outcomes
            .iter()
            .copied()
            .zip(self.probs.iter().copied())
            .filter(|(_, p)| *p > 0.0)
            .collect()
    }

    /// Σ p x.
    pub fn expected_value(&self) -> f64 {
        self.outcomes
            .iter()
            .zip(&self.probs)
            .map(|(x, p)| x * p)
            .sum()
    }
}

/// One choice problem and the choices made in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The record's id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Whose choices (optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The options (at least two).
    pub options: Vec<Prospect>,
    /// How often each option was chosen (same length as `options`).
    pub counts: Vec<f64>,
}

impl Problem {
    /// The number of choices recorded.
    pub fn total(&self) -> f64 {
        self.counts.iter().sum()
    }
}

/// Checks one problem; the error names the field.
///
/// # Errors
/// The field path and what is wrong, as `(field, message)`.
pub fn check(p: &Problem) -> std::result::Result<(), (String, String)> {
    if p.options.len() < 2 {
        return Err((
            "options".into(),
            format!("needs at least two options, found {}", p.options.len()),
        ));
    }
    for (k, o) in p.options.iter().enumerate() {
        let at = |f: &str| format!("options[{k}].{f}");
        if o.outcomes.is_empty() {
            return Err((at("outcomes"), "is empty".into()));
        }
        if o.outcomes.len() != o.probs.len() {
            return Err((
                at("probs"),
                format!(
                    "has {} entries for {} outcomes",
                    o.probs.len(),
                    o.outcomes.len()
                ),
            ));
        }
        if let Some(x) = o.outcomes.iter().find(|x| !x.is_finite()) {
            return Err((at("outcomes"), format!("{x} is not a finite number")));
        }
        if let Some(q) = o.probs.iter().find(|q| !(**q >= 0.0 && **q <= 1.0)) {
            return Err((at("probs"), format!("{q} is not a probability in [0, 1]")));
        }
        let sum: f64 = o.probs.iter().sum();
        if (sum - 1.0).abs() > PROB_SUM_TOL {
            return Err((at("probs"), format!("sum to {sum}, not 1")));
        }
        if !(o.delay >= 0.0 && o.delay.is_finite()) {
            return Err((at("delay"), format!("{} is not a delay >= 0", o.delay)));
        }
    }
    if p.counts.len() != p.options.len() {
        return Err((
            "counts".into(),
            format!(
                "has {} entries for {} options",
                p.counts.len(),
                p.options.len()
            ),
        ));
    }
    if let Some(c) = p.counts.iter().find(|c| !(**c >= 0.0 && c.is_finite())) {
        return Err(("counts".into(), format!("{c} is not a count >= 0")));
    }
    if !(p.total() > 0.0) {
        return Err(("counts".into(), "no choice is recorded".into()));
    }
    Ok(())
}

/// Problems read from a file, and the records that were rejected (with reasons).
#[derive(Debug, Default)]
pub struct Read {
    /// The good problems, in file order.
    pub problems: Vec<Problem>,
    /// The bad records.
    pub rejected: Vec<RecordError>,
}

/// Reads a JSONL file of choice problems. Bad records do not stop the reader: they are
/// returned in [`Read::rejected`] with file, line, field and reason, for the caller to
/// report or write to a side file.
///
/// # Errors
/// The file cannot be opened or read.
pub fn read_jsonl(path: &Path) -> Result<Read> {
    let file = std::fs::File::open(path).map_err(|e| prefer_data::Error::io(path, e))?;
    let mut out = Read::default();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| prefer_data::Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let loc = Location::new(path, Pos::Line(i as u64 + 1));
        match parse_line(&line).and_then(|p| check(&p).map(|()| p)) {
            Ok(p) => out.problems.push(p),
            Err((field, message)) => {
                let mut e = if field.is_empty() {
                    RecordError::record(loc, message)
                } else {
                    RecordError::field(loc, field, message)
                };
                e.raw = Some(line);
                out.rejected.push(e);
            }
        }
    }
    Ok(out)
}

type FieldError = (String, String);

fn parse_line(line: &str) -> std::result::Result<Problem, FieldError> {
    let v: Value =
        serde_json::from_str(line).map_err(|e| (String::new(), format!("not JSON: {e}")))?;
    let Value::Object(obj) = v else {
        return Err((String::new(), "is not a JSON object".into()));
    };
    for k in obj.keys() {
        if !matches!(k.as_str(), "id" | "group" | "options" | "choice" | "counts") {
            return Err((
                k.clone(),
                "unknown field (expected id, group, options, choice or counts)".into(),
            ));
        }
    }
    let id = opt_string(&obj, "id")?;
    let group = opt_string(&obj, "group")?;
    let Some(Value::Array(opts)) = obj.get("options") else {
        return Err(("options".into(), "missing or not a list of options".into()));
    };
    let options = opts
        .iter()
        .enumerate()
        .map(|(k, o)| parse_option(k, o))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let counts = match (obj.get("choice"), obj.get("counts")) {
        (Some(_), Some(_)) => {
            return Err((
                "choice".into(),
                "give either choice or counts, not both".into(),
            ));
        }
        (None, None) => return Err(("choice".into(), "missing (or give counts)".into())),
        (Some(c), None) => {
            let k = c
                .as_u64()
                .ok_or_else(|| ("choice".to_string(), format!("{c} is not an option index")))?;
            if k as usize >= options.len() {
                return Err((
                    "choice".into(),
                    format!(
                        "{k} is outside the choice set (options 0..{})",
                        options.len()
                    ),
                ));
            }
            let mut v = vec![0.0; options.len()];
            v[k as usize] = 1.0;
            v
        }
        (None, Some(c)) => numbers(c, "counts")?,
    };
    Ok(Problem {
        id,
        group,
        options,
        counts,
    })
}

fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
) -> std::result::Result<Option<String>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(v) => Err((key.into(), format!("{v} is not a string"))),
    }
}

fn numbers(v: &Value, field: &str) -> std::result::Result<Vec<f64>, FieldError> {
    let Value::Array(a) = v else {
        return Err((field.into(), format!("{v} is not a list of numbers")));
    };
    a.iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_f64()
                .ok_or_else(|| (format!("{field}[{i}]"), format!("{x} is not a number")))
        })
        .collect()
}

fn parse_option(k: usize, v: &Value) -> std::result::Result<Prospect, FieldError> {
    let at = |f: &str| format!("options[{k}].{f}");
    let Value::Object(o) = v else {
        return Err((format!("options[{k}]"), "is not an object".into()));
    };
    for key in o.keys() {
        if !matches!(key.as_str(), "outcomes" | "probs" | "amount" | "delay") {
            return Err((
                at(key),
                "unknown field (expected outcomes and probs, or amount; and delay)".into(),
            ));
        }
    }
    let delay = match o.get("delay") {
        None => 0.0,
        Some(d) => d
            .as_f64()
            .ok_or_else(|| (at("delay"), format!("{d} is not a number")))?,
    };
    let (outcomes, probs) = match (o.get("amount"), o.get("outcomes")) {
        (Some(_), Some(_)) => {
            return Err((at("amount"), "give amount or outcomes, not both".into()));
        }
        (Some(a), None) => {
            if o.contains_key("probs") {
                return Err((at("probs"), "a sure amount has no probs".into()));
            }
            let a = a
                .as_f64()
                .ok_or_else(|| (at("amount"), format!("{a} is not a number")))?;
            (vec![a], vec![1.0])
        }
        (None, Some(x)) => {
            let outcomes = numbers(x, &at("outcomes"))?;
            let probs = match o.get("probs") {
                Some(p) => numbers(p, &at("probs"))?,
                None if outcomes.len() == 1 => vec![1.0],
                None => return Err((at("probs"), "missing".into())),
            };
            (outcomes, probs)
        }
        (None, None) => return Err((at("outcomes"), "missing (or give amount)".into())),
    };
    Ok(Prospect {
        outcomes,
        probs,
        delay,
    })
}

/// Writes problems as JSONL (the format [`read_jsonl`] reads), atomically.
///
/// # Errors
/// I/O failure.
pub fn write_jsonl(path: &Path, problems: &[Problem]) -> Result<()> {
    let mut buf = Vec::new();
    for p in problems {
        let mut obj = Map::new();
        if let Some(id) = &p.id {
            obj.insert("id".into(), id.clone().into());
        }
        if let Some(g) = &p.group {
            obj.insert("group".into(), g.clone().into());
        }
        let opts: Vec<Value> = p
            .options
            .iter()
            .map(|o| {
                let mut m = Map::new();
                m.insert("outcomes".into(), o.outcomes.clone().into());
                m.insert("probs".into(), o.probs.clone().into());
                if o.delay != 0.0 {
                    m.insert("delay".into(), o.delay.into());
                }
                Value::Object(m)
            })
            .collect();
        obj.insert("options".into(), opts.into());
        obj.insert("counts".into(), p.counts.clone().into());
        serde_json::to_writer(&mut buf, &Value::Object(obj))
            .map_err(|e| crate::error::Error::Invalid(e.to_string()))?;
        buf.push(b'\n');
    }
    prefer_data::write_atomic(path, &buf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Read {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, text).unwrap();
        read_jsonl(&path).unwrap()
    }

    #[test]
    fn reads_lotteries_amounts_delays_choices_and_counts() {
        let r = read(concat!(
            r#"{"id": "q1", "options": [{"outcomes": [100, 0], "probs": [0.5, 0.5]}, {"amount": 40}], "choice": 1}"#,
            "\n\n",
            r#"{"group": "human", "options": [{"amount": 50}, {"amount": 80, "delay": 30}], "counts": [12, 8]}"#,
            "\n"
        ));
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
        assert_eq!(r.problems.len(), 2);
        assert_eq!(r.problems[0].counts, vec![0.0, 1.0]);
        assert_eq!(r.problems[0].options[0].expected_value(), 50.0);
        assert_eq!(r.problems[1].options[1].delay, 30.0);
        assert_eq!(r.problems[1].group.as_deref(), Some("human"));
        assert_eq!(r.problems[1].total(), 20.0);
    }

    #[test]
    fn bad_records_are_rejected_with_line_field_and_reason() {
        let r = read(concat!(
            r#"{"options": [{"amount": 1}, {"amount": 2}], "choice": 2}"#,
            "\n",
            r#"{"options": [{"outcomes": [1, 2], "probs": [0.5, 0.6]}, {"amount": 2}], "choice": 0}"#,
            "\n",
            r#"{"options": [{"amount": 1}, {"amount": 2}], "choise": 0}"#,
            "\n",
            r#"{"options": [{"amount": 1}, {"amount": 2}], "counts": [1, 1, 1]}"#,
            "\n",
            r#"{"options": [{"amount": 1}, {"amount": 2, "delay": -1}], "choice": 0}"#,
            "\n",
            "not json\n",
            r#"{"options": [{"amount": 1}, {"amount": 2}], "choice": 0}"#,
            "\n",
        ));
        assert_eq!(r.problems.len(), 1);
        let msgs: Vec<String> = r.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 6, "{msgs:#?}");
        assert!(
            msgs[0].contains(":1: field `choice`: 2 is outside the choice set"),
            "{}",
            msgs[0]
        );
        assert!(
            msgs[1].contains(":2: field `options[0].probs`: sum to 1.1"),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[2].contains(":3: field `choise`: unknown field"),
            "{}",
            msgs[2]
        );
        assert!(
            msgs[3].contains(":4: field `counts`: has 3 entries for 2 options"),
            "{}",
            msgs[3]
        );
        assert!(
            msgs[4].contains(":5: field `options[1].delay`"),
            "{}",
            msgs[4]
        );
        assert!(msgs[5].contains(":6: not JSON"), "{}", msgs[5]);
        assert!(r.rejected[5].raw.as_deref() == Some("not json"));
    }

    #[test]
    fn written_problems_read_back_unchanged() {
        let ps = vec![Problem {
            id: Some("a".into()),
            group: None,
            options: vec![
                Prospect::lottery(vec![-10.0, 30.0], vec![0.25, 0.75]),
                Prospect::delayed(5.0, 7.0),
            ],
            counts: vec![3.0, 4.0],
        }];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.jsonl");
        write_jsonl(&path, &ps).unwrap();
        let r = read_jsonl(&path).unwrap();
        assert_eq!(r.problems, ps);
    }
}
