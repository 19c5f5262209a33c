//! mergekit's YAML merge configuration, read as mergekit reads it.
//!
//! The fields are mergekit's (`merge_method`, `base_model`, `models`, `slices`,
//! `parameters`, `dtype`, `out_dtype`, `tokenizer_source`, ...); an unknown field is an
//! error naming it and its place. A parameter value is what mergekit calls a
//! `ParameterSetting`: a scalar, a list (a gradient over the layers of a slice, linearly
//! interpolated at `t = layer / (layers - 1)`), or a list of `{filter, value}` conditions
//! whose first match (`filter` a substring of the tensor name, or absent, or `*`) wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::{Error, Result};

/// One scalar parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A number (YAML integers are read as numbers too).
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// A string (mergekit allows string parameters; a numeric one is parsed on use).
    Str(String),
}

/// A parameter's setting, as written in the YAML.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// One value for every tensor.
    Scalar(Scalar),
    /// A list: numbers are interpolated over the layers of a slice, other values picked.
    List(Vec<Scalar>),
    /// `{filter, value}` conditions, the first whose filter matches the tensor name wins.
    Conditional(Vec<(Option<String>, Setting)>),
}

impl Setting {
    /// The value for a tensor named `tensor` at layer position `t` in `[0, 1]`, or `None`
    /// when no condition matches (mergekit's `evaluate_setting`).
    pub fn evaluate(&self, tensor: &str, t: f64) -> Option<Scalar> {
        match self {
            Setting::Scalar(s) => Some(s.clone()),
            Setting::List(v) if v.is_empty() => None,
            Setting::List(v) => {
                let nums: Option<Vec<f64>> = v.iter().map(scalar_number).collect();
                match nums {
                    Some(nums) => {
                        let scaled = t * (nums.len() - 1) as f64;
                        let i0 = scaled as usize;
                        let i1 = (i0 + 1).min(nums.len() - 1);
                        let frac = scaled - i0 as f64;
                        Some(Scalar::Num((1.0 - frac) * nums[i0] + frac * nums[i1]))
                    }
                    None => Some(v[(t * (v.len() - 1) as f64) as usize].clone()),
                }
            }
            Setting::Conditional(conds) => conds
                .iter()
                .find(|(f, _)| match f {
                    None => true,
                    Some(f) => f == "*" || (!tensor.is_empty() && tensor.contains(f.as_str())),
                })
                .and_then(|(_, s)| s.evaluate(tensor, t)),
        }
    }
}

fn scalar_number(s: &Scalar) -> Option<f64> {
    match s {
        Scalar::Num(x) => Some(*x),
        Scalar::Str(x) => x.trim().parse().ok(),
        Scalar::Bool(_) => None,
    }
}

/// Parameters by name.
pub type Params = BTreeMap<String, Setting>;

/// One input model of a `models:` entry or a slice source.
#[derive(Debug, Clone)]
pub struct Source {
    /// The model folder as written in the config.
    pub model: String,
    /// `layer_range: [start, end)` of a slice source; `None` for a `models:` entry (all
    /// layers).
    pub layer_range: Option<(usize, usize)>,
    /// Its parameters.
    pub parameters: Params,
}

/// One output slice: sources with the same number of layers, merged layer by layer.
#[derive(Debug, Clone)]
pub struct Slice {
    /// The inputs.
    pub sources: Vec<Source>,
    /// A base model for this slice only.
    pub base_model: Option<String>,
    /// Its parameters.
    pub parameters: Params,
}

/// A merge configuration (mergekit's `MergeConfiguration`, the parts prefer runs).
#[derive(Debug, Clone)]
pub struct MergeConfig {
    /// The method's mergekit name (`linear`, `ties`, ...).
    pub merge_method: String,
    /// The base model, for methods on task vectors (and slerp's `t = 0` end).
    pub base_model: Option<String>,
    /// The `models:` form: every layer of each model.
    pub models: Option<Vec<Source>>,
    /// The `slices:` form: layer ranges.
    pub slices: Option<Vec<Slice>>,
    /// Method parameters for every tensor.
    pub parameters: Params,
    /// The dtype tensors are read as (`float32`, `float16`, `bfloat16`).
    pub dtype: Option<String>,
    /// The dtype written; `dtype` when absent.
    pub out_dtype: Option<String>,
    /// `base` (or absent): the tokenizer is copied from the base (else the first) model.
    pub tokenizer_source: Option<String>,
    /// The text the config was read from (written beside the merge as
    /// `mergekit_config.yml`).
    pub text: String,
    /// Where relative model paths are also looked up (the config file's folder).
    pub dir: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    merge_method: String,
    base_model: Option<String>,
    models: Option<Vec<RawModel>>,
    slices: Option<Vec<RawSlice>>,
    modules: Option<Value>,
    parameters: Option<BTreeMap<String, Value>>,
    dtype: Option<String>,
    out_dtype: Option<String>,
    tokenizer_source: Option<String>,
    tokenizer: Option<Value>,
    chat_template: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    model: String,
    parameters: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    model: String,
    layer_range: Vec<i64>,
    parameters: Option<BTreeMap<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlice {
    sources: Vec<RawSource>,
    base_model: Option<String>,
    residual_weight: Option<f64>,
    parameters: Option<BTreeMap<String, Value>>,
}

impl MergeConfig {
    /// Reads a mergekit YAML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::File(format!("{}: {e}", path.display())))?;
        let mut c = Self::from_yaml(&text)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), strip(&e))))?;
        c.dir = path.parent().map(Path::to_path_buf);
        Ok(c)
    }

    /// Parses mergekit YAML text.
    pub fn from_yaml(text: &str) -> Result<Self> {
        let raw: RawConfig =
            serde_yaml_ng::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        let unsupported = |field: &str, why: &str| {
            Err(Error::Config(format!(
                "field `{field}` is mergekit's but prefer merge does not run it: {why}"
            )))
        };
        if raw.modules.is_some() {
            return unsupported("modules", "multi-module architectures are not supported");
        }
        if raw.tokenizer.is_some() {
            return unsupported(
                "tokenizer",
                "vocabulary surgery is not supported; the tokenizer is copied from the base model",
            );
        }
        if raw.chat_template.is_some() {
            return unsupported(
                "chat_template",
                "edit tokenizer_config.json of the merged model instead",
            );
        }
        if let Some(ts) = &raw.tokenizer_source
            && ts != "base"
        {
            return Err(Error::Config(format!(
                "tokenizer_source: `{ts}` is not supported (only `base`: the tokenizer files are copied from the base model)"
            )));
        }
        let models = match raw.models {
            None => None,
            Some(ms) => Some(
                ms.into_iter()
                    .enumerate()
                    .map(|(i, m)| {
                        Ok(Source {
                            model: m.model,
                            layer_range: None,
                            parameters: params(m.parameters, &format!("models[{i}].parameters"))?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let slices = match raw.slices {
            None => None,
            Some(ss) => Some(
                ss.into_iter()
                    .enumerate()
                    .map(|(i, s)| {
                        if s.sources.is_empty() {
                            return Err(Error::Config(format!("slices[{i}].sources is empty")));
                        }
                        let _ = s.residual_weight; // accepted as mergekit does; unused there too
                        let sources = s
                            .sources
                            .into_iter()
                            .enumerate()
                            .map(|(j, src)| {
                                let at = format!("slices[{i}].sources[{j}]");
                                let range = match src.layer_range.as_slice() {
                                    [a, b] if *a >= 0 && b >= a => (*a as usize, *b as usize),
                                    r => {
                                        return Err(Error::Config(format!(
                                            "{at}.layer_range: expected [start, end] with 0 <= start <= end, got {r:?}"
                                        )));
                                    }
                                };
                                Ok(Source {
                                    model: src.model,
                                    layer_range: Some(range),
                                    parameters: params(src.parameters, &format!("{at}.parameters"))?,
                                })
                            })
                            .collect::<Result<Vec<_>>>()?;
                        Ok(Slice {
                            sources,
                            base_model: s.base_model,
                            parameters: params(s.parameters, &format!("slices[{i}].parameters"))?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        match (&models, &slices) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Error::Config(
                    "exactly one of `models` or `slices` must be present".into(),
                ));
            }
            _ => {}
        }
        Ok(MergeConfig {
            merge_method: raw.merge_method,
            base_model: raw.base_model,
            models,
            slices,
            parameters: params(raw.parameters, "parameters")?,
            dtype: raw.dtype,
            out_dtype: raw.out_dtype,
            tokenizer_source: raw.tokenizer_source,
            text: text.to_string(),
            dir: None,
        })
    }
}

/// serde_yaml_ng errors already carry line and column; drop the redundant prefix.
fn strip(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        e => e.to_string(),
    }
}

fn params(raw: Option<BTreeMap<String, Value>>, at: &str) -> Result<Params> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let s = setting(&v, &format!("{at}.{k}"))?;
            Ok((k, s))
        })
        .collect()
}

fn scalar(v: &Value) -> Option<Scalar> {
    match v {
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => n.as_f64().map(Scalar::Num),
        Value::String(s) => Some(Scalar::Str(s.clone())),
        _ => None,
    }
}

fn setting(v: &Value, at: &str) -> Result<Setting> {
    let expected = "expected a number, a boolean, a list of values, or a list of {filter, value}";
    if let Some(s) = scalar(v) {
        return Ok(Setting::Scalar(s));
    }
    match v {
        Value::Sequence(items) => {
            if let Some(list) = items.iter().map(scalar).collect::<Option<Vec<_>>>() {
                return Ok(Setting::List(list));
            }
            let mut conds = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match condition(item, &format!("{at}[{i}]"))? {
                    Some(c) => conds.push(c),
                    None => {
                        return Err(Error::Config(format!(
                            "{at}[{i}]: {expected}, got a mix of values and conditions"
                        )));
                    }
                }
            }
            Ok(Setting::Conditional(conds))
        }
        Value::Mapping(_) => match condition(v, at)? {
            Some(c) => Ok(Setting::Conditional(vec![c])),
            None => Err(Error::Config(format!("{at}: {expected}"))),
        },
        Value::Null => Err(Error::Config(format!("{at}: {expected}, got nothing"))),
        _ => Err(Error::Config(format!("{at}: {expected}"))),
    }
}

/// A `{filter, value}` map (`None` when `v` is not a map).
fn condition(v: &Value, at: &str) -> Result<Option<(Option<String>, Setting)>> {
    let Value::Mapping(m) = v else {
        return Ok(None);
    };
    let mut filter = None;
    let mut value = None;
    for (k, val) in m {
        match k.as_str() {
            Some("filter") => match val {
                Value::String(s) => filter = Some(s.clone()),
                Value::Null => {}
                _ => return Err(Error::Config(format!("{at}.filter: expected a string"))),
            },
            Some("value") => value = Some(setting(val, &format!("{at}.value"))?),
            Some(other) => {
                return Err(Error::Config(format!(
                    "{at}: unknown field `{other}` in a condition, expected `filter` or `value`"
                )));
            }
            None => return Err(Error::Config(format!("{at}: keys must be strings"))),
        }
    }
    let value = value.ok_or_else(|| Error::Config(format!("{at}: a condition needs `value`")))?;
    Ok(Some((filter, value)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SLERP: &str = "\
slices:
  - sources:
      - model: a
        layer_range: [0, 4]
      - model: b
        layer_range: [0, 4]
merge_method: slerp
base_model: a
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5
dtype: float32
";

    #[test]
    fn the_readme_slerp_config_reads_and_evaluates_as_mergekit_does() {
        let c = MergeConfig::from_yaml(SLERP).unwrap();
        assert_eq!(c.merge_method, "slerp");
        let t = &c.parameters["t"];
        // Gradient [0, .5, .3, .7, 1] at t = 1/3 (layer 1 of 4): scaled 4/3, between .5 and .3.
        let v = t.evaluate("model.layers.1.self_attn.q_proj.weight", 1.0 / 3.0);
        let want = (1.0 - 1.0 / 3.0) * 0.5 + (1.0 / 3.0) * 0.3;
        assert!(matches!(v, Some(Scalar::Num(x)) if (x - want).abs() < 1e-12));
        let v = t.evaluate("model.layers.0.mlp.up_proj.weight", 0.0);
        assert_eq!(v, Some(Scalar::Num(1.0)));
        assert_eq!(t.evaluate("model.norm.weight", 0.0), Some(Scalar::Num(0.5)));
        let s = c.slices.as_ref().unwrap();
        assert_eq!(s[0].sources[1].layer_range, Some((0, 4)));
    }

    #[test]
    fn unknown_fields_are_named_with_their_place() {
        let bad = "merge_method: linear\nmodels:\n  - model: a\n    paramters: {weight: 1}\n";
        let e = MergeConfig::from_yaml(bad).unwrap_err().to_string();
        assert!(e.contains("unknown field `paramters`"), "{e}");
        assert!(e.contains("line 4"), "{e}");
        let bad = "merge_method: linear\nmodels: [{model: a}]\nout_dtyp: float16\n";
        let e = MergeConfig::from_yaml(bad).unwrap_err().to_string();
        assert!(e.contains("unknown field `out_dtyp`"), "{e}");
        let bad = "merge_method: linear\nmodels: [{model: a, parameters: {weight: [{filtr: x, value: 1}]}}]\n";
        let e = MergeConfig::from_yaml(bad).unwrap_err().to_string();
        assert!(
            e.contains("models[0].parameters.weight[0]") && e.contains("`filtr`"),
            "{e}"
        );
        let bad = "merge_method: linear\nmodels: [{model: a}]\nslices: []\n";
        assert!(MergeConfig::from_yaml(bad).is_err());
    }

    #[test]
    fn discrete_lists_pick_and_unmatched_conditions_give_none() {
        let s = Setting::List(vec![Scalar::Bool(true), Scalar::Bool(false)]);
        assert_eq!(s.evaluate("x", 0.4), Some(Scalar::Bool(true)));
        assert_eq!(s.evaluate("x", 1.0), Some(Scalar::Bool(false)));
        let c = Setting::Conditional(vec![(
            Some("mlp".into()),
            Setting::Scalar(Scalar::Num(2.0)),
        )]);
        assert_eq!(
            c.evaluate("model.layers.0.self_attn.o_proj.weight", 0.0),
            None
        );
    }
}
