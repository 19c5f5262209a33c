//! Reading preference matrices from files, with errors that name the file, the line and
//! the column.
//!
//! - **CSV / TSV**: one row per response; an optional header row of names and an
//!   optional first column of names:
//!   ```text
//!   ,rock,paper,scissors
//!   rock,0.5,0,1
//!   paper,1,0.5,0
//!   scissors,0,1,0.5
//!   ```
//! - **JSON**: `[[0.5, 0.7], [0.3, 0.5]]`, or `{"names": [...], "matrix": [[...]]}`, or,
//!   for several groups (MaxMin),
//!   `{"names": [...], "groups": [{"name": "a", "weight": 0.8, "matrix": [[...]]}, ...]}`.
//!
//! Every matrix must be square, hold probabilities, and satisfy `P + Pᵀ = 1` within a
//! tolerance ([`super::matrix::DEFAULT_SUM_TOL`] by default).

use std::path::Path;

use serde_json::Value;

use super::{Game, Group, PrefMatrix};
use crate::{Error, Result};

fn invalid(file: &str, msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("{file}: {msg}"))
}

fn parse_num(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

/// Whether `path` holds a matrix (rather than votes): `.csv`/`.tsv` files whose first data
/// row is numbers (after an optional label), and `.json` files holding an array of
/// arrays or an object with `matrix` or `groups`.
///
/// # Errors
/// The file cannot be read.
pub fn is_matrix_file(path: &Path) -> Result<bool> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let file = path.display().to_string();
    match ext.as_str() {
        "csv" | "tsv" => {
            let text = std::fs::read_to_string(path).map_err(|e| invalid(&file, e))?;
            let delim = if ext == "tsv" { '\t' } else { ',' };
            let mut lines = text.lines().filter(|l| !l.trim().is_empty());
            let first: Vec<&str> = lines.next().unwrap_or("").split(delim).collect();
            let row = if first.iter().skip(1).all(|c| parse_num(c).is_some()) {
                first
            } else {
                lines.next().unwrap_or("").split(delim).collect()
            };
            Ok(row.len() >= 2 && row.iter().skip(1).all(|c| parse_num(c).is_some()))
        }
        "json" => {
            let text = std::fs::read_to_string(path).map_err(|e| invalid(&file, e))?;
            let t = text.trim_start();
            if let Some(rest) = t.strip_prefix('[') {
                return Ok(rest.trim_start().starts_with('['));
            }
            Ok(match serde_json::from_str::<Value>(t) {
                Ok(Value::Object(o)) => o.contains_key("matrix") || o.contains_key("groups"),
                _ => false,
            })
        }
        _ => Ok(false),
    }
}

/// Reads a matrix file (by extension: `.csv`, `.tsv`, `.json`).
///
/// # Errors
/// Unreadable file, unknown extension, malformed content, or an invalid matrix; each
/// names the file and where.
pub fn read_game(path: &Path, tol: f64) -> Result<Game> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| invalid(&file, e))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => parse_csv(&text, ',', &file, tol),
        "tsv" => parse_csv(&text, '\t', &file, tol),
        "json" => parse_json(&text, &file, tol),
        _ => Err(invalid(&file, "a matrix file must be .csv, .tsv or .json")),
    }
}

/// Parses a CSV (or TSV) matrix; `file` names it in errors.
///
/// # Errors
/// Cells that are not numbers, ragged rows, or an invalid matrix.
pub fn parse_csv(text: &str, delim: char, file: &str, tol: f64) -> Result<Game> {
    let lines: Vec<(usize, Vec<String>)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(k, l)| {
            (
                k + 1,
                l.split(delim)
                    .map(|c| c.trim().trim_matches('"').to_string())
                    .collect(),
            )
        })
        .collect();
    let Some((_, first)) = lines.first() else {
        return Err(invalid(file, "the file is empty"));
    };
    let header = first.iter().skip(1).any(|c| parse_num(c).is_none());
    let data = &lines[usize::from(header)..];
    let Some((_, row0)) = data.first() else {
        return Err(invalid(file, "no matrix rows after the header"));
    };
    let labelled = parse_num(&row0[0]).is_none();
    let skip = usize::from(labelled);
    let mut rows = Vec::with_capacity(data.len());
    let mut labels = Vec::new();
    for (line, cells) in data {
        let width = data.len() + skip;
        if cells.len() != width {
            return Err(invalid(
                file,
                format!(
                    "line {line}: {} values, expected {} (the matrix must be square: {} rows){}",
                    cells.len() - skip.min(cells.len()),
                    data.len(),
                    data.len(),
                    if labelled {
                        ", after the name column"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if labelled {
            labels.push(cells[0].clone());
        }
        let mut row = Vec::with_capacity(data.len());
        for (c, cell) in cells.iter().enumerate().skip(skip) {
            match parse_num(cell) {
                Some(v) => row.push(v),
                None => {
                    return Err(invalid(
                        file,
                        format!("line {line}, column {}: `{cell}` is not a number", c + 1),
                    ));
                }
            }
        }
        rows.push(row);
    }
    let named = header || labelled;
    let names: Vec<String> = if header {
        let h: Vec<String> = first
            .iter()
            .skip(first.len() - data.len().min(first.len()))
            .cloned()
            .collect();
        if h.len() != data.len() {
            return Err(invalid(
                file,
                format!(
                    "the header names {} responses for {} rows",
                    h.len(),
                    data.len()
                ),
            ));
        }
        if labelled && labels != h {
            return Err(invalid(
                file,
                "the header names and the row names differ (order matters)",
            ));
        }
        h
    } else if labelled {
        labels
    } else {
        (1..=rows.len()).map(|i| i.to_string()).collect()
    };
    let m = PrefMatrix::from_rows(&rows, named.then_some(names.as_slice()), tol)
        .map_err(|e| invalid(file, e))?;
    Game::with_names(m, names).map_err(|e| invalid(file, e))
}

fn json_rows(v: &Value, file: &str, what: &str) -> Result<Vec<Vec<f64>>> {
    let Some(rows) = v.as_array() else {
        return Err(invalid(file, format!("{what} must be an array of rows")));
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let Some(r) = r.as_array() else {
                return Err(invalid(file, format!("{what} row {}: not an array", i + 1)));
            };
            r.iter()
                .enumerate()
                .map(|(j, x)| {
                    x.as_f64().ok_or_else(|| {
                        invalid(
                            file,
                            format!(
                                "{what} row {}, column {}: {x} is not a number",
                                i + 1,
                                j + 1
                            ),
                        )
                    })
                })
                .collect()
        })
        .collect()
}

/// Parses a JSON matrix; `file` names it in errors.
///
/// # Errors
/// Malformed JSON (with its line and column), missing fields, or an invalid matrix.
pub fn parse_json(text: &str, file: &str, tol: f64) -> Result<Game> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        invalid(
            file,
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })?;
    let names_of = |v: &Value, n: usize| -> Result<Vec<String>> {
        match v.get("names") {
            None => Ok((1..=n).map(|i| i.to_string()).collect()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    s.as_str()
                        .map(String::from)
                        .ok_or_else(|| invalid(file, format!("names[{k}]: {s} is not a string")))
                })
                .collect(),
            Some(other) => Err(invalid(
                file,
                format!("`names` must be an array of strings, not {other}"),
            )),
        }
    };
    match &v {
        Value::Array(_) => {
            let rows = json_rows(&v, file, "matrix")?;
            let m = PrefMatrix::from_rows(&rows, None, tol).map_err(|e| invalid(file, e))?;
            Ok(Game::new(m))
        }
        Value::Object(o) if o.contains_key("matrix") => {
            let rows = json_rows(&o["matrix"], file, "`matrix`")?;
            let names = names_of(&v, rows.len())?;
            let m =
                PrefMatrix::from_rows(&rows, Some(&names), tol).map_err(|e| invalid(file, e))?;
            Game::with_names(m, names).map_err(|e| invalid(file, e))
        }
        Value::Object(o) if o.contains_key("groups") => {
            let Some(gs) = o["groups"].as_array().filter(|a| !a.is_empty()) else {
                return Err(invalid(file, "`groups` must be a non-empty array"));
            };
            let mut groups = Vec::new();
            let mut names = None;
            for (k, g) in gs.iter().enumerate() {
                let what = format!("groups[{k}].matrix");
                let rows = json_rows(g.get("matrix").unwrap_or(&Value::Null), file, &what)?;
                let nm = names_of(&v, rows.len())?;
                let m = PrefMatrix::from_rows(&rows, Some(&nm), tol)
                    .map_err(|e| invalid(file, format!("groups[{k}]: {e}")))?;
                let weight = match g.get("weight") {
                    None => 1.0,
                    Some(w) => w.as_f64().ok_or_else(|| {
                        invalid(file, format!("groups[{k}].weight: {w} is not a number"))
                    })?,
                };
                let name = g
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("group {}", k + 1), String::from);
                groups.push(Group {
                    name,
                    weight,
                    matrix: m,
                });
                names.get_or_insert(nm);
            }
            Game::from_groups(names.unwrap_or_default(), groups).map_err(|e| invalid(file, e))
        }
        _ => Err(invalid(
            file,
            "expected an array of rows, or an object with `matrix` or `groups`",
        )),
    }
}

/// The population matrix as CSV, with a header of names and a name column.
pub fn to_csv(game: &Game) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::new();
    out.push_str(
        &std::iter::once(String::new())
            .chain(game.names().iter().map(|s| quote(s)))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for (i, name) in game.names().iter().enumerate() {
        out.push_str(&quote(name));
        for j in 0..game.n() {
            out.push_str(&format!(",{}", game.matrix().get(i, j)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: f64 = super::super::matrix::DEFAULT_SUM_TOL;

    #[test]
    fn csv_with_and_without_names() {
        let g = parse_csv(
            ",r,p,s\nr,0.5,0,1\np,1,0.5,0\ns,0,1,0.5\n",
            ',',
            "m.csv",
            TOL,
        )
        .unwrap();
        assert_eq!(g.names(), ["r", "p", "s"]);
        assert_eq!(g.matrix().get(2, 1), 1.0);
        let g = parse_csv("0.5,0.7\n0.3,0.5\n", ',', "m.csv", TOL).unwrap();
        assert_eq!(g.names(), ["1", "2"]);
        let g = parse_csv("a\tb\n0.5\t0.7\n0.3\t0.5\n", '\t', "m.tsv", TOL).unwrap();
        assert_eq!(g.names(), ["a", "b"]);
        let back = parse_csv(&to_csv(&g), ',', "x.csv", 0.0).unwrap();
        assert_eq!(back.matrix(), g.matrix());
    }

    #[test]
    fn csv_errors_name_file_line_and_column() {
        let e = parse_csv("0.5,0.7,0.1\n0.3,0.5,0.2\n", ',', "m.csv", TOL)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.csv: line 1: 3 values, expected 2"), "{e}");
        let e = parse_csv("0.5,0.7\n0.3,x\n", ',', "m.csv", TOL)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.csv: line 2, column 2: `x` is not a number"),
            "{e}"
        );
        let e = parse_csv("0.5,0.7\n0.4,0.5\n", ',', "m.csv", TOL)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.csv") && e.contains("row 1, column 2: 0.7 + row 2, column 1: 0.4"),
            "{e}"
        );
        let e = parse_csv(",a,b\na,0.5,2\nb,-1,0.5\n", ',', "m.csv", TOL)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1 (a), column 2 (b): 2"), "{e}");
    }

    #[test]
    fn json_forms() {
        let g = parse_json("[[0.5, 0.9], [0.1, 0.5]]", "m.json", TOL).unwrap();
        assert!((g.matrix().get(0, 1) - 0.9).abs() < 1e-15);
        let g = parse_json(
            r#"{"names": ["a", "b"], "matrix": [[0.5, 0.9], [0.1, 0.5]]}"#,
            "m.json",
            TOL,
        )
        .unwrap();
        assert_eq!(g.names(), ["a", "b"]);
        let g = parse_json(
            r#"{"names": ["a", "b"], "groups": [{"name": "x", "weight": 3, "matrix": [[0.5, 1], [0, 0.5]]},
                {"name": "y", "weight": 1, "matrix": [[0.5, 0], [1, 0.5]]}]}"#,
            "m.json",
            TOL,
        )
        .unwrap();
        assert_eq!(g.groups().len(), 2);
        assert!((g.matrix().get(0, 1) - 0.75).abs() < 1e-15);
        let e = parse_json("[[0.5, 0.9], [0.1]]", "m.json", TOL)
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.json") && e.contains("not square"), "{e}");
        let e = parse_json("[[0.5, \"a\"], [0.1, 0.5]]", "m.json", TOL)
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 1, column 2"), "{e}");
        let e = parse_json("[[0.5, 0.9],", "m.json", TOL)
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.json: line 1"), "{e}");
    }

    #[test]
    fn detection() {
        let dir = tempfile::tempdir().unwrap();
        let w = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            p
        };
        assert!(is_matrix_file(&w("a.csv", ",r,p\nr,0.5,0\np,1,0.5\n")).unwrap());
        assert!(is_matrix_file(&w("b.csv", "0.5,0\n1,0.5\n")).unwrap());
        assert!(!is_matrix_file(&w("c.csv", "left,right,winner\na,b,left\n")).unwrap());
        assert!(
            !is_matrix_file(&w("d.csv", "home,away,home_score,away_score\na,b,1,2\n")).unwrap()
        );
        assert!(is_matrix_file(&w("e.json", " [[0.5]]")).unwrap());
        assert!(!is_matrix_file(&w("f.json", "[{\"model_a\": \"x\"}]")).unwrap());
        assert!(is_matrix_file(&w("g.json", "{\"groups\": []}")).unwrap());
        assert!(!is_matrix_file(&w("h.jsonl", "{}\n")).unwrap());
    }
}
