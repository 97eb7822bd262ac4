//! What may be stored: a document's `_id`, and how deep it nests.

use serde_json::{Map, Value};

use super::ids::{new_object_id, validate_doc_id};
use crate::error::{AppError, AppResult};

/// Deepest nesting of objects and arrays a stored document may have. Its change event wraps it
/// up to two levels deeper (`updateDescription.updatedFields`), and the log is parsed back with
/// serde_json's limit of 128 levels: a document accepted at 127 levels made an event that no
/// replay could read. MongoDB's own limit is 100.
pub const MAX_DOC_DEPTH: usize = 100;

/// 400 for a document nested deeper than `MAX_DOC_DEPTH`, checked on what would be stored.
pub(super) fn check_depth(doc: &Value) -> AppResult<()> {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if depth(doc) > MAX_DOC_DEPTH {
        return Err(AppError::BadRequest(format!(
            "the document is nested deeper than {MAX_DOC_DEPTH} levels"
        )));
    }
    Ok(())
}

/// 400 for a field name that RESTHeart (MongoDB) would read as an instruction, not as data: a
/// `$` operator (`$inc`, `$set`) anywhere, and with `dotted`, a dotted path (`dims.w`) at the
/// top of a PATCH. Stored as fields, they would make a page that works here and does something
/// else against the real server.
pub(super) fn check_field_names(doc: &Map<String, Value>, dotted: bool) -> AppResult<()> {
    fn walk(v: &Value) -> Option<&str> {
        match v {
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                if k.starts_with('$') {
                    Some(k.as_str())
                } else {
                    walk(v)
                }
            }),
            Value::Array(items) => items.iter().find_map(walk),
            _ => None,
        }
    }
    for (k, v) in doc {
        if k.starts_with('$') || (dotted && k.contains('.')) {
            return Err(refused(k));
        }
        if let Some(k) = walk(v) {
            return Err(refused(k));
        }
    }
    Ok(())
}

fn refused(name: &str) -> AppError {
    AppError::BadRequest(format!(
        "field {name:?}: MongoDB update operators ($inc, $set) and dotted paths are not \
         supported by livesource-dev; send the fields themselves, nested as objects (a JSON \
         merge patch for PATCH)"
    ))
}

/// The document with its `_id`: the given one (validated) or a new ObjectId.
pub(super) fn with_id(mut doc: Map<String, Value>) -> AppResult<(String, Value)> {
    check_field_names(&doc, false)?;
    let id = match doc.get("_id") {
        None => new_object_id(),
        Some(Value::String(id)) => {
            validate_doc_id(id).map_err(AppError::BadRequest)?;
            id.clone()
        }
        Some(_) => return Err(AppError::bad_request("_id must be a string")),
    };
    doc.insert("_id".into(), Value::String(id.clone()));
    let doc = Value::Object(doc);
    check_depth(&doc)?;
    Ok((id, doc))
}
