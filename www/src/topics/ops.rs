//! Patch operations for topics: RFC 6902 objects or compact tuples, validated and normalised
//! to the compact form (`["replace", "/counter", 7]`, `["move", from, path]`) before broadcast.

use serde_json::{json, Value};

/// Upper bound on ops in one publish; a patch is a UI update, not a bulk import.
pub const MAX_OPS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Remove,
    Replace,
    Move,
    Copy,
    Test,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "add" => Self::Add,
            "remove" => Self::Remove,
            "replace" => Self::Replace,
            "move" => Self::Move,
            "copy" => Self::Copy,
            "test" => Self::Test,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
            Self::Move => "move",
            Self::Copy => "copy",
            Self::Test => "test",
        }
    }
}

/// Validates a JSON Pointer (RFC 6901): empty, or `/`-separated tokens where `~` is only
/// ever `~0` or `~1`.
pub fn check_pointer(p: &str) -> Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "JSON pointer {p:?} must be empty or start with '/'"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("JSON pointer {p:?} has '~' not followed by 0 or 1"));
        }
    }
    Ok(())
}

/// Validates every op and returns the compact form. Errors name the op index.
pub fn normalize(ops: &Value) -> Result<Vec<Value>, String> {
    let Value::Array(ops) = ops else {
        return Err("a patch must be a JSON array of ops".into());
    };
    if ops.is_empty() {
        return Err("a patch needs at least one op".into());
    }
    if ops.len() > MAX_OPS {
        return Err(format!("a patch may have at most {MAX_OPS} ops"));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| normalize_op(op).map_err(|e| format!("op {i}: {e}")))
        .collect()
}

fn normalize_op(op: &Value) -> Result<Value, String> {
    // (kind, path, from, value) from either spelling.
    let (kind, path, from, value) = match op {
        Value::Array(t) => {
            let kind_name = t
                .first()
                .and_then(Value::as_str)
                .ok_or("a compact op starts with its name")?;
            let kind = Kind::parse(kind_name).ok_or_else(|| format!("unknown op {kind_name:?}"))?;
            let text = |i: usize, what: &str| {
                t.get(i)
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{} needs {what} as a string", kind.name()))
            };
            let arity = match kind {
                Kind::Remove => 2,
                _ => 3,
            };
            if t.len() != arity {
                return Err(format!(
                    "{} takes {} elements, got {}",
                    kind.name(),
                    arity,
                    t.len()
                ));
            }
            match kind {
                Kind::Move | Kind::Copy => {
                    (kind, text(2, "a path")?, Some(text(1, "a from")?), None)
                }
                Kind::Remove => (kind, text(1, "a path")?, None, None),
                _ => (kind, text(1, "a path")?, None, t.get(2)),
            }
        }
        Value::Object(o) => {
            let kind_name = o
                .get("op")
                .and_then(Value::as_str)
                .ok_or("an op object needs \"op\"")?;
            let kind = Kind::parse(kind_name).ok_or_else(|| format!("unknown op {kind_name:?}"))?;
            let path = o
                .get("path")
                .and_then(Value::as_str)
                .ok_or("an op object needs \"path\" as a string")?;
            let from = match kind {
                Kind::Move | Kind::Copy => Some(
                    o.get("from")
                        .and_then(Value::as_str)
                        .ok_or_else(|| format!("{} needs \"from\"", kind.name()))?,
                ),
                _ => None,
            };
            let value = match kind {
                Kind::Add | Kind::Replace | Kind::Test => Some(
                    o.get("value")
                        .ok_or_else(|| format!("{} needs \"value\"", kind.name()))?,
                ),
                _ => None,
            };
            (kind, path, from, value)
        }
        _ => {
            return Err(
                "an op is an array like [\"replace\", \"/x\", 1] or an RFC 6902 object".into(),
            )
        }
    };
    check_pointer(path)?;
    if let Some(from) = from {
        check_pointer(from)?;
        // RFC 6902 §4.4: a value cannot be moved into one of its own children.
        if kind == Kind::Move && path.starts_with(from) && path[from.len()..].starts_with('/') {
            return Err(format!("cannot move {from:?} into its own child {path:?}"));
        }
    }
    if kind == Kind::Remove && path.is_empty() {
        return Err("cannot remove the whole document".into());
    }
    Ok(match (from, value) {
        (Some(from), _) => json!([kind.name(), from, path]),
        (None, Some(value)) => json!([kind.name(), path, value]),
        (None, None) => json!([kind.name(), path]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
            normalize(&ops).unwrap(),
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
    fn bad_ops_are_explained() {
        for (ops, needle) in [
            (json!({}), "array"),
            (json!([]), "at least one"),
            (json!([["frobnicate", "/a", 1]]), "unknown op"),
            (json!([["replace", "/a"]]), "takes 3"),
            (json!([["replace", "a", 1]]), "start with '/'"),
            (json!([["replace", "/a~2", 1]]), "'~'"),
            (json!([{"op": "add", "path": "/a"}]), "\"value\""),
            (json!([{"op": "move", "path": "/a"}]), "\"from\""),
            (json!([["move", "/a", "/a/b"]]), "own child"),
            (json!([["remove", ""]]), "whole document"),
            (json!([42]), "an op is"),
        ] {
            let err = normalize(&ops).unwrap_err();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
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
        #[test]
        fn never_panics_and_output_revalidates(ops in prop::collection::vec(arb_op(), 0..6)) {
            if let Ok(compact) = normalize(&Value::Array(ops)) {
                // Normalising is idempotent: compact output is itself a valid patch.
                prop_assert_eq!(normalize(&Value::Array(compact.clone())).unwrap(), compact);
            }
        }

        #[test]
        fn pointer_check_never_panics(p in "\\PC{0,16}") {
            let _ = check_pointer(&p);
        }
    }
}
