//! Planning a merge from its config and streaming it to disk, tensor by tensor.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::DType;
use rand::SeedableRng;

use super::config::{MergeConfig, Params, Scalar, Slice, Source};
use super::{BasePolicy, Group, Kind, METHODS, Method, ParamSpec, Scope, Value};
use crate::model::{TensorSpec, WeightFiles, f32_bytes, write_atomic, write_safetensors_with};
use crate::{Error, Result};

/// How a merge is written.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Seeds DARE's and DELLA's random masks (with each tensor's name). Default 0.
    pub random_seed: u64,
    /// Largest shard in bytes before the output is split into
    /// `model-0000i-of-0000n.safetensors` with an index (mergekit's `out_shard_size`,
    /// default 5 GB).
    pub out_shard_size: u64,
    /// Copy the tokenizer files from the base (else the first) model. Default true.
    pub copy_tokenizer: bool,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            random_seed: 0,
            out_shard_size: 5_000_000_000,
            copy_tokenizer: true,
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MergeReport {
    /// The method's mergekit name.
    pub method: String,
    /// Output tensors written.
    pub tensors: usize,
    /// Output decoder layers.
    pub layers: usize,
    /// Bytes of tensor data written.
    pub bytes_written: u64,
    /// The safetensors files written.
    pub files: Vec<PathBuf>,
    /// The most bytes of tensor values held at once (one tensor per input, the output and
    /// its encoding): the merge's memory beyond the program itself.
    pub peak_tensor_bytes: usize,
    /// Warnings, such as parameters the method does not read.
    pub notes: Vec<String>,
}

/// One input model.
struct Model {
    dir: PathBuf,
    weights: WeightFiles,
    layers: usize,
}

/// One output tensor: where its inputs are and at which layer position.
struct Job {
    out: String,
    slice: usize,
    /// (source index in the slice, input tensor name).
    inputs: Vec<(usize, String)>,
    t: f64,
}

/// A tensor name split around its layer index: `model.layers.3.mlp.up_proj.weight` is
/// (`model.layers.`, 3, `.mlp.up_proj.weight`).
fn split_layer(name: &str) -> Option<(&str, usize, &str)> {
    let at = name.find(".layers.")? + ".layers.".len();
    let rest = &name[at..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || !rest[digits..].starts_with('.') {
        return None;
    }
    Some((&name[..at], rest[..digits].parse().ok()?, &rest[digits..]))
}

fn parse_dtype(s: &str, field: &str) -> Result<DType> {
    Ok(match s {
        "float32" | "fp32" | "float" => DType::F32,
        "float16" | "fp16" | "half" => DType::F16,
        "bfloat16" | "bf16" => DType::BF16,
        other => {
            return Err(Error::Config(format!(
                "{field}: `{other}` is not a float dtype (float32, float16, bfloat16)"
            )));
        }
    })
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::F64 => "float64",
        _ => "float32",
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File(format!("{}: {e}", path.display()))
}

/// Finds a model folder: as written (relative to the working directory, as mergekit
/// does), else relative to the config file's folder.
fn locate(model: &str, config_dir: Option<&Path>) -> Result<PathBuf> {
    if model.contains('+') {
        return Err(Error::Config(format!(
            "model `{model}`: `model+lora` references are not supported; fold the adapter in first"
        )));
    }
    let p = PathBuf::from(model);
    if p.is_dir() {
        return Ok(p);
    }
    if let Some(d) = config_dir {
        let q = d.join(model);
        if q.is_dir() {
            return Ok(q);
        }
    }
    Err(Error::Config(format!(
        "model `{model}`: no such folder (prefer merge reads local Hugging Face folders with config.json and *.safetensors; the Hub is not reached)"
    )))
}

fn open_model(dir: PathBuf) -> Result<Model> {
    let weights = WeightFiles::open_dir(&dir)?;
    let cfg = dir.join("config.json");
    let from_config = std::fs::read_to_string(&cfg)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("num_hidden_layers").and_then(|n| n.as_u64()))
        .map(|n| n as usize);
    let from_names = weights
        .names()
        .iter()
        .filter_map(|n| split_layer(n).map(|(_, i, _)| i + 1))
        .max()
        .unwrap_or(0);
    Ok(Model {
        dir,
        weights,
        layers: from_config.unwrap_or(from_names),
    })
}

/// The `models:` form as one slice over every layer (the base appended when it is not
/// among the models, as mergekit does).
fn slices_of(config: &MergeConfig) -> Vec<Slice> {
    if let Some(s) = &config.slices {
        return s.clone();
    }
    let mut sources = config.models.clone().unwrap_or_default();
    if let Some(b) = &config.base_model
        && !sources.iter().any(|s| &s.model == b)
    {
        sources.push(Source {
            model: b.clone(),
            layer_range: None,
            parameters: Params::new(),
        });
    }
    vec![Slice {
        sources,
        base_model: None,
        parameters: Params::new(),
    }]
}

/// A parameter's value for one tensor: the first setting that gives one, in order.
fn resolve(
    spec: &ParamSpec,
    settings: &[&Params],
    tensor: &str,
    t: f64,
    whom: &dyn Fn() -> String,
) -> Result<Value> {
    for s in settings {
        let Some(setting) = s.get(spec.name) else {
            continue;
        };
        let Some(v) = setting.evaluate(tensor, t) else {
            continue;
        };
        let bad = |want: &str| {
            Error::Config(format!(
                "parameter `{}` for {}: expected {want}, got {v:?}",
                spec.name,
                whom()
            ))
        };
        return Ok(match (spec.kind, &v) {
            (Kind::Bool(_), Scalar::Bool(b)) => Value::Bool(*b),
            (Kind::Bool(_), _) => return Err(bad("a boolean")),
            (_, Scalar::Num(x)) => Value::Num(*x),
            (_, Scalar::Str(x)) => Value::Num(x.trim().parse().map_err(|_| bad("a number"))?),
            (_, Scalar::Bool(_)) => return Err(bad("a number")),
        });
    }
    Ok(match spec.kind {
        Kind::Float(Some(d)) => Value::Num(d),
        Kind::Bool(d) => Value::Bool(d),
        Kind::OptFloat => Value::None,
        Kind::Float(None) => {
            return Err(Error::Config(format!(
                "missing required parameter `{}` for {}",
                spec.name,
                whom()
            )));
        }
    })
}

/// Plans and runs a merge, writing a Hugging Face model folder to `out`: safetensors
/// (sharded past `out_shard_size`), `config.json` from the base (else the first) model
/// with its layer count and dtype updated, the tokenizer files, and the config as
/// `mergekit_config.yml`. Every file is written under a temporary name and renamed.
pub fn run_merge(config: &MergeConfig, out: &Path, opts: &MergeOptions) -> Result<MergeReport> {
    let method = Method::by_name(&config.merge_method).ok_or_else(|| {
        Error::Config(format!(
            "merge_method: `{}` is not one prefer runs ({})",
            config.merge_method,
            METHODS.join(", ")
        ))
    })?;
    let read_dtype = config
        .dtype
        .as_deref()
        .map(|d| parse_dtype(d, "dtype"))
        .transpose()?;
    let out_dtype = match config.out_dtype.as_deref() {
        Some(d) => Some(parse_dtype(d, "out_dtype")?),
        None => read_dtype,
    };
    let slices = slices_of(config);
    let contract = method.contract();
    let specs = method.params();

    // Open every model once.
    let mut models: HashMap<String, Model> = HashMap::new();
    let mut names: Vec<&str> = slices
        .iter()
        .flat_map(|s| s.sources.iter().map(|x| x.model.as_str()))
        .collect();
    names.extend(config.base_model.as_deref());
    for m in names {
        if !models.contains_key(m) {
            models.insert(
                m.to_string(),
                open_model(locate(m, config.dir.as_deref())?)?,
            );
        }
    }

    // Per slice: layer ranges, the base's position, the template model for names.
    let mut ranges: Vec<Vec<(usize, usize)>> = Vec::new();
    let mut bases: Vec<Option<usize>> = Vec::new();
    for (i, s) in slices.iter().enumerate() {
        let mut r = Vec::new();
        for (j, src) in s.sources.iter().enumerate() {
            let m = &models[&src.model];
            let (a, b) = src.layer_range.unwrap_or((0, m.layers));
            if b > m.layers {
                return Err(Error::Config(format!(
                    "slices[{i}].sources[{j}]: layer_range [{a}, {b}] is past the {} layers of `{}`",
                    m.layers, src.model
                )));
            }
            r.push((a, b));
        }
        let len = r[0].1 - r[0].0;
        if r.iter().any(|(a, b)| b - a != len) {
            return Err(Error::Config(format!(
                "slices[{i}]: every source must span the same number of layers, got {r:?}"
            )));
        }
        let base_name = s.base_model.as_ref().or(config.base_model.as_ref());
        let base = base_name.and_then(|b| s.sources.iter().position(|x| &x.model == b));
        let n = s.sources.len();
        let base = match contract.base {
            BasePolicy::Ignored => None,
            BasePolicy::Required if base.is_none() => {
                return Err(Error::Config(format!(
                    "slices[{i}]: {} needs `base_model` to be one of its inputs{}",
                    config.merge_method,
                    base_name.map_or(String::new(), |b| format!(" (`{b}` is not)"))
                )));
            }
            _ => base,
        };
        let non_base = n - usize::from(base.is_some());
        let count_ok = n >= contract.min_inputs
            && contract.max_inputs.is_none_or(|m| n <= m)
            && contract.non_base.is_none_or(|m| non_base == m);
        if !count_ok {
            return Err(Error::Config(format!(
                "slices[{i}]: {} takes {}{} inputs{}, got {n} ({non_base} besides the base)",
                config.merge_method,
                contract.min_inputs,
                contract.max_inputs.map_or("+".to_string(), |m| {
                    if m == contract.min_inputs {
                        String::new()
                    } else {
                        format!(" to {m}")
                    }
                }),
                contract
                    .non_base
                    .map_or(String::new(), |k| format!(" with {k} besides the base")),
            )));
        }
        ranges.push(r);
        bases.push(base);
    }
    let template = |si: usize| bases[si].unwrap_or(0);

    // The jobs: pre weights, each slice's layers, post weights.
    let mut jobs: Vec<Job> = Vec::new();
    let mut out_layer = 0usize;
    let first = &models[&slices[0].sources[template(0)].model];
    let last_si = slices.len() - 1;
    let outside: Vec<String> = first
        .weights
        .names()
        .into_iter()
        .filter(|n| split_layer(n).is_none())
        .collect();
    let whole = |name: &str, si: usize| Job {
        out: name.to_string(),
        slice: si,
        inputs: (0..slices[si].sources.len())
            .map(|j| (j, name.to_string()))
            .collect(),
        t: 0.0,
    };
    for n in outside.iter().filter(|n| n.contains("embed")) {
        jobs.push(whole(n, 0));
    }
    for (si, s) in slices.iter().enumerate() {
        let tm = &models[&s.sources[template(si)].model];
        let (ta, tb) = ranges[si][template(si)];
        let len = tb - ta;
        let tm_names = tm.weights.names();
        for off in 0..len {
            let t = if len > 1 {
                off as f64 / (len - 1) as f64
            } else {
                1.0
            };
            let mut layer_names: Vec<(String, String)> = tm_names
                .iter()
                .filter_map(|n| {
                    let (pre, i, suf) = split_layer(n)?;
                    (i == ta + off).then(|| (pre.to_string(), suf.to_string()))
                })
                .collect();
            layer_names.sort();
            for (pre, suf) in layer_names {
                jobs.push(Job {
                    out: format!("{pre}{out_layer}{suf}"),
                    slice: si,
                    inputs: (0..s.sources.len())
                        .map(|j| (j, format!("{pre}{}{suf}", ranges[si][j].0 + off)))
                        .collect(),
                    t,
                });
            }
            out_layer += 1;
        }
    }
    for n in outside.iter().filter(|n| !n.contains("embed")) {
        jobs.push(whole(n, last_si));
    }

    // Check every input and resolve every parameter before anything is written.
    let mut tensor_specs: Vec<TensorSpec> = Vec::with_capacity(jobs.len());
    let mut groups_params = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let s = &slices[job.slice];
        let mut shape: Option<(Vec<usize>, String)> = None;
        let mut widest: Option<DType> = None;
        for (j, name) in &job.inputs {
            let src = &s.sources[*j].model;
            let m = &models[src];
            let (dt, sh) = m.weights.info(name).ok_or_else(|| {
                Error::File(format!(
                    "model `{src}` ({}): no tensor `{name}` (needed for `{}`)",
                    m.dir.display(),
                    job.out
                ))
            })?;
            if !matches!(dt, DType::F16 | DType::BF16 | DType::F32 | DType::F64) {
                return Err(Error::File(format!(
                    "model `{src}`: tensor `{name}` is {dt:?}, not a float type"
                )));
            }
            // The output keeps the inputs' type; mixed or wider types give float32.
            widest = match (widest, dt) {
                (None, DType::F16 | DType::BF16) => Some(dt),
                (Some(w), d) if w == d => Some(w),
                _ => Some(DType::F32),
            };
            match &shape {
                None => shape = Some((sh.to_vec(), src.clone())),
                Some((want, other)) if want.as_slice() != sh => {
                    return Err(Error::File(format!(
                        "tensor `{name}`: shape {sh:?} in `{src}` but {want:?} in `{other}`: the models' architectures differ"
                    )));
                }
                _ => {}
            }
        }
        let shape = shape.map(|s| s.0).unwrap_or_default();
        let base = if contract.base == BasePolicy::Ignored {
            None
        } else {
            bases[job.slice]
        };
        let mut shared = Vec::new();
        let mut per_input = vec![Vec::new(); job.inputs.len()];
        for spec in &specs {
            match spec.scope {
                Scope::Shared => {
                    let v = resolve(
                        spec,
                        &[&s.parameters, &config.parameters],
                        &job.out,
                        job.t,
                        &|| format!("tensor `{}`", job.out),
                    )?;
                    shared.push((spec.name, v));
                }
                Scope::Input | Scope::NonBase => {
                    for (k, (j, name)) in job.inputs.iter().enumerate() {
                        if spec.scope == Scope::NonBase && Some(k) == base {
                            continue;
                        }
                        let src = &s.sources[*j];
                        let v = resolve(
                            spec,
                            &[&src.parameters, &s.parameters, &config.parameters],
                            name,
                            job.t,
                            &|| format!("model `{}`, tensor `{name}`", src.model),
                        )?;
                        per_input[k].push((spec.name, v));
                    }
                }
            }
        }
        groups_params.push((base, shared, per_input));
        tensor_specs.push(TensorSpec {
            name: job.out.clone(),
            dtype: out_dtype.or(widest).unwrap_or(DType::F32),
            shape,
        });
    }
    let mut notes = unused_parameters(config, &slices, &specs);

    // Shards.
    let mut shards: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut size = 0u64;
    for (i, s) in tensor_specs.iter().enumerate() {
        let b = s.byte_len() as u64;
        if i > start && size + b > opts.out_shard_size {
            shards.push(start..i);
            start = i;
            size = 0;
        }
        size += b;
    }
    shards.push(start..tensor_specs.len());
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let file_names: Vec<String> = if shards.len() == 1 {
        vec!["model.safetensors".into()]
    } else {
        (1..=shards.len())
            .map(|i| format!("model-{i:05}-of-{:05}.safetensors", shards.len()))
            .collect()
    };

    let mut peak = 0usize;
    let mut written = 0u64;
    for (range, file) in shards.iter().zip(&file_names) {
        let path = out.join(file);
        write_safetensors_with(&path, &tensor_specs[range.clone()], |k| {
            let i = range.start + k;
            let job = &jobs[i];
            let s = &slices[job.slice];
            let mut tensors = Vec::with_capacity(job.inputs.len());
            for (j, name) in &job.inputs {
                let mut v = models[&s.sources[*j].model].weights.read_f32(name)?;
                if let Some(d) = read_dtype {
                    round_to(&mut v, d);
                }
                tensors.push(v);
            }
            let (base, shared, per_input) = groups_params[i].clone();
            let spec = &tensor_specs[i];
            let group = Group {
                shape: &spec.shape,
                tensors,
                base,
                shared,
                per_input,
            };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed(opts.random_seed, &job.out));
            let values = method
                .merge(&group, &mut rng)
                .map_err(|e| Error::Config(format!("tensor `{}`: {e}", job.out)))?;
            let bytes = f32_bytes(&values, spec.dtype)?;
            let held = group.tensors.iter().map(|t| t.len() * 4).sum::<usize>()
                + values.len() * 4
                + bytes.len();
            peak = peak.max(held);
            written += bytes.len() as u64;
            Ok(bytes)
        })?;
    }
    let files: Vec<PathBuf> = file_names.iter().map(|f| out.join(f)).collect();
    finish_folder(
        config,
        &slices,
        &models,
        out,
        &tensor_specs,
        &shards,
        &file_names,
        out_layer,
        out_dtype,
        opts,
        &mut notes,
    )?;
    Ok(MergeReport {
        method: config.merge_method.clone(),
        tensors: tensor_specs.len(),
        layers: out_layer,
        bytes_written: written,
        files,
        peak_tensor_bytes: peak,
        notes,
    })
}

/// Rounds `f32` values to what `dtype` holds.
fn round_to(v: &mut [f32], dtype: DType) {
    match dtype {
        DType::F16 => v
            .iter_mut()
            .for_each(|x| *x = half::f16::from_f32(*x).to_f32()),
        DType::BF16 => v
            .iter_mut()
            .for_each(|x| *x = half::bf16::from_f32(*x).to_f32()),
        _ => {}
    }
}

/// FNV-1a of the seed and the tensor name: each tensor's own random stream.
fn seed(base: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Parameter names the method does not read: mergekit ignores them; we say so.
fn unused_parameters(config: &MergeConfig, slices: &[Slice], specs: &[ParamSpec]) -> Vec<String> {
    let known: BTreeSet<&str> = specs.iter().map(|s| s.name).collect();
    let mut seen = BTreeSet::new();
    let mut all: Vec<&Params> = vec![&config.parameters];
    for s in slices {
        all.push(&s.parameters);
        all.extend(s.sources.iter().map(|x| &x.parameters));
    }
    for p in all {
        for k in p.keys() {
            if !known.contains(k.as_str()) {
                seen.insert(k.clone());
            }
        }
    }
    seen.into_iter()
        .map(|k| {
            format!(
                "parameter `{k}` is not read by {} (it reads {}); ignored, as mergekit does",
                config.merge_method,
                known.iter().copied().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

const TOKENIZER_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "generation_config.json",
];

/// config.json, tokenizer files, the index of a sharded output and mergekit_config.yml.
#[allow(clippy::too_many_arguments)]
fn finish_folder(
    config: &MergeConfig,
    slices: &[Slice],
    models: &HashMap<String, Model>,
    out: &Path,
    specs: &[TensorSpec],
    shards: &[std::ops::Range<usize>],
    file_names: &[String],
    layers: usize,
    out_dtype: Option<DType>,
    opts: &MergeOptions,
    notes: &mut Vec<String>,
) -> Result<()> {
    let source = config
        .base_model
        .as_ref()
        .unwrap_or(&slices[0].sources[0].model);
    let src_dir = &models[source].dir;
    let cfg_path = src_dir.join("config.json");
    match std::fs::read_to_string(&cfg_path) {
        Ok(text) => {
            let mut v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| io(&cfg_path, e))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("num_hidden_layers".into(), layers.into());
                if let Some(d) = out_dtype {
                    for key in ["torch_dtype", "dtype"] {
                        if o.contains_key(key) || key == "torch_dtype" {
                            o.insert(key.into(), dtype_name(d).into());
                        }
                    }
                }
            }
            let bytes = serde_json::to_vec_pretty(&v).map_err(|e| io(&cfg_path, e))?;
            write_atomic(&out.join("config.json"), &bytes)?;
        }
        Err(_) => notes.push(format!(
            "{} has no config.json; none written",
            src_dir.display()
        )),
    }
    if opts.copy_tokenizer {
        for f in TOKENIZER_FILES {
            let p = src_dir.join(f);
            if p.is_file() {
                let bytes = std::fs::read(&p).map_err(|e| io(&p, e))?;
                write_atomic(&out.join(f), &bytes)?;
            }
        }
    }
    let index = out.join("model.safetensors.index.json");
    if shards.len() > 1 {
        let mut map = serde_json::Map::new();
        for (r, f) in shards.iter().zip(file_names) {
            for s in &specs[r.clone()] {
                map.insert(s.name.clone(), f.clone().into());
            }
        }
        let total: usize = specs.iter().map(TensorSpec::byte_len).sum();
        let v = serde_json::json!({"metadata": {"total_size": total}, "weight_map": map});
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| io(&index, e))?;
        write_atomic(&index, &bytes)?;
    } else if index.exists() {
        // A sharded merge written here before would shadow the new single file.
        std::fs::remove_file(&index).map_err(|e| io(&index, e))?;
    }
    write_atomic(&out.join("mergekit_config.yml"), config.text.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_split_around_their_index() {
        assert_eq!(
            split_layer("model.layers.12.mlp.up_proj.weight"),
            Some(("model.layers.", 12, ".mlp.up_proj.weight"))
        );
        assert_eq!(split_layer("model.embed_tokens.weight"), None);
        assert_eq!(split_layer("model.layers.x.weight"), None);
    }
}
