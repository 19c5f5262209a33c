//! `prefer train reward`: reward and preference models on frozen sentence embeddings
//! (all-MiniLM-L6-v2 by default; embeddings cached on disk), or a causal LM with a score
//! head. Glue only: the models live in `prefer_nn::reward`, data and metrics in
//! `prefer_eval`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::ValueEnum;
use prefer_data::OpenOptions;
use prefer_data::split::Splitter;
use prefer_eval::{
    EmbedOptions, EvalConfig, TextPair, embed_pairs, embed_ratings, evaluate, ratings_from_pairs,
    read_pairs_skipping, read_ratings, with_meta,
};
use prefer_nn::encoder::{EmbeddingCache, SentenceEncoder, default_minilm_dir};
use prefer_nn::logprobs::BatchConfig;
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::reward::lm::{LmRewardConfig, LmRewardModel};
use prefer_nn::reward::{
    Armo, ArmoConfig, BradleyTerryRm, BradleyTerryRmConfig, ContextRm, ContextRmConfig,
    EncoderStamp, Gpm, GpmConfig, MaxMin, MaxMinConfig, PairData, Pal, PalConfig, RewardModel,
    StrengthConfig, TrainLog, UncertainRm, UncertaintyConfig, UnknownUser, Vpl, VplConfig,
    fit_denoised,
};
use prefer_nn::tokenizer::Tokenizer;

/// The model to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Bradley-Terry head (TRL RewardTrainer loss).
    Bt,
    /// BT with preference strength from an ensemble and noisy-label handling (paper 7).
    Strength,
    /// ArmoRM: multi-objective regression on ratings + gating on pairs (paper 3).
    Armo,
    /// General preference model, skew-symmetric embeddings (paper 6).
    Gpm,
    /// PAL ideal-point mixture over users (paper 14).
    Pal,
    /// Variational user latent (paper 50).
    Vpl,
    /// MaxMin EM mixture of BT models (paper 41).
    Maxmin,
    /// Context-conditioned RM: the `context` criterion is an input (paper 19).
    Context,
    /// Ensemble of BT heads reporting uncertainty (paper 45).
    Ensemble,
    /// A causal LM (Hugging Face folder, `--backbone`) with a score head on the last real
    /// token.
    Lm,
}

/// `prefer train reward`
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    scripts/fetch_minilm.sh\n  \
    prefer train reward --model bt --train ../shared/data/ultrafeedback/train_clean.jsonl --eval ../shared/data/ultrafeedback/eval_clean.jsonl --out runs/uf-bt\n  \
    prefer train reward --model armo --train uf.jsonl --ratings uf.jsonl --length-attribute --out runs/uf-armo\n  \
    prefer train reward --model gpm --train ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --holdout 0.2 --out runs/hh-gpm\n  \
    prefer train reward --model lm --backbone ../shared/models/stories260K --train pairs.jsonl --out runs/lm-rm")]
pub struct Args {
    /// Which model.
    #[arg(long, value_enum, default_value = "bt")]
    pub model: Kind,
    /// Training pairs (any format prefer-data reads; HH-RLHF transcripts are split).
    #[arg(long)]
    pub train: PathBuf,
    /// Held-out pairs (default: `--holdout` of the training file, split by prompt).
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// Fraction of the training file held out when there is no `--eval` (0 = none).
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// What the held-out split keeps together: `prompt` (all pairs of a prompt on one
    /// side) or `pair` (each pair on its own, for data whose prompts repeat by design).
    #[arg(long, value_enum, default_value = "prompt")]
    pub split_by: SplitBy,
    /// Output folder (reward.json + model.safetensors, or a transformers folder for lm).
    #[arg(long)]
    pub out: PathBuf,
    /// Sentence-encoder folder (default $PREFER_MINILM or ~/.cache/prefer/models/all-MiniLM-L6-v2).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Embedding cache file (default <out>/embeddings.safetensors).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Model configuration as JSON (the model's Config; fields not given keep defaults).
    #[arg(long)]
    pub config: Option<String>,
    /// Passes over the data.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Pairs per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// ArmoRM: rating records, or pairs with `metadata.score_chosen/score_rejected`
    /// (default: the training file).
    #[arg(long)]
    pub ratings: Option<PathBuf>,
    /// ArmoRM: the attributes to regress (default: all of the first rating's).
    #[arg(long, value_delimiter = ',')]
    pub attributes: Vec<String>,
    /// ArmoRM: add `length` = ln(1 + characters) as an objective and decorrelate the
    /// others from it (verbosity debiasing).
    #[arg(long)]
    pub length_attribute: bool,
    /// lm: the causal-LM folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub backbone: Option<PathBuf>,
    /// Personalized models: what to do with user ids unseen in training.
    #[arg(long, value_enum, default_value = "error")]
    pub unknown_user: UnknownUserArg,
    /// Also write the training embeddings (prompt, chosen, rejected) as safetensors here,
    /// for the PyTorch peer of the head benchmark (bench/eval/peer_head.py).
    #[arg(long)]
    pub dump_embeddings: Option<PathBuf>,
}

/// `--split-by`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitBy {
    /// A hash of the prompt.
    Prompt,
    /// A hash of the whole pair.
    Pair,
}

/// `--unknown-user`
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum UnknownUserArg {
    /// Refuse to score them.
    Error,
    /// Score them with the population model.
    Population,
}

impl From<UnknownUserArg> for UnknownUser {
    fn from(a: UnknownUserArg) -> Self {
        match a {
            UnknownUserArg::Error => UnknownUser::Error,
            UnknownUserArg::Population => UnknownUser::Population,
        }
    }
}

/// Splits texts into train and held-out by a hash of the prompt.
pub fn split_by_prompt(
    pairs: Vec<TextPair>,
    holdout: f64,
    seed: u64,
    by: SplitBy,
) -> anyhow::Result<(Vec<TextPair>, Vec<TextPair>)> {
    if holdout <= 0.0 {
        return Ok((pairs, Vec::new()));
    }
    let sp = Splitter::new(&[1.0 - holdout, holdout], seed).map_err(anyhow::Error::msg)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for p in pairs {
        let key = match by {
            SplitBy::Prompt if !p.prompt.is_empty() => p.prompt.clone(),
            _ => format!("{}\u{1}{}\u{1}{}", p.prompt, p.chosen, p.rejected),
        };
        if sp.assign(key.as_bytes()) == 0 {
            a.push(p)
        } else {
            b.push(p)
        }
    }
    Ok((a, b))
}

fn merge_config<T: serde::Serialize + serde::de::DeserializeOwned>(
    base: T,
    json: Option<&str>,
) -> anyhow::Result<T> {
    let Some(j) = json else { return Ok(base) };
    let mut v = serde_json::to_value(&base)?;
    let patch: serde_json::Value = serde_json::from_str(j).context("--config is not JSON")?;
    fn merge(a: &mut serde_json::Value, b: &serde_json::Value) {
        match (a, b) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                }
            }
            (a, b) => *a = b.clone(),
        }
    }
    merge(&mut v, &patch);
    serde_json::from_value(v).context("--config does not fit the model's configuration")
}

/// The encoder and its cache, with a message when the encoder is missing.
pub fn open_encoder(
    encoder: Option<&Path>,
    cache: &Path,
) -> anyhow::Result<(SentenceEncoder, EmbeddingCache)> {
    let dir = encoder.map_or_else(default_minilm_dir, Path::to_path_buf);
    let enc = SentenceEncoder::load(&dir)
        .with_context(|| format!("loading the sentence encoder {}", dir.display()))?;
    let c = EmbeddingCache::open(cache, &enc)?;
    Ok((enc, c))
}

fn log_line(kind: &str, log: &TrainLog) {
    if let (Some(a), Some(b)) = (log.epoch_loss.first(), log.epoch_loss.last()) {
        let secs: f64 = log.epoch_seconds.iter().sum();
        let mut e = log.epoch_seconds.clone();
        e.sort_by(f64::total_cmp);
        let median = e.get(e.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "  {kind}: {} epochs, loss {a:.4} -> {b:.4}, {secs:.2} s (median {:.1} ms/epoch)",
            log.epoch_loss.len(),
            1000.0 * median
        );
    }
}

/// Reads the pairs of a file, skipping (and reporting) records that fail the data checks.
pub fn read_valid(path: &Path) -> anyhow::Result<Vec<TextPair>> {
    // RewardBench (and other exports) use integer ids, which prefer-data's string `id`
    // rejects; the id is not used here, so it is kept under another name.
    let opts = OpenOptions {
        renames: vec![("record_id".into(), "id".into())],
        ..Default::default()
    };
    let (pairs, bad) = read_pairs_skipping(path, &opts)?;
    if let Some(first) = bad.first() {
        println!(
            "  skipped {} invalid record(s) of {}; first: {first}",
            bad.len(),
            path.display()
        );
    }
    Ok(pairs)
}

/// Runs `prefer train reward`.
pub fn run(a: &Args) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let all = read_valid(&a.train)?;
    let (train, held) = match &a.eval {
        Some(e) => (all, read_valid(e)?),
        None => split_by_prompt(all, a.holdout, a.seed, a.split_by)?,
    };
    if train.is_empty() {
        bail!(
            "{}: no training pairs left after holding out {}",
            a.train.display(),
            a.holdout
        );
    }
    println!(
        "prefer train reward --model {:?}: {} training pairs, {} held out",
        a.model,
        train.len(),
        held.len()
    );
    if a.eval.is_none() && a.holdout > 0.0 && held.is_empty() {
        // Split by prompt, every pair landed on one side: few distinct prompts.
        eprintln!(
            "warning: --holdout {} held out nothing: the pairs share too few prompts to split by \
             prompt; pass --split-by pair (or --eval) for a held-out report",
            a.holdout
        );
    }
    if a.model == Kind::Lm {
        return train_lm_rm(a, &train, &held);
    }
    let cache_path = a
        .cache
        .clone()
        .unwrap_or_else(|| a.out.join("embeddings.safetensors"));
    let (enc, mut cache) = open_encoder(a.encoder.as_deref(), &cache_path)?;
    let eo = EmbedOptions::default();
    let te = Instant::now();
    let train_d = embed_pairs(&enc, Some(&mut cache), &train, &eo)?;
    let held_d = if held.is_empty() {
        None
    } else {
        Some(embed_pairs(&enc, Some(&mut cache), &held, &eo)?)
    };
    cache.save()?;
    let (hits, misses) = cache.stats();
    println!(
        "  embeddings: {} ({}), {misses} encoded + {hits} from cache {} in {:.1} s",
        enc.name(),
        &enc.fingerprint()[..12],
        cache.path().display(),
        te.elapsed().as_secs_f64()
    );
    if let Some(f) = &a.dump_embeddings {
        prefer_nn::model::save_safetensors(
            f,
            &[
                ("prompt".to_string(), train_d.prompt.clone()),
                ("chosen".to_string(), train_d.chosen.clone()),
                ("rejected".to_string(), train_d.rejected.clone()),
            ],
        )?;
        println!("  wrote the training embeddings to {}", f.display());
    }
    let stamp = Some(EncoderStamp {
        name: enc.name().into(),
        fingerprint: enc.fingerprint().into(),
    });
    let mut train_cfg = prefer_nn::reward::TrainConfig {
        seed: a.seed,
        ..Default::default()
    };
    if let Some(e) = a.epochs {
        train_cfg.epochs = e;
    }
    if let Some(l) = a.lr {
        train_cfg.lr = l;
    }
    if let Some(b) = a.batch_size {
        train_cfg.batch_size = b;
    }
    let cfgj = a.config.as_deref();
    let mut extra = serde_json::json!({});
    let (model, log) = match a.model {
        Kind::Bt => {
            let c = merge_config(
                BradleyTerryRmConfig {
                    train: train_cfg,
                    ..Default::default()
                },
                cfgj,
            )?;
            let (m, l) = BradleyTerryRm::fit(&train_d, &c)?;
            (RewardModel::BradleyTerry(m), l)
        }
        Kind::Strength => {
            let c = merge_config(
                StrengthConfig {
                    member: BradleyTerryRmConfig {
                        train: train_cfg,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                cfgj,
            )?;
            let (m, l, rep) = fit_denoised(&train_d, &c)?;
            println!(
                "  strength: {} labels flipped, {} smoothed (of {})",
                rep.flipped.len(),
                rep.smoothed.len(),
                train_d.len()
            );
            extra =
                serde_json::json!({"flipped": rep.flipped.len(), "smoothed": rep.smoothed.len()});
            (RewardModel::BradleyTerry(m), l)
        }
        Kind::Armo => {
            let rp = a.ratings.clone().unwrap_or_else(|| a.train.clone());
            let mut ratings = match read_ratings(&rp, &OpenOptions::default()) {
                Ok(r) => r,
                Err(_) => ratings_from_pairs(&read_valid(&rp)?, false)?,
            };
            if a.length_attribute {
                for r in &mut ratings {
                    r.scores.insert(
                        "length".into(),
                        (1.0 + r.response.chars().count() as f64).ln(),
                    );
                }
            }
            let attrs: Vec<String> = if a.attributes.is_empty() {
                ratings
                    .first()
                    .map(|r| r.scores.keys().cloned().collect())
                    .unwrap_or_default()
            } else {
                let mut v = a.attributes.clone();
                if a.length_attribute && !v.iter().any(|x| x == "length") {
                    v.push("length".into());
                }
                v
            };
            let rd = embed_ratings(&enc, Some(&mut cache), &ratings, &attrs, &eo)?;
            cache.save()?;
            println!(
                "  ratings: {} responses, objectives {}",
                rd.len(),
                attrs.join(", ")
            );
            let mut c = ArmoConfig {
                train: train_cfg,
                ..Default::default()
            };
            if a.length_attribute {
                c.verbosity_attribute = Some("length".into());
            }
            let c = merge_config(c, cfgj)?;
            let (m, l) = Armo::fit(&rd, &train_d, &c)?;
            (RewardModel::Armo(m), l)
        }
        Kind::Gpm => {
            let c = merge_config(
                GpmConfig {
                    train: train_cfg,
                    ..Default::default()
                },
                cfgj,
            )?;
            let (m, l) = Gpm::fit(&train_d, &c)?;
            (RewardModel::Gpm(m), l)
        }
        Kind::Pal => {
            let c = merge_config(
                PalConfig {
                    train: train_cfg,
                    unknown_user: a.unknown_user.into(),
                    ..Default::default()
                },
                cfgj,
            )?;
            let (m, l) = Pal::fit(&train_d, &c)?;
            (RewardModel::Pal(m), l)
        }
        Kind::Vpl => {
            let c = merge_config(
                VplConfig {
                    train: train_cfg,
                    unknown_user: a.unknown_user.into(),
                    ..Default::default()
                },
                cfgj,
            )?;
            let (m, l) = Vpl::fit(&train_d, &c)?;
            (RewardModel::Vpl(m), l)
        }
        Kind::Maxmin => {
            let c = merge_config(
                MaxMinConfig {
                    member: BradleyTerryRmConfig {
                        train: train_cfg,
                        ..Default::default()
                    },
                    unknown_user: a.unknown_user.into(),
                    ..Default::default()
                },
                cfgj,
            )?;
            let (m, l) = MaxMin::fit(&train_d, &c)?;
            (RewardModel::MaxMin(m), l)
        }
        Kind::Context => {
            let c = merge_config(
                ContextRmConfig {
                    train: train_cfg,
                    ..Default::default()
                },
                cfgj,
            )?;
            let (m, l) = ContextRm::fit(&train_d, &c)?;
            (RewardModel::Context(m), l)
        }
        Kind::Ensemble => {
            let c = merge_config(
                UncertaintyConfig {
                    member: BradleyTerryRmConfig {
                        train: train_cfg,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                cfgj,
            )?;
            let m = UncertainRm::fit(&train_d, &c)?;
            (RewardModel::Ensemble(m), TrainLog::default())
        }
        Kind::Lm => unreachable!("handled above"),
    };
    log_line(model.kind(), &log);
    let mut metrics = serde_json::json!({
        "train_pairs": train.len(),
        "epoch_loss": log.epoch_loss,
        "epoch_seconds": log.epoch_seconds,
        "extra": extra,
    });
    let train_acc = prefer_nn::reward::pairwise_accuracy(&model.pair_logits(&train_d)?);
    println!("  train accuracy {:.1}%", 100.0 * train_acc);
    metrics["train_accuracy"] = train_acc.into();
    if let Some(hd) = &held_d {
        let report = eval_report(
            &model,
            hd,
            &held,
            &format!("{} on held-out pairs", model.kind()),
        )?;
        print!("{}", report.table());
        report.write_json(&a.out.join("eval.json"))?;
        metrics["heldout_accuracy"] = report.accuracy.into();
        metrics["heldout_pairs"] = report.n.into();
    }
    model.save(&a.out, stamp, metrics)?;
    println!(
        "  wrote {} ({:.1} s)",
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn eval_report(
    model: &RewardModel,
    data: &PairData,
    texts: &[TextPair],
    name: &str,
) -> anyhow::Result<prefer_eval::Report> {
    scored_report(name, texts, &model.pair_logits(data)?)
}

/// The evaluation report of `texts` scored by their reward margins `z`.
fn scored_report(name: &str, texts: &[TextPair], z: &[f32]) -> anyhow::Result<prefer_eval::Report> {
    let scored: Vec<_> = texts
        .iter()
        .zip(z)
        .map(|(t, &l)| with_meta(t, f64::from(l)))
        .collect();
    Ok(evaluate(name, &scored, &EvalConfig::default())?)
}

/// Trains a causal-LM reward model (`prefer train reward --model lm`).
fn train_lm_rm(
    a: &Args,
    train: &[TextPair],
    held: &[TextPair],
) -> anyhow::Result<std::process::ExitCode> {
    let Some(dir) = &a.backbone else {
        bail!(
            "--model lm needs --backbone DIR (a Hugging Face causal-LM folder with tokenizer.json)"
        );
    };
    let lm = CausalLm::load(dir, &LoadOptions::trainable())
        .with_context(|| format!("loading {}", dir.display()))?;
    let tok = Tokenizer::from_dir(dir)?;
    let cfg = LmRewardConfig {
        epochs: a.epochs.unwrap_or(3),
        lr: a.lr.unwrap_or(1e-3),
        batch_size: a.batch_size.unwrap_or(16),
        seed: a.seed,
        batch: BatchConfig {
            bos_id: tok.bos_id(),
            eos_id: tok.eos_id(),
            pad_id: tok.pad_id().unwrap_or(0),
            max_length: Some(256),
            ..Default::default()
        },
        ..Default::default()
    };
    let rm = LmRewardModel::new(lm, 1, a.seed)?;
    let ids = super::pair_ids::lm_ids(&tok, train)?;
    let t0 = Instant::now();
    let log = rm.fit(&ids, &[], &cfg)?;
    println!(
        "  lm reward model: {} epochs, loss {:.4} -> {:.4}, {:.1} s",
        log.epoch_loss.len(),
        log.epoch_loss.first().copied().unwrap_or(f64::NAN),
        log.epoch_loss.last().copied().unwrap_or(f64::NAN),
        t0.elapsed().as_secs_f64()
    );
    if !held.is_empty() {
        let hid = super::pair_ids::lm_ids(&tok, held)?;
        let z = rm.pair_logits(&hid, &cfg.batch, cfg.batch_size)?;
        let r = scored_report("lm reward model on held-out pairs", held, &z)?;
        print!("{}", r.table());
        r.write_json(&a.out.join("eval.json"))?;
    }
    rm.save_pretrained(&a.out)?;
    println!(
        "  wrote {} (LlamaForSequenceClassification layout)",
        a.out.display()
    );
    Ok(std::process::ExitCode::SUCCESS)
}
