//! Failure handling against the real server: HTTP statuses learned by the probe, token refresh,
//! the stall watchdog, close(), a real server restart, reset, and the `online` event.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::{FutureExt, StreamExt};
use livesource::{Backoff, Error, LiveSource, Options, State, TokenSource};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::*;

#[derive(Debug, Deserialize)]
struct Hello {
    attempt: u32,
}

fn quick_backoff() -> Backoff {
    Backoff {
        initial_ms: 50,
        max_ms: 200,
        factor: 2.0,
        jitter: false,
        max_attempts: None,
    }
}

fn collect_states(source: &LiveSource) -> mpsc::UnboundedReceiver<State> {
    let (tx, rx) = mpsc::unbounded();
    source
        .on_state(move |s| {
            let _ = tx.unbounded_send(s);
        })
        .forget();
    rx
}

async fn until_state(states: &mut mpsc::UnboundedReceiver<State>, want: State, ms: u32) {
    while next(states, ms, want.as_str()).await != want {}
}

#[wasm_bindgen_test]
async fn forbidden_stops_the_source_with_the_status() {
    let key = unique("forbidden");
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=1000&status=403")),
        Options::default().backoff(quick_backoff()),
    )
    .unwrap();
    let mut errors = collect_errors(&source);
    let mut states = collect_states(&source);
    match next(&mut errors, 5000, "the http error").await {
        Error::Http { status, .. } => assert_eq!(status, 403),
        other => panic!("expected http 403, got {other:?}"),
    }
    until_state(&mut states, State::Closed, 2000).await;
    sleep(Duration::from_millis(400)).await;
    assert_eq!(
        hits(&key).await.len(),
        2,
        "one EventSource request and one probe, then nothing"
    );
}

#[wasm_bindgen_test]
async fn service_unavailable_waits_as_retry_after_says() {
    let key = unique("unavailable");
    let source = LiveSource::connect(
        &url(&format!(
            "/_test/flaky/{key}?fail=2&status=503&retryAfter=1"
        )),
        Options::default().backoff(quick_backoff()),
    )
    .unwrap();
    let mut errors = collect_errors(&source);
    let mut hello = source.subscribe::<Hello>("hello");
    let event = next(&mut hello, 5000, "hello after the outage")
        .await
        .unwrap();
    assert_eq!(event.data.attempt, 3);
    match next(&mut errors, 100, "the 503 report").await {
        Error::Http { status, .. } => assert_eq!(status, 503),
        other => panic!("expected http 503, got {other:?}"),
    }
    let at = hits(&key).await;
    assert!(
        at[2] - at[1] >= 1000.0,
        "waited {} ms after the probe, Retry-After said 1 s (the backoff alone is 50 ms)",
        at[2] - at[1]
    );
}

#[wasm_bindgen_test]
async fn unauthorized_asks_for_a_fresh_token_once_and_connects() {
    let calls = Rc::new(Cell::new(0u32));
    let counter = Rc::clone(&calls);
    let expired = token("viewer", -60).await;
    let valid = token("viewer", 600).await;
    let (expired_c, valid_c) = (expired.clone(), valid.clone());
    let source = LiveSource::connect(
        &url("/api/events"),
        Options::default()
            .backoff(quick_backoff())
            .token(TokenSource::from_fn(move || {
                counter.set(counter.get() + 1);
                // The first token handed out has expired; a fresh one is asked for on 401.
                let t = if counter.get() == 1 {
                    expired_c.clone()
                } else {
                    valid_c.clone()
                };
                async move { Ok(t) }
            })),
    )
    .unwrap();
    let mut errors = collect_errors(&source);
    opened(&source).await;
    assert_eq!(
        calls.get(),
        2,
        "the token function runs before every connect"
    );
    while let Ok(e) = errors.try_recv() {
        let text = e.to_string();
        assert!(
            !text.contains(&expired) && !text.contains(&valid),
            "token leaked: {text}"
        );
    }
}

#[wasm_bindgen_test]
async fn a_stalled_stream_is_closed_and_resumed_without_a_duplicate() {
    let source = LiveSource::connect(
        &url("/_test/sse?event=heartbeat&data=%7B%7D&id=5"),
        Options::default()
            .backoff(quick_backoff())
            .heartbeat_timeout_ms(300),
    )
    .unwrap();
    let mut states = collect_states(&source);
    let mut errors = collect_errors(&source);
    let mut ticks = source.subscribe::<serde::de::IgnoredAny>("heartbeat");
    next(&mut ticks, 3000, "the first heartbeat").await.unwrap();
    until_state(&mut states, State::Reconnecting, 2000).await;
    match next(&mut errors, 100, "the stall report").await {
        Error::Network(m) => assert!(m.contains("stalled"), "{m}"),
        other => panic!("expected a network error, got {other:?}"),
    }
    until_state(&mut states, State::Open, 2000).await;
    // The route sends id 5 again on the new connection: it must be dropped as a duplicate.
    sleep(Duration::from_millis(150)).await;
    assert!(
        ticks.next().now_or_never().is_none(),
        "a replayed id was delivered twice"
    );
}

#[wasm_bindgen_test]
async fn a_quiet_stream_without_heartbeat_events_is_not_a_stall() {
    // One ordinary event, then silence: a server that keeps alive with comments looks like this.
    let source = LiveSource::connect(
        &url("/_test/sse?event=tick&data=%7B%7D&id=9"),
        Options::default()
            .backoff(quick_backoff())
            .heartbeat_timeout_ms(200),
    )
    .unwrap();
    let mut states = collect_states(&source);
    let mut ticks = source.subscribe::<serde::de::IgnoredAny>("tick");
    next(&mut ticks, 3000, "the event").await.unwrap();
    sleep(Duration::from_millis(800)).await;
    while let Ok(s) = states.try_recv() {
        assert_ne!(
            s,
            State::Reconnecting,
            "no heartbeat events were promised, so no stall"
        );
    }
    assert_eq!(source.state(), State::Open);
}

#[wasm_bindgen_test]
async fn close_leaves_no_timer_or_listener_behind() {
    let key = unique("closing");
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=100000&status=500")),
        Options::default().backoff(Backoff {
            initial_ms: 20,
            max_ms: 40,
            ..quick_backoff()
        }),
    )
    .unwrap();
    let mut stream = source.subscribe::<Hello>("hello");
    let mut states = collect_states(&source);
    within(5000, "three failed attempts", async {
        while hits(&key).await.len() < 6 {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    source.close();
    until_state(&mut states, State::Closed, 100).await;
    assert!(
        within(200, "the stream to end", stream.next())
            .await
            .is_none(),
        "closing ends Rust streams"
    );
    sleep(Duration::from_millis(100)).await;
    let before = hits(&key).await.len();
    sleep(Duration::from_millis(400)).await;
    assert_eq!(hits(&key).await.len(), before, "no reconnect after close()");
}

#[wasm_bindgen_test]
async fn an_unresumable_id_is_reported_as_reset() {
    let source = LiveSource::connect(
        &changes_url(),
        Options::default().last_event_id("not-a-position"),
    )
    .unwrap();
    let (tx, mut resets) = mpsc::unbounded();
    source
        .on_reset(move |data: &JsValue| {
            let _ = tx.unbounded_send(data.clone());
        })
        .forget();
    next(&mut resets, 5000, "event: reset").await;
}

#[wasm_bindgen_test]
async fn going_online_reconnects_at_once() {
    let key = unique("online");
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=2&status=500")),
        Options::default().backoff(Backoff {
            initial_ms: 60_000,
            max_ms: 60_000,
            ..quick_backoff()
        }),
    )
    .unwrap();
    let mut states = collect_states(&source);
    let mut hello = source.subscribe::<Hello>("hello");
    until_state(&mut states, State::Reconnecting, 3000).await;
    sleep(Duration::from_millis(200)).await;
    let online = web_sys::Event::new("online").unwrap();
    web_sys::window().unwrap().dispatch_event(&online).unwrap();
    let event = next(&mut hello, 3000, "hello without waiting a minute")
        .await
        .unwrap();
    assert_eq!(event.data.attempt, 3);
}

/// Shadows `document.hidden` and fires `visibilitychange`, as switching tabs does.
fn set_hidden(hidden: bool) {
    let document = web_sys::window().unwrap().document().unwrap();
    let descriptor = object(&[("configurable", true.into()), ("value", hidden.into())]);
    js_sys::Object::define_property(&document, &"hidden".into(), &descriptor.into());
    let event = web_sys::Event::new("visibilitychange").unwrap();
    document.dispatch_event(&event).unwrap();
}

#[wasm_bindgen_test]
async fn a_hidden_page_pauses_and_resumes_without_loss() {
    let editor = token("editor", 600).await;
    let source =
        LiveSource::connect(&changes_url(), Options::default().pause_when_hidden(true)).unwrap();
    let mut states = collect_states(&source);
    let mut changes = source.subscribe::<Change>("change");
    opened(&source).await;
    // A first event gives the source its resume point.
    insert_product(&editor, &[("name", unique("before-hiding").into())])
        .await
        .unwrap();
    next(&mut changes, 5000, "a first change").await.unwrap();

    set_hidden(true);
    until_state(&mut states, State::Paused, 1000).await;
    let name = unique("while-hidden");
    insert_product(&editor, &[("name", name.as_str().into())])
        .await
        .unwrap();
    set_hidden(false);
    let document = web_sys::window().unwrap().document().unwrap();
    js_sys::Reflect::delete_property(&document, &"hidden".into()).unwrap();
    until_state(&mut states, State::Open, 3000).await;
    loop {
        let event = next(&mut changes, 5000, "the change made while hidden")
            .await
            .unwrap();
        if event.data.full_document.and_then(|d| d.name).as_deref() == Some(name.as_str()) {
            break;
        }
    }
}

#[wasm_bindgen_test]
async fn a_js_token_function_returning_a_promise_is_awaited() {
    let valid = token("viewer", 600).await;
    // A plain JS function, as a page would pass it: `token: () => Promise.resolve(jwt)`.
    let f = js_sys::Function::new_no_args(&format!("return Promise.resolve({valid:?});"));
    let src = livesource::JsLiveSource::new(
        &url("/api/events"),
        object(&[
            ("token", f.into()),
            ("backoff", object(&[("initialMs", 50.into())])),
        ]),
    )
    .map_err(JsValue::from)
    .unwrap();
    opened(src.source()).await;
    src.close();
}

#[wasm_bindgen_test]
async fn no_content_closes_quietly() {
    let key = unique("no-content");
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=1000&status=204")),
        Options::default().backoff(quick_backoff()),
    )
    .unwrap();
    let mut errors = collect_errors(&source);
    let mut states = collect_states(&source);
    until_state(&mut states, State::Closed, 5000).await;
    assert!(errors.try_recv().is_err(), "204 is not an error");
}
