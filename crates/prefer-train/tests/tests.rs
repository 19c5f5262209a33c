//! Integration tests of the training loop on tiny random Llamas (and, when present, the
//! real stories260K model and the hh-rlhf / UltraFeedback samples in `../shared`).

// Tests return the library's Result (its error carries paths and candle's error: large,
// which matters nowhere here) and may unwrap where a failure is the test's verdict.
#![allow(clippy::result_large_err, clippy::unwrap_used)]

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use candle_core::DType;
use prefer_nn::logprobs::{PairIds, SeqIds};
use prefer_nn::loss::{IpoConfig, Mixture, PairLoss, SftConfig, SigmoidConfig, UnpairedLoss};
use prefer_nn::model::{CausalLm, InitConfig, LoadOptions, ModelConfig, WeightFiles};
use prefer_train::config::{LossSpec, Objective, RefSync, ReferenceMode, TrainConfig};
use prefer_train::data::{Examples, PairExample, UnpairedExample};
use prefer_train::trainer::Trainer;
use prefer_train::{Error, Result};
use rand::{Rng, SeedableRng};

mod judge;
mod trl_parity;

/// f64 sums in a different order (one batch of 4 vs four of 1): agreement to a few ulps
/// of the values involved, times the number of additions.
const F64_ACCUM_TOL: f64 = 1e-10;

fn tiny(dtype: DType, seed: u64) -> Result<CausalLm> {
    let cfg = ModelConfig::tiny(61, 32, 2, 4, 2);
    Ok(CausalLm::random(
        &cfg,
        &InitConfig { seed, std: 0.1 },
        &LoadOptions::trainable().with_dtype(dtype),
    )?)
}

/// KTO examples from [`random_pairs`]: the chosen side labelled (two of three desirable),
/// the rejected side as the KL completion.
fn random_unpaired(n: usize, seed: u64) -> Vec<UnpairedExample> {
    random_pairs(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, p)| UnpairedExample {
            kl_seq: SeqIds {
                prompt: p.ids.prompt.clone(),
                completion: p.ids.rejected,
            },
            seq: SeqIds {
                prompt: p.ids.prompt,
                completion: p.ids.chosen,
            },
            label: i % 3 != 0,
        })
        .collect()
}

fn random_pairs(n: usize, seed: u64) -> Vec<PairExample> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut seq = |lo: usize, hi: usize| -> Vec<u32> {
        let len = rng.random_range(lo..=hi);
        (0..len).map(|_| rng.random_range(3..61)).collect()
    };
    (0..n)
        .map(|_| {
            let mut prompt = vec![1];
            prompt.extend(seq(1, 5));
            PairExample {
                ids: PairIds {
                    prompt,
                    chosen: seq(1, 6),
                    rejected: seq(1, 6),
                },
                strength: None,
            }
        })
        .collect()
}

fn base_cfg(out: &Path, obj: Objective) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.path = "unused".into();
    c.data.train = "unused".into();
    c.objective = obj;
    c.batch.bos_id = Some(1);
    c.batch.eos_id = Some(2);
    c.optim.lr = 1e-2;
    c.schedule.warmup_steps = 2;
    c.run.out_dir = out.to_path_buf();
    c.run.batch_size = 4;
    c.run.max_grad_norm = 0.5;
    c
}

fn dpo() -> Objective {
    Objective::Dpo {
        loss: LossSpec::One(PairLoss::Sigmoid(SigmoidConfig::default())),
    }
}

fn run(cfg: TrainConfig, model: CausalLm, ex: Examples) -> Result<Trainer> {
    let mut t = Trainer::with_model(cfg, model, ex, None)?;
    t.train(&mut |_| ControlFlow::Continue(()))?;
    Ok(t)
}

fn params(m: &CausalLm) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    for (_, t) in m.parameters() {
        v.extend(t.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?);
    }
    Ok(v)
}

#[test]
fn four_micro_batches_of_one_equal_one_batch_of_four() -> Result<()> {
    for obj in [
        dpo(),
        Objective::Dpo {
            loss: LossSpec::One(PairLoss::Ipo(IpoConfig::default())),
        },
        Objective::Sft,
        Objective::Pro {
            loss: serde_json::from_str(r#"{"temperature": {"type": "constant", "tau": 0.5}}"#)
                .map_err(|e| Error::Config(e.to_string()))?,
        },
    ] {
        let pairs = random_pairs(8, 3);
        let ex = match obj {
            Objective::Pro { .. } => Examples::Ranked(
                pairs
                    .iter()
                    .map(|p| prefer_train::data::RankedExample {
                        prompt: p.ids.prompt.clone(),
                        responses: vec![
                            p.ids.chosen.clone(),
                            p.ids.rejected.clone(),
                            p.ids.chosen[..1].to_vec(),
                        ],
                        rewards: None,
                    })
                    .collect(),
            ),
            Objective::Sft => Examples::Seqs(
                pairs
                    .iter()
                    .map(|p| SeqIds {
                        prompt: p.ids.prompt.clone(),
                        completion: p.ids.chosen.clone(),
                    })
                    .collect(),
            ),
            _ => Examples::Pairs(pairs),
        };
        let d1 = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
        let d2 = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
        let mut a = base_cfg(d1.path(), obj.clone());
        a.schedule.warmup_steps = 0;
        a.run.max_steps = Some(2);
        a.run.shuffle = false;
        let mut b = a.clone();
        b.run.out_dir = d2.path().to_path_buf();
        a.run.batch_size = 4;
        a.run.grad_accum = 1;
        b.run.batch_size = 1;
        b.run.grad_accum = 4;
        let ta = run(a, tiny(DType::F64, 1)?, ex.clone())?;
        let tb = run(b, tiny(DType::F64, 1)?, ex)?;
        let (pa, pb) = (params(ta.policy())?, params(tb.policy())?);
        let worst = pa
            .iter()
            .zip(&pb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < F64_ACCUM_TOL,
            "{}: parameters differ by {worst}",
            obj.method()
        );
        // And the logged loss and gradient norm agree too.
        let la =
            std::fs::read_to_string(ta.metrics_path()).map_err(|e| Error::Config(e.to_string()))?;
        let lb =
            std::fs::read_to_string(tb.metrics_path()).map_err(|e| Error::Config(e.to_string()))?;
        for (x, y) in la.lines().zip(lb.lines()) {
            let x: serde_json::Value =
                serde_json::from_str(x).map_err(|e| Error::Config(e.to_string()))?;
            let y: serde_json::Value =
                serde_json::from_str(y).map_err(|e| Error::Config(e.to_string()))?;
            for k in ["loss", "grad_norm"] {
                let (u, v) = (
                    x[k].as_f64().unwrap_or(f64::NAN),
                    y[k].as_f64().unwrap_or(f64::NAN),
                );
                assert!(
                    (u - v).abs() < F64_ACCUM_TOL * u.abs().max(1.0),
                    "{k}: {u} vs {v}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn two_runs_with_one_seed_write_identical_metrics() -> Result<()> {
    let mut files = Vec::new();
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    for d in &dirs {
        let mut c = base_cfg(d.path(), dpo());
        c.run.max_steps = Some(5);
        c.run.batch_size = 3;
        let t = run(
            c,
            tiny(DType::F32, 2)?,
            Examples::Pairs(random_pairs(10, 4)),
        )?;
        files.push(std::fs::read(t.metrics_path()).map_err(|e| Error::Config(e.to_string()))?);
    }
    assert!(!files[0].is_empty());
    assert_eq!(files[0], files[1]);
    // TRL's metric names, in every line.
    let first = String::from_utf8_lossy(&files[0]);
    let line: serde_json::Value = serde_json::from_str(first.lines().next().unwrap_or("{}"))
        .map_err(|e| Error::Config(e.to_string()))?;
    for k in [
        "loss",
        "grad_norm",
        "learning_rate",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/accuracies",
        "rewards/margins",
        "logps/chosen",
        "logps/rejected",
        "logits/chosen",
        "logits/rejected",
        "epoch",
        "step",
    ] {
        assert!(line.get(k).is_some(), "missing {k} in {line}");
    }
    Ok(())
}

/// Runs `steps` steps, or stops after `stop_at` (as a kill would, after writing its
/// metrics lines) and resumes from the newest checkpoint in a new process-like Trainer.
fn resume_case(obj: Objective, ex: Examples, mode: ReferenceMode, stop_at: u64) -> Result<()> {
    let steps = 8;
    let whole = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let parts = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let cfg = |d: &Path| {
        let mut c = base_cfg(d, obj.clone());
        c.run.max_steps = Some(steps);
        c.run.batch_size = 2;
        c.run.grad_accum = 2;
        c.run.save_every = 4;
        c.reference.mode = mode;
        c
    };
    let a = run(cfg(whole.path()), tiny(DType::F32, 5)?, ex.clone())?;
    let mut t = Trainer::with_model(cfg(parts.path()), tiny(DType::F32, 5)?, ex.clone(), None)?;
    let s = t.train(&mut |p| {
        if p.step == stop_at {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    assert!(s.stopped_early);
    drop(t);
    let mut t = Trainer::with_model(cfg(parts.path()), tiny(DType::F32, 5)?, ex, None)?;
    assert_eq!(t.resume()?, Some(4));
    t.train(&mut |_| ControlFlow::Continue(()))?;
    let read = |p: PathBuf| std::fs::read_to_string(p).map_err(|e| Error::Config(e.to_string()));
    let (x, y) = (read(a.metrics_path())?, read(t.metrics_path())?);
    assert_eq!(x.lines().count(), steps as usize);
    assert_eq!(x, y, "metrics of the resumed run differ");
    assert_eq!(params(a.policy())?, params(t.policy())?);
    Ok(())
}

#[test]
fn resume_after_a_kill_writes_the_same_metrics() -> Result<()> {
    let pairs = Examples::Pairs(random_pairs(12, 6));
    resume_case(dpo(), pairs.clone(), ReferenceMode::Cached, 6)?;
    resume_case(dpo(), pairs, ReferenceMode::Live, 4)?;
    // KTO, whose examples carry KL completions.
    resume_case(
        Objective::Kto {
            loss: UnpairedLoss::default(),
        },
        Examples::Unpaired(random_unpaired(12, 7)),
        ReferenceMode::Cached,
        7,
    )
}

#[test]
fn non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint() -> Result<()> {
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let mut c = base_cfg(d.path(), dpo());
    c.run.max_steps = Some(20);
    c.run.save_every = 1;
    c.run.clip = false;
    c.schedule.warmup_steps = 0;
    c.optim.lr = 1e30; // the first update makes the weights ~1e30: the next forward overflows
    let mut t = Trainer::with_model(
        c,
        tiny(DType::F32, 3)?,
        Examples::Pairs(random_pairs(8, 1)),
        None,
    )?;
    let err = t.train(&mut |_| ControlFlow::Continue(())).unwrap_err();
    let msg = err.to_string();
    let Error::NonFinite {
        step,
        last_checkpoint,
        ..
    } = &err
    else {
        panic!("expected NonFinite, got {msg}");
    };
    assert!(msg.contains(&format!("step {step}")), "{msg}");
    assert!(msg.contains("not finite"), "{msg}");
    // Every checkpoint on disk is before the failing step and loads with finite weights.
    let all = prefer_train::checkpoint::list(d.path())?;
    for (s, _) in &all {
        assert!(
            s < step,
            "checkpoint {s} written at or after the failing step {step}"
        );
    }
    if let Some(lc) = last_checkpoint {
        let m = CausalLm::load(lc, &LoadOptions::frozen())?;
        assert!(params(&m)?.iter().all(|v| v.is_finite()));
    }
    Ok(())
}

#[test]
fn a_reference_cache_of_other_data_is_refused() -> Result<()> {
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let cache = d.path().join("shared_cache.json");
    let mut c = base_cfg(d.path(), dpo());
    c.reference.cache = Some(cache.clone());
    c.run.max_steps = Some(1);
    Trainer::with_model(
        c.clone(),
        tiny(DType::F32, 1)?,
        Examples::Pairs(random_pairs(6, 1)),
        None,
    )?;
    assert!(cache.exists());
    // Same data and model: the cache is reused.
    Trainer::with_model(
        c.clone(),
        tiny(DType::F32, 1)?,
        Examples::Pairs(random_pairs(6, 1)),
        None,
    )?;
    // Other data, other truncation, other weights: refused.
    let other_data = Trainer::with_model(
        c.clone(),
        tiny(DType::F32, 1)?,
        Examples::Pairs(random_pairs(6, 2)),
        None,
    );
    let mut trunc = c.clone();
    trunc.batch.max_length = Some(6);
    let other_trunc = Trainer::with_model(
        trunc,
        tiny(DType::F32, 1)?,
        Examples::Pairs(random_pairs(6, 1)),
        None,
    );
    let other_model = Trainer::with_model(
        c,
        tiny(DType::F32, 9)?,
        Examples::Pairs(random_pairs(6, 1)),
        None,
    );
    for r in [other_data, other_trunc, other_model] {
        match r {
            Err(Error::CacheMismatch { .. }) => {}
            other => panic!("expected a cache mismatch, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn cached_and_live_references_give_the_same_run() -> Result<()> {
    // Live reference = a frozen copy run on every batch; cached = the same values read
    // from the file. Batches pad differently (whole data set vs training batch), which
    // changes nothing: padded keys are masked (f64 to compare tightly).
    let mut lines = Vec::new();
    for mode in [ReferenceMode::Cached, ReferenceMode::Live] {
        let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
        let mut c = base_cfg(d.path(), dpo());
        c.reference.mode = mode;
        c.run.max_steps = Some(3);
        let t = run(
            c,
            tiny(DType::F64, 4)?,
            Examples::Pairs(random_pairs(12, 9)),
        )?;
        lines.push(
            std::fs::read_to_string(t.metrics_path()).map_err(|e| Error::Config(e.to_string()))?,
        );
    }
    for (a, b) in lines[0].lines().zip(lines[1].lines()) {
        let a: serde_json::Value =
            serde_json::from_str(a).map_err(|e| Error::Config(e.to_string()))?;
        let b: serde_json::Value =
            serde_json::from_str(b).map_err(|e| Error::Config(e.to_string()))?;
        for k in ["loss", "rewards/margins", "grad_norm"] {
            let (x, y) = (
                a[k].as_f64().unwrap_or(f64::NAN),
                b[k].as_f64().unwrap_or(f64::NAN),
            );
            assert!((x - y).abs() < 1e-9 * x.abs().max(1.0), "{k}: {x} vs {y}");
        }
    }
    Ok(())
}

#[test]
fn tr_dpo_sync_mixes_the_reference_toward_the_policy() -> Result<()> {
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let mut c = base_cfg(d.path(), dpo());
    c.reference.mode = ReferenceMode::Live;
    c.reference.sync = Some(RefSync {
        alpha: 0.25,
        steps: 2,
    });
    c.run.max_steps = Some(2);
    c.schedule.warmup_steps = 0;
    let start = params(&tiny(DType::F64, 8)?)?;
    let t = run(c, tiny(DType::F64, 8)?, Examples::Pairs(random_pairs(8, 2)))?;
    let ckpt = d.path().join("checkpoint-2");
    let files = WeightFiles::open_files(&[ckpt.join("reference.safetensors")])?;
    let policy = t.policy();
    let mut k = 0;
    for (name, p) in policy.parameters() {
        let r = files.load(name, p.dims(), DType::F64, &candle_core::Device::Cpu)?;
        let r = r.flatten_all()?.to_vec1::<f64>()?;
        let p = p.flatten_all()?.to_vec1::<f64>()?;
        for (ri, pi) in r.iter().zip(&p) {
            let want = 0.25 * pi + 0.75 * start[k];
            assert!((ri - want).abs() < 1e-12, "{name}: {ri} vs {want}");
            k += 1;
        }
    }
    Ok(())
}

#[test]
fn mixtures_and_reference_free_losses_train() -> Result<()> {
    for loss in [
        LossSpec::Mixture(Mixture::new(vec![
            (PairLoss::Sigmoid(SigmoidConfig::default()), 1.0),
            (PairLoss::Sft(SftConfig::default()), 0.5),
        ])),
        LossSpec::One(
            serde_json::from_str(r#"{"type": "simpo"}"#)
                .map_err(|e| Error::Config(e.to_string()))?,
        ),
        LossSpec::One(
            serde_json::from_str(r#"{"type": "orpo"}"#)
                .map_err(|e| Error::Config(e.to_string()))?,
        ),
    ] {
        let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
        let mut c = base_cfg(d.path(), Objective::Dpo { loss });
        c.run.max_steps = Some(6);
        c.schedule.warmup_steps = 0;
        let ex = Examples::Pairs(random_pairs(4, 3));
        let mut t = Trainer::with_model(c, tiny(DType::F32, 1)?, ex, None)?;
        let before = t.evaluate_train()?;
        t.train(&mut |_| ControlFlow::Continue(()))?;
        let after = t.evaluate_train()?;
        let (b, a) = (before.get("train_eval_loss"), after.get("train_eval_loss"));
        assert!(
            a < b,
            "loss did not fall on its own training set: {b:?} -> {a:?}"
        );
    }
    Ok(())
}

/// The Python of the reference venv (`bench/setup_venv.sh`), if installed:
/// `$PREFER_REFVENV`, else `refvenv` beside the repository (the script's default).
fn refvenv_python() -> Option<PathBuf> {
    let p = std::env::var_os("PREFER_REFVENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../refvenv"))
        .join("bin/python");
    p.exists().then_some(p)
}

/// transformers' float32 forward vs ours on the same weights: summation order differs.
const HF_LOGIT_TOL: f64 = 1e-4;

#[test]
fn checkpoints_load_in_transformers() -> Result<()> {
    let Some(py) = refvenv_python() else {
        println!("skipped: no reference venv (set PREFER_REFVENV or run bench/setup_venv.sh)");
        return Ok(());
    };
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let mut c = base_cfg(d.path(), dpo());
    c.run.max_steps = Some(2);
    let t = run(
        c,
        tiny(DType::F32, 11)?,
        Examples::Pairs(random_pairs(8, 5)),
    )?;
    let ckpt = d.path().join("checkpoint-2");
    for f in [
        "model.safetensors",
        "config.json",
        "optimizer.safetensors",
        "trainer_state.json",
    ] {
        assert!(ckpt.join(f).exists(), "{f} missing");
    }
    let ids = vec![vec![1u32, 5, 9, 33, 60, 2, 17]];
    let out = std::process::Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hf_load.py"))
        .arg(&ckpt)
        .arg(serde_json::to_string(&ids).map_err(|e| Error::Config(e.to_string()))?)
        .output()
        .map_err(|e| Error::Config(e.to_string()))?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| Error::Config(e.to_string()))?;
    let theirs: Vec<Vec<Vec<f64>>> =
        serde_json::from_value(v["logits"].clone()).map_err(|e| Error::Config(e.to_string()))?;
    let input = candle_core::Tensor::new(ids, &candle_core::Device::Cpu)?;
    let ours = t
        .policy()
        .forward(&input, None)?
        .to_dtype(DType::F64)?
        .to_vec3::<f64>()?;
    let mut worst = 0f64;
    for (a, b) in ours[0].iter().zip(&theirs[0]) {
        for (x, y) in a.iter().zip(b) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(
        worst < HF_LOGIT_TOL,
        "logits differ from transformers' by {worst}"
    );
    // The trained weights really moved (not the initial ones reloaded).
    let start = params(&tiny(DType::F32, 11)?)?;
    assert_ne!(start, params(t.policy())?);
    Ok(())
}

/// float32 end to end (forward, backward, AdamW) against PyTorch over 5 steps: rounding
/// differences of ~1e-7 relative, grown a little by the updates.
const TRAJECTORY_TOL: f64 = 2e-4;

#[test]
fn dpo_trajectory_matches_pytorch() -> Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(dir.join("tests/fixtures/dpo_trajectory.json"))
        .map_err(|e| Error::Config(e.to_string()))?;
    let fx: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Config(e.to_string()))?;
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let pairs: Vec<PairExample> = fx["pairs"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| PairExample {
                    ids: PairIds {
                        prompt: ids(&p["prompt"]),
                        chosen: ids(&p["chosen"]),
                        rejected: ids(&p["rejected"]),
                    },
                    strength: None,
                })
                .collect()
        })
        .unwrap_or_default();
    let model = CausalLm::load(
        &dir.join("../prefer-nn/tests/fixtures/hf/tiny_llama"),
        &LoadOptions::trainable(),
    )?;
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let mut c = base_cfg(d.path(), dpo());
    c.optim.lr = 1e-2;
    c.optim.weight_decay = 0.01;
    c.schedule.warmup_steps = 2;
    c.run.max_steps = Some(5);
    c.run.batch_size = 2;
    c.run.max_grad_norm = 1.0;
    c.run.shuffle = false;
    let t = run(c, model, Examples::Pairs(pairs))?;
    let got =
        std::fs::read_to_string(t.metrics_path()).map_err(|e| Error::Config(e.to_string()))?;
    let want = fx["trajectory"].as_array().cloned().unwrap_or_default();
    assert_eq!(got.lines().count(), want.len());
    for (line, w) in got.lines().zip(&want) {
        let g: serde_json::Value =
            serde_json::from_str(line).map_err(|e| Error::Config(e.to_string()))?;
        for k in [
            "loss",
            "grad_norm",
            "learning_rate",
            "rewards/chosen",
            "rewards/rejected",
            "rewards/margins",
            "logps/chosen",
            "logps/rejected",
        ] {
            let (a, b) = (
                g[k].as_f64().unwrap_or(f64::NAN),
                w[k].as_f64().unwrap_or(f64::NAN),
            );
            assert!(
                (a - b).abs() <= TRAJECTORY_TOL * b.abs().max(1.0),
                "step {}: {k} = {a}, PyTorch {b}",
                w["step"]
            );
        }
    }
    Ok(())
}

/// `../shared` beside the repository (tests that need it skip without it).
fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let ok = p.join("models/stories260K/config.json").exists() && p.join("data/hh-rlhf").exists();
    if !ok {
        println!("skipped: ../shared/models/stories260K or ../shared/data/hh-rlhf is absent");
    }
    ok.then_some(p)
}

#[test]
fn hh_rlhf_and_ultrafeedback_train_on_stories260k() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    for (train, eval) in [
        ("data/hh-rlhf/harmless-base-test.jsonl.gz", None),
        (
            "data/ultrafeedback/train_clean.jsonl",
            Some("data/ultrafeedback/eval_clean.jsonl"),
        ),
    ] {
        let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
        let mut c = TrainConfig::default();
        c.model.path = sh.join("models/stories260K");
        c.data.train = sh.join(train);
        c.data.eval = eval.map(|e| sh.join(e));
        c.data.max_train = Some(16);
        c.data.max_eval = Some(8);
        c.batch.max_length = Some(96);
        c.batch.max_prompt_length = Some(48);
        c.run.out_dir = d.path().to_path_buf();
        c.run.batch_size = 4;
        c.run.max_steps = Some(2);
        c.optim.lr = 1e-3;
        let mut t = Trainer::new(c)?;
        // Implicit hh-rlhf prompts were split at the last shared "\n\nAssistant:".
        if let Examples::Pairs(p) = t.train_examples() {
            assert_eq!(p.len(), 16);
            for x in p {
                assert_eq!(x.ids.prompt[0], 1, "the prompt starts with BOS");
                let (seq, plen) = t.config().batch.build(&x.ids.prompt, &x.ids.chosen)?;
                assert!(
                    seq.len() <= 96 && plen <= 48 && seq[0] == 1,
                    "truncated, BOS kept"
                );
                assert_eq!(seq.last(), Some(&2), "EOS ends the completion");
            }
        }
        let s = t.train(&mut |_| ControlFlow::Continue(()))?;
        assert!(s.last.get("rewards/accuracies").is_some());
        if eval.is_some() {
            assert!(
                s.eval
                    .as_ref()
                    .and_then(|e| e.get("eval_rewards/accuracies"))
                    .is_some()
            );
        }
    }
    Ok(())
}

#[test]
fn rule_pairs_from_stories260k_prefer_the_higher_score() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    use prefer_train::rollout::{Lexicon, rule_pairs, story_prompts};
    let dir = sh.join("models/stories260K");
    let m = CausalLm::load(&dir, &LoadOptions::frozen())?;
    let tok = prefer_nn::tokenizer::Tokenizer::from_dir(&dir)?;
    let rule = Lexicon::sentiment();
    let cfg = prefer_nn::sample::SampleConfig {
        max_new_tokens: 32,
        seed: 3,
        ..Default::default()
    };
    let (pairs, st) = rule_pairs(&m, &tok, &story_prompts(8, 0), 4, &cfg, &rule)?;
    assert_eq!(st.prompts, 8);
    assert!(!pairs.is_empty());
    for p in &pairs {
        // Recomputed from the written text: the chosen story scores strictly higher.
        assert!(rule.score(&p.chosen.flat()) > rule.score(&p.rejected.flat()));
    }
    Ok(())
}

/// Gradient checkpointing changes where activations live, not the run: the same metrics
/// and weights as without it (f64), for DPO with a live reference and KTO (whose KL
/// completions make a second forward per micro-batch), micro-batches of 2.
#[test]
fn gradient_checkpointing_gives_the_same_run() -> Result<()> {
    let cases = [
        (dpo(), Examples::Pairs(random_pairs(8, 2))),
        (
            Objective::Kto {
                loss: UnpairedLoss::default(),
            },
            Examples::Unpaired(random_unpaired(8, 3)),
        ),
    ];
    for (objective, ex) in cases {
        let mut out = Vec::new();
        for ckpt in [false, true] {
            let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
            let mut c = base_cfg(d.path(), objective.clone());
            c.reference.mode = ReferenceMode::Live;
            c.model.gradient_checkpointing = ckpt;
            c.run.batch_size = 2;
            c.run.grad_accum = 2;
            c.run.max_steps = Some(3);
            let t = run(c, tiny(DType::F64, 4)?, ex.clone())?;
            assert_eq!(t.policy().gradient_checkpointing(), ckpt);
            let m = std::fs::read_to_string(t.metrics_path())
                .map_err(|e| Error::Config(e.to_string()))?;
            out.push((m, params(t.policy())?));
        }
        let (a, b) = (&out[0], &out[1]);
        assert_eq!(a.0.lines().count(), 3);
        for (x, y) in a.0.lines().zip(b.0.lines()) {
            let x: serde_json::Value =
                serde_json::from_str(x).map_err(|e| Error::Config(e.to_string()))?;
            let y: serde_json::Value =
                serde_json::from_str(y).map_err(|e| Error::Config(e.to_string()))?;
            for k in ["loss", "grad_norm"] {
                let (p, q) = (
                    x[k].as_f64().unwrap_or(f64::NAN),
                    y[k].as_f64().unwrap_or(f64::NAN),
                );
                assert!((p - q).abs() < 1e-10 * p.abs().max(1.0), "{k}: {p} vs {q}");
            }
        }
        for (p, q) in a.1.iter().zip(&b.1) {
            assert!(
                (p - q).abs() < 1e-10 * p.abs().max(1.0),
                "weights: {p} vs {q}"
            );
        }
    }
    Ok(())
}

/// 32 story prompts as a prompt file in `dir`.
fn story_prompt_file(dir: &Path) -> Result<PathBuf> {
    let prompts = dir.join("prompts.jsonl");
    let lines: Vec<String> = prefer_train::rollout::story_prompts(32, 0)
        .iter()
        .map(|p| serde_json::json!({ "prompt": p }).to_string())
        .collect();
    std::fs::write(&prompts, lines.join("\n")).map_err(|e| Error::Config(e.to_string()))?;
    Ok(prompts)
}

/// An online run's TOML as a user writes it: stories260K, 32-token completions, lr 5e-3,
/// 16 completions per step, a checkpoint every 3 steps, completions logged every 4th;
/// `objective` is the `[objective]` body (method, fields, reward or judge tables).
fn online_toml(sh: &Path, prompts: &Path, out: &Path, objective: &str, steps: u64) -> String {
    format!(
        r#"
        [model]
        path = "{model}"
        [data]
        train = "{prompts}"
        [optim]
        lr = 5e-3
        [run]
        out_dir = "{out}"
        batch_size = 16
        max_steps = {steps}
        save_every = 3
        log_completions_every = 4
        [objective]
        max_completion_length = 32
        {objective}
        "#,
        model = sh.join("models/stories260K").display(),
        prompts = prompts.display(),
        out = out.display(),
    )
}

/// Online GRPO, GSPO with a KL term, and RLOO on the real stories260K with a reward anyone can recompute by hand (the
/// sentiment word list): from a TOML config as a user writes it, the mean reward of the
/// last steps must rise far above the first steps', and a kill after step 4 then `resume`
/// gives the same metrics as the uninterrupted run (sampling included).
fn online_raises_a_rule_reward(name: &str, objective: &str) -> Result<()> {
    online_raises_a_rule_reward_at(name, objective, 5e-3)
}

/// [`online_raises_a_rule_reward`] at learning rate `lr`.
fn online_raises_a_rule_reward_at(name: &str, objective: &str, lr: f64) -> Result<()> {
    let keys: &[&str] = if objective.contains("\"ppo\"") {
        &[
            "loss/value_avg",
            "val/var_explained",
            "policy/clipfrac_avg",
            "objective/kl",
        ]
    } else if objective.contains("\"online_dpo\"") {
        &[
            "objective/kl",
            "objective/entropy",
            "objective/non_score_reward",
            "objective/rlhf_reward",
            "objective/scores",
            "objective/scores_margin",
            "rewards/margins",
            "rewards/accuracies",
            "logps/chosen",
            "beta",
            "val/contain_eos_token",
        ]
    } else if objective.contains("\"nash_md\"") {
        &[
            "loss/score",
            "loss/kl",
            "rewards/probabilities",
            "rewards/chosen",
            "rewards/rejected",
            "objective/entropy",
            "val/model_contain_eos_token",
            "val/ref_contain_eos_token",
            "mixture_coef",
        ]
    } else if objective.contains("\"sppo\"") {
        &["rewards/probabilities", "objective/kl", "logps/mean"]
    } else if objective.contains("\"xpo\"") {
        &[
            "loss/dpo",
            "loss/xpo",
            "objective/kl",
            "objective/model_scores",
            "objective/ref_scores",
            "objective/scores_margin",
            "rewards/margins",
            "val/model_contain_eos_token",
            "val/ref_contain_eos_token",
            "alpha",
        ]
    } else {
        &["clip_ratio/region_mean"]
    };
    let Some(sh) = shared() else { return Ok(()) };
    use prefer_train::metrics::read_metrics;
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let prompts = story_prompt_file(d.path())?;
    let steps: u64 = std::env::var("PREFER_GRPO_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let config = |out: &Path| -> Result<TrainConfig> {
        let objective = format!("{objective}\n[[objective.reward]]\ntype = \"lexicon\"");
        let mut c =
            TrainConfig::from_toml_str(&online_toml(&sh, &prompts, out, &objective, steps))?;
        c.optim.lr = lr;
        Ok(c)
    };
    let out = d.path().join("run");
    let mut t = Trainer::new(config(&out)?)?;
    let s = t.train(&mut |p| {
        println!("{}", p.metrics.to_json());
        ControlFlow::Continue(())
    })?;
    assert_eq!(s.steps, steps);
    let m = read_metrics(&out.join("metrics.jsonl"))?;
    let reward: Vec<f64> = m.iter().filter_map(|r| r["reward"].as_f64()).collect();
    let k = 5.min(reward.len() / 2);
    let first = reward[..k].iter().sum::<f64>() / k as f64;
    let last = reward[reward.len() - k..].iter().sum::<f64>() / k as f64;
    println!("{name} lexicon reward: first {k} steps {first:.3}, last {k} steps {last:.3}");
    assert!(
        last > first + 1.0,
        "reward did not rise: {first:.3} -> {last:.3}"
    );
    for r in &m {
        for key in [
            "reward_std",
            "frac_reward_zero_std",
            "completions/mean_length",
        ]
        .iter()
        .chain(keys)
        {
            assert!(r.get(*key).is_some(), "metric {key} missing");
        }
    }
    // Killed after step 4 (checkpoint-3 on disk), then resumed: the same metrics lines.
    let out2 = d.path().join("killed");
    let mut t = Trainer::new(config(&out2)?)?;
    let s = t.train(&mut |p| {
        if p.step == 4 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    assert!(s.stopped_early);
    let mut t = Trainer::new(config(&out2)?)?;
    assert_eq!(t.resume()?, Some(3));
    t.train(&mut |_| ControlFlow::Continue(()))?;
    let a = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let b = std::fs::read_to_string(out2.join("metrics.jsonl")).unwrap();
    assert_eq!(
        a, b,
        "a resumed {name} run differs from the uninterrupted one"
    );
    // The logged completions: every 4th step's, the same after the resume, each with its
    // reward (the one source, weight 1) and the rollout's mean reward in the metrics.
    let a = std::fs::read_to_string(out.join("completions.jsonl")).unwrap();
    let b = std::fs::read_to_string(out2.join("completions.jsonl")).unwrap();
    assert_eq!(a, b, "{name}: logged completions differ after the resume");
    let logged = read_metrics(&out.join("completions.jsonl"))?;
    let steps_logged: std::collections::BTreeSet<u64> =
        logged.iter().map(|c| c["step"].as_u64().unwrap()).collect();
    // A rollout serving two steps is logged at the step that sampled it.
    let two = objective.contains("num_iterations = 2") || objective.contains("num_ppo_epochs = 2");
    let first = if two { 3 } else { 4 };
    assert_eq!(
        steps_logged,
        (first..=steps).step_by(4).collect(),
        "{name}: logged steps"
    );
    for s in &steps_logged {
        let rows: Vec<_> = logged.iter().filter(|c| c["step"] == *s).collect();
        let mean = rows
            .iter()
            .map(|c| c["reward"].as_f64().unwrap())
            .sum::<f64>()
            / rows.len() as f64;
        let line = m.iter().find(|r| r["step"].as_u64() == Some(*s)).unwrap();
        assert!((mean - line["reward"].as_f64().unwrap()).abs() < 1e-9);
        for c in rows {
            assert_eq!(c["reward"], c["rewards/lexicon"]);
            assert!(c["completion"].is_string() && c["prompt"].is_string());
        }
    }
    Ok(())
}

#[test]
fn grpo_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward("GRPO", "method = \"grpo\"\nnum_generations = 8")
}

/// Two steps per rollout (TRL's `num_iterations = 2`): the second step's ratio is against
/// the kept sampling log-probs, and the kill after step 4 resumes from checkpoint-3, in
/// the middle of a rollout.
#[test]
fn grpo_two_iterations_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward(
        "GRPO μ=2",
        "method = \"grpo\"\nnum_generations = 8\nnum_iterations = 2",
    )
}

#[test]
fn gspo_with_kl_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward(
        "GSPO+KL",
        "method = \"grpo\"\nnum_generations = 8\nimportance_sampling_level = \"sequence\"\n\
         loss_type = \"grpo\"\nbeta = 0.04",
    )
}

#[test]
fn reinforce_pp_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward("REINFORCE++", "method = \"reinforce_pp\"")?;
    online_raises_a_rule_reward(
        "REINFORCE++-baseline",
        "method = \"reinforce_pp\"\nnum_generations = 4\nbaseline = true",
    )
}

/// PPO with its critic: two passes over each rollout, so the kill after step 4 resumes
/// from checkpoint-3 in the middle of a rollout (its tokens, old log-probs, values and
/// advantages come back from the checkpoint), and an adaptive KL coefficient.
#[test]
fn ppo_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward(
        "PPO",
        "method = \"ppo\"\nnum_ppo_epochs = 2\ntemperature = 1.0\nkl_target = 6.0\nkl_horizon = 1000.0",
    )
}

#[test]
fn rloo_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward("RLOO", "method = \"rloo\"\nnum_generations = 4")
}

/// Online DPO (TRL's `OnlineDPOTrainer`): two samples per prompt, the larger lexicon
/// reward chosen; the reward rises and a kill + resume repeats the run exactly. At
/// lr 2e-3 (measured: 0.74 → 3.28); at GRPO's 5e-3 the sequence log-ratios run away and
/// the policy collapses onto one completion without the words.
#[test]
fn online_dpo_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward_at("Online DPO", "method = \"online_dpo\"", 2e-3)
}

/// XPO (TRL's `XPOTrainer`): the second sample of each prompt from the reference, the
/// exploration term on it; the reward rises and a resume repeats the run.
#[test]
fn xpo_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward("XPO", "method = \"xpo\"\nalpha = 1e-4")
}

/// Nash-MD (TRL's `NashMDTrainer`): the policy's sample against the policy–reference
/// mixture's; the reward rises and a resume repeats the run. At lr 3e-3 (measured: 1.08 →
/// 2.35; the preference signal `P − ½` is bounded by ½, so it moves slower than DPO's).
#[test]
fn nash_md_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward_at("Nash-MD", "method = \"nash_md\"", 3e-3)
}

/// The bridge from Nash-MD at LM scale to the tabular game: with one-token completions
/// of one prompt, the candidates are the 512 tokens of stories260K, the preference is
/// `P(i ≻ j) = σ(r_i − r_j)` of a rule reward, and the reference is the model's own
/// next-token distribution `μ`. With `mixture_coef = 0` the LM objective's fixed point is
/// the KL-regularized equilibrium `π ∝ μ exp(P(·, π)/β)`, which prefer-rank computes
/// exactly (EGPO, certified by its regularized exploitability): after training, the
/// policy's next-token distribution must be far closer to it than the reference was.
#[test]
fn nash_md_on_one_token_reaches_the_tabular_regularized_equilibrium() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    use prefer_nn::model::KvCache;
    use prefer_train::reward::{Contains, RewardSource};
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let prompts = d.path().join("prompts.jsonl");
    // A prompt whose next token is uncertain (stories260K: "big" 0.28, "little" 0.13, ...).
    let line = serde_json::json!({ "prompt": "There was a" }).to_string();
    std::fs::write(&prompts, vec![line; 32].join("\n"))
        .map_err(|e| Error::Config(e.to_string()))?;
    let beta = 0.2;
    let objective = format!(
        "method = \"nash_md\"\nmixture_coef = 0.0\nbeta = {beta}\ntemperature = 1.0\n\
         [[objective.reward]]\ntype = \"contains\"\ntext = \"l\"\nweight = 2.0"
    );
    let out = d.path().join("run");
    let mut cfg = TrainConfig::from_toml_str(&online_toml(&sh, &prompts, &out, &objective, 150))?;
    cfg.set("objective.max_new_tokens", "1")?;
    cfg.run.batch_size = 64;
    cfg.optim.lr = 3e-4;
    cfg.run.save_every = 0;
    cfg.run.log_completions_every = 0;
    let mut t = Trainer::new(cfg)?;
    let ids = t.train_examples().as_prompts().unwrap()[0].ids.clone();
    let next = |m: &CausalLm| -> Result<Vec<f64>> {
        let mut c = KvCache::new(m, 1);
        let z = m.step(
            &candle_core::Tensor::new(ids.as_slice(), m.device())?.unsqueeze(0)?,
            None,
            &mut c,
        )?;
        let z = z.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
        let mx = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|x| (x - mx).exp()).collect();
        let s: f64 = e.iter().sum();
        Ok(e.iter().map(|x| x / s).collect())
    };
    let mu = next(t.policy())?;
    let tok = prefer_nn::tokenizer::Tokenizer::from_dir(&sh.join("models/stories260K"))?;
    let texts: Vec<String> = (0..mu.len() as u32)
        .map(|i| tok.decode(&[i], true))
        .collect::<std::result::Result<_, _>>()?;
    let r: Vec<f64> = Contains { text: "l".into() }
        .score(&vec![String::new(); texts.len()], &texts)?
        .iter()
        .map(|x| 2.0 * x)
        .collect();
    let p = prefer_rank::game::matrix::PrefMatrix::from_upper(mu.len(), |i, j| {
        1.0 / (1.0 + (r[j] - r[i]).exp())
    })
    .unwrap();
    let star =
        prefer_rank::game::exact::regularized_equilibrium(&p, beta, &mu, 1e-8, 200_000).unwrap();
    let tv = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / 2.0;
    let before = tv(&mu, &star);
    assert!(
        before > 0.3,
        "the rule must move the equilibrium off the reference: TV {before}"
    );
    t.train(&mut |_| ControlFlow::Continue(()))?;
    let pi = next(t.policy())?;
    let after = tv(&pi, &star);
    let rewarded = |q: &[f64]| {
        q.iter()
            .zip(&r)
            .filter(|(_, r)| **r > 0.0)
            .map(|(q, _)| q)
            .sum::<f64>()
    };
    println!(
        "Nash-MD one-token bridge: TV(μ, π*) = {before:.3}, TV(π_θ, π*) = {after:.3}; mass on \
         rewarded tokens μ {:.3}, π* {:.3}, π_θ {:.3}",
        rewarded(&mu),
        rewarded(&star),
        rewarded(&pi)
    );
    // Measured: TV 0.405 → 0.053, rewarded mass 0.570 for both (1.0 would be reward
    // maximisation without the KL).
    assert!(
        after < before / 4.0,
        "TV(π_θ, π*) = {after:.3} vs TV(μ, π*) = {before:.3}"
    );
    assert!((rewarded(&pi) - rewarded(&star)).abs() < 0.05);
    Ok(())
}

/// Iterative DPO (seed 47) on stories260K with the lexicon as the proxy: three rounds of
/// 4 samples per prompt, best vs worst, DPO from the last round's policy against π_0. The
/// proxy score of the samples must rise from round 1 to the final policy's, every round's
/// chosen outscores its rejected, and a rerun continues from `rounds.jsonl` (nothing is
/// trained again, the same reports come back). With APO's momentum α the round's policy
/// is exactly `θ̃ + α (θ̃ − θ_0)` of the DPO result θ̃ (read back from disk).
#[test]
fn iterative_dpo_raises_the_proxy_over_rounds_and_apo_extrapolates() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    use prefer_train::iterative::{IterativeConfig, run as run_rounds};
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let prompts = story_prompt_file(d.path())?;
    let base = |out: &Path| -> Result<TrainConfig> {
        let mut c = TrainConfig::default();
        c.model.path = sh.join("models/stories260K");
        c.data.train = prompts.clone();
        c.run.out_dir = out.to_path_buf();
        c.run.batch_size = 8;
        c.run.save_every = 2;
        c.optim.lr = 2e-3;
        Ok(c)
    };
    let it = IterativeConfig {
        rounds: 3,
        samples: 4,
        max_new_tokens: 32,
        reward: vec![serde_json::from_value(serde_json::json!({ "type": "lexicon" })).unwrap()],
        ..IterativeConfig::default()
    };
    let out = d.path().join("iter");
    let reports = run_rounds(&base(&out)?, &it, &mut |r| {
        println!("{}", serde_json::to_string(r).unwrap())
    })?;
    assert_eq!(reports.len(), 4);
    for r in &reports[..3] {
        assert!(r.pairs > 0 && r.chosen > r.rejected, "{r:?}");
        assert!(r.loss.is_some_and(f64::is_finite), "{r:?}");
    }
    let (first, last) = (reports[0].score, reports[3].score);
    println!("iterative DPO proxy score: round 1 samples {first:.3}, final policy {last:.3}");
    assert!(last > first + 0.5, "{first:.3} -> {last:.3}");
    let again = run_rounds(&base(&out)?, &it, &mut |_| {})?;
    assert_eq!(again, reports);

    // APO: one round with momentum 0.5.
    let out = d.path().join("apo");
    let apo = IterativeConfig {
        rounds: 1,
        momentum: 0.5,
        ..it.clone()
    };
    run_rounds(&base(&out)?, &apo, &mut |_| {})?;
    let load = |p: &Path| CausalLm::load(p, &LoadOptions::frozen()).map(|m| m.state_dict());
    let theta0 = load(&sh.join("models/stories260K"))?;
    let tilde = load(&out.join("round-1/dpo-final"))?;
    let theta = load(&out.join("round-1/model"))?;
    let mut moved = 0.0f64;
    for (((n, a), (_, t)), (_, th)) in theta0.iter().zip(&tilde).zip(&theta) {
        let want = (t + ((t - a)? * 0.5)?)?;
        let diff = (th - &want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "{n}: {diff}");
        moved = moved.max((t - a)?.abs()?.max_all()?.to_scalar::<f32>()? as f64);
    }
    assert!(moved > 1e-4, "DPO did not move the weights");
    Ok(())
}

/// SPPO with the reference synced to the policy every 4 steps (one SPPO iteration per 4
/// steps, the paper's π_t as reference): the reward rises and a kill + resume (the
/// synced reference comes back from the checkpoint) repeats the run. At lr 5e-4
/// (measured: 1.33 → 2.54); the square loss's targets (P̂ − ½)/β reach ±5 at β = 0.1, and
/// at 5e-3 the log-ratios overshoot them (loss 1,570 at step 6) and the reward stays flat.
#[test]
fn sppo_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward_at(
        "SPPO",
        "method = \"sppo\"\n[reference]\nmode = \"live\"\nsync = { alpha = 1.0, steps = 4 }",
        5e-4,
    )
}

/// SPO (seed 20) on GRPO's machinery: the lexicon only ranks the group (each reward is a
/// share of wins), and the reward still rises; the resume repeats the run.
#[test]
fn spo_raises_a_rule_reward_on_stories260k() -> Result<()> {
    online_raises_a_rule_reward("SPO", "method = \"grpo\"\nnum_generations = 8\nspo = true")
}

/// The first step of Online DPO, in closed form: the policy is still the reference, so
/// every pair's `h = Δ log-ratio` is 0 and the loss is `ln 2` (sigmoid) or `1/(4β²)` (IPO)
/// whatever was sampled, the implicit rewards and the KL are 0; the chosen completion
/// never has the smaller reward (`objective/scores_margin ≥ 0`), and with
/// `missing_eos_penalty` every 32-token completion that ran out loses that much.
#[test]
fn online_dpo_first_step_is_the_closed_form() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    use prefer_train::metrics::read_metrics;
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let prompts = story_prompt_file(d.path())?;
    for (i, (body, want)) in [
        (
            "loss_type = \"sigmoid\"\nbeta = 0.1",
            std::f64::consts::LN_2,
        ),
        ("loss_type = \"ipo\"\nbeta = [0.5]", 1.0),
        ("loss_type = \"ipo\"\nbeta = 0.1", 25.0),
    ]
    .into_iter()
    .enumerate()
    {
        let out = d.path().join(format!("run{i}"));
        let objective = format!(
            "method = \"online_dpo\"\n{body}\nmissing_eos_penalty = 100.0\n\
             [[objective.reward]]\ntype = \"lexicon\""
        );
        let cfg = TrainConfig::from_toml_str(&online_toml(&sh, &prompts, &out, &objective, 1))?;
        Trainer::new(cfg)?.train(&mut |_| ControlFlow::Continue(()))?;
        let m = &read_metrics(&out.join("metrics.jsonl"))?[0];
        let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        assert!(
            (f("loss") - want).abs() < 1e-3 * want,
            "{body}: loss {} vs {want}",
            f("loss")
        );
        for k in ["rewards/margins", "rewards/chosen", "objective/kl"] {
            assert!(f(k).abs() < 1e-3, "{body}: {k} = {}", f(k));
        }
        assert!(f("objective/scores_margin") >= 0.0, "{m:?}");
        // Lexicon scores are small; the penalty shifts the mean by 100 × the share of
        // completions without EOS.
        let missing = 1.0 - f("val/contain_eos_token");
        assert!(
            (f("reward") - 100.0 * missing - f("objective/scores")).abs() < 1e-9,
            "{m:?}"
        );
        assert!(
            f("objective/entropy") > 0.0 && f("logps/chosen") < 0.0,
            "{m:?}"
        );
    }
    // XPO's first step: the DPO part is ln 2, the exploration term α × the mean sequence
    // log-prob of the reference's samples (negative), and the loss their sum.
    let out = d.path().join("xpo");
    let objective = "method = \"xpo\"\nalpha = 0.01\n[[objective.reward]]\ntype = \"lexicon\"";
    let cfg = TrainConfig::from_toml_str(&online_toml(&sh, &prompts, &out, objective, 1))?;
    Trainer::new(cfg)?.train(&mut |_| ControlFlow::Continue(()))?;
    let m = &read_metrics(&out.join("metrics.jsonl"))?[0];
    let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
    assert!(
        (f("loss/dpo") - std::f64::consts::LN_2).abs() < 1e-3,
        "{m:?}"
    );
    assert!(f("loss/xpo") < 0.0 && f("alpha") == 0.01, "{m:?}");
    assert!(
        (f("loss") - f("loss/dpo") - f("loss/xpo")).abs() < 1e-5,
        "{m:?}"
    );
    assert!(f("objective/kl").abs() < 1e-3, "{m:?}");
    // Nash-MD's first step: the mixture is the policy itself and the KL term is 0, so the
    // loss is −(P − ½) Σ log π, and P = σ(r(y) − r(y')) of each logged pair.
    let out = d.path().join("nash");
    let objective = "method = \"nash_md\"\n[[objective.reward]]\ntype = \"lexicon\"";
    let mut cfg = TrainConfig::from_toml_str(&online_toml(&sh, &prompts, &out, objective, 1))?;
    cfg.run.log_completions_every = 1;
    Trainer::new(cfg)?.train(&mut |_| ControlFlow::Continue(()))?;
    let m = &read_metrics(&out.join("metrics.jsonl"))?[0];
    let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
    assert!(f("loss/kl").abs() < 1e-3, "{m:?}");
    assert!((f("loss") + f("loss/score")).abs() < 1e-3, "{m:?}");
    let logged = read_metrics(&out.join("completions.jsonl"))?;
    assert_eq!(logged.len(), 16);
    let p: Vec<f64> = logged
        .chunks(2)
        .map(|c| {
            let d = c[0]["reward"].as_f64().unwrap() - c[1]["reward"].as_f64().unwrap();
            1.0 / (1.0 + (-d).exp())
        })
        .collect();
    let want = p.iter().sum::<f64>() / p.len() as f64;
    assert!(
        (f("rewards/probabilities") - want).abs() < 1e-9,
        "{m:?} vs {want}"
    );
    // SPPO's first step: the log-ratio is 0, so the loss is mean(((P̂ − ½)/β)²) with P̂ each
    // completion's mean σ(r_i − r_j) over the other three of its prompt, from the log.
    let out = d.path().join("sppo");
    let objective = "method = \"sppo\"\nbeta = 0.5\n[[objective.reward]]\ntype = \"lexicon\"";
    let mut cfg = TrainConfig::from_toml_str(&online_toml(&sh, &prompts, &out, objective, 1))?;
    cfg.run.log_completions_every = 1;
    Trainer::new(cfg)?.train(&mut |_| ControlFlow::Continue(()))?;
    let m = &read_metrics(&out.join("metrics.jsonl"))?[0];
    let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
    let r: Vec<f64> = read_metrics(&out.join("completions.jsonl"))?
        .iter()
        .map(|c| c["reward"].as_f64().unwrap())
        .collect();
    assert_eq!(r.len(), 16);
    let mut want = 0.0;
    for g in r.chunks(4) {
        for (i, ri) in g.iter().enumerate() {
            let p: f64 = g
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, rj)| 1.0 / (1.0 + (rj - ri).exp()))
                .sum::<f64>()
                / 3.0;
            want += ((p - 0.5) / 0.5).powi(2) / 16.0;
        }
    }
    assert!(
        (f("loss") - want).abs() < 1e-3 * want.max(1e-3),
        "{m:?} vs {want}"
    );
    assert!(f("objective/kl").abs() < 1e-3, "{m:?}");
    Ok(())
}

/// Bad online configurations and prompt files: each a clear error naming the field, the
/// file and line; with `data.skip_invalid` (the default) a bad prompt line is left out
/// and reported.
#[test]
fn online_bad_input_is_named() -> Result<()> {
    let base = |objective: &str| {
        format!(
            "[model]\npath = \"m\"\n[data]\ntrain = \"p.jsonl\"\n[objective]\n{objective}\n\
             [run]\nout_dir = \"o\"\n"
        )
    };
    let e = TrainConfig::from_toml_str(&base(
        "method = \"grpo\"\nnum_generation = 8\n[[objective.reward]]\ntype = \"lexicon\"",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("num_generation"), "{e}");
    let e = TrainConfig::from_toml_str(&base("method = \"grpo\""))
        .and_then(|c| c.validate())
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one [[objective.reward]]"), "{e}");
    let e = TrainConfig::from_toml_str(&base(
        "method = \"rloo\"\n[[objective.reward]]\ntype = \"length\"\ntarget = 0",
    ))
    .and_then(|c| c.validate())
    .unwrap_err()
    .to_string();
    assert!(e.contains("target must be ≥ 1"), "{e}");
    for (objective, want) in [
        (
            "method = \"online_dpo\"",
            "[[objective.reward]] source or an [objective.judge]",
        ),
        (
            "method = \"online_dpo\"\nbeta = [0.1, 0.2]\n[[objective.reward]]\ntype = \"lexicon\"",
            "a list of 2 values",
        ),
        (
            "method = \"online_dpo\"\nbeta = \"x\"\n[[objective.reward]]\ntype = \"lexicon\"",
            "expected a number or a list of one number",
        ),
        (
            "method = \"online_dpo\"\nloss_type = \"ipo\"\nloss = { type = \"hinge\" }\n[[objective.reward]]\ntype = \"lexicon\"",
            "not both",
        ),
        (
            "method = \"online_dpo\"\nloss = { type = \"simpo\" }\n[[objective.reward]]\ntype = \"lexicon\"",
            "reference-free",
        ),
        (
            "method = \"online_dpo\"\n[objective.judge.endpoint]\nbase_url = \"localhost:8080\"",
            "must start with http://",
        ),
        (
            "method = \"online_dpo\"\nmissing_eos_penalty = -1.0\n[[objective.reward]]\ntype = \"lexicon\"",
            "missing_eos_penalty = -1 must be ≥ 0",
        ),
    ] {
        let e = TrainConfig::from_toml_str(&base(objective))
            .and_then(|c| c.validate())
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{objective}: {e}");
    }

    let Some(sh) = shared() else { return Ok(()) };
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    let prompts = d.path().join("prompts.jsonl");
    std::fs::write(
        &prompts,
        "{\"prompt\": \"Once upon a time\"}\n{\"text\": \"no prompt\"}\n{\"prompt\": \"\"}\n",
    )
    .map_err(|e| Error::Config(e.to_string()))?;
    let mut c = TrainConfig::default();
    c.model.path = sh.join("models/stories260K");
    c.data.train = prompts.clone();
    c.run.out_dir = d.path().join("run");
    c.run.batch_size = 6;
    c.objective = TrainConfig::from_toml_str(&base(
        "method = \"grpo\"\nnum_generations = 4\n[[objective.reward]]\ntype = \"lexicon\"",
    ))?
    .objective;
    c.data.skip_invalid = false;
    let e = Trainer::new(c.clone()).unwrap_err().to_string();
    assert!(
        e.contains("prompts.jsonl:2") && e.contains("`prompt`: missing"),
        "{e}"
    );
    c.data.skip_invalid = true;
    let e = Trainer::new(c.clone()).unwrap_err().to_string();
    assert!(
        e.contains("multiple of objective.num_generations = 4"),
        "{e}"
    );
    c.run.batch_size = 8;
    let t = Trainer::new(c.clone())?;
    assert_eq!(t.train_examples().len(), 1);
    assert_eq!(t.skipped().len(), 2, "{:?}", t.skipped());
    assert!(t.skipped()[1].contains("prompts.jsonl:3") && t.skipped()[1].contains("blank"));
    // Prompts over batch.max_prompt_length: cut to BOS + the last tokens, and counted...
    let full = t.train_examples().as_prompts().unwrap()[0].ids.clone();
    assert!(full.len() > 3 && full[0] == 1, "{full:?}");
    c.batch.max_prompt_length = Some(3);
    let t = Trainer::new(c.clone())?;
    assert_eq!(t.truncated_prompts(), 1);
    let cut = &t.train_examples().as_prompts().unwrap()[0].ids;
    assert_eq!(cut, &[1, full[full.len() - 2], full[full.len() - 1]]);
    // ... or left out and reported with their line.
    c.data.long_prompts = prefer_train::config::LongPrompts::Reject;
    let e = Trainer::new(c.clone()).unwrap_err().to_string();
    assert!(
        e.contains("no prompts")
            && e.contains("prompts.jsonl:1: prompt has")
            && e.contains("more than batch.max_prompt_length = 3"),
        "{e}"
    );
    std::fs::write(&prompts, "{\"prompt\": \"Once upon a time\"}\n")
        .map_err(|e| Error::Config(e.to_string()))?;
    c.data.skip_invalid = false;
    let e = Trainer::new(c).unwrap_err().to_string();
    assert!(e.contains("prompts.jsonl:1: prompt has"), "{e}");
    Ok(())
}

/// The `reward_model` source on a reward model of ours trained to prefer one word: it
/// must rank unseen completions with the word above those without (a ground truth set by
/// the training pairs), and score each text as the model's own forward does on the whole
/// `prompt + " " + completion` tokens with EOS (the tokenization it was trained with).
#[test]
fn reward_model_source_scores_as_the_trained_model() -> Result<()> {
    let Some(sh) = shared() else { return Ok(()) };
    use prefer_nn::logprobs::{BatchConfig, SeqBatch};
    use prefer_nn::reward::lm::{LmRewardConfig, LmRewardModel};
    use prefer_nn::tokenizer::Tokenizer;
    use prefer_train::reward::joined_ids;
    use prefer_train::reward::{ModelReward, RewardSource};
    let dir = sh.join("models/stories260K");
    let tok = Tokenizer::from_dir(&dir)?;
    let lm = CausalLm::load(&dir, &LoadOptions::trainable())?;
    let rm = LmRewardModel::new(lm, 1, 3)?;
    let names = ["Tom", "Lily", "Ben", "Sue", "Max", "Anna", "Sam", "Mia"];
    let things = ["ball", "tree", "cat", "park", "cake", "boat"];
    let mut pairs = Vec::new();
    for n in &names[..6] {
        for t in things {
            let prompt = format!("Once upon a time, {n} saw a {t}.");
            let (p, mut a) = joined_ids(
                &tok,
                &prompt,
                &[&format!("{n} was happy."), &format!("{n} was sad.")],
            )?;
            let rejected = a.pop().unwrap();
            pairs.push(PairIds {
                prompt: p,
                chosen: a.pop().unwrap(),
                rejected,
            });
        }
    }
    let batch = BatchConfig {
        bos_id: tok.bos_id(),
        eos_id: tok.eos_id(),
        pad_id: tok.pad_id().unwrap_or(0),
        max_length: None,
        ..Default::default()
    };
    let cfg = LmRewardConfig {
        epochs: 6,
        lr: 3e-3,
        batch_size: 12,
        batch: batch.clone(),
        ..Default::default()
    };
    rm.fit(&pairs, &[], &cfg)?;
    let d = tempfile::tempdir().map_err(|e| Error::Config(e.to_string()))?;
    rm.save_pretrained(d.path())?;
    let src = ModelReward::load(d.path(), Some(&dir), 4)?;
    // Held-out names: the source ranks "happy" above "sad" for every prompt.
    let mut prompts = Vec::new();
    let mut texts = Vec::new();
    for n in &names[6..] {
        for w in ["happy", "sad"] {
            prompts.push(format!("Once upon a time, {n} saw a dog."));
            texts.push(format!("{n} was {w}."));
        }
    }
    let s = src.score(&prompts, &texts)?;
    for c in s.chunks(2) {
        assert!(c[0] > c[1], "happy {} vs sad {}", c[0], c[1]);
    }
    // The same numbers as the model's forward on the whole text.
    for ((p, t), got) in prompts.iter().zip(&texts).zip(&s) {
        let ids = tok.encode(&format!("{p} {t}"), true)?;
        let seq = SeqIds {
            prompt: ids[..1].to_vec(),
            completion: ids[1..].to_vec(),
        };
        let b = SeqBatch::new(&[seq], &batch, &candle_core::Device::Cpu)?;
        let want = rm
            .rewards(&b)?
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?[0];
        assert!((want - got).abs() < 1e-5, "{want} vs {got}");
    }
    Ok(())
}
