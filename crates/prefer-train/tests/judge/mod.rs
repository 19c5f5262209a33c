//! The LLM judge against a real OpenAI-compatible server: llama.cpp's `llama-server`
//! (built by `scripts/build_llama_server.sh`) serving stories260K as GGUF.
//!
//! `.ci/run` builds the server, starts one and exports `PREFER_JUDGE_URL` (its API root)
//! and `PREFER_LLAMA_SERVER` (the binary, for the tests that start and kill their own).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prefer_train::judge::endpoint::{Endpoint, EndpointConfig};
use prefer_train::judge::template::VERDICT_GRAMMAR;
use prefer_train::judge::{LlmJudge, PairJudge, PairQuery, judge_both_orders, report};

use super::shared;

/// A `llama-server` of our own, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Starts the server on `port` (0: a free one) and waits until it is healthy.
    fn start(bin: &Path, gguf: &Path, port: u16) -> Server {
        let port = if port == 0 {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        } else {
            port
        };
        let child = Command::new(bin)
            .args(["-m", gguf.to_str().unwrap(), "--host", "127.0.0.1"])
            .args([
                "--port",
                &port.to_string(),
                "-t",
                "1",
                "-c",
                "1024",
                "-np",
                "2",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s = Server { child, port };
        wait_healthy(&s.url());
        s
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_healthy(api: &str) {
    let health = format!("{}/health", api.trim_end_matches("/v1"));
    let t = Instant::now();
    let http = reqwest::blocking::Client::new();
    while t.elapsed() < Duration::from_secs(60) {
        if http
            .get(&health)
            .send()
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("llama-server at {api} did not become healthy in 60 s");
}

/// The server binary and the GGUF model, or why the test skips.
fn server_parts() -> Option<(PathBuf, PathBuf)> {
    let sh = shared()?;
    let gguf = sh.join("models/stories260K/stories260K.gguf");
    let Some(bin) = std::env::var_os("PREFER_LLAMA_SERVER").map(PathBuf::from) else {
        println!(
            "skipped: PREFER_LLAMA_SERVER is not set (scripts/build_llama_server.sh builds it; .ci/run sets it)"
        );
        return None;
    };
    if !bin.exists() || !gguf.exists() {
        println!("skipped: {} or {} is absent", bin.display(), gguf.display());
        return None;
    }
    Some((bin, gguf))
}

fn queries(n: usize) -> Vec<PairQuery> {
    (0..n)
        .map(|i| PairQuery {
            prompt: format!("Tell a story about a cat number {i}."),
            a: format!("The cat {i} was happy and played in the sun."),
            b: format!("Cat {i}. Sad. The end."),
        })
        .collect()
}

/// The server `.ci/run` started (`PREFER_JUDGE_URL`), else one of our own (kept alive by
/// the returned guard), healthy.
fn judge_url(bin: &Path, gguf: &Path) -> (String, Option<Server>) {
    let (url, own) = match std::env::var("PREFER_JUDGE_URL") {
        Ok(u) => (u, None),
        Err(_) => {
            let s = Server::start(bin, gguf, 0);
            (s.url(), Some(s))
        }
    };
    wait_healthy(&url);
    (url, own)
}

#[test]
fn llm_judge_over_llama_server_parses_caches_and_reports_failures() {
    let Some((bin, gguf)) = server_parts() else {
        return;
    };
    let (url, _own) = judge_url(&bin, &gguf);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EndpointConfig::new(&url);
    cfg.max_tokens = 8;
    cfg.concurrency = 3;
    cfg.cache = Some(dir.path().join("cache.jsonl"));
    let mut grammar = serde_json::Map::new();
    grammar.insert("grammar".into(), VERDICT_GRAMMAR.into());
    cfg.extra_body = Some(grammar);
    let qs = queries(6);

    // Constrained to the verdict tags, every reply parses; both orders are asked.
    let judge = LlmJudge::new(cfg.clone()).unwrap();
    let s = judge_both_orders(&judge, &qs).unwrap();
    assert!(s.iter().all(|x| x.verdict.is_some()), "{s:?}");
    let u = judge.usage();
    assert_eq!((u.answered, u.failed, u.cache_hits), (12, 0, 0));
    assert!(
        u.prompt_tokens > 12 * 20 && u.completion_tokens > 0,
        "{u:?}"
    );
    let v: Vec<_> = s.iter().map(|x| x.verdict).collect();
    let c: Vec<_> = s.iter().map(|x| x.consistent).collect();
    let r = report(&v, Some(&c), None, u.clone());
    assert_eq!(r.failure_rate, 0.0);
    assert!(r.position_consistency.is_some() && r.tokens_per_1000 > 0.0);

    // A rerun sends nothing: every request is answered from the cache, identically.
    let again = LlmJudge::new(cfg.clone()).unwrap();
    let s2 = judge_both_orders(&again, &qs).unwrap();
    assert_eq!(s2, s);
    let u2 = again.usage();
    assert_eq!((u2.sent, u2.cache_hits), (0, 12));

    // Unconstrained, the story model does not write verdict tags: each reply is a
    // recorded failure with its raw text, never a win or a tie.
    cfg.extra_body = None;
    cfg.max_tokens = 12;
    let free = LlmJudge::new(cfg).unwrap();
    let js = free.judge(&qs).unwrap();
    let failed: Vec<_> = js.iter().filter(|j| j.verdict.is_none()).collect();
    assert!(!failed.is_empty());
    for j in &failed {
        assert!(!j.raw.is_empty() && j.failure.as_deref().unwrap_or("").contains("verdict"));
    }
    let v: Vec<_> = js.iter().map(|j| j.verdict).collect();
    let r = report(&v, None, None, free.usage());
    assert_eq!(r.failures, failed.len());
    assert_eq!(r.wins_a + r.wins_b + r.ties + r.failures, qs.len());
}

#[test]
fn killing_the_server_mid_run_gives_retried_recorded_failures_and_a_rerun_recovers() {
    let Some((bin, gguf)) = server_parts() else {
        return;
    };
    let mut server = Server::start(&bin, &gguf, 0);
    let port = server.port;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EndpointConfig::new(&server.url());
    cfg.max_tokens = 24;
    cfg.concurrency = 1;
    cfg.max_retries = 2;
    cfg.backoff_s = 0.01;
    cfg.timeout_s = 10.0;
    cfg.cache = Some(dir.path().join("cache.jsonl"));
    let endpoint = Arc::new(Endpoint::new(cfg.clone()).unwrap());
    let n = 200;
    let msgs: Vec<(String, String)> = queries(n)
        .iter()
        .map(|q| cfg.template.pairwise(&q.prompt, &q.a, &q.b))
        .collect();
    let worker = {
        let (e, m) = (Arc::clone(&endpoint), msgs.clone());
        std::thread::spawn(move || e.complete_many(&m))
    };
    let t = Instant::now();
    while endpoint.usage().answered < 3 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(1));
    }
    server.kill();
    let results = worker.join().unwrap();
    let u = endpoint.usage();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        ok >= 3 && !failed.is_empty(),
        "{ok} answered, {} failed",
        failed.len()
    );
    assert_eq!((u.answered as usize, u.failed as usize), (ok, failed.len()));
    // Every failure was tried 1 + max_retries times, and says why.
    assert_eq!(u.retries as usize, 2 * failed.len(), "{u:?}");
    for f in &failed {
        assert!(f.starts_with("after 3 tries: "), "{f}");
    }

    // The same run again with the server back: what was answered comes from the cache,
    // only the failures are sent, and now nothing fails.
    let _back = Server::start(&bin, &gguf, port);
    let rerun = Endpoint::new(cfg).unwrap();
    let again = rerun.complete_many(&msgs);
    let u2 = rerun.usage();
    assert!(again.iter().all(|r| r.is_ok()));
    assert_eq!(u2.cache_hits as usize, ok);
    assert_eq!(u2.sent as usize, failed.len());
    for (a, b) in results.iter().zip(&again) {
        if let Ok(a) = a {
            assert_eq!(Some(a), b.as_ref().ok());
        }
    }
}

/// Two steps of 8 completions with the `[objective]` body `objective` into `out`; the
/// metrics file.
fn judged_run(out: &Path, sh: &Path, prompts: &Path, objective: &str) -> String {
    let text = super::online_toml(sh, prompts, out, objective, 2);
    let mut cfg = prefer_train::config::TrainConfig::from_toml_str(&text).unwrap();
    cfg.run.batch_size = 8;
    prefer_train::trainer::Trainer::new(cfg)
        .unwrap()
        .train(&mut |_| std::ops::ControlFlow::Continue(()))
        .unwrap();
    std::fs::read_to_string(out.join("metrics.jsonl")).unwrap()
}

/// Online DPO with the LLM judge instead of a reward: each step's two samples per prompt
/// are judged in both orders by the real server (grammar-constrained, so none fails),
/// ties are left out of the loss, the first step is still the closed form `ln 2`, and a
/// second run with the judge's cache repeats the first exactly.
#[test]
fn online_dpo_learns_from_the_llm_judge() {
    let Some((bin, gguf)) = server_parts() else {
        return;
    };
    let (url, _own) = judge_url(&bin, &gguf);
    let sh = shared().unwrap();
    let d = tempfile::tempdir().unwrap();
    let prompts = super::story_prompt_file(d.path()).unwrap();
    let cache = d.path().join("judge-cache.jsonl");
    let objective = format!(
        "method = \"online_dpo\"\n[objective.judge]\nboth_orders = true\n\
         [objective.judge.endpoint]\nbase_url = \"{url}\"\nmax_tokens = 8\n\
         cache = \"{}\"\nextra_body = {{ grammar = '{VERDICT_GRAMMAR}' }}",
        cache.display()
    );
    let run = |name: &str| judged_run(&d.path().join(name), &sh, &prompts, &objective);
    let first = run("a");
    let lines: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for m in &lines {
        let f = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        assert_eq!(f("judge/failure_rate"), 0.0, "{m}");
        assert!(
            (f("judge/tie_rate") + f("judge/pairs_used") - 1.0).abs() < 1e-12,
            "{m}"
        );
        assert!(
            (0.0..=1.0).contains(&f("judge/position_consistency")),
            "{m}"
        );
        assert!(
            m.get("reward").is_none() && m.get("objective/scores").is_none(),
            "{m}"
        );
    }
    if lines[0]["judge/pairs_used"].as_f64().unwrap() > 0.0 {
        let l = lines[0]["loss"].as_f64().unwrap();
        assert!((l - std::f64::consts::LN_2).abs() < 1e-3, "{l}");
    }
    let cached = std::fs::read_to_string(&cache).unwrap().lines().count();
    // At most 2 steps × 4 pairs × 2 orders (fewer if two samples of a prompt coincide).
    assert!(cached > 0 && cached <= 16, "{cached}");
    // The same run again: every verdict from the cache, the same metrics.
    assert_eq!(run("b"), first);
    assert_eq!(
        std::fs::read_to_string(&cache).unwrap().lines().count(),
        cached
    );
}

/// SPO with the LLM judge as the rater: every pair of each group of 4 is judged in both
/// orders by the real server; no failures, and a rerun answered from the cache repeats the
/// run exactly.
#[test]
fn spo_rates_groups_with_the_llm_judge() {
    let Some((bin, gguf)) = server_parts() else {
        return;
    };
    let (url, _own) = judge_url(&bin, &gguf);
    let sh = shared().unwrap();
    let d = tempfile::tempdir().unwrap();
    let prompts = super::story_prompt_file(d.path()).unwrap();
    let cache = d.path().join("judge-cache.jsonl");
    let objective = format!(
        "method = \"grpo\"\nnum_generations = 4\nspo = true\n[objective.judge]\n\
         [objective.judge.endpoint]\nbase_url = \"{url}\"\nmax_tokens = 8\n\
         cache = \"{}\"\nextra_body = {{ grammar = '{VERDICT_GRAMMAR}' }}",
        cache.display()
    );
    let run = |name: &str| judged_run(&d.path().join(name), &sh, &prompts, &objective);
    let first = run("a");
    for l in first.lines() {
        let m: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(m["judge/failure_rate"].as_f64(), Some(0.0), "{m}");
        assert!(m["loss"].as_f64().is_some_and(f64::is_finite), "{m}");
    }
    // 2 steps × 2 prompts × 6 pairs × 2 orders, fewer where samples coincide.
    let cached = std::fs::read_to_string(&cache).unwrap().lines().count();
    assert!(cached > 0 && cached <= 48, "{cached}");
    assert_eq!(run("b"), first);
}
