//! A PATCH body, applied as RESTHeart applies it: MongoDB update semantics. Plain fields are
//! `$set` (a value replaces the field whole; `null` stores null), a key may be a dotted path
//! (`dims.w`, `tags.0`), and the operators `$set`, `$unset` and `$inc` may be used instead.

use serde_json::{Map, Number, Value};

/// One change to one path (its segments).
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Set(Vec<String>, Value),
    Unset(Vec<String>),
    Inc(Vec<String>, Number),
}

impl Op {
    fn path(&self) -> &[String] {
        match self {
            Op::Set(p, _) | Op::Unset(p) | Op::Inc(p, _) => p,
        }
    }
}

/// The operations a PATCH body asks for: either plain fields (each a `$set`) or operators only,
/// as MongoDB takes an update document. Paths may not overlap (MongoDB refuses the update).
pub fn parse(body: &Map<String, Value>) -> Result<Vec<Op>, String> {
    let operators = body.keys().filter(|k| k.starts_with('$')).count();
    let mut ops = Vec::new();
    if operators == 0 {
        for (key, value) in body {
            ops.push(Op::Set(path(key)?, value.clone()));
        }
    } else if operators < body.len() {
        return Err(
            "a PATCH body is either fields to set or update operators ($set, $unset, $inc), \
             not both"
                .into(),
        );
    } else {
        for (op, arg) in body {
            let Value::Object(fields) = arg else {
                return Err(format!("{op} takes an object of fields"));
            };
            for (key, value) in fields {
                let p = path(key)?;
                ops.push(match op.as_str() {
                    "$set" => Op::Set(p, value.clone()),
                    "$unset" => Op::Unset(p),
                    "$inc" => match value {
                        Value::Number(n) => Op::Inc(p, n.clone()),
                        _ => return Err(format!("$inc of {key:?} takes a number, got {value}")),
                    },
                    other => {
                        return Err(format!(
                            "update operator {other:?} is not supported by livesource-dev: \
                             use $set, $unset or $inc"
                        ))
                    }
                });
            }
        }
    }
    for (i, a) in ops.iter().enumerate() {
        for b in &ops[i + 1..] {
            let (short, long) = if a.path().len() <= b.path().len() {
                (a.path(), b.path())
            } else {
                (b.path(), a.path())
            };
            if long.starts_with(short) {
                return Err(format!(
                    "updating {:?} and {:?} at once would conflict",
                    a.path().join("."),
                    b.path().join(".")
                ));
            }
        }
    }
    Ok(ops)
}

fn path(key: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = key.split('.').map(str::to_owned).collect();
    if segments.iter().any(|s| s.is_empty() || s.starts_with('$')) {
        return Err(format!(
            "field path {key:?}: each dot-separated part must be a non-empty name not starting \
             with '$' (positional operators are not supported by livesource-dev)"
        ));
    }
    Ok(segments)
}

/// `doc` with `ops` applied, or the first op's error.
pub fn apply(doc: &Value, ops: &[Op]) -> Result<Value, String> {
    let mut out = doc.clone();
    for op in ops {
        if op.path()[0] == "_id" {
            // A `$set` of `_id` itself is allowed when it names the document (the caller
            // checks that: it knows the path's id); nothing may change it.
            if matches!(op, Op::Set(p, _) if p.len() == 1) {
                continue;
            }
            return Err("_id cannot be changed".into());
        }
        match op {
            Op::Set(p, v) => *slot(&mut out, p)? = v.clone(),
            Op::Unset(p) => unset(&mut out, p),
            Op::Inc(p, by) => {
                let missing = !exists(&out, p);
                let at = slot(&mut out, p)?;
                *at = match &*at {
                    _ if missing => Value::Number(by.clone()),
                    Value::Number(n) => Value::Number(add(n, by)),
                    other => {
                        return Err(format!(
                            "$inc of {:?}: the field holds {other}, not a number",
                            p.join(".")
                        ))
                    }
                };
            }
        }
    }
    Ok(out)
}

/// The place `path` names, made if missing: objects on the way, as MongoDB creates them, and an
/// array index past the end pads with nulls. Anything else on the way (a scalar, a null) is an
/// error, as MongoDB's "cannot create field".
fn slot<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut at = doc;
    for (depth, seg) in path.iter().enumerate() {
        let fresh = || {
            if depth + 1 == path.len() {
                Value::Null
            } else {
                Value::Object(Map::new())
            }
        };
        at = match at {
            Value::Object(map) => map.entry(seg.clone()).or_insert_with(fresh),
            Value::Array(items) => {
                let i = index(seg).ok_or_else(|| {
                    format!(
                        "{:?} is an array: {seg:?} is not an index",
                        path[..depth].join(".")
                    )
                })?;
                while items.len() <= i {
                    items.push(if items.len() == i {
                        fresh()
                    } else {
                        Value::Null
                    });
                }
                &mut items[i]
            }
            other => {
                return Err(format!(
                    "cannot create field {seg:?} in {:?}: it holds {other}",
                    path[..depth].join(".")
                ))
            }
        };
    }
    Ok(at)
}

fn unset(doc: &mut Value, path: &[String]) {
    let (last, parents) = path.split_last().expect("paths have a segment");
    match doc.pointer_mut(&pointer(parents)) {
        Some(Value::Object(map)) => {
            map.remove(last);
        }
        // MongoDB keeps an array's length: the element becomes null.
        Some(Value::Array(items)) => {
            if let Some(item) = index(last).and_then(|i| items.get_mut(i)) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

fn exists(doc: &Value, path: &[String]) -> bool {
    doc.pointer(&pointer(path)).is_some()
}

/// The JSON Pointer (RFC 6901) of a path: it reads object keys and array indices alike.
fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn index(seg: &str) -> Option<usize> {
    // MongoDB's limit on padding is large; this keeps one request from allocating without bound.
    seg.parse().ok().filter(|&i: &usize| i < 100_000)
}

/// Integers stay integers while they fit; anything else adds as floating point.
fn add(a: &Number, b: &Number) -> Number {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        if let Some(sum) = x.checked_add(y) {
            return sum.into();
        }
    }
    let sum = a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0);
    Number::from_f64(sum).unwrap_or_else(|| 0.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(doc: Value, body: Value) -> Result<Value, String> {
        let Value::Object(body) = body else {
            panic!("a body is an object")
        };
        apply(&doc, &parse(&body)?)
    }

    #[test]
    fn plain_fields_are_set_whole_and_null_is_a_value() {
        let doc = json!({"_id": "1", "name": "a", "dims": {"w": 1, "h": 2}});
        assert_eq!(
            patched(doc, json!({"dims": {"w": 5}, "name": null, "new": [1]})),
            Ok(json!({"_id": "1", "name": null, "dims": {"w": 5}, "new": [1]}))
        );
    }

    #[test]
    fn dotted_paths_reach_into_objects_and_arrays_and_make_what_is_missing() {
        let doc = json!({"dims": {"w": 1, "h": 2}, "tags": ["a", "b"]});
        assert_eq!(
            patched(
                doc,
                json!({"dims.w": 5, "tags.1": "z", "tags.3": "d", "x.y.z": 1})
            ),
            Ok(
                json!({"dims": {"w": 5, "h": 2}, "tags": ["a", "z", null, "d"], "x": {"y": {"z": 1}}})
            )
        );
        // Past the end of an array, an object on the way.
        assert_eq!(
            patched(json!({"l": []}), json!({"l.1.k": true})),
            Ok(json!({"l": [null, {"k": true}]}))
        );
    }

    #[test]
    fn operators() {
        let doc =
            json!({"n": 1, "f": 0.5, "gone": true, "keep": 1, "l": [1, 2, 3], "big": i64::MAX});
        let body = json!({
            "$set": {"s": "x"},
            "$unset": {"gone": "", "missing.deep": "", "l.1": ""},
            "$inc": {"n": 2, "f": 1, "fresh": -3, "big": 1},
        });
        assert_eq!(
            patched(doc, body),
            Ok(
                json!({"n": 3, "f": 1.5, "keep": 1, "l": [1, null, 3], "big": i64::MAX as f64 + 1.0, "s": "x", "fresh": -3})
            )
        );
    }

    #[test]
    fn names_with_pointer_characters_are_names() {
        let doc = json!({"a/b": {"~c": 1}, "l": [0, 1]});
        assert_eq!(
            patched(
                doc,
                json!({"$unset": {"a/b.~c": "", "l.1": ""}, "$inc": {"x~1": 1}})
            ),
            Ok(json!({"a/b": {}, "l": [0, null], "x~1": 1}))
        );
    }

    #[test]
    fn what_mongodb_refuses_is_refused_with_a_reason() {
        let doc = json!({"_id": "1", "name": "a", "nil": null, "l": [1], "dims": {"w": 1}});
        for (body, why) in [
            (json!({"$set": {"a": 1}, "b": 2}), "not both"),
            (json!({"$push": {"l": 2}}), "\"$push\" is not supported"),
            (json!({"$set": 1}), "takes an object"),
            (json!({"$inc": {"name": "x"}}), "takes a number"),
            (json!({"$inc": {"name": 1}}), "not a number"),
            (
                json!({"name.first": "x"}),
                "cannot create field \"first\" in \"name\"",
            ),
            (json!({"nil.x": 1}), "cannot create field \"x\" in \"nil\""),
            (json!({"l.x": 1}), "not an index"),
            (json!({"a..b": 1}), "non-empty"),
            (json!({"l.$": 1}), "positional"),
            (json!({"dims": 1, "dims.w": 2}), "conflict"),
            (json!({"$set": {"a": 1}, "$unset": {"a": ""}}), "conflict"),
            (json!({"$unset": {"_id": ""}}), "_id cannot be changed"),
            (json!({"_id.x": 1}), "_id cannot be changed"),
        ] {
            let e = patched(doc.clone(), body.clone()).unwrap_err();
            assert!(e.contains(why), "{body}: {e}");
        }
    }
}
