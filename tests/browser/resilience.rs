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
        .unwrap()
        .forget();
    rx
}

async fn until_state(states: &mut mpsc::UnboundedReceiver<State>, want: State, ms: u32) {
    while next(states, ms, want.as_str()).await != want {}
}

/// A fence for "no more requests": a control source with the same `backoff`, started now against
/// a route that always fails, has made `attempts` attempts (each is an `EventSource` request and a
/// probe). A source that was going to retry on the same schedule would have retried by then.
async fn after_retries_of_a_control_source(backoff: Backoff, attempts: usize) {
    let key = unique("fence");
    let control = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=100000&status=500")),
        Options::default().backoff(backoff),
    )
    .unwrap();
    within(10_000, "the control source's retries", async {
        while hits(&key).await.len() < 2 * attempts {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    control.close();
}

/// A fence for "no stall": a control source that does stall (its route sends one `heartbeat`,
/// without an id so none is dropped as a repeat, then silence), started now with the same
/// `heartbeat_timeout_ms`, has been reported stalled twice. Two, because one stall comes between
/// one and one and a half timeouts after the last event, and the control got its event a little
/// later than the source watched got its own.
async fn after_two_stalls_of_a_control_source(heartbeat_timeout_ms: u32) {
    let control = LiveSource::connect(
        &url("/_test/sse?event=heartbeat&data=%7B%7D"),
        Options::default()
            .backoff(quick_backoff())
            .heartbeat_timeout_ms(heartbeat_timeout_ms),
    )
    .unwrap();
    let mut errors = collect_errors(&control);
    for _ in 0..2 {
        match next(&mut errors, 5000, "the control source's stall").await {
            Error::Network(m) if m.contains("stalled") => {}
            other => panic!("expected the control source to stall, got {other:?}"),
        }
    }
    control.close();
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
    after_retries_of_a_control_source(quick_backoff(), 3).await;
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
    assert!(
        errors.try_recv().is_err(),
        "a 401 cured by a fresh token is not reported"
    );
}

#[wasm_bindgen_test]
async fn a_refused_token_is_reported_without_the_token() {
    // Every request answers 401 (or 403), so the URL each token went out in is refused, and the
    // errors that name that URL, to Rust and to JS, must not carry the token.
    for status in [401, 403] {
        let key = unique("refused");
        let secret = unique("leak-check-token");
        // `token: (() => { let n = 0; return () => Promise.resolve(`${secret}-${++n}`); })()`
        let token = js_sys::Function::new_no_args(&format!(
            "let n = 0; return () => Promise.resolve({secret:?} + '-' + (++n));"
        ))
        .call0(&JsValue::NULL)
        .unwrap();
        let src = livesource::JsLiveSource::new(
            &url(&format!("/_test/flaky/{key}?fail=1000&status={status}")),
            object(&[
                ("token", token),
                ("backoff", object(&[("initialMs", 50.into())])),
            ]),
        )
        .map_err(JsValue::from)
        .unwrap();
        let mut errors = collect_errors(src.source());
        let (tx, mut js_errors) = mpsc::unbounded();
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
            let _ = tx.unbounded_send(String::from(js_sys::JSON::stringify(&e).unwrap()));
        });
        src.on_error(on_error.as_ref().clone())
            .map_err(JsValue::from)
            .unwrap();
        on_error.forget();

        let error = next(&mut errors, 5000, "the refusal").await;
        let js_error = next(&mut js_errors, 100, "the refusal, in JS").await;
        src.close();
        let url_in_error = match (&error, status) {
            (Error::Auth(m), 401) => {
                assert!(m.contains("refused a freshly fetched token"), "{m}");
                m.clone()
            }
            (
                Error::Http {
                    status: 403, url, ..
                },
                403,
            ) => url.clone(),
            (other, _) => panic!("HTTP {status}: unexpected {other:?}"),
        };
        for text in [error.to_string(), format!("{error:?}"), js_error.clone()] {
            assert!(!text.contains(&secret), "token leaked: {text}");
        }
        // And it is an error that could have carried it: it names the URL that was requested,
        // with the token parameter redacted.
        assert!(
            url_in_error.contains(&format!("/_test/flaky/{key}?"))
                && url_in_error.contains("access_token=REDACTED"),
            "HTTP {status}: {url_in_error}"
        );
        assert!(
            js_error.contains(&format!("/_test/flaky/{key}?")),
            "{js_error}"
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
    // The route sends id 5 again on the new connection: it must be dropped as a duplicate. The
    // fence: the watchdog arms only once a connection has delivered a `heartbeat` (see the next
    // test), so a second stall proves this connection's replayed heartbeat was received, and
    // after it the connection is gone: whatever it sent has been delivered or dropped by now.
    match next(&mut errors, 3000, "the second stall report").await {
        Error::Network(m) => assert!(m.contains("stalled"), "{m}"),
        other => panic!("expected a network error, got {other:?}"),
    }
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
    after_two_stalls_of_a_control_source(200).await;
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
    let backoff = Backoff {
        initial_ms: 20,
        max_ms: 40,
        ..quick_backoff()
    };
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=100000&status=500")),
        Options::default().backoff(backoff.clone()),
    )
    .unwrap();
    let mut stream = source.subscribe::<Hello>("hello");
    let mut states = collect_states(&source);
    let mut errors = collect_errors(&source);
    for _ in 0..3 {
        match next(&mut errors, 5000, "a failed attempt's report").await {
            Error::Http { status: 500, .. } => {}
            other => panic!("expected http 500, got {other:?}"),
        }
    }
    // The third attempt's probe has just reported: its reconnect timer is pending and no request
    // is in flight, so any request the server sees from now on is one close() failed to stop.
    let closed_at = js_sys::Date::now();
    source.close();
    until_state(&mut states, State::Closed, 100).await;
    assert!(
        within(200, "the stream to end", stream.next())
            .await
            .is_none(),
        "closing ends Rust streams"
    );
    after_retries_of_a_control_source(backoff, 5).await;
    let at = hits(&key).await;
    let late: Vec<f64> = at.iter().copied().filter(|&t| t > closed_at).collect();
    assert!(
        late.is_empty(),
        "requests at {late:?}, after close() at {closed_at}"
    );
    assert_eq!(at.len(), 6, "three attempts of two requests each");
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
        .on_reset(move |data: &str| {
            let _ = tx.unbounded_send(data.to_owned());
        })
        .unwrap()
        .forget();
    // Rust gets the reset's data as JSON text.
    let data = next(&mut resets, 5000, "event: reset").await;
    assert!(data.contains(r#""reason":"malformed-id""#), "{data}");
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
    let mut errors = collect_errors(&source);
    let mut hello = source.subscribe::<Hello>("hello");
    // The probe's report: the source is now waiting out its minute of backoff.
    match next(&mut errors, 3000, "the 500 report").await {
        Error::Http { status, .. } => assert_eq!(status, 500),
        other => panic!("expected http 500, got {other:?}"),
    }
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

#[wasm_bindgen_test]
async fn heartbeat_timeout_zero_turns_the_watchdog_off() {
    // The stream that the control source reports stalled: a `heartbeat` event, then silence.
    let source = LiveSource::connect(
        &url("/_test/sse?event=heartbeat&data=%7B%7D&id=3"),
        Options::default()
            .backoff(quick_backoff())
            .heartbeat_timeout_ms(0),
    )
    .unwrap();
    let mut states = collect_states(&source);
    until_state(&mut states, State::Open, 5000).await;
    after_two_stalls_of_a_control_source(200).await;
    assert!(
        states.try_recv().is_err(),
        "no state change: the watchdog is off"
    );
    assert_eq!(source.state(), State::Open);
    source.close();
}

#[wasm_bindgen_test]
async fn a_failing_token_function_is_an_auth_error_and_the_source_tries_again() {
    let key = unique("token-fails");
    let calls = Rc::new(Cell::new(0u32));
    let counted = Rc::clone(&calls);
    let token = TokenSource::from_fn(move || {
        let n = counted.get() + 1;
        counted.set(n);
        async move {
            if n <= 2 {
                Err(format!("no session yet ({n})"))
            } else {
                Ok("t0ken".to_owned())
            }
        }
    });
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}")),
        Options::default().backoff(quick_backoff()).token(token),
    )
    .unwrap();
    let mut errors = collect_errors(&source);
    let mut hello = source.subscribe::<Hello>("hello");
    next(&mut hello, 5000, "hello once the token comes")
        .await
        .unwrap();
    for n in 1..=2 {
        match next(&mut errors, 100, "the token function's failure").await {
            Error::Auth(m) => assert_eq!(m, format!("token function failed: no session yet ({n})")),
            other => panic!("expected an auth error, got {other:?}"),
        }
    }
    assert_eq!(hits(&key).await.len(), 1, "no request went without a token");
    source.close();
}

#[wasm_bindgen_test]
async fn a_js_token_function_that_gives_no_token_is_an_auth_error() {
    for (body, expected) in [
        (
            "return 42",
            "token function must return a string, got number",
        ),
        ("return ''", "token function returned an empty string"),
        ("throw new Error('boom')", "token function failed: boom"),
        (
            "return Promise.reject(new Error('later'))",
            "token function failed: later",
        ),
    ] {
        let key = unique("js-token");
        let source = LiveSource::connect(
            &url(&format!("/_test/flaky/{key}")),
            Options::default()
                .backoff(quick_backoff())
                .token(TokenSource::Js(js_sys::Function::new_no_args(body))),
        )
        .unwrap();
        let mut errors = collect_errors(&source);
        match next(&mut errors, 3000, expected).await {
            Error::Auth(m) => assert_eq!(m, expected),
            other => panic!("expected an auth error for `{body}`, got {other:?}"),
        }
        source.close();
        assert_eq!(hits(&key).await.len(), 0, "`{body}`: no request");
    }
}

#[wasm_bindgen_test]
async fn the_native_transport_gives_up_after_max_attempts() {
    let key = unique("give-up");
    let backoff = Backoff {
        max_attempts: Some(2),
        ..quick_backoff()
    };
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=100000&status=503")),
        Options::default().backoff(backoff),
    )
    .unwrap();
    let mut errors = collect_errors(&source);
    let mut states = collect_states(&source);
    until_state(&mut states, State::Closed, 10_000).await;
    let mut last = None;
    while let Ok(e) = errors.try_recv() {
        last = Some(e);
    }
    match last {
        Some(Error::Closed(m)) => {
            assert_eq!(
                m,
                "gave up after 2 reconnect attempts (backoff.maxAttempts)"
            )
        }
        other => panic!("expected the closed error last, got {other:?}"),
    }
    let requests = hits(&key).await.len();
    after_retries_of_a_control_source(quick_backoff(), 3).await;
    assert_eq!(hits(&key).await.len(), requests, "nothing after giving up");
}

#[wasm_bindgen_test]
async fn dropping_a_live_source_closes_it() {
    let key = unique("dropped");
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=100000&status=500")),
        Options::default().backoff(quick_backoff()),
    )
    .unwrap();
    within(5000, "the first attempts", async {
        while hits(&key).await.len() < 2 {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    drop(source);
    let requests = hits(&key).await.len();
    after_retries_of_a_control_source(quick_backoff(), 3).await;
    assert_eq!(
        hits(&key).await.len(),
        requests,
        "no request after the drop"
    );
}

#[wasm_bindgen_test]
async fn dropping_a_registration_removes_its_callback() {
    let source = LiveSource::connect(
        &url(&format!(
            "/_test/flaky/{}?fail=100000&status=500",
            unique("registration")
        )),
        Options::default().backoff(quick_backoff()),
    )
    .unwrap();
    let dropped = Rc::new(Cell::new(0u32));
    let counted = Rc::clone(&dropped);
    let registration = source
        .on_error(move |_| counted.set(counted.get() + 1))
        .unwrap();
    drop(registration);
    let mut errors = collect_errors(&source);
    for _ in 0..2 {
        next(&mut errors, 5000, "an error for the kept callback").await;
    }
    assert_eq!(dropped.get(), 0, "the dropped callback was not called");
    source.close();
}

#[wasm_bindgen_test]
async fn dropping_a_subscription_unsubscribes() {
    // Data that is not JSON: a typed subscriber reports a decode error; once its subscription is
    // dropped there is no subscriber, and no error. A second source keeps its subscription.
    let stream = url("/_test/sse?event=tick&data=not-json&id=1");
    let (kept, gone) = (
        LiveSource::connect(&stream, Options::default()).unwrap(),
        LiveSource::connect(&stream, Options::default()).unwrap(),
    );
    let mut kept_errors = collect_errors(&kept);
    let mut gone_errors = collect_errors(&gone);
    let _kept = kept.subscribe::<serde::de::IgnoredAny>("tick");
    drop(gone.subscribe::<serde::de::IgnoredAny>("tick"));
    match next(&mut kept_errors, 5000, "the kept subscriber's decode error").await {
        Error::Decode { event, .. } => assert_eq!(event, "tick"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    opened(&gone).await;
    sleep(Duration::from_millis(200)).await;
    assert!(
        gone_errors.try_recv().is_err(),
        "no decode error without a subscriber"
    );
    kept.close();
    gone.close();
}
