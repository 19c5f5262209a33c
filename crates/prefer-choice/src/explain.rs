//! Which properties of an answer drive a preference, and how much (paper 28, "Dissecting
//! Human and LLM Preferences"; the factor tables of paper 65, PROFILE).
//!
//! Each comparison is described by the property differences Δ = f(chosen) − f(rejected).
//! A Bayesian logistic regression without intercept (a Bradley-Terry model whose
//! strength is linear in the properties) gives each property's effect:
//!
//! P(chosen ≻ rejected) = σ(βᵀΔ),  β ~ N(0, s² I)  (s = `prior_sd`, default 1)
//!
//! The posterior is approximated at its mode (Newton's method; the log posterior is
//! concave) by a Gaussian with covariance (−∇² log p)⁻¹ (Laplace), from which come the
//! credible intervals. Fitting one group of annotators at a time (humans, a judge) puts
//! their weightings side by side.
//!
//! [`text_properties`] measures a few properties of a response from its text alone:
//! rules anyone can read and rerun (no model): length, refusal, apology, a list, code,
//! a question back to the user, thanks or please, exclamation.

use serde::{Deserialize, Serialize};

use prefer_rank::linalg::{Matrix, spd_inverse};
use prefer_rank::newton::{Eval, Stop, maximize};

use crate::error::{Error, Result};

/// Settings of the regression.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainConfig {
    /// Prior standard deviation s of each effect (default 1).
    pub prior_sd: f64,
    /// Credible level of the intervals (default 0.95).
    pub level: f64,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        Self {
            prior_sd: 1.0,
            level: 0.95,
        }
    }
}

/// One property's effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    /// The property.
    pub name: String,
    /// Posterior mean (mode) of β: the change in log odds of being preferred per unit of
    /// the property.
    pub mean: f64,
    /// Posterior standard deviation.
    pub sd: f64,
    /// Lower end of the credible interval.
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
    /// Comparisons in which the property differs.
    pub support: usize,
}

/// The fit for one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effects {
    /// One per property.
    pub effects: Vec<Effect>,
    /// Comparisons fitted.
    pub comparisons: usize,
    /// Share of comparisons whose chosen answer the model rates above 0.5.
    pub accuracy: f64,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Fits the effects of `names` from rows of property differences (one row per
/// comparison, chosen minus rejected), each with a weight (1 for one vote).
///
/// # Errors
/// No rows, rows of the wrong width, a non-finite value (naming the row), or a prior
/// sd that is not positive.
pub fn fit_effects(
    names: &[String],
    rows: &[Vec<f64>],
    weights: &[f64],
    cfg: &ExplainConfig,
) -> Result<Effects> {
    if !(cfg.prior_sd > 0.0 && cfg.level > 0.0 && cfg.level < 1.0) {
        return Err(Error::Config(
            "prior_sd must be > 0 and level in (0, 1)".into(),
        ));
    }
    if rows.is_empty() {
        return Err(Error::Invalid("no comparisons to explain".into()));
    }
    if weights.len() != rows.len() {
        return Err(Error::Invalid("one weight per comparison".into()));
    }
    let k = names.len();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != k {
            return Err(Error::Invalid(format!(
                "comparison {}: {} properties, expected {k}",
                i + 1,
                r.len()
            )));
        }
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(Error::Invalid(format!(
                "comparison {}: property {} is not finite",
                i + 1,
                names[j]
            )));
        }
    }
    let prec = 1.0 / (cfg.prior_sd * cfg.prior_sd);
    let eval = |b: &[f64]| {
        let mut value = 0.0;
        let mut grad = vec![0.0; k];
        let mut hess = Matrix::zeros(k);
        for (r, w) in rows.iter().zip(weights) {
            let z: f64 = r.iter().zip(b).map(|(x, y)| x * y).sum();
            let p = sigmoid(z);
            // log σ(z), stable for large |z|.
            value += w * if z >= 0.0 {
                -(-z).exp().ln_1p()
            } else {
                z - z.exp().ln_1p()
            };
            for a in 0..k {
                grad[a] += w * (1.0 - p) * r[a];
                for c in 0..k {
                    hess.add(a, c, -w * p * (1.0 - p) * r[a] * r[c]);
                }
            }
        }
        for a in 0..k {
            value -= 0.5 * prec * b[a] * b[a];
            grad[a] -= prec * b[a];
            hess.add(a, a, -prec);
        }
        Eval { value, grad, hess }
    };
    let m = maximize(
        vec![0.0; k],
        eval,
        |_| true,
        Stop {
            tol: 1e-10,
            max_iter: 100,
        },
    )?;
    let mut info = eval(&m.x).hess;
    info.data.iter_mut().for_each(|v| *v = -*v);
    let cov = spd_inverse(&info)
        .ok_or_else(|| Error::Numeric("the posterior precision is singular".into()))?;
    let effects = (0..k)
        .map(|a| {
            let sd = cov.get(a, a).sqrt();
            let (lower, upper) = prefer_rank::intervals::normal_interval(m.x[a], sd, cfg.level);
            Effect {
                name: names[a].clone(),
                mean: m.x[a],
                sd,
                lower,
                upper,
                support: rows.iter().filter(|r| r[a] != 0.0).count(),
            }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let hits: f64 = rows
        .iter()
        .zip(weights)
        .filter(|(r, _)| r.iter().zip(&m.x).map(|(x, y)| x * y).sum::<f64>() > 0.0)
        .map(|(_, w)| w)
        .sum();
    Ok(Effects {
        effects,
        comparisons: rows.len(),
        accuracy: hits / total,
    })
}

/// The properties [`text_properties`] measures, in its order.
pub const TEXT_PROPERTIES: [&str; 8] = [
    "log_length",
    "refusal",
    "apology",
    "list",
    "code",
    "asks_back",
    "courtesy",
    "exclamation",
];

/// Measures [`TEXT_PROPERTIES`] of a response: ln(1 + characters); then 0/1 for a
/// refusal phrase ("I can't", "I cannot", "I won't", "I'm not able", "as an AI"), an
/// apology ("sorry", "apologi"), a list (a line starting with "- ", "* " or "1."), code
/// (a ``` fence), a question back (a line ending in "?"), courtesy ("please", "thank"),
/// and an exclamation mark. Matching is case-insensitive.
pub fn text_properties(text: &str) -> Vec<f64> {
    let t = text.to_lowercase();
    let has = |ws: &[&str]| f64::from(u8::from(ws.iter().any(|w| t.contains(w))));
    let lines = || t.lines().map(str::trim);
    vec![
        (text.chars().count() as f64).ln_1p(),
        has(&[
            "i can't",
            "i cannot",
            "i can not",
            "i won't",
            "i'm not able",
            "i am not able",
            "as an ai",
        ]),
        has(&["sorry", "apologi"]),
        f64::from(u8::from(lines().any(|l| {
            l.starts_with("- ") || l.starts_with("* ") || l.starts_with("1.")
        }))),
        has(&["```"]),
        f64::from(u8::from(lines().any(|l| l.ends_with('?')))),
        has(&["please", "thank"]),
        has(&["!"]),
    ]
}

/// Δ = properties(chosen) − properties(rejected).
pub fn text_difference(chosen: &str, rejected: &str) -> Vec<f64> {
    text_properties(chosen)
        .iter()
        .zip(text_properties(rejected))
        .map(|(a, b)| a - b)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn one_binary_property_has_the_closed_form_posterior_mode() {
        // Δ = +1 in every comparison, chosen a of n times as Δ = +1 and n − a as Δ = −1:
        // the mode solves (a − n σ(β)) = β / s². With a flat prior (s large) β̂ = logit(a/n)
        // and sd = 1/√(n p (1 − p)).
        let (a, n) = (70usize, 100usize);
        let mut rows = vec![vec![1.0]; a];
        rows.extend(vec![vec![-1.0]; n - a]);
        let w = vec![1.0; n];
        let cfg = ExplainConfig {
            prior_sd: 1e6,
            ..Default::default()
        };
        let f = fit_effects(&["x".into()], &rows, &w, &cfg).unwrap();
        let q = a as f64 / n as f64;
        let e = &f.effects[0];
        assert!((e.mean - (q / (1.0 - q)).ln()).abs() < 1e-8, "{e:?}");
        assert!(
            (e.sd - 1.0 / (n as f64 * q * (1.0 - q)).sqrt()).abs() < 1e-8,
            "{e:?}"
        );
        assert!((f.accuracy - q).abs() < 1e-12);
        // With the unit prior the mode satisfies the stationarity equation instead.
        let f = fit_effects(&["x".into()], &rows, &w, &ExplainConfig::default()).unwrap();
        let b = f.effects[0].mean;
        let resid = a as f64 * (1.0 - sigmoid(b)) - (n - a) as f64 * sigmoid(b) - b;
        assert!(resid.abs() < 1e-8, "{resid}");
    }

    #[test]
    fn known_effects_are_recovered_within_their_intervals() {
        let truth = [1.5, -2.0, 0.0, 0.7];
        let names: Vec<String> = (0..4).map(|i| format!("p{i}")).collect();
        let mut covered = 0;
        let reps = 20;
        for seed in 0..reps {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut rows = Vec::new();
            for _ in 0..2000 {
                // Differences of binary properties and of a continuous one.
                let d: Vec<f64> = (0..4)
                    .map(|j| {
                        if j == 3 {
                            rng.random_range(-1.0..1.0)
                        } else {
                            f64::from(rng.random_range(-1i32..=1))
                        }
                    })
                    .collect();
                let z: f64 = d.iter().zip(&truth).map(|(x, y)| x * y).sum();
                // Orient each comparison by a draw: chosen minus rejected.
                rows.push(if rng.random::<f64>() < sigmoid(z) {
                    d
                } else {
                    d.iter().map(|x| -x).collect()
                });
            }
            let f = fit_effects(
                &names,
                &rows,
                &vec![1.0; rows.len()],
                &ExplainConfig::default(),
            )
            .unwrap();
            covered += f
                .effects
                .iter()
                .zip(&truth)
                .filter(|(e, t)| e.lower <= **t && **t <= e.upper)
                .count();
        }
        // 80 intervals at 95%: fewer than 70 covered has probability below 0.3%.
        assert!(covered >= 70, "{covered} of 80");
        let e = fit_effects(
            &names,
            &[vec![1.0, f64::NAN, 0.0, 0.0]],
            &[1.0],
            &ExplainConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("comparison 1: property p1"), "{e}");
    }

    #[test]
    fn text_properties_read_what_they_say() {
        let p =
            text_properties("I'm sorry, but I can't help with that. Thank you!\n- one\nWhat else?");
        assert_eq!(&p[1..], &[1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0]);
        let code = "```rust\nfn main() {}\n```";
        let q = text_properties(code);
        assert_eq!(&q[1..], &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(q[0], 24f64.ln_1p());
        assert_eq!(code.chars().count(), 24);
        assert_eq!(text_difference("a", "a"), vec![0.0; 8]);
    }
}
