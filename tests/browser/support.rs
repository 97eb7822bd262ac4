//! Helpers for browser tests against the real livesource-dev that `scripts/with-server.sh`
//! starts. Its address is compiled in, since a test page cannot read the environment.

use std::future::Future;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::future::{select, Either};
use futures_util::{Stream, StreamExt};
use gloo_timers::future::TimeoutFuture;
use js_sys::{Object, Reflect, JSON};
use livesource::{Error, LiveSource, State};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

// Not `env!`: the suite must still compile for clippy and editors without a server; a run
// without one fails loudly here instead.
#[allow(clippy::option_env_unwrap)]
pub fn server() -> &'static str {
    option_env!("LIVESOURCE_TEST_SERVER").expect(
        "LIVESOURCE_TEST_SERVER was not set at compile time: run the browser tests with `make test`",
    )
}

pub fn url(path: &str) -> String {
    format!("{}{path}", server())
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", (js_sys::Math::random() * 1e12) as u64)
}

/// Awaits `f`, failing the test with `what` after `ms`.
pub async fn within<T>(ms: u32, what: &str, f: impl Future<Output = T>) -> T {
    match select(Box::pin(f), TimeoutFuture::new(ms)).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("timed out after {ms} ms waiting for {what}"),
    }
}

/// The next item of a stream, within `ms`.
pub async fn next<S: Stream + Unpin>(s: &mut S, ms: u32, what: &str) -> S::Item {
    within(ms, what, s.next())
        .await
        .unwrap_or_else(|| panic!("stream ended while waiting for {what}"))
}

pub async fn sleep(d: Duration) {
    TimeoutFuture::new(d.as_millis() as u32).await;
}

pub async fn fetch(
    method: &str,
    path: &str,
    body: Option<&JsValue>,
    token: Option<&str>,
) -> Result<Response, JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&JSON::stringify(body)?.into());
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

pub async fn json(response: Response) -> JsValue {
    JsFuture::from(response.json().expect("json()"))
        .await
        .expect("response body is JSON")
}

/// A JWT for `role`, minted by the server's test route; `ttl_secs < 0` is already expired.
pub async fn token(role: &str, ttl_secs: i64) -> String {
    let r = fetch(
        "GET",
        &format!("/_test/token?role={role}&ttl_secs={ttl_secs}"),
        None,
        None,
    )
    .await
    .expect("token route answers");
    assert_eq!(r.status(), 200, "/_test/token");
    let text = JsFuture::from(r.text().expect("text()")).await.unwrap();
    text.as_string().unwrap().trim().to_owned()
}

/// Inserts a product with an editor token; returns the stored document.
pub async fn insert_product(editor: &str, fields: &[(&str, JsValue)]) -> Result<JsValue, u16> {
    let doc = Object::new();
    for (k, v) in fields {
        Reflect::set(&doc, &(*k).into(), v).unwrap();
    }
    let r = fetch("POST", "/shop/products", Some(&doc.into()), Some(editor))
        .await
        .map_err(|_| 0u16)?;
    if r.status() != 201 && r.status() != 200 {
        return Err(r.status());
    }
    Ok(json(r).await)
}

/// Milliseconds at which the server saw each request for a `/_test/flaky/{key}` (or a
/// `/_test/fragment` with that `key`).
pub async fn hits(key: &str) -> Vec<f64> {
    let r = fetch("GET", &format!("/_test/hits/{key}"), None, None)
        .await
        .expect("hits route answers");
    let body = json(r).await;
    js_sys::Array::from(&get(&body, "hits"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A JS options object from `(name, value)` pairs.
pub fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

/// The RESTHeart change shape; deserialising it proves every field is present.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct Change {
    pub full_document: Option<Product>,
    pub document_key: serde::de::IgnoredAny,
    pub operation_type: String,
}

#[derive(Debug, Deserialize)]
pub struct Product {
    #[serde(default)]
    pub name: Option<String>,
}

/// Resolves once `source` reports `open`.
pub async fn opened(source: &LiveSource) {
    if source.state() == State::Open {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded();
    let _r = source
        .on_state(move |s| {
            let _ = tx.unbounded_send(s);
        })
        .unwrap();
    loop {
        if next(&mut rx, 5000, "state open").await == State::Open {
            return;
        }
    }
}

pub fn changes_url() -> String {
    url("/shop/products/_streams/changes")
}

/// Every error the source reports, as a channel.
pub fn collect_errors(source: &LiveSource) -> mpsc::UnboundedReceiver<Error> {
    let (tx, rx) = mpsc::unbounded();
    source
        .on_error(move |e| {
            let _ = tx.unbounded_send(e.clone());
        })
        .unwrap()
        .forget();
    rx
}
