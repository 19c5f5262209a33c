//! The models and their stored outputs, held in memory (the page and the matchmaking
//! never wait on the database for them), and the import format: JSON lines
//! `{"model": ..., "prompt_id": ..., "prompt": ..., "response": ...}`.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::db::OutputRow;
use crate::error::{Error, Result};

/// Longest accepted model name, prompt id, prompt and response (bytes).
pub const MAX_NAME: usize = 200;
/// Longest accepted prompt or response (bytes).
pub const MAX_TEXT: usize = 100_000;

/// One line of an import file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRecord {
    /// The model's name.
    pub model: String,
    /// The prompt's id (the same prompt has the same id for every model).
    pub prompt_id: String,
    /// The prompt.
    pub prompt: String,
    /// The model's response.
    pub response: String,
}

/// Parses an import file (JSON lines). Every problem names the line and the field.
///
/// # Errors
/// A line that is not JSON, lacks a field, has an empty or too long value, or repeats
/// a (model, prompt id) pair.
pub fn parse_outputs(text: &str, source: &str) -> Result<Vec<OutputRecord>> {
    let mut out = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut prompts: HashMap<String, (String, usize)> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let r: OutputRecord =
            serde_json::from_str(line).map_err(|e| Error::Invalid(format!("{source}:{n}: {e}")))?;
        for (field, value, max) in [
            ("model", &r.model, MAX_NAME),
            ("prompt_id", &r.prompt_id, MAX_NAME),
            ("prompt", &r.prompt, MAX_TEXT),
            ("response", &r.response, MAX_TEXT),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Invalid(format!(
                    "{source}:{n}: field `{field}`: is empty"
                )));
            }
            if value.len() > max {
                return Err(Error::Invalid(format!(
                    "{source}:{n}: field `{field}`: longer than {max} bytes"
                )));
            }
        }
        if let Some(first) = seen.insert((r.model.clone(), r.prompt_id.clone()), n) {
            return Err(Error::Invalid(format!(
                "{source}:{n}: field `prompt_id`: model `{}` already has prompt `{}` (line {first})",
                r.model, r.prompt_id
            )));
        }
        match prompts.get(&r.prompt_id) {
            Some((p, first)) if *p != r.prompt => {
                return Err(Error::Invalid(format!(
                    "{source}:{n}: field `prompt`: differs from the prompt of `{}` on line {first}",
                    r.prompt_id
                )));
            }
            Some(_) => {}
            None => {
                prompts.insert(r.prompt_id.clone(), (r.prompt.clone(), n));
            }
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err(Error::Invalid(format!("{source}: no outputs")));
    }
    Ok(out)
}

/// A prompt and which models answered it.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// Its id.
    pub id: String,
    /// Its text.
    pub text: Arc<str>,
    /// (model index, output id) of every answer.
    pub answers: Vec<(usize, i64)>,
}

/// One stored output.
#[derive(Debug, Clone)]
pub struct Output {
    /// The model's index.
    pub model: usize,
    /// The prompt's index.
    pub prompt: usize,
    /// The response.
    pub response: Arc<str>,
}

/// Models and outputs. Model indices follow database ids and never change (models are
/// only added), so ratings vectors are indexed the same way.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// (database id, name) per model index.
    pub models: Vec<(i64, String)>,
    model_index: HashMap<i64, usize>,
    prompt_index: HashMap<String, usize>,
    /// Outputs by id.
    pub outputs: HashMap<i64, Output>,
    /// Prompts.
    pub prompts: Vec<Prompt>,
    /// Prompt indices each model answered.
    pub prompts_of: Vec<Vec<usize>>,
    /// (outputs, largest output id) when loaded.
    pub version: (i64, i64),
}

impl Catalog {
    /// Builds the catalog from stored rows.
    pub fn build(models: Vec<(i64, String)>, outputs: Vec<OutputRow>) -> Catalog {
        let model_index: HashMap<i64, usize> =
            models.iter().enumerate().map(|(i, m)| (m.0, i)).collect();
        let mut prompt_index: HashMap<String, usize> = HashMap::new();
        let mut c = Catalog {
            prompts_of: vec![Vec::new(); models.len()],
            models,
            model_index,
            version: (
                outputs.len() as i64,
                outputs.iter().map(|o| o.id).max().unwrap_or(0),
            ),
            ..Default::default()
        };
        for o in outputs {
            let Some(&m) = c.model_index.get(&o.model_id) else {
                continue;
            };
            let p = *prompt_index.entry(o.prompt_id.clone()).or_insert_with(|| {
                c.prompts.push(Prompt {
                    id: o.prompt_id.clone(),
                    text: o.prompt.as_str().into(),
                    answers: Vec::new(),
                });
                c.prompts.len() - 1
            });
            c.prompts[p].answers.push((m, o.id));
            c.prompts_of[m].push(p);
            c.outputs.insert(
                o.id,
                Output {
                    model: m,
                    prompt: p,
                    response: o.response.into(),
                },
            );
        }
        c.prompt_index = prompt_index;
        c
    }

    /// A prompt by id.
    pub fn prompt(&self, id: &str) -> Option<&Prompt> {
        self.prompt_index.get(id).map(|&i| &self.prompts[i])
    }

    /// The index of the model with database id `id`.
    pub fn model_index(&self, id: i64) -> Option<usize> {
        self.model_index.get(&id).copied()
    }

    /// The model's name by index.
    pub fn name(&self, m: usize) -> &str {
        self.models.get(m).map_or("?", |x| x.1.as_str())
    }

    /// Models that have at least one output.
    pub fn active(&self) -> Vec<bool> {
        self.prompts_of.iter().map(|p| !p.is_empty()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_errors_name_line_and_field() {
        let ok = "{\"model\":\"m\",\"prompt_id\":\"p\",\"prompt\":\"q\",\"response\":\"r\"}\n";
        assert_eq!(parse_outputs(ok, "f").unwrap().len(), 1);
        let e = parse_outputs(
            &format!("{ok}{{\"model\":\"m2\",\"prompt_id\":\"p\",\"prompt\":\"q\"}}"),
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("f:2:") && e.contains("response"), "{e}");
        let e = parse_outputs(&format!("{ok}{ok}"), "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f:2: field `prompt_id`"), "{e}");
        let e = parse_outputs(
            &format!("{ok}{{\"model\":\"n\",\"prompt_id\":\"p\",\"prompt\":\"other\",\"response\":\"r\"}}"),
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("f:2: field `prompt`"), "{e}");
        let e = parse_outputs(
            "{\"model\":\" \",\"prompt_id\":\"p\",\"prompt\":\"q\",\"response\":\"r\"}",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("f:1: field `model`: is empty"), "{e}");
    }
}
