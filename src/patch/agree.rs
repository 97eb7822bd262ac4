//! The browser engine (`engine.js`) and the Rust rules (`ops`, on the `json-patch` crate) must
//! agree: same resulting state, or a failure at the same op. Runs in Chromium (`wasm-pack test`).

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use super::ops;
use super::ops::tests::{fuzz_states, random_patch};
use crate::error::Error;

#[wasm_bindgen(module = "/src/patch/engine.js")]
extern "C" {
    #[wasm_bindgen(js_name = applyPatch, catch)]
    fn apply_patch(root: &JsValue, patch: &JsValue, local: bool) -> Result<JsValue, JsValue>;
}

/// The engine's result, after checking that it left `root` (the state subscribers hold) as it
/// was, whether the patch applied or failed.
fn engine(initial: &Value, patch: &str) -> Result<Value, Option<usize>> {
    let root = js_sys::JSON::parse(&initial.to_string()).unwrap();
    let before = String::from(js_sys::JSON::stringify(&root).unwrap());
    let result = apply_patch(&root, &patch.into(), false);
    let after = String::from(js_sys::JSON::stringify(&root).unwrap());
    assert_eq!(
        before,
        after,
        "{patch} {} the old state",
        if result.is_ok() {
            "applied but changed"
        } else {
            "failed and changed"
        }
    );
    match result {
        Ok(next) => {
            let text = String::from(js_sys::JSON::stringify(&next).unwrap());
            Ok(numbers_as_f64(serde_json::from_str(&text).unwrap()))
        }
        Err(e) => Err(js_sys::Reflect::get(&e, &"index".into())
            .unwrap()
            .as_f64()
            .map(|i| i as usize)),
    }
}

fn rust(initial: &Value, patch: &str) -> Result<Value, Option<usize>> {
    let index = |e: Error| match e {
        Error::Patch { index, .. } => index,
        other => panic!("{other:?}"),
    };
    let mut state = initial.clone();
    let ops = ops::parse(patch).map_err(index)?;
    ops::apply(&mut state, &ops).map_err(index)?;
    Ok(numbers_as_f64(state))
}

/// `1` and `1.0` as one value: the JS engine keeps no difference between them.
fn numbers_as_f64(v: Value) -> Value {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect())
        }
        other => other,
    }
}

#[wasm_bindgen_test]
fn the_js_engine_and_the_rust_rules_agree() {
    let ops = ["add", "remove", "replace", "move", "copy", "test", "nope"];
    let paths = [
        "", "/", "/a", "/a/0", "/a/-", "/a/9", "/b/c", "/~1", "/~0x", "/a/01", "/b", "/a/1/x",
    ];
    let values = [
        json!(1),
        json!(1.0),
        json!([1, 2]),
        json!([1.0, 2]),
        json!({"c": null}),
        json!("s"),
        json!({"x": 2}),
        json!({"x": 2.0}),
    ];
    let mut rand = crate::test_rng(0x9e37_79b9_7f4a_7c15);
    let initial = json!({"a": [1, {"x": 2}], "b": {"c": 3}});
    for _ in 0..3000 {
        let patch: Vec<Value> = (0..1 + rand(4))
            .map(|_| {
                let op = ops[rand(ops.len())];
                let (p, v) = (paths[rand(paths.len())], &values[rand(values.len())]);
                match (op, rand(3)) {
                    ("move" | "copy", 0) => {
                        json!({"op": op, "from": p, "path": paths[rand(paths.len())]})
                    }
                    ("move" | "copy", _) => json!([op, p, paths[rand(paths.len())]]),
                    ("remove", 0) => json!({"op": op, "path": p}),
                    ("remove", _) => json!([op, p]),
                    (_, 0) => json!({"op": op, "path": p, "value": v}),
                    _ => json!([op, p, v]),
                }
            })
            .collect();
        let text = Value::Array(patch).to_string();
        assert_eq!(engine(&initial, &text), rust(&initial, &text), "{text}");
    }
}

#[wasm_bindgen_test]
fn on_mostly_valid_patches_the_engines_agree_and_the_js_engine_is_atomic() {
    // The generator of the `ops` fuzz: pointers that exist, valid moves and copies, both forms.
    // `engine` checks that the old state's JSON is unchanged after every patch, applied or not.
    let mut rand = crate::test_rng(0x2545_f491_4f6c_dd1d);
    let states = fuzz_states();
    let (mut applied, mut failed) = (0, 0);
    let rounds = 3000;
    for round in 0..rounds {
        let initial = &states[round % states.len()];
        let (tuples, objects) = random_patch(&mut rand, initial);
        for patch in [tuples, objects] {
            let text = Value::Array(patch).to_string();
            let result = engine(initial, &text);
            assert_eq!(result, rust(initial, &text), "{text}");
            match result {
                Ok(_) => applied += 1,
                Err(Some(_)) => failed += 1,
                Err(None) => {}
            }
        }
    }
    assert!(
        applied * 10 >= rounds * 2 * 3,
        "{applied} of {} applied",
        rounds * 2
    );
    assert!(
        failed * 10 >= rounds * 2,
        "{failed} of {} failed at an op",
        rounds * 2
    );
}
