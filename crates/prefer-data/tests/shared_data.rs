//! Every dataset in ../shared/data loads, with its record counts asserted. The folder is
//! not part of the repository: without it these tests print why and pass.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use prefer_data::convert::{HH_ASSISTANT, explicit_prompt};
use prefer_data::{Aggregate, Dataset, Error, Layout, OpenOptions, Record, Shape, Winner};

fn data_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!(
            "skipped: {} is absent (shared data is not in the repository)",
            d.display()
        );
        None
    }
}

/// (valid records, invalid records with their messages)
fn load(path: PathBuf, opts: &OpenOptions) -> (Vec<Record>, Vec<String>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for item in Dataset::open(&path, opts).unwrap() {
        match item {
            Ok(i) => good.push(i.record),
            Err(Error::Record(e)) => bad.push(e.to_string()),
            Err(e) => panic!("{e}"),
        }
    }
    (good, bad)
}

#[test]
fn hh_rlhf_pairs_with_implicit_prompts() {
    let Some(d) = data_dir() else { return };
    let (good, bad) = load(
        d.join("hh-rlhf/harmless-base-test.jsonl.gz"),
        &OpenOptions::default(),
    );
    assert_eq!((good.len(), bad.len()), (2312, 0), "{bad:?}");
    let mut split = 0;
    for r in good {
        let Record::Pair(p) = r else {
            panic!("not a pair")
        };
        assert!(p.prompt.is_none());
        if let Ok(e) = explicit_prompt(p, HH_ASSISTANT) {
            let prompt = e.prompt.unwrap().flat();
            assert!(prompt.starts_with("\n\nHuman:") && prompt.ends_with("\n\nAssistant:"));
            split += 1;
        }
    }
    // Pairs whose transcripts differ before the last assistant turn cannot be split.
    assert!(split > 2250, "{split}");
}

#[test]
fn ultrafeedback_pairs_and_their_real_defects() {
    let Some(d) = data_dir() else { return };
    let (good, bad) = load(
        d.join("ultrafeedback/train_clean.jsonl"),
        &OpenOptions::default(),
    );
    // 4 records with chosen identical to rejected and 2 with an empty response.
    assert_eq!((good.len(), bad.len()), (994, 6), "{bad:?}");
    assert_eq!(
        bad.iter()
            .filter(|e| e.contains("identical to chosen"))
            .count(),
        4
    );
    let Record::Pair(p) = &good[0] else { panic!() };
    assert!(p.ann.extra["metadata"]["score_chosen"].is_number());
    let (good, bad) = load(
        d.join("ultrafeedback/eval_clean.jsonl"),
        &OpenOptions::default(),
    );
    assert_eq!((good.len(), bad.len()), (199, 1));
}

#[test]
fn pandalm_as_pairs_soft_pairs_and_battles() {
    let Some(d) = data_dir() else { return };
    let path = d.join("pandalm/testset-v1.json");
    let (good, bad) = load(path.clone(), &OpenOptions::default());
    let no_majority = bad.iter().filter(|e| e.contains("no majority")).count();
    assert_eq!(good.len() + bad.len(), 999);
    assert!(no_majority > 90, "{no_majority}");
    let soft = OpenOptions {
        aggregate: Aggregate::Soft,
        ..Default::default()
    };
    let (good_soft, bad_soft) = load(path.clone(), &soft);
    // Soft labels keep the items without a majority; what is left out has an empty response.
    assert!(
        bad_soft.iter().all(|e| e.contains("is empty")),
        "{bad_soft:?}"
    );
    assert_eq!(good_soft.len() + bad_soft.len(), 999);
    let battles = OpenOptions {
        layout: Some(Layout::Pandalm),
        shape: Some(Shape::Battle),
        ..Default::default()
    };
    let (good, bad) = load(path, &battles);
    assert_eq!((good.len(), bad.len()), (2997, 0));
    let ties = good
        .iter()
        .filter(|r| matches!(r, Record::Battle(b) if b.winner == Winner::Tie))
        .count();
    // The file's annotator columns hold 97 + ... tie labels; the votes CSV agrees below.
    let (csv, _) = load(d.join("pandalm/votes_pandalm.csv"), &OpenOptions::default());
    let csv_ties = csv
        .iter()
        .filter(|r| matches!(r, Record::Battle(b) if b.winner == Winner::Tie))
        .count();
    assert_eq!(csv.len(), 2997);
    assert_eq!(ties, csv_ties);
}

#[test]
fn football_results_as_battles() {
    let Some(d) = data_dir() else { return };
    let (good, bad) = load(d.join("football/results.csv"), &OpenOptions::default());
    assert_eq!((good.len(), bad.len()), (49_520, 0));
    let Record::Battle(first) = &good[0] else {
        panic!()
    };
    // 1872-11-30 Scotland 0-0 England.
    assert_eq!(
        (first.model_a.as_str(), first.model_b.as_str()),
        ("Scotland", "England")
    );
    assert_eq!(first.winner, Winner::Tie);
    let teams: std::collections::HashSet<&str> = good
        .iter()
        .flat_map(|r| match r {
            Record::Battle(b) => [b.model_a.as_str(), b.model_b.as_str()],
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(teams.len(), 337);
}

#[test]
fn evalica_toy_votes() {
    let Some(d) = data_dir() else { return };
    for (file, n) in [("simple.csv", 16), ("food.csv", 30)] {
        let (good, bad) = load(d.join("evalica-toy").join(file), &OpenOptions::default());
        assert_eq!((good.len(), bad.len()), (n, 0), "{file}");
    }
}
