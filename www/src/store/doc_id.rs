//! Document ids as RESTHeart writes them: an ObjectId is `{"$oid": "<24 hex digits>"}` in JSON
//! (and in every change event), any other id a plain string. In a URL both are the bare text,
//! and 24 hex digits there mean an ObjectId (RESTHeart's default `id_type`, `STRING_OID`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// A document's `_id`. Its `key` (the hex digits, or the string) is what the store and the
/// URL use; its `json` is what documents and change events carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocId {
    /// An ObjectId; the key is its 24 hex digits in lower case.
    Oid(String),
    Str(String),
}

impl DocId {
    /// A fresh ObjectId.
    pub fn new_oid() -> Self {
        Self::Oid(new_object_id())
    }

    /// The id a document's `_id` field gives: a string, or `{"$oid": "<24 hex digits>"}`.
    /// A string of 24 hex digits is refused: its URL would name an ObjectId, so the document
    /// could not be read back by its path, here or on RESTHeart.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        match v {
            Value::String(s) if is_object_id_hex(s) => Err(format!(
                "_id {s:?} is 24 hex digits, which a URL reads as an ObjectId: send \
                 {{\"$oid\": {s:?}}} for an ObjectId, or choose another string"
            )),
            Value::String(s) => validate_doc_id(s).map(|()| Self::Str(s.clone())),
            Value::Object(map) => match map.get("$oid").filter(|_| map.len() == 1) {
                Some(Value::String(hex)) if is_object_id_hex(hex) => {
                    Ok(Self::Oid(hex.to_ascii_lowercase()))
                }
                _ => Err(format!(
                    "_id {v}: an ObjectId is {{\"$oid\": \"<24 hex digits>\"}}"
                )),
            },
            _ => Err("_id must be a string or {\"$oid\": \"<24 hex digits>\"}".into()),
        }
    }

    /// The id a URL's last segment names: 24 hex digits are an ObjectId, anything else a string.
    pub fn from_path(segment: &str) -> Result<Self, String> {
        if is_object_id_hex(segment) {
            Ok(Self::Oid(segment.to_ascii_lowercase()))
        } else {
            validate_doc_id(segment).map(|()| Self::Str(segment.to_owned()))
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Self::Oid(hex) | Self::Str(hex) => hex,
        }
    }

    pub fn json(&self) -> Value {
        match self {
            Self::Oid(hex) => json!({ "$oid": hex }),
            Self::Str(s) => Value::String(s.clone()),
        }
    }
}

/// The key of a stored document's `_id` as read back (a document written by an older version
/// may hold an ObjectId as a plain string); `None` for a document without a readable one.
pub fn key_of(doc: &Value) -> Option<&str> {
    match &doc["_id"] {
        Value::String(s) => Some(s),
        Value::Object(map) => map.get("$oid").and_then(Value::as_str),
        _ => None,
    }
}

/// Every ObjectId in `v` with its hex digits in lower case, as MongoDB writes one back: an id
/// sent in upper case is then equal to itself when compared (`$match`, `documentKey`).
pub fn lower_object_ids(v: &mut Value) {
    let oid = is_object_id(v);
    match v {
        Value::Object(map) if oid => {
            if let Some(Value::String(hex)) = map.get_mut("$oid") {
                hex.make_ascii_lowercase();
            }
        }
        Value::Object(map) => map.values_mut().for_each(lower_object_ids),
        Value::Array(items) => items.iter_mut().for_each(lower_object_ids),
        _ => {}
    }
}

/// Whether `v` is an ObjectId in Extended JSON, `{"$oid": "<24 hex digits>"}`: one value,
/// never an object of fields (to store, to walk into, or to diff).
pub fn is_object_id(v: &Value) -> bool {
    v.as_object().is_some_and(|map| {
        map.len() == 1
            && map
                .get("$oid")
                .and_then(Value::as_str)
                .is_some_and(is_object_id_hex)
    })
}

/// Whether `s` is 24 hex digits: an ObjectId's text, in a URL or in `{"$oid": …}`.
pub fn is_object_id_hex(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh 24-hex-digit id laid out like a MongoDB ObjectId: 4 bytes of seconds since the
/// epoch, 5 random bytes fixed per process, and a 3-byte counter, so ids sort by creation time
/// and never collide within one process.
pub(super) fn new_object_id() -> String {
    static PROCESS_RANDOM: std::sync::OnceLock<[u8; 5]> = std::sync::OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let random = PROCESS_RANDOM.get_or_init(|| {
        let mut bytes = [0u8; 5];
        // If the OS has no entropy source we still produce unique ids via time + counter.
        let _ = getrandom::getrandom(&mut bytes);
        bytes
    });
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
    let mut out = String::with_capacity(24);
    for b in secs
        .to_be_bytes()
        .iter()
        .chain(random)
        .chain(&count.to_be_bytes()[1..])
    {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks a string id. Ids appear as a path segment, so they must survive one: no slashes, no
/// control characters, not empty, bounded length.
fn validate_doc_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("_id must not be empty".into());
    }
    if id.len() > 128 {
        return Err("_id must be at most 128 bytes".into());
    }
    if id.chars().any(|c| c == '/' || c.is_control()) {
        return Err("_id must not contain '/' or control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_oids_are_24_hex_and_unique() {
        let (a, b) = (DocId::new_oid(), DocId::new_oid());
        assert_eq!(a.key().len(), 24);
        assert!(a.key().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a.json(), json!({ "$oid": a.key() }));
    }

    #[test]
    fn from_json() {
        let hex = "62166d53ebdcd56455a1a7ab";
        assert_eq!(
            DocId::from_json(&json!({ "$oid": hex })),
            Ok(DocId::Oid(hex.into()))
        );
        assert_eq!(
            DocId::from_json(&json!({ "$oid": hex.to_uppercase() })),
            Ok(DocId::Oid(hex.into()))
        );
        assert_eq!(
            DocId::from_json(&json!("abc-1")),
            Ok(DocId::Str("abc-1".into()))
        );
        let refused = [
            (json!(hex), "reads as an ObjectId"),
            (json!({ "$oid": "abc" }), "24 hex digits"),
            (json!({ "$oid": hex, "x": 1 }), "24 hex digits"),
            (json!(7), "must be a string"),
            (json!(""), "must not be empty"),
            (json!("a/b"), "'/'"),
            (json!("a\nb"), "control"),
        ];
        for (v, why) in refused {
            let e = DocId::from_json(&v).unwrap_err();
            assert!(e.contains(why), "{v}: {e}");
        }
    }

    #[test]
    fn from_path() {
        let hex = "62166D53EBDCD56455A1A7AB";
        assert_eq!(
            DocId::from_path(hex),
            Ok(DocId::Oid(hex.to_ascii_lowercase()))
        );
        assert_eq!(
            DocId::from_path("chair-1"),
            Ok(DocId::Str("chair-1".into()))
        );
        assert_eq!(
            DocId::from_path("62166d53"),
            Ok(DocId::Str("62166d53".into()))
        );
        assert!(DocId::from_path("").is_err());
    }

    #[test]
    fn object_ids_anywhere_are_lower_cased() {
        let hex = "62166D53EBDCD56455A1A7AB";
        let mut v =
            json!({"a": {"$oid": hex}, "l": [{"$oid": hex}], "s": hex, "x": {"$oid": "AB"}});
        lower_object_ids(&mut v);
        let low = hex.to_ascii_lowercase();
        assert_eq!(
            v,
            json!({"a": {"$oid": low}, "l": [{"$oid": low}], "s": hex, "x": {"$oid": "AB"}})
        );
    }

    #[test]
    fn keys_of_stored_documents() {
        assert_eq!(key_of(&json!({"_id": {"$oid": "ab"}})), Some("ab"));
        assert_eq!(key_of(&json!({"_id": "old"})), Some("old"));
        assert_eq!(key_of(&json!({"x": 1})), None);
    }
}
