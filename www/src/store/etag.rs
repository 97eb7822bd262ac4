//! RESTHeart's `_etag`: every write gives a document a fresh ObjectId in `_etag`, sent back as
//! the `ETag` header, and a write may be made conditional on it (optimistic locking).
//!
//! As RESTHeart decides it: a write checks the tag when it sends `If-Match` or asks with
//! `?checkEtag`. Then a document that has a tag needs `If-Match` (409 without it) and the
//! header must be that tag (412 otherwise). A write that creates the document checks nothing.

use serde_json::{Map, Value};

use super::doc_id::{is_object_id_hex, new_object_id};
use crate::error::{AppError, AppResult};

pub const FIELD: &str = "_etag";

/// The condition a write puts on the document's current `_etag`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Precondition {
    if_match: Option<String>,
    required: bool,
}

impl Precondition {
    /// From the request: its `If-Match` header, and whether it asked `?checkEtag`.
    pub fn new(if_match: Option<String>, check_etag: bool) -> Self {
        let required = check_etag || if_match.is_some();
        Self { if_match, required }
    }

    /// Whether a write may go ahead on a document whose tag is `current` (`None`: a document
    /// stored before tags, which only a write without `If-Match` may change).
    pub(super) fn check(&self, current: Option<&str>) -> AppResult<()> {
        if !self.required {
            return Ok(());
        }
        match (&self.if_match, current) {
            (None, None) => Ok(()),
            (None, Some(tag)) => Err(AppError::EtagRequired {
                message: "this write checks the document's ETag (?checkEtag): send the ETag \
                          of the version it changes in If-Match"
                    .into(),
                etag: tag.to_owned(),
            }),
            (Some(sent), Some(tag)) if matches(sent, tag) => Ok(()),
            (Some(sent), current) => Err(AppError::PreconditionFailed {
                message: match current {
                    Some(_) if sent.starts_with('"') || sent.starts_with("W/") => format!(
                        "If-Match {sent:?} is not the document's ETag; RESTHeart sends it as \
                         bare hex digits, without quotes, and compares it so"
                    ),
                    Some(_) if !is_object_id_hex(sent.trim()) => format!(
                        "If-Match {sent:?} is not an ETag this server gives (24 hex digits); \
                         send the document's ETag as it came"
                    ),
                    Some(_) => format!(
                        "If-Match {sent:?} is not the document's ETag: it was changed since; \
                         read it again"
                    ),
                    None => format!("If-Match {sent:?}: the document has no ETag yet"),
                },
                etag: current.map(str::to_owned),
            }),
        }
    }
}

/// The tag a stored document carries, if it has one.
pub fn etag_of(doc: &Value) -> Option<&str> {
    doc.get(FIELD)?.get("$oid")?.as_str()
}

/// Whether a write's `If-Match` names `tag`. RESTHeart compares the bare text as an ObjectId
/// (any case) or else as a string, so a quoted or listed tag never matches there; it does not
/// here either, or a page would work here and not against the real server.
pub fn matches(sent: &str, tag: &str) -> bool {
    let sent = sent.trim();
    is_object_id_hex(sent) && sent.eq_ignore_ascii_case(tag)
}

/// Gives the document a fresh tag (replacing any the request sent: the server owns it).
pub(super) fn stamp(doc: &mut Map<String, Value>) {
    doc.insert(FIELD.into(), serde_json::json!({ "$oid": new_object_id() }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TAG: &str = "62166d53ebdcd56455a1a7aa";

    fn status(p: &Precondition, current: Option<&str>) -> u16 {
        p.check(current)
            .map_or_else(|e| e.status().as_u16(), |()| 200)
    }

    #[test]
    fn unchecked_writes_go_ahead() {
        let p = Precondition::new(None, false);
        assert_eq!(status(&p, Some(TAG)), 200);
        assert_eq!(status(&p, None), 200);
    }

    #[test]
    fn check_etag_without_if_match_is_409_with_the_current_tag() {
        let p = Precondition::new(None, true);
        match p.check(Some(TAG)) {
            Err(AppError::EtagRequired { etag, .. }) => assert_eq!(etag, TAG),
            other => panic!("{other:?}"),
        }
        // A document stored before tags has nothing to check.
        assert_eq!(status(&p, None), 200);
    }

    #[test]
    fn if_match_alone_asks_for_the_check() {
        assert_eq!(
            status(&Precondition::new(Some(TAG.into()), false), Some(TAG)),
            200
        );
        let upper = TAG.to_uppercase();
        assert_eq!(
            status(&Precondition::new(Some(upper), false), Some(TAG)),
            200
        );
        let other = "62166d53ebdcd56455a1a7ab".to_owned();
        match Precondition::new(Some(other), false).check(Some(TAG)) {
            Err(AppError::PreconditionFailed { etag, .. }) => {
                assert_eq!(etag.as_deref(), Some(TAG))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            status(&Precondition::new(Some(TAG.into()), false), None),
            412
        );
    }

    #[test]
    fn only_the_bare_tag_matches_as_on_restheart() {
        for sent in [
            format!("\"{TAG}\""),
            format!("W/\"{TAG}\""),
            "*".into(),
            format!("{TAG}, {TAG}"),
        ] {
            assert!(!matches(&sent, TAG), "{sent}");
            let e = Precondition::new(Some(sent.clone()), false)
                .check(Some(TAG))
                .unwrap_err();
            assert_eq!(e.status().as_u16(), 412, "{sent}");
        }
        let quoted = Precondition::new(Some(format!("\"{TAG}\"")), false);
        assert!(quoted
            .check(Some(TAG))
            .unwrap_err()
            .to_string()
            .contains("without quotes"));
        assert!(matches(&format!(" {TAG} "), TAG));
    }

    #[test]
    fn stamps_replace_what_the_request_sent() {
        let mut doc = Map::new();
        doc.insert(FIELD.into(), json!("mine"));
        stamp(&mut doc);
        let first = etag_of(&Value::Object(doc.clone())).unwrap().to_owned();
        assert!(is_object_id_hex(&first));
        stamp(&mut doc);
        assert_ne!(etag_of(&Value::Object(doc)).unwrap(), first);
        assert_eq!(etag_of(&json!({"_etag": "not an ObjectId"})), None);
    }
}
