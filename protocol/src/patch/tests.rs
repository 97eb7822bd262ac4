use super::*;
use proptest::prelude::*;

fn compact(patch: &Value) -> Result<Vec<Value>, PatchError> {
    Ok(normalize(patch)?
        .into_iter()
        .map(Op::into_compact)
        .collect())
}

#[test]
fn both_spellings_normalise_to_compact() {
    let ops = json!([
        ["replace", "/counter", 7],
        {"op": "add", "path": "/rows/-", "value": {"id": 1}},
        {"op": "move", "from": "/a", "path": "/b"},
        ["remove", "/rows/0"],
        ["copy", "/a", "/c"],
    ]);
    assert_eq!(
        compact(&ops).unwrap(),
        vec![
            json!(["replace", "/counter", 7]),
            json!(["add", "/rows/-", {"id": 1}]),
            json!(["move", "/a", "/b"]),
            json!(["remove", "/rows/0"]),
            json!(["copy", "/a", "/c"]),
        ]
    );
}

#[test]
fn both_spellings_give_the_same_ops() {
    let tuples = json!([["replace","/counter",7],["add","/rows/-",{"id":3}],["remove","/tmp"],
        ["copy","/counter","/copied"],["move","/rows/0","/first"],["test","/counter",7]]);
    let objects = json!([{"op":"replace","path":"/counter","value":7},
        {"op":"add","path":"/rows/-","value":{"id":3}}, {"op":"remove","path":"/tmp"},
        {"op":"copy","from":"/counter","path":"/copied"}, {"op":"move","from":"/rows/0","path":"/first"},
        {"op":"test","path":"/counter","value":7}]);
    let ops = normalize(&tuples).unwrap();
    assert_eq!(ops, normalize(&objects).unwrap());
    let rfc: Vec<Value> = ops.iter().cloned().map(Op::into_rfc6902).collect();
    assert_eq!(Value::Array(rfc), objects);
    let names: Vec<_> = ops.iter().map(Op::name).collect();
    assert_eq!(names, ["replace", "add", "remove", "copy", "move", "test"]);
    assert_eq!(ops[4].path(), "/first");
}

#[test]
fn an_empty_patch_is_valid_and_extra_members_are_ignored() {
    assert_eq!(normalize(&json!([])), Ok(vec![]));
    assert_eq!(
        normalize(&json!([{"op": "remove", "path": "/a", "value": 1, "x": 2}])),
        Ok(vec![Op::Remove { path: "/a".into() }])
    );
}

#[test]
fn malformed_patches_are_typed_errors_with_the_index() {
    // The one table of the rules; the library's `ops` tests only that these reach its callers.
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
        (r#"[["replace","/a"]]"#, Some(0), "takes [op, path, value]"),
        (r#"[[7,"/a",1]]"#, Some(0), "starts with the op name"),
        (r#"[[]]"#, Some(0), "starts with the op name"),
        (r#"[["add","no-slash",1]]"#, Some(0), "start with '/'"),
        (r#"[["add","/a~2",1]]"#, Some(0), "'~'"),
        (
            r#"[["copy","/a",5]]"#,
            Some(0),
            "\"path\" must be a JSON pointer string",
        ),
        (r#"[{"op":"replace","path":"/a"}]"#, Some(0), "\"value\""),
        (r#"[{"op":"move","path":"/a"}]"#, Some(0), "\"from\""),
        (r#"[{"path":"/a"}]"#, Some(0), "\"op\""),
        (r#"[{"op":1,"path":"/a"}]"#, Some(0), "unknown op 1"),
        (r#"[{"op":"add","value":1}]"#, Some(0), "\"path\""),
        (r#"[42]"#, Some(0), "object or a tuple"),
        (r#"[42]"#, Some(0), "an op is"),
    ] {
        match parse(patch) {
            Err(e) => {
                assert_eq!(e.index, index, "{patch}: {e}");
                assert!(e.message.contains(needle), "{patch}: {e}");
                let shown = e.to_string();
                match index {
                    Some(i) => assert_eq!(shown, format!("op {i}: {}", e.message)),
                    None => assert_eq!(shown, e.message),
                }
            }
            other => panic!("{patch}: {other:?}"),
        }
    }
}

#[test]
fn ops_that_fail_on_any_document_are_named() {
    let check = |patch: Value| normalize(&patch).unwrap()[0].check_applicable();
    assert!(check(json!([["move", "/a", "/a/b"]]))
        .unwrap_err()
        .contains("own child"));
    assert!(check(json!([["remove", ""]]))
        .unwrap_err()
        .contains("whole document"));
    // A sibling with a longer name is not a child; moving onto itself is allowed.
    assert_eq!(check(json!([["move", "/a", "/ab"]])), Ok(()));
    assert_eq!(check(json!([["move", "/a", "/a"]])), Ok(()));
    assert_eq!(check(json!([["copy", "/a", "/a/b"]])), Ok(()));
    assert_eq!(check(json!([["remove", "/a"]])), Ok(()));
}

fn arb_op() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec![
        "add", "remove", "replace", "move", "copy", "test", "x", "",
    ]);
    let ptr = prop_oneof![
        Just(String::new()),
        "(/[a-z~0-9-]{0,3}){1,3}",
        "[a-z/~]{0,5}"
    ];
    let val = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z]{0,4}".prop_map(Value::String)
    ];
    prop_oneof![
        (
            name.clone(),
            prop::collection::vec(
                prop_oneof![ptr.clone().prop_map(Value::String), val.clone()],
                0..4
            )
        )
            .prop_map(|(n, rest)| {
                let mut v = vec![json!(n)];
                v.extend(rest);
                Value::Array(v)
            }),
        (
            name,
            ptr.clone(),
            prop::option::of(ptr),
            prop::option::of(val)
        )
            .prop_map(|(n, p, f, v)| {
                let mut o = serde_json::Map::new();
                o.insert("op".into(), json!(n));
                o.insert("path".into(), json!(p));
                if let Some(f) = f {
                    o.insert("from".into(), json!(f));
                }
                if let Some(v) = v {
                    o.insert("value".into(), v);
                }
                Value::Object(o)
            }),
        any::<i32>().prop_map(|n| json!(n)),
    ]
}

proptest! {
    // Moved from the server's `topics::ops` tests, on the shared rules.
    #[test]
    fn never_panics_and_output_revalidates(ops in prop::collection::vec(arb_op(), 0..6)) {
        if let Ok(normal) = normalize(&Value::Array(ops)) {
            // Normalising is idempotent: compact output is itself a valid patch, and so is the
            // RFC 6902 form, both giving the same ops back.
            let compact: Vec<Value> = normal.iter().cloned().map(Op::into_compact).collect();
            let rfc: Vec<Value> = normal.iter().cloned().map(Op::into_rfc6902).collect();
            prop_assert_eq!(&normalize(&Value::Array(compact)).unwrap(), &normal);
            prop_assert_eq!(&normalize(&Value::Array(rfc)).unwrap(), &normal);
            for op in &normal {
                let _ = op.check_applicable();
            }
        }
    }

    #[test]
    fn pointer_check_never_panics(p in "\\PC{0,16}") {
        let _ = check_pointer(&p);
    }
}
