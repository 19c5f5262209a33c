//! `prefer rank`: leaderboards from votes, and the K-Sort convergence simulator.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use prefer_data::write_atomic;
use prefer_plot::{LineChart, Series, Whisker, heatmap, interval_chart, line_chart};
use prefer_rank::bt::{Anchor, BtConfig, Scale, TieModel};
use prefer_rank::elo::EloConfig;
use prefer_rank::intervals::BootstrapConfig;
use prefer_rank::ksort::KSortConfig;
use prefer_rank::leaderboard::{Interval, Leaderboard, Method, leaderboard, predicted_win_matrix};
use prefer_rank::load::{Covariate, Filter, OnBad, field_values, load_voters, load_where};
use prefer_rank::matchmaking::MatchConfig;
use prefer_rank::pl::PlConfig;
use prefer_rank::quality::{ScreenConfig, screen};
use prefer_rank::simulate::{Noise, SimConfig, SimMethod, run_all};
use prefer_rank::style::StyleConfig;
use prefer_rank::thurstone::ThurstoneConfig;

use crate::ui::{InputArgs, print_table, table};

/// `prefer rank ...`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fit ratings to votes and print the leaderboard.
    #[command(after_help = "Examples:\n  \
        prefer rank fit battles.jsonl --bootstrap 100\n  \
        prefer rank fit ../shared/data/football/results.csv --method elo --k 20\n  \
        prefer rank fit ../shared/data/pandalm/votes_pandalm.csv --ci sandwich --plot ratings.png\n  \
        prefer rank fit kwise.jsonl --method pl --format csv -o board.csv\n  \
        prefer rank fit arena.jsonl --style conv_metadata.sum_assistant_a_tokens,conv_metadata.sum_assistant_b_tokens")]
    Fit(Box<FitArgs>),
    /// Simulate the K-Sort Arena convergence experiment (Elo on random pairs vs K-Sort
    /// with matchmaking) and report votes-to-converge.
    #[command(after_help = "Examples:\n  prefer rank simulate\n  \
        prefer rank simulate --models 50 --seeds 10 --plot convergence.png --json sim.json")]
    Simulate(SimArgs),
    /// Screen voters: each voter's agreement with the consensus (Bradley-Terry fit of
    /// the others' counted votes), flagging those far below chance (z < -Z).
    #[command(after_help = "Examples:\n  \
        prefer rank voters ../shared/data/pandalm/votes_pandalm.csv --voter user_id\n  \
        prefer rank voters arena-export.jsonl --where counted=true --json voters.json")]
    Voters(VotersArgs),
}

/// `prefer rank voters`
#[derive(Debug, Args)]
pub struct VotersArgs {
    /// Votes: battles or K-wise records with a voter field.
    pub file: PathBuf,
    /// The field naming the voter (a dotted path): `judge` in Chatbot Arena battles and
    /// the arena's export, `user_id` for an annotator column.
    #[arg(long, default_value = "judge")]
    pub voter: String,
    /// Flag below -Z.
    #[arg(long, default_value_t = 4.0)]
    pub z: f64,
    /// Decisive votes a voter needs before it can be flagged.
    #[arg(long, default_value_t = 20)]
    pub min_votes: u64,
    /// Gaussian prior precision on log-strengths of the consensus fit.
    #[arg(long, default_value_t = 0.01)]
    pub l2: f64,
    /// Screen only the votes whose FIELD is VALUE (as `prefer rank fit --where`).
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    pub filter: Option<String>,
    /// Rows to print (worst first; 0: all).
    #[arg(long, default_value_t = 20)]
    pub show: usize,
    /// Write every voter's screening as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Skip bad records (counted) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    #[command(flatten)]
    pub input: InputArgs,
}

/// Rating methods on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    /// Bradley-Terry maximum likelihood.
    Bt,
    /// Online Elo (FastChat's, K = 4 by default).
    Elo,
    /// Plackett-Luce on full rankings.
    Pl,
    /// Thurstone Case V (probit).
    Thurstone,
    /// K-Sort Arena's TrueSkill ratings (score μ − 3σ).
    Ksort,
    /// TrueSkill (same updates as ksort).
    Trueskill,
    /// Points over votes played.
    WinRate,
    /// evalica's average win rate.
    AverageWinRate,
    /// Wins plus half the ties.
    Counting,
}

/// Tie models.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TiesArg {
    /// Half a win each way (Chatbot Arena).
    Half,
    /// Davidson (1970).
    Davidson,
    /// Rao-Kupper (1967).
    RaoKupper,
}

/// Interval kinds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CiArg {
    /// No intervals.
    None,
    /// Bootstrap percentiles (--bootstrap rounds).
    Bootstrap,
    /// Robust (sandwich) normal intervals.
    Sandwich,
    /// Fisher-information normal intervals.
    Fisher,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// An aligned table.
    Table,
    /// JSON.
    Json,
    /// CSV.
    Csv,
}

/// `prefer rank fit`
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Votes: battles (JSONL/JSON/Parquet/CSV) or K-wise votes.
    pub file: PathBuf,
    /// Rating method.
    #[arg(long, value_enum, default_value = "bt")]
    pub method: MethodArg,
    /// Tie model (bt).
    #[arg(long, value_enum, default_value = "half")]
    pub ties: TiesArg,
    /// Bootstrap rounds; implies --ci bootstrap when --ci is not given.
    #[arg(long)]
    pub bootstrap: Option<usize>,
    /// Interval kind (default: bootstrap with --bootstrap, else none).
    #[arg(long, value_enum)]
    pub ci: Option<CiArg>,
    /// Interval level.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Hold a model at a rating: `--anchor NAME=RATING` (bt).
    #[arg(long)]
    pub anchor: Option<String>,
    /// Gaussian prior precision on log-strengths (bt, pl, thurstone, style).
    #[arg(long, default_value_t = 0.0)]
    pub l2: f64,
    /// Elo K factor.
    #[arg(long, default_value_t = 4.0)]
    pub k: f64,
    /// Rating points per factor of base in odds.
    #[arg(long, default_value_t = 400.0)]
    pub scale: f64,
    /// Odds base.
    #[arg(long, default_value_t = 10.0)]
    pub base: f64,
    /// Mean (initial) rating.
    #[arg(long, default_value_t = 1000.0)]
    pub init: f64,
    /// Style control: a pair of fields `FIELD_A,FIELD_B` with a statistic of each answer
    /// (repeatable); implies --method style (Bradley-Terry with covariates).
    #[arg(long, value_name = "FIELD_A,FIELD_B")]
    pub style: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: FormatArg,
    /// Write the leaderboard here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Plot ratings with interval whiskers (.png or .svg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Plot the predicted win-rate heatmap (.png or .svg; the top 30 models).
    #[arg(long)]
    pub heatmap: Option<PathBuf>,
    /// Skip bad records (counted) instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Rate only the largest connected group of items (ratings are not comparable
    /// across groups that never met); the others are listed.
    #[arg(long)]
    pub largest_component: bool,
    /// Rate only the votes whose FIELD (a dotted path; extra fields included) is VALUE,
    /// or holds it when the field is a list: a category or language leaderboard.
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    pub filter: Option<String>,
    /// One leaderboard per value of FIELD (most votes first; text or JSON).
    #[arg(long, value_name = "FIELD", conflicts_with_all = ["filter", "plot", "heatmap"])]
    pub by: Option<String>,
    #[command(flatten)]
    pub input: InputArgs,
}

/// `prefer rank simulate`
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Models.
    #[arg(long, default_value_t = 50)]
    pub models: usize,
    /// Gap between neighbouring true ratings (Elo points).
    #[arg(long, default_value_t = 40.0)]
    pub gap: f64,
    /// Vote budget per run.
    #[arg(long, default_value_t = 30_000)]
    pub max_votes: usize,
    /// Number of seeds (runs per method).
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Voter noise.
    #[arg(long, value_enum, default_value = "bt")]
    pub noise: NoiseArg,
    /// Elo's K factor.
    #[arg(long, default_value_t = 4.0)]
    pub elo_k: f64,
    /// Models per K-Sort vote.
    #[arg(long, default_value_t = 4)]
    pub kwise: usize,
    /// Matchmaking exploration weight α.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Plot the mean rank-MSE curves (.png or .svg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write every run (with curves) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Voter noise.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum NoiseArg {
    /// Bradley-Terry / Plackett-Luce.
    Bt,
    /// Thurstone.
    Thurstone,
}

/// Runs `prefer rank ...`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Fit(a) => fit(&a),
        Command::Simulate(a) => simulate(&a),
        Command::Voters(a) => voters(&a),
    }
}

fn parse_filter(filter: Option<&str>) -> anyhow::Result<Option<Filter>> {
    filter
        .map(|f| {
            let (field, value) = f
                .split_once('=')
                .with_context(|| format!("--where `{f}`: expected FIELD=VALUE"))?;
            Ok(Filter {
                field: field.trim().to_string(),
                value: value.trim().to_string(),
            })
        })
        .transpose()
}

fn voters(a: &VotersArgs) -> anyhow::Result<ExitCode> {
    let opts = a.input.options()?;
    let filter = parse_filter(a.filter.as_deref())?;
    let on_bad = if a.skip_invalid {
        OnBad::Skip
    } else {
        OnBad::Stop
    };
    let loaded = load_voters(&a.file, &opts, on_bad, filter.as_ref(), &a.voter)
        .with_context(|| format!("reading {}", a.file.display()))?;
    if loaded.voters.is_empty() {
        bail!(
            "{}: no record has the voter field `{}` (pass --voter FIELD; `user_id` for an annotator column)",
            a.file.display(),
            a.voter
        );
    }
    let cfg = ScreenConfig {
        z: a.z,
        min_votes: a.min_votes,
        ..Default::default()
    };
    let bt = BtConfig {
        l2: a.l2,
        ..Default::default()
    };
    let fixed = vec![None; loaded.voters.len()];
    let s = screen(&loaded.data.pairs, &loaded.voter_of, &fixed, &cfg, &bt)?;
    let mut order: Vec<usize> = (0..s.voters.len()).collect();
    order.sort_by(|&x, &y| {
        let z = |i: usize| s.voters[i].z.unwrap_or(f64::INFINITY);
        z(x).total_cmp(&z(y))
    });
    let flagged = s.voters.iter().filter(|v| v.excluded).count();
    let left_out = loaded.voter_of.iter().filter(|&&w| !s.counted(w)).count();
    let scored = s
        .voters
        .iter()
        .filter(|v| v.decisive >= a.min_votes)
        .count();
    let rows: Vec<Vec<String>> = order
        .iter()
        .take(if a.show == 0 { usize::MAX } else { a.show })
        .map(|&i| {
            let v = &s.voters[i];
            vec![
                loaded.voters[i].clone(),
                v.battles.to_string(),
                v.decisive.to_string(),
                format!("{:.3}", v.agree as f64 / v.decisive.max(1) as f64),
                format!("{:.3}", v.expected / v.decisive.max(1) as f64),
                v.z.map_or("-".into(), |z| format!("{z:.2}")),
                if v.excluded { "flagged" } else { "" }.into(),
            ]
        })
        .collect();
    print_table(
        &["voter", "battles", "decisive", "agree", "expected", "z", ""],
        &rows,
    );
    println!(
        "{} voters ({scored} with at least {} decisive votes); {flagged} flagged at z < -{}; \
         {left_out} of {} pairwise votes left out; {} consensus fits",
        s.voters.len(),
        a.min_votes,
        a.z,
        loaded.voter_of.len(),
        s.fits
    );
    if let Some(p) = &a.json {
        let list: Vec<serde_json::Value> = order
            .iter()
            .map(|&i| {
                let mut v = serde_json::to_value(&s.voters[i]).unwrap_or_default();
                v["voter"] = loaded.voters[i].clone().into();
                v
            })
            .collect();
        write_atomic(p, serde_json::to_string_pretty(&list)?.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn method(a: &FitArgs) -> anyhow::Result<Method> {
    let scale = Scale {
        scale: a.scale,
        base: a.base,
        init: a.init,
    };
    if !a.style.is_empty() {
        return Ok(Method::Style(StyleConfig {
            scale,
            l2: a.l2,
            ..Default::default()
        }));
    }
    Ok(match a.method {
        MethodArg::Bt => Method::Bt(BtConfig {
            ties: match a.ties {
                TiesArg::Half => TieModel::Half,
                TiesArg::Davidson => TieModel::Davidson,
                TiesArg::RaoKupper => TieModel::RaoKupper,
            },
            scale,
            anchor: match &a.anchor {
                Some(s) => {
                    let (name, r) = s
                        .rsplit_once('=')
                        .with_context(|| format!("--anchor `{s}`: expected NAME=RATING"))?;
                    Some(Anchor {
                        item: name.to_string(),
                        rating: r
                            .trim()
                            .parse()
                            .with_context(|| format!("--anchor `{s}`: `{r}` is not a number"))?,
                    })
                }
                None => None,
            },
            l2: a.l2,
            ..Default::default()
        }),
        MethodArg::Elo => Method::Elo(EloConfig {
            k: a.k,
            scale: a.scale,
            base: a.base,
            init: a.init,
        }),
        MethodArg::Pl => Method::Pl(PlConfig {
            scale: a.scale,
            base: a.base,
            init: a.init,
            l2: a.l2,
            ..Default::default()
        }),
        MethodArg::Thurstone => Method::Thurstone(ThurstoneConfig {
            init: a.init,
            l2: a.l2,
            ..Default::default()
        }),
        MethodArg::Ksort | MethodArg::Trueskill => Method::Ksort(KSortConfig::default()),
        MethodArg::WinRate => Method::WinRate,
        MethodArg::AverageWinRate => Method::AverageWinRate,
        MethodArg::Counting => Method::Counting,
    })
}

fn fit(a: &FitArgs) -> anyhow::Result<ExitCode> {
    let method = method(a)?;
    let ci = a.ci.unwrap_or(if a.bootstrap.is_some() {
        CiArg::Bootstrap
    } else {
        CiArg::None
    });
    let interval = match ci {
        CiArg::None => Interval::None,
        CiArg::Bootstrap => Interval::Bootstrap(BootstrapConfig {
            rounds: a.bootstrap.unwrap_or(100),
            seed: a.seed,
            level: a.level,
        }),
        CiArg::Sandwich => Interval::Sandwich { level: a.level },
        CiArg::Fisher => Interval::Fisher { level: a.level },
    };
    let covariates = a
        .style
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (x, y) = s
                .split_once(',')
                .with_context(|| format!("--style `{s}`: expected FIELD_A,FIELD_B"))?;
            Ok(Covariate {
                name: if a.style.len() == 1 {
                    "style".into()
                } else {
                    format!("style{}", i + 1)
                },
                field_a: x.trim().to_string(),
                field_b: y.trim().to_string(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let on_bad = if a.skip_invalid {
        OnBad::Skip
    } else {
        OnBad::Stop
    };
    if let Some(field) = &a.by {
        return fit_by(a, field, &method, &interval, on_bad, &covariates);
    }
    let filter = parse_filter(a.filter.as_deref())?;
    let board = fit_board(a, &method, &interval, on_bad, &covariates, filter.as_ref())?;
    let text = render(&board, a.format)?;
    write_output(a.output.as_deref(), &text)?;
    if let Some(p) = &a.plot {
        let rows: Vec<Whisker> = board
            .rows
            .iter()
            .take(60)
            .map(|r| Whisker {
                label: r.model.clone(),
                value: r.rating,
                lower: r.lower.unwrap_or(r.rating),
                upper: r.upper.unwrap_or(r.rating),
            })
            .collect();
        let title = format!(
            "{} ratings{}",
            board.method,
            if board.rows[0].lower.is_some() {
                format!(" ({:.0}% intervals)", a.level * 100.0)
            } else {
                String::new()
            }
        );
        interval_chart(p, &title, "rating", &rows)?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &a.heatmap {
        let top: Vec<_> = board.rows.iter().take(30).collect();
        let scale = Scale {
            scale: a.scale,
            base: a.base,
            init: a.init,
        };
        if !matches!(
            method,
            Method::Bt(_) | Method::Elo(_) | Method::Pl(_) | Method::Style(_)
        ) {
            bail!("--heatmap needs Elo-scale ratings (bt, elo, pl, style)");
        }
        let m = predicted_win_matrix(&top.iter().map(|r| r.rating).collect::<Vec<_>>(), &scale);
        let labels: Vec<String> = top.iter().map(|r| r.model.clone()).collect();
        heatmap(p, "predicted P(row beats column)", &labels, &m)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the votes (those passing `filter`) and fits the leaderboard.
fn fit_board(
    a: &FitArgs,
    method: &Method,
    interval: &Interval,
    on_bad: OnBad,
    covariates: &[Covariate],
    filter: Option<&Filter>,
) -> anyhow::Result<Leaderboard> {
    let loaded = load_where(&a.file, &a.input.options()?, on_bad, covariates, filter)
        .with_context(|| format!("reading votes from {}", a.file.display()))?;
    if loaded.skipped > 0 {
        eprintln!("skipped {} bad records, e.g.:", loaded.skipped);
        for e in &loaded.skipped_examples {
            eprintln!("  {e}");
        }
    }
    let mut data = loaded.data;
    if a.largest_component {
        let (kept, dropped) = data.largest_component();
        if !dropped.is_empty() {
            eprintln!(
                "rating the largest connected group ({} items); left out {} that never met it: {}",
                kept.items().len(),
                dropped.len(),
                dropped.join(", ")
            );
        }
        data = kept;
    }
    let board = leaderboard(&data, method, interval).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("disconnected components") {
            anyhow::anyhow!("{msg}\n(pass --largest-component to rate the largest group alone)")
        } else {
            anyhow::anyhow!(msg)
        }
    })?;
    for n in &board.notes {
        eprintln!("note: {n}");
    }
    Ok(board)
}

/// The rendered leaderboard(s) to `--output` (atomically) or stdout.
fn write_output(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(p) => write_atomic(p, text.as_bytes())?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

/// One leaderboard per value of `field`, most votes first.
fn fit_by(
    a: &FitArgs,
    field: &str,
    method: &Method,
    interval: &Interval,
    on_bad: OnBad,
    covariates: &[Covariate],
) -> anyhow::Result<ExitCode> {
    let (counts, missing) = field_values(&a.file, &a.input.options()?, field)?;
    if counts.is_empty() {
        bail!("{}: no vote has the field `{field}`", a.file.display());
    }
    let mut values: Vec<(String, u64)> = counts.into_iter().collect();
    values.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    let mut text = String::new();
    let mut boards = serde_json::Map::new();
    for (value, n) in &values {
        let filter = Filter {
            field: field.to_string(),
            value: value.clone(),
        };
        let board = fit_board(a, method, interval, on_bad, covariates, Some(&filter))
            .with_context(|| format!("{field} = {value}"))?;
        match a.format {
            FormatArg::Json => {
                boards.insert(value.clone(), serde_json::to_value(&board)?);
            }
            _ => {
                text.push_str(&format!("## {field} = {value} ({n} votes)\n"));
                text.push_str(&render(&board, a.format)?);
                text.push('\n');
            }
        }
    }
    if missing > 0 {
        eprintln!("note: {missing} votes have no `{field}` and are in no leaderboard");
    }
    if matches!(a.format, FormatArg::Json) {
        text = serde_json::to_string_pretty(&boards)? + "\n";
    }
    write_output(a.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| format!("{v:.2}"))
}

fn render(board: &Leaderboard, format: FormatArg) -> anyhow::Result<String> {
    Ok(match format {
        FormatArg::Json => serde_json::to_string_pretty(board)? + "\n",
        FormatArg::Csv => {
            let mut s = String::from("model,rating,lower,upper,rank,votes\n");
            for r in &board.rows {
                let name = if r.model.contains([',', '"', '\n']) {
                    format!("\"{}\"", r.model.replace('"', "\"\""))
                } else {
                    r.model.clone()
                };
                s.push_str(&format!(
                    "{name},{:.6},{},{},{},{}\n",
                    r.rating,
                    r.lower.map_or(String::new(), |x| format!("{x:.6}")),
                    r.upper.map_or(String::new(), |x| format!("{x:.6}")),
                    r.rank,
                    r.votes
                ));
            }
            s
        }
        FormatArg::Table => {
            let with_ci = board.rows.first().is_some_and(|r| r.lower.is_some());
            let rows: Vec<Vec<String>> = board
                .rows
                .iter()
                .map(|r| {
                    let mut v = vec![
                        r.rank.to_string(),
                        r.model.clone(),
                        format!("{:.2}", r.rating),
                    ];
                    if with_ci {
                        v.push(fmt_opt(r.lower));
                        v.push(fmt_opt(r.upper));
                    }
                    v.push(r.votes.to_string());
                    v
                })
                .collect();
            let mut headers = vec!["rank", "model", "rating"];
            if with_ci {
                headers.extend(["lower", "upper"]);
            }
            headers.push("votes");
            let mut s = table(&headers, &rows);
            if let Some(t) = board.tie_param {
                s.push_str(&format!("tie parameter: {t:.4}\n"));
            }
            for (name, c) in &board.coefficients {
                s.push_str(&format!("style coefficient {name}: {c:.4}\n"));
            }
            s
        }
    })
}

fn simulate(a: &SimArgs) -> anyhow::Result<ExitCode> {
    let cfg = SimConfig {
        models: a.models,
        gap: a.gap,
        max_votes: a.max_votes,
        seeds: (0..a.seeds).collect(),
        noise: match a.noise {
            NoiseArg::Bt => Noise::Bt,
            NoiseArg::Thurstone => Noise::Thurstone,
        },
        elo_k: a.elo_k,
        matching: MatchConfig {
            k: a.kwise,
            alpha: a.alpha,
            ..Default::default()
        },
        ..Default::default()
    };
    eprintln!(
        "simulating {} models ({} Elo points apart), {} votes per run, {} seeds, K = {}",
        cfg.models, cfg.gap, cfg.max_votes, a.seeds, a.kwise
    );
    let runs = run_all(&cfg, &SimMethod::ALL)?;
    let mut rows = Vec::new();
    let mut series = Vec::new();
    let elo_median = median_converged(&runs, SimMethod::EloRandom, |r| r.converged_at);
    let elo_first = median_converged(&runs, SimMethod::EloRandom, |r| r.first_zero);
    for m in SimMethod::ALL {
        let mine: Vec<_> = runs.iter().filter(|r| r.method == m).collect();
        let conv: Vec<usize> = mine.iter().filter_map(|r| r.converged_at).collect();
        let med = median_converged(&runs, m, |r| r.converged_at);
        let first = median_converged(&runs, m, |r| r.first_zero);
        rows.push(vec![
            m.name().to_string(),
            format!("{}/{}", conv.len(), mine.len()),
            med.map_or("-".into(), |x| format!("{x:.0}")),
            if conv.is_empty() {
                "-".into()
            } else {
                format!("{}", conv.iter().min().copied().unwrap_or(0))
            },
            if conv.is_empty() {
                "-".into()
            } else {
                format!("{}", conv.iter().max().copied().unwrap_or(0))
            },
            match (elo_median, med) {
                (Some(e), Some(x)) if x > 0.0 => format!("{:.1}x", e / x),
                _ => "-".into(),
            },
            first.map_or("-".into(), |x| format!("{x:.0}")),
            match (elo_first, first) {
                (Some(e), Some(x)) if x > 0.0 => format!("{:.1}x", e / x),
                _ => "-".into(),
            },
            format!(
                "{:.3}",
                mine.iter().map(|r| r.final_mse).sum::<f64>() / mine.len() as f64
            ),
        ]);
        // Mean curve across seeds.
        if let Some(first) = mine.first() {
            let pts: Vec<(f64, f64)> = (0..first.curve.len())
                .map(|i| {
                    let x = first.curve[i].0 as f64;
                    let y = mine.iter().map(|r| r.curve[i].1).sum::<f64>() / mine.len() as f64;
                    (x, y)
                })
                .collect();
            series.push(Series {
                name: m.name().to_string(),
                points: pts,
            });
        }
    }
    print_table(
        &[
            "method",
            "converged",
            "median votes to stay right",
            "min",
            "max",
            "speed-up vs elo",
            "median votes to first right",
            "speed-up vs elo",
            "final rank MSE",
        ],
        &rows,
    );
    if let Some(p) = &a.plot {
        // The curves are plotted on a log axis: shift zeros to a floor.
        let floored: Vec<Series> = series
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s.points.iter().map(|&(x, y)| (x, y.max(1e-3))).collect(),
            })
            .collect();
        line_chart(
            p,
            &LineChart {
                title: format!(
                    "rank MSE vs votes ({} models, mean of {} seeds; 0 shown as 0.001)",
                    cfg.models, a.seeds
                ),
                x_label: "votes (one K-wise vote counts as one)".into(),
                y_label: "mean squared rank error".into(),
                series: floored,
                log_y: true,
                log_x: true,
            },
        )?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &a.json {
        write_atomic(p, serde_json::to_string_pretty(&runs)?.as_bytes())?;
        eprintln!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The median over seeds of a per-run vote count (a run that never got there counts as
/// infinitely many votes).
fn median_converged(
    runs: &[prefer_rank::simulate::Run],
    m: SimMethod,
    at: impl Fn(&prefer_rank::simulate::Run) -> Option<usize>,
) -> Option<f64> {
    let mut c: Vec<usize> = runs
        .iter()
        .filter(|r| r.method == m)
        .map(|r| at(r).unwrap_or(usize::MAX))
        .collect();
    if c.is_empty() {
        return None;
    }
    c.sort_unstable();
    let mid = c[c.len() / 2];
    (mid != usize::MAX).then_some(if c.len().is_multiple_of(2) {
        let lo = c[c.len() / 2 - 1];
        if lo == usize::MAX {
            mid as f64
        } else {
            (lo + mid) as f64 / 2.0
        }
    } else {
        mid as f64
    })
}
