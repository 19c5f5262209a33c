//! Parity with TRL's own `DPOTrainer` on text pairs (issue 11, part 1): the token ids TRL
//! trains on and two steps of its logged metrics, per loss type, from
//! `tests/fixtures/trl_dpo/trl_dpo.json` (made by `make_fixture.py` beside it, TRL 1.16).
//! The run here is what a user runs: a JSON-lines file with TRL's fields, a model folder,
//! a TOML config whose `[objective]` holds TRL's `DPOConfig` fields (`loss_type`, `beta`, ...).

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use prefer_train::config::TrainConfig;
use prefer_train::data::Examples;
use prefer_train::trainer::Trainer;
use prefer_train::{Error, Result};
use serde_json::Value;

use crate::shared;

/// Relative tolerance, with an absolute floor for figures near 0 (the first step's
/// rewards are 0 exactly: policy = reference).
const REL: f64 = 1e-4;
const ABS: f64 = 1e-6;

const METRICS: [&str; 8] = [
    "loss",
    "grad_norm",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
];

fn err(e: impl std::fmt::Display) -> Error {
    Error::Config(e.to_string())
}

fn fixture() -> Result<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trl_dpo/trl_dpo.json");
    serde_json::from_str(&std::fs::read_to_string(&p).map_err(err)?).map_err(err)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|x| x as u32)
                .collect()
        })
        .unwrap_or_default()
}

/// `[objective]` as a TRL user writes `DPOConfig`: `loss_type`, `beta` and the fields
/// the fixture set (each loss takes those it reads, as in TRL).
fn objective_toml(loss: &str, extra: &Value, beta: f64) -> String {
    let mut lines = vec![format!("loss_type = \"{loss}\""), format!("beta = {beta}")];
    for (k, v) in extra.as_object().into_iter().flatten() {
        lines.push(format!("{k} = {v}"));
    }
    lines.join("\n")
}

/// Trains on `pairs` (written as JSON lines) with TRL's settings from the fixture; returns
/// the trainer and its metrics lines.
fn train(
    fx: &Value,
    model: &Path,
    pairs: &Value,
    loss: &str,
    extra: &Value,
) -> Result<(Trainer, Vec<Value>, tempfile::TempDir)> {
    let d = tempfile::tempdir().map_err(err)?;
    let data = d.path().join("pairs.jsonl");
    let lines: Vec<String> = pairs
        .as_array()
        .into_iter()
        .flatten()
        .map(Value::to_string)
        .collect();
    std::fs::write(&data, lines.join("\n") + "\n").map_err(err)?;
    let toml = format!(
        r#"
[model]
path = {model:?}
[data]
train = {data:?}
[objective]
{objective}
[reference]
mode = "live"
[optim]
lr = {lr}
weight_decay = 0.0
[schedule]
decay = "constant"
[run]
out_dir = {out:?}
batch_size = {batch}
max_steps = {steps}
max_grad_norm = {clip}
shuffle = false
"#,
        objective = objective_toml(loss, extra, fx["beta"].as_f64().unwrap_or(0.1)),
        lr = fx["lr"],
        out = d.path().join("run"),
        batch = pairs.as_array().map_or(0, Vec::len),
        steps = fx["steps"],
        clip = fx["max_grad_norm"],
    );
    let mut t = Trainer::new(TrainConfig::from_toml_str(&toml)?)?;
    t.train(&mut |_| ControlFlow::Continue(()))?;
    let got = std::fs::read_to_string(t.metrics_path()).map_err(err)?;
    let lines = got
        .lines()
        .map(|l| serde_json::from_str(l).map_err(err))
        .collect::<Result<Vec<Value>>>()?;
    Ok((t, lines, d))
}

/// Token ids: ours are TRL's, pair by pair.
fn check_ids(case: &str, t: &Trainer, want: &Value) {
    let Examples::Pairs(got) = t.train_examples() else {
        panic!("{case}: not pairs");
    };
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{case}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.ids.prompt,
            ids(&w["prompt_ids"]),
            "{case} pair {i}: prompt"
        );
        assert_eq!(
            g.ids.chosen,
            ids(&w["chosen_ids"]),
            "{case} pair {i}: chosen"
        );
        assert_eq!(
            g.ids.rejected,
            ids(&w["rejected_ids"]),
            "{case} pair {i}: rejected"
        );
    }
}

/// TRL's `sft` loss type still runs a reference model, and its `rewards/*` are
/// β·log(π/π_ref). Here `sft` alone is reference-free (no reference forward, its cost
/// saved) and `rewards/*` are the policy's log-probabilities: those two metrics are not
/// compared for it; its loss, grad_norm and logps are.
fn compared(loss: &str) -> impl Iterator<Item = &'static str> + '_ {
    METRICS
        .into_iter()
        .filter(move |k| loss != "sft" || !k.starts_with("rewards/"))
}

/// Each step's metrics within [`REL`] of TRL's; returns the worst relative error.
fn check_metrics(case: &str, loss: &str, got: &[Value], want: &Value) -> f64 {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{case} {loss}: steps");
    let mut worst = 0.0f64;
    for (s, (g, w)) in got.iter().zip(want).enumerate() {
        for k in compared(loss) {
            let (a, b) = (
                g[k].as_f64().unwrap_or(f64::NAN),
                w[k].as_f64().unwrap_or(f64::NAN),
            );
            let tol = REL * b.abs() + ABS;
            assert!(
                (a - b).abs() <= tol,
                "{case} {loss} step {}: {k} = {a}, TRL {b}",
                s + 1
            );
            if b.abs() > 1e-3 {
                worst = worst.max((a - b).abs() / b.abs());
            }
        }
    }
    worst
}

/// Every run of a case: ids once, metrics per loss.
fn check_case(fx: &Value, case: &str, model: &Path) -> Result<()> {
    let c = &fx[case];
    let mut report = Vec::new();
    for (loss, run) in c["runs"].as_object().unwrap() {
        let (t, got, _d) = train(fx, model, &c["pairs"], loss, &run["config"])?;
        check_ids(case, &t, &c["ids"]);
        let worst = check_metrics(case, loss, &got, &run["steps"]);
        // A row of docs/training.md's parity table (run with --nocapture).
        let w = &run["steps"];
        let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        report.push(format!(
            "| {case} | `{loss}` | {:.5} / {:.5} | {:.5} / {:.5} | {:.5} / {:.5} | {:.5} / {:.5} | {worst:.1e} |",
            f(&got[0], "logps/chosen"),
            f(&w[0], "logps/chosen"),
            f(&got[0], "grad_norm"),
            f(&w[0], "grad_norm"),
            f(&got[1], "loss"),
            f(&w[1], "loss"),
            f(&got[1], "rewards/margins"),
            f(&w[1], "rewards/margins"),
        ));
    }
    println!("{}", report.join("\n"));
    Ok(())
}

/// stories260K (sentencepiece) on plain text: every TRL loss type.
#[test]
fn dpo_matches_trl_on_sentencepiece_text() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    check_case(&fixture()?, "sentencepiece", &sh.join("models/stories260K"))
}

/// stories260K with a chat template on conversational pairs.
#[test]
fn dpo_matches_trl_through_a_chat_template() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    let fx = fixture()?;
    let d = tempfile::tempdir().map_err(err)?;
    let src = sh.join("models/stories260K");
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), d.path().join(f)).map_err(err)?;
    }
    let tc = fx["chat"]["tokenizer_config"].to_string();
    std::fs::write(d.path().join("tokenizer_config.json"), tc).map_err(err)?;
    check_case(&fx, "chat", d.path())
}

/// A byte-level BPE tokenizer (GPT-2 style, no BOS) on a tiny Llama whose weights are
/// the fixture script's formula.
#[test]
fn dpo_matches_trl_with_a_bpe_tokenizer() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    let fx = fixture()?;
    let d = tempfile::tempdir().map_err(err)?;
    bpe_model(&fx["bpe"], &sh, d.path())?;
    check_case(&fx, "bpe", d.path())
}

/// The BPE case's model folder: config.json, the formula's weights, the tokenizer.
fn bpe_model(c: &Value, sh: &Path, dir: &Path) -> Result<PathBuf> {
    let mut cfg = c["model"]["config"].clone();
    cfg["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    cfg["model_type"] = "llama".into();
    cfg["torch_dtype"] = "float32".into();
    std::fs::write(dir.join("config.json"), cfg.to_string()).map_err(err)?;
    let mut tensors = HashMap::new();
    for (k, p) in c["model"]["params"].as_array().unwrap().iter().enumerate() {
        let shape: Vec<usize> = ids(&p["shape"]).into_iter().map(|x| x as usize).collect();
        let n: usize = shape.iter().product();
        let norm = p["norm"].as_bool().unwrap_or(false);
        let v: Vec<f32> = (0..n)
            .map(|i| {
                let (i, k) = (i as f64, k as f64);
                let x = if norm {
                    1.0 + 0.1 * (0.7 * i + k).sin()
                } else {
                    0.08 * (0.37 * i + 1.3 * k).sin()
                };
                x as f32
            })
            .collect();
        let t = candle_core::Tensor::from_vec(v, shape, &candle_core::Device::Cpu)?;
        tensors.insert(p["name"].as_str().unwrap_or_default().to_string(), t);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    std::fs::copy(
        sh.join("data/tokenizers/anthropic-0.34.2-tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .map_err(err)?;
    std::fs::write(
        dir.join("tokenizer_config.json"),
        c["tokenizer_config"].to_string(),
    )
    .map_err(err)?;
    Ok(dir.to_path_buf())
}
