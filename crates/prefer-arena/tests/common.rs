//! Shared test helpers: an arena on a loopback port, a fresh PostgreSQL database when
//! `PREFER_TEST_POSTGRES_URL` is set, small output sets.

#![allow(dead_code)]

use std::time::Duration;

use prefer_arena::catalog::OutputRecord;
use prefer_arena::{Arena, ArenaConfig};
use serde_json::Value;
use tempfile::TempDir;

/// The admin token of test servers.
pub const TOKEN: &str = "test-admin-token-0123456789";

/// A running test server.
pub struct Server {
    pub url: String,
    pub arena: Arena,
    pub http: reqwest::Client,
    pub db_url: String,
    _dir: Option<TempDir>,
}

/// Settings for tests: admin on, no rate limit, quick refits.
pub fn config(k: usize) -> ArenaConfig {
    let mut c = ArenaConfig::default();
    c.matching.k = k;
    c.admin_token = Some(TOKEN.into());
    c.rate.per_minute = 0.0;
    c.refit_every_s = 3600.0;
    c.bootstrap_rounds = 20;
    c
}

/// `n_models` models answering `prompts` prompts each.
pub fn outputs(models: &[&str], prompts: usize) -> Vec<OutputRecord> {
    let mut out = Vec::new();
    for m in models {
        for p in 0..prompts {
            out.push(OutputRecord {
                model: (*m).to_string(),
                prompt_id: format!("p{p}"),
                prompt: format!("Question number {p}?"),
                response: format!("{m} answers question {p}."),
            });
        }
    }
    out
}

/// Starts an arena on `db_url` (a fresh SQLite file when `None`) with `outputs`.
pub async fn start(cfg: ArenaConfig, db_url: Option<String>, outputs: Vec<OutputRecord>) -> Server {
    let (dir, db_url) = match db_url {
        Some(u) => (None, u),
        None => {
            let d = tempfile::tempdir().unwrap();
            let u = d.path().join("arena.db").display().to_string();
            (Some(d), u)
        }
    };
    let arena = Arena::open(&db_url, cfg).await.unwrap();
    if !outputs.is_empty() {
        arena.import(outputs).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(arena.clone().serve(listener));
    Server {
        url,
        arena,
        http: client(),
        db_url,
        _dir: dir,
    }
}

/// A plain HTTP client with a timeout (loopback only).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Server {
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .json(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.url)).body(body);
        if let Some(c) = content_type {
            req = req.header("content-type", c);
        }
        let r = req.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Starts a battle through the API.
    pub async fn battle(&self) -> Value {
        let (s, b) = self.post_json("/api/battles", &Value::Null).await;
        assert_eq!(s, 201, "{b}");
        b
    }

    /// Admin GET returning text.
    pub async fn admin_text(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// An admin request (bearer token) with an optional JSON body: the status and the
    /// JSON answer.
    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    /// Counts (models, outputs, votes, pending battles) straight from the database.
    pub async fn counts(&self) -> (i64, i64, i64, i64) {
        self.arena.inner.db.counts().await.unwrap()
    }
}

/// The error code of an API error body.
pub fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// A fresh, empty PostgreSQL database on the server `PREFER_TEST_POSTGRES_URL` names, or
/// `None` (after printing why) when the variable is unset.
pub async fn postgres(test: &str) -> Option<String> {
    let Ok(base) = std::env::var("PREFER_TEST_POSTGRES_URL") else {
        println!("skipped: {test}: PREFER_TEST_POSTGRES_URL is not set (CI sets it; see .ci/run)");
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PREFER_TEST_POSTGRES_URL={base}: {e}"));
    let name = format!(
        "arena_{}_{}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        rand_suffix()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (head, _) = base.rsplit_once('/').unwrap();
    let tail = base
        .rsplit_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    Some(format!("{head}/{name}{tail}"))
}

fn rand_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{}", std::process::id(), t % 1_000_000_000)
}
