//! The `prefer` binary end to end: exit codes, messages, side files.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn prefer(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prefer"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run prefer")
}

/// A JSON file a command wrote.
fn json_file(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn validate_names_line_and_field_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.jsonl"),
        "{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"b\"}\n{\"prompt\":\"q\",\"chosen\":\"a\",\"rejected\":\"a\"}\n",
    )
    .unwrap();
    let o = prefer(&["data", "validate", "p.jsonl"], dir.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("p.jsonl:2: field `rejected`: is identical to chosen"),
        "{}",
        text(&o)
    );
    let o = prefer(&["data", "validate", "missing.jsonl"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing.jsonl"), "{}", text(&o));
}

#[test]
fn convert_stops_at_bad_record_leaving_no_output_or_skips_into_side_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.jsonl"),
        "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\"}\n{\"model_a\":\"x\",\"model_b\":\"x\",\"winner\":\"tie\"}\n{\"model_a\":\"y\",\"model_b\":\"z\",\"winner\":\"tie (bothbad)\"}\n",
    )
    .unwrap();
    let o = prefer(&["data", "convert", "b.jsonl", "b.csv"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("b.jsonl:2: field `model_b`"),
        "{}",
        text(&o)
    );
    assert!(!dir.path().join("b.csv").exists());
    let o = prefer(
        &["data", "convert", "b.jsonl", "b.csv", "--skip-invalid"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(dir.path().join("b.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let rejected = std::fs::read_to_string(dir.path().join("b.rejected.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
    assert!(v["location"].as_str().unwrap().ends_with("b.jsonl:2"));
    assert_eq!(v["field"], "model_b");
    assert!(v["record"].as_str().unwrap().contains("\"model_b\":\"x\""));
}

#[test]
fn ratings_to_pairs_to_unpaired_and_split() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for p in 0..20 {
        for (r, s) in [("a", 2.0), ("b", 8.0), ("c", 5.0)] {
            lines.push_str(&format!(
                "{{\"prompt\":\"q{p}\",\"response\":\"{r}{p}\",\"scores\":{{\"helpfulness\":{s}}}}}\n"
            ));
        }
    }
    std::fs::write(dir.path().join("r.jsonl"), lines).unwrap();
    let o = prefer(
        &[
            "data",
            "convert",
            "r.jsonl",
            "p.parquet",
            "--to",
            "pair",
            "--pairs",
            "all",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = prefer(
        &[
            "data",
            "convert",
            "p.parquet",
            "u.jsonl",
            "--to",
            "unpaired",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let u = std::fs::read_to_string(dir.path().join("u.jsonl")).unwrap();
    assert_eq!(u.lines().count(), 20 * 3 * 2);
    let o = prefer(
        &["data", "split", "p.parquet", "--out-dir", "s"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = prefer(&["data", "stats", "s/train.parquet", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let train = v["records"]["pair"].as_u64().unwrap();
    let o = prefer(&["data", "stats", "s/test.parquet", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let test = v["records"]["pair"].as_u64().unwrap_or(0);
    // All three pairs of a prompt stay in one split.
    assert_eq!(train + test, 60);
    assert_eq!(train % 3, 0);
}

/// Kendall's τ between two scorings of the same items.
fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let (mut c, mut d) = (0i64, 0i64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let s = (a[i] - a[j]) * (b[i] - b[j]);
            if s > 0.0 {
                c += 1;
            } else if s < 0.0 {
                d += 1;
            }
        }
    }
    (c - d) as f64 / (c + d).max(1) as f64
}

/// The demo against the truth its data was generated from: labels, the recovered
/// ranking (refitted here by `prefer rank fit` and compared with the hidden strengths),
/// the reward models' accuracies, and the trained policy's shift on held-out prompts.
#[test]
fn demo_recovers_its_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let model = shared_data().map(|d| d.join("../models/stories260K"));
    let mut args = vec!["demo", "--out", "d", "--prompts", "300"];
    let m = model.as_ref().map(|m| m.display().to_string());
    if let Some(m) = &m {
        args.extend(["--model", m.as_str()]);
    }
    let o = prefer(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let d = dir.path().join("d");
    assert!(d.join("pairs.parquet").exists());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap();
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);

    // Data: the three planted bad records are caught and set aside; the labels follow
    // the hidden quality far above chance.
    let data = &s["data"];
    assert_eq!(
        (data["invalid"].as_u64(), data["rejected"].as_u64()),
        (Some(3), Some(3))
    );
    let agree = f(&data["agree_with_truth"]) / f(&data["compared"]);
    assert!(agree > 0.9, "labels agree with the truth in {agree}");

    // Ranking: fit the demo's battles again through the CLI and compare with the truth.
    let o = prefer(
        &["rank", "fit", "d/battles.jsonl", "--format", "json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let fit: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("battles.truth.json")).unwrap())
            .unwrap();
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for r in fit["rows"].as_array().unwrap() {
        got.push(f(&r["rating"]));
        want.push(f(&truth[r["model"].as_str().unwrap()]));
    }
    assert_eq!(got.len(), 12);
    let tau = kendall_tau(&got, &want);
    let mae = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / 12.0;
    assert!(
        tau > 0.85 && mae < 15.0,
        "Kendall tau {tau}, mean error {mae} Elo"
    );

    // Reward models: GPM captures cyclic preferences that BT cannot (BT stays at chance);
    // PAL serves a minority that one BT model fits against.
    let r = &s["reward"];
    assert!(f(&r["gpm_cyclic"]) > 0.85, "{r}");
    assert!((f(&r["bt_cyclic"]) - 0.5).abs() < 0.1, "{r}");
    assert!(f(&r["pal_minority"]) > f(&r["bt_minority"]) + 0.3, "{r}");
    assert!(f(&r["gpm_topic"]) > 0.7 && f(&r["bt_topic"]) > 0.65, "{r}");

    // Arena: every simulated vote stored; the export refits to the live leaderboard.
    assert_eq!(s["arena"]["votes"].as_u64(), Some(300));
    assert!(f(&s["arena"]["refit_max_difference"]) < 1e-6);

    // Training (stories260K): the policy moved toward the rule on held-out prompts.
    if model.is_some() {
        let t = &s["train"];
        assert!(f(&t["score"]) > f(&t["base_score"]) + 0.5, "{t}");
        assert!(f(&t["win_rate"]) > 0.6, "{t}");
        assert!(
            f(&r["lm_rm_after"]) > 0.9 && f(&r["lm_rm_after"]) > f(&r["lm_rm_before"]),
            "{r}"
        );

        // `prefer train reward --model lm` on the demo's story pairs (one prompt for all, so
        // split by pair): a held-out report far above chance, a sequence-classification
        // folder.
        let o = prefer(
            &[
                "train",
                "reward",
                "--model",
                "lm",
                "--backbone",
                m.as_deref().unwrap(),
                "--train",
                "d/story_pairs.jsonl",
                "--holdout",
                "0.25",
                "--split-by",
                "pair",
                "--epochs",
                "3",
                "--out",
                "rm",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
        let ev: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("rm/eval.json")).unwrap(),
        )
        .unwrap();
        assert!(
            ev["n"].as_u64().unwrap_or(0) >= 20 && f(&ev["accuracy"]) > 0.9,
            "{ev}"
        );
        let cfg = std::fs::read_to_string(dir.path().join("rm/config.json")).unwrap();
        assert!(cfg.contains("LlamaForSequenceClassification"), "{cfg}");
    }
}

fn shared_data() -> Option<std::path::PathBuf> {
    let d = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("skipped: {} is absent", d.display());
        None
    }
}

#[test]
fn rank_fit_pandalm_and_football_leaderboards() {
    let Some(d) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let votes = d.join("pandalm/votes_pandalm.csv");
    let o = prefer(
        &[
            "rank",
            "fit",
            votes.to_str().unwrap(),
            "--ci",
            "sandwich",
            "--format",
            "json",
            "--plot",
            "r.svg",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    // llama-7b wins most of its human-judged comparisons in PandaLM's test set.
    assert_eq!(rows[0]["model"], "llama-7b");
    assert!(
        rows.iter()
            .all(|r| r["lower"].as_f64().unwrap() < r["rating"].as_f64().unwrap())
    );
    assert!(
        std::fs::read_to_string(dir.path().join("r.svg"))
            .unwrap()
            .contains("llama-7b")
    );

    let football = d.join("football/results.csv");
    let o = prefer(&["rank", "fit", football.to_str().unwrap()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("disconnected components") && text(&o).contains("Aymara"),
        "{}",
        text(&o)
    );
    let o = prefer(
        &[
            "rank",
            "fit",
            football.to_str().unwrap(),
            "--largest-component",
            "--l2",
            "1",
            "--format",
            "csv",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(csv.lines().count(), 1 + 334);
}

#[test]
fn rank_fit_rejects_bad_votes_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("v.jsonl"),
        "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\"}\n{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"draw!\"}\n",
    )
    .unwrap();
    let o = prefer(&["rank", "fit", "v.jsonl"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("v.jsonl:2: field `winner`"),
        "{}",
        text(&o)
    );
    std::fs::write(dir.path().join("e.jsonl"), "").unwrap();
    let o = prefer(&["rank", "fit", "e.jsonl"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no votes"), "{}", text(&o));
}

// Issue 11: `rank fit` had an output `--format` and an input `--format`, and only the
// first could be reached. The input one is `--input-format` everywhere now.
#[test]
fn rank_fit_input_format_reaches_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    // JSONL battles under an extension that names no format.
    std::fs::write(
        dir.path().join("votes.txt"),
        "{\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_a\"}\n\
         {\"model_a\":\"y\",\"model_b\":\"x\",\"winner\":\"model_b\"}\n\
         {\"model_a\":\"x\",\"model_b\":\"y\",\"winner\":\"model_b\"}\n",
    )
    .unwrap();
    let o = prefer(&["rank", "fit", "votes.txt"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("extension `.txt`") && text(&o).contains("--input-format"),
        "{}",
        text(&o)
    );

    // Read as JSONL, written as JSON: both format flags in one command.
    let o = prefer(
        &[
            "rank",
            "fit",
            "votes.txt",
            "--input-format",
            "jsonl",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    // x won two of the three votes.
    assert_eq!(rows.len(), 2, "{v}");
    assert_eq!(rows[0]["model"], "x", "{v}");

    // The value reaches the Parquet reader, which rejects a text file, instead of the
    // parser refusing `parquet` as an output format.
    let o = prefer(
        &["rank", "fit", "votes.txt", "--input-format", "parquet"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("votes.txt: not a readable Parquet file"),
        "{}",
        text(&o)
    );

    let o = prefer(
        &["rank", "fit", "votes.txt", "--input-format", "yaml"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("unknown --input-format `yaml`"),
        "{}",
        text(&o)
    );
}

/// `prefer game solve` from a CSV matrix: the non-symmetric 3×3 game of issue 11 (its
/// interior Nash equilibrium is (2/9, 1/3, 4/9) in closed form). Nash-MD's average
/// iterate and EGPO's last iterate reach it; an iterate the method's paper does not
/// analyse is refused with the method and what it accepts; `converged` follows --tol.
#[test]
fn game_solve_reaches_the_closed_form_nash_and_refuses_unsupported_iterates() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("g.csv"),
        ",a,b,c\na,0.5,0.9,0.2\nb,0.1,0.5,0.7\nc,0.8,0.3,0.5\n",
    )
    .unwrap();
    let nash = [2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0];
    for (method, iterate) in [("nash-md", "average"), ("egpo", "last")] {
        let o = prefer(
            &[
                "game",
                "solve",
                "g.csv",
                "--method",
                method,
                "--tau",
                "0",
                "--iterate",
                iterate,
                "--tol",
                "0.01",
                "--json",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{method}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let p: Vec<f64> = v["policy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let dist = p
            .iter()
            .zip(nash)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(dist < 0.02, "{method} {iterate}: {p:?}, Nash {nash:?}");
        if method == "egpo" {
            assert_eq!(v["converged"], true, "{v}");
        }
    }
    let o = prefer(
        &[
            "game",
            "solve",
            "g.csv",
            "--method",
            "egpo",
            "--iterate",
            "average",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    let e = text(&o);
    assert!(e.contains("egpo") && e.contains("accepts: last"), "{e}");
}

#[test]
fn choice_simulate_fit_and_compare_recover_the_generating_theory() {
    let dir = tempfile::tempdir().unwrap();
    let o = prefer(
        &[
            "choice",
            "simulate",
            "--model",
            "hyperbolic",
            "--params",
            "k=0.05,phi=0.2",
            "--problems",
            "400",
            "--seed",
            "3",
            "-o",
            "dd.jsonl",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = prefer(
        &[
            "choice",
            "fit",
            "dd.jsonl",
            "--model",
            "hyperbolic",
            "--json",
            "fit.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = json_file(dir.path(), "fit.json");
    for (name, truth) in [("k", 0.05), ("phi", 0.2)] {
        let e = v["all"]["estimates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap();
        let (lo, hi) = (e["lower"].as_f64().unwrap(), e["upper"].as_f64().unwrap());
        assert!(lo < truth && truth < hi, "{name}: [{lo}, {hi}]");
    }
    // Held-out comparison marks the generating theory best.
    let o = prefer(&["choice", "compare", "dd.jsonl"], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let best: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_end().ends_with('*'))
        .collect();
    assert!(
        best.len() == 1 && best[0].starts_with("hyperbolic"),
        "{out}"
    );
    // A risky theory refuses delayed options, naming the record.
    let o = prefer(&["choice", "fit", "dd.jsonl", "--model", "ev"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("record 1 (id q0)") && text(&o).contains("delay"),
        "{}",
        text(&o)
    );
}

#[test]
fn choice_fit_names_bad_records_and_skips_them_into_a_side_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("c.jsonl"),
        concat!(
            r#"{"options": [{"outcomes": [100, 0], "probs": [0.5, 0.5]}, {"amount": 40}], "counts": [6, 4]}"#,
            "\n",
            r#"{"options": [{"outcomes": [100, 0], "probs": [0.5, 0.4]}, {"amount": 40}], "choice": 0}"#,
            "\n",
            r#"{"options": [{"outcomes": [50, 0], "probs": [0.5, 0.5]}, {"amount": 30}], "choice": 2}"#,
            "\n",
            r#"{"options": [{"outcomes": [80, 0], "probs": [0.5, 0.5]}, {"amount": 30}], "counts": [7, 3]}"#,
            "\n",
        ),
    )
    .unwrap();
    let o = prefer(&["choice", "fit", "c.jsonl", "--model", "ev"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("c.jsonl:2: field `options[0].probs`: sum to 0.9"),
        "{}",
        text(&o)
    );
    let o = prefer(
        &[
            "choice",
            "fit",
            "c.jsonl",
            "--model",
            "ev",
            "--skip-invalid",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let side = std::fs::read_to_string(dir.path().join("c.rejected.jsonl")).unwrap();
    assert_eq!(side.lines().count(), 2, "{side}");
    assert!(side.contains("outside the choice set"), "{side}");
}

#[test]
fn choice_utilities_on_pandalm_votes() {
    let Some(d) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let votes = d.join("pandalm/votes_pandalm.csv");
    let o = prefer(
        &[
            "choice",
            "utilities",
            votes.to_str().unwrap(),
            "--json",
            "u.json",
            "--plot",
            "u.svg",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = json_file(dir.path(), "u.json");
    let u = v["utilities"].as_array().unwrap();
    assert_eq!(u.len(), 5);
    // The same order `prefer rank fit` gives these votes (rank_fit_pandalm_...): llama-7b
    // on top; utilities normalized to mean 0.
    let top = u
        .iter()
        .max_by(|a, b| {
            a["mean"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["mean"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(top["item"], "llama-7b");
    let mean: f64 = u.iter().map(|x| x["mean"].as_f64().unwrap()).sum::<f64>() / 5.0;
    assert!(mean.abs() < 1e-9);
    assert_eq!(v["transitivity"]["triads"], 10);
    assert!(dir.path().join("u.svg").exists());
}

#[test]
fn choice_ask_puts_the_questions_to_a_model_and_fits_each_group() {
    let Some(d) = shared_data() else { return };
    let model = d.join("../models/stories260K");
    let dir = tempfile::tempdir().unwrap();
    let o = prefer(
        &[
            "choice",
            "simulate",
            "--model",
            "ev",
            "--problems",
            "30",
            "-o",
            "h.jsonl",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = prefer(
        &[
            "choice",
            "ask",
            "h.jsonl",
            "--model-dir",
            model.to_str().unwrap(),
            "--with-input",
            "--per-problem",
            "4",
            "-o",
            "both.jsonl",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("both.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 60);
    assert!(lines[..30].iter().all(|l| l["group"] == "human"));
    for l in &lines[30..] {
        assert_eq!(l["group"], "stories260K");
        let c: Vec<f64> = l["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!(
            (c.iter().sum::<f64>() - 4.0).abs() < 1e-9 && c.iter().all(|x| *x > 0.0),
            "{c:?}"
        );
    }
    // Both groups fit under expected value (the tiny story model is nearly indifferent:
    // its φ is far below the simulated people's 0.15).
    let o = prefer(
        &[
            "choice",
            "fit",
            "both.jsonl",
            "--model",
            "ev",
            "--by-group",
            "--json",
            "f.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = json_file(dir.path(), "f.json");
    let phi = |g: &str| v[g]["estimates"][0]["value"].as_f64().unwrap();
    assert!(phi("stories260K") < phi("human") / 3.0, "{v}");
}

#[test]
fn choice_explain_puts_groups_of_annotators_side_by_side() {
    let Some(d) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let hh = format!(
        "hh={}",
        d.join("hh-rlhf/harmless-base-test.jsonl.gz").display()
    );
    let uf = format!(
        "gpt4={}",
        d.join("ultrafeedback/train_clean.jsonl").display()
    );
    let o = prefer(
        &[
            "choice", "explain", "--data", &hh, "--data", &uf, "--json", "e.json", "--plot",
            "e.svg",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = json_file(dir.path(), "e.json");
    // Every record of the harmless-base test split (2,312 in ../shared/data/README.md).
    assert_eq!(v["hh"]["comparisons"], 2312);
    // UltraFeedback's sample has 1,000 pairs; 6 have identical answers and are left out.
    assert_eq!(v["gpt4"]["comparisons"], 994);
    assert!(
        text(&o).contains("gpt4: left out 6 records"),
        "{}",
        text(&o)
    );
    let effects = v["hh"]["effects"].as_array().unwrap();
    assert_eq!(effects.len(), 8);
    // No hh-rlhf answer holds a code fence: the effect stays at its prior.
    let code = effects.iter().find(|e| e["name"] == "code").unwrap();
    assert_eq!(code["support"], 0);
    assert!(code["mean"].as_f64().unwrap().abs() < 1e-9);
    assert!(text(&o).contains("(never differs)"));
}

#[test]
fn choice_explain_scored_reads_a_scorers_factor_weights_on_the_same_pairs() {
    let Some(d) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A scorer that prefers the longer answer, written as score_chosen/score_rejected on
    // UltraFeedback's pairs: its length effect must dominate, and its agreement with the
    // labels is the share of pairs whose chosen answer is longer.
    let source = std::fs::read_to_string(d.join("ultrafeedback/train_clean.jsonl")).unwrap();
    let (mut out, mut longer, mut ties) = (String::new(), 0, 0);
    for line in source.lines().take(300) {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let lc = v["chosen"].as_str().unwrap().chars().count() as f64;
        let lr = v["rejected"].as_str().unwrap().chars().count() as f64;
        if v["chosen"] == v["rejected"] {
            continue;
        }
        longer += usize::from(lc > lr);
        ties += usize::from(lc == lr);
        v["score_chosen"] = lc.into();
        v["score_rejected"] = lr.into();
        out += &v.to_string();
        out.push('\n');
    }
    std::fs::write(dir.path().join("scored.jsonl"), out).unwrap();
    let uf = format!(
        "gpt4={}",
        d.join("ultrafeedback/train_clean.jsonl").display()
    );
    let o = prefer(
        &[
            "choice",
            "explain",
            "--data",
            &uf,
            "--scored",
            "length-judge=scored.jsonl",
            "--json",
            "e.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "length-judge: prefers the labelled chosen answer in {longer} of"
        )),
        "{}",
        text(&o)
    );
    let v: serde_json::Value = json_file(dir.path(), "e.json");
    let effect = |g: &str, p: &str| {
        v[g]["effects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == p)
            .unwrap()["mean"]
            .as_f64()
            .unwrap()
    };
    assert!(effect("length-judge", "log_length") > 2.0, "{v}");
    assert!(effect("length-judge", "log_length") > 10.0 * effect("gpt4", "log_length").abs());
    let n = v["length-judge"]["comparisons"].as_u64().unwrap() as usize;
    assert!(ties == 0 || n < 300);
    // The scorer's choices follow length exactly, so the properties predict nearly all.
    assert!(v["length-judge"]["accuracy"].as_f64().unwrap() > 0.9, "{v}");
    // A file without scores is refused, naming the record.
    let o = prefer(&["choice", "explain", "--scored", &uf], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no score_chosen/score_rejected"),
        "{}",
        text(&o)
    );
}

#[test]
fn choice_dilemmas_scores_values_and_framework_dimensions() {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = repo.join("docs/examples/dilemmas.jsonl");
    let fw = repo.join("docs/examples/moral_foundations.json");
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "choice".to_string(),
        "dilemmas".into(),
        file.display().to_string(),
        "--framework".into(),
        fw.display().to_string(),
        "--json".into(),
        "v.json".into(),
        "--plot".into(),
        "v.svg".into(),
    ];
    let model = shared_data().map(|d| d.join("../models/stories260K"));
    if let Some(m) = &model {
        args.extend(["--model-dir".into(), m.display().to_string()]);
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = prefer(&a, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = json_file(dir.path(), "v.json");
    let dim = |g: &str, d: &str| {
        v[g].as_array()
            .unwrap()
            .iter()
            .find(|x| x["value"] == d)
            .unwrap()
            .clone()
    };
    // By hand from docs/examples/dilemmas.jsonl: an action holding care or kindness
    // appears 7 times (d6 holds both: two appearances) and is chosen in d3, d5, d6
    // (twice), d7 and d8, not in d1: 6 chosen, 1 neglected -> (6 - 1) / 7.
    let care = dim("file", "care");
    assert_eq!(care["appearances"], 7.0);
    assert!(
        (care["preference"].as_f64().unwrap() - 5.0 / 7.0).abs() < 1e-12,
        "{care}"
    );
    // liberty (self-interest) is never chosen.
    assert_eq!(dim("file", "liberty")["preference"], -1.0);
    if model.is_some() {
        // The model's soft choices give fractional tallies over the same appearances.
        let m = dim("stories260K", "care");
        assert_eq!(m["appearances"], 7.0);
        let p = m["preference"].as_f64().unwrap();
        assert!(p > -1.0 && p < 1.0);
    }
    assert!(dir.path().join("v.svg").exists());
}

#[test]
fn choice_elicit_asks_a_model_pairwise_and_reports_coherence() {
    let Some(d) = shared_data() else { return };
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let items = repo.join("docs/examples/outcomes.txt");
    let model = d.join("../models/stories260K");
    let o = prefer(
        &[
            "choice",
            "elicit",
            "--items",
            items.to_str().unwrap(),
            "--model-dir",
            model.to_str().unwrap(),
            "--edge-multiplier",
            "0.8",
            "--edges-per-round",
            "5",
            "--json",
            "u.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    // 0.8 · 10 · log2(10) = 26.6: 27 of the 45 pairs, the first 10 from the initial ring.
    assert!(text(&o).contains("asked 27 of 45 pairs"), "{}", text(&o));
    let v: serde_json::Value = json_file(dir.path(), "u.json");
    let u = v["utilities"].as_array().unwrap();
    assert_eq!(u.len(), 10);
    let mean: f64 = u.iter().map(|x| x["mean"].as_f64().unwrap()).sum::<f64>() / 10.0;
    assert!(mean.abs() < 1e-9);
    assert!(v["transitivity"]["triads"].as_u64().unwrap() <= 120);
}

#[test]
fn choice_control_moves_a_models_utilities_toward_a_target() {
    let Some(d) = shared_data() else { return };
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let items = repo.join("docs/examples/outcomes.txt");
    let target = repo.join("docs/examples/outcomes_target.json");
    let model = d.join("../models/stories260K");
    let dir = tempfile::tempdir().unwrap();
    let agreement = |model_dir: &str| -> f64 {
        let o = prefer(
            &[
                "choice",
                "elicit",
                "--items",
                items.to_str().unwrap(),
                "--model-dir",
                model_dir,
                "--target",
                target.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
        let out = text(&o);
        let line = out
            .lines()
            .find(|l| l.starts_with("agreement with"))
            .unwrap()
            .to_string();
        let v: f64 = line
            .split(": ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        v
    };
    let before = agreement(model.to_str().unwrap());
    let o = prefer(
        &[
            "choice",
            "control",
            "--items",
            items.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
            "-o",
            "pairs.jsonl",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    // 10 outcomes with distinct target utilities: 45 pairs, both orders.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pairs.jsonl"))
            .unwrap()
            .lines()
            .count(),
        90
    );
    let o = prefer(
        &[
            "train",
            "dpo",
            "--model",
            model.to_str().unwrap(),
            "--train",
            "pairs.jsonl",
            "--out",
            "run",
            "--steps",
            "60",
            "--lr",
            "5e-3",
            "--batch-size",
            "8",
            "--beta",
            "0.1",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let after = agreement(dir.path().join("run/checkpoint-60").to_str().unwrap());
    // Measured: 0.40 before, 0.84 after (docs/choice.md).
    assert!(
        after > before + 0.25 && after > 0.7,
        "before {before}, after {after}"
    );
}

#[test]
fn choice_introspect_writes_self_prediction_data_and_scores_predictors() {
    let Some(d) = shared_data() else { return };
    let model = d.join("../models/stories260K");
    let m = model.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let o = prefer(
        &[
            "choice",
            "simulate",
            "--model",
            "ev",
            "--problems",
            "40",
            "--seed",
            "9",
            "-o",
            "q.jsonl",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = prefer(
        &[
            "choice",
            "introspect",
            "q.jsonl",
            "--behaviour-model",
            m,
            "--train-out",
            "self.jsonl",
            "--predictor",
            m,
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    // Half the 40 two-option problems train: one pair each (the other letter rejected).
    let pairs: Vec<serde_json::Value> = std::fs::read_to_string(dir.path().join("self.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(pairs.len(), 20);
    assert!(pairs.iter().all(|p| p["chosen"] != p["rejected"]));
    let out = text(&o);
    assert!(
        out.contains("predicting stories260K's choices on 20 held-out problems"),
        "{out}"
    );
    let row = out
        .lines()
        .find(|l| l.starts_with("stories260K ("))
        .unwrap();
    let nums: Vec<f64> = row
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // accuracy and the majority baseline are shares.
    assert!(
        nums.len() >= 2 && nums.iter().take(2).all(|x| (0.0..=1.0).contains(x)),
        "{row}"
    );
}

#[test]
fn eval_bestofn_scores_rewardbench2_instances_and_names_bad_lines() {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo.join("crates/prefer-eval/tests/fixtures/rewardbench2/scores.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lines: String = fx["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{i}\n"))
        .collect();
    std::fs::write(dir.path().join("s.jsonl"), &lines).unwrap();
    let o = prefer(
        &["eval", "bestofn", "s.jsonl", "--json", "r.json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = json_file(dir.path(), "r.json");
    // The benchmark's own Ties score for these instances (make_scores.py).
    let want = fx["subset_scores"]["Ties"].as_f64().unwrap();
    assert!((r["subsets"]["Ties"].as_f64().unwrap() - want).abs() < 1e-12);
    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"id\": \"a\", \"subset\": \"Math\", \"scores\": \"x\", \"num_correct\": 1}\n",
    )
    .unwrap();
    let o = prefer(&["eval", "bestofn", "bad.jsonl"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("bad.jsonl:1: field `scores`"),
        "{}",
        text(&o)
    );
}

#[test]
fn eval_rmbench_reads_rm_benchs_results_array() {
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo.join("crates/prefer-eval/tests/fixtures/rmbench/scores.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("results.json"), fx["items"].to_string()).unwrap();
    let o = prefer(
        &["eval", "rmbench", "results.json", "--json", "r.json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let r = json_file(dir.path(), "r.json");
    // RM-Bench's own compute_accuracy on these scores (make_scores.py).
    for (ours, theirs) in [
        ("hard", "hard_acc"),
        ("normal", "normal_acc"),
        ("easy", "easy_acc"),
        ("total", "total_avg_acc"),
    ] {
        let (a, b) = (
            r[ours].as_f64().unwrap(),
            fx["reference"][theirs].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-12, "{ours}: {a} vs {b}");
    }
    std::fs::write(
        dir.path().join("bad.json"),
        r#"[{"id": 1, "score_chosen": [1, 2], "score_rejected": "x"}]"#,
    )
    .unwrap();
    let o = prefer(&["eval", "rmbench", "bad.json"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("bad.json: element 0: field `score_rejected`"),
        "{}",
        text(&o)
    );
}

#[test]
fn rank_fit_where_and_by_give_category_leaderboards() {
    let Some(d) = shared_data() else { return };
    let votes = d.join("pandalm/votes_pandalm.csv");
    let dir = tempfile::tempdir().unwrap();
    // By hand: annotator2's rows alone, as their own file.
    let csv = std::fs::read_to_string(&votes).unwrap();
    let mut lines = csv.lines();
    let mut own = format!("{}\n", lines.next().unwrap());
    for l in lines.filter(|l| l.split(',').nth(3) == Some("annotator2")) {
        own.push_str(l);
        own.push('\n');
    }
    std::fs::write(dir.path().join("a2.csv"), own).unwrap();
    let fit = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["rank", "fit"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let o = prefer(&all, dir.path());
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let by_hand = fit(&["a2.csv"]);
    let filtered = fit(&[votes.to_str().unwrap(), "--where", "user_id=annotator2"]);
    assert_eq!(by_hand["rows"], filtered["rows"]);
    let by = fit(&[votes.to_str().unwrap(), "--by", "user_id"]);
    assert_eq!(by.as_object().unwrap().len(), 3);
    assert_eq!(by["annotator2"]["rows"], by_hand["rows"]);
    let o = prefer(
        &[
            "rank",
            "fit",
            votes.to_str().unwrap(),
            "--where",
            "user_id=nobody",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no votes with user_id = nobody"),
        "{}",
        text(&o)
    );
}

#[test]
fn rank_voters_flags_a_reversing_judge_and_keeps_pandalm_annotators() {
    // 20 judges who pick the stronger of two models 3 times in 4, and one who always
    // picks the weaker.
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for j in 0..21 {
        let judge = if j == 20 {
            "bot".to_string()
        } else {
            format!("u{j}")
        };
        for t in 0..60usize {
            let (a, b) = (t % 6, (t / 6 + t + 1) % 6);
            if a == b {
                continue;
            }
            let stronger_wins = if j == 20 { false } else { t % 4 != 0 };
            let a_wins = (a > b) == stronger_wins;
            let w = if a_wins { "model_a" } else { "model_b" };
            body.push_str(&format!(
                "{{\"model_a\":\"m{a}\",\"model_b\":\"m{b}\",\"winner\":\"{w}\",\"judge\":\"{judge}\"}}\n"
            ));
        }
    }
    std::fs::write(dir.path().join("b.jsonl"), &body).unwrap();
    let o = prefer(
        &["rank", "voters", "b.jsonl", "--json", "v.json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("1 flagged"), "{}", text(&o));
    let v = json_file(dir.path(), "v.json");
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 21);
    assert_eq!(list[0]["voter"], "bot");
    assert_eq!(list[0]["excluded"], true);
    assert!(list[0]["reason"].as_str().unwrap().contains("consensus"));
    assert!(list[1..].iter().all(|x| x["excluded"] == false));
    // A field no record has is an error that says which.
    let o = prefer(&["rank", "voters", "b.jsonl", "--voter", "who"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no record has the voter field `who`"),
        "{}",
        text(&o)
    );

    // PandaLM's three human annotators (999 votes each) all vote with the consensus: none
    // is flagged, each z is within ±3.
    let Some(d) = shared_data() else { return };
    let votes = d.join("pandalm/votes_pandalm.csv");
    let o = prefer(
        &[
            "rank",
            "voters",
            votes.to_str().unwrap(),
            "--voter",
            "user_id",
            "--json",
            "p.json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let v = json_file(dir.path(), "p.json");
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 3);
    for a in list {
        assert_eq!(a["battles"], 999);
        assert_eq!(a["excluded"], false);
        assert!(a["z"].as_f64().unwrap().abs() < 3.0, "{a}");
    }
}

/// `prefer train grpo` from flags as the help shows them: prompts, two reward sources with
/// weights, a few steps on stories260K; the run folder holds the metrics with the reward
/// of each source, and a malformed `--reward` is refused with the accepted forms.
#[test]
fn train_grpo_from_flags_logs_each_reward_source() {
    let Some(d) = shared_data() else { return };
    let model = d.join("../models/stories260K");
    let dir = tempfile::tempdir().unwrap();
    let prompts: Vec<String> = ["Once upon a time", "One day, a dog", "There was a cat"]
        .iter()
        .map(|p| serde_json::json!({ "prompt": p }).to_string())
        .collect();
    std::fs::write(dir.path().join("p.jsonl"), prompts.join("\n")).unwrap();
    let args = |reward: &'static str| {
        vec![
            "train".to_string(),
            "grpo".into(),
            "--model".into(),
            model.to_str().unwrap().into(),
            "--prompts".into(),
            "p.jsonl".into(),
            "--reward".into(),
            "lexicon".into(),
            "--reward".into(),
            reward.into(),
            "--out".into(),
            "run".into(),
            "--steps".into(),
            "3".into(),
            "--batch-size".into(),
            "8".into(),
            "--set".into(),
            "objective.max_completion_length=16".into(),
            "--quiet".into(),
        ]
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        prefer(&a, dir.path())
    };
    let o = run(args("length:10*0.5"));
    assert!(o.status.success(), "{}", text(&o));
    let m = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(m.lines().last().unwrap()).unwrap();
    let (lex, len, total) = (
        last["rewards/lexicon/mean"].as_f64().unwrap(),
        last["rewards/length/mean"].as_f64().unwrap(),
        last["reward"].as_f64().unwrap(),
    );
    assert!((total - (lex + 0.5 * len)).abs() < 1e-9, "{last}");
    assert_eq!(last["step"], 3.0);
    let o = run(args("length*2"));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("expected lexicon, length:TARGET or contains:TEXT"),
        "{}",
        text(&o)
    );
}

/// `prefer judge` on the PandaLM human test set. The length baseline on all 999 pairs:
/// its agreement must be what the test computes itself from the file (majority of the
/// three annotators vs "more words wins"), and the written judgments must add up to the
/// report. Then the LLM judge over the real llama-server (stories260K, grammar-constrained)
/// on short pairs: every judgment parses, a rerun is answered from the cache alone.
#[test]
fn judge_pandalm_with_the_length_baseline_and_llama_server() {
    let Some(d) = shared_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = d.join("pandalm/testset-v1.json");
    let o = prefer(
        &[
            "judge",
            data.to_str().unwrap(),
            "--baseline",
            "longer",
            "--json",
            "--out",
            "b",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The same figure computed here from the raw records.
    let rows: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&data).unwrap()).unwrap();
    // A few answers are JSON booleans (the words True / False): one word.
    let words = |v: &serde_json::Value| v.as_str().map_or(1, |s| s.split_whitespace().count());
    let (mut hit, mut n) = (0, 0);
    for row in &rows {
        let votes: Vec<u64> = (1..=3)
            .map(|k| row[format!("annotator{k}")].as_u64().unwrap())
            .collect();
        let Some(label) = (0..3).find(|l| votes.iter().filter(|v| **v == *l).count() >= 2) else {
            continue;
        };
        let (w1, w2) = (words(&row["response1"]), words(&row["response2"]));
        let verdict = match w1.cmp(&w2) {
            std::cmp::Ordering::Greater => 1,
            std::cmp::Ordering::Less => 2,
            std::cmp::Ordering::Equal => 0,
        };
        n += 1;
        hit += usize::from(verdict == label);
    }
    assert_eq!(r["pairs"], 999);
    assert_eq!(r["labelled"].as_u64(), Some(n as u64));
    let agree = hit as f64 / n as f64;
    assert!(
        (r["agreement"].as_f64().unwrap() - agree).abs() < 1e-12,
        "{r} vs {agree}"
    );
    assert_eq!(
        r["position_consistency"], 1.0,
        "a length rule has no position bias"
    );
    let lines = std::fs::read_to_string(dir.path().join("b/judgments.jsonl")).unwrap();
    let js: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(js.len(), 999);
    let same = js.iter().filter(|j| j["verdict"] == j["label"]).count();
    assert_eq!(same, hit);
    assert_eq!(
        json_file(&dir.path().join("b"), "report.json")["agreement"],
        r["agreement"]
    );

    let Ok(url) = std::env::var("PREFER_JUDGE_URL") else {
        println!("skipped: PREFER_JUDGE_URL is not set (.ci/run starts llama-server)");
        return;
    };
    // Eight short pairs that fit the story model's 512-token context with the MT-Bench
    // prompt, and one PandaLM pair that does not: the server refuses it (HTTP 400), which
    // is a recorded failure with the server's reason, never a verdict.
    let mut lines: Vec<String> = (0..8)
        .map(|i| {
            serde_json::json!({
                "prompt": format!("Tell a story about cat {i}."),
                "a": format!("The cat {i} was happy and played in the sun."),
                "b": format!("Cat {i}. Sad. The end."),
                "label": "a",
            })
            .to_string()
        })
        .collect();
    let long = &rows[0];
    lines.push(
        serde_json::json!({
            "prompt": long["instruction"], "a": long["response1"], "b": long["response2"],
            "label": "a",
        })
        .to_string(),
    );
    std::fs::write(dir.path().join("short.jsonl"), lines.join("\n")).unwrap();
    let args = [
        "judge",
        "short.jsonl",
        "--url",
        &url,
        "--grammar",
        "--max-tokens",
        "8",
        "--cache",
        "c.jsonl",
        "--out",
        "l",
        "--json",
    ];
    let o = prefer(&args, dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["failures"], 1, "{r}");
    assert_eq!(
        (
            r["usage"]["answered"].as_u64(),
            r["usage"]["failed"].as_u64()
        ),
        (Some(16), Some(2)),
        "{r}"
    );
    assert_eq!(r["labelled"], 8, "the failed pair is not counted: {r}");
    let js = std::fs::read_to_string(dir.path().join("l/judgments.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(js.lines().last().unwrap()).unwrap();
    assert!(last["verdict"].is_null(), "{last}");
    assert!(
        last["first"]["failure"]
            .as_str()
            .unwrap()
            .contains("context"),
        "{last}"
    );
    let c = r["position_consistency"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c), "{r}");
    assert!(r["tokens_per_1000"].as_f64().unwrap() > 0.0, "{r}");
    let o = prefer(&args, dir.path());
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The answered requests come from the cache; the refused ones are asked again.
    assert_eq!(again["usage"]["cache_hits"].as_u64(), Some(16), "{again}");
    assert_eq!(again["usage"]["sent"].as_u64(), Some(2), "{again}");
    assert_eq!(again["agreement"], r["agreement"]);
}
