//! `prefer eval`: evaluate reward and preference models and policies. Glue only; the
//! metrics live in `prefer_eval`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use prefer_data::OpenOptions;
use prefer_eval::{
    EmbedOptions, EvalConfig, PairLogps, RankingConfig, ScoredPair, Sections, SetLogits, TextPair,
    agreement, embed_pairs, evaluate, generalization, implicit_logits, ranking_report, read_pairs,
    read_verdicts, scored_from_texts, with_meta,
};
use prefer_nn::encoder::{EmbeddingCache, EncodeOptions, SentenceEncoder, default_minilm_dir};
use prefer_nn::logprobs::{BatchConfig, PairBatch, PairIds, pair_logps};
use prefer_nn::model::{CausalLm, LoadOptions};
use prefer_nn::reward::RewardModel;
use prefer_nn::reward::lm::LmRewardModel;
use prefer_nn::tokenizer::Tokenizer;

use super::reward::UnknownUserArg;

/// `prefer eval ...`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pairwise accuracy of a reward model (or of scores already in the file), with
    /// RewardBench's sectioned score when pairs have a `subset`, calibration, and
    /// per-source and per-length breakdowns.
    #[command(after_help = "Examples:\n  \
        prefer eval pairs --data test.jsonl --model runs/uf-bt --json report.json --plots plots/\n  \
        prefer eval pairs --data rewardbench-filtered.jsonl --model runs/uf-bt   # sections, final score\n  \
        prefer eval pairs --data results.jsonl                                     # uses score_chosen/score_rejected")]
    Pairs(PairsArgs),
    /// Ranking accuracy of a policy and the idealized ranking accuracy (alignment gap):
    /// from a JSONL of log-probs, or from two model folders and a pair file.
    Ranking(RankingArgs),
    /// Implicit DPO reward vs an explicit reward model, in and out of distribution.
    Implicit(ImplicitArgs),
    /// Agreement between judges: fields of a file (annotators) and/or reward models.
    Agreement(AgreementArgs),
    /// Embed the texts of pair files into the cache and report the throughput.
    Embed(EmbedArgs),
    /// RewardBench 2's protocol on scored instances (one prompt, several completions,
    /// the first `num_correct` correct): best-of-N accuracy per subset, the Ties score,
    /// and their mean.
    #[command(after_help = "Examples:\n  \
        prefer eval bestofn scores.jsonl        # {id, subset, scores, num_correct} per line\n  \
        prefer eval bestofn scores.jsonl --json rb2.json")]
    Bestofn(BestofnArgs),
    /// RM-Bench's protocol on scored items (chosen and rejected in three styles): the
    /// 3x3 style matrix, hard / normal / easy accuracy, per domain and overall.
    #[command(after_help = "Examples:\n  \
        prefer eval rmbench results.json     # RM-Bench's results file (a JSON array)\n  \
        prefer eval rmbench scores.jsonl --json rmb.json")]
    Rmbench(BestofnArgs),
}

/// `prefer eval bestofn`
#[derive(Debug, clap::Args)]
pub struct BestofnArgs {
    /// Scored records (JSONL or a JSON array). bestofn: `id`, `subset`, `scores` (one
    /// per completion, the correct ones first), `num_correct`; rmbench: `id`, `domain`,
    /// `score_chosen`, `score_rejected` (three each: concise, detailed, markdown).
    pub file: PathBuf,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `prefer eval pairs`
#[derive(Debug, clap::Args)]
pub struct PairsArgs {
    /// Pair file (any format and layout prefer-data reads).
    #[arg(long)]
    pub data: PathBuf,
    /// Reward-model folder from `prefer train reward` (embedding model) or an LM reward
    /// model folder. Without it, scores are read from the file.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Sentence encoder (embedding models; default the MiniLM folder).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Embedding cache (default <model>/embeddings.safetensors).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Sections JSON `{"Section": ["subset", ...]}` (default RewardBench's).
    #[arg(long)]
    pub sections: Option<PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write plots (reliability, length) into this folder.
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Plot format.
    #[arg(long, default_value = "png")]
    pub plot_format: String,
    /// Personalized models: users unseen in training.
    #[arg(long, value_enum, default_value = "error")]
    pub unknown_user: UnknownUserArg,
}

/// `prefer eval ranking`
#[derive(Debug, clap::Args)]
pub struct RankingArgs {
    /// JSONL with policy_chosen, policy_rejected, ref_chosen, ref_rejected, chosen_len,
    /// rejected_len (and optional strength) per line.
    #[arg(long)]
    pub logps: Option<PathBuf>,
    /// Policy model folder (with --reference and --data).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Reference model folder.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Pair file.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// β grid of the idealized model.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0.01, 0.1, 1.0, 5.0, 10.0])]
    pub betas: Vec<f64>,
    /// α for pairs without a strength.
    #[arg(long, default_value_t = 0.75)]
    pub default_strength: f64,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `prefer eval implicit`
#[derive(Debug, clap::Args)]
pub struct ImplicitArgs {
    /// DPO policy folder.
    #[arg(long)]
    pub policy: PathBuf,
    /// Its reference folder.
    #[arg(long)]
    pub reference: PathBuf,
    /// DPO β.
    #[arg(long, default_value_t = 0.1)]
    pub beta: f64,
    /// Explicit reward model: a `prefer train reward` folder (embedding or LM).
    #[arg(long)]
    pub rm: PathBuf,
    /// Sentence encoder for an embedding RM.
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// In-distribution pair file (first), then out-of-distribution ones.
    #[arg(long = "data", required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Write the table as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `prefer eval agreement`
#[derive(Debug, clap::Args)]
pub struct AgreementArgs {
    /// A file with one record per item.
    #[arg(long)]
    pub data: PathBuf,
    /// Fields holding judges' verdicts (a/b/tie, model_a/model_b, or PandaLM's 1/2/0).
    #[arg(long, value_delimiter = ',')]
    pub judges: Vec<String>,
    /// Reward models to add as judges (their verdict: chosen if logit > 0), on pair files.
    #[arg(long = "model")]
    pub models: Vec<PathBuf>,
    /// Sentence encoder for embedding models.
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Write the result as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the consistency heatmap here (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `prefer eval embed`
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    /// Pair files.
    #[arg(long = "data", required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Sentence encoder.
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// Cache file (omit to only measure).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Texts per forward.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Most padded tokens per forward.
    #[arg(long, default_value_t = 2048)]
    pub max_batch_tokens: usize,
    /// Encoder threads, each running whole batches (pair with CANDLE_NUM_THREADS=1).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Embed at most this many distinct texts (benchmarks).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write the texts embedded (one JSON string per line) here, for a peer benchmark.
    #[arg(long)]
    pub dump_texts: Option<PathBuf>,
}

/// Runs `prefer eval ...`.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Pairs(a) => pairs(&a),
        Command::Ranking(a) => ranking(&a),
        Command::Implicit(a) => implicit(&a),
        Command::Agreement(a) => agreement_cmd(&a),
        Command::Embed(a) => embed(&a),
        Command::Bestofn(a) => bestofn(&a),
        Command::Rmbench(a) => rmbench(&a),
    }
}

/// Records of type `T` from a JSON array or a JSONL file; errors name the line (or
/// element) and the field.
fn read_records<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let one = |s: &str| {
        serde_path_to_error::deserialize::<_, T>(&mut serde_json::Deserializer::from_str(s))
    };
    if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON array", path.display()))?;
        return values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                one(&v.to_string()).map_err(|e| {
                    anyhow::anyhow!(
                        "{}: element {i}: field `{}`: {}",
                        path.display(),
                        e.path(),
                        e.inner()
                    )
                })
            })
            .collect();
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            one(l).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}: field `{}`: {}",
                    path.display(),
                    i + 1,
                    e.path(),
                    e.inner()
                )
            })
        })
        .collect()
}

fn rmbench(a: &BestofnArgs) -> anyhow::Result<ExitCode> {
    let items: Vec<prefer_eval::rmbench::Item> = read_records(&a.file)?;
    let r = prefer_eval::rmbench::report(&items)?;
    let rows: Vec<Vec<String>> = r
        .domains
        .iter()
        .map(|(d, acc)| {
            vec![
                d.clone(),
                format!("{:.4}", acc.hard),
                format!("{:.4}", acc.normal),
                format!("{:.4}", acc.easy),
                format!("{:.4}", r.domain_means[d]),
                acc.items.to_string(),
            ]
        })
        .chain(std::iter::once(vec![
            "overall".into(),
            format!("{:.4}", r.hard),
            format!("{:.4}", r.normal),
            format!("{:.4}", r.easy),
            format!("{:.4}", r.total),
            items.len().to_string(),
        ]))
        .collect();
    crate::ui::print_table(
        &["domain", "hard", "normal", "easy", "mean", "items"],
        &rows,
    );
    if let Some(j) = &a.json {
        prefer_data::write_atomic(j, serde_json::to_string_pretty(&r)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn bestofn(a: &BestofnArgs) -> anyhow::Result<ExitCode> {
    let instances: Vec<prefer_eval::bestofn::Instance> = read_records(&a.file)?;
    let r = prefer_eval::bestofn::rewardbench2(&instances)?;
    let rows: Vec<Vec<String>> = r
        .subsets
        .iter()
        .map(|(k, v)| vec![k.clone(), format!("{:.4}", v)])
        .chain(std::iter::once(vec![
            "overall (mean)".into(),
            format!("{:.4}", r.overall),
        ]))
        .collect();
    crate::ui::print_table(&["subset", "score"], &rows);
    if let Some(t) = &r.ties {
        println!(
            "Ties: ref accuracy {:.3}, tied accuracy {:.3}, correctness preferred {:.3} (hard {:.3}), margin term {:.3}",
            t.ref_accuracy,
            t.tied_accuracy,
            t.correctness_preferred,
            t.correctness_preferred_hard,
            t.correctness_margin_score
        );
    }
    if let Some(j) = &a.json {
        prefer_data::write_atomic(j, serde_json::to_string_pretty(&r)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn load_encoder(dir: Option<&Path>) -> anyhow::Result<SentenceEncoder> {
    let d = dir.map_or_else(default_minilm_dir, Path::to_path_buf);
    SentenceEncoder::load(&d)
        .with_context(|| format!("loading the sentence encoder {}", d.display()))
}

/// Scores text pairs with a model folder: an embedding model (`reward.json`) or an LM
/// reward model (`config.json` with `score.weight`).
fn score_with(
    model: &Path,
    encoder: Option<&Path>,
    cache: Option<&Path>,
    texts: &[TextPair],
    unknown: UnknownUserArg,
) -> anyhow::Result<Vec<f64>> {
    if model.join("reward.json").exists() {
        let (mut rm, card) = RewardModel::load(model)?;
        rm.set_unknown_user(unknown.into());
        let enc = load_encoder(encoder)?;
        if let Some(stamp) = &card.encoder
            && stamp.fingerprint != enc.fingerprint()
        {
            bail!(
                "{}: the model was trained on embeddings of encoder `{}` ({}), but the encoder given is `{}` ({}); pass --encoder with the training encoder",
                model.display(),
                stamp.name,
                stamp.fingerprint,
                enc.name(),
                enc.fingerprint()
            );
        }
        let cache_path =
            cache.map_or_else(|| model.join("embeddings.safetensors"), Path::to_path_buf);
        let mut c = EmbeddingCache::open(&cache_path, &enc)?;
        let data = embed_pairs(&enc, Some(&mut c), texts, &EmbedOptions::default())?;
        c.save()?;
        Ok(rm.pair_logits(&data)?.into_iter().map(f64::from).collect())
    } else {
        let rm = LmRewardModel::load(model, &LoadOptions::frozen())?;
        let tok = Tokenizer::from_dir(model)?;
        let ids: Vec<PairIds> = texts
            .iter()
            .map(|p| {
                Ok(PairIds {
                    prompt: tok.encode(&p.prompt, true)?,
                    chosen: tok.encode(&format!(" {}", p.chosen.trim_start()), false)?,
                    rejected: tok.encode(&format!(" {}", p.rejected.trim_start()), false)?,
                })
            })
            .collect::<prefer_nn::Result<_>>()?;
        let cfg = BatchConfig {
            bos_id: tok.bos_id(),
            eos_id: tok.eos_id(),
            pad_id: tok.pad_id().unwrap_or(0),
            max_length: Some(256),
            ..Default::default()
        };
        Ok(rm
            .pair_logits(&ids, &cfg, 16)?
            .into_iter()
            .map(f64::from)
            .collect())
    }
}

fn pairs(a: &PairsArgs) -> anyhow::Result<ExitCode> {
    let texts = super::reward::read_valid(&a.data)?;
    let (name, scored): (String, Vec<ScoredPair>) = match &a.model {
        Some(m) => {
            let z = score_with(
                m,
                a.encoder.as_deref(),
                a.cache.as_deref(),
                &texts,
                a.unknown_user,
            )?;
            (
                format!("{} on {}", m.display(), a.data.display()),
                texts.iter().zip(z).map(|(t, l)| with_meta(t, l)).collect(),
            )
        }
        None => (
            format!("scores in {}", a.data.display()),
            scored_from_texts(&texts)?,
        ),
    };
    let mut cfg = EvalConfig::default();
    if let Some(s) = &a.sections {
        let text =
            std::fs::read_to_string(s).with_context(|| format!("reading {}", s.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", s.display()))?;
        cfg.sections = Some(Sections::from_json(&v)?);
    }
    let report = evaluate(&name, &scored, &cfg)?;
    print!("{}", report.table());
    if let Some(j) = &a.json {
        report.write_json(j)?;
        println!("  wrote {}", j.display());
    }
    if let Some(d) = &a.plots {
        for p in report.plots(d, &a.plot_format)? {
            println!("  wrote {}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn model_logps(
    dir: &Path,
    ids: &[PairIds],
    cfg: &BatchConfig,
) -> anyhow::Result<Vec<(f64, f64, usize, usize)>> {
    let m = CausalLm::load(dir, &LoadOptions::frozen())
        .with_context(|| format!("loading {}", dir.display()))?;
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(16) {
        let b = PairBatch::new(chunk, cfg, m.device())?;
        let lp = pair_logps(&m, &b)?;
        let f = |t: &candle_core::Tensor| -> anyhow::Result<Vec<f64>> {
            Ok(t.to_dtype(candle_core::DType::F64)?.to_vec1::<f64>()?)
        };
        let (c, r, lc, lr) = (
            f(&lp.chosen)?,
            f(&lp.rejected)?,
            f(&lp.chosen_len)?,
            f(&lp.rejected_len)?,
        );
        for i in 0..c.len() {
            out.push((c[i], r[i], lc[i] as usize, lr[i] as usize));
        }
    }
    Ok(out)
}

fn logps_from_models(
    policy: &Path,
    reference: &Path,
    data: &Path,
) -> anyhow::Result<Vec<PairLogps>> {
    let texts = read_pairs(data, &OpenOptions::default())?;
    let tok = Tokenizer::from_dir(policy)?;
    let ids: Vec<PairIds> = texts
        .iter()
        .map(|p| {
            Ok(PairIds {
                prompt: tok.encode(&p.prompt, true)?,
                chosen: tok.encode(&p.chosen, false)?,
                rejected: tok.encode(&p.rejected, false)?,
            })
        })
        .collect::<prefer_nn::Result<_>>()?;
    let cfg = BatchConfig {
        bos_id: tok.bos_id(),
        eos_id: tok.eos_id(),
        pad_id: tok.pad_id().unwrap_or(0),
        ..Default::default()
    };
    let pol = model_logps(policy, &ids, &cfg)?;
    let rf = model_logps(reference, &ids, &cfg)?;
    Ok(pol
        .iter()
        .zip(&rf)
        .zip(&texts)
        .map(|((p, r), t)| PairLogps {
            policy_chosen: p.0,
            policy_rejected: p.1,
            ref_chosen: r.0,
            ref_rejected: r.1,
            chosen_len: p.2,
            rejected_len: p.3,
            strength: t.strength,
        })
        .collect())
}

fn ranking(a: &RankingArgs) -> anyhow::Result<ExitCode> {
    let lps: Vec<PairLogps> = match (&a.logps, &a.policy, &a.reference, &a.data) {
        (Some(f), _, _, _) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let mut v = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                v.push(serde_json::from_str(line).with_context(|| {
                    format!("{}:{}: expected policy_chosen, policy_rejected, ref_chosen, ref_rejected, chosen_len, rejected_len", f.display(), i + 1)
                })?);
            }
            if v.is_empty() {
                bail!("{}: no pairs to evaluate (the file is empty)", f.display());
            }
            v
        }
        (None, Some(p), Some(r), Some(d)) => logps_from_models(p, r, d)?,
        _ => bail!("give --logps FILE, or --policy DIR --reference DIR --data FILE"),
    };
    let cfg = RankingConfig {
        betas: a.betas.clone(),
        default_strength: a.default_strength,
        ..Default::default()
    };
    let r = ranking_report(&lps, &cfg)?;
    println!("  pairs with a true ranking            {}", r.n);
    println!(
        "  ranking accuracy, policy             {:.1}% (length-normalized {:.1}%)",
        100.0 * r.policy.raw,
        100.0 * r.policy.normalized
    );
    println!(
        "  ranking accuracy, reference          {:.1}% (length-normalized {:.1}%)",
        100.0 * r.reference.raw,
        100.0 * r.reference.normalized
    );
    for i in &r.idealized {
        println!(
            "  idealized, beta = {:<6}             {:.1}% (length-normalized {:.1}%)",
            i.beta,
            100.0 * i.accuracy.raw,
            100.0 * i.accuracy.normalized
        );
    }
    println!(
        "  alignment gap (median idealized - policy) {:+.1} points (normalized {:+.1})",
        100.0 * r.alignment_gap.raw,
        100.0 * r.alignment_gap.normalized
    );
    if let Some(j) = &a.json {
        prefer_data::write_atomic(j, serde_json::to_string_pretty(&r)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn implicit(a: &ImplicitArgs) -> anyhow::Result<ExitCode> {
    let mut sets = Vec::new();
    for d in &a.data {
        let lps = logps_from_models(&a.policy, &a.reference, d)?;
        let texts = read_pairs(d, &OpenOptions::default())?;
        let explicit = score_with(
            &a.rm,
            a.encoder.as_deref(),
            None,
            &texts,
            UnknownUserArg::Error,
        )?;
        sets.push(SetLogits {
            name: d.display().to_string(),
            implicit: implicit_logits(&lps, a.beta)?,
            explicit,
        });
    }
    let rows = generalization(&sets)?;
    println!(
        "  {:<50} {:>6} {:>10} {:>10}",
        "set (first = in distribution)", "pairs", "implicit", "explicit"
    );
    for r in &rows {
        println!(
            "  {:<50} {:>6} {:>9.1}% {:>9.1}%",
            r.name,
            r.n,
            100.0 * r.implicit,
            100.0 * r.explicit
        );
    }
    if let Some(j) = &a.json {
        prefer_data::write_atomic(j, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn agreement_cmd(a: &AgreementArgs) -> anyhow::Result<ExitCode> {
    let mut names = a.judges.clone();
    let mut labels = if a.judges.is_empty() {
        Vec::new()
    } else {
        read_verdicts(&a.data, &a.judges)?
    };
    if !a.models.is_empty() {
        let texts = read_pairs(&a.data, &OpenOptions::default())?;
        for m in &a.models {
            let z = score_with(m, a.encoder.as_deref(), None, &texts, UnknownUserArg::Error)?;
            names.push(m.display().to_string());
            labels.push(
                z.iter()
                    .map(|&l| {
                        Some(if l > 0.0 {
                            prefer_eval::Verdict::A
                        } else if l < 0.0 {
                            prefer_eval::Verdict::B
                        } else {
                            prefer_eval::Verdict::Tie
                        })
                    })
                    .collect(),
            );
        }
    }
    let ag = agreement(&names, &labels)?;
    println!("  items {}, judges {}", ag.items, names.len());
    println!(
        "  mean consistency rate {:.1}%, Fleiss' kappa {:.3}, unanimity {:.1}%",
        100.0 * ag.mean_consistency,
        ag.fleiss_kappa,
        100.0 * ag.unanimity
    );
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            println!(
                "  {} vs {}: consistency {:.1}%, Cohen's kappa {:.3}",
                names[i],
                names[j],
                100.0 * ag.consistency[i][j],
                ag.cohen_kappa[i][j]
            );
        }
    }
    if let Some(j) = &a.json {
        prefer_data::write_atomic(j, serde_json::to_string_pretty(&ag)?.as_bytes())?;
    }
    if let Some(p) = &a.plot {
        prefer_plot::heatmap(p, "judge consistency rate", &names, &ag.consistency)?;
        println!("  wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn embed(a: &EmbedArgs) -> anyhow::Result<ExitCode> {
    let enc = load_encoder(a.encoder.as_deref())?;
    let mut texts: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in &a.data {
        for p in super::reward::read_valid(d)? {
            for t in [p.prompt, p.chosen, p.rejected] {
                if !t.trim().is_empty() && seen.insert(t.clone()) {
                    texts.push(t);
                }
            }
        }
    }
    if let Some(l) = a.limit {
        texts.truncate(l);
    }
    if let Some(f) = &a.dump_texts {
        let body: String = texts
            .iter()
            .map(|t| serde_json::to_string(t).unwrap_or_default() + "\n")
            .collect();
        prefer_data::write_atomic(f, body.as_bytes())?;
    }
    let tokens: usize = texts
        .iter()
        .map(|t| enc.tokenize(t).map(|v| v.len()).unwrap_or(0))
        .sum();
    let t0 = Instant::now();
    let opts = EncodeOptions {
        batch_size: a.batch_size,
        max_batch_tokens: a.max_batch_tokens,
        threads: a.threads,
    };
    match &a.cache {
        Some(c) => {
            let mut cache = EmbeddingCache::open(c, &enc)?;
            cache.embed(&enc, &texts, &opts)?;
            cache.save()?;
        }
        None => {
            enc.encode(&texts, &opts)?;
        }
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "  {} texts ({} tokens after truncation to {}), {:.2} s: {:.1} sentences/s, {:.0} tokens/s [{}]",
        texts.len(),
        tokens,
        enc.max_seq_length(),
        s,
        texts.len() as f64 / s,
        tokens as f64 / s,
        enc.name()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(data: PathBuf, json: Option<PathBuf>) -> PairsArgs {
        PairsArgs {
            data,
            model: None,
            encoder: None,
            cache: None,
            sections: None,
            json,
            plots: None,
            plot_format: "svg".into(),
            unknown_user: UnknownUserArg::Error,
        }
    }

    #[test]
    fn scores_a_file_in_rewardbench_layout() -> anyhow::Result<()> {
        // RewardBench's filtered layout (prompt, chosen, rejected, subset, id) with a
        // model's scores in `score_chosen` / `score_rejected`.
        let dir = tempfile::tempdir()?;
        let f = dir.path().join("rb.jsonl");
        let mut lines = String::new();
        for (i, (subset, sc, sr)) in [
            ("alpacaeval-easy", 2.0, 1.0),
            ("alpacaeval-easy", 0.0, 1.0),
            ("hep-go", 3.0, -1.0),
            ("math-prm", 1.0, 1.0),
            ("refusals-dangerous", 0.5, 0.1),
        ]
        .iter()
        .enumerate()
        {
            lines += &serde_json::json!({"id": i, "prompt": "p", "chosen": format!("good {i}"), "rejected": format!("bad {i}"),
                "subset": subset, "score_chosen": sc, "score_rejected": sr}).to_string();
            lines.push('\n');
        }
        std::fs::write(&f, lines)?;
        let out = dir.path().join("report.json");
        pairs(&args(f.clone(), Some(out.clone())))?;
        // Empty groups (NaN) are written as null: read the JSON as values.
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
        let s = r["sections"]["score"].as_f64().unwrap_or(f64::NAN);
        // Chat 50 (alpacaeval-easy 1/2), Chat Hard 0 (absent), Safety 100,
        // Reasoning (math-prm tie = wrong, weight 984; hep-go right, weight 164).
        let reasoning = 100.0 * 164.0 / (984.0 + 164.0);
        assert!(
            (s - (50.0 + 0.0 + 100.0 + reasoning) / 4.0).abs() < 1e-9,
            "{s}"
        );
        // An empty file is an error naming it, not a panic.
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "")?;
        let e = pairs(&args(empty, None))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("empty.jsonl") && e.contains("no pairs"), "{e}");
        Ok(())
    }
}
