//! The API on bad requests (each gets a 4xx with a JSON error and changes nothing),
//! single-use battles, admin auth, rate limits, and HTML escaping — on SQLite, and on
//! PostgreSQL when `PREFER_TEST_POSTGRES_URL` is set.

use serde_json::{Value, json};

use crate::common::{self, Server, TOKEN, code, config, outputs, start};

const MODELS: &[&str] = &["alpha", "beta", "gamma", "delta", "epsilon"];

async fn bad_requests_change_nothing(s: &Server) {
    let before = s.counts().await;
    let b = s.battle().await;
    let id = b["battle_id"].as_str().unwrap().to_string();
    assert_eq!(b["k"], 4);
    assert_eq!(b["responses"].as_array().unwrap().len(), 4);
    // No model names before the vote.
    let text = b.to_string();
    for m in MODELS {
        assert!(!text.contains(&format!("\"{m}\"")), "{text}");
    }
    let vote = format!("/api/battles/{id}/vote");
    let pending = s.counts().await;
    assert_eq!(pending.3, before.3 + 1);

    let cases: Vec<(&str, u16, &str, (u16, Value))> = vec![
        (
            "unknown battle",
            404,
            "unknown_battle",
            s.post_json(
                &format!("/api/battles/{}/vote", "0".repeat(32)),
                &json!({"winner": "A"}),
            )
            .await,
        ),
        (
            "not an id",
            404,
            "unknown_battle",
            s.post_json("/api/battles/not-a-battle-id/vote", &json!({"winner": "A"}))
                .await,
        ),
        (
            "malformed JSON",
            400,
            "malformed_json",
            s.post_raw(&vote, Some("application/json"), b"{\"winner\": ".to_vec())
                .await,
        ),
        (
            "no content type",
            415,
            "content_type",
            s.post_raw(&vote, None, b"{\"winner\":\"A\"}".to_vec())
                .await,
        ),
        (
            "unknown field",
            422,
            "bad_field",
            s.post_json(&vote, &json!({"winner": "A", "extra": 1}))
                .await,
        ),
        (
            "wrong type",
            422,
            "bad_field",
            s.post_json(&vote, &json!({"ranking": "1,2,3,4"})).await,
        ),
        (
            "ranking with a repeat",
            422,
            "bad_ranking",
            s.post_json(&vote, &json!({"ranking": [1, 1, 2, 3]})).await,
        ),
        (
            "ranking too short",
            422,
            "bad_ranking",
            s.post_json(&vote, &json!({"ranking": [1, 2, 3]})).await,
        ),
        (
            "rank out of range",
            422,
            "bad_ranking",
            s.post_json(&vote, &json!({"ranking": [1, 2, 3, 5]})).await,
        ),
        (
            "label not shown",
            422,
            "bad_vote",
            s.post_json(&vote, &json!({"winner": "E"})).await,
        ),
        (
            "both winner and ranking",
            422,
            "bad_vote",
            s.post_json(&vote, &json!({"winner": "A", "ranking": [1, 2, 3, 4]}))
                .await,
        ),
        (
            "neither",
            422,
            "bad_vote",
            s.post_json(&vote, &json!({})).await,
        ),
        (
            "oversized body",
            413,
            "body_too_large",
            s.post_raw(
                &vote,
                Some("application/json"),
                format!("{{\"winner\":\"A\",\"pad\":\"{}\"}}", "x".repeat(64 * 1024)).into_bytes(),
            )
            .await,
        ),
        ("no route", 404, "no_route", s.get("/api/nothing").await),
    ];
    for (what, status, want, (got_status, body)) in &cases {
        assert_eq!(
            (*got_status, code(body)),
            (*status, *want),
            "{what}: {body}"
        );
        assert!(
            !body["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{what}: no message"
        );
    }
    // Nothing changed: the battle is still pending and no vote is stored.
    assert_eq!(s.counts().await, pending);
    assert_eq!(s.get("/api/leaderboard").await.1["votes"], before.2);

    // The battle still takes its one vote, which reveals the models.
    let (st, r) = s.post_json(&vote, &json!({"ranking": [2, 1, 4, 3]})).await;
    assert_eq!(st, 201, "{r}");
    let revealed: Vec<&str> = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(revealed.len(), 4);
    assert!(revealed.iter().all(|m| MODELS.contains(m)));
    assert_eq!(r["models"][1]["rank"], 1);
    let after = s.counts().await;
    assert_eq!((after.2, after.3), (before.2 + 1, before.3));
    // Reused id: 409, and nothing more stored.
    let (st, again) = s.post_json(&vote, &json!({"winner": "A"})).await;
    assert_eq!((st, code(&again)), (409, "already_voted"), "{again}");
    let (st, again) = s.get(&format!("/api/battles/{id}")).await;
    assert_eq!((st, code(&again)), (409, "already_voted"), "{again}");
    assert_eq!(s.counts().await, after);
    assert_eq!(s.get("/api/leaderboard").await.1["votes"], after.2);

    // Admin: a missing or wrong token is 401 and imports nothing.
    let r = s
        .http
        .post(format!("{}/api/admin/outputs", s.url))
        .bearer_auth("wrong-token-wrong-token")
        .body("{\"model\":\"x\",\"prompt_id\":\"p\",\"prompt\":\"q\",\"response\":\"r\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (st, e) = s.post_raw("/api/admin/outputs", None, b"{}".to_vec()).await;
    assert_eq!((st, code(&e)), (401, "unauthorized"));
    // A bad import line is 422 naming the line, and imports nothing.
    let r = s
        .http
        .post(format!("{}/api/admin/outputs", s.url))
        .bearer_auth(TOKEN)
        .body("{\"model\":\"x\",\"prompt_id\":\"new\",\"prompt\":\"q\",\"response\":\"r\"}\n{\"model\":\"x\"}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"].as_str().unwrap().contains("body:2"),
        "{e}"
    );
    assert_eq!(s.counts().await, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_change_nothing_sqlite() {
    let s = start(config(4), None, outputs(MODELS, 3)).await;
    bad_requests_change_nothing(&s).await;
}

/// Issue 11 part 4: the server answers a too-large body before reading it and then
/// closes the connection; it must say so (`Connection: close`), or the client reuses
/// the dead connection and its next request fails with hyper's IncompleteMessage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_large_body_closes_its_connection_and_the_next_request_works() {
    let s = start(config(2), None, outputs(MODELS, 2)).await;
    let big = format!(
        "{{\"winner\":\"A\",\"pad\":\"{}\"}}",
        "x".repeat(256 * 1024)
    );
    for round in 0..20 {
        let b = s.battle().await;
        let r = s
            .http
            .post(format!(
                "{}/api/battles/{}/vote",
                s.url,
                b["battle_id"].as_str().unwrap()
            ))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413, "round {round}");
        assert_eq!(
            r.headers().get("connection").map(|v| v.to_str().unwrap()),
            Some("close"),
            "round {round}"
        );
        // The next request on the same client goes through.
        let (st, _) = s.get("/api/health").await;
        assert_eq!(st, 200, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_change_nothing_postgres() {
    let Some(url) = common::postgres("bad_requests").await else {
        return;
    };
    let s = start(config(4), Some(url), outputs(MODELS, 3)).await;
    bad_requests_change_nothing(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_battles_take_no_vote() {
    let mut cfg = config(2);
    cfg.battle_ttl_s = 1;
    let s = start(cfg, None, outputs(MODELS, 2)).await;
    let b = s.battle().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, e) = s
        .post_json(
            &format!("/api/battles/{}/vote", b["battle_id"].as_str().unwrap()),
            &json!({"winner": "tie"}),
        )
        .await;
    assert_eq!((st, code(&e)), (410, "battle_expired"), "{e}");
    assert_eq!(s.counts().await.2, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voters_are_rate_limited_and_admin_needs_a_configured_token() {
    let mut cfg = config(2);
    cfg.rate.per_minute = 6.0;
    cfg.rate.burst = 3.0;
    cfg.admin_token = None;
    let s = start(cfg, None, outputs(MODELS, 2)).await;
    for _ in 0..3 {
        s.battle().await;
    }
    let r = s
        .http
        .post(format!("{}/api/battles", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&wait), "{wait}");
    let e: Value = r.json().await.unwrap();
    assert_eq!(code(&e), "rate_limited");
    assert_eq!(s.counts().await.3, 3);
    // Reading is not limited.
    assert_eq!(s.get("/api/leaderboard").await.0, 200);
    // No token configured: admin is off for everyone.
    let r = s
        .http
        .get(format!("{}/api/admin/export", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_string_is_escaped_in_html() {
    let evil_model = "<script>alert('m')</script>";
    let evil_prompt = "\"><img src=x onerror=alert(1)> & <b>bold</b>";
    let evil_response = "</pre><script>alert(2)</script>";
    let mut out = outputs(&["plain"], 1);
    out.push(prefer_arena::catalog::OutputRecord {
        model: evil_model.into(),
        prompt_id: "p0".into(),
        prompt: "Question number 0?".into(),
        response: evil_response.into(),
    });
    out.push(prefer_arena::catalog::OutputRecord {
        model: "other".into(),
        prompt_id: "evil".into(),
        prompt: evil_prompt.into(),
        response: "fine".into(),
    });
    out.push(prefer_arena::catalog::OutputRecord {
        model: evil_model.into(),
        prompt_id: "evil".into(),
        prompt: evil_prompt.into(),
        response: evil_response.into(),
    });
    let s = start(config(2), None, out).await;
    let mut pages = Vec::new();
    for _ in 0..6 {
        // Through the form route, as a browser would (no redirect following here).
        let b = s.battle().await;
        let id = b["battle_id"].as_str().unwrap();
        pages.push(
            s.http
                .get(format!("{}/battle/{id}", s.url))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let r = s
            .http
            .post(format!("{}/battle/{id}/vote", s.url))
            .form(&[("winner", "A")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        pages.push(r.text().await.unwrap());
    }
    s.arena.refit_now().await;
    pages.push(
        s.http
            .get(format!("{}/leaderboard", s.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let all = pages.join("\n");
    for raw in [
        "<script>",
        "<img",
        "<b>bold",
        "</pre><script>",
        "onerror=alert(1)>",
    ] {
        assert!(!all.contains(raw), "raw {raw:?} in a page");
    }
    for escaped in [
        "&lt;script&gt;alert(&#39;m&#39;)&lt;/script&gt;",
        "&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &lt;b&gt;bold&lt;/b&gt;",
        "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;",
    ] {
        assert!(all.contains(escaped), "missing {escaped:?}");
    }
    // And the page forbids scripts outright.
    let r = s
        .http
        .get(format!("{}/leaderboard", s.url))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}
