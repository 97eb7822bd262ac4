//! Where an update's paths lead in a document: made if missing (`slot`), removed (`unset`),
//! and read through JSON Pointers that see array indices as `slot` does.

use serde_json::{Map, Value};

use super::MAX_PADDING;
use crate::store::ejson::is_scalar;

/// Whether `path` passes through an array element in `doc` (where `$rename` cannot go).
pub(super) fn through_array(doc: &Value, path: &[String]) -> bool {
    let mut at = doc;
    for seg in &path[..path.len() - 1] {
        match at {
            Value::Object(map) => match map.get(seg) {
                Some(next) => at = next,
                None => return false,
            },
            Value::Array(_) => return true,
            _ => return false,
        }
    }
    at.is_array()
}

/// The place `path` names, made if missing: objects on the way, as MongoDB creates them, and an
/// array index past the end pads with nulls (at most `padding` of them, all told). Anything
/// else on the way (a scalar, a null, an ObjectId) is an error, as MongoDB's "cannot create
/// field".
pub(super) fn slot<'a>(
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
        if is_scalar(at) {
            return Err(format!(
                "cannot create field {seg:?} in {:?}: it holds {at}, one value",
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

pub(super) fn unset(doc: &mut Value, path: &[String]) {
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

pub(super) fn exists(doc: &Value, path: &[String]) -> bool {
    doc.pointer(&pointer(path)).is_some()
}

/// The JSON Pointer (RFC 6901) of a path: it reads object keys and array indices alike.
pub(super) fn pointer(path: &[String]) -> String {
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

/// The value at `path` through objects only (what a query's dotted field names).
pub(super) fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.as_object()?.get(k))
}
