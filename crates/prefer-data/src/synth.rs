//! Synthetic preference data with a known ground truth, for the demo, tests and
//! benchmarks: battles among models of hidden strength (Bradley-Terry with ties), K-wise
//! rankings (Plackett-Luce), ratings of responses of hidden quality, and text pairs.

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::record::{Annotations, Battle, KWise, Pair, Rating, Text, Winner};

/// A small vocabulary for synthetic text.
const WORDS: &[&str] = &[
    "the", "model", "answer", "question", "because", "data", "clear", "helpful", "short", "long",
    "story", "friend", "park", "ball", "happy", "sad", "little", "big", "red", "blue", "green",
    "house", "tree", "river", "cat", "dog", "bird", "sun", "moon", "star", "play", "run", "jump",
    "read", "write", "think", "learn", "teach", "help", "find", "make", "good", "bad", "kind",
    "brave", "quiet", "loud", "fast", "slow", "warm", "cold", "day", "night", "morning", "evening",
    "water", "food", "apple", "bread", "milk", "book", "song", "game", "time", "place", "world",
    "light", "dark", "open", "close", "start", "end", "first", "last", "new", "old", "true",
    "false", "simple", "hard", "easy", "small", "great",
];

/// Model names `model-00`, `model-01`, ...
pub fn model_names(n: usize) -> Vec<String> {
    let width = n.saturating_sub(1).to_string().len().max(2);
    (0..n).map(|i| format!("model-{i:0width$}")).collect()
}

/// Settings for synthetic battles.
#[derive(Debug, Clone)]
pub struct BattleSpec {
    /// Number of models.
    pub models: usize,
    /// Number of battles.
    pub battles: usize,
    /// Probability that a battle is a tie (drawn before the winner).
    pub tie_rate: f64,
    /// Spread of true ratings on the Elo scale: ratings are 1000 + N(0, spread).
    pub spread: f64,
    /// Popularity skew: model i is picked with weight 1 / (i + 1)^skew (0 = uniform).
    pub skew: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for BattleSpec {
    fn default() -> Self {
        Self {
            models: 20,
            battles: 10_000,
            tie_rate: 0.1,
            spread: 200.0,
            skew: 0.0,
            seed: 0,
        }
    }
}

/// Battles and the true ratings (Elo scale: P(a beats b | no tie) =
/// 1 / (1 + 10^((r_b - r_a) / 400))).
#[derive(Debug, Clone)]
pub struct SyntheticBattles {
    /// Model names.
    pub models: Vec<String>,
    /// True rating per model.
    pub ratings: Vec<f64>,
    /// The battles, in time order (`tstamp` increasing).
    pub battles: Vec<Battle>,
}

/// Picks an index with probability proportional to `cum` increments (cumulative weights).
fn pick(rng: &mut ChaCha8Rng, cum: &[f64]) -> usize {
    let total = cum.last().copied().unwrap_or(1.0);
    let u = rng.random::<f64>() * total;
    cum.partition_point(|&c| c <= u).min(cum.len() - 1)
}

/// Generates battles from a Bradley-Terry model with ties.
pub fn battles(spec: &BattleSpec) -> SyntheticBattles {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let n = spec.models.max(2);
    let spread = spec.spread.max(0.0);
    let ratings: Vec<f64> = (0..n)
        .map(|_| 1000.0 + spread * rng.sample::<f64, _>(StandardNormal))
        .collect();
    let mut acc = 0.0;
    let cum: Vec<f64> = (0..n)
        .map(|i| {
            acc += 1.0 / ((i + 1) as f64).powf(spec.skew);
            acc
        })
        .collect();
    let models = model_names(n);
    let mut out = Vec::with_capacity(spec.battles);
    for t in 0..spec.battles {
        let a = pick(&mut rng, &cum);
        let mut b = pick(&mut rng, &cum);
        while b == a {
            b = pick(&mut rng, &cum);
        }
        let winner = if rng.random::<f64>() < spec.tie_rate {
            Winner::Tie
        } else {
            let p = 1.0 / (1.0 + 10f64.powf((ratings[b] - ratings[a]) / 400.0));
            if rng.random::<f64>() < p {
                Winner::ModelA
            } else {
                Winner::ModelB
            }
        };
        let mut battle = Battle::new(models[a].clone(), models[b].clone(), winner);
        battle.tstamp = Some(1.7e9 + t as f64);
        out.push(battle);
    }
    SyntheticBattles {
        models,
        ratings,
        battles: out,
    }
}

/// K-wise rankings from a Plackett-Luce model with utilities `ratings * ln(10) / 400`
/// (so that K = 2 is the Elo-scale Bradley-Terry model): each vote shows `k` distinct
/// models drawn uniformly and ranks them all.
pub fn kwise(models: &[String], ratings: &[f64], k: usize, votes: usize, seed: u64) -> Vec<KWise> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = models.len();
    let k = k.clamp(2, n.max(2));
    (0..votes)
        .map(|t| {
            let mut shown: Vec<usize> = Vec::with_capacity(k);
            while shown.len() < k {
                let i = rng.random_range(0..n);
                if !shown.contains(&i) {
                    shown.push(i);
                }
            }
            // Gumbel-max: sorting utility + Gumbel noise samples a Plackett-Luce ranking.
            let noisy: Vec<f64> = shown
                .iter()
                .map(|&i| ratings[i] * std::f64::consts::LN_10 / 400.0 + gumbel(&mut rng))
                .collect();
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&x, &y| noisy[y].total_cmp(&noisy[x]));
            let mut ranking = vec![0u32; k];
            for (rank, &pos) in order.iter().enumerate() {
                ranking[pos] = rank as u32 + 1;
            }
            KWise {
                models: shown.iter().map(|&i| models[i].clone()).collect(),
                ranking,
                prompt: None,
                judge: None,
                tstamp: Some(1.7e9 + t as f64),
                language: None,
                ann: Annotations::default(),
            }
        })
        .collect()
}

/// A standard Gumbel draw: -ln(-ln U), U uniform on (0, 1).
fn gumbel(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    -(-u.ln()).ln()
}

fn sentence(rng: &mut ChaCha8Rng, words: usize) -> String {
    let mut s = String::with_capacity(words * 6);
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s.push('.');
    s
}

/// The aspects UltraFeedback rates.
pub const ULTRAFEEDBACK_ASPECTS: [&str; 4] = [
    "helpfulness",
    "honesty",
    "instruction_following",
    "truthfulness",
];

/// Ratings of `per_prompt` responses for each of `prompts` prompts. Each response has a
/// hidden quality q ~ N(0, 1); each aspect score is round(3 + 1.2 q + N(0, noise))
/// clamped to 1..5; `overall` is twice the mean aspect score (UltraFeedback's 1-10 scale).
/// Returns the ratings and each one's hidden quality.
pub fn ratings(prompts: usize, per_prompt: usize, noise: f64, seed: u64) -> Vec<(Rating, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let noise = noise.max(0.0);
    let models = model_names(per_prompt.max(1));
    let mut out = Vec::with_capacity(prompts * per_prompt);
    for p in 0..prompts {
        let prompt = format!("Question {p}: {}", sentence(&mut rng, 8));
        for (m, model) in models.iter().enumerate().take(per_prompt) {
            let q: f64 = rng.sample(StandardNormal);
            let scores = ULTRAFEEDBACK_ASPECTS
                .iter()
                .map(|a| {
                    let s = (3.0 + 1.2 * q + noise * rng.sample::<f64, _>(StandardNormal))
                        .round()
                        .clamp(1.0, 5.0);
                    (a.to_string(), s)
                })
                .collect::<std::collections::BTreeMap<_, _>>();
            let mean = scores.values().sum::<f64>() / scores.len() as f64;
            let words = 10 + rng.random_range(0..30);
            out.push((
                Rating {
                    prompt: Some(Text::Plain(prompt.clone())),
                    response: Text::Plain(format!("Answer {m}: {}", sentence(&mut rng, words))),
                    model: Some(model.clone()),
                    scores,
                    rationales: Default::default(),
                    overall: Some(2.0 * mean),
                    ann: Annotations {
                        id: Some(format!("p{p}")),
                        ..Default::default()
                    },
                },
                q,
            ));
        }
    }
    out
}

/// `n` text pairs of realistic length (prompt about 15 words, responses 20 to 80 words),
/// for benchmarks of the readers and writers.
pub fn text_pairs(n: usize, seed: u64) -> impl Iterator<Item = Pair> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(move |i| {
        let pw = 10 + rng.random_range(0..10);
        let cw = 20 + rng.random_range(0..60);
        let rw = 20 + rng.random_range(0..60);
        Pair {
            prompt: Some(Text::Plain(sentence(&mut rng, pw))),
            chosen: Text::Plain(sentence(&mut rng, cw)),
            rejected: Text::Plain(sentence(&mut rng, rw)),
            ann: Annotations {
                id: Some(i.to_string()),
                ..Default::default()
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn battles_follow_the_bradley_terry_probabilities() {
        let spec = BattleSpec {
            models: 2,
            battles: 200_000,
            tie_rate: 0.2,
            spread: 150.0,
            seed: 5,
            ..Default::default()
        };
        let s = battles(&spec);
        let p0 = 1.0 / (1.0 + 10f64.powf((s.ratings[1] - s.ratings[0]) / 400.0));
        let decided: Vec<_> = s.battles.iter().filter(|b| !b.winner.is_tie()).collect();
        let wins0 = decided
            .iter()
            .filter(|b| {
                let a_won = b.winner == Winner::ModelA;
                (b.model_a == s.models[0]) == a_won
            })
            .count() as f64
            / decided.len() as f64;
        // Binomial sd ~0.0012 for n = 160k: 5 sd.
        assert!((wins0 - p0).abs() < 0.006, "{wins0} vs {p0}");
        let ties = (s.battles.len() - decided.len()) as f64 / 2e5;
        assert!((ties - 0.2).abs() < 0.0045, "{ties}");
    }

    #[test]
    fn kwise_top_choice_matches_plackett_luce() {
        // Three models; P(first) = exp(u_i) / sum exp(u_j).
        let names = model_names(3);
        let ratings = [1200.0, 1000.0, 800.0];
        let votes = kwise(&names, &ratings, 3, 60_000, 3);
        let u: Vec<f64> = ratings
            .iter()
            .map(|r| r * std::f64::consts::LN_10 / 400.0)
            .collect();
        let z: f64 = u.iter().map(|x| x.exp()).sum();
        let top0 = votes
            .iter()
            .filter(|v| v.models[v.ranking.iter().position(|&r| r == 1).unwrap()] == names[0])
            .count() as f64
            / 60_000.0;
        let p0 = u[0].exp() / z;
        assert!((top0 - p0).abs() < 0.01, "{top0} vs {p0}");
    }

    #[test]
    fn ratings_track_hidden_quality() {
        let r = ratings(200, 4, 0.5, 0);
        assert_eq!(r.len(), 800);
        // Overall score and hidden quality are strongly correlated.
        let n = r.len() as f64;
        let (xs, ys): (Vec<f64>, Vec<f64>) =
            r.iter().map(|(x, q)| (x.overall.unwrap(), *q)).unzip();
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
        assert!(cov / (vx * vy).sqrt() > 0.85);
    }
}
