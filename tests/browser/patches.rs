//! JSON-Patch mode against real patch topics (`POST /_publish/<topic>` → `event: patch`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures_channel::mpsc;
use livesource::patch::{PatchOptions, Resync};
use livesource::{Error, JsLiveSource, LiveSource, Options};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::*;

fn topic_url(topic: &str) -> String {
    url(&format!(
        "/dashboard/__events?topic={}",
        js_sys::encode_uri_component(topic)
    ))
}

async fn publish(editor: &str, topic: &str, patch: &str) {
    let body = js_sys::JSON::parse(patch).unwrap();
    let path = format!(
        "/_publish/{}",
        String::from(js_sys::encode_uri_component(topic))
    );
    let r = fetch("POST", &path, Some(&body), Some(editor))
        .await
        .unwrap();
    assert!(r.ok(), "publish answered {}", r.status());
}

/// A store plus a channel of every state its subscriber saw.
fn store_on(
    src: &JsLiveSource,
    initial: &str,
    resync: Option<&js_sys::Function>,
) -> (JsValue, mpsc::UnboundedReceiver<JsValue>) {
    let mut fields = vec![("initial", js_sys::JSON::parse(initial).unwrap())];
    if let Some(f) = resync {
        fields.push(("resync", f.clone().into()));
    }
    let store: JsValue = src
        .patches("patch", object(&fields))
        .map_err(JsValue::from)
        .unwrap()
        .into();
    let (tx, rx) = mpsc::unbounded();
    let run = Closure::<dyn Fn(JsValue)>::new(move |s| {
        let _ = tx.unbounded_send(s);
    });
    call(&store, "subscribe", &[run.as_ref()]);
    run.forget();
    (store, rx)
}

fn call(target: &JsValue, method: &str, args: &[&JsValue]) -> JsValue {
    let f: js_sys::Function = get(target, method).dyn_into().unwrap();
    let args: js_sys::Array = args.iter().map(|a| (*a).clone()).collect();
    f.apply(target, &args).unwrap()
}

fn json(v: &JsValue) -> String {
    js_sys::JSON::stringify(v).unwrap().into()
}

async fn connected(topic: &str) -> JsLiveSource {
    let src = JsLiveSource::new(&topic_url(topic), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    opened(src.source()).await;
    src
}

#[wasm_bindgen_test]
async fn compact_and_rfc_patches_give_equal_state_and_share_unchanged_parts() {
    let editor = token("editor", 600).await;
    let initial = r#"{"counter":0,"rows":[{"id":1,"name":"a"}],"meta":{"v":1}}"#;
    let (t1, t2) = (unique("dashboard:compact"), unique("dashboard:rfc"));
    let (a, b) = (connected(&t1).await, connected(&t2).await);
    let (store_a, mut seen_a) = store_on(&a, initial, None);
    let (store_b, mut seen_b) = store_on(&b, initial, None);
    let first = next(&mut seen_a, 1000, "the immediate subscribe call").await;
    next(&mut seen_b, 1000, "the immediate subscribe call").await;

    publish(&editor, &t1, r#"[["replace","/counter",7],["add","/rows/-",{"id":2,"name":"b"}],["copy","/counter","/copied"],["move","/copied","/moved"],["test","/counter",7],["remove","/rows/0"]]"#).await;
    publish(&editor, &t2, r#"[{"op":"replace","path":"/counter","value":7},{"op":"add","path":"/rows/-","value":{"id":2,"name":"b"}},{"op":"copy","from":"/counter","path":"/copied"},{"op":"move","from":"/copied","path":"/moved"},{"op":"test","path":"/counter","value":7},{"op":"remove","path":"/rows/0"}]"#).await;
    let after_a = next(&mut seen_a, 5000, "the compact patch").await;
    let after_b = next(&mut seen_b, 5000, "the RFC patch").await;
    assert_eq!(json(&after_a), json(&after_b));
    assert_eq!(
        json(&after_a),
        r#"{"counter":7,"rows":[{"id":2,"name":"b"}],"meta":{"v":1},"moved":7}"#
    );
    assert_eq!(json(&call(&store_a, "get", &[])), json(&after_a));
    assert!(
        !js_sys::Object::is(&first, &after_a),
        "a patch yields a new root"
    );
    assert!(
        js_sys::Object::is(&get(&first, "meta"), &get(&after_a, "meta")),
        "an untouched subtree keeps its identity"
    );
    let _ = store_b;
}

#[wasm_bindgen_test]
async fn a_failing_patch_leaves_state_unchanged_reports_the_index_and_resyncs() {
    let editor = token("editor", 600).await;
    let topic = unique("dashboard:atomic");
    let src = connected(&topic).await;
    let mut errors = collect_errors(src.source());
    let resyncs = Rc::new(RefCell::new(0));
    let count = Rc::clone(&resyncs);
    // The resync answers when the test says so: the state between the failure and the resync
    // is then observable in every engine, whatever order it runs promise callbacks in.
    let release: Rc<RefCell<Option<js_sys::Function>>> = Rc::default();
    let held = Rc::clone(&release);
    let resync = Closure::<dyn Fn() -> JsValue>::new(move || {
        *count.borrow_mut() += 1;
        let held = Rc::clone(&held);
        js_sys::Promise::new(&mut |resolve, _| *held.borrow_mut() = Some(resolve)).into()
    });
    let f: js_sys::Function = resync.as_ref().clone().unchecked_into();
    let (store, mut seen) = store_on(&src, r#"{"counter":1,"rows":[]}"#, Some(&f));
    next(&mut seen, 1000, "the immediate subscribe call").await;

    publish(
        &editor,
        &topic,
        r#"[["replace","/counter",2],["add","/rows/-",1],["test","/counter",99]]"#,
    )
    .await;
    match next(&mut errors, 5000, "the patch error").await {
        Error::Patch { index, message } => {
            assert_eq!(index, Some(2), "{message}");
        }
        other => panic!("expected a patch error, got {other:?}"),
    }
    assert_eq!(
        json(&call(&store, "get", &[])),
        r#"{"counter":1,"rows":[]}"#,
        "nothing of the failed patch is visible"
    );
    within(5000, "the resync call", async {
        while release.borrow().is_none() {
            sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    let resolve = release.borrow_mut().take().expect("resync was called");
    resolve
        .call1(
            &JsValue::NULL,
            &js_sys::JSON::parse(r#"{"counter":100,"rows":[]}"#).unwrap(),
        )
        .unwrap();
    let resynced = next(&mut seen, 5000, "the resynced state").await;
    assert_eq!(json(&resynced), r#"{"counter":100,"rows":[]}"#);
    assert_eq!(*resyncs.borrow(), 1);

    // Patches after a resync apply to the resynced state.
    publish(&editor, &topic, r#"[["replace","/counter",101]]"#).await;
    let after = next(&mut seen, 5000, "the next patch").await;
    assert_eq!(json(&after), r#"{"counter":101,"rows":[]}"#);
    resync.forget();
}

#[wasm_bindgen_test]
async fn prototype_pollution_attempts_are_refused() {
    let editor = token("editor", 600).await;
    let topic = unique("dashboard:proto");
    let src = connected(&topic).await;
    let (store, mut seen) = store_on(
        &src,
        r#"{"__proto__":{"fromInitial":true},"list":[]}"#,
        None,
    );
    let initial = next(&mut seen, 1000, "the immediate subscribe call").await;
    assert!(get(&initial, "fromInitial").is_undefined());

    publish(&editor, &topic, r#"[["add","/__proto__/polluted",true]]"#).await;
    publish(&editor, &topic, r#"[["add","/constructor",{"prototype":{"polluted":true}}],["add","/list/-",{"__proto__":{"polluted":true}}]]"#).await;
    let through_key = next(&mut seen, 5000, "the first patch").await;
    assert!(get(&through_key, "polluted").is_undefined());
    let state = next(&mut seen, 5000, "the second patch").await;
    assert_eq!(js_sys::Array::from(&get(&state, "list")).length(), 1);

    let plain = js_sys::Object::new();
    assert!(
        get(&plain, "polluted").is_undefined(),
        "Object.prototype is untouched"
    );
    assert!(get(&state, "polluted").is_undefined());
    let item = js_sys::Reflect::get_u32(&get(&state, "list"), 0).unwrap();
    assert!(
        get(&item, "polluted").is_undefined(),
        "__proto__ stays plain data"
    );
    assert!(js_sys::Object::is(
        &js_sys::Object::get_prototype_of(&state).into(),
        &js_sys::Object::get_prototype_of(&plain).into()
    ));
    assert_eq!(json(&call(&store, "get", &[])), json(&state));
}

#[wasm_bindgen_test]
async fn the_rust_api_resyncs_with_a_rust_closure() {
    let editor = token("editor", 600).await;
    let topic = unique("dashboard:rust-resync");
    let source = LiveSource::connect(&topic_url(&topic), Options::default()).unwrap();
    opened(&source).await;
    let calls = Rc::new(Cell::new(0));
    let count = Rc::clone(&calls);
    let store = source
        .patches(
            "patch",
            PatchOptions {
                initial: json!({ "counter": 1 }),
                resync: Some(Resync::from_fn(move || {
                    count.set(count.get() + 1);
                    async { Ok::<_, String>(json!({ "counter": 100 })) }
                })),
            },
        )
        .unwrap();
    publish(&editor, &topic, r#"[["replace","/counter",2]]"#).await;
    within(5000, "the patch", async {
        while store.get().unwrap() != json!({ "counter": 2 }) {
            sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(calls.get(), 0, "no resync while patches apply");
    publish(&editor, &topic, r#"[["test","/counter",99]]"#).await;
    within(5000, "the Rust resync's state", async {
        while store.get().unwrap() != json!({ "counter": 100 }) {
            sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(calls.get(), 1);
}

#[wasm_bindgen_test]
async fn a_subscriber_that_applies_a_patch_leaves_every_subscriber_with_the_current_state() {
    // As with Svelte's `writable`: the states a nested apply causes are delivered after the
    // current ones, so a later subscriber never ends on a stale state.
    let src = connected(&unique("dashboard:nested")).await;
    let store: JsValue = src
        .patches(
            "patch",
            object(&[("initial", js_sys::JSON::parse(r#"{"n":0}"#).unwrap())]),
        )
        .map_err(JsValue::from)
        .unwrap()
        .into();
    let derive =
        js_sys::Function::new_with_args("s", "if (s.n === 1) this.apply([['replace', '/n', 2]])")
            .bind0(&store);
    call(&store, "subscribe", &[&derive]);
    let seen = js_sys::Array::new();
    let record = js_sys::Function::new_with_args("s", "this.push(s.n)").bind0(&seen);
    call(&store, "subscribe", &[&record]);
    call(
        &store,
        "apply",
        &[&js_sys::JSON::parse(r#"[["replace","/n",1]]"#).unwrap()],
    );
    assert_eq!(json(&call(&store, "get", &[])), r#"{"n":2}"#);
    assert_eq!(
        json(&seen),
        "[0,1,2]",
        "every state in order, the current one last"
    );
    src.close();
}

#[wasm_bindgen_test]
async fn a_failure_during_a_resync_asks_for_one_more_after_it() {
    // The answer of a resync in flight may predate the second failed patch: one more follows.
    let editor = token("editor", 600).await;
    let topic = unique("dashboard:again");
    let src = connected(&topic).await;
    let calls = Rc::new(RefCell::new(Vec::<js_sys::Function>::new()));
    let held = Rc::clone(&calls);
    let resync = Closure::<dyn Fn() -> JsValue>::new(move || {
        let held = Rc::clone(&held);
        js_sys::Promise::new(&mut |resolve, _| held.borrow_mut().push(resolve)).into()
    });
    let f: js_sys::Function = resync.as_ref().clone().unchecked_into();
    let (_store, mut seen) = store_on(&src, r#"{"counter":1}"#, Some(&f));
    next(&mut seen, 1000, "the immediate subscribe call").await;
    let resyncs = |n: usize| {
        let calls = Rc::clone(&calls);
        within(5000, "a resync call", async move {
            while calls.borrow().len() < n {
                sleep(std::time::Duration::from_millis(10)).await;
            }
        })
    };
    publish(&editor, &topic, r#"[["test","/counter",99]]"#).await;
    resyncs(1).await;
    publish(&editor, &topic, r#"[["test","/counter",98]]"#).await;
    sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(calls.borrow().len(), 1, "one resync at a time");
    let first = calls.borrow()[0].clone();
    first
        .call1(
            &JsValue::NULL,
            &js_sys::JSON::parse(r#"{"counter":5}"#).unwrap(),
        )
        .unwrap();
    assert_eq!(
        json(&next(&mut seen, 5000, "the first answer").await),
        r#"{"counter":5}"#
    );
    resyncs(2).await;
    let second = calls.borrow()[1].clone();
    second
        .call1(
            &JsValue::NULL,
            &js_sys::JSON::parse(r#"{"counter":6}"#).unwrap(),
        )
        .unwrap();
    assert_eq!(
        json(&next(&mut seen, 5000, "the second answer").await),
        r#"{"counter":6}"#
    );
    sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(calls.borrow().len(), 2, "and no third");
    resync.forget();
    src.close();
}

#[wasm_bindgen_test]
fn the_rust_api_reports_a_state_it_cannot_read_instead_of_null() {
    // The JS state may nest deeper than serde_json reads (128 levels); `get` says so.
    let source =
        LiveSource::connect(&topic_url(&unique("dashboard:deep")), Options::default()).unwrap();
    let store = source
        .patches(
            "patch",
            PatchOptions {
                initial: json!({ "n": 1 }),
                resync: None,
            },
        )
        .unwrap();
    assert_eq!(store.get().unwrap(), json!({ "n": 1 }));
    let mut deep = json!(0);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    store.apply(&json!([["add", "/deep", deep]])).unwrap();
    match store.get() {
        Err(Error::Patch {
            index: None,
            message,
        }) => {
            assert!(
                message.contains("cannot be read as serde_json::Value"),
                "{message}"
            )
        }
        other => panic!("expected a patch error, got {other:?}"),
    }
    store.apply(&json!([["remove", "/deep"]])).unwrap();
    assert_eq!(store.get().unwrap(), json!({ "n": 1 }), "readable again");
    source.close();
}
