//! `prefer train`: SFT, the DPO family and KTO on a Hugging Face model folder, plus the
//! rule-judged self-preference tools (`rule-pairs`, `rule-eval`).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args as ClapArgs, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prefer_data::{Record, RecordWriter, WriteOptions};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::sample::SampleConfig;
use prefer_nn::tokenizer::Tokenizer;
use prefer_train::config::TrainConfig;
use prefer_train::rollout::{self, Lexicon};
use prefer_train::trainer::Trainer;

/// `prefer train dpo --help`: the examples, then every loss type with its parameters
/// and defaults (TRL's `loss_type` names; TRL's field names are accepted where ours differ).
fn dpo_long_help() -> String {
    format!(
        "Examples:\n  \
        prefer train dpo --model ../shared/models/stories260K --train pairs.jsonl --out runs/dpo --lr 1e-3 --steps 100\n  \
        prefer train dpo --config dpo.toml --loss '{{\"type\": \"ipo\", \"beta\": 0.5}}' --resume\n  \
        prefer train dpo --config dpo.toml --loss '[[{{\"type\": \"sigmoid\"}}, 1.0], [{{\"type\": \"sft\"}}, 0.2]]'\n\
        Threads: on a loaded machine set CANDLE_NUM_THREADS=1 (candle's pool busy-waits).\n\n\
        Loss types (--loss '{{\"type\": NAME, PARAM: VALUE}}'), parameters and defaults:\n{}",
        prefer_nn::loss::PairLoss::help()
    )
}

/// `prefer train ...`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Supervised fine-tuning on the chosen / desirable completions.
    Sft(RunArgs),
    /// Preference optimization on pairs with any pair loss or a mixture (DPO, IPO,
    /// SimPO, ORPO, ...; `--loss`).
    #[command(after_help = "Examples:\n  \
        prefer train dpo --model ../shared/models/stories260K --train pairs.jsonl --out runs/dpo --lr 1e-3 --steps 100\n  \
        prefer train dpo --config dpo.toml --loss '{\"type\": \"ipo\", \"tau\": 0.5}' --resume\n  \
        prefer train dpo --config dpo.toml --loss '[[{\"type\": \"sigmoid\"}, 1.0], [{\"type\": \"sft\"}, 0.2]]'\n\
        Threads: on a loaded machine set CANDLE_NUM_THREADS=1 (candle's pool busy-waits).",
        after_long_help = dpo_long_help())]
    Dpo(RunArgs),
    /// Unpaired preference optimization (KTO; also APO-zero-unpaired and BCO via
    /// `--loss`). Pairs are split into a desirable and an undesirable completion.
    Kto(RunArgs),
    /// Listwise PRO (Plackett-Luce over ranked lists) on rankings; pairs are lists of
    /// two. Rankings without scores need `--loss '{"temperature": {"type": "constant", "tau": 1.0}}'`.
    Pro(RunArgs),
    /// Online GRPO (DAPO, GSPO, Dr. GRPO by `--set objective.loss_type=...` and
    /// `objective.importance_sampling_level`): sample `num_generations` completions per
    /// prompt, score them with `--reward`, take the group-relative clipped step.
    #[command(after_help = "Examples:\n  \
        prefer train grpo --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/grpo --lr 5e-3 --steps 12 --batch-size 16 --set objective.max_completion_length=32\n  \
        prefer train grpo --config grpo.toml --reward 'lexicon*1.0' --reward 'length:40*0.5' --beta 0.04\n\
        Rewards: lexicon | length:TARGET | contains:TEXT, each with an optional *WEIGHT.")]
    Grpo(RunArgs),
    /// Online RLOO: leave-one-out baseline over `num_generations` completions per prompt,
    /// KL to the reference in the reward (`--beta`, default 0.05).
    #[command(after_help = "Example:\n  \
        prefer train rloo --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/rloo --set objective.num_generations=4")]
    Rloo(RunArgs),
    /// Online REINFORCE++: token rewards −β·KL plus the sequence reward at the end,
    /// returns standardised over the batch, PPO's clipped loss, no critic (`--beta` is
    /// `kl_coef`, default 0.01; `--set objective.baseline=true` for REINFORCE++-baseline).
    #[command(after_help = "Example:\n  \
        prefer train reinforce-pp --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/rpp")]
    ReinforcePp(RunArgs),
    /// Online PPO with a critic: GAE advantages, clipped policy and value losses, the KL
    /// penalty in the reward (`--beta` is `kl_coef`, default 0.05; `--set
    /// objective.kl_target=6` adapts it), `num_ppo_epochs` passes over each rollout.
    #[command(after_help = "Example:\n  \
        prefer train ppo --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/ppo --set objective.num_ppo_epochs=2")]
    Ppo(RunArgs),
    /// Online DPO: two samples per prompt from the current policy, the one with the larger
    /// `--reward` (or the `--judge`'s pick) is chosen, and a DPO loss on the pair (`--beta`
    /// 0.1, `--loss-type sigmoid|ipo` or any `--loss` of the DPO family).
    #[command(after_help = "Examples:\n  \
        prefer train online-dpo --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/odpo --set objective.max_new_tokens=32\n  \
        prefer train online-dpo --config odpo.toml --judge http://127.0.0.1:8080/v1 --set objective.judge.endpoint.cache=judge-cache.jsonl")]
    OnlineDpo(RunArgs),
    /// XPO: Online DPO whose second sample comes from the reference model, with the
    /// exploration term `alpha · Σ log π(y_ref)` (`--set objective.alpha=1e-5`).
    #[command(after_help = "Example:\n  \
        prefer train xpo --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/xpo --set objective.alpha=1e-4")]
    Xpo(RunArgs),
    /// Nash-MD: the policy's sample against one from the policy–reference geometric
    /// mixture (`--set objective.mixture_coef=0.5`), a REINFORCE step on P(policy ≻
    /// mixture) with the KL to the reference (`--beta`, default 0.1).
    #[command(after_help = "Example:\n  \
        prefer train nash-md --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/nash")]
    NashMd(RunArgs),
    /// SPPO: `num_generations` samples per prompt, each one's win rate against the
    /// others, the square loss of its log-ratio on `(P − ½)/β` (`--beta`, default 0.1).
    #[command(after_help = "Example:\n  \
        prefer train sppo --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/sppo --reference live --set reference.sync='{alpha = 1.0, steps = 4}'")]
    Sppo(RunArgs),
    /// Iterative DPO (RLHF Workflow): rounds of `--samples` completions per prompt from
    /// the current policy, best vs worst by the proxy `--reward`, DPO from the round's
    /// policy against π_0 (`--round-reference previous`: against the round's start, as
    /// SePPO) and optionally APO's momentum across rounds (`--momentum`).
    #[command(after_help = "Example:\n  \
        prefer train iterative-dpo --model ../shared/models/stories260K --prompts prompts.jsonl --reward lexicon --out runs/iter --rounds 3 --samples 4 --max-new-tokens 32 --lr 2e-3\n\
        Writes rounds.jsonl (the proxy score of each round's samples) and round-<t>/{pairs.jsonl, model/, the DPO run}; a rerun continues after the last round done.")]
    IterativeDpo(Box<IterArgs>),
    /// Build a preference set from a model's own samples scored by a word-list rule.
    RulePairs(RulePairsArgs),
    /// Score a trained policy against its starting model on held-out prompts: the rule's
    /// mean score, the win rate and the KL divergence.
    RuleEval(RuleEvalArgs),
    /// Reward and preference models (BT, ArmoRM, GPM, PAL, VPL, MaxMin, ...) on sentence
    /// embeddings, or a causal LM with a score head.
    Reward(crate::cmd::reward::Args),
}

/// Flags shared by `sft`, `dpo` and `kto`; each overrides the TOML file's value.
#[derive(Debug, Clone, ClapArgs)]
pub struct RunArgs {
    /// TOML configuration (every field optional; see docs/training.md).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Model folder (`model.path`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Tokenizer folder or tokenizer.json (`model.tokenizer`).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Training records (`data.train`); for `grpo` and `rloo` the prompts, one JSON
    /// object with a `prompt` field per line.
    #[arg(long, visible_alias = "prompts")]
    pub train: Option<PathBuf>,
    /// Held-out records (`data.eval`).
    #[arg(long)]
    pub eval: Option<PathBuf>,
    /// Output folder (`run.out_dir`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The loss, as JSON or TOML (`objective.loss`): `{"type": "ipo", "tau": 0.5}`.
    #[arg(long)]
    pub loss: Option<String>,
    /// TRL's `loss_type` (dpo; repeatable for a mixture): `--loss-type sigmoid --loss-type sft`.
    #[arg(long = "loss-type", visible_alias = "loss_type", value_name = "NAME")]
    pub loss_type: Vec<String>,
    /// TRL's `loss_weights`, one per `--loss-type` (dpo; repeatable).
    #[arg(
        long = "loss-weights",
        visible_alias = "loss_weights",
        value_name = "W"
    )]
    pub loss_weights: Vec<f64>,
    /// TRL's `beta` (dpo: each loss type takes it where it reads it, IPO: its τ; grpo and
    /// rloo: the KL weight).
    #[arg(long)]
    pub beta: Option<f64>,
    /// An LLM judge at this OpenAI-compatible endpoint (`objective.judge.endpoint.base_url`;
    /// online-dpo, xpo, nash-md, and grpo with `objective.spo = true`), asked in both
    /// orders, instead of the rewards.
    #[arg(long, value_name = "URL")]
    pub judge: Option<String>,
    /// A reward source of the online methods (repeatable; replaces the file's):
    /// `lexicon`, `length:TARGET`, `contains:TEXT`, each with an optional `*WEIGHT`.
    #[arg(long, value_name = "SPEC")]
    pub reward: Vec<String>,
    /// TRL's `label_smoothing` (dpo: robust, EXO's ε, aot).
    #[arg(long = "label-smoothing", visible_alias = "label_smoothing")]
    pub label_smoothing: Option<f64>,
    /// Peak learning rate (`optim.lr`).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer steps (`run.max_steps`).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Passes over the data (`run.epochs`).
    #[arg(long)]
    pub epochs: Option<f64>,
    /// Examples per micro-batch (`run.batch_size`).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Micro-batches per step (`run.grad_accum`).
    #[arg(long)]
    pub grad_accum: Option<usize>,
    /// Longest prompt + completion, tokens (`batch.max_length`).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Longest prompt, tokens (`batch.max_prompt_length`).
    #[arg(long)]
    pub max_prompt_length: Option<usize>,
    /// Data-order seed (`run.seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// `cached` or `live` (`reference.mode`).
    #[arg(long)]
    pub reference: Option<String>,
    /// Checkpoint every N steps (`run.save_every`).
    #[arg(long)]
    pub save_every: Option<u64>,
    /// Evaluate every N steps (`run.eval_every`).
    #[arg(long)]
    pub eval_every: Option<u64>,
    /// Any other key: `--set schedule.decay=cosine` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Recompute each layer in the backward instead of keeping its activations
    /// (`model.gradient_checkpointing`): less memory, one more forward of the layers.
    #[arg(long)]
    pub gradient_checkpointing: bool,
    /// Continue from the newest checkpoint in the output folder.
    #[arg(long)]
    pub resume: bool,
    /// Also evaluate on the training set at the end (`train_eval_*`).
    #[arg(long)]
    pub eval_train: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `prefer train iterative-dpo`: the DPO flags, the proxy (`--reward`) and the rounds.
#[derive(Debug, Clone, ClapArgs)]
pub struct IterArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Completions sampled per prompt each round (k).
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
    /// Most new tokens per completion.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Each round's reference: `initial` (π_0) or `previous` (the round's start).
    #[arg(long, default_value = "initial", value_parser = ["initial", "previous"])]
    pub round_reference: String,
    /// APO's Nesterov momentum across rounds (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub momentum: f64,
}

fn iterative_dpo(a: &IterArgs) -> anyhow::Result<ExitCode> {
    use prefer_train::iterative::{IterativeConfig, RoundReference};
    let mut run = a.run.clone();
    let proxy = std::mem::take(&mut run.reward);
    if proxy.is_empty() {
        bail!("give the proxy with --reward (lexicon, length:TARGET, contains:TEXT)");
    }
    let cfg = resolve(&run, "dpo")?;
    let reward = proxy
        .iter()
        .map(|r| Ok(serde_json::from_value(reward_spec(r)?)?))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let it = IterativeConfig {
        rounds: a.rounds,
        samples: a.samples,
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature,
        reference: if a.round_reference == "previous" {
            RoundReference::Previous
        } else {
            RoundReference::Initial
        },
        momentum: a.momentum,
        reward,
    };
    eprintln!(
        "prefer train iterative-dpo: {} on {} -> {}",
        cfg.model.path.display(),
        cfg.data.train.display(),
        cfg.run.out_dir.display()
    );
    prefer_train::iterative::run(&cfg, &it, &mut |r| {
        let trained = r.loss.map_or("final policy, no training".to_string(), |l| {
            format!(
                "DPO loss {l:.4}, accuracy {:.3}",
                r.accuracy.unwrap_or(f64::NAN)
            )
        });
        println!(
            "round {}: proxy score {:.3} (chosen {:.3}, rejected {:.3}), {} pairs, {} prompts without one; {trained}",
            r.round, r.score, r.chosen, r.rejected, r.pairs, r.no_pair
        );
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The configuration these flags describe for `method`.
pub fn resolve(a: &RunArgs, method: &str) -> anyhow::Result<TrainConfig> {
    let mut cfg = match &a.config {
        Some(p) => TrainConfig::from_file(p)?,
        None => TrainConfig::default(),
    };
    if cfg.objective.method() != method {
        cfg.set("objective.method", &format!("\"{method}\""))?;
    }
    let path = |p: &PathBuf| format!("{:?}", p.display().to_string());
    let mut sets: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| sets.push((k.to_string(), v));
    if let Some(v) = &a.model {
        put("model.path", path(v));
    }
    if let Some(v) = &a.tokenizer {
        put("model.tokenizer", path(v));
    }
    if let Some(v) = &a.train {
        put("data.train", path(v));
    }
    if let Some(v) = &a.eval {
        put("data.eval", path(v));
    }
    if let Some(v) = &a.out {
        put("run.out_dir", path(v));
    }
    if let Some(v) = &a.loss {
        put("objective.loss", v.clone());
    }
    if let Some(v) = a.lr {
        put("optim.lr", format!("{v:e}"));
    }
    if let Some(v) = a.steps {
        put("run.max_steps", v.to_string());
    }
    if let Some(v) = a.epochs {
        put("run.epochs", format!("{v:?}"));
    }
    if let Some(v) = a.batch_size {
        put("run.batch_size", v.to_string());
    }
    if let Some(v) = a.grad_accum {
        put("run.grad_accum", v.to_string());
    }
    if let Some(v) = a.max_length {
        put("batch.max_length", v.to_string());
    }
    if let Some(v) = a.max_prompt_length {
        put("batch.max_prompt_length", v.to_string());
    }
    if let Some(v) = a.seed {
        put("run.seed", v.to_string());
    }
    if let Some(v) = &a.reference {
        put("reference.mode", format!("{v:?}"));
    }
    if let Some(v) = a.save_every {
        put("run.save_every", v.to_string());
    }
    if let Some(v) = a.eval_every {
        put("run.eval_every", v.to_string());
    }
    if a.gradient_checkpointing {
        put("model.gradient_checkpointing", "true".into());
    }
    for s in &a.sets {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("--set {s}: expected KEY=VALUE"))?;
        put(k.trim(), v.trim().to_string());
    }
    for (k, v) in sets {
        cfg.set(&k, &v).with_context(|| format!("setting {k}"))?;
    }
    let online = matches!(
        method,
        "grpo" | "rloo" | "reinforce_pp" | "ppo" | "online_dpo" | "xpo" | "nash_md" | "sppo"
    );
    if let Some(url) = &a.judge {
        if !matches!(method, "online_dpo" | "xpo" | "nash_md" | "grpo") {
            bail!(
                "--judge is for `prefer train online-dpo`, `xpo`, `nash-md` and `grpo` (SPO, with --set objective.spo=true)"
            );
        }
        cfg.set("objective.judge.endpoint.base_url", &format!("{url:?}"))?;
    }
    if !a.reward.is_empty() {
        if !online {
            bail!(
                "--reward is for the online methods (`prefer train grpo|rloo|reinforce-pp|ppo|online-dpo|xpo|nash-md|sppo`)"
            );
        }
        let specs = a
            .reward
            .iter()
            .map(|r| reward_spec(r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        cfg.set("objective.reward", &serde_json::to_string(&specs)?)?;
    }
    if online {
        if let Some(b) = a.beta {
            let key = if matches!(method, "reinforce_pp" | "ppo") {
                "objective.kl_coef"
            } else {
                "objective.beta"
            };
            cfg.set(key, &format!("{b:?}"))?;
        }
        if let [t] = a.loss_type.as_slice() {
            cfg.set("objective.loss_type", &format!("{t:?}"))?;
        } else if !a.loss_type.is_empty() {
            bail!("--loss-type takes one value for `{method}`");
        }
    }
    let trl = !online
        && (!a.loss_type.is_empty()
            || !a.loss_weights.is_empty()
            || a.beta.is_some()
            || a.label_smoothing.is_some());
    if trl {
        if method != "dpo" {
            bail!(
                "--loss-type, --loss-weights, --beta and --label-smoothing are TRL's DPOConfig fields: for `prefer train dpo`"
            );
        }
        if a.loss.is_some() {
            bail!(
                "give the loss either with --loss or with TRL's --loss-type/--beta/..., not both"
            );
        }
        let mut t = toml::Table::new();
        let list = |v: Vec<toml::Value>| toml::Value::Array(v);
        if !a.loss_type.is_empty() {
            t.insert(
                "loss_type".into(),
                list(
                    a.loss_type
                        .iter()
                        .cloned()
                        .map(toml::Value::String)
                        .collect(),
                ),
            );
        }
        if !a.loss_weights.is_empty() {
            t.insert(
                "loss_weights".into(),
                list(
                    a.loss_weights
                        .iter()
                        .copied()
                        .map(toml::Value::Float)
                        .collect(),
                ),
            );
        }
        if let Some(b) = a.beta {
            t.insert("beta".into(), toml::Value::Float(b));
        }
        if let Some(l) = a.label_smoothing {
            t.insert("label_smoothing".into(), toml::Value::Float(l));
        }
        cfg.set_trl_objective(t)?;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// `lexicon`, `length:40`, `contains:dog`, each with an optional `*WEIGHT`, as the
/// `[[objective.reward]]` table it stands for.
fn reward_spec(s: &str) -> anyhow::Result<serde_json::Value> {
    let (kind, weight) = match s.rsplit_once('*') {
        Some((k, w)) => (
            k,
            w.trim()
                .parse::<f64>()
                .with_context(|| format!("--reward {s}: weight {w:?} is not a number"))?,
        ),
        None => (s, 1.0),
    };
    let (name, arg) = match kind.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a)),
        None => (kind.trim(), None),
    };
    let mut v = serde_json::json!({ "type": name, "weight": weight });
    match (name, arg) {
        ("lexicon", None) => {}
        ("length", Some(t)) => {
            let t: usize = t
                .trim()
                .parse()
                .with_context(|| format!("--reward {s}: length target {t:?} is not a count"))?;
            v["target"] = t.into();
        }
        ("contains", Some(t)) => v["text"] = t.into(),
        _ => bail!(
            "--reward {s}: expected lexicon, length:TARGET or contains:TEXT (optionally *WEIGHT)"
        ),
    }
    Ok(v)
}

fn fmt_metrics(m: &prefer_train::metrics::Metrics, keys: &[&str]) -> String {
    keys.iter()
        .filter_map(|k| m.get(k).map(|v| format!("{k} {v:.4}")))
        .collect::<Vec<_>>()
        .join("  ")
}

/// Runs one training command.
fn run_training(a: &RunArgs, method: &str) -> anyhow::Result<ExitCode> {
    let cfg = resolve(a, method)?;
    let out = cfg.run.out_dir.clone();
    eprintln!(
        "prefer train {method}: {} on {} -> {}",
        cfg.model.path.display(),
        cfg.data.train.display(),
        out.display()
    );
    let mut t = Trainer::new(cfg).context("preparing the run")?;
    eprintln!(
        "{} training examples{}",
        t.train_examples().len(),
        t.eval_examples()
            .map_or(String::new(), |e| format!(", {} held out", e.len()))
    );
    if t.truncated_prompts() > 0 {
        eprintln!(
            "truncated {} prompts to batch.max_prompt_length (data.long_prompts = \"reject\" leaves them out)",
            t.truncated_prompts()
        );
    }
    if let Some(first) = t.skipped().first() {
        eprintln!(
            "skipped {} unusable records, e.g. {first}",
            t.skipped().len()
        );
    }
    if a.resume {
        match t.resume()? {
            Some(s) => eprintln!("resumed from checkpoint-{s}"),
            None => eprintln!("no checkpoint in {}: starting fresh", out.display()),
        }
    } else if prefer_train::checkpoint::latest(&out)?.is_some() {
        bail!(
            "{} already holds checkpoints: pass --resume to continue, or choose another --out",
            out.display()
        );
    }
    let total = t.total_steps();
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps [{elapsed_precise} < {eta_precise}] {msg}",
        )?);
        b.enable_steady_tick(Duration::from_millis(500));
        b
    };
    bar.set_position(t.state().step);
    bar.reset_eta();
    let keys = [
        "loss",
        "reward",
        "kl",
        "rewards/accuracies",
        "scores/accuracies",
        "rewards/margins",
        "grad_norm",
    ];
    let s = t.train(&mut |p| {
        bar.set_position(p.step);
        bar.set_message(fmt_metrics(p.metrics, &keys));
        if let Some(e) = p.eval {
            bar.println(format!(
                "step {}: {}",
                p.step,
                fmt_metrics(e, &["eval_loss", "eval_rewards/accuracies"])
            ));
        }
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    let s = s?;
    println!("{} steps; last: {}", s.steps, fmt_metrics(&s.last, &keys));
    report_gold(&out.join("metrics.jsonl"));
    let mut results = serde_json::Map::new();
    if let Some(e) = &s.eval {
        println!(
            "held-out: {}",
            fmt_metrics(
                e,
                &[
                    "eval_loss",
                    "eval_rewards/accuracies",
                    "eval_rewards/margins"
                ]
            )
        );
        results.insert("eval".into(), e.to_json());
    }
    if a.eval_train {
        let e = t.evaluate_train()?;
        println!(
            "training set: {}",
            fmt_metrics(
                &e,
                &[
                    "train_eval_loss",
                    "train_eval_rewards/accuracies",
                    "train_eval_rewards/margins"
                ]
            )
        );
        results.insert("train".into(), e.to_json());
    }
    if !results.is_empty() {
        let p = out.join("eval_results.json");
        prefer_data::write_atomic(&p, serde_json::to_string_pretty(&results)?.as_bytes())?;
    }
    if let Some(c) = &s.checkpoint {
        println!("model: {} (transformers loads it as-is)", c.display());
    }
    println!("metrics: {}", t.metrics_path().display());
    Ok(ExitCode::SUCCESS)
}

/// Flags of the rule judge and sampling.
#[derive(Debug, Clone, ClapArgs)]
pub struct RuleArgs {
    /// The rule: `sentiment` (built-in lexicon, see docs/training.md), `sentiment-distinct`
    /// (each distinct word once) or `word:WORD`
    /// (count of one word).
    #[arg(long, default_value = "sentiment")]
    pub rule: String,
    /// Number of prompts (generated story openings, see docs/training.md).
    #[arg(long, default_value_t = 96)]
    pub prompts: usize,
    /// Skip this many prompts first (held-out prompts come after the training ones).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Samples per prompt.
    #[arg(long, default_value_t = 4)]
    pub samples: usize,
    /// Most new tokens per sample.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Sampling temperature (1 keeps the KL estimate unbiased).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl RuleArgs {
    fn rule(&self) -> anyhow::Result<Lexicon> {
        match self.rule.split_once(':') {
            None if self.rule == "sentiment" => Ok(Lexicon::sentiment()),
            None if self.rule == "sentiment-distinct" => Ok(Lexicon::sentiment().distinct()),
            Some(("word", w)) if !w.is_empty() => Ok(Lexicon::word(w)),
            _ => bail!(
                "--rule {}: expected `sentiment`, `sentiment-distinct` or `word:WORD`",
                self.rule
            ),
        }
    }

    fn sample(&self) -> SampleConfig {
        SampleConfig {
            max_new_tokens: self.max_new_tokens,
            temperature: self.temperature,
            seed: self.seed,
            ..Default::default()
        }
    }
}

/// `prefer train rule-pairs`
#[derive(Debug, ClapArgs)]
pub struct RulePairsArgs {
    /// Model folder to sample from.
    #[arg(long)]
    pub model: PathBuf,
    /// Output pairs file (JSONL or Parquet).
    #[arg(long)]
    pub out: PathBuf,
    /// Write ranked lists of all samples (for `prefer train pro`) instead of pairs.
    #[arg(long)]
    pub ranking: bool,
    #[command(flatten)]
    pub rule: RuleArgs,
}

/// `prefer train rule-eval`
#[derive(Debug, ClapArgs)]
pub struct RuleEvalArgs {
    /// The starting model folder.
    #[arg(long)]
    pub base: PathBuf,
    /// Trained policy folders (checkpoints); several give one row each.
    #[arg(long, required = true)]
    pub policy: Vec<PathBuf>,
    /// Write the reports as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A reward model of ours (`prefer train reward --model lm --out DIR`) that also
    /// scores every sample: the proxy beside the rule as gold.
    #[arg(long)]
    pub reward_model: Option<PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
}

fn rule_pairs(a: &RulePairsArgs) -> anyhow::Result<ExitCode> {
    let model = CausalLm::load(&a.model, &LoadOptions::frozen())?;
    let tok = Tokenizer::from_dir(&a.model)?;
    let prompts = rollout::story_prompts(a.rule.prompts, a.rule.offset);
    if a.ranking {
        let lists = rollout::rule_rankings(
            &model,
            &tok,
            &prompts,
            a.rule.samples,
            &a.rule.sample(),
            &a.rule.rule()?,
        )?;
        let mut w = RecordWriter::create(&a.out, &WriteOptions::default())?;
        let n = lists.len();
        for r in lists {
            w.write(&Record::Ranking(r))?;
        }
        w.finish()?;
        println!(
            "{n} ranked lists from {} prompts x {} samples -> {}",
            prompts.len(),
            a.rule.samples,
            a.out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (pairs, st) = rollout::rule_pairs(
        &model,
        &tok,
        &prompts,
        a.rule.samples,
        &a.rule.sample(),
        &a.rule.rule()?,
    )?;
    let mut w = RecordWriter::create(&a.out, &WriteOptions::default())?;
    for p in pairs {
        w.write(&Record::Pair(p))?;
    }
    w.finish()?;
    println!(
        "{} pairs from {} prompts x {} samples -> {}; mean score {:.3} (chosen {:.3}, rejected {:.3})",
        st.pairs,
        st.prompts,
        a.rule.samples,
        a.out.display(),
        st.mean_score,
        st.mean_chosen,
        st.mean_rejected
    );
    Ok(ExitCode::SUCCESS)
}

fn rule_eval(a: &RuleEvalArgs) -> anyhow::Result<ExitCode> {
    let base = CausalLm::load(&a.base, &LoadOptions::frozen())?;
    let tok = Tokenizer::from_dir(&a.base)?;
    let prompts = rollout::story_prompts(a.rule.prompts, a.rule.offset);
    let rule = a.rule.rule()?;
    let rm = match &a.reward_model {
        Some(d) => Some(
            prefer_train::reward::ModelReward::load(d, None, 32)
                .with_context(|| format!("loading the reward model {}", d.display()))?,
        ),
        None => None,
    };
    #[allow(clippy::result_large_err)] // prefer_train's error, as its Scorer returns
    let proxy = |p: &[String], t: &[String]| {
        use prefer_train::reward::RewardSource;
        rm.as_ref().map_or(Ok(Vec::new()), |m| m.score(p, t))
    };
    let mut all = serde_json::Map::new();
    println!(
        "{:<40} {:>8} {:>8} {:>9} {:>14}{}",
        "policy",
        "score",
        "base",
        "win rate",
        "KL (nats)",
        if rm.is_some() { "    proxy" } else { "" }
    );
    for p in &a.policy {
        let pol = CausalLm::load(p, &LoadOptions::frozen())?;
        let r = rollout::rule_report_with(
            &pol,
            &base,
            &tok,
            &prompts,
            a.rule.samples,
            &a.rule.sample(),
            &rule,
            rm.is_some().then_some(&proxy as rollout::Scorer<'_>),
        )?;
        println!(
            "{:<40} {:>8.3} {:>8.3} {:>9.3} {:>8.2} ± {:.2}{}",
            p.display().to_string(),
            r.score,
            r.base_score,
            r.win_rate,
            r.kl,
            r.kl_se,
            r.proxy.map_or(String::new(), |x| format!(" {x:>8.3}"))
        );
        all.insert(p.display().to_string(), serde_json::to_value(&r)?);
    }
    if let Some(j) = &a.json {
        prefer_data::write_atomic(j, serde_json::to_string_pretty(&all)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// With `[[objective.gold]]` sources: where the gold peaked against the proxy the run
/// trained on, and a warning when the proxy is being overoptimized.
fn report_gold(metrics: &std::path::Path) {
    let Ok(rows) = prefer_train::metrics::read_metrics(metrics) else {
        return;
    };
    let Some(d) = prefer_train::metrics::gold_divergence(&rows, 5) else {
        return;
    };
    println!(
        "gold (5-step means): {:.3} at the start, peak {:.3} at step {}, {:.3} at the end; \
         proxy {:.3} at the gold's peak, {:.3} at the end",
        d.first_gold, d.peak_gold, d.peak_step, d.last_gold, d.proxy_at_peak, d.last_proxy
    );
    if d.diverged() {
        println!(
            "warning: the proxy reward is overoptimized: the gold fell from its peak at step {} \
             while the proxy kept rising (a checkpoint near step {} or a larger KL coefficient does better)",
            d.peak_step, d.peak_step
        );
    }
}

/// Runs `prefer train ...`.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Sft(a) => run_training(&a, "sft"),
        Command::Dpo(a) => run_training(&a, "dpo"),
        Command::Kto(a) => run_training(&a, "kto"),
        Command::Pro(a) => run_training(&a, "pro"),
        Command::Grpo(a) => run_training(&a, "grpo"),
        Command::Rloo(a) => run_training(&a, "rloo"),
        Command::ReinforcePp(a) => run_training(&a, "reinforce_pp"),
        Command::Ppo(a) => run_training(&a, "ppo"),
        Command::OnlineDpo(a) => run_training(&a, "online_dpo"),
        Command::Xpo(a) => run_training(&a, "xpo"),
        Command::NashMd(a) => run_training(&a, "nash_md"),
        Command::Sppo(a) => run_training(&a, "sppo"),
        Command::IterativeDpo(a) => iterative_dpo(&a),
        Command::RulePairs(a) => rule_pairs(&a),
        Command::RuleEval(a) => rule_eval(&a),
        Command::Reward(a) => crate::cmd::reward::run(&a),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::{RunArgs, resolve};
    use prefer_train::config::TrainConfig;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        run: RunArgs,
    }

    fn dpo(args: &[&str]) -> anyhow::Result<TrainConfig> {
        let base = ["dpo", "--model", "m", "--train", "t.jsonl"];
        let f = Flags::try_parse_from(base.iter().chain(args).copied())?;
        resolve(&f.run, "dpo")
    }

    fn ours(loss: &str) -> TrainConfig {
        TrainConfig::from_toml_str(&format!("[objective]\nmethod = \"dpo\"\nloss = {loss}"))
            .unwrap()
    }

    /// TRL's flags mean what TRL's fields mean: `--loss-type ipo --beta 0.5` is IPO with
    /// τ = 0.5; repeated types and weights are a mixture; `--beta` alone retunes the
    /// file's loss and keeps its other parameters.
    #[test]
    fn trl_loss_flags_set_the_loss_as_trl_does() {
        let got = dpo(&["--loss-type", "ipo", "--beta", "0.5"]).unwrap();
        assert_eq!(
            got.objective,
            ours("{ type = \"ipo\", tau = 0.5 }").objective
        );
        let got = dpo(&[
            "--loss_type",
            "sigmoid",
            "--loss-type",
            "sft",
            "--loss-weights",
            "1",
            "--loss-weights",
            "0.2",
            "--beta",
            "0.05",
        ])
        .unwrap();
        let want = ours("[[{ type = \"sigmoid\", beta = 0.05 }, 1.0], [{ type = \"sft\" }, 0.2]]");
        assert_eq!(got.objective, want.objective);

        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("dpo.toml");
        std::fs::write(
            &file,
            "[objective]\nloss_type = \"robust\"\nlabel_smoothing = 0.1\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let got = dpo(&["--config", f, "--beta", "0.3"]).unwrap();
        let want = ours("{ type = \"robust\", beta = 0.3, label_smoothing = 0.1 }");
        assert_eq!(got.objective, want.objective);

        // DiscoPOP has both β and τ: a new β leaves the file's τ alone.
        std::fs::write(
            &file,
            "[objective]\nloss_type = \"discopop\"\ndiscopop_tau = 0.1\n",
        )
        .unwrap();
        let got = dpo(&["--config", f, "--beta", "0.2"]).unwrap();
        let want = ours("{ type = \"discopop\", beta = 0.2, tau = 0.1 }");
        assert_eq!(got.objective, want.objective);

        let e = dpo(&["--loss", "{ type = \"ipo\" }", "--beta", "0.1"]).unwrap_err();
        assert!(e.to_string().contains("not both"), "{e}");
        let e = dpo(&["--loss-type", "sigmod"]).unwrap_err();
        assert!(format!("{e:#}").contains("did you mean `sigmoid`"), "{e:#}");
    }
}
