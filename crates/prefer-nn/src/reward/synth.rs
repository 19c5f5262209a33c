//! Synthetic embedding data with a known ground truth, for the tests of every reward model
//! and the offline demo: linear Bradley–Terry rewards, noisy labels, cyclic (intransitive)
//! preferences, users with conflicting tastes, criteria that reverse a preference, and
//! attribute ratings whose relevance depends on the prompt.
//!
//! Embeddings are unit vectors (as all-MiniLM-L6-v2 gives), drawn uniformly on the sphere.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::data::{PairData, RatingData};
use crate::Result;

/// A uniform random unit vector of width `d`.
pub fn unit(d: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let v: Vec<f32> = (0..d)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.into_iter().map(|x| x / n).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn tensor(rows: &[Vec<f32>], d: usize) -> Result<Tensor> {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), d), &Device::Cpu)?)
}

/// Pairs labelled by a linear Bradley–Terry model: r*(y) = β w·e(y), P(a ≻ b) =
/// σ(r*(a) − r*(b)), with a fraction `flip` of labels then inverted (annotation noise).
#[derive(Debug, Clone)]
pub struct LinearPairs {
    /// The pairs (prompt embeddings are zero).
    pub data: PairData,
    /// The true direction w (unit).
    pub w: Vec<f32>,
    /// r*(chosen) − r*(rejected) of each pair, after any flip.
    pub true_margin: Vec<f32>,
    /// Which labels were flipped by the noise.
    pub flipped: Vec<bool>,
}

/// `n` pairs in `d` dimensions, reward scale `beta`, noise `flip` (a fraction in [0, 1)).
pub fn linear_pairs(n: usize, d: usize, beta: f64, flip: f64, seed: u64) -> Result<LinearPairs> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = unit(d, &mut rng);
    linear_pairs_with(&w, n, beta, flip, &mut rng)
}

/// [`linear_pairs`] with a given direction and generator.
pub fn linear_pairs_with(
    w: &[f32],
    n: usize,
    beta: f64,
    flip: f64,
    rng: &mut ChaCha8Rng,
) -> Result<LinearPairs> {
    let d = w.len();
    let (mut ch, mut rj, mut tm, mut fl) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let a = unit(d, rng);
        let b = unit(d, rng);
        let m = beta * f64::from(dot(w, &a) - dot(w, &b));
        let a_wins = rng.random::<f64>() < sigmoid(m);
        let f = rng.random::<f64>() < flip;
        let (c, r, mm) = if a_wins != f { (a, b, m) } else { (b, a, -m) };
        ch.push(c);
        rj.push(r);
        tm.push(mm as f32);
        fl.push(f);
    }
    let zeros = vec![vec![0.0; d]; n];
    Ok(LinearPairs {
        data: PairData::from_tensors(tensor(&zeros, d)?, tensor(&ch, d)?, tensor(&rj, d)?)?,
        w: w.to_vec(),
        true_margin: tm,
        flipped: fl,
    })
}

/// Intransitive preferences: items on a circle, item y at angle θ(y) embedded as
/// (cos θ, sin θ, small noise in the other dimensions); y₁ ≻ y₂ with probability
/// σ(κ sin(θ₁ − θ₂)): every item beats the half circle behind it (rock-paper-scissors on
/// a continuum). No scalar reward does better than chance on it.
pub fn cyclic_pairs(n: usize, d: usize, kappa: f64, seed: u64) -> Result<PairData> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let item = |rng: &mut ChaCha8Rng| -> (f64, Vec<f32>) {
        let th = rng.random::<f64>() * std::f64::consts::TAU;
        let mut v: Vec<f32> = (0..d)
            .map(|_| 0.05 * rng.sample::<f32, _>(StandardNormal))
            .collect();
        v[0] = th.cos() as f32;
        v[1] = th.sin() as f32;
        (th, v)
    };
    let (mut ch, mut rj) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (ta, a) = item(&mut rng);
        let (tb, b) = item(&mut rng);
        let p = sigmoid(kappa * (ta - tb).sin());
        if rng.random::<f64>() < p {
            ch.push(a);
            rj.push(b);
        } else {
            ch.push(b);
            rj.push(a);
        }
    }
    let zeros = vec![vec![0.0; d]; n];
    PairData::from_tensors(tensor(&zeros, d)?, tensor(&ch, d)?, tensor(&rj, d)?)
}

/// Users in groups with conflicting tastes: group g has reward r_g(y) = β (c + s_g t)·e(y),
/// with a shared part c and a taste direction t (‖t‖ > ‖c‖) whose sign s_g differs between
/// groups, so the groups disagree on most pairs.
#[derive(Debug, Clone)]
pub struct UserPairs {
    /// The pairs, `user` set to `u000`, `u001`, ...
    pub data: PairData,
    /// Each pair's user's group.
    pub group: Vec<usize>,
    /// Each user's group, by user index.
    pub user_group: Vec<usize>,
    /// The reward direction of each group.
    pub directions: Vec<Vec<f32>>,
    /// r*(chosen) − r*(rejected) under each pair's user's true reward.
    pub true_margin: Vec<f32>,
}

/// User ids as the synthetic data names them.
pub fn user_name(i: usize) -> String {
    format!("u{i:03}")
}

/// `users` users, `per_user` pairs each, group shares `shares` (summing to 1; e.g.
/// `[0.8, 0.2]` for a majority and a minority), dimension `d`, scale `beta`.
pub fn user_pairs(
    users: usize,
    per_user: usize,
    shares: &[f64],
    d: usize,
    beta: f64,
    seed: u64,
) -> Result<UserPairs> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c: Vec<f32> = unit(d, &mut rng).into_iter().map(|x| 0.3 * x).collect();
    // Taste directions: orthogonal-ish random units, the second group's is the negation of
    // the first's, further groups get their own.
    let t0 = unit(d, &mut rng);
    let mut directions = Vec::new();
    for g in 0..shares.len() {
        let t = match g {
            0 => t0.clone(),
            1 => t0.iter().map(|x| -x).collect(),
            _ => unit(d, &mut rng),
        };
        directions.push(c.iter().zip(&t).map(|(a, b)| a + b).collect::<Vec<f32>>());
    }
    let total: f64 = shares.iter().sum();
    let mut user_group = Vec::with_capacity(users);
    let mut acc = 0.0;
    let mut g = 0;
    for u in 0..users {
        let pos = (u as f64 + 0.5) / users as f64 * total;
        while g + 1 < shares.len() && pos > acc + shares[g] {
            acc += shares[g];
            g += 1;
        }
        user_group.push(g);
    }
    let (mut ch, mut rj, mut names, mut group) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut tm = Vec::new();
    for (u, &g) in user_group.iter().enumerate() {
        for _ in 0..per_user {
            let a = unit(d, &mut rng);
            let b = unit(d, &mut rng);
            let m = beta * f64::from(dot(&directions[g], &a) - dot(&directions[g], &b));
            if rng.random::<f64>() < sigmoid(m) {
                ch.push(a);
                rj.push(b);
                tm.push(m as f32);
            } else {
                ch.push(b);
                rj.push(a);
                tm.push(-m as f32);
            }
            names.push(user_name(u));
            group.push(g);
        }
    }
    let n = ch.len();
    let zeros = vec![vec![0.0; d]; n];
    let mut data = PairData::from_tensors(tensor(&zeros, d)?, tensor(&ch, d)?, tensor(&rj, d)?)?;
    data.user = Some(names);
    Ok(UserPairs {
        data,
        group,
        user_group,
        directions,
        true_margin: tm,
    })
}

/// Pairs judged under one of several criteria (context strings), each with its own reward
/// direction; criterion 0 and 1 have opposite directions (e.g. "concise" vs "detailed").
#[derive(Debug, Clone)]
pub struct CriterionPairs {
    /// The pairs with `context` set to the criterion embeddings.
    pub data: PairData,
    /// Each pair's criterion index.
    pub criterion: Vec<usize>,
}

/// `n` pairs under `k ≥ 2` criteria with embeddings of width `d`.
pub fn criterion_pairs(
    n: usize,
    k: usize,
    d: usize,
    beta: f64,
    seed: u64,
) -> Result<CriterionPairs> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let crit: Vec<Vec<f32>> = (0..k.max(2)).map(|_| unit(d, &mut rng)).collect();
    let t0 = unit(d, &mut rng);
    let dirs: Vec<Vec<f32>> = (0..k.max(2))
        .map(|j| match j {
            0 => t0.clone(),
            1 => t0.iter().map(|x| -x).collect(),
            _ => unit(d, &mut rng),
        })
        .collect();
    let (mut ch, mut rj, mut ctx, mut which) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let j = i % dirs.len();
        let a = unit(d, &mut rng);
        let b = unit(d, &mut rng);
        let m = beta * f64::from(dot(&dirs[j], &a) - dot(&dirs[j], &b));
        if rng.random::<f64>() < sigmoid(m) {
            ch.push(a);
            rj.push(b);
        } else {
            ch.push(b);
            rj.push(a);
        }
        ctx.push(crit[j].clone());
        which.push(j);
    }
    let zeros = vec![vec![0.0; d]; n];
    let mut data = PairData::from_tensors(tensor(&zeros, d)?, tensor(&ch, d)?, tensor(&rj, d)?)?;
    data.context = Some(tensor(&ctx, d)?);
    Ok(CriterionPairs {
        data,
        criterion: which,
    })
}

/// Multi-attribute data: k attribute scores s_a(y) = 3 + 1.5 w_a·e(y)·√d/2 + noise,
/// prompts in k clusters, and pairs whose preference under prompt cluster j follows
/// attribute j alone (the context decides which objective matters).
#[derive(Debug, Clone)]
pub struct AttributeData {
    /// Ratings: prompt, response, k scores.
    pub ratings: RatingData,
    /// Pairs judged by the attribute of the prompt's cluster.
    pub pairs: PairData,
    /// The relevant attribute of each pair.
    pub relevant: Vec<usize>,
}

/// `n_ratings` ratings and `n_pairs` pairs, `k` attributes, width `d`, score noise `noise`.
pub fn attribute_data(
    n_ratings: usize,
    n_pairs: usize,
    k: usize,
    d: usize,
    noise: f32,
    seed: u64,
) -> Result<AttributeData> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<Vec<f32>> = (0..k).map(|_| unit(d, &mut rng)).collect();
    let centers: Vec<Vec<f32>> = (0..k).map(|_| unit(d, &mut rng)).collect();
    let scale = 1.5 * (d as f32).sqrt() / 2.0;
    let prompt_of = |j: usize, rng: &mut ChaCha8Rng| -> Vec<f32> {
        let mut v: Vec<f32> = centers[j]
            .iter()
            .map(|c| c + 0.3 * rng.sample::<f32, _>(StandardNormal) / (d as f32).sqrt())
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    };
    let (mut rp, mut rr, mut rs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n_ratings {
        let p = prompt_of(i % k, &mut rng);
        let y = unit(d, &mut rng);
        let s: Vec<f32> = (0..k)
            .map(|a| 3.0 + scale * dot(&w[a], &y) + noise * rng.sample::<f32, _>(StandardNormal))
            .collect();
        rp.push(p);
        rr.push(y);
        rs.push(s);
    }
    let (mut pp, mut ch, mut rj, mut rel) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..n_pairs {
        let j = i % k;
        let p = prompt_of(j, &mut rng);
        let a = unit(d, &mut rng);
        let b = unit(d, &mut rng);
        let m = 4.0 * f64::from(dot(&w[j], &a) - dot(&w[j], &b)) * (d as f64).sqrt() / 2.0;
        if rng.random::<f64>() < sigmoid(m) {
            ch.push(a);
            rj.push(b);
        } else {
            ch.push(b);
            rj.push(a);
        }
        pp.push(p);
        rel.push(j);
    }
    Ok(AttributeData {
        ratings: RatingData {
            prompt: tensor(&rp, d)?,
            response: tensor(&rr, d)?,
            scores: tensor(&rs, k)?,
            attributes: (0..k).map(|a| format!("attr{a}")).collect(),
        },
        pairs: PairData::from_tensors(tensor(&pp, d)?, tensor(&ch, d)?, tensor(&rj, d)?)?,
        relevant: rel,
    })
}
