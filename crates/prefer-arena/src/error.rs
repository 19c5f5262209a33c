//! The error types: [`Error`] for the library (storage, import, configuration), and
//! [`ApiError`], the one type every HTTP handler answers with (a status and a JSON body
//! `{"error": {"code": ..., "message": ...}}`).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Errors of prefer-arena.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (connection, query, commit).
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A configuration value is out of range or missing.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Input that cannot be used (an import line, an export target); the message names
    /// the line and field.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing records failed.
    #[error(transparent)]
    Data(#[from] prefer_data::Error),
    /// Rating failed.
    #[error(transparent)]
    Rank(#[from] prefer_rank::Error),
    /// I/O failure.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `Result` with prefer-arena's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An HTTP error: status, a stable machine-readable code, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable code (`unknown_battle`, `already_voted`, `bad_ranking`, ...).
    pub code: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// Seconds to wait (rate limiting); sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422 Unprocessable Entity: well-formed JSON with a value that cannot be used.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 404 Not Found.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 503: storage failed; nothing was stored.
    pub fn storage(e: &Error) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_error",
            format!("the vote store failed, nothing was stored: {e}"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(Body {
                error: Inner {
                    code: self.code,
                    message: &self.message,
                },
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}
