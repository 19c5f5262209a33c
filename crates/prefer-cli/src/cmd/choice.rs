//! `prefer choice`: models of how people (and models) choose: simulate choices from a
//! theory, fit theories with standard errors, compare them on held-out choices, and fit
//! Thurstonian utilities to pairwise votes with their coherence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use prefer_choice::active::{self, ActiveConfig};
use prefer_choice::ask::{AskConfig, ask, pair_answer};
use prefer_choice::coherence::transitivity;
use prefer_choice::control::{ControlPair, order_agreement, target_pairs};
use prefer_choice::dilemmas;
use prefer_choice::dynamics::{self, AiInfluence, DynamicsConfig, Network, Rule};
use prefer_choice::explain::{ExplainConfig, TEXT_PROPERTIES, fit_effects, text_difference};
use prefer_choice::fit::{self, FitConfig};
use prefer_choice::introspect;
use prefer_choice::models::Model;
use prefer_choice::problem::{self, Problem};
use prefer_choice::simulate;
use prefer_choice::study::{RecoveryConfig, recovery};
use prefer_choice::thurstonian::{self, ThurstonianConfig};
use prefer_data::{RecordError, RejectWriter, write_atomic};
use prefer_eval::chooser::LmChooser;
use prefer_plot::{LineChart, Series, Whisker, interval_chart, line_chart, radar_chart};
use prefer_rank::load::{OnBad, load};
use prefer_rank::votes::PairCounts;

use crate::ui::{InputArgs, print_table, sibling};

/// `prefer choice ...`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Draw choices from a theory with known parameters (the data of a recovery check).
    #[command(after_help = "Examples:\n  \
        prefer choice simulate --model prospect -o pt.jsonl\n  \
        prefer choice simulate --model hyperbolic --params k=0.05,phi=0.2 --problems 500 -o dd.jsonl")]
    Simulate(SimulateArgs),
    /// Fit one theory by maximum likelihood: estimates, standard errors, intervals,
    /// log-likelihood, AIC and BIC (per group with --by-group).
    #[command(after_help = "Examples:\n  \
        prefer choice fit pt.jsonl --model prospect\n  \
        prefer choice fit choices.jsonl --model crra --by-group --json fit.json --plot fit.png")]
    Fit(FitArgs),
    /// Fit several theories on a training split and compare them on held-out choices.
    #[command(after_help = "Examples:\n  \
        prefer choice compare pt.jsonl\n  \
        prefer choice compare dd.jsonl --models exponential,hyperbolic --test-fraction 0.3")]
    Compare(CompareArgs),
    /// Thurstonian utilities (mean and variance per item) from pairwise votes, with
    /// their coherence: held-out accuracy, cyclic triads.
    #[command(after_help = "Examples:\n  \
        prefer choice utilities battles.jsonl\n  \
        prefer choice utilities ../shared/data/pandalm/votes_pandalm.csv --json u.json --plot u.png")]
    Utilities(UtilitiesArgs),
    /// Parameter recovery: fit many data sets simulated from known parameters and report
    /// bias, standard errors, interval coverage and z-scores (docs/choice.md).
    #[command(after_help = "Examples:\n  \
        prefer choice recovery\n  \
        prefer choice recovery --models prospect --reps 100 --problems 500")]
    Recovery(RecoveryArgs),
    /// Put the same questions to a language model (a Hugging Face folder): its
    /// probability of each option, asked in both orders, as soft counts with `group` set
    /// to the model's name, ready for `fit --by-group` against people's choices.
    #[command(after_help = "Examples:\n  \
        prefer choice ask human.jsonl --model-dir ../shared/models/stories260K -o both.jsonl --with-input\n  \
        prefer choice fit both.jsonl --model prospect --by-group")]
    Ask(AskArgs),
    /// Bounded-confidence value dynamics (Deffuant or Hegselmann-Krause) with an AI's
    /// influence: clusters, diversity and distance to the AI over time.
    #[command(after_help = "Examples:\n  \
        prefer choice dynamics --epsilon 0.1 --steps 300\n  \
        prefer choice dynamics --dims 10 --ai-value 0.9 --ai-weight 0.05 --plot dyn.svg")]
    Dynamics(DynamicsArgs),
    /// Which properties of an answer drive the preferences of each group of annotators
    /// (length, refusal, apology, lists, code, questions back, courtesy, exclamation):
    /// Bayesian logistic effects with credible intervals, side by side.
    #[command(after_help = "Examples:\n  \
        prefer choice explain --data human=../shared/data/hh-rlhf/harmless-base-test.jsonl.gz \\\n    \
        --data gpt4=../shared/data/ultrafeedback/train_clean.jsonl --plot effects.svg")]
    Explain(ExplainArgs),
    /// Value preferences revealed by dilemmas (DailyDilemmas): per value, and per
    /// dimension of a value framework, for the file's choices and for models asked the
    /// same dilemmas; a table and a radar chart.
    #[command(after_help = "Examples:\n  \
        prefer choice dilemmas dilemmas.jsonl --framework moral_foundations.json --plot values.png\n  \
        prefer choice dilemmas dilemmas.jsonl --model-dir ../shared/models/stories260K --json v.json")]
    Dilemmas(DilemmasArgs),
    /// Elicit a model's utilities over outcomes (paper 70): pairwise forced choices
    /// asked in both orders, pairs chosen by active sampling, Thurstonian means and
    /// variances, and their coherence.
    #[command(after_help = "Examples:\n  \
        prefer choice elicit --items outcomes.txt --model-dir ../shared/models/stories260K --json u.json")]
    Elicit(ElicitArgs),
    /// Utility control (paper 70): a target's utilities over outcomes as TRL preference
    /// pairs on the elicitation questions, for `prefer train dpo`; `elicit --target`
    /// then measures the agreement before and after.
    #[command(after_help = "Examples:\n  \
        prefer choice control --items outcomes.txt --target assembly.json -o pairs.jsonl\n  \
        prefer train dpo --model ../shared/models/stories260K --train pairs.jsonl --out run\n  \
        prefer choice elicit --items outcomes.txt --model-dir run/checkpoint-N --target assembly.json")]
    Control(ControlArgs),
    /// Introspection (paper 32): a model's choices on one split become training data for
    /// hypothetical questions ("which option would you pick?"); on the other split,
    /// each predictor's answers are scored against the behaviour model's choices.
    #[command(after_help = "Examples:\n  \
        prefer choice introspect q.jsonl --behaviour-model M1 --train-out self.jsonl\n  \
        prefer train sft --model M1 --train self.jsonl --out m1   # and M2 -> m2\n  \
        prefer choice introspect q.jsonl --behaviour-model m1/checkpoint-N --predictor m1/checkpoint-N --predictor m2/checkpoint-N")]
    Introspect(IntrospectArgs),
}

/// `prefer choice introspect`
#[derive(Debug, Args)]
pub struct IntrospectArgs {
    /// Choice problems (JSONL; choices in it are ignored).
    pub file: PathBuf,
    /// The model whose behaviour is predicted.
    #[arg(long)]
    pub behaviour_model: PathBuf,
    /// A model predicting it (repeat: itself, others).
    #[arg(long)]
    pub predictor: Vec<PathBuf>,
    /// Share of problems in the training split.
    #[arg(long, default_value_t = 0.5)]
    pub train_fraction: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the training split's hypothetical questions with the behaviour as TRL pairs.
    #[arg(long)]
    pub train_out: Option<PathBuf>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// `prefer choice control`
#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The outcomes, one per line.
    #[arg(long)]
    pub items: PathBuf,
    /// The target utilities: `elicit --json` output, or a JSON object item -> utility.
    #[arg(long)]
    pub target: PathBuf,
    /// Leave out pairs whose target utilities differ by this much or less.
    #[arg(long, default_value_t = 0.0)]
    pub min_gap: f64,
    /// Output JSONL (prompt, chosen, rejected).
    #[arg(short, long)]
    pub out: PathBuf,
}

/// `prefer choice elicit`
#[derive(Debug, Args)]
pub struct ElicitArgs {
    /// The outcomes, one per line.
    #[arg(long)]
    pub items: PathBuf,
    /// The model folder.
    #[arg(long)]
    pub model_dir: PathBuf,
    /// Pairs asked = this · N log2 N.
    #[arg(long, default_value_t = 2.0)]
    pub edge_multiplier: f64,
    /// Pairs per active round.
    #[arg(long, default_value_t = 200)]
    pub edges_per_round: usize,
    /// Soft answers per pair (the model's probability times this).
    #[arg(long, default_value_t = 10.0)]
    pub answers: f64,
    /// Share of the asked pairs held out to score the utilities.
    #[arg(long, default_value_t = 0.2)]
    pub held_out: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write utilities and coherence as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Plot μ ± σ per outcome (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Report agreement with these target utilities (as `control --target`).
    #[arg(long)]
    pub target: Option<PathBuf>,
}

/// `prefer choice dilemmas`
#[derive(Debug, Args)]
pub struct DilemmasArgs {
    /// Dilemmas (JSONL); those with `choice` or `probs` are the file's own group.
    pub file: PathBuf,
    /// Also ask this model (a Hugging Face folder; repeat for several).
    #[arg(long)]
    pub model_dir: Vec<PathBuf>,
    /// A framework: a JSON object from each dimension to its values.
    #[arg(long)]
    pub framework: Option<PathBuf>,
    /// Ask in the given order only.
    #[arg(long)]
    pub one_order: bool,
    /// Go on past bad records, writing them to FILE's stem + `.rejected.jsonl`.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Write the scores as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Radar chart of the preferences per group (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `prefer choice explain`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A group and its preference pairs, as NAME=FILE (repeat for each group): the
    /// file's chosen/rejected labels are the group's choices.
    #[arg(long, required_unless_present = "scored")]
    pub data: Vec<String>,
    /// A scorer (reward model, judge) as NAME=FILE: the file's `score_chosen` and
    /// `score_rejected` decide which answer it prefers (ties left out), so its factor
    /// weights sit beside the labellers' on the same pairs (PROFILE, paper 65).
    #[arg(long)]
    pub scored: Vec<String>,
    /// Prior standard deviation of each effect.
    #[arg(long, default_value_t = 1.0)]
    pub prior_sd: f64,
    /// Write the effects as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Plot the effects with their intervals (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `prefer choice dynamics`
#[derive(Debug, Args)]
pub struct DynamicsArgs {
    /// Agents.
    #[arg(long, default_value_t = 200)]
    pub agents: usize,
    /// Value dimensions.
    #[arg(long, default_value_t = 1)]
    pub dims: usize,
    /// Confidence bound ε.
    #[arg(long, default_value_t = 0.2)]
    pub epsilon: f64,
    /// Convergence rate μ (Deffuant).
    #[arg(long, default_value_t = 0.5)]
    pub mu: f64,
    /// Hegselmann-Krause averaging instead of Deffuant meetings.
    #[arg(long)]
    pub hk: bool,
    /// A ring network with this many neighbours per side (default: complete).
    #[arg(long)]
    pub ring_k: Option<usize>,
    /// Sweeps.
    #[arg(long, default_value_t = 100)]
    pub steps: usize,
    /// The AI's value (one number for every dimension, or one per dimension).
    #[arg(long, value_delimiter = ',')]
    pub ai_value: Vec<f64>,
    /// How much the AI is heard.
    #[arg(long, default_value_t = 0.05)]
    pub ai_weight: f64,
    /// The AI's reach (default ε).
    #[arg(long)]
    pub ai_reach: Option<f64>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the snapshots as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Plot diversity and distance to the AI over time (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `prefer choice ask`
#[derive(Debug, Args)]
pub struct AskArgs {
    /// Choice problems (JSONL).
    pub file: PathBuf,
    /// The model folder (config.json, *.safetensors, tokenizer.json).
    #[arg(long)]
    pub model_dir: PathBuf,
    /// The group name of its answers (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Soft counts per problem (its probabilities times this).
    #[arg(long, default_value_t = 10.0)]
    pub per_problem: f64,
    /// Ask in the given order only (default: both orders, averaged).
    #[arg(long)]
    pub one_order: bool,
    /// Also write the input problems (group `human` where they have none) before the
    /// model's answers.
    #[arg(long)]
    pub with_input: bool,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Output JSONL.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// `prefer choice recovery`
#[derive(Debug, Args)]
pub struct RecoveryArgs {
    /// Theories (default: all five), each at its start values and default φ.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Simulated data sets per theory.
    #[arg(long, default_value_t = 30)]
    pub reps: usize,
    /// Problems per data set.
    #[arg(long, default_value_t = 300)]
    pub problems: usize,
    /// Choices per problem.
    #[arg(long, default_value_t = 5)]
    pub per_problem: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the rows as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// How bad records are handled.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Go on past bad records, writing them with reasons to FILE's stem +
    /// `.rejected.jsonl`.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Only the problems of this group (`group` field).
    #[arg(long)]
    pub group: Option<String>,
}

/// `prefer choice simulate`
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Theory: ev, crra, prospect, exponential, hyperbolic.
    #[arg(long)]
    pub model: String,
    /// Parameters as name=value (default: the theory's start values, phi per theory).
    #[arg(long, value_delimiter = ',')]
    pub params: Vec<String>,
    /// Number of problems.
    #[arg(long, default_value_t = 300)]
    pub problems: usize,
    /// Choices drawn per problem.
    #[arg(long, default_value_t = 5)]
    pub per_problem: usize,
    /// Seed (the design uses it, the choices seed + 1).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output JSONL.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// `prefer choice fit`
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Choice problems (JSONL).
    pub file: PathBuf,
    /// Theory: ev, crra, prospect, exponential, hyperbolic.
    #[arg(long)]
    pub model: String,
    /// Fit each `group` separately (e.g. humans and a language model).
    #[arg(long)]
    pub by_group: bool,
    /// CRRA background wealth added to each outcome.
    #[arg(long)]
    pub wealth: Option<f64>,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Write the fits as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Plot the estimates with their intervals (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `prefer choice compare`
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Choice problems (JSONL).
    pub file: PathBuf,
    /// Theories (default: ev, crra, prospect without delays; exponential, hyperbolic
    /// with them).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Share of problems held out.
    #[arg(long, default_value_t = 0.3)]
    pub test_fraction: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub read: ReadArgs,
    /// Write the comparison as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `prefer choice utilities`
#[derive(Debug, Args)]
pub struct UtilitiesArgs {
    /// Votes: anything `prefer rank fit` reads.
    pub file: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Share of compared pairs held out to score the utilities.
    #[arg(long, default_value_t = 0.2)]
    pub held_out: f64,
    /// Seed of the held-out split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Prior precision on log σ² (1: log σ² ~ N(0, 1)).
    #[arg(long, default_value_t = 1.0)]
    pub log_variance_precision: f64,
    /// Go on past bad records (reported, not fitted).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Write utilities and coherence as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Plot μ ± σ per item (PNG or SVG).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Runs `prefer choice ...`.
pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Simulate(a) => run_simulate(&a),
        Command::Fit(a) => run_fit(&a),
        Command::Compare(a) => run_compare(&a),
        Command::Utilities(a) => run_utilities(&a),
        Command::Recovery(a) => run_recovery(&a),
        Command::Ask(a) => run_ask(&a),
        Command::Dynamics(a) => run_dynamics(&a),
        Command::Explain(a) => run_explain(&a),
        Command::Dilemmas(a) => run_dilemmas(&a),
        Command::Elicit(a) => run_elicit(&a),
        Command::Control(a) => run_control(&a),
        Command::Introspect(a) => run_introspect(&a),
    }
}

fn model_arg(name: &str, wealth: Option<f64>) -> anyhow::Result<Model> {
    let mut m = Model::by_name(name)?;
    if let Some(w) = wealth {
        match &mut m {
            Model::Crra(c) => c.wealth = w,
            _ => bail!("--wealth applies to crra only"),
        }
    }
    Ok(m)
}

fn run_simulate(a: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let model = model_arg(&a.model, None)?;
    let v = model.valuation();
    let mut theta = v.start();
    theta.push(simulate::default_phi(&model));
    let names: Vec<&str> = v.params().iter().copied().chain(["phi"]).collect();
    for kv in &a.params {
        let (k, val) = kv
            .split_once('=')
            .with_context(|| format!("--params: `{kv}` is not name=value"))?;
        let i = names.iter().position(|n| *n == k.trim()).with_context(|| {
            format!(
                "--params: {} has no parameter `{k}` (it has {})",
                v.name(),
                names.join(", ")
            )
        })?;
        theta[i] = val
            .trim()
            .parse()
            .with_context(|| format!("--params: `{val}` is not a number"))?;
    }
    let (t, phi) = theta.split_at(theta.len() - 1);
    if !v.valid(t) || phi[0].is_nan() || phi[0] <= 0.0 {
        bail!(
            "--params: {} is outside the domain of {}",
            fmt_params(&names, &theta),
            v.name()
        );
    }
    let design = simulate::design_for(&model, a.problems, a.seed);
    let data = simulate::simulate(v, &theta, &design, a.per_problem, a.seed + 1);
    problem::write_jsonl(&a.out, &data)?;
    eprintln!(
        "wrote {} problems x {} choices from {} at {} to {}",
        data.len(),
        a.per_problem,
        v.name(),
        fmt_params(&names, &theta),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn fmt_params(names: &[&str], theta: &[f64]) -> String {
    names
        .iter()
        .zip(theta)
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads problems; bad records stop the command unless --skip-invalid, which writes
/// them to a side file.
fn read_problems(path: &Path, r: &ReadArgs) -> anyhow::Result<Vec<Problem>> {
    let read = problem::read_jsonl(path)?;
    handle_rejects(path, &read.rejected, r.skip_invalid)?;
    let mut ps = read.problems;
    if let Some(g) = &r.group {
        ps.retain(|p| p.group.as_deref() == Some(g.as_str()));
    }
    if ps.is_empty() {
        bail!("{}: no choice problems to fit", path.display());
    }
    Ok(ps)
}

/// Bad records stop the command unless `skip`, which writes them with their reasons
/// to `path`'s stem + `.rejected.jsonl`.
fn handle_rejects(path: &Path, bad: &[RecordError], skip: bool) -> anyhow::Result<()> {
    let Some(first) = bad.first() else {
        return Ok(());
    };
    if !skip {
        bail!(
            "{first}\n({} bad records; pass --skip-invalid to write them to a side file and go on)",
            bad.len()
        );
    }
    let side = sibling(path, "rejected");
    let mut w = RejectWriter::create(&side)?;
    for e in bad {
        w.reject(e)?;
    }
    w.finish()?;
    eprintln!("rejected {} records (see {})", bad.len(), side.display());
    Ok(())
}

/// A model folder as a chooser, named `name` or after the folder.
fn load_chooser(dir: &Path, name: Option<&str>) -> anyhow::Result<(LmChooser, String)> {
    let name = name.map_or_else(
        || {
            dir.file_name()
                .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned())
        },
        str::to_string,
    );
    let lm = LmChooser::load(dir, &name).with_context(|| format!("loading {}", dir.display()))?;
    Ok((lm, name))
}

fn groups(ps: Vec<Problem>, by_group: bool) -> BTreeMap<String, Vec<Problem>> {
    let mut out: BTreeMap<String, Vec<Problem>> = BTreeMap::new();
    for p in ps {
        let key = if by_group {
            p.group.clone().unwrap_or_else(|| "(none)".into())
        } else {
            "all".into()
        };
        out.entry(key).or_default().push(p);
    }
    out
}

fn run_fit(a: &FitArgs) -> anyhow::Result<ExitCode> {
    let model = model_arg(&a.model, a.wealth)?;
    let cfg = FitConfig {
        level: a.level,
        ..Default::default()
    };
    let ps = read_problems(&a.file, &a.read)?;
    let mut fits = BTreeMap::new();
    let mut rows = Vec::new();
    let mut whiskers = Vec::new();
    let mut failed = 0;
    for (g, ps) in groups(ps, a.by_group) {
        let f = match fit::fit(&model, &ps, &cfg) {
            Ok(f) => f,
            // One group that cannot be fitted (an indifferent chooser has φ → 0) does
            // not hide the others; the exit code says something failed.
            Err(e) if a.by_group => {
                eprintln!("{g}: not fitted: {e}");
                failed += 1;
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("fitting {}", a.file.display())),
        };
        for e in &f.estimates {
            rows.push(vec![
                g.clone(),
                e.name.clone(),
                format!("{:.4}", e.value),
                format!("{:.4}", e.std_error),
                format!("[{:.4}, {:.4}]", e.lower, e.upper),
            ]);
            whiskers.push(Whisker {
                label: format!("{g} {}", e.name),
                value: e.value,
                lower: e.lower,
                upper: e.upper,
            });
        }
        println!(
            "{g}: {} with {} choices: log L {:.2}, AIC {:.2}, BIC {:.2}",
            f.model, f.n_choices, f.log_likelihood, f.aic, f.bic
        );
        fits.insert(g, f);
    }
    let ci = format!("{:.0}% interval", a.level * 100.0);
    print_table(&["group", "parameter", "estimate", "std error", &ci], &rows);
    if let Some(j) = &a.json {
        write_atomic(j, serde_json::to_string_pretty(&fits)?.as_bytes())?;
    }
    if let Some(p) = &a.plot {
        interval_chart(
            p,
            &format!("{} estimates", model.valuation().name()),
            "value",
            &whiskers,
        )?;
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_compare(a: &CompareArgs) -> anyhow::Result<ExitCode> {
    let ps = read_problems(&a.file, &a.read)?;
    let delayed = ps.iter().any(|p| p.options.iter().any(|o| o.delay != 0.0));
    let names: Vec<String> = if !a.models.is_empty() {
        a.models.clone()
    } else if delayed {
        vec!["exponential".into(), "hyperbolic".into()]
    } else {
        let gains_only = ps.iter().all(|p| {
            p.options
                .iter()
                .all(|o| o.outcomes.iter().all(|x| *x >= 0.0))
        });
        let mut v = vec!["ev".to_string(), "prospect".into()];
        if gains_only {
            v.insert(1, "crra".into());
        }
        v
    };
    let models = names
        .iter()
        .map(|n| model_arg(n, None))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !(a.test_fraction > 0.0 && a.test_fraction < 1.0) {
        bail!("--test-fraction must be in (0, 1), got {}", a.test_fraction);
    }
    let (train, test) = fit::split(&ps, a.test_fraction, a.seed);
    let rows = fit::compare(&models, &train, &test, &FitConfig::default())?;
    let best = rows
        .iter()
        .map(|r| r.test_log_likelihood)
        .fold(f64::NEG_INFINITY, f64::max);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.fit.model.clone(),
                r.fit.n_params.to_string(),
                format!("{:.2}", r.fit.log_likelihood),
                format!("{:.2}", r.fit.aic),
                format!("{:.2}", r.fit.bic),
                format!("{:.4}", r.test_log_likelihood_per_choice),
                format!("{:.3}", r.test_accuracy),
                if r.test_log_likelihood == best {
                    "*".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    println!(
        "{} training and {} held-out problems",
        train.len(),
        test.len()
    );
    print_table(
        &[
            "model",
            "k",
            "train log L",
            "AIC",
            "BIC",
            "held-out log L/choice",
            "held-out acc",
            "best",
        ],
        &table,
    );
    if let Some(j) = &a.json {
        write_atomic(j, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Splits the compared pairs into (train, held-out), keeping every item in train.
fn split_pairs(counts: &PairCounts, frac: f64, seed: u64) -> (PairCounts, PairCounts) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut cells = counts.cells.clone();
    cells.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let want = ((cells.len() as f64) * frac).round() as usize;
    let mut seen = counts.votes_per_item();
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for c in cells {
        let (i, j) = (c.i as usize, c.j as usize);
        let t = c.total();
        // Hold a pair out only if both items keep other comparisons.
        if test.len() < want && seen[i] > t && seen[j] > t {
            seen[i] -= t;
            seen[j] -= t;
            test.push(c);
        } else {
            train.push(c);
        }
    }
    (
        PairCounts {
            n: counts.n,
            cells: train,
        },
        PairCounts {
            n: counts.n,
            cells: test,
        },
    )
}

fn run_utilities(a: &UtilitiesArgs) -> anyhow::Result<ExitCode> {
    let on_bad = if a.skip_invalid {
        OnBad::Skip
    } else {
        OnBad::Stop
    };
    let loaded = load(&a.file, &a.input.options()?, on_bad, &[])
        .with_context(|| format!("reading votes from {}", a.file.display()))?;
    if loaded.skipped > 0 {
        eprintln!("skipped {} bad records", loaded.skipped);
    }
    let names = loaded.data.items().to_vec();
    let counts = loaded.data.pairs.pair_counts();
    let cfg = ThurstonianConfig {
        log_variance_precision: a.log_variance_precision,
        ..Default::default()
    };
    report_utilities(
        &names,
        &counts,
        &cfg,
        a.held_out,
        a.seed,
        a.json.as_deref(),
        a.plot.as_deref(),
    )
}

/// Prints the utilities with their coherence (in-sample and held-out fit, cyclic
/// triads) and writes the JSON and the plot: what `utilities` and `elicit` report.
fn report_utilities(
    names: &[String],
    counts: &PairCounts,
    cfg: &ThurstonianConfig,
    held_out: f64,
    seed: u64,
    json: Option<&Path>,
    plot: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let u = thurstonian::fit(counts, cfg)?;
    let tr = transitivity(counts);
    let (train, test) = split_pairs(counts, held_out, seed);
    let held = if test.cells.is_empty() {
        None
    } else {
        Some(thurstonian::evaluate(
            &thurstonian::fit(&train, cfg)?,
            &test,
        ))
    };
    let in_sample = thurstonian::evaluate(&u, counts);
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&x, &y| u.mean[y].total_cmp(&u.mean[x]));
    let rows: Vec<Vec<String>> = order
        .iter()
        .map(|&i| {
            vec![
                names[i].clone(),
                format!("{:.3}", u.mean[i]),
                format!("{:.3}", u.variance[i]),
            ]
        })
        .collect();
    print_table(&["item", "mean", "variance"], &rows);
    println!(
        "in-sample accuracy {:.3}, log loss {:.4} over {} pairs",
        in_sample.accuracy, in_sample.log_loss, in_sample.pairs
    );
    if let Some(h) = &held {
        println!(
            "held-out accuracy {:.3}, log loss {:.4} over {} pairs (fitted on the other {})",
            h.accuracy,
            h.log_loss,
            h.pairs,
            train.cells.len()
        );
    }
    println!(
        "cyclic triads: {} of {} ({:.4})",
        tr.cyclic, tr.triads, tr.rate
    );
    if let Some(j) = json {
        let items: Vec<serde_json::Value> = (0..names.len())
            .map(|i| serde_json::json!({"item": names[i], "mean": u.mean[i], "variance": u.variance[i]}))
            .collect();
        let v = serde_json::json!({
            "utilities": items,
            "in_sample": in_sample,
            "held_out": held,
            "transitivity": tr,
        });
        write_atomic(j, serde_json::to_string_pretty(&v)?.as_bytes())?;
    }
    if let Some(p) = plot {
        let w: Vec<Whisker> = order
            .iter()
            .map(|&i| Whisker {
                label: names[i].clone(),
                value: u.mean[i],
                lower: u.mean[i] - u.variance[i].sqrt(),
                upper: u.mean[i] + u.variance[i].sqrt(),
            })
            .collect();
        interval_chart(p, "Thurstonian utilities (mean ± sd)", "utility", &w)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_recovery(a: &RecoveryArgs) -> anyhow::Result<ExitCode> {
    let models = if a.models.is_empty() {
        Model::all()
    } else {
        a.models
            .iter()
            .map(|n| model_arg(n, None))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let cfg = RecoveryConfig {
        reps: a.reps,
        problems: a.problems,
        per_problem: a.per_problem,
        seed: a.seed,
    };
    let mut all = Vec::new();
    for m in &models {
        let mut truth = m.valuation().start();
        truth.push(simulate::default_phi(m));
        all.extend(recovery(m, &truth, &cfg, &FitConfig::default())?);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|r| {
            vec![
                r.model.clone(),
                r.name.clone(),
                format!("{}", r.truth),
                format!("{:.4}", r.mean),
                format!("{:.4}", r.sd),
                format!("{:.4}", r.mean_se),
                format!("{:.2}", r.coverage),
                format!("{:+.2}", r.z_mean),
                format!("{:.2}", r.z_sd),
            ]
        })
        .collect();
    println!(
        "{} data sets x {} problems x {} choices per theory",
        a.reps, a.problems, a.per_problem
    );
    print_table(
        &[
            "model",
            "parameter",
            "truth",
            "mean estimate",
            "sd of estimates",
            "mean SE",
            "95% coverage",
            "mean z",
            "sd z",
        ],
        &rows,
    );
    if let Some(j) = &a.json {
        write_atomic(j, serde_json::to_string_pretty(&all)?.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_ask(a: &AskArgs) -> anyhow::Result<ExitCode> {
    let ps = read_problems(&a.file, &a.read)?;
    let (mut lm, name) = load_chooser(&a.model_dir, a.name.as_deref())?;
    let cfg = AskConfig {
        both_orders: !a.one_order,
        per_problem: a.per_problem,
        ..Default::default()
    };
    let answers = ask(&ps, &mut lm, &cfg)?;
    let mut out = Vec::new();
    if a.with_input {
        out.extend(ps.iter().cloned().map(|mut p| {
            p.group.get_or_insert_with(|| "human".into());
            p
        }));
    }
    out.extend(answers);
    problem::write_jsonl(&a.out, &out)?;
    eprintln!(
        "{name} answered {} problems; wrote {} to {}",
        ps.len(),
        out.len(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_dynamics(a: &DynamicsArgs) -> anyhow::Result<ExitCode> {
    let ai = match a.ai_value.as_slice() {
        [] => None,
        [v] => Some(vec![*v; a.dims]),
        v => Some(v.to_vec()),
    }
    .map(|value| AiInfluence {
        value,
        weight: a.ai_weight,
        reach: a.ai_reach,
    });
    let cfg = DynamicsConfig {
        agents: a.agents,
        dims: a.dims,
        epsilon: a.epsilon,
        mu: a.mu,
        rule: if a.hk {
            Rule::HegselmannKrause
        } else {
            Rule::Deffuant
        },
        network: a.ring_k.map_or(Network::Complete, |k| Network::Ring { k }),
        steps: a.steps,
        ai,
        seed: a.seed,
        ..Default::default()
    };
    let run = dynamics::simulate(None, &cfg)?;
    let every = (a.steps / 10).max(1);
    let rows: Vec<Vec<String>> = run
        .snapshots
        .iter()
        .filter(|s| s.step % every == 0 || s.step == a.steps)
        .map(|s| {
            vec![
                s.step.to_string(),
                s.clusters.to_string(),
                s.major_clusters.to_string(),
                format!("{:.4}", s.diversity),
                if s.distance_to_ai.is_nan() {
                    "-".into()
                } else {
                    format!("{:.4}", s.distance_to_ai)
                },
            ]
        })
        .collect();
    print_table(
        &[
            "sweep",
            "clusters",
            "major clusters",
            "diversity",
            "distance to AI",
        ],
        &rows,
    );
    if let Some(j) = &a.json {
        write_atomic(j, serde_json::to_string_pretty(&run.snapshots)?.as_bytes())?;
    }
    if let Some(p) = &a.plot {
        let mut series = vec![Series {
            name: "diversity (mean pairwise distance)".into(),
            points: run
                .snapshots
                .iter()
                .map(|s| (s.step as f64, s.diversity))
                .collect(),
        }];
        if cfg.ai.is_some() {
            series.push(Series {
                name: "mean distance to the AI".into(),
                points: run
                    .snapshots
                    .iter()
                    .map(|s| (s.step as f64, s.distance_to_ai))
                    .collect(),
            });
        }
        line_chart(
            p,
            &LineChart {
                title: format!("Bounded-confidence dynamics (epsilon {})", a.epsilon),
                x_label: "sweep".into(),
                y_label: "distance".into(),
                series,
                ..Default::default()
            },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_explain(a: &ExplainArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = TEXT_PROPERTIES.iter().map(|s| s.to_string()).collect();
    let cfg = ExplainConfig {
        prior_sd: a.prior_sd,
        ..Default::default()
    };
    let mut all = BTreeMap::new();
    let mut whiskers = Vec::new();
    let specs = a
        .data
        .iter()
        .map(|s| (s, false))
        .chain(a.scored.iter().map(|s| (s, true)));
    for (spec, by_scores) in specs {
        let (group, file) = spec
            .split_once('=')
            .with_context(|| format!("`{spec}`: expected NAME=FILE"))?;
        let (pairs, bad) =
            prefer_eval::texts::read_pairs_skipping(Path::new(file), &Default::default())
                .with_context(|| format!("reading {file}"))?;
        if let Some(first) = bad.first() {
            // An empty response or identical answers say nothing about properties.
            eprintln!(
                "{group}: left out {} records that fail the pair checks, e.g. {first}",
                bad.len()
            );
        }
        let mut rows = Vec::with_capacity(pairs.len());
        let mut agree = 0usize;
        for p in &pairs {
            let d = text_difference(&p.chosen, &p.rejected);
            if !by_scores {
                rows.push(d);
                continue;
            }
            let (Some(sc), Some(sr)) = (p.score_chosen, p.score_rejected) else {
                bail!(
                    "{}: no score_chosen/score_rejected for --scored {group}",
                    p.loc
                );
            };
            if sc > sr {
                agree += 1;
                rows.push(d);
            } else if sr > sc {
                rows.push(d.iter().map(|x| -x).collect());
            }
        }
        if by_scores {
            println!(
                "{group}: prefers the labelled chosen answer in {agree} of {} pairs ({} ties left out)",
                pairs.len(),
                pairs.len() - rows.len()
            );
        }
        let fx = fit_effects(&names, &rows, &vec![1.0; rows.len()], &cfg)
            .with_context(|| format!("group {group}"))?;
        for e in &fx.effects {
            whiskers.push(Whisker {
                label: format!("{group} {}", e.name),
                value: e.mean,
                lower: e.lower,
                upper: e.upper,
            });
        }
        all.insert(group.to_string(), fx);
    }
    let groups: Vec<&String> = all.keys().collect();
    let mut headers = vec!["property".to_string()];
    headers.extend(groups.iter().map(|g| format!("{g}: effect [95%]")));
    let rows: Vec<Vec<String>> = (0..names.len())
        .map(|k| {
            let mut r = vec![names[k].clone()];
            for g in &groups {
                let e = &all[*g].effects[k];
                r.push(if e.support == 0 {
                    "(never differs)".into()
                } else {
                    format!(
                        "{:+.2} [{:+.2}, {:+.2}] n={}",
                        e.mean, e.lower, e.upper, e.support
                    )
                });
            }
            r
        })
        .collect();
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    print_table(&h, &rows);
    for g in &groups {
        println!(
            "{g}: {} comparisons, the properties alone predict {:.3} of them",
            all[*g].comparisons, all[*g].accuracy
        );
    }
    if let Some(j) = &a.json {
        write_atomic(j, serde_json::to_string_pretty(&all)?.as_bytes())?;
    }
    if let Some(p) = &a.plot {
        interval_chart(
            p,
            "Effect on the log odds of being preferred",
            "effect",
            &whiskers,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_dilemmas(a: &DilemmasArgs) -> anyhow::Result<ExitCode> {
    let (ds, bad) = dilemmas::read_jsonl(&a.file)?;
    handle_rejects(&a.file, &bad, a.skip_invalid)?;
    if ds.is_empty() {
        bail!("{}: no dilemmas", a.file.display());
    }
    let mapping: Option<BTreeMap<String, Vec<String>>> = match &a.framework {
        Some(p) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| {
                format!(
                    "{}: expected a JSON object of dimension -> [values]",
                    p.display()
                )
            })?,
        ),
        None => None,
    };
    let mut groups: Vec<(String, Vec<dilemmas::ValueScore>)> = Vec::new();
    let score = |d: &[dilemmas::Dilemma]| {
        let v = dilemmas::value_preferences(d);
        match &mapping {
            Some(m) => dilemmas::framework_scores(&v, m),
            None => v,
        }
    };
    if ds.iter().any(|d| d.distribution().is_some()) {
        groups.push(("file".into(), score(&ds)));
    }
    for dir in &a.model_dir {
        let (mut lm, name) = load_chooser(dir, None)?;
        let answered = dilemmas::ask(&ds, &mut lm, !a.one_order)?;
        groups.push((name, score(&answered)));
    }
    if groups.is_empty() {
        bail!(
            "{}: no dilemma has a choice; give --model-dir to ask a model",
            a.file.display()
        );
    }
    // Rows: every value (dimension) any group scored, in the first group's order.
    let mut names: Vec<String> = Vec::new();
    for (_, g) in &groups {
        for v in g {
            if !names.contains(&v.value) {
                names.push(v.value.clone());
            }
        }
    }
    let cell = |g: &[dilemmas::ValueScore], n: &str| g.iter().find(|v| v.value == n).cloned();
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            let mut r = vec![n.clone()];
            for (_, g) in &groups {
                r.push(match cell(g, n) {
                    Some(v) if v.appearances > 0.0 => {
                        format!("{:+.3} (n={})", v.preference, v.appearances)
                    }
                    _ => "-".into(),
                });
            }
            r
        })
        .collect();
    let mut headers = vec![
        if mapping.is_some() {
            "dimension"
        } else {
            "value"
        }
        .to_string(),
    ];
    headers.extend(groups.iter().map(|(g, _)| g.clone()));
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    print_table(&h, &rows);
    if let Some(j) = &a.json {
        let v: BTreeMap<&str, &Vec<dilemmas::ValueScore>> =
            groups.iter().map(|(g, s)| (g.as_str(), s)).collect();
        write_atomic(j, serde_json::to_string_pretty(&v)?.as_bytes())?;
    }
    if let Some(p) = &a.plot {
        let series: Vec<Series> = groups
            .iter()
            .map(|(g, s)| Series {
                name: g.clone(),
                points: names
                    .iter()
                    .enumerate()
                    .map(|(k, n)| {
                        (
                            k as f64,
                            cell(s, n).map_or(0.0, |v| {
                                if v.preference.is_finite() {
                                    v.preference
                                } else {
                                    0.0
                                }
                            }),
                        )
                    })
                    .collect(),
            })
            .collect();
        radar_chart(
            p,
            "Value preferences (chosen − neglected) / appearances",
            &names,
            &series,
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_elicit(a: &ElicitArgs) -> anyhow::Result<ExitCode> {
    let items = read_items(&a.items)?;
    let (mut lm, name) = load_chooser(&a.model_dir, None)?;
    let cfg = ActiveConfig {
        edge_multiplier: a.edge_multiplier,
        edges_per_round: a.edges_per_round,
        seed: a.seed,
        ..Default::default()
    };
    let fit_cfg = ThurstonianConfig::default();
    let run = active::run(
        items.len(),
        |i, j| pair_answer(&mut lm, &items, i, j, a.answers, true),
        &cfg,
        &fit_cfg,
    )?;
    println!(
        "{name}: asked {} of {} pairs in {} rounds",
        run.counts.cells.len(),
        items.len() * (items.len() - 1) / 2,
        run.asked_per_round.len()
    );
    let code = report_utilities(
        &items,
        &run.counts,
        &fit_cfg,
        a.held_out,
        a.seed,
        a.json.as_deref(),
        a.plot.as_deref(),
    )?;
    if let Some(t) = &a.target {
        let target = read_target(t, &items)?;
        let u = thurstonian::fit(&run.counts, &fit_cfg)?;
        println!(
            "agreement with {}: {:.3} of pairs ordered alike, Pearson r {:.3}",
            t.display(),
            order_agreement(&u.mean, &target),
            prefer_choice::coherence::pearson(&u.mean, &target)
        );
    }
    Ok(code)
}

/// Target utilities for `items`: `elicit --json` output (`utilities: [{item, mean}]`) or
/// a JSON object item -> utility. Every item needs one.
fn read_target(path: &Path, items: &[String]) -> anyhow::Result<Vec<f64>> {
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{}: not JSON", path.display()))?;
    let mut map = BTreeMap::new();
    if let Some(list) = v.get("utilities").and_then(|u| u.as_array()) {
        for (k, e) in list.iter().enumerate() {
            let (Some(item), Some(mean)) = (e["item"].as_str(), e["mean"].as_f64()) else {
                bail!("{}: utilities[{k}] needs `item` and `mean`", path.display());
            };
            map.insert(item.to_string(), mean);
        }
    } else if let Some(obj) = v.as_object() {
        for (item, u) in obj {
            let u = u
                .as_f64()
                .with_context(|| format!("{}: field `{item}` is not a number", path.display()))?;
            map.insert(item.clone(), u);
        }
    } else {
        bail!(
            "{}: expected `elicit --json` output or an object item -> utility",
            path.display()
        );
    }
    items
        .iter()
        .map(|i| {
            map.get(i)
                .copied()
                .with_context(|| format!("{}: no target utility for `{i}`", path.display()))
        })
        .collect()
}

fn read_items(path: &Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let items: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if items.len() < 3 {
        bail!(
            "{}: need at least 3 outcomes, one per line (found {})",
            path.display(),
            items.len()
        );
    }
    Ok(items)
}

fn run_control(a: &ControlArgs) -> anyhow::Result<ExitCode> {
    let items = read_items(&a.items)?;
    let target = read_target(&a.target, &items)?;
    let pairs = target_pairs(&items, &target, a.min_gap)?;
    write_pairs(&a.out, &pairs)?;
    eprintln!(
        "wrote {} preference pairs ({} ordered outcome pairs, both orders) to {}",
        pairs.len(),
        pairs.len() / 2,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_introspect(a: &IntrospectArgs) -> anyhow::Result<ExitCode> {
    if !(a.train_fraction > 0.0 && a.train_fraction < 1.0) {
        bail!(
            "--train-fraction must be in (0, 1), got {}",
            a.train_fraction
        );
    }
    let ps = read_problems(&a.file, &a.read)?;
    let (train, test) = fit::split(&ps, 1.0 - a.train_fraction, a.seed);
    let cfg = AskConfig::default();
    let (mut m, name) = load_chooser(&a.behaviour_model, None)?;
    if let Some(out) = &a.train_out {
        let b = introspect::behaviour(&mut m, &train, &cfg)?;
        let pairs = introspect::training_pairs(&train, &b, &cfg)?;
        write_pairs(out, &pairs)?;
        eprintln!(
            "wrote {} training pairs from {name}'s choices on {} problems to {}",
            pairs.len(),
            train.len(),
            out.display()
        );
    }
    if a.predictor.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let behaviour = introspect::behaviour(&mut m, &test, &cfg)?;
    let mut rows = Vec::new();
    for dir in &a.predictor {
        let (mut p, pname) = load_chooser(dir, None)?;
        let s = introspect::prediction_accuracy(&mut p, &test, &behaviour, &cfg)?;
        rows.push(vec![
            format!("{pname} ({})", dir.display()),
            format!("{:.3}", s.accuracy),
            format!("{:.3}", s.majority_baseline),
            s.problems.to_string(),
        ]);
    }
    println!(
        "predicting {name}'s choices on {} held-out problems",
        test.len()
    );
    print_table(
        &["predictor", "accuracy", "majority baseline", "problems"],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

/// TRL preference records as JSONL, written atomically.
fn write_pairs(path: &Path, pairs: &[ControlPair]) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    for p in pairs {
        serde_json::to_writer(&mut buf, p)?;
        buf.push(b'\n');
    }
    write_atomic(path, &buf)?;
    Ok(())
}
