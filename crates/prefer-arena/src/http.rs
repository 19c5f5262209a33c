//! Routes: the JSON API under `/api` (described by `/api/openapi.json`) and the
//! server-rendered pages, which call the same [`Arena`] operations.
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/api/health` | status and counts |
//! | GET | `/api/openapi.json` | the OpenAPI description of this API |
//! | POST | `/api/battles` | start a battle (rate-limited) |
//! | GET | `/api/battles/{id}` | a pending battle |
//! | POST | `/api/battles/{id}/vote` | vote (rate-limited; single use) |
//! | GET | `/api/leaderboard` | ratings with intervals, votes per model |
//! | GET | `/api/models` | models and their outputs |
//! | POST | `/api/admin/outputs` | import outputs (JSON lines; admin) |
//! | GET | `/api/admin/export` | every vote as battles or K-wise records (admin) |
//! | POST | `/api/admin/refit` | refit now (admin) |
//! | GET | `/api/admin/voters` | every voter's screening, worst first, with reasons (admin) |
//! | POST | `/api/admin/voters/{voter}` | exclude or trust a voter, or leave it to screening (admin) |
//! | GET | `/`, `/battle/{id}`, `/leaderboard` | pages; forms POST to `/battle` and `/battle/{id}/vote` |

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request,
};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::battle::VoteBody;
use crate::catalog::parse_outputs;
use crate::error::ApiError;
use crate::error::Result;
use crate::html;
use crate::server::Arena;

/// The OpenAPI description served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

impl Arena {
    /// Serves HTTP on `listener` until the process ends.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn serve(self, listener: TcpListener) -> Result<()> {
        self.serve_until(listener, std::future::pending()).await
    }

    /// Serves HTTP on `listener` until `stop` completes, then finishes the requests in
    /// flight (graceful shutdown).
    ///
    /// # Errors
    /// The listener fails.
    pub async fn serve_until(
        self,
        listener: TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let app = router(self);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await?;
        Ok(())
    }
}

/// Builds the router.
pub fn router(arena: Arena) -> Router {
    let cfg = &arena.inner.cfg;
    let voter = Router::new()
        .route("/api/health", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/battles", post(api_new_battle))
        .route("/api/battles/{id}", get(api_battle))
        .route("/api/battles/{id}/vote", post(api_vote))
        .route("/api/leaderboard", get(api_leaderboard))
        .route("/api/models", get(api_models))
        .route("/", get(page_home))
        .route("/battle", post(page_new_battle))
        .route("/battle/{id}", get(page_battle))
        .route("/battle/{id}/vote", post(page_vote))
        .route("/leaderboard", get(page_leaderboard))
        .layer(DefaultBodyLimit::max(cfg.body_limit));
    let admin = Router::new()
        .route("/api/admin/outputs", post(admin_import))
        .route("/api/admin/export", get(admin_export))
        .route("/api/admin/refit", post(admin_refit))
        .route("/api/admin/voters", get(admin_voters))
        .route("/api/admin/voters/{voter}", post(admin_set_voter))
        .layer(DefaultBodyLimit::max(cfg.admin_body_limit));
    voter
        .merge(admin)
        .fallback(fallback)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(arena)
}

async fn security_headers(mut r: Response) -> Response {
    let refused_body = r.status() == StatusCode::PAYLOAD_TOO_LARGE;
    let h = r.headers_mut();
    // No scripts at all; inline styles only; nothing framed, sniffed or referred.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // A body refused as too large is answered before it is read, and the server closes
    // the connection after the answer. Without saying so, a client puts the connection
    // back in its pool and its next request on it fails (hyper: IncompleteMessage).
    if refused_body {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// The client's address: the peer, or the last `X-Forwarded-For` entry when the
/// arena is told to trust it.
pub struct Client(pub IpAddr);

impl FromRequestParts<Arena> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, arena: &Arena) -> Result<Self, ApiError> {
        if arena.inner.cfg.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.rsplit(',').next())
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
        {
            return Ok(Client(ip));
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(Client(ip))
    }
}

/// `Json` with the arena's JSON errors: 400 malformed JSON, 415 no JSON content type,
/// 413 too large, 422 a field of the wrong type or unknown.
pub struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(json_rejection(&e)),
        }
    }
}

fn json_rejection(e: &JsonRejection) -> ApiError {
    let (code, what) = match e {
        JsonRejection::JsonSyntaxError(_) => ("malformed_json", "the body is not valid JSON"),
        JsonRejection::JsonDataError(_) => (
            "bad_field",
            "a field is missing, unknown or of the wrong type",
        ),
        JsonRejection::MissingJsonContentType(_) => (
            "content_type",
            "send the body as JSON (Content-Type: application/json)",
        ),
        JsonRejection::BytesRejection(_) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            "the request body is larger than this route takes",
        ),
        _ => ("bad_body", "the body could not be read"),
    };
    ApiError::new(e.status(), code, format!("{what}: {}", e.body_text()))
}

fn bytes_rejection(e: &BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            e.status(),
            "body_too_large",
            format!(
                "the request body is larger than this route takes: {}",
                e.body_text()
            ),
        )
    } else {
        ApiError::new(e.status(), "bad_body", e.body_text())
    }
}

/// The admin's bearer token, compared in constant time.
pub struct Admin;

impl FromRequestParts<Arena> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, arena: &Arena) -> Result<Self, ApiError> {
        let Some(want) = &arena.inner.cfg.admin_token else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "admin routes are off: start the server with PREFER_ARENA_ADMIN_TOKEN set or --admin-token-file",
            ));
        };
        let got = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(got.trim().as_bytes(), want.as_bytes()) {
            Ok(Admin)
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "admin routes need `Authorization: Bearer <token>`",
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for (i, y) in b.iter().enumerate() {
        diff |= a.get(i).copied().unwrap_or(0) ^ y;
    }
    diff == 0
}

async fn health(axum::extract::State(a): axum::extract::State<Arena>) -> Json<crate::view::Health> {
    Json(a.health())
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn api_new_battle(
    axum::extract::State(a): axum::extract::State<Arena>,
    Client(ip): Client,
) -> Result<Response, ApiError> {
    a.inner.limiter.check(ip)?;
    let b = a.new_battle().await?;
    Ok((StatusCode::CREATED, Json(b)).into_response())
}

async fn api_battle(
    axum::extract::State(a): axum::extract::State<Arena>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(a.battle(&id).await?).into_response())
}

async fn api_vote(
    axum::extract::State(a): axum::extract::State<Arena>,
    Client(ip): Client,
    Path(id): Path<String>,
    body: Result<ApiJson<VoteBody>, ApiError>,
) -> Result<Response, ApiError> {
    a.inner.limiter.check(ip)?;
    let ApiJson(body) = body?;
    let r = a.vote_as(&id, body, &a.inner.voter_of(ip)).await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

async fn api_leaderboard(axum::extract::State(a): axum::extract::State<Arena>) -> Response {
    Json(a.leaderboard()).into_response()
}

/// One model in `/api/models`.
#[derive(Debug, serde::Serialize)]
struct ModelView {
    model: String,
    outputs: usize,
    votes: u64,
}

async fn api_models(axum::extract::State(a): axum::extract::State<Arena>) -> Response {
    let catalog = a.inner.catalog();
    let ratings = a.inner.ratings();
    let rows: Vec<ModelView> = catalog
        .models
        .iter()
        .enumerate()
        .map(|(m, (_, name))| ModelView {
            model: name.clone(),
            outputs: catalog.prompts_of.get(m).map_or(0, Vec::len),
            votes: ratings.online.votes.get(m).copied().unwrap_or(0),
        })
        .collect();
    Json(rows).into_response()
}

async fn admin_import(
    axum::extract::State(a): axum::extract::State<Arena>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| bytes_rejection(&e))?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request("bad_body", format!("the body is not UTF-8: {e}")))?;
    let records =
        parse_outputs(text, "body").map_err(|e| ApiError::invalid("bad_import", e.to_string()))?;
    Ok(Json(a.import(records).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    #[serde(default)]
    format: Option<String>,
}

async fn admin_export(
    axum::extract::State(a): axum::extract::State<Arena>,
    _: Admin,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    let kind = match q.format.as_deref().unwrap_or("battles") {
        "battles" => crate::export::Kind::Battles,
        "kwise" => crate::export::Kind::Kwise,
        other => {
            return Err(ApiError::bad_request(
                "bad_query",
                format!("`format` must be battles or kwise (got {other:?})"),
            ));
        }
    };
    let body = crate::export::stream(
        a.inner.db.clone(),
        a.inner.catalog(),
        kind,
        a.inner.voter_flags(),
    );
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

async fn admin_refit(axum::extract::State(a): axum::extract::State<Arena>, _: Admin) -> Response {
    a.refit_now().await;
    Json(a.leaderboard()).into_response()
}

async fn admin_voters(axum::extract::State(a): axum::extract::State<Arena>, _: Admin) -> Response {
    Json(a.voters()).into_response()
}

/// An admin's decision on a voter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoterDecision {
    /// `exclude`, `trust` or `auto` (back to screening).
    action: String,
    /// Why (kept with the decision; required for `exclude` and `trust`).
    #[serde(default)]
    reason: Option<String>,
}

async fn admin_set_voter(
    axum::extract::State(a): axum::extract::State<Arena>,
    _: Admin,
    Path(voter): Path<String>,
    body: Result<ApiJson<VoterDecision>, ApiError>,
) -> Result<Response, ApiError> {
    let ApiJson(d) = body?;
    if voter.is_empty() || voter.len() > 64 {
        return Err(ApiError::invalid(
            "bad_voter",
            "a voter pseudonym is 1 to 64 characters (as /api/admin/voters lists them)",
        ));
    }
    let reason = d.reason.as_deref().map(str::trim).unwrap_or("");
    let flag = match d.action.as_str() {
        "auto" => None,
        "exclude" | "trust" if reason.is_empty() => {
            return Err(ApiError::invalid(
                "bad_field",
                "field `reason`: say why (required to exclude or trust a voter)",
            ));
        }
        "exclude" | "trust" => Some(crate::db::VoterFlag {
            action: d.action.clone(),
            reason: reason.to_string(),
            created_ms: crate::db::now_ms(),
        }),
        other => {
            return Err(ApiError::invalid(
                "bad_field",
                format!("field `action`: exclude, trust or auto (got {other:?})"),
            ));
        }
    };
    a.set_voter_flag(&voter, flag).await?;
    Ok(Json(a.voters()).into_response())
}

async fn fallback(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found("no_route", format!("no route {}", uri.path())).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Html(html::error_page(404, "There is no such page.")),
        )
            .into_response()
    }
}

// ---- pages ------------------------------------------------------------------------

fn page_error(e: &ApiError) -> Response {
    let mut r = (
        e.status,
        Html(html::error_page(e.status.as_u16(), &e.message)),
    )
        .into_response();
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

async fn page_home(axum::extract::State(a): axum::extract::State<Arena>) -> Html<String> {
    Html(html::home(&a.health()))
}

async fn page_new_battle(
    axum::extract::State(a): axum::extract::State<Arena>,
    Client(ip): Client,
) -> Response {
    if let Err(e) = a.inner.limiter.check(ip) {
        return page_error(&e);
    }
    match a.new_battle().await {
        Ok(b) => Redirect::to(&format!("/battle/{}", b.battle_id)).into_response(),
        Err(e) => page_error(&e),
    }
}

async fn page_battle(
    axum::extract::State(a): axum::extract::State<Arena>,
    Path(id): Path<String>,
) -> Response {
    match a.battle(&id).await {
        Ok(b) => Html(html::battle(&b)).into_response(),
        Err(e) => page_error(&e),
    }
}

async fn page_vote(
    axum::extract::State(a): axum::extract::State<Arena>,
    Client(ip): Client,
    Path(id): Path<String>,
    form: Result<axum::Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    if let Err(e) = a.inner.limiter.check(ip) {
        return page_error(&e);
    }
    let form = match form {
        Ok(axum::Form(f)) => f,
        Err(e) => {
            let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else {
                "bad_form"
            };
            return page_error(&ApiError::new(e.status(), code, e.body_text()));
        }
    };
    let vote = if let Some(w) = form.get("winner") {
        VoteBody {
            winner: Some(w.clone()),
            ranking: None,
        }
    } else {
        let mut ranks = Vec::new();
        for i in 0..4 {
            match form
                .get(&format!("rank{i}"))
                .map(|s| s.trim().parse::<u32>())
            {
                Some(Ok(r)) => ranks.push(r),
                Some(Err(_)) => ranks.push(0),
                None => break,
            }
        }
        VoteBody {
            winner: None,
            ranking: (!ranks.is_empty()).then_some(ranks),
        }
    };
    match a.vote_as(&id, vote, &a.inner.voter_of(ip)).await {
        Ok(r) => Html(html::receipt(&r)).into_response(),
        Err(e) => page_error(&e),
    }
}

async fn page_leaderboard(axum::extract::State(a): axum::extract::State<Arena>) -> Html<String> {
    Html(html::leaderboard(&a.leaderboard()))
}
