//! A PATCH body, applied as RESTHeart applies it: MongoDB update semantics. Plain fields are
//! `$set` (a value replaces the field whole; `null` stores null), a key may be a dotted path
//! (`dims.w`, `tags.0`), and the operators `$set`, `$unset` and `$inc` may be used instead.

use serde_json::{Map, Number, Value};

use super::doc_id::is_object_id;
use super::validate::MAX_DOC_DEPTH;

/// Most `null`s one PATCH may add to arrays to reach an index past their end: MongoDB pads
/// too, but a request must not grow a document without bound.
const MAX_PADDING: usize = 10_000;

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

/// The operations a PATCH body asks for. Plain fields are each a `$set`, beside any operators,
/// as RESTHeart moves them into `$set` before it hands the update to MongoDB. Paths may not
/// overlap (MongoDB refuses the update).
pub fn parse(body: &Map<String, Value>) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    for (key, arg) in body {
        if !key.starts_with('$') {
            ops.push(Op::Set(path(key)?, arg.clone()));
            continue;
        }
        let Value::Object(fields) = arg else {
            return Err(format!("{key} takes an object of fields"));
        };
        for (field, value) in fields {
            let p = path(field)?;
            ops.push(match key.as_str() {
                "$set" => Op::Set(p, value.clone()),
                "$unset" => Op::Unset(p),
                "$inc" => match value {
                    Value::Number(n) => Op::Inc(p, n.clone()),
                    _ => return Err(format!("$inc of {field:?} takes a number, got {value}")),
                },
                other => {
                    return Err(format!(
                        "update operator {other:?} is not supported by livesource-dev: use \
                         $set, $unset or $inc"
                    ))
                }
            });
        }
    }
    // Sorted, a path's extensions come right after it: neighbours are enough to find overlaps.
    let mut paths: Vec<&[String]> = ops.iter().map(Op::path).collect();
    paths.sort_unstable();
    if let Some(w) = paths.windows(2).find(|w| w[1].starts_with(w[0])) {
        return Err(format!(
            "updating {:?} and {:?} at once would conflict",
            w[0].join("."),
            w[1].join(".")
        ));
    }
    Ok(ops)
}

fn path(key: &str) -> Result<Vec<String>, String> {
    let segments: Vec<String> = key.split('.').map(str::to_owned).collect();
    if segments.len() > MAX_DOC_DEPTH {
        return Err(format!(
            "field path {:?}…: deeper than the {MAX_DOC_DEPTH} levels a document may nest",
            key.chars().take(40).collect::<String>()
        ));
    }
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
    let mut padding = MAX_PADDING;
    for op in ops {
        if op.path()[0] == "_id" {
            // A `$set` of `_id` itself is allowed when it names the document (the caller
            // checks that: it knows the path's id); nothing may change it.
            if matches!(op, Op::Set(p, _) if p.len() == 1) {
                continue;
            }
            return Err("_id cannot be changed".into());
        }
        if op.path()[0] == super::etag::FIELD {
            // The server writes a new tag on every update; one sent back with the document is
            // dropped, as RESTHeart overwrites it. Nothing else may touch it.
            if matches!(op, Op::Set(p, _) if p.len() == 1) {
                continue;
            }
            return Err("_etag is written by the server on every update".into());
        }
        match op {
            Op::Set(p, v) => *slot(&mut out, p, &mut padding)? = v.clone(),
            Op::Unset(p) => unset(&mut out, p),
            Op::Inc(p, by) => {
                let missing = !exists(&out, p);
                let at = slot(&mut out, p, &mut padding)?;
                *at = match &*at {
                    _ if missing => Value::Number(by.clone()),
                    Value::Number(n) => Value::Number(add(n, by).ok_or_else(|| {
                        format!("$inc of {:?}: {n} + {by} overflows", p.join("."))
                    })?),
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
/// array index past the end pads with nulls (at most `padding` of them, all told). Anything
/// else on the way (a scalar, a null, an ObjectId) is an error, as MongoDB's "cannot create
/// field".
fn slot<'a>(
    doc: &'a mut Value,
    path: &[String],
    padding: &mut usize,
) -> Result<&'a mut Value, String> {
    let mut at = doc;
    for (depth, seg) in path.iter().enumerate() {
        let fresh = || {
            if depth + 1 == path.len() {
                Value::Null
            } else {
                Value::Object(Map::new())
            }
        };
        if is_object_id(at) {
            return Err(format!(
                "cannot create field {seg:?} in {:?}: it holds an ObjectId",
                path[..depth].join(".")
            ));
        }
        at = match at {
            Value::Object(map) => map.entry(seg.clone()).or_insert_with(fresh),
            Value::Array(items) => {
                let i = index(seg).ok_or_else(|| {
                    format!(
                        "{:?} is an array: {seg:?} is not an index",
                        path[..depth].join(".")
                    )
                })?;
                let pad = (i + 1).saturating_sub(items.len());
                *padding = padding.checked_sub(pad).ok_or_else(|| {
                    format!(
                        "index {i} of {:?} would add more than {MAX_PADDING} nulls",
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

/// An array index as JSON Pointer spells it (digits, no sign, no leading zero), so `exists`
/// and `unset` (which go through pointers) read the same element as `slot`.
fn index(seg: &str) -> Option<usize> {
    let canonical =
        seg.bytes().all(|b| b.is_ascii_digit()) && (seg == "0" || !seg.starts_with('0'));
    canonical.then(|| seg.parse().ok()).flatten()
}

/// Integers add as integers (an i64 overflow is an error, as MongoDB's), anything else as
/// floating point (a sum past its range is an error too).
fn add(a: &Number, b: &Number) -> Option<Number> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x.checked_add(y).map(Number::from),
        _ => Number::from_f64(a.as_f64()? + b.as_f64()?),
    }
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
    fn operators_and_plain_fields_together() {
        let doc = json!({"n": 1, "f": 0.5, "gone": true, "keep": 1, "l": [1, 2, 3]});
        let body = json!({
            "$set": {"s": "x"},
            "$unset": {"gone": "", "missing.deep": "", "l.1": ""},
            "$inc": {"n": 2, "f": 1, "fresh": -3},
            // RESTHeart moves a plain field into `$set`.
            "plain": true,
        });
        assert_eq!(
            patched(doc, body),
            Ok(json!({
                "n": 3, "f": 1.5, "keep": 1, "l": [1, null, 3], "s": "x", "fresh": -3,
                "plain": true,
            }))
        );
    }

    #[test]
    fn names_with_pointer_characters_are_names() {
        let doc = json!({"a/b": {"~c": 1}, "l": [0, 1], "x~1": 1});
        let body = json!({"$unset": {"a/b.~c": "", "l.1": ""}, "$inc": {"x~1": 1}});
        assert_eq!(
            patched(doc, body),
            Ok(json!({"a/b": {}, "l": [0, null], "x~1": 2}))
        );
    }

    #[test]
    fn what_mongodb_refuses_is_refused_with_a_reason() {
        let doc = json!({
            "_id": "1", "name": "a", "nil": null, "l": [1], "m": [], "dims": {"w": 1},
            "big": i64::MAX, "f": 1.7e308, "ref": {"$oid": "62166d53ebdcd56455a1a7ab"},
        });
        let deep: String = (0..101).map(|_| "a").collect::<Vec<_>>().join(".");
        for (body, why) in [
            (json!({"$set": {"a": 1}, "a": 2}), "conflict"),
            (json!({"$push": {"l": 2}}), "\"$push\" is not supported"),
            (json!({"$set": 1}), "takes an object"),
            (json!({"$inc": {"name": "x"}}), "takes a number"),
            (json!({"$inc": {"name": 1}}), "not a number"),
            (json!({"$inc": {"big": 1}}), "overflows"),
            (json!({"$inc": {"f": 1.7e308}}), "overflows"),
            (
                json!({"name.first": "x"}),
                "cannot create field \"first\" in \"name\"",
            ),
            (json!({"nil.x": 1}), "cannot create field \"x\" in \"nil\""),
            (json!({"ref.x": 1}), "in \"ref\": it holds an ObjectId"),
            (json!({"l.x": 1}), "not an index"),
            (json!({"l.01": 1}), "not an index"),
            (json!({"l.+1": 1}), "not an index"),
            (json!({"l.10001": 1}), "more than 10000 nulls"),
            (json!({"l.6000": 1, "m.6000": 1}), "more than 10000 nulls"),
            (json!({ deep: 1 }), "deeper than"),
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
