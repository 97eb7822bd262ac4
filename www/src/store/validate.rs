//! What may be stored: a document's `_id`, and how deep it nests.

use serde_json::{Map, Value};

use super::doc_id::{lower_object_ids, DocId};
use super::ejson::{is_scalar, is_type_key};
use super::etag;
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
/// `$` name (`$inc`, `$set`) anywhere in a document, but in an ObjectId (`{"$oid": …}`). Stored
/// as fields, they would make a page that works here and does something else against the real
/// server.
pub(super) fn check_field_names(doc: &Map<String, Value>) -> AppResult<()> {
    doc.iter().try_for_each(|(k, v)| {
        if k.starts_with('$') {
            Err(refused(k))
        } else {
            check_value(v)
        }
    })
}

/// `check_field_names` for a value: every object in it.
pub(super) fn check_value(v: &Value) -> AppResult<()> {
    match v {
        // An ObjectId, a date… in Extended JSON, as RESTHeart reads and writes them, is a value.
        _ if is_scalar(v) => Ok(()),
        Value::Object(map) => check_field_names(map),
        Value::Array(items) => items.iter().try_for_each(check_value),
        _ => Ok(()),
    }
}

fn refused(name: &str) -> AppError {
    if name == "$oid" {
        return AppError::bad_request(
            "an ObjectId is {\"$oid\": \"<24 hex digits>\"}, alone in its object",
        );
    }
    if is_type_key(name) {
        return AppError::BadRequest(format!(
            "{name:?}: not a well-formed Extended JSON value: alone in its object, $date takes \
             milliseconds or an ISO-8601 UTC time ending in Z, $timestamp {{\"t\": …, \"i\": …}}, \
             $numberLong, $numberInt, $numberDouble and $numberDecimal a number as a string"
        ));
    }
    AppError::BadRequest(format!(
        "field {name:?}: MongoDB reads a name starting with '$' as an operator, not as data; \
         update operators go at the top of a PATCH body"
    ))
}

/// The document with its `_id`: the given one (validated) or a new ObjectId.
/// Its `_etag` is the server's, a fresh one (see `etag`).
pub(super) fn with_id(mut doc: Map<String, Value>) -> AppResult<(DocId, Value)> {
    doc.remove(etag::FIELD);
    check_field_names(&doc)?;
    let id = match doc.get("_id") {
        None => DocId::new_oid(),
        Some(v) => DocId::from_json(v).map_err(AppError::BadRequest)?,
    };
    doc.insert("_id".into(), id.json());
    etag::stamp(&mut doc);
    let mut doc = Value::Object(doc);
    lower_object_ids(&mut doc);
    check_depth(&doc)?;
    Ok((id, doc))
}
