//! Parsing and normalising patches. Pure: every rule is a native unit test.
//!
//! The shapes (RFC 6902 objects and compact tuples, checked pointers) are the workspace's one
//! implementation in `livesource-protocol` ([`livesource_protocol::patch`]), shared with the dev
//! server; this module applies the result with the `json-patch` crate.

use json_patch::{patch_unsafe, PatchOperation};
use livesource_protocol::patch::{self as protocol, PatchError};
use serde_json::Value;

use crate::error::Error;

fn op_error(index: usize, message: impl Into<String>) -> Error {
    Error::Patch {
        index: Some(index),
        message: message.into(),
    }
}

impl From<PatchError> for Error {
    fn from(e: PatchError) -> Self {
        Error::Patch {
            index: e.index,
            message: e.message,
        }
    }
}

/// Parses event data into operations. Accepts an array whose items are RFC 6902 objects or
/// compact tuples, in any mix.
pub fn parse(text: &str) -> Result<Vec<PatchOperation>, Error> {
    into_operations(protocol::parse(text)?)
}

pub fn normalise(value: Value) -> Result<Vec<PatchOperation>, Error> {
    into_operations(protocol::normalize(&value)?)
}

/// The normal form as the `json-patch` crate's operations. Its pointers were checked by the same
/// rules, so the conversion cannot fail; should the crates ever disagree, the op is named.
fn into_operations(ops: Vec<protocol::Op>) -> Result<Vec<PatchOperation>, Error> {
    ops.into_iter()
        .enumerate()
        .map(|(i, op)| {
            serde_json::from_value::<PatchOperation>(op.into_rfc6902())
                .map_err(|e| op_error(i, e.to_string()))
        })
        .collect()
}

/// Applies `ops` to `state` atomically: on error the state is exactly as before.
///
/// On a copy rather than with json-patch's own undo: its undo panics ("unable to undo applied
/// patches") when an op fails after a `move` to the root, which the fuzz found.
///
/// A `test` compares numbers by value, as RFC 6902 asks and as the JS engine does: `1` equals
/// `1.0` (json-patch compares `serde_json` numbers by representation).
pub fn apply(state: &mut Value, ops: &[PatchOperation]) -> Result<(), Error> {
    let mut next = state.clone();
    for (i, op) in ops.iter().enumerate() {
        if let PatchOperation::Test(t) = op {
            if next
                .pointer(t.path.as_str())
                .is_some_and(|v| same(v, &t.value))
            {
                continue;
            }
        }
        patch_unsafe(&mut next, std::slice::from_ref(op))
            .map_err(|e| op_error(i, format!("{} at '{}'", e.kind, e.path)))?;
    }
    *state = next;
    Ok(())
}

/// JSON equality with numbers compared as the JS engine compares them (as `f64`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| same(a, b)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn applied(initial: Value, patch: &str) -> Result<Value, Error> {
        let mut state = initial;
        let ops = parse(patch)?;
        apply(&mut state, &ops)?;
        Ok(state)
    }

    #[test]
    fn test_compares_numbers_by_value_as_the_js_engine_does() {
        let initial = json!({"a": 1, "b": [1.0, 2], "c": {"x": -0.0}});
        for patch in [
            r#"[["test","/a",1.0]]"#,
            r#"[["test","/b",[1,2.0]]]"#,
            r#"[["test","/c",{"x":0}]]"#,
            r#"[{"op":"test","path":"/a","value":1e0}]"#,
        ] {
            assert_eq!(applied(initial.clone(), patch).unwrap(), initial, "{patch}");
        }
        for (patch, index) in [
            (r#"[["test","/a",2]]"#, 0),
            (r#"[["replace","/a",3],["test","/a",1]]"#, 1),
            (r#"[["test","/b",[1]]]"#, 0),
            (r#"[["test","/missing",1]]"#, 0),
        ] {
            let mut state = initial.clone();
            match apply(&mut state, &parse(patch).unwrap()) {
                Err(Error::Patch { index: Some(i), .. }) => assert_eq!(i, index, "{patch}"),
                other => panic!("{patch}: expected a patch error, got {other:?}"),
            }
            assert_eq!(state, initial, "{patch}: atomic");
        }
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
    fn malformed_patches_become_patch_errors_with_the_index() {
        // The rules themselves are tested once, in `livesource-protocol`'s patch tests; here
        // only that their error reaches callers as `Error::Patch`, index and message intact.
        for (patch, index, needle) in [
            ("{", None, "not JSON"),
            (
                r#"[["add","/a",1],["frobnicate","/a"]]"#,
                Some(1),
                "unknown op 'frobnicate'",
            ),
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
    fn a_failure_after_a_move_to_the_root_leaves_the_state_unchanged() {
        // Found by the fuzz below: json-patch 5's undo log cannot undo a move to the root (its
        // `patch` panics with "unable to undo applied patches").
        let initial = json!({"a": {"b": 1}});
        let mut state = initial.clone();
        let ops = parse(r#"[["move","/a/b",""],["remove","/x"]]"#).unwrap();
        let err = apply(&mut state, &ops).unwrap_err();
        assert_eq!(state, initial);
        assert!(
            matches!(err, Error::Patch { index: Some(1), .. }),
            "{err:?}"
        );
    }

    /// Every pointer into `value` (the root included), each with the value it points at.
    pub(crate) fn pointers(value: &Value) -> Vec<(String, Value)> {
        fn walk(at: String, value: &Value, out: &mut Vec<(String, Value)>) {
            out.push((at.clone(), value.clone()));
            match value {
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        walk(format!("{at}/{i}"), v, out);
                    }
                }
                Value::Object(map) => {
                    for (k, v) in map {
                        let k = k.replace('~', "~0").replace('/', "~1");
                        walk(format!("{at}/{k}"), v, out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(String::new(), value, &mut out);
        out
    }

    /// A random patch against `state`, as (compact tuples, the same ops as RFC 6902 objects).
    /// Most pointers exist in `state` or name a new member of a container that does, so most
    /// single ops are valid; now and then a pointer, an op or a tuple's shape is wrong.
    pub(crate) fn random_patch(
        rand: &mut impl FnMut(usize) -> usize,
        state: &Value,
    ) -> (Vec<Value>, Vec<Value>) {
        let values = [
            json!(1),
            json!([1, 2]),
            json!({"c": null}),
            json!("s"),
            json!({"x": [2, {"y": 3}]}),
        ];
        let existing = pointers(state);
        let pick = |rand: &mut dyn FnMut(usize) -> usize| -> (String, Value) {
            let (p, v) = &existing[rand(existing.len())];
            (p.clone(), v.clone())
        };
        // A pointer for `add`, a move's or a copy's target: often a new member.
        let target =
            |rand: &mut dyn FnMut(usize) -> usize, (p, v): (String, Value)| match (rand(4), &v) {
                (0, Value::Array(items)) => format!("{p}/{}", rand(items.len() + 1)),
                (1, Value::Array(_)) => format!("{p}/-"),
                (0 | 1, Value::Object(_)) => format!("{p}/new{}", rand(3)),
                _ => p,
            };
        let broken = ["/nope/x", "/a/9", "/a/01", "no-slash", "/~2", "/b/c/d"];
        let mut tuples = Vec::new();
        let mut objects = Vec::new();
        for _ in 0..1 + rand(4) {
            let (p, v) = pick(rand);
            let p = if rand(10) == 0 {
                broken[rand(broken.len())].to_owned()
            } else {
                p
            };
            let value = values[rand(values.len())].clone();
            let (tuple, object) = match rand(13) {
                0 | 1 => {
                    let path = target(rand, (p, v));
                    (
                        json!(["add", path, value]),
                        json!({"op": "add", "path": path, "value": value}),
                    )
                }
                2 => (json!(["remove", p]), json!({"op": "remove", "path": p})),
                3 | 4 => (
                    json!(["replace", p, value]),
                    json!({"op": "replace", "path": p, "value": value}),
                ),
                5 => {
                    // The value it holds, so the test passes (unless an earlier op changed it).
                    let value = if rand(2) == 0 { v } else { value };
                    (
                        json!(["test", p, value]),
                        json!({"op": "test", "path": p, "value": value}),
                    )
                }
                op @ 6..=11 => {
                    let op = if op < 9 { "move" } else { "copy" };
                    let to = pick(rand);
                    let path = target(rand, to);
                    (
                        json!([op, p, path]),
                        json!({"op": op, "from": p, "path": path}),
                    )
                }
                _ => match rand(3) {
                    0 => (json!(["nope", p]), json!({"op": "nope", "path": p})),
                    1 => (json!(["remove", p, value]), json!({"path": p})),
                    _ => (json!(["move", p]), json!({"op": "move", "path": p})),
                },
            };
            tuples.push(tuple);
            objects.push(object);
        }
        (tuples, objects)
    }

    /// Initial states for the fuzz loops: arrays, nesting, and keys that need escaping.
    pub(crate) fn fuzz_states() -> [Value; 3] {
        [
            json!({"a": [1, {"x": 2}], "b": {"c": 3}}),
            json!({"rows": [{"id": 1, "tags": ["p", "q"]}, {"id": 2}], "m~n/o": {"": 0}, "n": null}),
            json!([[0, 1], {"k": [true]}, "z"]),
        ]
    }

    #[test]
    fn arbitrary_patches_never_panic_and_failures_never_change_state() {
        // A deterministic generator over the ops, mostly valid pointers into the state, and both
        // forms stands in for a fuzzer. Each patch is generated as compact tuples and as RFC
        // 6902 objects: both must parse to the same ops, apply the same way, and a failure must
        // leave the state exactly as it was.
        let mut rand = crate::test_rng(0x2545_f491_4f6c_dd1d);
        let states = fuzz_states();
        let rounds = crate::fuzz_rounds(2000);
        let (mut applied, mut moved, mut copied, mut failed) = (0, 0, 0, 0);
        for round in 0..rounds {
            let initial = &states[round % states.len()];
            let (tuples, objects) = random_patch(&mut rand, initial);
            let (compact, rfc) = (normalise(json!(tuples)), normalise(json!(objects)));
            let ops = match (compact, rfc) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "{tuples:?}");
                    a
                }
                (Err(a), Err(b)) => {
                    let index = |e: &Error| match e {
                        Error::Patch { index, .. } => *index,
                        other => panic!("{other:?}"),
                    };
                    assert_eq!(index(&a), index(&b), "{tuples:?}: {a} / {b}");
                    continue;
                }
                (a, b) => panic!("{tuples:?}: the forms disagree: {a:?} / {b:?}"),
            };
            let mut state = initial.clone();
            match apply(&mut state, &ops) {
                Ok(()) => {
                    applied += 1;
                    for op in &ops {
                        match op {
                            PatchOperation::Move(_) => moved += 1,
                            PatchOperation::Copy(_) => copied += 1,
                            _ => {}
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    assert_eq!(
                        &state, initial,
                        "{tuples:?} failed ({e}) but changed the state"
                    );
                }
            }
        }
        // The generator reaches what it is for: most patches apply, valid moves and copies among
        // them, and enough fail to test atomicity.
        assert!(
            applied * 3 >= rounds,
            "{applied} of {rounds} patches applied"
        );
        assert!(failed * 10 >= rounds, "{failed} of {rounds} patches failed");
        assert!(
            moved * 20 >= rounds && copied * 20 >= rounds,
            "{moved} moves, {copied} copies applied"
        );
    }
}
