//! Parsing and normalising patches. Pure: every rule is a native unit test.

use json_patch::{patch, PatchOperation};
use serde_json::{json, Value};

use crate::error::Error;

fn op_error(index: usize, message: impl Into<String>) -> Error {
    Error::Patch {
        index: Some(index),
        message: message.into(),
    }
}

/// Parses event data into operations. Accepts an array whose items are RFC 6902 objects or
/// compact tuples, in any mix.
pub fn parse(text: &str) -> Result<Vec<PatchOperation>, Error> {
    let value: Value = serde_json::from_str(text).map_err(|e| Error::Patch {
        index: None,
        message: format!("not JSON: {e}"),
    })?;
    normalise(value)
}

pub fn normalise(value: Value) -> Result<Vec<PatchOperation>, Error> {
    let Value::Array(items) = value else {
        return Err(Error::Patch {
            index: None,
            message: "a patch must be an array of operations".into(),
        });
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let object = match item {
                Value::Array(tuple) => from_tuple(i, tuple)?,
                object @ Value::Object(_) => object,
                other => {
                    return Err(op_error(
                        i,
                        format!("an operation must be an object or a tuple, got {other}"),
                    ))
                }
            };
            serde_json::from_value::<PatchOperation>(object).map_err(|e| op_error(i, e.to_string()))
        })
        .collect()
}

/// `[op, path, value]`, `[op, path]` for remove, `[op, from, path]` for move and copy.
fn from_tuple(i: usize, tuple: Vec<Value>) -> Result<Value, Error> {
    let mut it = tuple.into_iter();
    let op = match it.next() {
        Some(Value::String(op)) => op,
        _ => return Err(op_error(i, "a tuple starts with the op name")),
    };
    let rest: Vec<Value> = it.collect();
    let arity = |n: usize, shape: &str| {
        if rest.len() == n {
            Ok(())
        } else {
            Err(op_error(
                i,
                format!("'{op}' takes {shape}, got {} values", rest.len()),
            ))
        }
    };
    Ok(match op.as_str() {
        "add" | "replace" | "test" => {
            arity(2, "[op, path, value]")?;
            json!({ "op": op, "path": rest[0], "value": rest[1] })
        }
        "remove" => {
            arity(1, "[op, path]")?;
            json!({ "op": op, "path": rest[0] })
        }
        "move" | "copy" => {
            arity(2, "[op, from, path]")?;
            json!({ "op": op, "from": rest[0], "path": rest[1] })
        }
        other => return Err(op_error(i, format!("unknown op '{other}'"))),
    })
}

/// Applies `ops` to `state` atomically: on error the state is exactly as before.
pub fn apply(state: &mut Value, ops: &[PatchOperation]) -> Result<(), Error> {
    patch(state, ops).map_err(|e| op_error(e.operation, format!("{} at '{}'", e.kind, e.path)))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn applied(initial: Value, patch: &str) -> Result<Value, Error> {
        let mut state = initial;
        let ops = parse(patch)?;
        apply(&mut state, &ops)?;
        Ok(state)
    }

    #[test]
    fn compact_and_rfc_forms_give_equal_results() {
        let initial = json!({"counter": 1, "rows": [{"id": 1}, {"id": 2}], "tmp": true});
        let compact = r#"[["replace","/counter",7],["add","/rows/-",{"id":3}],["remove","/tmp"],
            ["copy","/counter","/copied"],["move","/rows/0","/first"],["test","/counter",7]]"#;
        let rfc = r#"[{"op":"replace","path":"/counter","value":7},{"op":"add","path":"/rows/-","value":{"id":3}},
            {"op":"remove","path":"/tmp"},{"op":"copy","from":"/counter","path":"/copied"},
            {"op":"move","from":"/rows/0","path":"/first"},{"op":"test","path":"/counter","value":7}]"#;
        let a = applied(initial.clone(), compact).unwrap();
        let b = applied(initial, rfc).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a,
            json!({"counter": 7, "rows": [{"id": 2}, {"id": 3}], "copied": 7, "first": {"id": 1}})
        );
    }

    #[test]
    fn a_failing_op_leaves_the_state_unchanged_and_names_its_index() {
        let initial = json!({"counter": 1, "rows": []});
        let mut state = initial.clone();
        let ops = parse(r#"[["replace","/counter",2],["add","/rows/-",1],["test","/counter",99]]"#)
            .unwrap();
        let err = apply(&mut state, &ops).unwrap_err();
        assert_eq!(state, initial, "atomic: earlier ops were reverted");
        match err {
            Error::Patch { index, message } => {
                assert_eq!(index, Some(2));
                assert!(message.contains("did not match"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_patches_are_typed_errors_with_the_index() {
        for (patch, index, needle) in [
            ("{", None, "not JSON"),
            (r#"{"op":"add"}"#, None, "must be an array"),
            (
                r#"[["add","/a",1],["frobnicate","/a"]]"#,
                Some(1),
                "unknown op 'frobnicate'",
            ),
            (r#"[["remove","/a",1]]"#, Some(0), "takes [op, path]"),
            (r#"[["move","/a"]]"#, Some(0), "takes [op, from, path]"),
            (r#"[[7,"/a",1]]"#, Some(0), "starts with the op name"),
            (r#"[["add","no-slash",1]]"#, Some(0), ""),
            (r#"[{"op":"replace","path":"/a"}]"#, Some(0), "value"),
            (r#"[42]"#, Some(0), "object or a tuple"),
        ] {
            match parse(patch) {
                Err(Error::Patch { index: i, message }) => {
                    assert_eq!(i, index, "{patch}: {message}");
                    assert!(message.contains(needle), "{patch}: {message}");
                }
                other => panic!("{patch}: {other:?}"),
            }
        }
    }

    #[test]
    fn prototype_keys_are_plain_data() {
        // Paths through keys that do not exist fail; `__proto__` is just a key name in Rust.
        let err = applied(json!({}), r#"[["add","/__proto__/polluted",true]]"#).unwrap_err();
        assert_eq!(err.kind(), "patch");
        let err = applied(json!({}), r#"[["add","/constructor/prototype/x",1]]"#).unwrap_err();
        assert_eq!(err.kind(), "patch");
        let state = applied(json!({}), r#"[["add","/__proto__",{"polluted":true}]]"#).unwrap();
        assert_eq!(state, json!({"__proto__": {"polluted": true}}));
    }

    #[test]
    fn arbitrary_patches_never_panic_and_failures_never_change_state() {
        // A deterministic generator over ops, paths and values stands in for a fuzzer.
        let ops = ["add", "remove", "replace", "move", "copy", "test", "nope"];
        let paths = [
            "", "/", "/a", "/a/0", "/a/-", "/a/9", "/b/c", "/~1", "/~0x", "/a/01",
        ];
        let values = [json!(1), json!([1, 2]), json!({"c": null}), json!("s")];
        let mut rand = crate::test_rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..crate::fuzz_rounds(2000) {
            let initial = json!({"a": [1, {"x": 2}], "b": {"c": 3}});
            let patch: Vec<Value> = (0..1 + rand(4))
                .map(|_| {
                    json!([
                        ops[rand(ops.len())],
                        paths[rand(paths.len())],
                        values[rand(values.len())]
                    ])
                })
                .collect();
            let mut state = initial.clone();
            match normalise(Value::Array(patch)) {
                Ok(ops) => {
                    if apply(&mut state, &ops).is_err() {
                        assert_eq!(state, initial);
                    }
                }
                Err(e) => assert_eq!(e.kind(), "patch"),
            }
        }
    }
}
