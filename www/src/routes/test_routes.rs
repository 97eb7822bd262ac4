//! Test-only routes for the browser test-suite (cargo feature `test-routes`, never in
//! `make run`): scripted SSE responses, planned failures with a hit log, tokens, a crash, and
//! ports of web-platform-tests' EventSource handlers under `/_test/wpt/` (`wpt`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::extract::Query;
use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::sse::{self, trusted_frame, SseOptions};
use crate::state::AppState;

mod wpt;

/// Bounds on what tests can make the server remember.
const MAX_KEYS: usize = 1_000;
const MAX_HITS_PER_KEY: usize = 10_000;

#[derive(Default)]
struct Flaky {
    requests: u64,
    hits: Vec<u64>,
}

/// What `/_test/flaky` remembers. It lives with these routes rather than in `AppState`, which
/// knows nothing of them; `http::app` builds one router per server, so there is one per server.
#[derive(Default)]
struct TestState {
    flaky: Mutex<HashMap<String, Flaky>>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_test/sse", get(one_event))
        .route("/_test/flaky/{key}", get(flaky))
        .route("/_test/hits/{key}", get(hits))
        .route("/_test/token", get(token))
        .route("/_test/exit", post(exit))
        .route("/_test/fragment", get(fragment))
        .layer(Extension(Arc::new(TestState::default())))
        .merge(wpt::routes())
}

#[derive(Deserialize)]
struct Fragment {
    html: String,
    key: Option<String>,
    // `FailurePlan`'s fields (serde's `flatten` would read them as strings from a query).
    fail: Option<u64>,
    status: Option<u16>,
    /// Answer this many milliseconds late (at most 10 s): a fragment still on its way.
    delay: Option<u64>,
}

/// Echoes `html` as an HTML fragment (after `delay` ms): a fragment URL whose content a test
/// chooses (for `hx-*` attributes inside swapped content). With `key`, the first `fail` requests fail as
/// `/_test/flaky`'s do, and are logged in the same hit log.
async fn fragment(
    Extension(test): Extension<Arc<TestState>>,
    Query(q): Query<Fragment>,
) -> AppResult<Response> {
    if let Some(ms) = q.delay {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(10_000))).await;
    }
    if let Some(key) = q.key {
        let plan = FailurePlan {
            fail: q.fail,
            status: q.status,
            retry_after: None,
        };
        if let (Some(failure), _) = plan.answer(&test, key)? {
            return Ok(failure);
        }
    }
    Ok(axum::response::Html(q.html).into_response())
}

#[derive(Deserialize)]
struct OneEvent {
    event: Option<String>,
    data: Option<String>,
    id: Option<String>,
}

/// One event exactly as asked (data may be anything, even invalid JSON), then silence — no
/// keep-alives — until the client leaves: for decode-error and stall-watchdog tests.
async fn one_event(
    State(state): State<AppState>,
    Query(q): Query<OneEvent>,
) -> AppResult<Response> {
    let frame = sse::frame(
        q.event.as_deref(),
        q.id.as_deref(),
        q.data.as_deref().unwrap_or(""),
    )
    .map_err(AppError::BadRequest)?;
    let frames =
        futures_util::stream::once(async move { frame }).chain(futures_util::stream::pending());
    let options = SseOptions {
        retry_ms: 1000,
        keepalive: None,
        farewell: None,
    };
    Ok(state.sse(frames, options))
}

/// Planned failures: the first `fail` requests of a key answer `status` (503 unless given),
/// with `Retry-After: retryAfter` when given.
#[derive(Deserialize)]
struct FailurePlan {
    fail: Option<u64>,
    status: Option<u16>,
    #[serde(rename = "retryAfter")]
    retry_after: Option<u64>,
}

impl FailurePlan {
    /// Logs a request of `key` in the hit log; returns the planned failure's answer (`None`:
    /// this request succeeds) and which attempt of `key` it was, from 1.
    fn answer(&self, test: &TestState, key: String) -> AppResult<(Option<Response>, u64)> {
        let status = StatusCode::from_u16(self.status.unwrap_or(503))
            .ok()
            .filter(|s| (200..600).contains(&s.as_u16()))
            .ok_or_else(|| AppError::bad_request("status must be between 200 and 599"))?;
        let attempt = {
            let mut flaky = test.flaky.lock().unwrap_or_else(|e| e.into_inner());
            if !flaky.contains_key(&key) && flaky.len() >= MAX_KEYS {
                return Err(AppError::bad_request("too many flaky keys"));
            }
            let entry = flaky.entry(key).or_default();
            entry.requests += 1;
            if entry.hits.len() < MAX_HITS_PER_KEY {
                entry.hits.push(now_ms());
            }
            entry.requests
        };
        let fail = self.fail.unwrap_or(0);
        if attempt > fail {
            return Ok((None, attempt));
        }
        let body = json!({
            "error": "flaky",
            "message": format!("planned failure {attempt} of {fail}"),
        });
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        Ok((Some(response), attempt))
    }
}

/// The first `fail` requests for `key` answer `status`; later ones a working stream whose
/// `hello` event says which attempt it is.
async fn flaky(
    State(state): State<AppState>,
    Extension(test): Extension<Arc<TestState>>,
    Path(key): Path<String>,
    Query(plan): Query<FailurePlan>,
) -> AppResult<Response> {
    let (failure, attempt) = plan.answer(&test, key)?;
    if let Some(failure) = failure {
        return Ok(failure);
    }
    let hello = trusted_frame(
        "hello",
        Some(attempt),
        &json!({ "attempt": attempt }).to_string(),
    );
    let frames =
        futures_util::stream::once(async move { hello }).chain(futures_util::stream::pending());
    let options = SseOptions {
        retry_ms: 1000,
        keepalive: Some((state.config.heartbeat, sse::comment("keep-alive"))),
        farewell: None,
    };
    Ok(state.sse(frames, options))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn hits(
    Extension(test): Extension<Arc<TestState>>,
    Path(key): Path<String>,
) -> Json<serde_json::Value> {
    let flaky = test.flaky.lock().unwrap_or_else(|e| e.into_inner());
    let hits = flaky.get(&key).map(|f| f.hits.clone()).unwrap_or_default();
    Json(json!({ "hits": hits }))
}

#[derive(Deserialize)]
struct TokenQuery {
    role: String,
    ttl_secs: Option<i64>,
}

/// A token signed with the server's secret, as `text/plain`; negative TTL: already expired.
async fn token(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> AppResult<String> {
    let role = Role::parse(&q.role)
        .ok_or_else(|| AppError::bad_request("role must be viewer, editor or admin"))?;
    state.keys.mint("test", role, q.ttl_secs.unwrap_or(900))
}

/// Answers 202, then ends the process abruptly (no drain), like a crash.
async fn exit() -> StatusCode {
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tracing::warn!("/_test/exit: terminating without drain");
        std::process::exit(1);
    });
    StatusCode::ACCEPTED
}
