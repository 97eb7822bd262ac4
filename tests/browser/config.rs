//! Bad configuration is rejected at construction, with a message that names the problem.

use livesource::{Error, JsLiveSource, LiveSource, Options};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::*;

fn rejected(options: JsValue) -> String {
    match JsLiveSource::new(&url("/shop/products/_streams/changes"), options) {
        Ok(src) => {
            src.close();
            panic!("options were accepted")
        }
        Err(e) => get(&JsValue::from(e), "message").as_string().unwrap(),
    }
}

#[wasm_bindgen_test]
fn unknown_options_are_rejected_by_name() {
    let msg = rejected(object(&[("heartbeatTimeout", 5.into())]));
    assert!(msg.contains("heartbeatTimeout"), "{msg}");
    let msg = rejected(object(&[("backoff", object(&[("initalMs", 5.into())]))]));
    assert!(msg.contains("initalMs"), "{msg}");
}

#[wasm_bindgen_test]
fn negative_delays_and_non_function_tokens_are_rejected() {
    let msg = rejected(object(&[("backoff", object(&[("maxMs", (-1).into())]))]));
    assert!(msg.contains("backoff.maxMs"), "{msg}");
    let msg = rejected(object(&[("token", "eyJhbGciOi...".into())]));
    assert!(msg.contains("token must be a function"), "{msg}");
    let msg = rejected(JsValue::from_str("fast"));
    assert!(msg.contains("options must be an object"), "{msg}");
    let msg = rejected(object(&[("heartbeatTimeoutMs", "5000".into())]));
    assert!(
        msg.contains("heartbeatTimeoutMs must be a number, got string"),
        "{msg}"
    );
    let msg = rejected(object(&[("backoff", object(&[("jitter", 1.into())]))]));
    assert!(
        msg.contains("backoff.jitter must be a boolean, got number"),
        "{msg}"
    );
}

#[wasm_bindgen_test]
fn callbacks_must_be_functions() {
    let src = JsLiveSource::new(&url("/shop/products/_streams/changes"), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    let err = src
        .on("change", JsValue::from(3))
        .err()
        .map(JsValue::from)
        .unwrap();
    let msg = get(&err, "message").as_string().unwrap();
    assert!(msg.contains("on() needs a callback function"), "{msg}");
    src.close();
    let err = src
        .on("change", js_sys::Function::new_no_args("").into())
        .err()
        .map(JsValue::from)
        .unwrap();
    assert!(get(&err, "message").as_string().unwrap().contains("closed"));
}

/// The message of what a JS method threw.
fn thrown(result: Result<impl Sized, JsError>) -> String {
    match result {
        Ok(_) => panic!("accepted"),
        Err(e) => get(&JsValue::from(e), "message").as_string().unwrap(),
    }
}

#[wasm_bindgen_test]
fn option_values_of_the_wrong_type_are_config_errors_not_defaults() {
    let src = JsLiveSource::new(&url("/shop/products/_streams/changes"), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    // `"yes"` once read as `false`: a page that meant to allow another origin got a refusal
    // that blamed the origin, not the option.
    let msg = thrown(src.refresh(
        "change",
        object(&[
            ("url", "/shop/products".into()),
            ("target", "#x".into()),
            ("allowCrossOrigin", "yes".into()),
        ]),
    ));
    assert_eq!(
        msg,
        "livesource config error: allowCrossOrigin must be a boolean, got string"
    );
    let msg = thrown(src.refresh(
        "change",
        object(&[
            ("url", "/shop/products".into()),
            ("target", "#x".into()),
            ("onSwap", "render".into()),
        ]),
    ));
    assert!(
        msg.contains("onSwap must be a function, got string"),
        "{msg}"
    );
    let msg = thrown(src.patches("patch", object(&[("resync", true.into())])));
    assert!(
        msg.contains("resync must be a function, got boolean"),
        "{msg}"
    );
    let msg = thrown(src.patches("patch", object(&[("initail", true.into())])));
    assert!(msg.contains("unknown option 'initail'"), "{msg}");
    src.close();
}

#[wasm_bindgen_test]
fn an_exception_in_an_on_state_callback_is_reported_like_any_callbacks() {
    // Every exception a callback throws goes to the global `reportError` (the console and
    // `window.onerror`), without interrupting the library: record it instead for a moment.
    let global = js_sys::global();
    let original = get(&global, "reportError");
    let reported = js_sys::Array::new();
    let record = js_sys::Function::new_with_args("e", "this.push(e)").bind0(&reported);
    js_sys::Reflect::set(&global, &"reportError".into(), &record).unwrap();
    let src = JsLiveSource::new(&url("/shop/products/_streams/changes"), JsValue::UNDEFINED);
    let thrower = js_sys::Function::new_with_args("s", "throw new Error('app bug in ' + s)");
    let registered = src.as_ref().map(|src| src.on_state(thrower.into()).is_ok());
    let at_once = reported.length();
    // Still registered after throwing: the close reaches it too.
    if let Ok(src) = &src {
        src.close();
    }
    js_sys::Reflect::set(&global, &"reportError".into(), &original).unwrap();

    assert_eq!(registered.ok(), Some(true));
    assert_eq!(at_once, 1, "the call with the current state");
    let messages: Vec<String> = reported
        .iter()
        .map(|e| get(&e, "message").as_string().unwrap_or_default())
        .collect();
    assert_eq!(
        messages,
        ["app bug in connecting", "app bug in closed"],
        "each exception reported, none swallowed"
    );
}

#[wasm_bindgen_test]
fn listeners_cannot_be_added_to_a_closed_source_from_rust_or_js() {
    let source =
        LiveSource::connect(&url("/shop/products/_streams/changes"), Options::default()).unwrap();
    source.close();
    let closed = |e: Option<Error>| matches!(e, Some(Error::Closed(_)));
    assert!(closed(source.on_state(|_| ()).err()));
    assert!(closed(source.on_error(|_| ()).err()));
    assert!(closed(source.on_reset(|_| ()).err()));

    let src = JsLiveSource::new(&url("/shop/products/_streams/changes"), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    src.close();
    let calls = js_sys::Array::new();
    let count = js_sys::Function::new_with_args("s", "this.push(s)").bind0(&calls);
    let msg = thrown(src.on_state(count.clone().into()));
    assert!(msg.starts_with("livesource closed error"), "{msg}");
    assert_eq!(calls.length(), 0, "a refused callback is never called");
    let msg = thrown(src.on_error(count.into()));
    assert!(msg.starts_with("livesource closed error"), "{msg}");
}

/// The value of a JS expression, for options no Rust constructor makes.
fn js(expression: &str) -> JsValue {
    js_sys::Function::new_no_args(&format!("return {expression};"))
        .call0(&JsValue::NULL)
        .unwrap()
}

#[wasm_bindgen_test]
fn an_options_object_without_a_prototype_is_read() {
    // `Object.create(null)` is an object (typeof 'object') that is not `instanceof Object`; it
    // was refused as "options must be an object, got object".
    let msg = rejected(js(
        "Object.assign(Object.create(null), { heartbeatTimeoutMs: '5000' })",
    ));
    assert!(
        msg.contains("heartbeatTimeoutMs must be a number, got string"),
        "the field was read: {msg}"
    );
    let src = JsLiveSource::new(
        &url("/shop/products/_streams/changes"),
        js("Object.create(null)"),
    )
    .map_err(JsValue::from)
    .expect("an empty prototype-less object is no options");
    src.close();
}

#[wasm_bindgen_test]
fn a_getter_that_throws_is_a_config_error_naming_the_field() {
    // It used to read as "not set", so a broken `get token()` silently meant no token.
    assert_eq!(
        rejected(js(
            "{ get token() { throw new Error('session expired'); } }"
        )),
        "livesource config error: token could not be read: session expired"
    );
    assert_eq!(
        rejected(js(
            "{ backoff: { get maxMs() { throw new Error('no'); } } }"
        )),
        "livesource config error: backoff.maxMs could not be read: no"
    );
}

#[wasm_bindgen_test]
fn an_options_proxy_that_throws_and_an_array_are_config_errors() {
    // Object.keys on a revoked Proxy throws; it used to go straight through wasm.
    let revoked =
        js("(() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy; })()");
    let msg = rejected(revoked);
    assert!(
        msg.starts_with("livesource config error: options could not be read: "),
        "{msg}"
    );
    assert_eq!(
        rejected(js("[]")),
        "livesource config error: options must be an object, got an array"
    );
    let msg = rejected(js(
        "{ backoff: new Proxy({}, { ownKeys() { throw new Error('boom'); } }) }",
    ));
    assert_eq!(
        msg,
        "livesource config error: backoff could not be read: boom"
    );
}

#[wasm_bindgen_test]
async fn a_headers_result_whose_getter_throws_is_an_error_and_a_retry() {
    // The getter threw out of the connect task: the source stayed `connecting`, with no error.
    let options = js(
        "{ transport: 'fetch', backoff: { initialMs: 20, maxMs: 40 }, \
                      headers: () => ({ get 'X-A'() { throw new Error('hg'); } }) }",
    );
    let src = JsLiveSource::new(&url("/shop/products/_streams/changes"), options)
        .map_err(JsValue::from)
        .unwrap();
    let errors = js_sys::Array::new();
    let record = js("(list) => (e) => list.push(e.kind + ': ' + e.message)")
        .unchecked_into::<js_sys::Function>()
        .call1(&JsValue::NULL, &errors)
        .unwrap();
    let _off = src.on_error(record).map_err(JsValue::from).unwrap();
    within(3000, "two errors, one per connect attempt", async {
        while errors.length() < 2 {
            sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        errors.get(0).as_string().unwrap(),
        "config: the headers function's result could not be read: hg"
    );
    src.close();
}

#[wasm_bindgen_test]
async fn an_exception_in_one_listener_is_reported_and_the_others_still_run() {
    // `on`, `onError` and `onSwap` from JS: the first callback of each throws, the second records.
    let global = js_sys::global();
    let original = get(&global, "reportError");
    let reported = js_sys::Array::new();
    let record = js_sys::Function::new_with_args("e", "this.push(e.message)").bind0(&reported);
    js_sys::Reflect::set(&global, &"reportError".into(), &record).unwrap();
    let got = js_sys::Array::new();
    let throws = |what: &str| -> JsValue {
        js_sys::Function::new_no_args(&format!("throw new Error('bug in {what}')")).into()
    };
    let records = |what: &str| -> JsValue {
        js_sys::Function::new_no_args(&format!("this.push('{what}')"))
            .bind0(&got)
            .into()
    };
    let key = unique("throwing");
    let src = JsLiveSource::new(
        &url(&format!("/_test/flaky/{key}")),
        object(&[("backoff", object(&[("initialMs", 10.into())]))]),
    )
    .map_err(JsValue::from)
    .unwrap();
    src.on("hello", throws("on")).unwrap();
    src.on("hello", records("on")).unwrap();
    src.on_error(throws("onError")).unwrap();
    src.on_error(records("onError")).unwrap();
    let fragment = url(&format!(
        "/_test/fragment?html={}",
        js_sys::encode_uri_component("<i></i>")
    ));
    for callback in [throws("onSwap"), records("onSwap")] {
        src.refresh(
            "hello",
            object(&[
                ("url", fragment.as_str().into()),
                ("swap", "none".into()),
                ("allowCrossOrigin", true.into()),
                ("onSwap", callback),
            ]),
        )
        .unwrap();
    }
    // A decode error for onError: `hello` data is JSON, so ask for an event whose data is not.
    let bad = JsLiveSource::new(
        &url("/_test/sse?event=tick&data=not-json"),
        JsValue::UNDEFINED,
    )
    .map_err(JsValue::from)
    .unwrap();
    bad.on("tick", JsValue::from(js_sys::Function::new_no_args("")))
        .unwrap();
    bad.on_error(throws("onError")).unwrap();
    bad.on_error(records("onError")).unwrap();
    within(5000, "every callback", async {
        while got.length() < 3 {
            sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    src.close();
    bad.close();
    js_sys::Reflect::set(&global, &"reportError".into(), &original).unwrap();
    let mut got: Vec<String> = got.iter().filter_map(|v| v.as_string()).collect();
    got.sort();
    got.dedup();
    assert_eq!(
        got,
        ["on", "onError", "onSwap"],
        "the second callback of each ran"
    );
    let mut reported: Vec<String> = reported.iter().filter_map(|v| v.as_string()).collect();
    reported.sort();
    reported.dedup();
    assert_eq!(
        reported,
        ["bug in on", "bug in onError", "bug in onSwap"],
        "each exception reported"
    );
}
