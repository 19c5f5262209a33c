//! Acknowledged votes survive `kill -9`: the server runs as a child process (this test
//! binary, re-run as `durability::child_server`), a load generator votes with 8
//! concurrent voters, the child is killed with SIGKILL mid-way, restarted on the same
//! database, and every vote that got a 201 must be stored exactly as acknowledged; the
//! restarted server's leaderboard equals one computed from the export by `prefer rank`,
//! and a second restart recomputes it to the same bits.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use prefer_data::OpenOptions;
use prefer_rank::intervals::BootstrapConfig;
use prefer_rank::leaderboard::{Interval, Method, leaderboard};
use prefer_rank::load::{OnBad, load};
use serde_json::Value;

use crate::common::{self, TOKEN, config, outputs};
use crate::loadgen::{self, LoadConfig};

/// serde_json's default float parser may be one ulp off the printed value (its exact
/// `float_roundtrip` parser is a feature we do not turn on); the fits are the same code
/// on the same votes.
const JSON_PARSE: f64 = 1e-9;

const MODELS: &[&str] = &["m0", "m1", "m2", "m3", "m4", "m5"];

/// The server half: runs only when the parent test sets `PREFER_ARENA_CHILD_DB`.
#[test]
#[ignore = "the server process of the durability test; started by it"]
fn child_server() {
    let (Ok(db), Ok(port_file)) = (
        std::env::var("PREFER_ARENA_CHILD_DB"),
        std::env::var("PREFER_ARENA_CHILD_PORT_FILE"),
    ) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let arena = prefer_arena::Arena::open(&db, config(4)).await.unwrap();
        if arena.inner.catalog().outputs.is_empty() {
            arena.import(outputs(MODELS, 5)).await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tmp = format!("{port_file}.tmp");
        std::fs::write(&tmp, port.to_string()).unwrap();
        std::fs::rename(&tmp, &port_file).unwrap();
        arena.serve(listener).await.unwrap();
    });
}

struct ChildServer {
    child: Child,
    url: String,
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(db: &str, dir: &Path, n: usize) -> ChildServer {
    let port_file: PathBuf = dir.join(format!("port{n}"));
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability::child_server",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PREFER_ARENA_CHILD_DB", db)
        .env("PREFER_ARENA_CHILD_PORT_FILE", &port_file)
        .env("PREFER_ARENA_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p.trim().to_string();
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the child server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    ChildServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn admin(http: &reqwest::Client, url: &str, method: &str, path: &str) -> String {
    let req = match method {
        "POST" => http.post(format!("{url}{path}")),
        _ => http.get(format!("{url}{path}")),
    };
    let r = req.bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    r.text().await.unwrap()
}

async fn kill_mid_load(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let http = common::client();
    let mut server = spawn(db, dir.path(), 1);

    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let voters = tokio::spawn(loadgen::run(
        LoadConfig {
            url: server.url.clone(),
            concurrency: 8,
            duration: Duration::from_secs(20),
            max_votes: 100_000,
            distinct_clients: false,
            seed: 3,
        },
        acked.clone(),
        stop.clone(),
    ));
    // Kill once 300 votes are acknowledged (or after 8 s), while the voters go on.
    let t = Instant::now();
    while acked.load(Ordering::Relaxed) < 300 && t.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let report = voters.await.unwrap();
    assert!(
        report.acked.len() >= 50,
        "only {} votes before the kill",
        report.acked.len()
    );
    println!(
        "durability: {} votes acknowledged before SIGKILL, {} requests failed",
        report.acked.len(),
        report.errors
    );

    // Restart on the same database.
    let second = spawn(db, dir.path(), 2);
    let kwise = admin(&http, &second.url, "GET", "/api/admin/export?format=kwise").await;
    let stored: std::collections::HashMap<i64, (Vec<String>, Vec<u32>)> = kwise
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let id: i64 = v["id"]
                .as_str()
                .unwrap()
                .trim_start_matches("vote-")
                .parse()
                .unwrap();
            let models = v["models"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_string())
                .collect();
            let ranks = v["ranking"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_u64().unwrap() as u32)
                .collect();
            (id, (models, ranks))
        })
        .collect();
    for a in &report.acked {
        let got = stored
            .get(&a.vote_id)
            .unwrap_or_else(|| panic!("acknowledged vote {} is lost", a.vote_id));
        assert_eq!(
            got,
            &(a.models.clone(), a.ranks.clone()),
            "vote {}",
            a.vote_id
        );
    }
    // Votes committed but not acknowledged (the kill cut the answer) may also be there.
    assert!(stored.len() >= report.acked.len());

    // The restarted server's leaderboard is the one `prefer rank fit` computes from the
    // export.
    let board: Value =
        serde_json::from_str(&admin(&http, &second.url, "POST", "/api/admin/refit").await).unwrap();
    assert_eq!(board["votes"].as_u64().unwrap() as usize, stored.len());
    let battles = dir.path().join("battles.jsonl");
    std::fs::write(
        &battles,
        admin(&http, &second.url, "GET", "/api/admin/export").await,
    )
    .unwrap();
    let cfg = config(4);
    let data = load(&battles, &OpenOptions::default(), OnBad::Stop, &[])
        .unwrap()
        .data;
    let fit = leaderboard(
        &data,
        &Method::Bt(prefer_rank::bt::BtConfig {
            l2: cfg.bt_l2,
            ..Default::default()
        }),
        &Interval::Bootstrap(BootstrapConfig {
            rounds: cfg.bootstrap_rounds,
            seed: cfg.seed,
            level: 0.95,
        }),
    )
    .unwrap();
    let rows = board["rows"].as_array().unwrap();
    assert_eq!(rows.len(), fit.rows.len());
    for (want, got) in fit.rows.iter().zip(rows) {
        assert_eq!(got["model"], want.model);
        let close = |a: Option<f64>, b: Option<f64>| (a.unwrap() - b.unwrap()).abs() < JSON_PARSE;
        assert!(
            close(got["bt"]["rating"].as_f64(), Some(want.rating)),
            "{got} {want:?}"
        );
        assert!(close(got["bt"]["lower"].as_f64(), want.lower));
        assert!(close(got["bt"]["upper"].as_f64(), want.upper));
    }
    drop(second);

    // A second restart recomputes the same leaderboard, online ratings included.
    let third = spawn(db, dir.path(), 3);
    let again: Value =
        serde_json::from_str(&admin(&http, &third.url, "POST", "/api/admin/refit").await).unwrap();
    assert_eq!(again["rows"], board["rows"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_votes_survive_sigkill_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("arena.db").display().to_string();
    kill_mid_load(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_votes_survive_sigkill_postgres() {
    let Some(url) = common::postgres("durability").await else {
        return;
    };
    kill_mid_load(&url).await;
}
