//! Bad configuration is rejected at construction, with a message that names the problem.

use livesource::JsLiveSource;
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
