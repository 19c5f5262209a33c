//! Simulated choice data from known parameters: question designs like the standard
//! experiments (two-option risky choice over gains, losses and mixed gambles, as in
//! choices13k; smaller-sooner vs larger-later, as in delay-discounting tasks), and
//! choices drawn from a theory's softmax probabilities. What the recovery tests and
//! `prefer choice simulate` use.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::fit::choice_probs;
use crate::models::{Model, Valuation};
use crate::problem::{Problem, Prospect};

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn gamble(rng: &mut ChaCha8Rng, sign_hi: f64, sign_lo: f64) -> Prospect {
    let p = round2(rng.random_range(0.05..0.95));
    let hi = (rng.random_range(1.0..100.0f64)).round() * sign_hi;
    let lo = (rng.random_range(0.0..50.0f64)).round() * sign_lo;
    Prospect::lottery(vec![hi, lo], vec![p, round2(1.0 - p)])
}

/// `n` two-option risky problems: a third over gains, a third over losses, a third
/// mixed; half of them a gamble against a sure amount near its expected value, half two
/// gambles.
pub fn risky_design(n: usize, seed: u64) -> Vec<Vec<Prospect>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let (sh, sl) = match i % 3 {
                0 => (1.0, 1.0),
                1 => (-1.0, -1.0),
                _ => (1.0, -1.0),
            };
            let a = gamble(&mut rng, sh, sl);
            let b = if rng.random_bool(0.5) {
                let ev = a.expected_value();
                Prospect::sure((ev * rng.random_range(0.5..1.5)).round())
            } else {
                gamble(&mut rng, sh, sl)
            };
            vec![a, b]
        })
        .collect()
}

/// `n` intertemporal problems: a smaller amount sooner (now in half of them) against a
/// larger amount later.
pub fn intertemporal_design(n: usize, seed: u64) -> Vec<Vec<Prospect>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let ss: f64 = rng.random_range(10.0..100.0f64).round();
            let ll = (ss * (1.0 + rng.random_range(0.05..1.5))).round();
            let t0 = if rng.random_bool(0.5) {
                0.0
            } else {
                rng.random_range(1.0..60.0f64).round()
            };
            let t1 = t0 + rng.random_range(1.0..180.0f64).round();
            vec![Prospect::delayed(ss, t0), Prospect::delayed(ll, t1)]
        })
        .collect()
}

/// Draws `per_problem` choices in each problem of `design` from the softmax of `v` at
/// `theta` (the theory's parameters, then φ).
pub fn simulate(
    v: &dyn Valuation,
    theta: &[f64],
    design: &[Vec<Prospect>],
    per_problem: usize,
    seed: u64,
) -> Vec<Problem> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    design
        .iter()
        .enumerate()
        .map(|(i, options)| {
            let mut p = Problem {
                id: Some(format!("q{i}")),
                group: None,
                options: options.clone(),
                counts: vec![0.0; options.len()],
            };
            let probs = choice_probs(v, theta, &p);
            for _ in 0..per_problem {
                let u: f64 = rng.random();
                let mut acc = 0.0;
                let mut pick = probs.len() - 1;
                for (k, q) in probs.iter().enumerate() {
                    acc += q;
                    if u < acc {
                        pick = k;
                        break;
                    }
                }
                p.counts[pick] += 1.0;
            }
            p
        })
        .collect()
}

/// The design that suits a theory: risky problems for expected value and prospect
/// theory, risky problems over gains only for CRRA (which values no losses without
/// wealth), intertemporal problems for the discounting theories.
pub fn design_for(model: &Model, n: usize, seed: u64) -> Vec<Vec<Prospect>> {
    match model {
        Model::ExpectedValue(_) | Model::ProspectTheory(_) => risky_design(n, seed),
        Model::Crra(_) => {
            // Every third problem of the risky design is over gains; draw 3n and keep those.
            risky_design(3 * n, seed).into_iter().step_by(3).collect()
        }
        Model::Exponential(_) | Model::Hyperbolic(_) => intertemporal_design(n, seed),
    }
}

/// Default sensitivity φ for simulation: about one logit per typical value gap of the
/// theory's design (risky outcomes are tens of units; CRRA utilities at ρ = 0.3 a few).
pub fn default_phi(model: &Model) -> f64 {
    match model {
        Model::Crra(_) => 0.5,
        Model::ExpectedValue(_) | Model::ProspectTheory(_) => 0.15,
        Model::Exponential(_) | Model::Hyperbolic(_) => 0.2,
    }
}
