//! End to end in headless Chromium, driven through chromedriver's WebDriver HTTP API:
//! open the arena, start a battle, click a vote, read the revealed models, vote twice
//! more (once by ranking), open the leaderboard and read it. Screenshots of the battle
//! and the leaderboard are saved under the target's test folder.
//!
//! Needs `chromedriver` and `chromium` (Debian packages chromium-driver and chromium);
//! `CHROMEDRIVER` / `CHROMIUM` override the paths. Skips, saying so, without them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{config, start};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_tool(var: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var(var).map_or_else(|_| PathBuf::from(default), PathBuf::from);
    p.exists().then_some(p)
}

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or(json!({}))),
        };
        let r = req.send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    /// Waits up to 10 s for an element.
    async fn find(&self, css: &str) -> String {
        let t = Instant::now();
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let r = self
                .http
                .post(url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap();
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap();
                return v["value"][ELEMENT].as_str().unwrap().to_string();
            }
            assert!(t.elapsed() < Duration::from_secs(10), "no element {css}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let els = self
            .cmd(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let mut out = Vec::new();
        for e in els.as_array().unwrap() {
            let id = e[ELEMENT].as_str().unwrap();
            out.push(
                self.cmd("GET", &format!("/element/{id}/text"), None)
                    .await
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        out
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), None)
            .await;
    }

    async fn select(&self, css: &str, value: u32) {
        self.click(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    async fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None).await;
        let png = base64_decode(b64.as_str().unwrap());
        assert_eq!(&png[..4], b"\x89PNG");
        std::fs::write(path, png).unwrap();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let n = chunk.iter().fold(0u32, |acc, &c| (acc << 6) | val(c));
        let n = n << (6 * (4 - chunk.len()));
        let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&b[..3 - pad.min(2)]);
    }
    out
}

async fn launch(driver: &Path, chromium: &Path, profile: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = crate::common::client();
    let t = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/status")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium.display().to_string(),
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--disable-dev-shm-usage", "--window-size=1200,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    }}});
    let r = http
        .post(format!("{base}/session"))
        .json(&caps)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let session = v["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {v}"))
        .to_string();
    Driver {
        child,
        base,
        session,
        http,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_and_read_the_leaderboard_in_chromium() {
    let (Some(driver), Some(chromium)) = (
        find_tool("CHROMEDRIVER", "/usr/bin/chromedriver"),
        find_tool("CHROMIUM", "/usr/bin/chromium"),
    ) else {
        println!(
            "skipped: browser test: chromedriver or chromium not found (apt-get install chromium chromium-driver, or set CHROMEDRIVER / CHROMIUM)"
        );
        return;
    };
    let s = start(config(4), None, prefer_arena::demo::outputs()).await;
    let profile = tempfile::tempdir().unwrap();
    let d = launch(&driver, &chromium, profile.path()).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));

    d.goto(&format!("{}/", s.url)).await;
    d.click("#start").await;
    d.find("#prompt").await;
    let prompt = d.texts("#prompt").await.remove(0);
    assert!(!prompt.is_empty());
    assert_eq!(
        d.texts(".resp h3").await,
        ["Response A", "Response B", "Response C", "Response D"]
    );
    d.screenshot(&shots.join("arena-battle.png")).await;
    // Names are hidden until the vote.
    let page = d
        .cmd("GET", "/source", None)
        .await
        .as_str()
        .unwrap()
        .to_string();
    for m in [
        "careful-7b",
        "concise-3b",
        "chatty-13b",
        "sloppy-1b",
        "wrong-0.5b",
        "hedging-7b",
    ] {
        assert!(!page.contains(m), "{m} shown before the vote");
    }
    d.click("#best-B").await;
    d.find("#reveal").await;
    let revealed = d.texts("#reveal td.model").await;
    assert_eq!(revealed.len(), 4);
    let ranks = d.texts("#reveal tr td:nth-child(3)").await;
    assert_eq!(ranks, ["2", "1", "2", "2"]);

    // Next battle: rank them (D best, then C, B, A).
    d.click("#next").await;
    d.find("#rank-submit").await;
    for (i, r) in [4, 3, 2, 1].iter().enumerate() {
        d.select(&format!("#rank-{i}"), *r).await;
    }
    d.click("#rank-submit").await;
    d.find("#reveal").await;
    assert_eq!(
        d.texts("#reveal tr td:nth-child(3)").await,
        ["4", "3", "2", "1"]
    );
    // And a tie.
    d.click("#next").await;
    d.click("#tie").await;
    d.find("#reveal").await;

    assert_eq!(s.counts().await.2, 3);
    s.arena.refit_now().await;
    d.click("#to-leaderboard").await;
    d.find("#board").await;
    let models = d.texts("#board td.model").await;
    let votes: u64 = d
        .texts("#board td.votes")
        .await
        .iter()
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(votes, 3 * 4, "each of 3 votes counts for its 4 models");
    for m in &revealed {
        assert!(models.contains(m), "{m} missing from {models:?}");
    }
    d.screenshot(&shots.join("arena-leaderboard.png")).await;
    println!("screenshots: {}", shots.display());
    d.cmd("DELETE", "", None).await;
}
