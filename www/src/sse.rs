//! Server-Sent Events: the wire format (this file), the response every SSE endpoint shares
//! (`response`), the channel that fans one stream out to its clients (`fanout`), and the cap on
//! the streams one client address holds open (`limit`).
//!
//! Why not `axum::response::Sse`: its `Event` is built and serialised per response and cannot
//! be made from bytes already built, so no event could be shared between clients. Here
//! endpoints yield ready `Bytes`: a patch frame is built once per publish and the same `Bytes`
//! (a reference count, not a copy) goes to every subscriber of the topic, and a change's JSON
//! is serialised once, when it is written, each client's frame only wrapping it. `response`
//! also does what `Sse` would leave to every endpoint: `retry:` before anything else; a
//! `heartbeat` event on a fixed period (axum's keep-alive restarts its timer on every event and
//! is a comment by default, which scripts never see); a farewell frame and the end of the
//! stream on shutdown; the count of open responses for `/ready`; and `X-Accel-Buffering: no`
//! for nginx.

use bytes::Bytes;

mod fanout;
mod limit;
mod response;
pub use fanout::{ConnCut, Fanout, Subscription};
pub use limit::{client_key, Slot, SseLimit};
pub use response::{response, SseClients, SseOptions};

/// Rejects what would let a value escape its field: CR or LF end the line (and so could start
/// a forged `data:`/`id:` field), and NUL makes browsers ignore an `id` silently.
pub fn check_field(what: &str, value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(format!("{what} must not contain CR, LF or NUL"));
    }
    Ok(())
}

/// One `event`/`id`/`data` frame. Data is split on every line ending the SSE parser knows
/// (CRLF, CR, LF) into `data:` lines, so it arrives byte-for-byte, joined by `\n`.
pub fn frame(event: Option<&str>, id: Option<&str>, data: &str) -> Result<Bytes, String> {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(event) = event {
        check_field("event name", event)?;
        out.push_str("event: ");
        out.push_str(event);
        out.push('\n');
    }
    if let Some(id) = id {
        check_field("event id", id)?;
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    for line in data.split("\r\n").flat_map(|l| l.split(['\r', '\n'])) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Ok(Bytes::from(out))
}

/// A frame whose name and id are our own constants or decimal numbers; only `data` is dynamic
/// and `frame` makes any data safe, so this cannot fail for such input.
pub fn trusted_frame(event: &'static str, id: Option<u64>, data: &str) -> Bytes {
    let id = id.map(|n| n.to_string());
    frame(Some(event), id.as_deref(), data).unwrap_or_else(|e| unreachable!("constant fields: {e}"))
}

pub fn retry_frame(ms: u64) -> Bytes {
    Bytes::from(format!("retry: {ms}\n\n"))
}

/// A comment frame. Only the test routes send one: scripts never see comments (see `heartbeat`).
#[cfg(feature = "test-routes")]
pub fn comment(text: &'static str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

/// `event: heartbeat` with no id. An event, not a comment: scripts never see comments, so only
/// an event lets a client tell a quiet stream from a dead one.
pub fn heartbeat() -> Bytes {
    trusted_frame("heartbeat", None, "{}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The frame as a browser reads it, with the workspace's one SSE parser (the library's):
    /// (event type, last event id, data) of the single event it must dispatch.
    fn parse(frame: &[u8]) -> (String, String, String) {
        let mut events = Vec::new();
        livesource_protocol::sse::Parser::new().feed(frame, &mut |item| match item {
            livesource_protocol::sse::Item::Event(e) => {
                events.push((e.event.to_owned(), e.id.to_owned(), e.data.to_owned()))
            }
            other => panic!("{other:?} in {frame:?}"),
        });
        assert_eq!(events.len(), 1, "{frame:?}");
        events.remove(0)
    }

    #[test]
    fn multi_line_data() {
        let f = frame(Some("change"), Some("7"), "a\nb\r\nc\rd").unwrap();
        assert_eq!(
            &f[..],
            b"event: change\nid: 7\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn injection_is_rejected() {
        assert!(frame(Some("x\ndata: evil"), None, "").is_err());
        assert!(frame(None, Some("1\r"), "").is_err());
        assert!(frame(None, Some("1\0"), "").is_err());
    }

    proptest! {
        #[test]
        fn frames_round_trip(event in "\\PC{0,12}", id in "\\PC{0,12}", data in any::<String>()) {
            match frame(Some(&event), Some(&id), &data) {
                Ok(bytes) => {
                    let text = std::str::from_utf8(&bytes).unwrap();
                    prop_assert!(text.ends_with("\n\n"));
                    let (e, i, d) = parse(&bytes);
                    // An empty event name is the default type.
                    let want = if event.is_empty() { "message" } else { event.as_str() };
                    prop_assert_eq!(e, want);
                    prop_assert_eq!(i, id);
                    let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
                    prop_assert_eq!(d, normalized);
                }
                Err(_) => prop_assert!(event.contains(['\r', '\n', '\0']) || id.contains(['\r', '\n', '\0'])),
            }
        }
    }
}
