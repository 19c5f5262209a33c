//! Tabular preference games: solvers for the Nash equilibrium (minimax winner) of the
//! two-player constant-sum game a preference matrix defines.
//!
//! A preference over `n` responses is a matrix `P` with `P[i][j] = P(i ≻ j)` and
//! `P + Pᵀ = 1`. It need not be transitive (rock-paper-scissors is not), so there may be
//! no best response; the target is instead the policy `π*` that no other policy beats:
//! `P(π* ≻ π') ≥ ½` for every `π'`, the Nash equilibrium of the symmetric game with payoff
//! `P(π ≻ π') = πᵀ P π'` (the minimax winner of social choice, paper 20). With a reference
//! policy `μ` and a regularization `τ > 0` the game becomes
//! `P(π ≻ π') − τ KL(π‖μ) + τ KL(π'‖μ)` (paper 26), whose unique equilibrium `π*_τ`
//! satisfies `π*_τ ∝ μ · exp(P π*_τ / τ)`.
//!
//! Solvers (one file each; paper numbers refer to `../shared/seeds/papers.txt`):
//!
//! | [`Method`] | update | paper |
//! |---|---|---|
//! | [`Method::NashMd`] | mirror descent against the geometric mixture `π_t^{1−ητ} μ^{ητ}` | 26 |
//! | [`Method::Egpo`] | extragradient on the KL-regularized game | 27 |
//! | [`Method::Inpo`] | online mirror descent (no-regret) self-play | 48 |
//! | [`Method::Sppo`] | multiplicative weights on the win rate against `π_t` | 29 |
//! | [`Method::SelfPlay`] | follow-the-regularized-leader on win proportions, averaged | 20 |
//! | [`Method::MaxMin`] | the policy maximizing the worst group's win rate | 41 |
//!
//! Exact references are in [`exact`] (a linear program, and the regularized equilibrium
//! with a certificate); the measures in [`measure`].
//!
//! # Quickstart
//!
//! ```
//! use prefer_rank::game::{self, Game, Method, PrefMatrix, SolveOptions, egpo::EgpoConfig};
//! // Rock-paper-scissors: the equilibrium is uniform.
//! let p = PrefMatrix::from_rows(
//!     &[vec![0.5, 0.0, 1.0], vec![1.0, 0.5, 0.0], vec![0.0, 1.0, 0.5]],
//!     None,
//!     game::matrix::DEFAULT_SUM_TOL,
//! )?;
//! let game = Game::new(p);
//! let method = Method::Egpo(EgpoConfig { tau: 0.0, eta: 0.5 });
//! let opts = SolveOptions { iterations: 2000, init: Some(vec![0.6, 0.3, 0.1]), ..Default::default() };
//! let trace = game::solve(&game, &method, &opts)?;
//! assert!(trace.policy.iter().all(|p| (p - 1.0 / 3.0).abs() < 1e-6));
//! # Ok::<(), prefer_rank::Error>(())
//! ```

pub mod egpo;
pub mod exact;
pub mod experiments;
pub mod inpo;
pub mod io;
pub mod matrix;
pub mod maxmin;
pub mod measure;
pub mod nash_md;
pub mod oracle;
pub mod selfplay;
pub mod sppo;
pub mod votes;

use serde::{Deserialize, Serialize};

pub use matrix::{Payoff, PrefMatrix};
pub use oracle::{Feedback, Oracle};
pub use votes::{VoteMatrix, VoteMatrixOptions, matrix_from_battles};

use crate::{Error, Result};

/// One preference matrix of a population, with its share (MaxMin's groups).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Its share of the population (weights are normalized to sum to 1).
    pub weight: f64,
    /// Its preferences.
    pub matrix: PrefMatrix,
}

/// A preference game: named responses, one or more groups' matrices and the population
/// matrix (their weighted average).
#[derive(Debug, Clone, PartialEq)]
pub struct Game {
    names: Vec<String>,
    groups: Vec<Group>,
    mean: PrefMatrix,
}

impl Game {
    /// A one-group game; responses are named `1..n`.
    pub fn new(matrix: PrefMatrix) -> Self {
        let names = (1..=matrix.n()).map(|i| i.to_string()).collect();
        Self {
            names,
            groups: vec![Group {
                name: "all".into(),
                weight: 1.0,
                matrix: matrix.clone(),
            }],
            mean: matrix,
        }
    }

    /// A one-group game with names.
    ///
    /// # Errors
    /// The number of names differs from the matrix size.
    pub fn with_names(matrix: PrefMatrix, names: Vec<String>) -> Result<Self> {
        if names.len() != matrix.n() {
            return Err(Error::Invalid(format!(
                "{} names for {} responses",
                names.len(),
                matrix.n()
            )));
        }
        let mut g = Self::new(matrix);
        g.names = names;
        Ok(g)
    }

    /// A game of several groups over the same responses; the population matrix is the
    /// weighted average.
    ///
    /// # Errors
    /// No groups, sizes that differ, names of the wrong length, or bad weights.
    pub fn from_groups(names: Vec<String>, mut groups: Vec<Group>) -> Result<Self> {
        let Some(first) = groups.first() else {
            return Err(Error::Invalid("a game needs at least one group".into()));
        };
        let n = first.matrix.n();
        if names.len() != n {
            return Err(Error::Invalid(format!(
                "{} names for {n} responses",
                names.len()
            )));
        }
        for g in &groups {
            if g.matrix.n() != n {
                return Err(Error::Invalid(format!(
                    "group `{}` has {} responses, the first group {n}",
                    g.name,
                    g.matrix.n()
                )));
            }
            if !(g.weight.is_finite() && g.weight >= 0.0) {
                return Err(Error::Invalid(format!(
                    "group `{}` has weight {}; weights must be finite and non-negative",
                    g.name, g.weight
                )));
            }
        }
        let total: f64 = groups.iter().map(|g| g.weight).sum();
        if total.is_nan() || total <= 0.0 {
            return Err(Error::Invalid("group weights sum to zero".into()));
        }
        for g in &mut groups {
            g.weight /= total;
        }
        let parts: Vec<(&PrefMatrix, f64)> = groups.iter().map(|g| (&g.matrix, g.weight)).collect();
        let mean = PrefMatrix::mix(&parts)?;
        Ok(Self {
            names,
            groups,
            mean,
        })
    }

    /// Number of responses.
    pub fn n(&self) -> usize {
        self.mean.n()
    }

    /// Response names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The population preference matrix.
    pub fn matrix(&self) -> &PrefMatrix {
        &self.mean
    }

    /// The groups (one for a plain matrix).
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }
}

/// One iterative solver: a state advanced by [`GameSolver::step`].
pub trait GameSolver {
    /// One iteration, querying win rates from `oracle`.
    ///
    /// # Errors
    /// A numeric failure (non-finite values).
    fn step(&mut self, oracle: &mut Oracle<'_>) -> Result<()>;

    /// The policy the method outputs now: its last iterate, or the running average of its
    /// iterates, as the run's [`Iterate`] asks.
    fn policy(&self) -> &[f64];

    /// A duality gap of the method's own game when it is not the symmetric game of the
    /// population matrix (MaxMin); `None` otherwise.
    fn own_gap(&self, _game: &Game) -> Option<f64> {
        None
    }
}

/// Which iterate a method outputs.
///
/// Each method accepts only the iterates its paper proves something about or its
/// algorithm outputs ([`Method::iterates`], with the reasons in each config's docs); asking
/// for another is an [`Error::Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Iterate {
    /// The current policy `π_t`.
    #[default]
    Last,
    /// The running average `(1/t) Σ_{s=1..t} π_s` of the policies (not of their logits):
    /// the no-regret guarantee's output.
    Average,
}

impl Iterate {
    /// The name as the CLI and the serialized configs spell it.
    pub fn name(self) -> &'static str {
        match self {
            Iterate::Last => "last",
            Iterate::Average => "average",
        }
    }
}

impl std::fmt::Display for Iterate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The solver families, each with its own configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Method {
    /// Nash-MD (paper 26).
    NashMd(nash_md::NashMdConfig),
    /// Extragradient preference optimization (paper 27).
    Egpo(egpo::EgpoConfig),
    /// Iterative Nash policy optimization, online mirror descent (paper 48).
    Inpo(inpo::InpoConfig),
    /// Self-play preference optimization, multiplicative weights (paper 29).
    Sppo(sppo::SppoConfig),
    /// Self-play for the minimax winner (paper 20).
    #[serde(rename = "selfplay")]
    SelfPlay(selfplay::SelfPlayConfig),
    /// MaxMin over groups (paper 41).
    #[serde(rename = "maxmin")]
    MaxMin(maxmin::MaxMinConfig),
}

/// The state of one method during a solve (one lives per solve: size does not matter).
#[allow(clippy::large_enum_variant)]
enum Running {
    NashMd(nash_md::NashMd),
    Egpo(egpo::Egpo),
    Inpo(inpo::Inpo),
    Sppo(sppo::Sppo),
    SelfPlay(selfplay::SelfPlay),
    MaxMin(maxmin::MaxMin),
}

impl Running {
    fn solver(&mut self) -> &mut dyn GameSolver {
        match self {
            Running::NashMd(s) => s,
            Running::Egpo(s) => s,
            Running::Inpo(s) => s,
            Running::Sppo(s) => s,
            Running::SelfPlay(s) => s,
            Running::MaxMin(s) => s,
        }
    }
}

/// What the solve loop needs to know about a method, from its config.
struct Traits {
    name: &'static str,
    tau: f64,
    eta: f64,
    /// The step size below which the method's theory guarantees decrease, if any.
    stable_eta: Option<f64>,
    /// Whether the target gap is expected to decrease (last-iterate guarantee).
    expects_decrease: bool,
}

impl Method {
    /// The method's name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        self.traits(1.0).name
    }

    /// The defaults of the method called `name` (`nash-md`, `egpo`, `inpo`, `sppo`,
    /// `selfplay`, `maxmin`).
    pub fn from_name(name: &str) -> Option<Method> {
        Some(match name {
            "nash-md" => Method::NashMd(Default::default()),
            "egpo" => Method::Egpo(Default::default()),
            "inpo" => Method::Inpo(Default::default()),
            "sppo" => Method::Sppo(Default::default()),
            "selfplay" => Method::SelfPlay(Default::default()),
            "maxmin" => Method::MaxMin(Default::default()),
            _ => return None,
        })
    }

    /// All method names.
    pub const NAMES: [&'static str; 6] = ["nash-md", "egpo", "inpo", "sppo", "selfplay", "maxmin"];

    /// The regularization `τ` of the game the method solves (0: the original game).
    pub fn tau(&self) -> f64 {
        self.traits(1.0).tau
    }

    /// Checks the configuration, its output iterate included.
    ///
    /// # Errors
    /// A parameter out of range, or an iterate the method does not support, saying which
    /// and why.
    pub fn validate(&self) -> Result<()> {
        match self {
            Method::NashMd(c) => c.validate(),
            Method::Egpo(c) => c.validate(),
            Method::Inpo(c) => c.validate(),
            Method::Sppo(c) => c.validate(),
            Method::SelfPlay(c) => c.validate(),
            Method::MaxMin(c) => c.validate(),
        }?;
        self.check_iterate(self.iterate())
    }

    /// The iterates the method can output: those its paper proves a guarantee for or its
    /// algorithm outputs (the arguments are in each config's docs; [`Method::check_iterate`]
    /// says why another is refused).
    pub fn iterates(&self) -> &'static [Iterate] {
        match self {
            Method::NashMd(_)
            | Method::Inpo(_)
            | Method::Sppo(_)
            | Method::SelfPlay(_)
            | Method::MaxMin(_) => &[Iterate::Last, Iterate::Average],
            Method::Egpo(_) => &[Iterate::Last],
        }
    }

    /// The iterate the configuration asks for: its `iterate` field where it has one, else
    /// the only one or the paper's (Nash-MD's last iterate; override it with
    /// [`SolveOptions::iterate`]).
    pub fn iterate(&self) -> Iterate {
        match self {
            Method::NashMd(_) | Method::Egpo(_) => Iterate::Last,
            Method::Inpo(c) => c.iterate,
            Method::Sppo(c) => c.iterate,
            Method::SelfPlay(c) => c.iterate,
            Method::MaxMin(c) => c.iterate,
        }
    }

    /// Checks that the method supports outputting `iterate`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the method, the iterate, why it is refused and what the
    /// method accepts.
    pub fn check_iterate(&self, iterate: Iterate) -> Result<()> {
        let ok = self.iterates();
        if ok.contains(&iterate) {
            return Ok(());
        }
        let why = match (self, iterate) {
            (Method::Egpo(_), Iterate::Average) => {
                "paper 27 proves last-iterate convergence (linear to π*_τ, polynomial to the \
                 Nash equilibrium as τ → 0), and averaging its iterates only slows that down"
            }
            _ => "its paper gives no guarantee for it",
        };
        let accepts: Vec<&str> = ok.iter().map(|i| i.name()).collect();
        Err(Error::Config(format!(
            "{}: the {iterate} iterate is not supported: {why}; {} accepts: {}",
            self.name(),
            self.name(),
            accepts.join(", ")
        )))
    }

    /// This configuration with its output iterate set to `iterate` (for the methods whose
    /// config has no `iterate` field, the caller passes it to the solver instead).
    fn with_iterate(&self, iterate: Iterate) -> Method {
        let mut m = self.clone();
        match &mut m {
            Method::NashMd(_) | Method::Egpo(_) => {}
            Method::Inpo(c) => c.iterate = iterate,
            Method::Sppo(c) => c.iterate = iterate,
            Method::SelfPlay(c) => c.iterate = iterate,
            Method::MaxMin(c) => c.iterate = iterate,
        }
        m
    }

    fn traits(&self, max_skew: f64) -> Traits {
        match self {
            Method::NashMd(c) => Traits {
                name: "nash-md",
                tau: c.tau,
                eta: c.eta,
                stable_eta: None,
                expects_decrease: c.tau > 0.0,
            },
            Method::Egpo(c) => Traits {
                name: "egpo",
                tau: c.tau,
                eta: c.eta,
                stable_eta: Some(egpo::stable_eta(c.tau, max_skew)),
                expects_decrease: true,
            },
            Method::Inpo(c) => Traits {
                name: "inpo",
                tau: c.tau,
                eta: c.eta,
                stable_eta: None,
                expects_decrease: c.tau > 0.0,
            },
            Method::Sppo(c) => Traits {
                name: "sppo",
                tau: 0.0,
                eta: c.eta,
                stable_eta: None,
                expects_decrease: false,
            },
            Method::SelfPlay(c) => Traits {
                name: "selfplay",
                tau: 0.0,
                eta: c.eta,
                stable_eta: None,
                expects_decrease: false,
            },
            Method::MaxMin(c) => Traits {
                name: "maxmin",
                tau: c.tau,
                eta: c.eta,
                stable_eta: None,
                expects_decrease: matches!(c.update, maxmin::MaxMinUpdate::Extragradient),
            },
        }
    }

    /// The running state; `iterate` has been checked and, for the configs that carry one,
    /// set by [`Method::with_iterate`].
    fn start(&self, game: &Game, mu: &[f64], init: &[f64], iterate: Iterate) -> Result<Running> {
        Ok(match self {
            Method::NashMd(c) => Running::NashMd(nash_md::NashMd::new(c, mu, init, iterate)),
            Method::Egpo(c) => Running::Egpo(egpo::Egpo::new(c, mu, init)),
            Method::Inpo(c) => Running::Inpo(inpo::Inpo::new(c, mu, init)),
            Method::Sppo(c) => Running::Sppo(sppo::Sppo::new(c, init)),
            Method::SelfPlay(c) => Running::SelfPlay(selfplay::SelfPlay::new(c, init)),
            Method::MaxMin(c) => Running::MaxMin(maxmin::MaxMin::new(c, game, mu, init)?),
        })
    }
}

/// Settings shared by every method's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SolveOptions {
    /// Iterations (default 1,000).
    pub iterations: usize,
    /// Record the measures every this many iterations; 0 (default) picks about 200
    /// points.
    pub record_every: usize,
    /// The reference policy `μ` (paper 26's μ, paper 27's and 48's `π_ref`); default
    /// uniform. Must give every response positive probability when `τ > 0`.
    pub reference: Option<Vec<f64>>,
    /// The starting policy `π_0`; default `μ`.
    pub init: Option<Vec<f64>>,
    /// How win rates are observed (default exact).
    pub feedback: Feedback,
    /// Seed of the vote sampling.
    pub seed: u64,
    /// The tolerance on the target gap ([`Point::target`]: MaxMin's own gap, else the
    /// regularized exploitability for `τ > 0`, else the exploitability): the run has
    /// [`Trace::converged`] when the gap at its end is at most this (default
    /// [`DEFAULT_TOL`]).
    pub tol: f64,
    /// Stop as soon as the target gap is at most [`SolveOptions::tol`] (default false:
    /// every iteration runs, so that curves of different methods stay comparable).
    pub stop_at_tol: bool,
    /// Which iterate to output, overriding the method's own choice (its config's
    /// `iterate` where it has one, else [`Method::iterate`]); `None` (default) keeps it.
    /// An iterate the method does not support ([`Method::iterates`]) is an error.
    pub iterate: Option<Iterate>,
    /// An equilibrium to measure `KL(π*‖π_t)` against (see [`exact`]).
    pub equilibrium: Option<Vec<f64>>,
    /// Stop with an error when a method whose theory promises a shrinking gap sees it
    /// grow instead (default true); when false the run goes on and
    /// [`Trace::diverged_at`] says where it started.
    pub stop_on_divergence: bool,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            iterations: 1000,
            record_every: 0,
            reference: None,
            init: None,
            feedback: Feedback::Exact,
            seed: 0,
            tol: DEFAULT_TOL,
            stop_at_tol: false,
            iterate: None,
            equilibrium: None,
            stop_on_divergence: true,
        }
    }
}

/// The default [`SolveOptions::tol`]: a policy whose best response wins by at most
/// `10⁻⁶` more than ½ counts as an equilibrium (the exact methods reach round-off, about
/// `10⁻¹⁵`; the averages of the no-regret methods stay near `10⁻³` and are reported as
/// not converged).
pub const DEFAULT_TOL: f64 = 1e-6;

/// Checks that `p` is a distribution over `n` items (sums to 1 within 1e-6) and returns
/// it renormalized.
///
/// # Errors
/// Wrong length, negative or non-finite entries, or a sum far from 1.
pub fn check_policy(what: &str, p: &[f64], n: usize) -> Result<Vec<f64>> {
    if p.len() != n {
        return Err(Error::Config(format!(
            "{what} has {} entries for {n} responses",
            p.len()
        )));
    }
    if let Some((i, v)) = p
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
    {
        return Err(Error::Config(format!(
            "{what}: entry {} is {v}; probabilities must be finite and non-negative",
            i + 1
        )));
    }
    let s: f64 = p.iter().sum();
    if (s - 1.0).abs() > 1e-6 {
        return Err(Error::Config(format!("{what} sums to {s}, not 1")));
    }
    Ok(p.iter().map(|v| v / s).collect())
}

impl SolveOptions {
    /// Checks the options against a game of `n` responses and a regularization `tau`.
    ///
    /// # Errors
    /// Zero iterations, bad policies, a reference without full support when `τ > 0`.
    pub fn validate(&self, n: usize, tau: f64) -> Result<()> {
        if self.iterations == 0 {
            return Err(Error::Config("iterations must be at least 1".into()));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::Config(format!("tol must be ≥ 0, not {}", self.tol)));
        }
        self.feedback.validate()?;
        if let Some(mu) = &self.reference {
            let mu = check_policy("the reference policy", mu, n)?;
            if tau > 0.0
                && let Some(i) = mu.iter().position(|&m| m <= 0.0)
            {
                return Err(Error::Config(format!(
                    "the reference policy gives response {} probability 0; KL regularization \
                     (τ = {tau}) needs every response possible",
                    i + 1
                )));
            }
        }
        if let Some(p) = &self.init {
            let p = check_policy("the initial policy", p, n)?;
            if let Some(i) = p.iter().position(|&m| m <= 0.0) {
                return Err(Error::Config(format!(
                    "the initial policy gives response {} probability 0; multiplicative \
                     updates could never raise it",
                    i + 1
                )));
            }
        }
        if let Some(e) = &self.equilibrium {
            check_policy("the equilibrium", e, n)?;
        }
        Ok(())
    }
}

/// The measures at one recorded iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Iteration (0 = the starting policy).
    pub iter: usize,
    /// Win-rate vectors queried so far.
    pub queries: u64,
    /// Exploitability of the output policy in the population game, `max_y P(y ≻ π) − ½`.
    pub exploitability: f64,
    /// Regularized exploitability `e_τ` (only when `τ > 0`).
    pub regularized: Option<f64>,
    /// `KL(π*‖π)` to [`SolveOptions::equilibrium`], when given.
    pub kl_to_equilibrium: Option<f64>,
    /// The method's own duality gap (MaxMin).
    pub own_gap: Option<f64>,
    /// Per group: win rate of the policy against the reference `μ` (games with several
    /// groups).
    pub group_vs_reference: Vec<f64>,
    /// Per group: win rate against that group's best response.
    pub group_vs_best: Vec<f64>,
}

impl Point {
    /// The gap the method drives to zero: its own, else the regularized one, else the
    /// exploitability.
    pub fn target(&self) -> f64 {
        self.own_gap
            .or(self.regularized)
            .unwrap_or(self.exploitability)
    }
}

/// The result of a solve: the output policy and the convergence curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The method's name.
    pub method: String,
    /// The regularization of the game it solved.
    pub tau: f64,
    /// The output policy.
    pub policy: Vec<f64>,
    /// The iterate [`Trace::policy`] is (the method's, or [`SolveOptions::iterate`]).
    #[serde(default)]
    pub iterate: Iterate,
    /// Iterations run.
    pub iterations: usize,
    /// Whether the target gap ([`Point::target`]) of the output policy at the end of the
    /// run, the last point of [`Trace::points`], is at most [`SolveOptions::tol`], whether
    /// or not the run stopped early ([`SolveOptions::stop_at_tol`]).
    pub converged: bool,
    /// The recorded measures, first at iteration 0.
    pub points: Vec<Point>,
    /// Where the gap was found diverging (runs with `stop_on_divergence` off).
    pub diverged_at: Option<usize>,
}

impl Trace {
    /// The per-iteration contraction factor of `metric` over the last half of the curve:
    /// `exp(slope)` of a least-squares fit of `ln metric` against the iteration, using
    /// points above `floor` (below it, round-off dominates). `None` with fewer than 3
    /// such points. Below 1: linear convergence at that rate.
    pub fn rate(&self, metric: impl Fn(&Point) -> Option<f64>, floor: f64) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter_map(|p| metric(p).map(|v| (p.iter as f64, v)))
            .filter(|(_, v)| *v > floor && v.is_finite())
            .collect();
        let pts = &pts[pts.len() / 2..];
        measure::log_slope(pts).map(f64::exp)
    }

    /// The last recorded point.
    pub fn last(&self) -> Option<&Point> {
        self.points.last()
    }
}

/// The geometric-mixture mirror step shared by the regularized methods, on logits:
/// `θ' = (1 − ητ) θ + ητ log μ + η w`, i.e. `π' ∝ π^{1−ητ} μ^{ητ} exp(η w)`.
pub(crate) fn md_step(
    theta: &[f64],
    log_mu: &[f64],
    w: &[f64],
    eta: f64,
    tau: f64,
    out: &mut [f64],
) {
    let keep = 1.0 - eta * tau;
    let pull = eta * tau;
    let mut m = f64::NEG_INFINITY;
    for (((o, &t), &lm), &wy) in out.iter_mut().zip(theta).zip(log_mu).zip(w) {
        *o = keep * t + if pull > 0.0 { pull * lm } else { 0.0 } + eta * wy;
        m = m.max(*o);
    }
    // Logits are defined up to a constant; keep the largest at 0 so they never overflow.
    for o in out.iter_mut() {
        *o -= m;
    }
}

/// `ln p`, with `ln 0 = −∞`.
pub(crate) fn logs(p: &[f64]) -> Vec<f64> {
    p.iter().map(|v| v.ln()).collect()
}

/// Fails when a vector holds a non-finite value.
pub(crate) fn check_finite(what: &str, v: &[f64], eta: f64) -> Result<()> {
    if v.iter().any(|x| x.is_nan() || *x == f64::INFINITY) {
        return Err(Error::Numeric(format!(
            "{what} became non-finite: the step size η = {eta} diverges; reduce it"
        )));
    }
    Ok(())
}

/// Times `iterations` steps of `method` from the uniform policy, without any measuring
/// (the benchmark's figure: iterations per second of the update alone).
///
/// # Errors
/// Invalid configuration, or a numeric failure.
pub fn time_steps(game: &Game, method: &Method, iterations: usize) -> Result<std::time::Duration> {
    method.validate()?;
    let n = game.n();
    let mu = vec![1.0 / n as f64; n];
    let mut running = method.start(game, &mu, &mu, method.iterate())?;
    let mut oracle = Oracle::new(game, Feedback::Exact, 0);
    let start = std::time::Instant::now();
    for _ in 0..iterations {
        running.solver().step(&mut oracle)?;
    }
    Ok(start.elapsed())
}

/// How many recorded points a divergence must last before a run is stopped.
const DIVERGE_RECORDS: usize = 5;
/// Growth that is called divergence (the theory of the methods checked promises a
/// decreasing gap): over [`DIVERGE_RECORDS`] records the gap stays this many times above
/// its start, and rises this many times above the best seen. Staying above the start
/// alone is not enough: a converging last iterate may circle the equilibrium, its
/// distance shrinking at every step, while its exploitability swings by a factor of two
/// around a start that was already close (EGPO at `τ = 0`, `η = 0.5`, from the uniform
/// policy on `[[.5,.9,.2],[.1,.5,.7],[.8,.3,.5]]`).
const DIVERGE_FACTOR: f64 = 1.5;

/// Runs `method` on `game` and records the measures.
///
/// # Errors
/// Invalid configuration or options; a run that diverges (non-finite values, or a gap
/// growing far above its start for a method whose theory promises decrease), with the
/// step size to blame.
pub fn solve(game: &Game, method: &Method, opts: &SolveOptions) -> Result<Trace> {
    method.validate()?;
    let iterate = opts.iterate.unwrap_or_else(|| method.iterate());
    method.check_iterate(iterate)?;
    let method = &method.with_iterate(iterate);
    let n = game.n();
    let t = method.traits(game.matrix().max_skew());
    opts.validate(n, t.tau)?;
    let mu = match &opts.reference {
        Some(m) => check_policy("the reference policy", m, n)?,
        None => vec![1.0 / n as f64; n],
    };
    let init = match &opts.init {
        Some(p) => check_policy("the initial policy", p, n)?,
        None => mu.clone(),
    };
    let mut running = method.start(game, &mu, &init, iterate)?;
    let mut oracle = Oracle::new(game, opts.feedback, opts.seed);
    let every = if opts.record_every > 0 {
        opts.record_every
    } else {
        (opts.iterations / 200).max(1)
    };
    let measure_at = |iter: usize, solver: &dyn GameSolver, queries: u64| -> Point {
        let pi = solver.policy();
        let mut w = vec![0.0; n];
        game.matrix().mul(pi, &mut w);
        let (vs_ref, vs_best) = if game.groups().len() > 1 {
            game.groups()
                .iter()
                .map(|g| {
                    (
                        measure::win_rate(&g.matrix, pi, &mu),
                        measure::best_response_win_rate(&g.matrix, pi),
                    )
                })
                .unzip()
        } else {
            (Vec::new(), Vec::new())
        };
        Point {
            iter,
            queries,
            exploitability: measure::exploitability_from(&w),
            regularized: (t.tau > 0.0)
                .then(|| measure::regularized_exploitability_from(&w, pi, t.tau, &mu)),
            kl_to_equilibrium: opts.equilibrium.as_ref().map(|e| measure::kl(e, pi)),
            own_gap: solver.own_gap(game),
            group_vs_reference: vs_ref,
            group_vs_best: vs_best,
        }
    };
    let mut points = vec![measure_at(0, running.solver(), 0)];
    let start_gap = points[0].target();
    let mut best = start_gap;
    let mut window = std::collections::VecDeque::with_capacity(DIVERGE_RECORDS + 1);
    let mut diverged_at = None;
    let mut iterations = 0;
    for it in 1..=opts.iterations {
        let solver = running.solver();
        solver.step(&mut oracle)?;
        iterations = it;
        if it % every != 0 && it != opts.iterations {
            continue;
        }
        check_finite("the policy", solver.policy(), t.eta)?;
        let p = measure_at(it, solver, oracle.queries());
        let gap = p.target();
        points.push(p);
        if !gap.is_finite() {
            return Err(Error::Numeric(format!(
                "{}: the gap became non-finite at iteration {it}; the step size η = {} diverges",
                t.name, t.eta
            )));
        }
        window.push_back(gap);
        if window.len() > DIVERGE_RECORDS {
            window.pop_front();
        }
        let low = window.iter().copied().fold(f64::INFINITY, f64::min);
        let high = window.iter().copied().fold(0.0, f64::max);
        // Diverging: over the last records the gap never came back near its start and
        // rose well above the best seen.
        if t.expects_decrease
            && window.len() == DIVERGE_RECORDS
            && low > DIVERGE_FACTOR * start_gap
            && high > DIVERGE_FACTOR * best
            && low > opts.tol
            && diverged_at.is_none()
        {
            if !opts.stop_on_divergence {
                diverged_at = Some(it);
            } else {
                let hint = match (t.stable_eta, t.name) {
                    (Some(b), _) if t.eta > b => {
                        format!("; the theory needs η ≤ {b:.4} here (paper 27)")
                    }
                    (None, "inpo" | "nash-md") => format!(
                        "; its last iterate needs η well below τ = {} to settle (or use egpo, \
                         which converges for η up to 1/(τ + 2 max|P − ½|))",
                        t.tau
                    ),
                    _ => String::new(),
                };
                return Err(Error::Numeric(format!(
                    "{} diverges: its gap rose from {start_gap:.3e} (start) and {best:.3e} \
                     (best) to {gap:.3e} at iteration {it}; reduce the step size η = {}{hint}",
                    t.name, t.eta
                )));
            }
        }
        best = best.min(gap);
        if opts.stop_at_tol && gap <= opts.tol {
            break;
        }
    }
    // The last point is always recorded (at the final or the stopping iteration), so it
    // measures the policy returned.
    let converged = points.last().is_some_and(|p| p.target() <= opts.tol);
    Ok(Trace {
        method: t.name.into(),
        tau: t.tau,
        policy: running.solver().policy().to_vec(),
        iterate,
        iterations,
        converged,
        points,
        diverged_at,
    })
}
