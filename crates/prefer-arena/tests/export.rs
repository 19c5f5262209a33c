//! Export round trip: the votes exported as Chatbot Arena battles (and as K-wise
//! records) read back by `prefer rank fit`'s loader give the leaderboard the arena
//! shows — the same Bradley-Terry ratings and bootstrap intervals, the same online Elo,
//! the same K-Sort scores. The votes come from a Bradley-Terry voter with known
//! strengths, so the fitted order is also checked against the truth.

use prefer_arena::battle::VoteBody;
use prefer_arena::export::{self, Kind};
use prefer_data::OpenOptions;
use prefer_rank::elo::EloConfig;
use prefer_rank::intervals::BootstrapConfig;
use prefer_rank::ksort::KSortConfig;
use prefer_rank::leaderboard::{Interval, Method, leaderboard};
use prefer_rank::load::{OnBad, load};
use rand::{Rng, SeedableRng};

use crate::common::{self, Server, config, outputs, start};

/// Same inputs, same code path: the numbers must agree to the last bit; allow only
/// float formatting noise from JSON (none expected: serde_json round-trips f64).
const SAME: f64 = 1e-9;

const MODELS: &[&str] = &["m0", "m1", "m2", "m3", "m4", "m5"];

/// Votes `n` battles: a Bradley-Terry voter with strength 0.6·i for model m_i; K = 2
/// battles sometimes tie or are both bad, K > 2 battles are ranked or pick the best.
async fn vote(s: &Server, n: usize, seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for i in 0..n {
        let b = s.arena.new_battle().await.unwrap();
        // Who is who is hidden from the API; the test reads the stored battle's models.
        let row = s
            .arena
            .inner
            .db
            .battle(&b.battle_id)
            .await
            .unwrap()
            .unwrap();
        let cat = s.arena.inner.catalog();
        let strength: Vec<f64> = row
            .models
            .iter()
            .map(|&id| {
                let name = cat.name(cat.model_index(id).unwrap());
                0.6 * name[1..].parse::<f64>().unwrap()
            })
            .collect();
        // Plackett-Luce draw of a full ranking (Gumbel trick).
        let mut keys: Vec<(f64, usize)> = strength
            .iter()
            .enumerate()
            .map(|(j, s)| (s - (-(rng.random::<f64>().max(1e-300)).ln()).ln(), j))
            .collect();
        keys.sort_by(|a, b| b.0.total_cmp(&a.0));
        let k = b.k;
        let mut ranking = vec![0u32; k];
        for (pos, (_, j)) in keys.iter().enumerate() {
            ranking[*j] = pos as u32 + 1;
        }
        let best = ["A", "B", "C", "D"][keys[0].1];
        let body = match (k, i % 5) {
            (2, 0) => VoteBody {
                winner: Some("tie".into()),
                ranking: None,
            },
            (2, 1) => VoteBody {
                winner: Some("bothbad".into()),
                ranking: None,
            },
            (_, 0 | 1) => VoteBody {
                winner: Some(best.into()),
                ranking: None,
            },
            _ => VoteBody {
                winner: None,
                ranking: Some(ranking),
            },
        };
        s.arena.vote(&b.battle_id, body).await.unwrap();
    }
}

async fn round_trip(s: &Server) {
    vote(s, 400, 7).await;
    s.arena.refit_now().await;
    let board = s.arena.leaderboard();
    assert_eq!(board.votes, 400);
    let refit = board.refit.as_ref().unwrap();
    assert!(refit.error.is_none(), "{:?}", refit.error);

    let dir = tempfile::tempdir().unwrap();
    let battles = dir.path().join("battles.jsonl");
    let kwise = dir.path().join("kwise.jsonl");
    // Over HTTP (admin) ...
    let (st, text) = s.admin_text("/api/admin/export?format=battles").await;
    assert_eq!(st, 200);
    std::fs::write(&battles, &text).unwrap();
    let (st, ktext) = s.admin_text("/api/admin/export?format=kwise").await;
    assert_eq!(st, 200);
    std::fs::write(&kwise, &ktext).unwrap();
    // ... and as `prefer arena export` writes them: the same bytes.
    let cli = dir.path().join("cli.jsonl");
    export::write(
        &s.arena.inner.db,
        &s.arena.inner.catalog(),
        Kind::Battles,
        &cli,
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(&cli).unwrap(), text);

    // `prefer rank fit FILE --bootstrap R --seed S --l2 L`.
    let bt = Method::Bt(prefer_rank::bt::BtConfig {
        l2: s.arena.inner.cfg.bt_l2,
        ..Default::default()
    });
    let boot = Interval::Bootstrap(BootstrapConfig {
        rounds: s.arena.inner.cfg.bootstrap_rounds,
        seed: s.arena.inner.cfg.seed,
        level: 0.95,
    });
    for file in [&battles, &kwise] {
        let data = load(file, &OpenOptions::default(), OnBad::Stop, &[])
            .unwrap()
            .data;
        let fit = leaderboard(&data, &bt, &boot).unwrap();
        assert_eq!(fit.rows.len(), board.rows.len());
        for (want, got) in fit.rows.iter().zip(&board.rows) {
            let c = got.bt.unwrap();
            assert_eq!(want.model, got.model, "{}", file.display());
            assert!(
                (want.rating - c.rating).abs() < SAME,
                "{} {} {}",
                want.model,
                want.rating,
                c.rating
            );
            assert!((want.lower.unwrap() - c.lower.unwrap()).abs() < SAME);
            assert!((want.upper.unwrap() - c.upper.unwrap()).abs() < SAME);
            assert_eq!(want.rank, got.rank);
        }
    }
    // Online Elo = `prefer rank fit --method elo` on the battles; K-Sort =
    // `--method ksort` on the K-wise records.
    let data = load(&battles, &OpenOptions::default(), OnBad::Stop, &[])
        .unwrap()
        .data;
    let elo = leaderboard(&data, &Method::Elo(EloConfig::default()), &Interval::None).unwrap();
    let data = load(&kwise, &OpenOptions::default(), OnBad::Stop, &[])
        .unwrap()
        .data;
    let ks = leaderboard(
        &data,
        &Method::Ksort(KSortConfig::default()),
        &Interval::None,
    )
    .unwrap();
    for row in &board.rows {
        let e = elo.rows.iter().find(|r| r.model == row.model).unwrap();
        assert!(
            (e.rating - row.elo).abs() < SAME,
            "{}: {} vs {}",
            row.model,
            e.rating,
            row.elo
        );
        let k = ks.rows.iter().find(|r| r.model == row.model).unwrap();
        assert!((k.rating - row.ksort.score).abs() < SAME);
    }
    // The truth: m5 strongest, m0 weakest (0.6 apart per step, 400 votes).
    assert_eq!(board.rows.first().unwrap().model, "m5");
    assert_eq!(board.rows.last().unwrap().model, "m0");
    // Every vote's battles are there: K = 4 gives 6 battles per vote.
    assert_eq!(text.lines().count(), 400 * 6);
    assert_eq!(ktext.lines().count(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_reads_back_to_the_same_leaderboard_sqlite() {
    let s = start(config(4), None, outputs(MODELS, 4)).await;
    round_trip(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_reads_back_to_the_same_leaderboard_postgres() {
    let Some(url) = common::postgres("export").await else {
        return;
    };
    let s = start(config(4), Some(url), outputs(MODELS, 4)).await;
    round_trip(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairwise_battles_keep_both_bad() {
    let s = start(config(2), None, outputs(MODELS, 2)).await;
    vote(&s, 30, 1).await;
    let (_, text) = s.admin_text("/api/admin/export").await;
    assert_eq!(text.lines().count(), 30);
    assert_eq!(text.matches("\"tie (bothbad)\"").count(), 6);
    assert_eq!(text.matches("\"winner\":\"tie\"").count(), 6);
}
