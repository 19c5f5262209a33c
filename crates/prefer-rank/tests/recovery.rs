//! Recovery of known ground truth: ratings fitted to votes simulated from hidden
//! strengths come back in the right order (Kendall's tau) and close (RMSE).

#![allow(clippy::unwrap_used)]

use prefer_data::synth::{BattleSpec, battles, kwise};
use prefer_rank::bt::BtConfig;
use prefer_rank::elo::EloConfig;
use prefer_rank::ksort::KSortConfig;
use prefer_rank::leaderboard::{Interval, Method, RankData, leaderboard};
use prefer_rank::pl::PlConfig;
use prefer_rank::thurstone::ThurstoneConfig;

/// Kendall's tau-a between two score vectors.
fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len();
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += ((a[i] - a[j]) * (b[i] - b[j])).signum();
        }
    }
    s / (n * (n - 1) / 2) as f64
}

/// RMSE after centering both.
fn rmse_centered(a: &[f64], b: &[f64]) -> f64 {
    let ma = a.iter().sum::<f64>() / a.len() as f64;
    let mb = b.iter().sum::<f64>() / b.len() as f64;
    (a.iter()
        .zip(b)
        .map(|(x, y)| (x - ma - (y - mb)).powi(2))
        .sum::<f64>()
        / a.len() as f64)
        .sqrt()
}

fn fitted(data: &RankData, m: &Method, names: &[String]) -> Vec<f64> {
    let b = leaderboard(data, m, &Interval::None).unwrap();
    names
        .iter()
        .map(|n| b.rows.iter().find(|r| &r.model == n).unwrap().rating)
        .collect()
}

#[test]
fn pairwise_methods_recover_bt_strengths_with_uneven_popularity() {
    let s = battles(&BattleSpec {
        models: 20,
        battles: 40_000,
        tie_rate: 0.0,
        spread: 150.0,
        skew: 0.8,
        seed: 21,
    });
    let mut d = RankData::default();
    for b in &s.battles {
        d.push_pair(&b.model_a, &b.model_b, b.winner.into())
            .unwrap();
    }
    let truth: Vec<f64> = s
        .models
        .iter()
        .map(|m| s.ratings[s.models.iter().position(|x| x == m).unwrap()])
        .collect();
    let bt = fitted(&d, &Method::Bt(BtConfig::default()), &s.models);
    assert!(
        kendall_tau(&bt, &truth) > 0.9,
        "tau {}",
        kendall_tau(&bt, &truth)
    );
    // 40k votes, the least popular model has ~500: a few Elo points of error on average.
    assert!(
        rmse_centered(&bt, &truth) < 15.0,
        "rmse {}",
        rmse_centered(&bt, &truth)
    );
    // Thurstone's scale differs; its order must agree.
    let th = fitted(
        &d,
        &Method::Thurstone(ThurstoneConfig::default()),
        &s.models,
    );
    assert!(kendall_tau(&th, &truth) > 0.9);
    // Online Elo with K = 4 lags but orders well.
    let elo = fitted(&d, &Method::Elo(EloConfig::default()), &s.models);
    assert!(
        kendall_tau(&elo, &truth) > 0.8,
        "elo tau {}",
        kendall_tau(&elo, &truth)
    );
}

#[test]
fn kwise_methods_recover_plackett_luce_strengths() {
    let names = prefer_data::synth::model_names(12);
    let truth: Vec<f64> = (0..12).map(|i| 1000.0 + 40.0 * (i as f64 - 5.5)).collect();
    let votes = kwise(&names, &truth, 4, 6_000, 5);
    let mut d = RankData::default();
    for v in &votes {
        d.push_kwise(&v.models, &v.ranking).unwrap();
    }
    let pl = fitted(&d, &Method::Pl(PlConfig::default()), &names);
    assert!(kendall_tau(&pl, &truth) > 0.9);
    assert!(
        rmse_centered(&pl, &truth) < 15.0,
        "rmse {}",
        rmse_centered(&pl, &truth)
    );
    // The items do not change in this world: no dynamics (TrueSkill's τ keeps a tracker
    // noisy on purpose, for players whose skill drifts).
    let ks = fitted(
        &d,
        &Method::Ksort(KSortConfig {
            dynamics: 0.0,
            ..KSortConfig::default()
        }),
        &names,
    );
    assert!(
        kendall_tau(&ks, &truth) > 0.85,
        "ksort tau {}",
        kendall_tau(&ks, &truth)
    );
    // BT on the pairwise split of K-wise votes (K-Sort's decomposition) orders them too.
    let bt = fitted(&d, &Method::Bt(BtConfig::default()), &names);
    assert!(kendall_tau(&bt, &truth) > 0.9);
}
