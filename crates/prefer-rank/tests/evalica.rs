//! Reproduces evalica's golden scores (../shared/data/evalica-toy/*-golden.csv) for
//! bradley_terry, elo, average_win_rate, counting and newman (Davidson ties).
//! Conventions (see ../shared/data/README.md): ties count half a win each way; the
//! bradley_terry scores are strengths normalised to sum 1; elo is online with K = 4,
//! initial 1000, scale 400, base 10, in file order.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use prefer_data::{Dataset, OpenOptions, Record};
use prefer_rank::bt::{BtConfig, TieModel, fit};
use prefer_rank::elo::{EloConfig, run};
use prefer_rank::simple::{average_win_rate, counting};
use prefer_rank::votes::Votes;

/// evalica iterates its MM algorithm to 1e-8 (Newman: to 1e-8 on the scores); our
/// Newton fits converge to 1e-10, so the golden values carry the larger error.
const MM_TOLERANCE: f64 = 1e-6;
/// Online Elo is the same arithmetic: it must agree to rounding.
const EXACT: f64 = 1e-9;

fn dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/evalica-toy");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipped: {} is absent", d.display());
        None
    }
}

fn golden(path: PathBuf) -> HashMap<(String, String), f64> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let mut p = l.split(',');
            let (a, i, s) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
            ((a.to_string(), i.to_string()), s.parse().unwrap())
        })
        .collect()
}

fn votes(path: PathBuf) -> Votes {
    let mut v = Votes::new();
    for item in Dataset::open(&path, &OpenOptions::default()).unwrap() {
        match item.unwrap().record {
            Record::Battle(b) => v.push_battle(&b).unwrap(),
            other => panic!("{other:?}"),
        }
    }
    v
}

fn check(name: &str) {
    let Some(d) = dir() else { return };
    let v = votes(d.join(format!("{name}.csv")));
    let g = golden(d.join(format!("{name}-golden.csv")));
    let counts = v.pair_counts();
    let near = |alg: &str, i: usize, x: f64, tol: f64| {
        let want = g[&(alg.to_string(), v.items[i].clone())];
        assert!(
            (x - want).abs() <= tol * want.abs().max(1.0),
            "{name} {alg} {}: {x} vs {want}",
            v.items[i]
        );
    };

    let bt = fit(&counts, &v.items, &BtConfig::default()).unwrap();
    let strengths: Vec<f64> = bt.theta.iter().map(|t| t.exp()).collect();
    let total: f64 = strengths.iter().sum();
    for (i, s) in strengths.iter().enumerate() {
        near("bradley_terry", i, s / total, MM_TOLERANCE);
    }

    let elo = run(v.n_items(), &v.votes, &EloConfig::default());
    for (i, r) in elo.iter().enumerate() {
        near("elo", i, *r, EXACT);
    }
    for (i, s) in average_win_rate(&counts).iter().enumerate() {
        near("average_win_rate", i, *s, EXACT);
    }
    for (i, s) in counting(&counts, 0.5).iter().enumerate() {
        near("counting", i, *s, EXACT);
    }

    // Newman's ties are Davidson's with nu = 2v; his scores are strengths up to a common
    // factor, so compare each strength relative to their geometric mean.
    let dav = fit(
        &counts,
        &v.items,
        &BtConfig {
            ties: TieModel::Davidson,
            ..Default::default()
        },
    )
    .unwrap();
    let newman: Vec<f64> = (0..v.n_items())
        .map(|i| g[&("newman".to_string(), v.items[i].clone())])
        .collect();
    let log_mean = newman.iter().map(|x| x.ln()).sum::<f64>() / newman.len() as f64;
    for (i, t) in dav.theta.iter().enumerate() {
        let want = newman[i].ln() - log_mean;
        assert!(
            (t - want).abs() < 1e-4,
            "{name} newman {}: {t} vs {want}",
            v.items[i]
        );
    }
}

#[test]
fn simple_golden() {
    check("simple");
}

#[test]
fn food_golden() {
    check("food");
}
