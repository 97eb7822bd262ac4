//! The router: routes, the access-rule middleware, CORS, and request tracing that never
//! records query strings (they carry tokens).

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};
use tracing::Instrument;

use crate::config::parse_cors_origin;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::{auth, change_streams, client_limit, documents, feed, path, topics};

/// Largest request body accepted, in bytes; larger ones get 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

pub fn app(state: AppState) -> Router {
    // Everything here passes the access rules (`auth::AccessRules`).
    let guarded = Router::new()
        .route("/api/events", get(feed::events))
        .route("/_publish/{topic}", post(topics::publish))
        .route("/{db}/__events", get(topics::subscribe))
        .route(
            "/{db}/{coll}",
            get(documents::list)
                .post(documents::create)
                .put(documents::define_streams),
        )
        .route(
            "/{db}/{coll}/{id}",
            get(documents::get)
                .put(documents::replace)
                .patch(documents::patch)
                .delete(documents::delete),
        )
        .route("/{db}/{coll}/_streams/{name}", get(change_streams::stream))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ));

    let router = Router::new()
        .route("/", get(index))
        // The JSON-Patch and typed-feed demos are static pages driven by the library.
        .route_service(
            "/dashboard",
            ServeFile::new(state.config.static_dir.join("dashboard.html")),
        )
        .route_service(
            "/feed",
            ServeFile::new(state.config.static_dir.join("feed.html")),
        )
        .route("/health", get(health))
        .route("/ready", get(ready))
        .nest_service("/pkg", ServeDir::new(&state.config.pkg_dir))
        .nest_service("/static", ServeDir::new(&state.config.static_dir))
        .merge(guarded)
        .merge(test_routes())
        // Unrouted paths pass the rules too, so a 404 never tells a stranger what exists
        // under a protected prefix (`/hr/salaries/alice/` is 403 for a viewer, like without
        // the slash).
        .fallback(axum::handler::Handler::layer(
            not_found,
            middleware::from_fn_with_state(state.clone(), auth::authorize),
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Before the access rules and every extractor: one canonical path per request.
        .layer(middleware::from_fn(path::canonicalize))
        // Outside every route and its errors, so whichever answers with an event stream is
        // counted; inside the trace, so a refusal is logged with its 429.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client_limit::limit,
        ))
        .layer(middleware::from_fn(trace_request));
    // CORS outermost, so error responses (401/403/503) carry the headers too: the browser
    // library reads a failed stream's status with `fetch`, which needs them.
    let router = match cors(&state.config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

#[cfg(feature = "test-routes")]
fn test_routes() -> Router<AppState> {
    crate::test_routes::routes()
}

#[cfg(not(feature = "test-routes"))]
fn test_routes() -> Router<AppState> {
    Router::new()
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    // `AppState::new` refused any origin `parse_cors_origin` rejects; parsed again here for the
    // normalised form browsers send, which is what the layer compares against.
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(
            |o| match parse_cors_origin(o).map(|o| HeaderValue::from_str(&o)) {
                Ok(Ok(value)) => Some(value),
                _ => {
                    tracing::error!(origin = %o, "--cors-origin ignored: not an origin");
                    None
                }
            },
        )
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            // htmx adds `HX-*` request headers (which ones depends on the element), and a
            // preflight that does not allow every one of them fails the whole request.
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("last-event-id"),
                HeaderName::from_static("hx-request"),
                HeaderName::from_static("hx-trigger"),
                HeaderName::from_static("hx-trigger-name"),
                HeaderName::from_static("hx-target"),
                HeaderName::from_static("hx-current-url"),
                HeaderName::from_static("hx-boosted"),
                HeaderName::from_static("hx-prompt"),
            ])
            .expose_headers([header::RETRY_AFTER])
            .allow_credentials(true),
    )
}

async fn index(State(state): State<AppState>) -> AppResult<Response> {
    state.pages.index()
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness, with the number of open SSE responses and of live runtime tasks (each
/// connection is one, so a leak shows here). 503 while draining, so a load balancer stops
/// sending new clients.
async fn ready(State(state): State<AppState>) -> AppResult<Response> {
    let head = state.blocking(|s| s.head()).await?;
    let draining = state.shutdown.is_cancelled();
    let body = json!({
        "status": if draining { "draining" } else { "ready" },
        "sseClients": state.clients.count(),
        "streams": state.hub.len(),
        "topics": state.topics.len(),
        "tasks": tokio::runtime::Handle::current().metrics().num_alive_tasks(),
        "lastEventId": head.to_string(),
    });
    let status = if draining {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body)).into_response())
}

/// A span per request around the handler, and its status and time to headers. Unlike
/// `tower_http`'s `TraceLayer` it leaves the response body alone: an SSE body is polled once
/// per event per client, and entering a span on each poll was about 8% of the server's
/// user-space time per delivery in a profile of the P5 fan-out.
async fn trace_request(req: Request, next: middleware::Next) -> Response {
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

async fn not_found(req: Request) -> AppError {
    AppError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}
