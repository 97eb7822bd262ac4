//! The router: which route goes to which handler, and the layers around them: the access
//! rules, the canonical path, the per-client SSE cap, CORS, and request tracing.

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Method};
use axum::routing::{get, post};
use axum::{middleware, Router};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::services::{ServeDir, ServeFile};

use super::client_limit;
use super::middleware::{authorize, canonicalize, json_errors, trace_request};
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
        .layer(middleware::from_fn(json_errors))
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
            // Any request header the configured origins ask for: htmx adds `HX-*` headers (which
            // ones depends on the element), the fetch transport `Authorization`, `Last-Event-ID`
            // and whatever an app's `headers` function returns, and a preflight that refuses one
            // of them fails the whole request. Only the listed origins get this far.
            .allow_headers(AllowHeaders::mirror_request())
            // What a page reads of an answer, as RESTHeart exposes `Location` and `ETag`.
            .expose_headers([header::RETRY_AFTER, header::ETAG, header::LOCATION])
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
