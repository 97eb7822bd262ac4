//! The fetch transport from Rust: the same `LiveSource` API with `Transport::Fetch`, headers from
//! a Rust closure before every connect, and statuses read from the response (no probe).

use std::cell::Cell;
use std::rc::Rc;

use livesource::{
    Backoff, Error, HeadersSource, LiveSource, Options, State, TokenSource, Transport,
};
use serde::Deserialize;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::*;

#[derive(Debug, Deserialize)]
struct Hello {
    attempt: u32,
}

fn fetch_options() -> Options {
    Options::default()
        .transport(Transport::Fetch)
        .backoff(Backoff {
            initial_ms: 20,
            max_ms: 40,
            ..Backoff::default()
        })
}

#[wasm_bindgen_test]
async fn headers_come_from_a_rust_closure_before_every_connect_and_events_decode() {
    let key = unique("fetch-rust");
    let calls = Rc::new(Cell::new(0u32));
    let counter = calls.clone();
    let options = fetch_options().headers(HeadersSource::from_fn(move || {
        counter.set(counter.get() + 1);
        let n = counter.get();
        async move { Ok(vec![("X-Attempt".to_owned(), n.to_string())]) }
    }));
    // Two planned 503s, then a stream: three connects, each with its own headers.
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=2&status=503")),
        options,
    )
    .unwrap();
    let mut hello = source.subscribe::<Hello>("hello");
    let event = next(&mut hello, 5000, "the hello after two 503s")
        .await
        .expect("decodes");
    assert_eq!(event.data.attempt, 3);
    assert_eq!(event.id.as_deref(), Some("3"));
    assert_eq!(
        calls.get(),
        3,
        "the headers closure ran before every connect"
    );
    assert_eq!(
        hits(&key).await.len(),
        3,
        "one request per attempt: no probe"
    );
    assert_eq!(source.state(), State::Open);
}

#[wasm_bindgen_test]
async fn a_forbidden_stream_stops_with_the_status_and_a_token_goes_in_the_header() {
    let key = unique("fetch-403");
    let source = LiveSource::connect(
        &url(&format!("/_test/flaky/{key}?fail=100&status=403")),
        fetch_options().token(TokenSource::from_fn(|| async { Ok("t0ken".to_owned()) })),
    )
    .unwrap();
    let mut errors = collect_errors(&source);
    match next(&mut errors, 5000, "the 403").await {
        Error::Http { status, url, .. } => {
            assert_eq!(status, 403);
            assert!(!url.contains("t0ken"), "the token is not in the URL: {url}");
        }
        other => panic!("expected an http error, got {other:?}"),
    }
    assert_eq!(source.state(), State::Closed);
    assert_eq!(hits(&key).await.len(), 1);
}
