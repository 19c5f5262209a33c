//! `prefer game`: Nash equilibria of preference games (Nash-MD, EGPO, INPO, SPPO,
//! self-play, MaxMin) from a preference matrix or a vote file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use prefer_data::{Record, write_atomic};
use prefer_plot::{LineChart, Series, line_chart};
use prefer_rank::game::egpo::EgpoConfig;
use prefer_rank::game::experiments::{self, Chart, ExperimentConfig};
use prefer_rank::game::inpo::InpoConfig;
use prefer_rank::game::io::{is_matrix_file, read_game, to_csv};
use prefer_rank::game::matrix::DEFAULT_SUM_TOL;
use prefer_rank::game::maxmin::{self, MaxMinConfig, MaxMinUpdate, Opponent};
use prefer_rank::game::nash_md::{NashMdConfig, Schedule};
use prefer_rank::game::selfplay::SelfPlayConfig;
use prefer_rank::game::sppo::SppoConfig;
use prefer_rank::game::votes::GroupBy;
use prefer_rank::game::{
    DEFAULT_TOL, Feedback, Game, Iterate, Method, SolveOptions, Trace, VoteMatrixOptions, exact,
    matrix_from_battles, measure, solve,
};

use crate::ui::{InputArgs, print_table};

/// `prefer game ...`
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Solve the game a preference matrix (or a vote file) defines: print the
    /// equilibrium policy and the convergence curve.
    #[command(after_help = "Examples:\n  \
        prefer game solve rps.csv --method egpo --tau 0\n  \
        prefer game solve prefs.json --method nash-md --tau 0.1 --eta 0.2 --plot curve.svg\n  \
        prefer game solve battles.jsonl --method sppo --iterate average --exact\n  \
        prefer game solve groups.json --method maxmin --opponent best-response\n  \
        prefer game solve votes.jsonl --group-by judge --method maxmin")]
    Solve(SolveArgs),
    /// The exact equilibrium: by linear program (τ = 0) or certified to a tolerance
    /// (τ > 0).
    #[command(
        after_help = "Examples:\n  prefer game exact rps.csv\n  prefer game exact prefs.json --tau 0.1"
    )]
    Exact(ExactArgs),
    /// The pairwise win-rate matrix of a vote file (ties count half), as CSV.
    #[command(
        after_help = "Examples:\n  prefer game matrix battles.jsonl -o matrix.csv\n  \
        prefer game matrix votes.csv --prior 1"
    )]
    Matrix(MatrixArgs),
    /// Reproduce the experiments of docs/games.md: a Markdown table and SVG plots.
    #[command(
        after_help = "Examples:\n  prefer game experiments --out-dir docs/games\n  \
        prefer game experiments --out-dir /tmp/g --sizes 3,10,100 --json results.json"
    )]
    Experiments(ExperimentArgs),
    /// Iterations per second of each method on a random n × n matrix (see bench/game/).
    #[command(after_help = "Examples:\n  prefer game bench --n 1000 --iterations 300 --json")]
    Bench(BenchArgs),
}

/// The solver families.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    /// Nash-MD: mirror descent against the geometric mixture with the reference (paper 26).
    NashMd,
    /// Extragradient on the KL-regularized game (paper 27).
    Egpo,
    /// Online mirror descent, no-regret self-play (paper 48).
    Inpo,
    /// Multiplicative weights on the win rate against the current policy (paper 29).
    Sppo,
    /// Self-play on win proportions, averaged (paper 20).
    Selfplay,
    /// The policy maximizing the worst group's win rate (paper 41).
    Maxmin,
}

/// Which iterate to output.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IterateArg {
    /// The current policy.
    Last,
    /// The running average.
    Average,
}

/// How the input file is read.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum InputKind {
    /// A matrix (.csv/.tsv/.json) or votes, told from the content.
    Auto,
    /// A preference matrix.
    Matrix,
    /// Battles or K-wise votes.
    Votes,
}

/// Flags that turn a file into a game.
#[derive(Debug, Clone, Args)]
pub struct GameInput {
    /// A preference matrix (CSV/TSV/JSON) or a vote file (battles or K-wise votes).
    pub file: PathBuf,
    /// What the file holds.
    #[arg(long, value_enum, default_value = "auto")]
    pub input: InputKind,
    /// Tolerance on P + Pᵀ = 1 for matrices.
    #[arg(long, default_value_t = DEFAULT_SUM_TOL)]
    pub sum_tol: f64,
    /// Votes: pseudo-votes per pair, split evenly (P = (wins + α/2)/(votes + α)).
    #[arg(long, default_value_t = 0.0)]
    pub prior: f64,
    /// Votes: one preference matrix per value of this field (groups, for maxmin).
    #[arg(long, value_enum)]
    pub group_by: Option<GroupByArg>,
    #[command(flatten)]
    pub read: InputArgs,
}

/// A battle field that splits votes into groups.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GroupByArg {
    /// `judge`.
    Judge,
    /// `user_id`.
    User,
    /// `language`.
    Language,
    /// `context`.
    Context,
}

/// `prefer game solve`
#[derive(Debug, Args)]
pub struct SolveArgs {
    #[command(flatten)]
    pub game: GameInput,
    /// The solver.
    #[arg(long, value_enum, default_value = "egpo")]
    pub method: MethodArg,
    /// KL regularization toward the reference, τ (default: the method's; 0 = the
    /// original game).
    #[arg(long)]
    pub tau: Option<f64>,
    /// Step size η (default: the method's).
    #[arg(long)]
    pub eta: Option<f64>,
    /// Iterations.
    #[arg(long, default_value_t = 2000)]
    pub iterations: usize,
    /// Output the last iterate or the average (default: the method's). egpo outputs its
    /// last iterate only (its paper's guarantee); the others accept both.
    #[arg(long, value_enum)]
    pub iterate: Option<IterateArg>,
    /// Nash-MD: a decreasing step η_t = min(η, 2/(τ(t+2))) instead of a constant one.
    #[arg(long)]
    pub decreasing: bool,
    /// MaxMin: win rates against each group's best response instead of the reference.
    #[arg(long, value_enum, default_value = "reference")]
    pub opponent: OpponentArg,
    /// MaxMin: paper 41's worst-group steps instead of extragradient.
    #[arg(long)]
    pub worst_group: bool,
    /// The reference policy μ, comma-separated (default uniform).
    #[arg(long, value_delimiter = ',')]
    pub reference: Option<Vec<f64>>,
    /// The starting policy, comma-separated (default μ).
    #[arg(long, value_delimiter = ',')]
    pub init: Option<Vec<f64>>,
    /// Observe win rates through this many sampled votes per response and query
    /// (default: exact).
    #[arg(long)]
    pub votes: Option<usize>,
    /// Seed of the vote sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The run has converged (`converged` in --json) when the target gap of the output
    /// policy at the end (maxmin's gap, else the regularized exploitability for τ > 0,
    /// else the exploitability) is at most this.
    #[arg(long, default_value_t = DEFAULT_TOL)]
    pub tol: f64,
    /// Stop as soon as the target gap is at most --tol instead of running every iteration.
    #[arg(long)]
    pub stop_at_tol: bool,
    /// Also compute the exact equilibrium and report the distance to it.
    #[arg(long)]
    pub exact: bool,
    /// Rows of the convergence curve to print.
    #[arg(long, default_value_t = 11)]
    pub curve_rows: usize,
    /// Plot the convergence curve (.svg or .png).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the whole trace as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// MaxMin's opponent.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OpponentArg {
    /// The reference policy.
    Reference,
    /// Each group's best response.
    BestResponse,
}

/// `prefer game exact`
#[derive(Debug, Args)]
pub struct ExactArgs {
    #[command(flatten)]
    pub game: GameInput,
    /// Regularization τ (0: the LP equilibrium of the original game).
    #[arg(long, default_value_t = 0.0)]
    pub tau: f64,
    /// The reference policy μ, comma-separated (default uniform).
    #[arg(long, value_delimiter = ',')]
    pub reference: Option<Vec<f64>>,
    /// Certificate for τ > 0: regularized exploitability below this.
    #[arg(long, default_value_t = 1e-12)]
    pub tol: f64,
}

/// `prefer game matrix`
#[derive(Debug, Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub game: GameInput,
    /// Write the CSV here instead of printing it.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `prefer game experiments`
#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// Where the SVG plots (and results.md) go.
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Sizes of the random games, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,10,100,1000")]
    pub sizes: Vec<usize>,
    /// Iterations of the τ = 0.1 runs.
    #[arg(long, default_value_t = 2000)]
    pub iterations: usize,
    /// Iterations of the τ = 0 and small-τ runs.
    #[arg(long, default_value_t = 20_000)]
    pub long_iterations: usize,
    /// Also write the table's rows as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `prefer game bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Matrix size.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Iterations per timing.
    #[arg(long, default_value_t = 300)]
    pub iterations: usize,
    /// Timings per method (the best is kept).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Threads for the matrix product (default: rayon's, i.e. the CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `prefer game ...`.
pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Solve(a) => solve_cmd(&a),
        Command::Exact(a) => exact_cmd(&a),
        Command::Matrix(a) => matrix_cmd(&a),
        Command::Experiments(a) => experiments_cmd(&a),
        Command::Bench(a) => bench_cmd(&a),
    }
}

/// Reads the game from a matrix or a vote file.
fn load_game(g: &GameInput) -> anyhow::Result<Game> {
    let path = &g.file;
    let as_matrix = match g.input {
        InputKind::Matrix => true,
        InputKind::Votes => false,
        InputKind::Auto => is_matrix_file(path)?,
    };
    if as_matrix {
        if g.group_by.is_some() {
            bail!("--group-by applies to vote files; put groups in a JSON matrix file instead");
        }
        return Ok(read_game(path, g.sum_tol)?);
    }
    let battles = read_battles(path, &g.read)?;
    let opts = VoteMatrixOptions {
        prior: g.prior,
        group_by: g.group_by.map(|b| match b {
            GroupByArg::Judge => GroupBy::Judge,
            GroupByArg::User => GroupBy::User,
            GroupByArg::Language => GroupBy::Language,
            GroupByArg::Context => GroupBy::Context,
        }),
    };
    let vm = matrix_from_battles(&battles, &opts).with_context(|| path.display().to_string())?;
    if !vm.missing.is_empty() {
        let names = vm.game.names();
        let shown: Vec<String> = vm
            .missing
            .iter()
            .take(5)
            .map(|&(i, j)| format!("{} vs {}", names[i], names[j]))
            .collect();
        eprintln!(
            "note: {} pair(s) never compared, set to 0.5: {}{}",
            vm.missing.len(),
            shown.join(", "),
            if vm.missing.len() > 5 { ", ..." } else { "" }
        );
    }
    Ok(vm.game)
}

/// Battles from a vote file (K-wise votes become their pairs).
fn read_battles(path: &Path, read: &InputArgs) -> anyhow::Result<Vec<prefer_data::Battle>> {
    let mut out = Vec::new();
    for item in read.open(path)? {
        let item = item?;
        match item.record {
            Record::Battle(b) => out.push(b),
            Record::Kwise(k) => out.extend(prefer_data::convert::kwise_to_battles(&k)),
            other => bail!(
                "{}: holds {} records; a game needs battles (model_a, model_b, winner), K-wise \
                 votes, or a matrix",
                item.loc,
                other.shape().name()
            ),
        }
    }
    if out.is_empty() {
        bail!("{}: no votes", path.display());
    }
    Ok(out)
}

/// The method with its defaults and the flags; `--iterate` goes to
/// [`SolveOptions::iterate`], which every method honours or refuses.
fn build_method(a: &SolveArgs) -> Method {
    match a.method {
        MethodArg::NashMd => {
            let d = NashMdConfig::default();
            Method::NashMd(NashMdConfig {
                tau: a.tau.unwrap_or(d.tau),
                eta: a.eta.unwrap_or(d.eta),
                schedule: if a.decreasing {
                    Schedule::Decreasing
                } else {
                    Schedule::Constant
                },
            })
        }
        MethodArg::Egpo => {
            let d = EgpoConfig::default();
            Method::Egpo(EgpoConfig {
                tau: a.tau.unwrap_or(d.tau),
                eta: a.eta.unwrap_or(d.eta),
            })
        }
        MethodArg::Inpo => {
            let d = InpoConfig::default();
            Method::Inpo(InpoConfig {
                tau: a.tau.unwrap_or(d.tau),
                eta: a.eta.unwrap_or(d.eta),
                iterate: d.iterate,
            })
        }
        MethodArg::Sppo => {
            let d = SppoConfig::default();
            Method::Sppo(SppoConfig {
                eta: a.eta.unwrap_or(d.eta),
                iterate: d.iterate,
            })
        }
        MethodArg::Selfplay => {
            let d = SelfPlayConfig::default();
            Method::SelfPlay(SelfPlayConfig {
                eta: a.eta.unwrap_or(d.eta),
                iterate: d.iterate,
            })
        }
        MethodArg::Maxmin => {
            let d = MaxMinConfig::default();
            Method::MaxMin(MaxMinConfig {
                tau: a.tau.unwrap_or(d.tau),
                eta: a.eta.unwrap_or(d.eta),
                opponent: match a.opponent {
                    OpponentArg::Reference => Opponent::Reference,
                    OpponentArg::BestResponse => Opponent::BestResponse,
                },
                update: if a.worst_group {
                    MaxMinUpdate::WorstGroup
                } else {
                    MaxMinUpdate::Extragradient
                },
                iterate: d.iterate,
            })
        }
    }
}

fn fmt(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        format!("{v:.6}")
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), fmt)
}

fn print_policy(game: &Game, policy: &[f64], top: usize) {
    let mut idx: Vec<usize> = (0..policy.len()).collect();
    idx.sort_by(|&a, &b| policy[b].total_cmp(&policy[a]));
    let rows: Vec<Vec<String>> = idx
        .iter()
        .take(top)
        .enumerate()
        .map(|(r, &i)| {
            vec![
                (r + 1).to_string(),
                game.names()[i].clone(),
                format!("{:.6}", policy[i]),
            ]
        })
        .collect();
    print_table(&["rank", "response", "probability"], &rows);
    if policy.len() > top {
        let rest: f64 = idx[top..].iter().map(|&i| policy[i]).sum();
        println!(
            "... {} more responses with {:.6} in all",
            policy.len() - top,
            rest
        );
    }
}

fn reference(game: &Game, given: &Option<Vec<f64>>) -> anyhow::Result<Vec<f64>> {
    let n = game.n();
    Ok(match given {
        Some(r) => prefer_rank::game::check_policy("--reference", r, n)?,
        None => vec![1.0 / n as f64; n],
    })
}

fn solve_cmd(a: &SolveArgs) -> anyhow::Result<ExitCode> {
    let game = load_game(&a.game)?;
    let method = build_method(a);
    method.validate()?;
    let iterate = a.iterate.map(|i| match i {
        IterateArg::Last => Iterate::Last,
        IterateArg::Average => Iterate::Average,
    });
    if let Some(i) = iterate {
        // Before any exact reference is computed: refuse an unsupported iterate at once.
        method.check_iterate(i)?;
    }
    let tau = method.tau();
    let mu = reference(&game, &a.reference)?;
    let is_maxmin = matches!(method, Method::MaxMin(_));
    let (opponent, maxmin_tau) = match &method {
        Method::MaxMin(c) => (c.opponent, c.tau),
        _ => (Opponent::Reference, 0.0),
    };
    let equilibrium = if a.exact && tau > 0.0 && !is_maxmin {
        Some(exact::regularized_equilibrium(
            game.matrix(),
            tau,
            &mu,
            1e-12,
            50_000_000,
        )?)
    } else {
        None
    };
    let opts = SolveOptions {
        iterations: a.iterations,
        record_every: 0,
        reference: a.reference.clone(),
        init: a.init.clone(),
        feedback: a
            .votes
            .map_or(Feedback::Exact, |v| Feedback::Votes { votes: v }),
        seed: a.seed,
        tol: a.tol,
        stop_at_tol: a.stop_at_tol,
        iterate,
        equilibrium: equilibrium.clone(),
        stop_on_divergence: true,
    };
    let trace = solve(&game, &method, &opts)?;
    if let Some(p) = &a.plot {
        plot_trace(p, &trace, &method)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&trace)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} on {} responses{}: {} iterations{}",
        describe(&method, trace.iterate),
        game.n(),
        if game.groups().len() > 1 {
            format!(" ({} groups)", game.groups().len())
        } else {
            String::new()
        },
        trace.iterations,
        if trace.converged {
            format!(" (converged: target gap ≤ --tol = {})", fmt(a.tol))
        } else {
            format!(" (not converged: target gap > --tol = {})", fmt(a.tol))
        }
    );
    println!();
    print_policy(&game, &trace.policy, 20);
    println!();
    let last = trace.last().context("empty trace")?;
    println!(
        "exploitability max_y P(y ≻ π) − ½ = {}  (win rate against the best response {:.6})",
        fmt(last.exploitability),
        0.5 - last.exploitability
    );
    if let Some(r) = last.regularized {
        println!("regularized exploitability (τ = {tau}) = {}", fmt(r));
    }
    if let Some(g) = last.own_gap {
        println!("maxmin duality gap = {}", fmt(g));
    }
    if game.groups().len() > 1 {
        let vr = maxmin::group_values(&game, &mu, Opponent::Reference, &trace.policy);
        let vb = maxmin::group_values(&game, &mu, Opponent::BestResponse, &trace.policy);
        let rows: Vec<Vec<String>> = game
            .groups()
            .iter()
            .enumerate()
            .map(|(k, g)| {
                vec![
                    g.name.clone(),
                    format!("{:.3}", g.weight),
                    format!("{:.6}", vr[k]),
                    format!("{:.6}", vb[k]),
                ]
            })
            .collect();
        println!();
        print_table(
            &["group", "weight", "win rate vs μ", "vs best response"],
            &rows,
        );
    }
    if a.exact {
        println!();
        if is_maxmin {
            if maxmin_tau > 0.0 {
                println!("exact: the LP solves maxmin with τ = 0 only");
            } else {
                let lp = exact::maxmin_lp(&game, &mu, opponent)?;
                let got = maxmin::objective(&game, &mu, opponent, &trace.policy);
                println!(
                    "exact (LP): worst group's win rate {:.6}; this policy's {:.6}",
                    lp.value, got
                );
            }
        } else if let Some(eq) = &equilibrium {
            println!(
                "exact: KL(π*_τ ‖ π) = {}, ‖π − π*_τ‖₁ = {}",
                fmt(measure::kl(eq, &trace.policy)),
                fmt(measure::l1(eq, &trace.policy))
            );
        } else {
            let lp = exact::nash_lp(game.matrix())?;
            println!(
                "exact (LP): value {:.6}, ‖π − π_LP‖₁ = {} (the equilibrium may not be unique), LP policy's exploitability {}",
                lp.value,
                fmt(measure::l1(&lp.policy, &trace.policy)),
                fmt(measure::exploitability(game.matrix(), &lp.policy))
            );
        }
    }
    println!();
    let k = a.curve_rows.max(2);
    let pts = &trace.points;
    let picks: Vec<usize> = (0..k).map(|r| r * (pts.len() - 1) / (k - 1)).collect();
    let mut picks = picks;
    picks.dedup();
    let rows: Vec<Vec<String>> = picks
        .iter()
        .map(|&i| {
            let p = &pts[i];
            vec![
                p.iter.to_string(),
                fmt(p.exploitability),
                opt(p.regularized),
                opt(p.kl_to_equilibrium),
                opt(p.own_gap),
            ]
        })
        .collect();
    print_table(
        &[
            "iteration",
            "exploitability",
            "regularized",
            "KL to π*_τ",
            "maxmin gap",
        ],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}

/// The method's settings and the iterate its output policy is.
fn describe(m: &Method, iterate: Iterate) -> String {
    match m {
        Method::NashMd(c) => format!(
            "nash-md (τ = {}, η = {}, {} step, {iterate} iterate)",
            c.tau,
            c.eta,
            match c.schedule {
                Schedule::Constant => "constant",
                Schedule::Decreasing => "decreasing",
            }
        ),
        Method::Egpo(c) => format!("egpo (τ = {}, η = {}, {iterate} iterate)", c.tau, c.eta),
        Method::Inpo(c) => format!("inpo (τ = {}, η = {}, {iterate} iterate)", c.tau, c.eta),
        Method::Sppo(c) => format!("sppo (η = {}, {iterate} iterate)", c.eta),
        Method::SelfPlay(c) => format!("selfplay (η = {}/√t, {iterate} iterate)", c.eta),
        Method::MaxMin(c) => format!(
            "maxmin (τ = {}, η = {}, {:?}, {:?}, {iterate} iterate)",
            c.tau, c.eta, c.opponent, c.update
        ),
    }
}

fn plot_trace(path: &Path, trace: &Trace, method: &Method) -> anyhow::Result<()> {
    let mut series = vec![Series {
        name: "exploitability".into(),
        points: trace
            .points
            .iter()
            .map(|p| (p.iter as f64, p.exploitability.max(1e-16)))
            .collect(),
    }];
    type Metric = fn(&prefer_rank::game::Point) -> Option<f64>;
    let extra: [(&str, Metric); 3] = [
        ("regularized exploitability", |p| p.regularized),
        ("KL(π*_τ ‖ π)", |p| p.kl_to_equilibrium),
        ("maxmin gap", |p| p.own_gap),
    ];
    for (name, f) in extra {
        let points: Vec<(f64, f64)> = trace
            .points
            .iter()
            .filter_map(|p| f(p).map(|v| (p.iter as f64, v.max(1e-16))))
            .collect();
        if !points.is_empty() {
            series.push(Series {
                name: name.into(),
                points,
            });
        }
    }
    let chart = LineChart {
        title: describe(method, trace.iterate),
        x_label: "iteration".into(),
        y_label: "gap".into(),
        series,
        log_x: false,
        log_y: true,
    };
    line_chart(path, &chart).with_context(|| format!("plotting {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn exact_cmd(a: &ExactArgs) -> anyhow::Result<ExitCode> {
    let game = load_game(&a.game)?;
    let mu = reference(&game, &a.reference)?;
    if a.tau > 0.0 {
        let eq = exact::regularized_equilibrium(game.matrix(), a.tau, &mu, a.tol, 100_000_000)?;
        println!(
            "regularized equilibrium π*_τ (τ = {}), certified: regularized exploitability {} < {}",
            a.tau,
            fmt(measure::regularized_exploitability(
                game.matrix(),
                &eq,
                a.tau,
                &mu
            )),
            a.tol
        );
        println!(
            "its exploitability in the original game: {}",
            fmt(measure::exploitability(game.matrix(), &eq))
        );
        println!();
        print_policy(&game, &eq, 50);
    } else {
        let s = exact::zero_sum_lp(game.n(), game.n(), |i, j| game.matrix().get(i, j))?;
        println!(
            "Nash equilibrium by linear program: value {:.9} (row LP) / {:.9} (column LP); exploitability {}",
            s.value,
            s.col_value,
            fmt(measure::exploitability(game.matrix(), &s.row))
        );
        println!();
        print_policy(&game, &s.row, 50);
    }
    Ok(ExitCode::SUCCESS)
}

fn matrix_cmd(a: &MatrixArgs) -> anyhow::Result<ExitCode> {
    let game = load_game(&a.game)?;
    let csv = to_csv(&game);
    match &a.output {
        Some(p) => {
            write_atomic(p, csv.as_bytes())?;
            eprintln!("wrote {} ({} × {})", p.display(), game.n(), game.n());
        }
        None => print!("{csv}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn draw(dir: &Path, c: &Chart) -> anyhow::Result<()> {
    let chart = LineChart {
        title: c.title.clone(),
        x_label: c.x_label.clone(),
        y_label: c.y_label.clone(),
        series: c
            .curves
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: s.points.clone(),
            })
            .collect(),
        log_x: false,
        log_y: c.log_y,
    };
    let path = dir.join(&c.file);
    line_chart(&path, &chart).with_context(|| format!("plotting {}", path.display()))?;
    Ok(())
}

fn experiments_cmd(a: &ExperimentArgs) -> anyhow::Result<ExitCode> {
    let cfg = ExperimentConfig {
        iterations: a.iterations,
        long_iterations: a.long_iterations,
        sizes: a.sizes.clone(),
        ..Default::default()
    };
    std::fs::create_dir_all(&a.out_dir).with_context(|| a.out_dir.display().to_string())?;
    let report = experiments::run(&cfg)?;
    for c in &report.plots {
        draw(&a.out_dir, c)?;
    }
    let md = experiments::markdown(&report);
    write_atomic(&a.out_dir.join("results.md"), md.as_bytes())?;
    if let Some(j) = &a.json {
        write_atomic(j, serde_json::to_string_pretty(&report.rows)?.as_bytes())?;
    }
    print!("{md}");
    eprintln!(
        "wrote {} plots and results.md to {}",
        report.plots.len(),
        a.out_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn bench_cmd(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let rows = experiments::bench(a.n, a.iterations, a.repeats, 0, a.threads)?;
    if a.json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| vec![r.method.clone(), format!("{:.1}", r.per_second)])
            .collect();
        print_table(&["method", "iterations/s"], &table);
    }
    Ok(ExitCode::SUCCESS)
}
