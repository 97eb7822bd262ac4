//! Connecting, receiving typed and untyped events, decode errors.

use futures_channel::mpsc;
use livesource::{Error, LiveSource, Options, State};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::*;

#[wasm_bindgen_test]
async fn a_rust_subscriber_receives_an_inserted_document_with_an_id() {
    let editor = token("editor", 600).await;
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let mut changes = source.subscribe::<Change>("change");
    opened(&source).await;

    let name = unique("lamp");
    insert_product(
        &editor,
        &[("name", name.as_str().into()), ("price", 12.into())],
    )
    .await
    .expect("insert accepted");

    loop {
        let event = next(&mut changes, 5000, "the insert's change event")
            .await
            .expect("decodes as a change");
        let doc_name = event.data.full_document.and_then(|d| d.name);
        if doc_name.as_deref() == Some(name.as_str()) {
            assert_eq!(event.data.operation_type, "insert");
            assert_eq!(event.event, "change");
            assert!(
                event.id.is_some_and(|id| !id.is_empty()),
                "events carry an id"
            );
            break;
        }
    }
}

#[wasm_bindgen_test]
async fn a_js_listener_gets_parsed_json_and_meta() {
    let editor = token("editor", 600).await;
    let src = livesource::JsLiveSource::new(&changes_url(), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded::<(JsValue, JsValue)>();
    let cb = Closure::<dyn Fn(JsValue, JsValue)>::new(move |data, meta| {
        let _ = tx.unbounded_send((data, meta));
    });
    let off = src
        .on("change", cb.as_ref().clone())
        .map_err(JsValue::from)
        .unwrap();
    opened(src.source()).await;

    let name = unique("chair");
    insert_product(&editor, &[("name", name.as_str().into())])
        .await
        .expect("insert accepted");
    loop {
        let (data, meta) = next(&mut rx, 5000, "the JS listener call").await;
        let got = get(&get(&data, "fullDocument"), "name").as_string();
        if got.as_deref() == Some(name.as_str()) {
            assert_eq!(get(&meta, "event").as_string().as_deref(), Some("change"));
            assert!(get(&meta, "id")
                .as_string()
                .is_some_and(|id| !id.is_empty()));
            assert!(get(&data, "documentKey").is_object());
            break;
        }
    }

    // Unsubscribing twice is harmless; after it the callback is never called again.
    while rx.try_recv().is_ok() {}
    let off: js_sys::Function = off;
    off.call0(&JsValue::NULL).unwrap();
    off.call0(&JsValue::NULL).unwrap();
    insert_product(&editor, &[("name", unique("after-off").into())])
        .await
        .unwrap();
    sleep(std::time::Duration::from_millis(300)).await;
    assert!(rx.try_recv().is_err(), "no call after unsubscribing");
    src.close();
    assert_eq!(src.state(), "closed");
}

#[wasm_bindgen_test]
async fn non_json_data_is_a_decode_error_and_the_stream_goes_on() {
    let source = LiveSource::connect(
        &url("/_test/sse?event=change&data=not%20json&id=41"),
        Options::default().heartbeat_timeout_ms(0),
    )
    .unwrap();
    let _changes = source.subscribe::<Change>("change");
    let (tx, mut errors) = mpsc::unbounded();
    let _r = source
        .on_error(move |e| {
            let _ = tx.unbounded_send(e.clone());
        })
        .unwrap();
    match next(&mut errors, 5000, "the decode error").await {
        Error::Decode { event, id, message } => {
            assert_eq!(event, "change");
            assert_eq!(id.as_deref(), Some("41"));
            assert!(!message.is_empty());
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        source.state(),
        State::Open,
        "a bad event never kills the stream"
    );
    assert_eq!(source.last_event_id().as_deref(), Some("41"));
}

#[wasm_bindgen_test]
async fn data_of_the_wrong_shape_is_a_typed_decode_error() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Strict {
        must_exist: u32,
    }
    let source = LiveSource::connect(
        &url("/_test/sse?event=item&data=%7B%22other%22%3A1%7D&id=7"),
        Options::default().heartbeat_timeout_ms(0),
    )
    .unwrap();
    let mut strict = source.subscribe::<Strict>("item");
    match next(&mut strict, 5000, "the typed decode error").await {
        Err(Error::Decode { event, id, message }) => {
            assert_eq!(event, "item");
            assert_eq!(id.as_deref(), Some("7"));
            assert!(message.contains("must_exist"), "{message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn js_listeners_get_a_decode_error_with_event_and_id_and_the_stream_goes_on() {
    let src = livesource::JsLiveSource::new(
        &url("/_test/sse?event=change&data=%7Bbroken&id=77"),
        object(&[("heartbeatTimeoutMs", 0.into())]),
    )
    .map_err(JsValue::from)
    .unwrap();
    let (tx, mut errors) = mpsc::unbounded::<JsValue>();
    let on_error = Closure::<dyn Fn(JsValue)>::new(move |e| {
        let _ = tx.unbounded_send(e);
    });
    let called = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = std::rc::Rc::clone(&called);
    let on_change = Closure::<dyn Fn(JsValue, JsValue)>::new(move |_, _| flag.set(true));
    let _off = src
        .on("change", on_change.as_ref().clone())
        .map_err(JsValue::from)
        .unwrap();
    let _off_error = src
        .on_error(on_error.as_ref().clone())
        .map_err(JsValue::from)
        .unwrap();
    let e = next(&mut errors, 5000, "the decode error").await;
    assert_eq!(get(&e, "kind").as_string().as_deref(), Some("decode"));
    assert_eq!(get(&e, "event").as_string().as_deref(), Some("change"));
    assert_eq!(get(&e, "id").as_string().as_deref(), Some("77"));
    assert!(!called.get(), "a listener never sees undecodable data");
    assert_eq!(src.state(), "open");
    src.close();
}
