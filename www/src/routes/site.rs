//! `/`, `/health` and `/ready`: the demo index, liveness, and readiness with the server's
//! counts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::AppResult;
use crate::state::AppState;

pub async fn index(State(state): State<AppState>) -> AppResult<Response> {
    state.pages.index()
}

pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness, with the number of open SSE responses and of live runtime tasks (each
/// connection is one, so a leak shows here). 503 while draining, so a load balancer stops
/// sending new clients.
pub async fn ready(State(state): State<AppState>) -> AppResult<Response> {
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
