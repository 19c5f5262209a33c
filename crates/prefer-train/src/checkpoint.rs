//! Checkpoints: a folder `checkpoint-<step>/` that transformers loads as a model as-is
//! (`model.safetensors`, `config.json`, tokenizer files), with the optimizer's moments
//! (`optimizer.safetensors`: `exp_avg.<name>`, `exp_avg_sq.<name>`), the trainer state
//! (`trainer_state.json`: step, data position, seed, BCO's running moments) and, when
//! TR-DPO has moved it, the reference model (`reference.safetensors`); an objective's own
//! parameters (`objective.safetensors`: PPO's critic) and state (`objective_state.json`:
//! PPO's rollout and KL coefficient).
//!
//! A checkpoint is written to a hidden temporary folder and renamed into place, so a
//! kill leaves either the whole checkpoint or none; older ones are removed only after
//! the new one is in place.

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use prefer_nn::loss::RunningMoments;
use prefer_nn::model::{CausalLm, WeightFiles, save_safetensors};
use serde::{Deserialize, Serialize};

use crate::error::io_err;
use crate::optim::{AdamW, Moments};
use crate::{Error, Result};

/// Where training stands: enough, with the weights and the optimizer, to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainerState {
    /// Optimizer steps taken.
    pub step: u64,
    /// The epoch the next example comes from (0-based).
    pub epoch: u64,
    /// Position of the next example in that epoch's order.
    pub position: usize,
    /// The data-order seed (the order of epoch e is a function of (seed, e)).
    pub seed: u64,
    /// AdamW's update count t.
    pub optimizer_t: u64,
    /// BCO's running reward moments (other losses: default).
    pub running: RunningMoments,
    /// The total steps the run was planned with.
    pub total_steps: u64,
}

/// What an objective adds to a checkpoint: its own parameters and its state.
#[derive(Debug, Default)]
pub struct ObjectiveParts {
    /// Parameters besides the policy's, by name.
    pub params: Vec<(String, candle_core::Var)>,
    /// The objective's state between steps.
    pub state: Option<serde_json::Value>,
}

/// The folder of the checkpoint at `step`.
pub fn checkpoint_dir(out: &Path, step: u64) -> PathBuf {
    out.join(format!("checkpoint-{step}"))
}

/// Every complete checkpoint under `out`, oldest first.
pub fn list(out: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut v = Vec::new();
    let rd = match std::fs::read_dir(out) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(io_err(out)(e)),
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(s) = name.strip_prefix("checkpoint-")
            && let Ok(step) = s.parse::<u64>()
            && e.path().join("trainer_state.json").exists()
        {
            v.push((step, e.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// The newest complete checkpoint under `out`.
pub fn latest(out: &Path) -> Result<Option<(u64, PathBuf)>> {
    Ok(list(out)?.pop())
}

/// Writes `checkpoint-<state.step>` atomically, then keeps the newest `keep` (0: all).
/// Returns its folder.
pub fn save(
    out: &Path,
    policy: &CausalLm,
    opt: &AdamW,
    state: &TrainerState,
    reference: Option<&CausalLm>,
    objective: &ObjectiveParts,
    keep: usize,
) -> Result<PathBuf> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let fin = checkpoint_dir(out, state.step);
    let tmp = out.join(format!(".checkpoint-{}.tmp", state.step));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
    }
    policy.save_pretrained(&tmp)?;
    let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(2 * opt.len());
    for ((name, var), mom) in opt.names().iter().zip(opt.vars()).zip(opt.moments()) {
        let (m, v) = mom.to_tensors(var.dims())?;
        tensors.push((format!("exp_avg.{name}"), m));
        tensors.push((format!("exp_avg_sq.{name}"), v));
    }
    save_safetensors(&tmp.join("optimizer.safetensors"), &tensors)?;
    if let Some(r) = reference {
        r.save_safetensors(&tmp.join("reference.safetensors"))?;
    }
    if !objective.params.is_empty() {
        let t: Vec<(String, Tensor)> = objective
            .params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().detach()))
            .collect();
        save_safetensors(&tmp.join("objective.safetensors"), &t)?;
    }
    if let Some(st) = &objective.state {
        let text = serde_json::to_string(st).map_err(|e| Error::Config(e.to_string()))?;
        prefer_data::write_atomic(&tmp.join("objective_state.json"), text.as_bytes())?;
    }
    let text = serde_json::to_string_pretty(state).map_err(|e| Error::Config(e.to_string()))?;
    prefer_data::write_atomic(&tmp.join("trainer_state.json"), text.as_bytes())?;
    if fin.exists() {
        std::fs::remove_dir_all(&fin).map_err(io_err(&fin))?;
    }
    std::fs::rename(&tmp, &fin).map_err(io_err(&fin))?;
    if keep > 0 {
        let all = list(out)?;
        let n = all.len();
        for (_, p) in all.into_iter().take(n.saturating_sub(keep)) {
            std::fs::remove_dir_all(&p).map_err(io_err(&p))?;
        }
    }
    Ok(fin)
}

/// Sets the `Var`s of `model` from a safetensors file (or folder) with the same names.
pub fn load_weights(model: &CausalLm, files: &WeightFiles) -> Result<()> {
    for (name, var) in model.vars()? {
        let t = files.load(&name, var.dims(), var.dtype(), var.device())?;
        var.set(&t)?;
    }
    Ok(())
}

/// Loads a checkpoint into `policy` and `opt` (and the reference, if the checkpoint has
/// one and `reference` is given; and the objective's `params`); returns the trainer state
/// and the objective's state, if it saved one.
pub fn load(
    dir: &Path,
    policy: &CausalLm,
    opt: &mut AdamW,
    reference: Option<&CausalLm>,
    params: &[(String, candle_core::Var)],
) -> Result<(TrainerState, Option<serde_json::Value>)> {
    let sp = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&sp).map_err(io_err(&sp))?;
    let state: TrainerState =
        serde_json::from_str(&text).map_err(|e| Error::Resume(format!("{}: {e}", sp.display())))?;
    load_weights(
        policy,
        &WeightFiles::open_files(&[dir.join("model.safetensors")])?,
    )?;
    let of = WeightFiles::open_files(&[dir.join("optimizer.safetensors")])?;
    let mut moments = Vec::with_capacity(opt.len());
    for (name, var) in opt.names().iter().zip(opt.vars()) {
        let dev = candle_core::Device::Cpu;
        let m = of.load(&format!("exp_avg.{name}"), var.dims(), var.dtype(), &dev)?;
        let v = of.load(&format!("exp_avg_sq.{name}"), var.dims(), var.dtype(), &dev)?;
        moments.push(match var.dtype() {
            candle_core::DType::F64 => Moments::F64 {
                m: m.flatten_all()?.to_vec1()?,
                v: v.flatten_all()?.to_vec1()?,
            },
            _ => Moments::F32 {
                m: m.flatten_all()?.to_vec1()?,
                v: v.flatten_all()?.to_vec1()?,
            },
        });
    }
    opt.restore(moments, state.optimizer_t)
        .map_err(|e| Error::Resume(format!("{}: {e}", dir.display())))?;
    let rp = dir.join("reference.safetensors");
    if let Some(r) = reference
        && rp.exists()
    {
        load_weights(r, &WeightFiles::open_files(&[rp])?)?;
    }
    if !params.is_empty() {
        let f = WeightFiles::open_files(&[dir.join("objective.safetensors")])?;
        for (name, var) in params {
            var.set(&f.load(name, var.dims(), var.dtype(), var.device())?)?;
        }
    }
    let op = dir.join("objective_state.json");
    let objective = if op.exists() {
        let text = std::fs::read_to_string(&op).map_err(io_err(&op))?;
        Some(
            serde_json::from_str(&text)
                .map_err(|e| Error::Resume(format!("{}: {e}", op.display())))?,
        )
    } else {
        None
    };
    Ok((state, objective))
}
