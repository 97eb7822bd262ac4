//! One committed document change, shaped like a MongoDB change event as RESTHeart streams it.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::ejson::is_scalar;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Insert,
    Update,
    Replace,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Replace => "replace",
            Self::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "insert" => Self::Insert,
            "update" => Self::Update,
            "replace" => Self::Replace,
            "delete" => Self::Delete,
            _ => return None,
        })
    }
}

/// What a stream's live channel carries: a change, or how far the log has got. A change
/// stream's hub sends a position every so often (`StreamHub::new`), after every change up to it,
/// so that a client the stream sends little to learns where it is without a timer.
#[derive(Clone, Debug)]
pub enum Live {
    Change(Arc<Change>),
    Position(u64),
}

impl From<Arc<Change>> for Live {
    fn from(change: Arc<Change>) -> Self {
        Live::Change(change)
    }
}

/// A committed change as it travels from the store to subscribers. `event` is what `$match`
/// stages see; `data` is the same JSON serialised once, so fan-out never re-serialises.
#[derive(Debug)]
pub struct Change {
    /// Position in the durable event log; doubles as the SSE resume id.
    pub seq: u64,
    pub db: String,
    pub coll: String,
    pub doc_id: String,
    pub op: Operation,
    /// Revision of the document after this change (1 on insert, +1 per update/replace).
    pub revision: i64,
    pub event: Value,
    pub data: String,
}

impl Change {
    pub fn new(
        seq: u64,
        db: String,
        coll: String,
        doc_id: String,
        op: Operation,
        revision: i64,
        event: Value,
    ) -> Self {
        let data = event.to_string();
        Self {
            seq,
            db,
            coll,
            doc_id,
            op,
            revision,
            event,
            data,
        }
    }
}

/// Builds the change-event document: `fullDocument` (absent for deletes, as in MongoDB),
/// `documentKey`, `operationType`, `updateDescription` (updates only) and `ns`.
pub fn change_event(
    db: &str,
    coll: &str,
    doc_id: &str,
    op: Operation,
    before: Option<&Value>,
    after: Option<&Value>,
) -> Value {
    let mut event = Map::new();
    if let Some(doc) = after {
        event.insert("fullDocument".into(), doc.clone());
    }
    // The `_id` as the document carries it (an ObjectId as `{"$oid": …}`), as MongoDB reports it.
    let id = after
        .or(before)
        .map(|doc| doc["_id"].clone())
        .filter(|id| !id.is_null())
        .unwrap_or_else(|| json!(doc_id));
    event.insert("documentKey".into(), json!({ "_id": id }));
    event.insert("operationType".into(), json!(op.as_str()));
    if let (Operation::Update, Some(before), Some(after)) = (op, before, after) {
        event.insert(
            "updateDescription".into(),
            update_description(before, after),
        );
    }
    event.insert("ns".into(), json!({ "db": db, "coll": coll }));
    Value::Object(event)
}

/// `{"updatedFields": {dotted.path: new}, "removedFields": [dotted.path]}` between two
/// versions, descending into objects present on both sides as MongoDB reports nested `$set`s.
pub fn update_description(before: &Value, after: &Value) -> Value {
    let mut updated = Map::new();
    let mut removed = Vec::new();
    if let (Value::Object(b), Value::Object(a)) = (before, after) {
        diff_objects(b, a, "", &mut updated, &mut removed);
    }
    json!({ "updatedFields": updated, "removedFields": removed })
}

fn diff_objects(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    prefix: &str,
    updated: &mut Map<String, Value>,
    removed: &mut Vec<Value>,
) {
    for (key, new) in after {
        let path = format!("{prefix}{key}");
        match (before.get(key), new) {
            (Some(old), _) if old == new => {}
            // An ObjectId (`{"$oid": …}`) is one value, reported whole.
            (Some(old @ Value::Object(o)), Value::Object(n))
                if !o.is_empty() && !is_scalar(old) && !is_scalar(new) =>
            {
                diff_objects(o, n, &format!("{path}."), updated, removed)
            }
            _ => {
                updated.insert(path, new.clone());
            }
        }
    }
    for key in before.keys().filter(|k| !after.contains_key(*k)) {
        removed.push(Value::String(format!("{prefix}{key}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_description_reports_nested_paths() {
        let before = json!({"_id":"1","name":"a","dims":{"w":1,"h":2},"gone":true,"o":{"$oid":"62166d53ebdcd56455a1a7ab"}});
        let after = json!({"_id":"1","name":"b","dims":{"w":1,"h":3},"new":[1],"o":{"$oid":"62166d53ebdcd56455a1a7ac"}});
        assert_eq!(
            update_description(&before, &after),
            json!({"updatedFields":{"name":"b","dims.h":3,"new":[1],"o":{"$oid":"62166d53ebdcd56455a1a7ac"}},"removedFields":["gone"]})
        );
    }

    #[test]
    fn delete_events_have_no_full_document() {
        let e = change_event("shop", "p", "1", Operation::Delete, None, None);
        assert!(e.get("fullDocument").is_none());
        assert_eq!(e["documentKey"]["_id"], "1");
        assert_eq!(e["operationType"], "delete");
    }
}
