//! The experiments of `docs/games.md`: the papers' claims on tabular games, reproduced
//! with our solvers, as a table and SVG curves (`prefer game experiments`).
//!
//! - **rps**: rock-paper-scissors, original game (`τ = 0`): extragradient's last iterate
//!   converges, multiplicative weights' (SPPO, and Nash-MD / INPO at `τ = 0`, which are
//!   the same update) cycles; averages converge at `O(1/√T)`.
//! - **rps-reg** and **random-n**: the KL-regularized game (`τ = 0.1`) of RPS and of
//!   random intransitive matrices (3 to 1,000 responses): the rate at which
//!   `KL(π*_τ‖π_t)` shrinks, for EGPO, INPO and Nash-MD; and the original game (`τ = 0`).
//! - **transitive**: a Bradley-Terry matrix: every method finds the Condorcet winner
//!   (`τ = 0`) and the same `π*_τ` (`τ > 0`).
//! - **maxmin**: two groups; the population's Nash policy against MaxMin's.
//! - **noise**: matrices estimated from `N` votes per pair, and win rates observed
//!   through `K` sampled votes per query.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use super::egpo::EgpoConfig;
use super::exact::{maxmin_lp, nash_lp, regularized_equilibrium};
use super::inpo::InpoConfig;
use super::maxmin::{self, MaxMinConfig, Opponent};
use super::measure::{exploitability, l1};
use super::nash_md::{NashMdConfig, Schedule};
use super::selfplay::SelfPlayConfig;
use super::sppo::SppoConfig;
use super::votes::sample_matrix;
use super::{Feedback, Game, Group, Iterate, Method, PrefMatrix, SolveOptions, Trace, solve};
use crate::Result;

/// Rock-paper-scissors (rock, paper, scissors).
///
/// # Errors
/// Never (the entries are constants in \[0, 1\]).
pub fn rps() -> Result<PrefMatrix> {
    PrefMatrix::from_upper(3, |i, j| match (i, j) {
        (0, 1) => 0.0,
        (0, 2) => 1.0,
        _ => 0.0,
    })
}

/// A random intransitive matrix: `P_ij ~ U(0, 1)` for `i < j` (the EGPO paper's
/// simulation).
pub fn random_intransitive(n: usize, seed: u64) -> Result<PrefMatrix> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    PrefMatrix::from_upper(n, |_, _| rng.random::<f64>())
}

/// A Bradley-Terry matrix `P_ij = σ(r_i − r_j)`, `r ~ N(0, spread²)`; returns the
/// matrix and `r`.
pub fn bradley_terry(n: usize, spread: f64, seed: u64) -> Result<(PrefMatrix, Vec<f64>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let r: Vec<f64> = (0..n)
        .map(|_| spread * rng.sample::<f64, _>(StandardNormal))
        .collect();
    let m = PrefMatrix::from_upper(n, |i, j| 1.0 / (1.0 + (r[j] - r[i]).exp()))?;
    Ok((m, r))
}

/// The two-group example: responses A, B, C, D; the majority (80%) ranks A ≻ D ≻ B ≻ C,
/// the minority (20%) prefers D and C and dislikes A. On average A beats every other
/// response (it is the population's Condorcet winner), yet the minority rates it last.
pub fn two_groups() -> Result<Game> {
    let maj = PrefMatrix::from_upper(4, |i, j| {
        [
            [0.0, 0.9, 0.95, 0.65],
            [0.0, 0.0, 0.7, 0.2],
            [0.0, 0.0, 0.0, 0.1],
        ][i][j]
    })?;
    let min = PrefMatrix::from_upper(4, |i, j| {
        [
            [0.0, 0.4, 0.05, 0.1],
            [0.0, 0.0, 0.2, 0.2],
            [0.0, 0.0, 0.0, 0.45],
        ][i][j]
    })?;
    Game::from_groups(
        ["A", "B", "C", "D"].map(String::from).to_vec(),
        vec![
            Group {
                name: "majority".into(),
                weight: 0.8,
                matrix: maj,
            },
            Group {
                name: "minority".into(),
                weight: 0.2,
                matrix: min,
            },
        ],
    )
}

/// A random full-support policy `softmax(z)`, `z ~ N(0, 1)` (the EGPO simulations'
/// random initialization).
pub fn random_policy(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let z: Vec<f64> = (0..n)
        .map(|_| rng.sample::<f64, _>(StandardNormal))
        .collect();
    let mut p = vec![0.0; n];
    super::measure::softmax_into(&z, &mut p);
    p
}

/// Experiment settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Iterations of the regularized runs with `τ = 0.1` (default 2,000).
    pub iterations: usize,
    /// Iterations of the original-game (`τ = 0`) and small-`τ` runs (default 20,000).
    pub long_iterations: usize,
    /// Sizes of the random intransitive games (default 3, 10, 100, 1,000).
    pub sizes: Vec<usize>,
    /// Regularization of the main regularized runs (default 0.1).
    pub tau: f64,
    /// Step size shared by the methods (default 0.5).
    pub eta: f64,
    /// The LP reference is computed up to this many responses (default 200).
    pub lp_max_n: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            iterations: 2000,
            long_iterations: 20_000,
            sizes: vec![3, 10, 100, 1000],
            tau: 0.1,
            eta: 0.5,
            lp_max_n: 200,
            seed: 0,
        }
    }
}

/// One line of the results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The experiment.
    pub experiment: String,
    /// The method and its settings.
    pub method: String,
    /// What `value` measures.
    pub metric: String,
    /// The metric at the first recorded point.
    pub start: f64,
    /// The metric at the end.
    pub value: f64,
    /// Per-iteration contraction factor of the metric over the last half (below 1:
    /// linear convergence), when measurable.
    pub rate: Option<f64>,
    /// First iteration where the metric fell below 1e-6.
    pub iters_to_1e6: Option<usize>,
    /// Anything else worth saying.
    pub note: String,
}

/// One curve of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Legend label.
    pub name: String,
    /// `(iteration, value)` points; values are floored at [`LOG_FLOOR`] so that curves
    /// reaching 0 stay visible on a log axis.
    pub points: Vec<(f64, f64)>,
}

/// A chart to draw (the CLI renders it with `prefer-plot`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    /// File name, e.g. `rps-tau0.svg`.
    pub file: String,
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// The curves.
    pub curves: Vec<Curve>,
    /// Logarithmic y axis.
    pub log_y: bool,
}

/// Values below this are drawn at it on log axes.
pub const LOG_FLOOR: f64 = 1e-16;

/// The results: table rows and charts.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The table.
    pub rows: Vec<Row>,
    /// The charts.
    pub plots: Vec<Chart>,
}

fn chart(file: String, title: String, y_label: &str, curves: Vec<Curve>) -> Chart {
    Chart {
        file,
        title,
        x_label: "iteration".into(),
        y_label: y_label.into(),
        curves,
        log_y: true,
    }
}

/// Round-off floor for rates: below it a metric is numerical noise.
const RATE_FLOOR: f64 = 1e-11;

fn metric_of(name: &str) -> impl Fn(&super::Point) -> Option<f64> + '_ {
    move |p| match name {
        "kl" => p.kl_to_equilibrium,
        "own-gap" => p.own_gap,
        _ => Some(p.exploitability),
    }
}

fn row(experiment: &str, label: &str, metric: &str, tr: &Trace, note: String) -> Row {
    let f = metric_of(metric);
    let start = tr.points.first().and_then(&f).unwrap_or(f64::NAN);
    let value = tr.last().and_then(&f).unwrap_or(f64::NAN);
    let iters = tr
        .points
        .iter()
        .find(|p| f(p).is_some_and(|v| v < 1e-6))
        .map(|p| p.iter);
    Row {
        experiment: experiment.into(),
        method: label.into(),
        metric: metric.into(),
        start,
        value,
        rate: tr.rate(&f, RATE_FLOOR),
        iters_to_1e6: iters,
        note,
    }
}

/// The curve of `metric` (`exploitability`, `kl`, `own-gap`) along a trace.
pub fn curve(label: &str, tr: &Trace, metric: &str) -> Curve {
    let f = metric_of(metric);
    Curve {
        name: label.into(),
        points: tr
            .points
            .iter()
            .filter_map(|p| f(p).map(|v| (p.iter as f64, v.max(LOG_FLOOR))))
            .collect(),
    }
}

/// The τ = 0 methods: extragradient against multiplicative weights and the averages.
fn unregularized_methods(eta: f64) -> Vec<(String, Method)> {
    vec![
        (
            format!("egpo τ=0 η={eta}"),
            Method::Egpo(EgpoConfig { tau: 0.0, eta }),
        ),
        (
            format!("sppo (= MWU, nash-md/inpo at τ=0) last η={eta}"),
            Method::Sppo(SppoConfig {
                eta,
                iterate: Iterate::Last,
            }),
        ),
        (
            format!("sppo average η={eta}"),
            Method::Sppo(SppoConfig {
                eta,
                iterate: Iterate::Average,
            }),
        ),
        (
            "selfplay average η=1/√t".into(),
            Method::SelfPlay(SelfPlayConfig::default()),
        ),
    ]
}

/// A step size for labels: 3 significant decimals, no trailing zeros.
fn short(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The τ > 0 methods.
fn regularized_methods(tau: f64, eta: f64) -> Vec<(String, Method)> {
    let eta_s = short(eta);
    vec![
        (
            format!("egpo τ={tau} η={eta_s}"),
            Method::Egpo(EgpoConfig { tau, eta }),
        ),
        (
            format!("inpo τ={tau} η={eta_s}"),
            Method::Inpo(InpoConfig {
                tau,
                eta,
                iterate: Iterate::Last,
            }),
        ),
        (
            format!("nash-md τ={tau} η={eta_s}"),
            Method::NashMd(NashMdConfig {
                tau,
                eta,
                schedule: Schedule::Constant,
            }),
        ),
        (
            format!("nash-md τ={tau} η_t=min(η,2/(τ(t+2)))"),
            Method::NashMd(NashMdConfig {
                tau,
                eta,
                schedule: Schedule::Decreasing,
            }),
        ),
    ]
}

/// The original game (`τ = 0`): exploitability of each method's output.
fn unregularized(
    name: &str,
    p: &PrefMatrix,
    cfg: &ExperimentConfig,
    report: &mut Report,
    plot: bool,
) -> Result<()> {
    let n = p.n();
    let game = Game::new(p.clone());
    let init = random_policy(n, cfg.seed + 2);
    let lp = if n <= cfg.lp_max_n {
        Some(nash_lp(p)?)
    } else {
        None
    };
    let mut curves = Vec::new();
    for (label, m) in unregularized_methods(cfg.eta) {
        let opts = SolveOptions {
            iterations: cfg.long_iterations,
            init: Some(init.clone()),
            stop_on_divergence: false,
            ..Default::default()
        };
        let tr = solve(&game, &m, &opts)?;
        let note = lp.as_ref().map_or(String::new(), |lp| {
            format!("‖π − π_LP‖₁ = {:.1e}", l1(&tr.policy, &lp.policy))
        });
        report
            .rows
            .push(row(name, &label, "exploitability", &tr, note));
        curves.push(curve(&label, &tr, "exploitability"));
    }
    if plot {
        report.plots.push(chart(
            format!("{name}-tau0.svg"),
            format!("{name}: original game (τ = 0), n = {n}"),
            "exploitability max_y P(y ≻ π) − ½",
            curves,
        ));
    }
    Ok(())
}

/// The KL-regularized game: `KL(π*_τ‖π_t)` for EGPO, INPO and Nash-MD at one `(τ, η)`.
#[allow(clippy::too_many_arguments)]
fn regularized(
    name: &str,
    p: &PrefMatrix,
    tau: f64,
    eta: f64,
    iterations: usize,
    cfg: &ExperimentConfig,
    report: &mut Report,
    plot: bool,
) -> Result<()> {
    let n = p.n();
    let game = Game::new(p.clone());
    let mu = random_policy(n, cfg.seed + 1);
    let init = random_policy(n, cfg.seed + 2);
    let eq = regularized_equilibrium(p, tau, &mu, 1e-14, 100_000_000)?;
    let mut curves = Vec::new();
    for (label, m) in regularized_methods(tau, eta) {
        let opts = SolveOptions {
            iterations,
            reference: Some(mu.clone()),
            init: Some(init.clone()),
            equilibrium: Some(eq.clone()),
            stop_on_divergence: false,
            ..Default::default()
        };
        let tr = solve(&game, &m, &opts)?;
        let e = exploitability(p, &tr.policy);
        let note = match &m {
            Method::Egpo(c) => format!(
                "theory: rate ≤ 1 − ητ = {:.4}; exploitability in the τ = 0 game {e:.1e}",
                1.0 - c.eta * c.tau
            ),
            _ => format!("exploitability in the τ = 0 game {e:.1e}"),
        };
        report
            .rows
            .push(row(&format!("{name} τ={tau}"), &label, "kl", &tr, note));
        curves.push(curve(&label, &tr, "kl"));
    }
    if plot {
        report.plots.push(chart(
            format!("{name}-tau{tau}.svg"),
            format!(
                "{name}: KL-regularized game (τ = {tau}, η = {}), n = {n}",
                short(eta)
            ),
            "KL(π*_τ ‖ π_t)",
            curves,
        ));
    }
    Ok(())
}

fn transitive(cfg: &ExperimentConfig, report: &mut Report) -> Result<()> {
    let n = 20;
    let (p, r) = bradley_terry(n, 1.0, cfg.seed + 3)?;
    let winner = r
        .iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, &x)| if x > b.1 { (i, x) } else { b },
        )
        .0;
    let game = Game::new(p.clone());
    let init = random_policy(n, cfg.seed + 4);
    let lp = nash_lp(&p)?;
    report.rows.push(Row {
        experiment: "transitive".into(),
        method: "LP".into(),
        metric: "exploitability".into(),
        start: f64::NAN,
        value: exploitability(&p, &lp.policy),
        rate: None,
        iters_to_1e6: None,
        note: format!("π_LP(Condorcet winner) = {:.6}", lp.policy[winner]),
    });
    for (label, m) in unregularized_methods(cfg.eta) {
        let opts = SolveOptions {
            iterations: cfg.iterations,
            init: Some(init.clone()),
            stop_on_divergence: false,
            ..Default::default()
        };
        let tr = solve(&game, &m, &opts)?;
        let note = format!("π(Condorcet winner) = {:.4}", tr.policy[winner]);
        report
            .rows
            .push(row("transitive", &label, "exploitability", &tr, note));
    }
    let mu = vec![1.0 / n as f64; n];
    let eq = regularized_equilibrium(&p, cfg.tau, &mu, 1e-14, 10_000_000)?;
    for (label, m) in regularized_methods(cfg.tau, cfg.eta) {
        let opts = SolveOptions {
            iterations: cfg.iterations,
            init: Some(init.clone()),
            equilibrium: Some(eq.clone()),
            stop_on_divergence: false,
            ..Default::default()
        };
        let tr = solve(&game, &m, &opts)?;
        let note = format!(
            "π(winner) = {:.4} (π*_τ: {:.4})",
            tr.policy[winner], eq[winner]
        );
        report.rows.push(row("transitive", &label, "kl", &tr, note));
    }
    Ok(())
}

fn maxmin_experiment(cfg: &ExperimentConfig, report: &mut Report) -> Result<()> {
    let game = two_groups()?;
    let n = game.n();
    let mu = vec![1.0 / n as f64; n];
    let nash = nash_lp(game.matrix())?;
    let describe = |pi: &[f64]| {
        let vr = maxmin::group_values(&game, &mu, Opponent::Reference, pi);
        let vb = maxmin::group_values(&game, &mu, Opponent::BestResponse, pi);
        let policy: Vec<String> = pi.iter().map(|x| format!("{x:.3}")).collect();
        format!(
            "π = ({}); vs μ: majority {:.3}, minority {:.3}; vs best response: majority {:.3}, minority {:.3}",
            policy.join(", "),
            vr[0],
            vr[1],
            vb[0],
            vb[1]
        )
    };
    report.rows.push(Row {
        experiment: "maxmin".into(),
        method: "population Nash (LP)".into(),
        metric: "minority win rate vs μ".into(),
        start: f64::NAN,
        value: maxmin::group_values(&game, &mu, Opponent::Reference, &nash.policy)[1],
        rate: None,
        iters_to_1e6: None,
        note: describe(&nash.policy),
    });
    for opponent in [Opponent::Reference, Opponent::BestResponse] {
        let lp = maxmin_lp(&game, &mu, opponent)?;
        let m = Method::MaxMin(MaxMinConfig {
            opponent,
            eta: 2.0,
            ..Default::default()
        });
        let opts = SolveOptions {
            iterations: cfg.iterations.max(5000),
            stop_on_divergence: false,
            ..Default::default()
        };
        let tr = solve(&game, &m, &opts)?;
        let label = format!(
            "maxmin vs {}",
            match opponent {
                Opponent::Reference => "μ",
                Opponent::BestResponse => "best response",
            }
        );
        let mut r = row("maxmin", &label, "own-gap", &tr, describe(&tr.policy));
        r.note = format!("{}; LP optimum {:.4}", r.note, lp.value);
        report.rows.push(r);
    }
    Ok(())
}

fn noise(cfg: &ExperimentConfig, report: &mut Report) -> Result<()> {
    let n = 20;
    let p = random_intransitive(n, cfg.seed + 5)?;
    let game = Game::new(p.clone());
    let mu = vec![1.0 / n as f64; n];
    // (a) A matrix estimated from N votes per pair, solved exactly; judged under true P.
    for votes in [10u64, 100, 1000, 10_000] {
        let est = sample_matrix(&p, votes, cfg.seed + votes)?;
        let lp = nash_lp(&est)?;
        let e = exploitability(&p, &lp.policy);
        let tau = 0.01;
        let reg = regularized_equilibrium(&est, tau, &mu, 1e-12, 100_000_000)?;
        let e_reg = exploitability(&p, &reg);
        report.rows.push(Row {
            experiment: "noise: estimated P".into(),
            method: format!("LP on P̂ from {votes} votes/pair"),
            metric: "exploitability under P".into(),
            start: f64::NAN,
            value: e,
            rate: None,
            iters_to_1e6: None,
            note: format!(
                "√(1/votes) = {:.3}; the τ = 0.01 equilibrium of P̂ (EGPO's target): {e_reg:.4}",
                1.0 / (votes as f64).sqrt()
            ),
        });
    }
    // (b) Win rates observed through K sampled votes per query (paper 27's noisy setting).
    let tau = cfg.tau;
    let eq = regularized_equilibrium(&p, tau, &mu, 1e-14, 10_000_000)?;
    let mut curves = Vec::new();
    for k in [10usize, 100, 1000] {
        for (label, m) in regularized_methods(tau, cfg.eta) {
            let opts = SolveOptions {
                iterations: cfg.iterations,
                init: Some(random_policy(n, cfg.seed + 6)),
                feedback: Feedback::Votes { votes: k },
                seed: cfg.seed + k as u64,
                equilibrium: Some(eq.clone()),
                stop_on_divergence: false,
                ..Default::default()
            };
            let tr = solve(&game, &m, &opts)?;
            // The noise floor: the median KL over the last quarter of the run.
            let mut tail: Vec<f64> = tr.points[tr.points.len() * 3 / 4..]
                .iter()
                .filter_map(|p| p.kl_to_equilibrium)
                .collect();
            tail.sort_by(f64::total_cmp);
            let floor = tail.get(tail.len() / 2).copied().unwrap_or(f64::NAN);
            let mut r = row(
                "noise: sampled votes",
                &format!("{label}, K={k}"),
                "kl",
                &tr,
                String::new(),
            );
            r.note = format!("median KL over the last quarter {floor:.2e}");
            r.rate = None;
            report.rows.push(r);
            if k == 100 {
                curves.push(curve(&label, &tr, "kl"));
            }
        }
    }
    report.plots.push(chart(
        "noise.svg".into(),
        format!("noisy win rates (K = 100 votes per query), n = {n}, τ = {tau}"),
        "KL(π*_τ ‖ π_t)",
        curves,
    ));
    Ok(())
}

/// Runs every experiment.
///
/// # Errors
/// A solver or LP failure.
pub fn run(cfg: &ExperimentConfig) -> Result<Report> {
    let mut report = Report::default();
    let rps = rps()?;
    unregularized("rps", &rps, cfg, &mut report, true)?;
    regularized(
        "rps",
        &rps,
        cfg.tau,
        cfg.eta,
        cfg.iterations,
        cfg,
        &mut report,
        true,
    )?;
    let largest = cfg.sizes.iter().copied().max().unwrap_or(0);
    for &n in &cfg.sizes {
        let p = random_intransitive(n, cfg.seed + n as u64)?;
        let name = format!("random-{n}");
        unregularized(&name, &p, cfg, &mut report, n == largest)?;
        regularized(
            &name,
            &p,
            cfg.tau,
            cfg.eta,
            cfg.iterations,
            cfg,
            &mut report,
            n == largest,
        )?;
    }
    // Small τ (close to the original game): each method at EGPO's guaranteed step.
    let n = 100;
    let p = random_intransitive(n, cfg.seed + n as u64)?;
    for tau in [0.01, 0.001] {
        let eta = super::egpo::stable_eta(tau, p.max_skew());
        regularized(
            &format!("random-{n}"),
            &p,
            tau,
            eta,
            cfg.long_iterations,
            cfg,
            &mut report,
            true,
        )?;
    }
    transitive(cfg, &mut report)?;
    maxmin_experiment(cfg, &mut report)?;
    noise(cfg, &mut report)?;
    Ok(report)
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 || v.abs() >= 1e4 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// The table as Markdown.
pub fn markdown(report: &Report) -> String {
    let mut s = String::from(
        "| experiment | method | metric | start | end | rate/iter | iters to 1e-6 | note |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in &report.rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.experiment,
            r.method,
            r.metric,
            fmt_num(r.start),
            fmt_num(r.value),
            r.rate.map_or("–".into(), |x| format!("{x:.4}")),
            r.iters_to_1e6.map_or("–".into(), |x| x.to_string()),
            r.note
        ));
    }
    s
}

/// One benchmark figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// The method (or `matvec` for one product `P q`).
    pub method: String,
    /// Iterations (or products) per second.
    pub per_second: f64,
}

/// Iterations per second of each method's update (exact feedback) on a random
/// intransitive `n × n` matrix, and products `P q` per second; each figure is the best
/// of `repeats` timings of `iterations` steps. `threads` sets the threads of the matrix
/// product (default: rayon's global pool).
///
/// # Errors
/// A solver failure, or a thread pool that cannot be built.
pub fn bench(
    n: usize,
    iterations: usize,
    repeats: usize,
    seed: u64,
    threads: Option<usize>,
) -> Result<Vec<BenchRow>> {
    match threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .map_err(|e| crate::Error::Config(format!("cannot start {t} threads: {e}")))?
            .install(|| bench_in_pool(n, iterations, repeats, seed)),
        None => bench_in_pool(n, iterations, repeats, seed),
    }
}

fn bench_in_pool(n: usize, iterations: usize, repeats: usize, seed: u64) -> Result<Vec<BenchRow>> {
    let p = random_intransitive(n, seed)?;
    let game = Game::new(p.clone());
    let q = random_policy(n, seed + 1);
    let mut out = vec![0.0; n];
    let mut rows = Vec::new();
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = std::time::Instant::now();
        for _ in 0..iterations {
            p.mul(&q, &mut out);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    rows.push(BenchRow {
        method: "matvec".into(),
        per_second: iterations as f64 / best,
    });
    let methods = [
        Method::Egpo(EgpoConfig::default()),
        Method::Inpo(InpoConfig::default()),
        Method::NashMd(NashMdConfig::default()),
        Method::Sppo(SppoConfig::default()),
        Method::SelfPlay(SelfPlayConfig::default()),
    ];
    for m in methods {
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            best = best.min(super::time_steps(&game, &m, iterations)?.as_secs_f64());
        }
        rows.push(BenchRow {
            method: m.name().into(),
            per_second: iterations as f64 / best,
        });
    }
    Ok(rows)
}
