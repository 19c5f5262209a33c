//! An OpenAI-compatible chat-completions endpoint (llama.cpp's `llama-server`, vLLM,
//! OpenAI) as a judge backend.
//!
//! Each request is `POST {base_url}/chat/completions` with a system and a user message;
//! the reply is `choices[0].message.content`. What a judge run needs from the client:
//!
//! - **retries with backoff**: a transport error (refused connection, reset, timeout), a
//!   429 or a 5xx is retried up to `max_retries` times after `backoff_s · 2^attempt`
//!   seconds (capped at 30 s); any other status is a failure at once;
//! - **timeouts**: `timeout_s` per request;
//! - **a concurrency limit**: at most `concurrency` requests in flight;
//! - **a cache keyed by request** ([`super::cache`]): a rerun sends nothing for what was
//!   answered before;
//! - failures are returned per request with their reason, never as an answer.
//!
//! ```toml
//! [judge]
//! base_url = "http://127.0.0.1:8080/v1"
//! model = "judge"            # sent as `model`; llama-server ignores it
//! max_tokens = 256
//! concurrency = 4
//! cache = "runs/judge-cache.jsonl"
//! extra_body = { grammar = 'root ::= "[[A]]" | "[[B]]" | "[[C]]"' }   # llama.cpp only
//! ```

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::cache::{Cache, Reply};
use super::template::Template;
use crate::{Error, Result};

/// The endpoint and how to call it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The API root, e.g. `http://127.0.0.1:8080/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// The `model` field of each request (default `"default"`).
    #[serde(default = "default_model")]
    pub model: String,
    /// The environment variable holding the API key, sent as a bearer token (default
    /// none: no `Authorization` header).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Sampling temperature (default 0: a judge should answer the same way twice).
    #[serde(default)]
    pub temperature: f64,
    /// `max_tokens` of each reply (default 512).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Seconds before a request is abandoned (default 60).
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// Retries after a transport error, a 429 or a 5xx (default 3).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// Seconds before the first retry, doubled at each next one (default 0.5).
    #[serde(default = "default_backoff")]
    pub backoff_s: f64,
    /// Requests in flight at once (default 4).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The reply cache file (default none).
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// Fields merged into every request body (e.g. llama.cpp's `grammar`, `seed`).
    #[serde(default)]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    /// How the judge is asked.
    #[serde(default)]
    pub template: Template,
}

fn default_model() -> String {
    "default".into()
}
fn default_max_tokens() -> u32 {
    512
}
fn default_timeout() -> f64 {
    60.0
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> f64 {
    0.5
}
fn default_concurrency() -> usize {
    4
}

impl EndpointConfig {
    /// A configuration with the defaults for `base_url`.
    pub fn new(base_url: &str) -> Self {
        EndpointConfig {
            base_url: base_url.to_string(),
            model: default_model(),
            api_key_env: None,
            temperature: 0.0,
            max_tokens: default_max_tokens(),
            timeout_s: default_timeout(),
            max_retries: default_retries(),
            backoff_s: default_backoff(),
            concurrency: default_concurrency(),
            cache: None,
            extra_body: None,
            template: Template::default(),
        }
    }

    /// Checks the values; the message names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("judge: {m}")));
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return bad(format!(
                "base_url {:?} must start with http:// or https://",
                self.base_url
            ));
        }
        if !(self.timeout_s.is_finite() && self.timeout_s > 0.0) {
            return bad(format!("timeout_s {} must be > 0", self.timeout_s));
        }
        if !(self.backoff_s.is_finite() && self.backoff_s >= 0.0) {
            return bad(format!("backoff_s {} must be ≥ 0", self.backoff_s));
        }
        if self.concurrency == 0 {
            return bad("concurrency must be ≥ 1".into());
        }
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad(format!("temperature {} must be ≥ 0", self.temperature));
        }
        let [lo, hi] = self.template.scale;
        if lo >= hi {
            return bad(format!("template.scale [{lo}, {hi}] must be increasing"));
        }
        Ok(())
    }
}

/// What the client did, for a run's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Requests answered (from the endpoint or the cache).
    pub answered: u64,
    /// Requests that failed after their retries.
    pub failed: u64,
    /// HTTP requests sent (first tries and retries).
    pub sent: u64,
    /// Retries among them.
    pub retries: u64,
    /// Requests answered from the cache.
    pub cache_hits: u64,
    /// Prompt tokens the endpoint reported for what it answered (cache hits excluded).
    pub prompt_tokens: u64,
    /// Completion tokens likewise.
    pub completion_tokens: u64,
    /// Seconds spent waiting for the endpoint.
    pub seconds: f64,
    /// Answers the cache could not store (each still returned and counted as answered;
    /// the first error is printed): a rerun asks them again.
    pub cache_errors: u64,
}

/// The client.
pub struct Endpoint {
    cfg: EndpointConfig,
    http: reqwest::blocking::Client,
    url: String,
    key: Option<String>,
    cache: Option<Cache>,
    usage: Mutex<Usage>,
}

/// Why a request got no reply.
enum Attempt {
    /// Worth another try (transport error, 429, 5xx).
    Retry(String),
    /// Not worth one (another status, a body that is not a chat completion).
    Fail(String),
}

impl Endpoint {
    /// The client for `cfg` (opens the cache; sends nothing).
    pub fn new(cfg: EndpointConfig) -> Result<Self> {
        cfg.validate()?;
        let key = match &cfg.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                Error::Config(format!("judge: api_key_env names {var}, which is not set"))
            })?),
            None => None,
        };
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs_f64(cfg.timeout_s))
            .build()
            .map_err(|e| Error::Judge(format!("judge: HTTP client: {e}")))?;
        let cache = cfg.cache.as_deref().map(Cache::open).transpose()?;
        Ok(Endpoint {
            url: format!("{}/chat/completions", cfg.base_url.trim_end_matches('/')),
            cfg,
            http,
            key,
            cache,
            usage: Mutex::new(Usage::default()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// What the client has done so far.
    pub fn usage(&self) -> Usage {
        self.usage.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The URL each request is posted to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The JSON request body for a (system, user) pair, as sent.
    pub fn request_body(&self, system: &str, user: &str) -> String {
        let mut body = serde_json::json!({
            "model": self.cfg.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
        });
        if let (Some(extra), Some(obj)) = (&self.cfg.extra_body, body.as_object_mut()) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        body.to_string()
    }

    fn add(&self, f: impl FnOnce(&mut Usage)) {
        f(&mut self.usage.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn send(&self, body: &str) -> std::result::Result<Reply, Attempt> {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().map_err(|e| Attempt::Retry(describe(&e)))?;
        let status = resp.status();
        let text = resp
            .text()
            .map_err(|e| Attempt::Retry(format!("reading the reply: {}", describe(&e))))?;
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Attempt::Retry(format!("HTTP {status}: {}", snippet(&text))));
        }
        if !status.is_success() {
            return Err(Attempt::Fail(format!("HTTP {status}: {}", snippet(&text))));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Attempt::Fail(format!("reply is not JSON ({e}): {}", snippet(&text))))?;
        let content = v["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| {
                Attempt::Fail(format!(
                    "reply has no choices[0].message.content: {}",
                    snippet(&text)
                ))
            })?
            .to_string();
        let n = |k: &str| v["usage"][k].as_u64().unwrap_or(0);
        Ok(Reply {
            content,
            prompt_tokens: n("prompt_tokens"),
            completion_tokens: n("completion_tokens"),
        })
    }

    /// One request with its retries: the reply, or why there is none.
    pub fn complete(&self, system: &str, user: &str) -> std::result::Result<Reply, String> {
        let body = self.request_body(system, user);
        // The URL is part of what was asked: another server may run another model.
        let key = format!("{}\n{body}", self.url);
        if let Some(r) = self.cache.as_ref().and_then(|c| c.get(&key)) {
            self.add(|u| {
                u.cache_hits += 1;
                u.answered += 1;
            });
            return Ok(r);
        }
        let mut attempt = 0u32;
        loop {
            let t = Instant::now();
            let got = self.send(&body);
            let secs = t.elapsed().as_secs_f64();
            self.add(|u| {
                u.sent += 1;
                u.seconds += secs;
            });
            match got {
                Ok(r) => {
                    // An answer is an answer: a cache that cannot store it is counted and
                    // reported, not turned into a failed judgment.
                    let stored = self.cache.as_ref().map_or(Ok(()), |c| c.put(&key, &r));
                    self.add(|u| {
                        if let Err(e) = &stored {
                            if u.cache_errors == 0 {
                                eprintln!("judge cache: {e}");
                            }
                            u.cache_errors += 1;
                        }
                        u.answered += 1;
                        u.prompt_tokens += r.prompt_tokens;
                        u.completion_tokens += r.completion_tokens;
                    });
                    return Ok(r);
                }
                Err(Attempt::Retry(_)) if attempt < self.cfg.max_retries => {
                    let wait = (self.cfg.backoff_s * 2f64.powi(attempt as i32)).min(30.0);
                    std::thread::sleep(Duration::from_secs_f64(wait));
                    attempt += 1;
                    self.add(|u| u.retries += 1);
                }
                Err(Attempt::Retry(why)) => {
                    self.add(|u| u.failed += 1);
                    return Err(format!("after {} tries: {why}", attempt + 1));
                }
                Err(Attempt::Fail(why)) => {
                    self.add(|u| u.failed += 1);
                    return Err(why);
                }
            }
        }
    }

    /// Many requests, at most `concurrency` in flight; the results in order.
    pub fn complete_many(
        &self,
        messages: &[(String, String)],
    ) -> Vec<std::result::Result<Reply, String>> {
        let out: Vec<Mutex<Option<std::result::Result<Reply, String>>>> =
            messages.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let workers = self.cfg.concurrency.min(messages.len()).max(1);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((sys, user)) = messages.get(i) else {
                            break;
                        };
                        let r = self.complete(sys, user);
                        *out[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
                    }
                });
            }
        });
        out.into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .unwrap_or_else(|| Err("not sent".into()))
            })
            .collect()
    }
}

/// A transport error with its causes (reqwest's top-level message alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn snippet(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    if t.len() < text.len() {
        format!("{t}…")
    } else {
        t
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is the test's verdict
mod tests {
    use super::*;

    #[test]
    fn a_closed_port_fails_after_its_retries_with_the_reason() {
        // Nothing listens on a port we bound and released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cfg = EndpointConfig::new(&format!("http://127.0.0.1:{port}/v1"));
        cfg.max_retries = 2;
        cfg.backoff_s = 0.01;
        let e = Endpoint::new(cfg).unwrap();
        let r = e.complete("s", "u");
        let why = r.unwrap_err();
        assert!(why.starts_with("after 3 tries"), "{why}");
        let u = e.usage();
        assert_eq!((u.sent, u.retries, u.failed, u.answered), (3, 2, 1, 0));
    }

    #[test]
    fn bad_configs_name_the_field() {
        let mut c = EndpointConfig::new("localhost:8080");
        assert!(c.validate().unwrap_err().to_string().contains("base_url"));
        c.base_url = "http://x".into();
        c.concurrency = 0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("concurrency")
        );
        let e = toml::from_str::<EndpointConfig>("base_url = \"http://x\"\nretries = 2");
        assert!(e.unwrap_err().to_string().contains("retries"));
    }

    #[test]
    fn extra_body_fields_are_sent_and_keyed() {
        let mut cfg: EndpointConfig = toml::from_str(
            "base_url = \"http://h:1/v1/\"\nextra_body = { grammar = \"root ::= \\\"x\\\"\", seed = 3 }",
        )
        .unwrap();
        let e = Endpoint::new(cfg.clone()).unwrap();
        let b = e.request_body("s", "u");
        assert_eq!(e.url(), "http://h:1/v1/chat/completions");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["seed"], 3);
        assert_eq!(v["messages"][1]["content"], "u");
        cfg.extra_body = None;
        assert_ne!(Endpoint::new(cfg).unwrap().request_body("s", "u"), b);
    }
}
