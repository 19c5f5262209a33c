//! The served OpenAPI description stays in sync with the server: the same routes as
//! `src/http.rs` registers, and every documented operation answered with a body that
//! fits its schema (no undocumented field, no missing required one).

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TOKEN, config, outputs, start};

fn resolve<'a>(spec: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &spec["components"]["schemas"][name]
        }
        None => s,
    }
}

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Checks `v` against `schema`; returns the problems (empty: it fits).
fn check(spec: &Value, v: &Value, schema: &Value, at: &str) -> Vec<String> {
    let s = resolve(spec, schema);
    if let Some(alts) = s.get("oneOf").and_then(Value::as_array) {
        if alts.iter().any(|a| check(spec, v, a, at).is_empty()) {
            return Vec::new();
        }
        return vec![format!("{at}: fits no alternative: {v}")];
    }
    let mut errs = Vec::new();
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(v, t) => errs.push(format!("{at}: not {t}: {v}")),
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(v, t.as_str().unwrap_or(""))) => {
            errs.push(format!("{at}: not any of {ts:?}: {v}"))
        }
        _ => {}
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} not in {e:?}"));
    }
    if let (Some(obj), Some(props)) = (
        v.as_object(),
        s.get("properties").and_then(Value::as_object),
    ) {
        for req in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(req.as_str().unwrap_or("")) {
                errs.push(format!("{at}: missing required `{req}`"));
            }
        }
        for (k, x) in obj {
            match props.get(k) {
                Some(ps) => errs.extend(check(spec, x, ps, &format!("{at}.{k}"))),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{at}: undocumented field `{k}`"))
                }
                None => {}
            }
        }
    }
    if let (Some(arr), Some(items)) = (v.as_array(), s.get("items")) {
        for (i, x) in arr.iter().enumerate() {
            errs.extend(check(spec, x, items, &format!("{at}[{i}]")));
        }
    }
    errs
}

/// The routes `src/http.rs` registers under /api, as (METHOD, path).
fn registered() -> BTreeSet<(String, String)> {
    let src = include_str!("../src/http.rs");
    let mut out = BTreeSet::new();
    for part in src.split(".route(\"").skip(1) {
        let Some((path, rest)) = part.split_once('"') else {
            continue;
        };
        if !path.starts_with("/api/") {
            continue;
        }
        let call = rest.split(')').next().unwrap_or("");
        for m in ["get", "post", "put", "delete", "patch"] {
            if call.contains(&format!("{m}(")) {
                out.insert((m.to_uppercase(), path.to_string()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_the_routes_and_the_responses() {
    let s = start(config(2), None, outputs(&["a", "b", "c"], 3)).await;
    let (st, spec) = s.get("/api/openapi.json").await;
    assert_eq!(st, 200);
    assert_eq!(
        spec,
        serde_json::from_str::<Value>(prefer_arena::http::OPENAPI).unwrap()
    );

    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    assert_eq!(documented, registered(), "documented vs registered routes");

    let schema_of = |path: &str, method: &str, status: &str| -> Value {
        spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
            .clone()
    };
    let fits = |v: &Value, path: &str, method: &str, status: &str| {
        let sch = schema_of(path, method, status);
        assert!(!sch.is_null(), "{method} {path} {status} is not documented");
        let errs = check(&spec, v, &sch, &format!("{method} {path} {status}"));
        assert!(errs.is_empty(), "{errs:#?}");
    };

    let (st, v) = s.get("/api/health").await;
    fits(&v, "/api/health", "get", &st.to_string());
    let (st, v) = s.get("/api/leaderboard").await;
    fits(&v, "/api/leaderboard", "get", &st.to_string());
    assert!(v["refit"].is_null());
    let (st, b) = s.post_json("/api/battles", &Value::Null).await;
    fits(&b, "/api/battles", "post", &st.to_string());
    let id = b["battle_id"].as_str().unwrap();
    let (st, v) = s.get(&format!("/api/battles/{id}")).await;
    fits(&v, "/api/battles/{id}", "get", &st.to_string());
    let (st, v) = s
        .post_json(&format!("/api/battles/{id}/vote"), &json!({"winner": "A"}))
        .await;
    fits(&v, "/api/battles/{id}/vote", "post", &st.to_string());
    for (st, v) in [
        s.post_json(&format!("/api/battles/{id}/vote"), &json!({"winner": "A"}))
            .await,
        s.post_json(
            &format!("/api/battles/{}/vote", "f".repeat(32)),
            &json!({"winner": "A"}),
        )
        .await,
        s.post_json(&format!("/api/battles/{id}/vote"), &json!({"ranking": [1]}))
            .await,
    ] {
        fits(&v, "/api/battles/{id}/vote", "post", &st.to_string());
    }
    let (st, v) = s.get("/api/models").await;
    fits(&v, "/api/models", "get", &st.to_string());
    let r = s
        .http
        .post(format!("{}/api/admin/outputs", s.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/x-ndjson")
        .body("{\"model\":\"d\",\"prompt_id\":\"p0\",\"prompt\":\"Question number 0?\",\"response\":\"d0\"}\n")
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    fits(
        &r.json().await.unwrap(),
        "/api/admin/outputs",
        "post",
        &st.to_string(),
    );
    let (st, v) = s.admin_json(Method::POST, "/api/admin/refit", None).await;
    fits(&v, "/api/admin/refit", "post", &st.to_string());
    assert!(
        v["refit"].is_object() && v["rows"][0]["bt"].is_object(),
        "{v}"
    );
    let r = s
        .http
        .post(format!("{}/api/admin/refit", s.url))
        .send()
        .await
        .unwrap();
    let st = r.status().as_u16();
    fits(
        &r.json().await.unwrap(),
        "/api/admin/refit",
        "post",
        &st.to_string(),
    );
    let (st, v) = s.admin_json(Method::GET, "/api/admin/voters", None).await;
    fits(&v, "/api/admin/voters", "get", &st.to_string());
    // The vote above came over HTTP, so its voter is listed.
    assert_eq!(v["voters"].as_array().unwrap().len(), 1, "{v}");
    let voter = v["voters"][0]["voter"].as_str().unwrap().to_string();
    for (body, want) in [
        (json!({"action": "exclude", "reason": "test"}), 200),
        (json!({"action": "exclude"}), 422),
        (json!({"action": "ban", "reason": "x"}), 422),
        (json!({"action": "auto"}), 200),
    ] {
        let (st, v) = s
            .admin_json(
                Method::POST,
                &format!("/api/admin/voters/{voter}"),
                Some(&body),
            )
            .await;
        assert_eq!(st, want, "{body}");
        fits(&v, "/api/admin/voters/{voter}", "post", &st.to_string());
    }
    let r = s
        .http
        .get(format!("{}/api/admin/export?format=kwise", s.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let (st, v) = s.admin_text("/api/admin/export?format=csv").await;
    fits(
        &serde_json::from_str(&v).unwrap(),
        "/api/admin/export",
        "get",
        &st.to_string(),
    );
}
