//! Helpers for browser tests of a live page against `livesource-dev with` (docs/GUIDE.md,
//! "Testing your live page"). Copy this file into your own `tests/`.
//!
//! | helper | what it does | needs |
//! | --- | --- | --- |
//! | `server()`, `url(path)` | the server `with` started (`LIVESOURCE_TEST_SERVER`, read when the tests compile) | |
//! | `token(role)` | a JWT for `viewer`, `editor` or `admin`, signed with the server's secret | `--test-routes` |
//! | `insert(collection, doc, token)` | `POST /<db>/<coll>`: one document, or an array of them | |
//! | `publish(topic, ops, token)` | `POST /_publish/<topic>`: JSON-Patch ops to a patch topic | |
//! | `cut_streams()` | kills the server mid-stream (`POST /_test/exit`); every stream drops; `--restart` brings it back on the same port and data | `--test-routes --restart` |
//! | `insert_until_acknowledged(...)` | `insert`, retried while the server is down | |
//! | `request_when_up(...)` | any request that is safe to repeat, retried while the server is down (tests run concurrently: another test may have cut it) | |
//! | `eventually(ms, what, check)` | waits until `check()` holds, or fails the test saying `what` | |
#![allow(dead_code)]

use std::future::Future;

use gloo_timers::future::TimeoutFuture;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// The server's base URL. Compiled in: a test page cannot read the environment.
#[allow(clippy::option_env_unwrap)]
pub fn server() -> &'static str {
    option_env!("LIVESOURCE_TEST_SERVER").expect(
        "LIVESOURCE_TEST_SERVER was not set when the tests compiled: run them under \
         `livesource-dev with --test-routes --restart -- wasm-pack test --headless --chrome`",
    )
}

pub fn url(path: &str) -> String {
    format!("{}{path}", server())
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e12) as u64)
}

/// `method path` with an optional JSON body and bearer token.
pub async fn request(
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Result<Response, JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&body.to_string().into());
    }
    let request = Request::new_with_str_and_init(&url(path), &init)?;
    if body.is_some() {
        request.headers().set("Content-Type", "application/json")?;
    }
    if let Some(token) = token {
        request
            .headers()
            .set("Authorization", &format!("Bearer {token}"))?;
    }
    let window = web_sys::window().expect("browser tests run in a window");
    JsFuture::from(window.fetch_with_request(&request))
        .await?
        .dyn_into()
}

/// `request`, retried while the server does not answer at all. Tests run concurrently, so
/// another test's `cut_streams` may have the server down for a moment; `--restart` brings it
/// back. Only for requests that are safe to repeat.
pub async fn request_when_up(
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Response {
    let start = js_sys::Date::now();
    loop {
        match request(method, path, body, token).await {
            Ok(response) => return response,
            Err(e) if js_sys::Date::now() - start > 10_000.0 => {
                panic!("{method} {path}: the server did not answer for 10 s: {e:?}")
            }
            Err(_) => sleep(50).await,
        }
    }
}

async fn text(response: &Response) -> String {
    JsFuture::from(response.text().expect("text()"))
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default()
}

/// A token for `role` (`viewer`, `editor`, `admin`), valid for ten minutes.
pub async fn token(role: &str) -> String {
    let r = request_when_up(
        "GET",
        &format!("/_test/token?role={role}&ttl_secs=600"),
        None,
        None,
    )
    .await;
    assert_eq!(
        r.status(),
        200,
        "/_test/token: start the server with `livesource-dev with --test-routes`"
    );
    text(&r).await.trim().to_owned()
}

/// Inserts `doc` (an object, or an array of them) into `collection` (`/shop/products`); the
/// stored document(s), or the status (0: no answer).
pub async fn insert(collection: &str, doc: &Value, token: &str) -> Result<Value, u16> {
    let r = request("POST", collection, Some(doc), Some(token))
        .await
        .map_err(|_| 0u16)?;
    if r.status() != 201 {
        return Err(r.status());
    }
    serde_json::from_str(&text(&r).await).map_err(|_| r.status())
}

/// Inserts `doc`, which must carry its own `_id`, retrying while the server is down (after
/// `cut_streams`). A retry of a write that was stored with its answer lost gets 409, which
/// acknowledges it: each document is stored exactly once.
pub async fn insert_until_acknowledged(collection: &str, doc: &Value, token: &str) {
    eventually_async(10_000, "the server to accept the write", || async {
        matches!(insert(collection, doc, token).await, Ok(_) | Err(409))
    })
    .await;
}

/// Publishes JSON-Patch `ops` (`[["replace", "/counter", 7]]`) to a patch topic.
pub async fn publish(topic: &str, ops: &Value, token: &str) -> Result<(), u16> {
    let r = request(
        "POST",
        &format!("/_publish/{topic}"),
        Some(ops),
        Some(token),
    )
    .await
    .map_err(|_| 0u16)?;
    match r.status() {
        200..=299 => Ok(()),
        status => Err(status),
    }
}

/// Kills the server mid-stream, as a crash would: every open stream drops at once. Under
/// `--restart` it is back within a moment on the same port with the same data, and clients
/// resume from their last event id.
pub async fn cut_streams() {
    // Not `request_when_up`: a cut is not safe to repeat. Only a request that got no answer at
    // all (another test's cut had the server down) is sent again; the server answers 202 before
    // it dies, so a cut that happened is never repeated.
    let r = loop {
        request_when_up("GET", "/health", None, None).await;
        if let Ok(r) = request("POST", "/_test/exit", None, None).await {
            break r;
        }
    };
    assert_eq!(
        r.status(),
        202,
        "/_test/exit: start the server with `livesource-dev with --test-routes --restart`"
    );
}

pub async fn sleep(ms: u32) {
    TimeoutFuture::new(ms).await;
}

/// Waits until `check()` holds, polling every 20 ms; fails the test after `ms`.
pub async fn eventually(ms: u32, what: &str, check: impl Fn() -> bool) {
    eventually_async(ms, what, || {
        let ok = check();
        async move { ok }
    })
    .await;
}

async fn eventually_async<F: Future<Output = bool>>(ms: u32, what: &str, check: impl Fn() -> F) {
    let start = js_sys::Date::now();
    while !check().await {
        if js_sys::Date::now() - start > f64::from(ms) {
            panic!("timed out after {ms} ms waiting for {what}");
        }
        sleep(20).await;
    }
}
