//! The router: which route goes to which handler, and the layers around them: the access
//! rules, the canonical path, the per-client SSE cap, CORS, and request tracing.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::routing::{get, post};
use axum::{middleware, Router};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};

use super::client_limit;
use super::middleware::{authorize, canonicalize, trace_request};
use crate::config::{parse_cors_origin, BODY_LIMIT};
use crate::error::AppError;
use crate::routes::{change_streams, documents, feed, site, topics};
use crate::state::AppState;

pub fn app(state: AppState) -> Router {
    // Everything here passes the access rules (`auth::AccessRules`, through `authorize`).
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
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize));

    let router = Router::new()
        .route("/", get(site::index))
        // The JSON-Patch and typed-feed demos are static pages driven by the library.
        .route_service(
            "/dashboard",
            ServeFile::new(state.config.static_dir.join("dashboard.html")),
        )
        .route_service(
            "/feed",
            ServeFile::new(state.config.static_dir.join("feed.html")),
        )
        .route("/health", get(site::health))
        .route("/ready", get(site::ready))
        .nest_service("/pkg", ServeDir::new(&state.config.pkg_dir))
        .nest_service("/static", ServeDir::new(&state.config.static_dir))
        .merge(guarded)
        .merge(test_routes())
        // Unrouted paths pass the rules too, so a 404 never tells a stranger what exists
        // under a protected prefix (`/hr/salaries/alice/` is 403 for a viewer, like without
        // the slash).
        .fallback(axum::handler::Handler::layer(
            not_found,
            middleware::from_fn_with_state(state.clone(), authorize),
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Before the access rules and every extractor: one canonical path per request.
        .layer(middleware::from_fn(canonicalize))
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
    crate::routes::test_routes::routes()
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

async fn not_found(req: Request) -> AppError {
    AppError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    ))
}
