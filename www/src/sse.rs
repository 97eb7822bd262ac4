//! The SSE wire format and the response every SSE endpoint shares: headers, `retry:` hint,
//! keep-alives, the connected-client count, and the shutdown cut-off.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

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

pub fn comment(text: &'static str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

/// Number of open SSE responses, for `/ready`. Each response holds a guard; the count drops
/// when hyper drops the body, i.e. at the first failed write after the client left.
#[derive(Clone, Default)]
pub struct SseClients(Arc<AtomicUsize>);

impl SseClients {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn enter(&self) -> ClientGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        ClientGuard(self.0.clone())
    }
}

struct ClientGuard(Arc<AtomicUsize>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `event: heartbeat` with no id. An event, not a comment: scripts never see comments, so only
/// an event lets a client tell a quiet stream from a dead one.
pub fn heartbeat() -> Bytes {
    trusted_frame("heartbeat", None, "{}")
}

/// What wraps an endpoint's own frames.
pub struct SseOptions {
    /// Sent once, first.
    pub retry_ms: u64,
    /// Frame sent every interval (a comment, or a `heartbeat` event); `None` for silence.
    pub keepalive: Option<(Duration, Bytes)>,
    /// Sent when the server shuts down, before the stream closes.
    pub farewell: Option<Bytes>,
}

/// Turns `frames` into an SSE response. The stream ends when `frames` ends (the endpoint cut
/// the client off, e.g. for falling behind) or on shutdown, so no response outlives the
/// server's drain.
pub fn response<S>(
    frames: S,
    options: SseOptions,
    clients: &SseClients,
    shutdown: CancellationToken,
) -> Response
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let guard = clients.enter();
    let SseOptions {
        retry_ms,
        keepalive,
        farewell,
    } = options;
    let body = async_stream::stream! {
        let _guard = guard;
        // Polled on every frame, so it is this stream's own: the shared token's lock would be
        // taken (twice) per frame by every stream on the server.
        let stopping = shutdown.child_token().cancelled_owned();
        futures_util::pin_mut!(stopping);
        yield retry_frame(retry_ms);
        let frames = frames;
        futures_util::pin_mut!(frames);
        let (period, ping) = match keepalive {
            Some((period, ping)) => (Some(period), ping),
            None => (None, Bytes::new()),
        };
        // A week stands in for "never" so one `select!` serves both cases.
        let period = period.unwrap_or(Duration::from_secs(7 * 24 * 3600));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = &mut stopping => {
                    if let Some(farewell) = farewell {
                        yield farewell;
                    }
                    break;
                }
                next = frames.next() => match next {
                    Some(bytes) => yield bytes,
                    None => break,
                },
                _ = ticks.tick(), if !ping.is_empty() => yield ping.clone(),
            }
        }
    };
    let mut response = Body::from_stream(body.map(Ok::<_, Infallible>)).into_response();
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx: pass each frame through at once instead of buffering the response.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A minimal SSE parser following the WHATWG algorithm, to check frames round-trip.
    fn parse(frame: &str) -> (Option<String>, Option<String>, String) {
        let (mut event, mut id, mut data) = (None, None, Vec::new());
        for line in frame.split('\n') {
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => event = Some(value.to_owned()),
                "id" => id = Some(value.to_owned()),
                "data" => data.push(value.to_owned()),
                _ => {}
            }
        }
        (event, id, data.join("\n"))
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
                    let body = &text[..text.len() - 2];
                    let (e, i, d) = parse(body);
                    prop_assert_eq!(e.as_deref(), Some(event.as_str()));
                    prop_assert_eq!(i.as_deref(), Some(id.as_str()));
                    let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
                    prop_assert_eq!(d, normalized);
                }
                Err(_) => prop_assert!(event.contains(['\r', '\n', '\0']) || id.contains(['\r', '\n', '\0'])),
            }
        }
    }
}
