//! Agreement with FastChat's leaderboard code on a synthetic battle log
//! (fixtures/fastchat: the generator, the script that ran FastChat's own code, and its
//! output; see the README there for FastChat's conventions).

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;

use prefer_data::{Dataset, OpenOptions, Record};
use prefer_rank::bt::{BtConfig, fit};
use prefer_rank::elo::{EloConfig, run};
use prefer_rank::votes::Votes;

/// The bar: within 0.01 rating points of FastChat.
const FASTCHAT_TOLERANCE: f64 = 0.01;

fn fixture() -> (Votes, serde_json::Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fastchat");
    let mut v = Votes::new();
    for item in Dataset::open(&dir.join("battles.jsonl"), &OpenOptions::default()).unwrap() {
        match item.unwrap().record {
            Record::Battle(b) => v.push_battle(&b).unwrap(),
            other => panic!("{other:?}"),
        }
    }
    let expected =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    (v, expected)
}

fn table(v: &serde_json::Value) -> HashMap<String, f64> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), x.as_f64().unwrap()))
        .collect()
}

#[test]
fn bradley_terry_matches_fastchat_compute_bt() {
    let (v, e) = fixture();
    let f = fit(&v.pair_counts(), &v.items, &BtConfig::default()).unwrap();
    let converged = table(&e["bt"]);
    let fastchat_default = table(&e["bt_fastchat_default"]);
    assert_eq!(converged.len(), v.items.len());
    for (i, m) in v.items.iter().enumerate() {
        // The converged optimum of FastChat's objective (its own default stopping rule
        // ends 5e-3 points short; both are within the bar).
        assert!(
            (f.ratings[i] - converged[m]).abs() < 1e-6,
            "{m}: {} vs {}",
            f.ratings[i],
            converged[m]
        );
        assert!(
            (f.ratings[i] - fastchat_default[m]).abs() < FASTCHAT_TOLERANCE,
            "{m}"
        );
    }
}

#[test]
fn online_elo_matches_fastchat_compute_elo() {
    let (v, e) = fixture();
    let r = run(v.n_items(), &v.votes, &EloConfig::default());
    let want = table(&e["elo"]);
    for (i, m) in v.items.iter().enumerate() {
        assert!(
            (r[i] - want[m]).abs() < 1e-9,
            "{m}: {} vs {}",
            r[i],
            want[m]
        );
    }
}
