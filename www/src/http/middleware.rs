//! The functions of the layers every request passes (`app` stacks them): the canonical path,
//! the access rules, and request tracing that never records query strings (they carry tokens).
//! The per-client SSE cap is `client_limit`.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::auth::{self, CanonicalPath};
use crate::error::AppError;
use crate::state::AppState;

/// The errors that axum and tower-http answer by themselves, with an empty body (405 from a
/// route, 404 from `ServeDir` under `/pkg` and `/static`), get the JSON body of every other
/// `AppError`; the `Allow` header of a 405 is kept.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if res.headers().contains_key(header::CONTENT_TYPE) {
        return res;
    }
    let error = match res.status() {
        StatusCode::METHOD_NOT_ALLOWED => {
            AppError::MethodNotAllowed("this path does not take that method; see Allow".into())
        }
        StatusCode::NOT_FOUND => AppError::not_found("no such file"),
        _ => return res,
    };
    let mut out = error.into_response();
    if let Some(allow) = res.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

/// Refuses a non-canonical path with 400 and leaves the canonical form in the request's
/// extensions for the access rules (see `auth::CanonicalPath`).
pub async fn canonicalize(mut req: Request, next: Next) -> Result<Response, AppError> {
    let path = CanonicalPath::parse(req.uri().path()).map_err(AppError::BadRequest)?;
    req.extensions_mut().insert(path);
    Ok(next.run(req).await)
}

/// Verifies the token if one is present and enforces the access rule for the path
/// (`auth::authorize`), then leaves the token's claims in the request's extensions for the
/// handlers.
pub async fn authorize(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    if let Some(claims) = auth::authorize(&state.keys, &state.rules, &req)? {
        req.extensions_mut().insert(claims);
    }
    Ok(next.run(req).await)
}

/// A span per request around the handler, and its status and time to headers. Unlike
/// `tower_http`'s `TraceLayer` it leaves the response body alone: an SSE body is polled once
/// per event per client, and entering a span on each poll was about 8% of the server's
/// user-space time per delivery in a profile of the P5 fan-out.
pub async fn trace_request(req: Request, next: Next) -> Response {
    // The path only: query strings carry `access_token`, so they never reach a log.
    let span = tracing::info_span!("http", method = %req.method(), path = %req.uri().path());
    let start = std::time::Instant::now();
    async move {
        tracing::debug!("started processing request");
        let response = next.run(req).await;
        let (status, latency_us) = (response.status().as_u16(), start.elapsed().as_micros());
        if response.status().is_server_error() {
            tracing::error!(status, latency_us, "request failed");
        } else {
            tracing::debug!(status, latency_us, "response head ready");
        }
        response
    }
    .instrument(span)
    .await
}
