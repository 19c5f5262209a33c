//! Labelled pairs to measure a judge on: the question, answers A and B, and the human
//! verdict where there is one.
//!
//! Read from
//! - the PandaLM human test set (a JSON array of `{idx, instruction, input, response1,
//!   response2, annotator1..3}`, labels 0 = tie, 1 = response1, 2 = response2): the
//!   label is what most annotators said (none when no label has a majority); the question
//!   is the instruction, then the input after a blank line when there is one;
//! - JSON Lines of TRL's pairs, `{prompt, chosen, rejected}` (A is the chosen answer,
//!   labelled A), or `{prompt, a, b, label}` with `label` one of `"a"`, `"b"`, `"tie"`
//!   (or absent).
//!
//! A bad record is an error naming the file, the record (array index or line) and the
//! field.

use std::path::Path;

use serde_json::{Map, Value};

use super::{PairQuery, Verdict};
use crate::error::io_err;
use crate::{Error, Result};

/// A judge benchmark: the pairs and their labels, index for index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labelled {
    /// The pairs.
    pub queries: Vec<PairQuery>,
    /// The human verdict of each (`None`: unlabelled).
    pub labels: Vec<Option<Verdict>>,
}

impl Labelled {
    /// The first `n` pairs.
    pub fn truncate(&mut self, n: usize) {
        self.queries.truncate(n);
        self.labels.truncate(n);
    }

    /// Reads `path`: a JSON array (PandaLM's layout) or JSON Lines (pairs).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let bad = |at: String, m: String| Error::Config(format!("{}: {at}: {m}", path.display()));
        let mut out = Labelled::default();
        if text.trim_start().starts_with('[') {
            let rows: Vec<Value> = serde_json::from_str(&text)
                .map_err(|e| bad(format!("line {}", e.line()), e.to_string()))?;
            for (i, row) in rows.into_iter().enumerate() {
                let at = format!("record {i}");
                let Value::Object(o) = row else {
                    return Err(bad(at, "not a JSON object".into()));
                };
                let (q, l) = pandalm(&o).map_err(|m| bad(at, m))?;
                out.queries.push(q);
                out.labels.push(l);
            }
        } else {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let at = format!("line {}", i + 1);
                let o: Map<String, Value> =
                    serde_json::from_str(line).map_err(|e| bad(at.clone(), e.to_string()))?;
                let (q, l) = pair(&o).map_err(|m| bad(at, m))?;
                out.queries.push(q);
                out.labels.push(l);
            }
        }
        Ok(out)
    }
}

fn text(o: &Map<String, Value>, field: &str) -> std::result::Result<String, String> {
    match o.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Err(format!("`{field}`: expected a string, found {v}")),
        None => Err(format!("`{field}`: missing")),
    }
}

/// A PandaLM response: a string, or a JSON boolean where the answer was the word
/// (`True` / `False`, as the set's source had it).
fn response(o: &Map<String, Value>, field: &str) -> std::result::Result<String, String> {
    match o.get(field) {
        Some(Value::Bool(b)) => Ok(if *b { "True" } else { "False" }.into()),
        _ => text(o, field),
    }
}

/// One PandaLM record: the pair and its majority label.
fn pandalm(o: &Map<String, Value>) -> std::result::Result<(PairQuery, Option<Verdict>), String> {
    let mut prompt = text(o, "instruction")?;
    if let Some(Value::String(input)) = o.get("input")
        && !input.trim().is_empty()
    {
        prompt = format!("{prompt}\n\n{input}");
    }
    let mut counts = [0usize; 3];
    let mut k = 1;
    while let Some(v) = o.get(&format!("annotator{k}")) {
        match v.as_u64() {
            Some(x @ 0..=2) => counts[x as usize] += 1,
            _ => {
                return Err(format!(
                    "`annotator{k}`: expected 0 (tie), 1 (response1) or 2 (response2), found {v}"
                ));
            }
        }
        k += 1;
    }
    if k == 1 {
        return Err("`annotator1`: missing".into());
    }
    let votes = k - 1;
    let label = counts
        .iter()
        .position(|&c| 2 * c > votes)
        .map(|i| [Verdict::Tie, Verdict::A, Verdict::B][i]);
    let q = PairQuery {
        prompt,
        a: response(o, "response1")?,
        b: response(o, "response2")?,
    };
    Ok((q, label))
}

/// One JSON Lines pair.
fn pair(o: &Map<String, Value>) -> std::result::Result<(PairQuery, Option<Verdict>), String> {
    let prompt = text(o, "prompt")?;
    if o.contains_key("chosen") {
        let q = PairQuery {
            prompt,
            a: text(o, "chosen")?,
            b: text(o, "rejected")?,
        };
        return Ok((q, Some(Verdict::A)));
    }
    let label = match o.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("a") => Some(Verdict::A),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("b") => Some(Verdict::B),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("tie") => Some(Verdict::Tie),
        Some(v) => {
            return Err(format!(
                "`label`: expected \"a\", \"b\" or \"tie\", found {v}"
            ));
        }
    };
    let q = PairQuery {
        prompt,
        a: text(o, "a")?,
        b: text(o, "b")?,
    };
    Ok((q, label))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod tests {
    use super::*;

    fn read(name: &str, body: &str) -> Result<Labelled> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        Labelled::read(&p)
    }

    #[test]
    fn majority_labels_and_named_errors() {
        let l = read(
            "t.json",
            r#"[{"instruction": "Q", "input": "ctx", "response1": "x", "response2": "y",
                 "annotator1": 2, "annotator2": 2, "annotator3": 0},
                {"instruction": "Q2", "input": "", "response1": "x", "response2": "y",
                 "annotator1": 1, "annotator2": 2, "annotator3": 0},
                {"instruction": "Q3", "response1": "x", "response2": "y",
                 "annotator1": 0, "annotator2": 0, "annotator3": 1}]"#,
        )
        .unwrap();
        assert_eq!(l.labels, vec![Some(Verdict::B), None, Some(Verdict::Tie)]);
        assert_eq!(l.queries[0].prompt, "Q\n\nctx");
        assert_eq!(l.queries[1].prompt, "Q2");
        let e = read(
            "t.json",
            r#"[{"instruction": "Q", "response1": "x", "response2": "y", "annotator1": 3}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.json: record 0: `annotator1`"), "{e}");
        let e = read(
            "p.jsonl",
            "{\"prompt\": \"q\", \"chosen\": \"x\", \"rejected\": \"y\"}\n{\"prompt\": \"q\", \"chosen\": 1}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("p.jsonl: line 2: `chosen`: expected a string"),
            "{e}"
        );
        let l = read(
            "p.jsonl",
            "{\"prompt\": \"q\", \"a\": \"x\", \"b\": \"y\", \"label\": \"tie\"}\n\n{\"prompt\": \"q\", \"a\": \"x\", \"b\": \"y\"}\n",
        )
        .unwrap();
        assert_eq!(l.labels, vec![Some(Verdict::Tie), None]);
    }
}
