//! The one error type every handler returns, rendered as `{"error": kind, "message": ...}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Every failure a request can meet. Each variant maps to one status code and one stable
/// machine-readable `kind`, so clients can branch on `error` without parsing messages.
#[derive(Debug)]
pub enum AppError {
    /// Malformed input: body, path, query, avars, ops, stream definitions.
    BadRequest(String),
    /// No credentials where they are needed, or credentials that do not verify.
    Unauthorized(String),
    /// Valid credentials, insufficient role (or a topic outside the allowed prefix).
    Forbidden(String),
    NotFound(String),
    /// The path exists, not with this method (the `Allow` header lists those it has).
    MethodNotAllowed(String),
    Conflict(String),
    /// A write that checks the document's ETag (`?checkEtag`) sent no `If-Match`: 409, as
    /// RESTHeart answers, with the current tag in the `ETag` header.
    EtagRequired {
        message: String,
        etag: String,
    },
    /// `If-Match` is not the document's current ETag (412, the current one in `ETag`).
    PreconditionFailed {
        message: String,
        etag: Option<String>,
    },
    /// A request body over the server's limit.
    PayloadTooLarge(String),
    /// A body that is not `Content-Type: application/json` where JSON is expected.
    UnsupportedMediaType(String),
    /// The server is shutting down; clients should come back after `retry_after_secs`.
    Unavailable {
        message: String,
        retry_after_secs: u64,
    },
    /// The client holds as many of a resource (event streams) as it may; it may try again
    /// after `retry_after_secs`, by which time it may have closed one.
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// A bug or an I/O failure; details go to the log, not to the client.
    Internal(String),
}

impl AppError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }

    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Self::Internal(msg.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::EtagRequired { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::EtagRequired { .. } => "etag_required",
            Self::PreconditionFailed { .. } => "precondition_failed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Unavailable { .. } => "unavailable",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::Internal(_) => "internal",
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::MethodNotAllowed(m)
            | Self::Conflict(m)
            | Self::PayloadTooLarge(m)
            | Self::UnsupportedMediaType(m)
            | Self::Internal(m) => f.write_str(m),
            Self::Unavailable { message, .. }
            | Self::TooManyRequests { message, .. }
            | Self::EtagRequired { message, .. }
            | Self::PreconditionFailed { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for AppError {}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(format!("database: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(json!({ "error": self.kind(), "message": message })),
        )
            .into_response();
        match &self {
            Self::Unavailable {
                retry_after_secs, ..
            }
            | Self::TooManyRequests {
                retry_after_secs, ..
            } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::EtagRequired { etag, .. }
            | Self::PreconditionFailed {
                etag: Some(etag), ..
            } => {
                if let Ok(etag) = HeaderValue::from_str(etag) {
                    response.headers_mut().insert(header::ETAG, etag);
                }
            }
            Self::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn too_many_requests_is_429_with_retry_after_and_the_json_body() {
        let response = AppError::TooManyRequests {
            message: "slow down".into(),
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": "too_many_requests", "message": "slow down"})
        );
    }
}
