//! Vote quality: a voter who always picks the weaker response is flagged by screening,
//! its votes stay stored and visible to an admin with the reason, and the leaderboard
//! equals the fit of the honest votes alone; votes past a voter's daily cap are stored
//! and not counted, also after a restart.
//!
//! Voters come over HTTP, told apart by `X-Forwarded-For` (the arena trusts it here, as
//! behind a proxy), so the pseudonyms are the arena's own.

use prefer_arena::Arena;
use prefer_arena::battle::VoteBody;
use prefer_rank::bt::BtConfig;
use prefer_rank::intervals::BootstrapConfig;
use prefer_rank::leaderboard::{Interval, Leaderboard, Method, RankData, leaderboard};
use prefer_rank::votes::Outcome;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::common::{Server, config, outputs, start};

const MODELS: &[&str] = &["m0", "m1", "m2", "m3", "m4", "m5"];

/// The true strength (natural log) of a model: 0.5 per step.
fn strength(s: &Server, model_id: i64) -> f64 {
    let cat = s.arena.inner.catalog();
    let name = cat.name(cat.model_index(model_id).unwrap());
    0.5 * name[1..].parse::<f64>().unwrap()
}

/// One K = 4 battle ranked over HTTP by the client at `ip`: a Plackett-Luce voter with
/// the true strengths, or an adversary who ranks them backwards.
async fn vote_http(s: &Server, ip: &str, adversary: bool, rng: &mut impl Rng) {
    let r = s
        .http
        .post(format!("{}/api/battles", s.url))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let b: Value = r.json().await.unwrap();
    let id = b["battle_id"].as_str().unwrap();
    let row = s.arena.inner.db.battle(id).await.unwrap().unwrap();
    // Plackett-Luce by the Gumbel trick; the adversary sorts weakest first.
    let mut keys: Vec<(f64, usize)> = row
        .models
        .iter()
        .enumerate()
        .map(|(j, &m)| {
            let st = strength(s, m);
            let key = if adversary {
                -st
            } else {
                st - (-(rng.random::<f64>().max(1e-300)).ln()).ln()
            };
            (key, j)
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut ranking = vec![0u32; keys.len()];
    for (pos, (_, j)) in keys.iter().enumerate() {
        ranking[*j] = pos as u32 + 1;
    }
    let r = s
        .http
        .post(format!("{}/api/battles/{id}/vote", s.url))
        .header("x-forwarded-for", ip)
        .json(&json!({ "ranking": ranking }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

async fn admin_post(s: &Server, path: &str, body: &Value) -> Value {
    let (st, v) = s.admin_json(reqwest::Method::POST, path, Some(body)).await;
    assert_eq!(st, 200, "{v}");
    v
}

/// `prefer rank fit` on the exported battles that pass `keep`, with the arena's settings.
fn fit_export(s: &Server, text: &str, keep: impl Fn(&Value) -> bool) -> Leaderboard {
    let mut data = RankData::default();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if !keep(&v) {
            continue;
        }
        let o = match v["winner"].as_str().unwrap() {
            "model_a" => Outcome::Win,
            "model_b" => Outcome::Loss,
            _ => Outcome::Tie,
        };
        data.push_pair(
            v["model_a"].as_str().unwrap(),
            v["model_b"].as_str().unwrap(),
            o,
        )
        .unwrap();
    }
    let cfg = &s.arena.inner.cfg;
    let bt = Method::Bt(BtConfig {
        l2: cfg.bt_l2,
        ..Default::default()
    });
    let boot = Interval::Bootstrap(BootstrapConfig {
        rounds: cfg.bootstrap_rounds,
        seed: cfg.seed,
        level: 0.95,
    });
    leaderboard(&data, &bt, &boot).unwrap()
}

fn rating(board: &Leaderboard, model: &str) -> f64 {
    board.rows.iter().find(|r| r.model == model).unwrap().rating
}

/// The arena's Bradley-Terry ratings equal `want`'s (same votes, same order, same code).
fn assert_board_is(s: &Server, want: &Leaderboard) {
    let board = s.arena.leaderboard();
    for m in MODELS {
        let got = board.rows.iter().find(|r| r.model == *m).unwrap();
        let got = got.bt.unwrap().rating;
        assert!(
            (got - rating(want, m)).abs() < 1e-9,
            "{m}: {got} vs {}",
            rating(want, m)
        );
    }
}

async fn adversary(s: &Server) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    // 30 honest voters with 50 votes each, and one adversary with 250, interleaved.
    let mut plan: Vec<usize> = (0..30).flat_map(|w| std::iter::repeat_n(w, 50)).collect();
    plan.extend(std::iter::repeat_n(30, 250));
    for i in (1..plan.len()).rev() {
        plan.swap(i, rng.random_range(0..=i));
    }
    for &w in &plan {
        vote_http(
            s,
            &format!("10.0.{}.{}", w / 200, w % 200 + 1),
            w == 30,
            &mut rng,
        )
        .await;
    }
    s.arena.refit_now().await;

    // Every vote is kept (a 4-wise ranking exports as 6 battles).
    assert_eq!(s.counts().await.2, 1750);
    let (st, export) = s.admin_text("/api/admin/export?format=battles").await;
    assert_eq!(st, 200);
    assert_eq!(export.lines().count(), 1750 * 6);

    // The admin sees the adversary first, excluded, with the reason; nobody else is.
    let (st, voters) = s.admin_text("/api/admin/voters").await;
    assert_eq!(st, 200);
    let voters: Value = serde_json::from_str(&voters).unwrap();
    let list = voters["voters"].as_array().unwrap();
    assert_eq!(list.len(), 31);
    let bad = &list[0];
    assert_eq!(bad["votes"], 250);
    assert_eq!(bad["excluded"], true, "{bad}");
    let reason = bad["reason"].as_str().unwrap();
    assert!(reason.contains("consensus"), "{reason}");
    assert!(bad["z"].as_f64().unwrap() < -4.0);
    assert!(list[1..].iter().all(|v| v["excluded"] == false), "{voters}");
    let bad_voter = bad["voter"].as_str().unwrap().to_string();
    let refit = &s.arena.leaderboard().refit.unwrap();
    assert_eq!((refit.counted, refit.voters_excluded), (1500, 1));

    // The leaderboard is the fit of the honest votes alone; with the adversary's votes
    // counted the ratings flatten (it reverses a seventh of the rankings).
    let honest = fit_export(s, &export, |v| v["judge"] != bad_voter.as_str());
    assert_board_is(s, &honest);
    let all = fit_export(s, &export, |_| true);
    let spread = |b: &Leaderboard| rating(b, "m5") - rating(b, "m0");
    assert!(
        spread(&all) < 0.8 * spread(&honest),
        "{} vs {}",
        spread(&all),
        spread(&honest)
    );
    // The honest fit recovers the true scale: m5 − m0 = 2.5 natural-log units, 434 Elo
    // points (matchmaking is random, so only to within its noise).
    let truth = 2.5 * 400.0 / std::f64::consts::LN_10;
    assert!(
        (spread(&honest) / truth - 1.0).abs() < 0.25,
        "{}",
        spread(&honest)
    );

    // An admin who trusts the voter gets its votes counted again; `auto` hands it back
    // to screening. The decision is stored (a restarted server keeps it).
    let v = admin_post(
        s,
        &format!("/api/admin/voters/{bad_voter}"),
        &json!({"action": "trust", "reason": "checked by hand"}),
    )
    .await;
    assert_eq!(v["voters"][0]["admin"]["action"], "trust");
    assert_board_is(s, &all);
    let flags = s.arena.inner.db.voter_flags().await.unwrap();
    assert_eq!(flags[&bad_voter].reason, "checked by hand");
    admin_post(
        s,
        &format!("/api/admin/voters/{bad_voter}"),
        &json!({"action": "auto"}),
    )
    .await;
    assert_board_is(s, &honest);

    // Excluded by hand: the export marks its votes, so `--where counted=true` drops them.
    admin_post(
        s,
        &format!("/api/admin/voters/{bad_voter}"),
        &json!({"action": "exclude", "reason": "bot"}),
    )
    .await;
    let (_, export) = s.admin_text("/api/admin/export?format=battles").await;
    let marked = export
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["counted"] == false)
        .inspect(|v| assert_eq!(v["excluded"], "excluded by an admin: bot"))
        .count();
    assert_eq!(marked, 250 * 6);
    assert_board_is(s, &fit_export(s, &export, |v| v["counted"] == true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adversarial_voter_is_set_aside_sqlite() {
    let mut cfg = config(4);
    cfg.trust_forwarded_for = true;
    let s = start(cfg, None, outputs(MODELS, 3)).await;
    adversary(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adversarial_voter_is_set_aside_postgres() {
    let Some(url) = crate::common::postgres("an_adversarial_voter_is_set_aside_postgres").await
    else {
        return;
    };
    let mut cfg = config(4);
    cfg.trust_forwarded_for = true;
    let s = start(cfg, Some(url), outputs(MODELS, 3)).await;
    adversary(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn votes_past_the_daily_cap_are_stored_and_not_counted() {
    let mut cfg = config(2);
    cfg.cap_per_day = 5;
    let s = start(cfg.clone(), None, outputs(MODELS, 3)).await;
    let voter = s.arena.inner.voter_of("192.0.2.7".parse().unwrap());
    let vote = |a: &Arena, id: String, voter: String| {
        let a = a.clone();
        async move {
            let body = VoteBody {
                winner: Some("A".into()),
                ranking: None,
            };
            a.vote_as(&id, body, &voter).await.unwrap();
        }
    };
    for _ in 0..8 {
        let b = s.arena.new_battle().await.unwrap();
        vote(&s.arena, b.battle_id, voter.clone()).await;
    }
    // Another voter is not held back by the first one's cap.
    let other = s.arena.inner.voter_of("192.0.2.8".parse().unwrap());
    assert_ne!(voter, other);
    for _ in 0..2 {
        let b = s.arena.new_battle().await.unwrap();
        vote(&s.arena, b.battle_id, other.clone()).await;
    }
    s.arena.refit_now().await;
    let board = s.arena.leaderboard();
    assert_eq!(board.votes, 10);
    assert_eq!(board.refit.as_ref().unwrap().counted, 7);
    // The online ratings saw the 7 counted votes only: 2 models each.
    assert_eq!(board.rows.iter().map(|r| r.votes).sum::<u64>(), 14);
    let (_, text) = s.admin_text("/api/admin/export?format=kwise").await;
    let flagged: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["counted"] == false)
        .collect();
    assert_eq!(flagged.len(), 3);
    for v in &flagged {
        assert_eq!(v["judge"], voter.as_str());
        assert!(
            v["excluded"].as_str().unwrap().starts_with("cap: vote "),
            "{v}"
        );
    }
    let (_, voters) = s.admin_text("/api/admin/voters").await;
    let voters: Value = serde_json::from_str(&voters).unwrap();
    let row = voters["voters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["voter"] == voter.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (row["votes"].clone(), row["capped"].clone()),
        (json!(8), json!(3))
    );

    // A restarted server reads the day's count back from the votes: the next vote of the
    // capped voter is capped too, and the pseudonyms are the same.
    let url = s.db_url.clone();
    let again = Arena::open(&url, cfg).await.unwrap();
    assert_eq!(again.inner.voter_of("192.0.2.7".parse().unwrap()), voter);
    let b = again.new_battle().await.unwrap();
    vote(&again, b.battle_id, voter.clone()).await;
    again.refit_now().await;
    let refit = again.leaderboard().refit.unwrap();
    assert_eq!((refit.votes, refit.counted), (11, 7));
}
