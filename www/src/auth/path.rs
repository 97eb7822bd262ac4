//! The one canonical form of a request path, decided once per request (by `http`'s
//! `canonicalize` middleware), before the access rules and the router's extractors look at it.
//!
//! Access rules used to compare the raw path while handlers saw axum's percent-decoded `Path`,
//! so `/hr/%73alaries` passed a rule on `/hr/salaries` and still reached that collection. Now a
//! path is split into segments and each is percent-decoded exactly as axum decodes a path
//! parameter; rules match those segments. Spellings that could mean something else to some
//! other layer (empty segments, `.` and `..`, malformed escapes, control characters, bytes that
//! are not UTF-8) are refused with 400 rather than guessed at.

use crate::store::is_object_id_hex;

/// A request path as the handlers see it: decoded segments, none empty. A segment may contain
/// `/` (sent as `%2F`): it is still one segment, as it is to axum's router and `Path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalPath(Vec<String>);

impl CanonicalPath {
    /// Parses a raw request path (`Uri::path`, still percent-encoded). A single trailing `/`
    /// is allowed and ignored: the router has no route it would reach differently.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let rest = raw
            .strip_prefix('/')
            .ok_or_else(|| "the path must start with '/'".to_owned())?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Ok(Self(Vec::new()));
        }
        rest.split('/')
            .map(|segment| {
                if segment.is_empty() {
                    return Err("the path has an empty segment ('//')".to_owned());
                }
                let decoded = percent_decode(segment)?;
                if decoded == "." || decoded == ".." {
                    return Err("the path has a '.' or '..' segment".to_owned());
                }
                if decoded.chars().any(char::is_control) {
                    return Err("the path has a control character".to_owned());
                }
                Ok(decoded)
            })
            .collect::<Result<_, _>>()
            .map(Self::from_segments)
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The path of a document, for checking rules on what a collection route returns.
    pub fn document(db: &str, coll: &str, id: &str) -> Self {
        Self::from_segments(vec![db.to_owned(), coll.to_owned(), id.to_owned()])
    }

    /// Already-decoded segments (none empty, `.` or `..`: callers pass names they validated).
    /// A document id of 24 hex digits is an ObjectId in either case (`DocId::from_path`): it is
    /// compared in lower case, so `/db/coll/62166D53…` meets the rules on `/db/coll/62166d53…`.
    pub(crate) fn from_segments(mut segments: Vec<String>) -> Self {
        if let [db, coll, id, ..] = segments.as_mut_slice() {
            if !db.starts_with('_') && !coll.starts_with('_') && is_object_id_hex(id) {
                id.make_ascii_lowercase();
            }
        }
        Self(segments)
    }
}

impl std::fmt::Display for CanonicalPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.0 {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

/// Strict RFC 3986 percent-decoding: a `%` not followed by two hex digits is an error, not a
/// literal, so no two layers can disagree about what it means.
fn percent_decode(segment: &str) -> Result<String, String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "the path has a malformed percent-escape".to_owned())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the path does not decode to UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(raw: &str) -> Vec<String> {
        CanonicalPath::parse(raw).unwrap().0
    }

    #[test]
    fn decodes_like_axum_path_parameters() {
        assert_eq!(segs("/hr/%73alaries"), ["hr", "salaries"]);
        assert_eq!(segs("/%68r/salaries/alice"), ["hr", "salaries", "alice"]);
        assert_eq!(segs("/hr/salaries/"), ["hr", "salaries"]);
        assert_eq!(segs("/a%2Fb/c"), ["a/b", "c"]);
        assert_eq!(segs("/caf%C3%A9"), ["café"]);
        assert_eq!(segs("/"), Vec::<String>::new());
        assert_eq!(
            CanonicalPath::parse("/a%2fb/c").unwrap().to_string(),
            "/a/b/c"
        );
    }

    #[test]
    fn refuses_ambiguous_spellings() {
        for bad in [
            "",
            "hr",
            "//hr",
            "/hr//salaries",
            "/hr/./salaries",
            "/hr/../hr/salaries",
            "/hr/%2e%2E/salaries",
            "/hr/%2e",
            "/hr/%",
            "/hr/%7",
            "/hr/%zz",
            "/hr/%00",
            "/hr/%0A",
            "/hr/%FF",
            "/hr/salaries//",
        ] {
            assert!(
                CanonicalPath::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
