//! Lossless resume: the last id seen, a window of recent ids to drop duplicates delivered around a
//! reconnect, and the connect URL that carries the id and the token as query parameters (a new
//! `EventSource` cannot send `Last-Event-ID`, and no `EventSource` can send headers).

use std::collections::VecDeque;
use std::rc::Rc;

use crate::hash::HashSet;

/// How many recent ids are remembered. A server replays from the id we send, so duplicates can
/// only come from the few events in flight around a reconnect; this is far more than that.
pub const DEDUPE_WINDOW: usize = 512;

/// What to do with an incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Deliver,
    Duplicate,
}

/// An id in the dedupe window. Canonical decimal ids (most servers count) are kept as numbers:
/// no allocation, and a cheap hash, on the per-event path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Number(u64),
    Text(Rc<str>),
}

impl Key {
    fn of(id: &str) -> Key {
        match decimal(id) {
            Some(n) => Key::Number(n),
            None => Key::Text(Rc::from(id)),
        }
    }

    fn is(&self, id: &str) -> bool {
        match self {
            Key::Number(n) => decimal(id) == Some(*n),
            Key::Text(t) => &**t == id,
        }
    }
}

/// `id` as a number if it is a canonical decimal (digits only, no leading zero) of at most 15
/// digits, so that it converts exactly to and from a JS number.
pub fn decimal(id: &str) -> Option<u64> {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > 15 || (bytes.len() > 1 && bytes[0] == b'0') {
        return None;
    }
    bytes.iter().try_fold(0u64, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + u64::from(c - b'0'))
    })
}

/// Resume state that outlives each connection.
#[derive(Debug, Default)]
pub struct Resume {
    last_id: Option<String>,
    recent: VecDeque<Key>,
    recent_set: HashSet<Key>,
    /// The id buffer of the current connection. Per the SSE spec an event without an `id:` field
    /// reports the previous id again, so "same as the last one on this connection" means "no id".
    connection_id: Option<Key>,
}

impl Resume {
    pub fn new(initial: Option<String>) -> Self {
        Self {
            last_id: initial.filter(|id| !id.is_empty()),
            ..Self::default()
        }
    }

    /// The id to resume from on the next connection.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// A new connection starts with an empty id buffer.
    pub fn new_connection(&mut self) {
        self.connection_id = None;
    }

    /// Classifies an event by the `lastEventId` the browser reported for it, and records it.
    pub fn accept(&mut self, id: &str) -> Verdict {
        if id.is_empty() || self.connection_id.as_ref().is_some_and(|k| k.is(id)) {
            return Verdict::Deliver;
        }
        let verdict = self.record(Key::of(id));
        if verdict == Verdict::Deliver {
            let last = self.last_id.get_or_insert_with(String::new);
            last.clear();
            last.push_str(id);
        }
        verdict
    }

    /// `accept` for an id that is the canonical decimal `n` (see `decimal`), without its text.
    pub fn accept_number(&mut self, n: u64) -> Verdict {
        if self.connection_id == Some(Key::Number(n)) {
            return Verdict::Deliver;
        }
        let verdict = self.record(Key::Number(n));
        if verdict == Verdict::Deliver {
            let last = self.last_id.get_or_insert_with(String::new);
            last.clear();
            push_decimal(last, n);
        }
        verdict
    }

    fn record(&mut self, key: Key) -> Verdict {
        // One hash for the lookup and the insertion: duplicates are rare.
        if !self.recent_set.insert(key.clone()) {
            self.connection_id = Some(key);
            return Verdict::Duplicate;
        }
        if self.recent.len() == DEDUPE_WINDOW {
            if let Some(old) = self.recent.pop_front() {
                self.recent_set.remove(&old);
            }
        }
        self.recent.push_back(key.clone());
        self.connection_id = Some(key);
        Verdict::Deliver
    }
}

/// Appends `n` in decimal, without the formatting machinery.
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// Returns `url` with each `(name, value)` pair set as a query parameter: earlier values of the
/// same names are removed, `None` only removes. The fragment is kept.
pub fn with_query_params(url: &str, params: &[(&str, Option<&str>)]) -> String {
    let (without_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (base, query) = match without_fragment.find('?') {
        Some(i) => (&without_fragment[..i], &without_fragment[i + 1..]),
        None => (without_fragment, ""),
    };
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !params
                .iter()
                .any(|(name, _)| decode_component(key) == *name)
        })
        .map(str::to_owned)
        .collect();
    for (name, value) in params {
        if let Some(value) = value {
            pairs.push(format!(
                "{}={}",
                encode_component(name),
                encode_component(value)
            ));
        }
    }
    let mut out = String::with_capacity(url.len() + 64);
    out.push_str(base);
    if !pairs.is_empty() {
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out.push_str(fragment);
    out
}

/// Returns `url` with the values of the named query parameters replaced, so it can appear in an
/// error or a log without leaking a credential.
pub fn redact(url: &str, secret_params: &[&str]) -> String {
    let Some(q) = url.find('?') else {
        return url.to_owned();
    };
    let (base, rest) = url.split_at(q + 1);
    let (query, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            if secret_params.contains(&decode_component(key).as_str()) {
                format!("{key}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{base}{}{fragment}", redacted.join("&"))
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+`; malformed escapes are kept literally, as browsers do.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn events_without_ids_are_delivered_and_do_not_move_the_resume_point() {
        let mut r = Resume::new(None);
        r.new_connection();
        assert_eq!(r.accept(""), Verdict::Deliver);
        assert_eq!(r.last_id(), None);
        assert_eq!(r.accept("1"), Verdict::Deliver);
        // A heartbeat without `id:` reports "1" again: it is not a duplicate.
        assert_eq!(r.accept("1"), Verdict::Deliver);
        assert_eq!(r.last_id(), Some("1"));
    }

    #[test]
    fn ids_replayed_after_a_reconnect_are_dropped_once() {
        let mut r = Resume::new(None);
        r.new_connection();
        for id in ["1", "2", "3"] {
            assert_eq!(r.accept(id), Verdict::Deliver);
        }
        r.new_connection();
        assert_eq!(r.accept("2"), Verdict::Duplicate);
        assert_eq!(r.accept("3"), Verdict::Duplicate);
        assert_eq!(r.accept("4"), Verdict::Deliver);
        assert_eq!(r.last_id(), Some("4"));
    }

    #[test]
    fn the_window_is_bounded() {
        let mut r = Resume::new(Some("0".into()));
        r.new_connection();
        for i in 1..=(DEDUPE_WINDOW * 3) {
            assert_eq!(r.accept(&i.to_string()), Verdict::Deliver);
        }
        assert_eq!(r.recent.len(), DEDUPE_WINDOW);
        assert_eq!(r.recent_set.len(), DEDUPE_WINDOW);
        r.new_connection();
        assert_eq!(
            r.accept("1"),
            Verdict::Deliver,
            "forgotten ids are not held forever"
        );
    }

    #[test]
    fn numeric_and_text_forms_of_an_id_are_one_id() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("123456789012345"), Some(123_456_789_012_345));
        for not in ["", "01", "+1", "1e3", "-1", "1234567890123456", "a1"] {
            assert_eq!(decimal(not), None, "{not}");
        }
        let mut r = Resume::new(None);
        r.new_connection();
        assert_eq!(r.accept_number(41), Verdict::Deliver);
        assert_eq!(r.last_id(), Some("41"));
        assert_eq!(r.accept("42"), Verdict::Deliver);
        assert_eq!(
            r.accept_number(42),
            Verdict::Deliver,
            "the connection's id buffer"
        );
        r.new_connection();
        assert_eq!(r.accept("41"), Verdict::Duplicate);
        assert_eq!(r.accept_number(42), Verdict::Duplicate);
        assert_eq!(r.accept("042"), Verdict::Deliver, "not the same id as 42");
        assert_eq!(r.accept_number(43), Verdict::Deliver);
        assert_eq!(r.last_id(), Some("43"));
        let mut s = String::from("x");
        push_decimal(&mut s, 0);
        push_decimal(&mut s, u64::MAX);
        assert_eq!(s, format!("x0{}", u64::MAX));
    }

    #[test]
    fn query_params_are_set_replaced_and_encoded() {
        assert_eq!(
            with_query_params("http://h/s", &[("lastEventId", Some("7"))]),
            "http://h/s?lastEventId=7"
        );
        assert_eq!(
            with_query_params(
                "http://h/s?a=1&access_token=old&lastEventId=3#frag",
                &[("access_token", Some("new tok&=")), ("lastEventId", None)]
            ),
            "http://h/s?a=1&access_token=new%20tok%26%3D#frag"
        );
        assert_eq!(
            with_query_params("/s?x", &[("k", Some("{\"_data\":\"82\"}"))]),
            "/s?x&k=%7B%22_data%22%3A%2282%22%7D"
        );
        assert_eq!(with_query_params("/s?k=1", &[("k", None)]), "/s");
    }

    #[test]
    fn redaction_hides_only_the_named_params() {
        assert_eq!(
            redact(
                "https://h/s?a=1&access_token=eyJ.secret&b=2#x",
                &["access_token"]
            ),
            "https://h/s?a=1&access_token=REDACTED&b=2#x"
        );
        assert_eq!(
            redact("https://h/s?access%5Ftoken=eyJ", &["access_token"]),
            "https://h/s?access%5Ftoken=REDACTED",
            "an encoded name is still recognised"
        );
        assert_eq!(redact("https://h/s", &["access_token"]), "https://h/s");
    }

    #[test]
    fn decoding_tolerates_malformed_escapes() {
        assert_eq!(decode_component("a%2"), "a%2");
        assert_eq!(decode_component("%zz"), "%zz");
        assert_eq!(decode_component("%41+b"), "A b");
        assert_eq!(decode_component("%"), "%");
    }
}
