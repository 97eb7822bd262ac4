//! The wptserve handlers web-platform-tests' `eventsource/` cases use (`resources/message.py`,
//! `message2.py`, `last-event-id.py`, `last-event-id2.py`, `status-error.py`,
//! `status-reconnect.py`, and `/common/redirect.py`), ported byte for byte, for
//! `tests/e2e/conformance.test.mjs`: the native `EventSource` beside LiveSource on one page sees
//! here what it would see under wptserve. Where a port differs, its doc says how and why.
//!
//! Query values are read as wptserve's `request.GET` reads them (`query`): `%XX` is the byte it
//! names, so a message may carry CR, LF, NUL, a BOM or bytes that are not UTF-8.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;
use futures_util::StreamExt;
use hyper::ext::ReasonPhrase;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// `message.py`'s `sleep` is capped: a test waits on events, never on a server asleep for long.
const MAX_SLEEP_MS: u64 = 10_000;
/// `message2.py` repeats its block until the client leaves; here at most this many times
/// (a minute), so a page that never closes cannot keep a response alive forever.
const MESSAGE2_BLOCKS: usize = 30;
/// Bound on the `status-reconnect` ids remembered.
const MAX_KEYS: usize = 1_000;

/// What `status-reconnect` remembers: requests seen per id.
#[derive(Default)]
struct Wpt {
    reconnect: Mutex<HashMap<String, u64>>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_test/wpt/message", get(message))
        .route("/_test/wpt/message2", get(message2))
        .route("/_test/wpt/last-event-id", get(last_event_id))
        .route("/_test/wpt/last-event-id2", get(last_event_id2))
        .route("/_test/wpt/status-error", get(status_error))
        .route("/_test/wpt/status-reconnect", get(status_reconnect))
        .route("/_test/wpt/redirect", get(redirect))
        .layer(Extension(Arc::new(Wpt::default())))
}

/// `message.py`: `message` (default `data: data`), then `\n\n` (nothing for `newline=none`;
/// also, beyond wptserve, `\r\r` for `cr` and `\r\n\r\n` for `crlf`), then `\n`, as `mime`
/// (default `text/event-stream`), after `sleep` ms; then the response ends, so the client
/// reconnects as after any dropped stream.
async fn message(RawQuery(raw): RawQuery) -> AppResult<Response> {
    let q = Query::parse(raw.as_deref());
    let message = q.first("message").unwrap_or(b"data: data");
    let newline: &[u8] = match q.first("newline") {
        Some(b"none") => b"",
        Some(b"cr") => b"\r\r",
        Some(b"crlf") => b"\r\n\r\n",
        _ => b"\n\n",
    };
    let mime = q.first("mime").unwrap_or(b"text/event-stream");
    let mime = HeaderValue::from_bytes(mime)
        .map_err(|_| AppError::bad_request("mime is not a valid header value"))?;
    let sleep = q.number("sleep")?.unwrap_or(0).min(MAX_SLEEP_MS);
    let body = [message, newline, b"\n"].concat();
    if sleep > 0 {
        tokio::time::sleep(Duration::from_millis(sleep)).await;
    }
    Ok(respond(StatusCode::OK, None, mime, Body::from(body)))
}

/// `message2.py`: one stream that writes a block of good and malformed lines in pieces (each
/// piece its own chunk, as wptserve writes them), every 2 s, until the client leaves, the server
/// shuts down, or `MESSAGE2_BLOCKS` blocks are out.
async fn message2(State(state): State<AppState>) -> Response {
    const PIECES: [&[u8]; 16] = [
        b"data:msg",
        b"\n",
        b"data: msg",
        b"\n\n",
        b":",
        b"\n",
        b"falsefield:msg",
        b"\n\n",
        b"falsefield:msg",
        b"\n",
        b"Data:data",
        b"\n\n",
        b"data",
        b"\n\n",
        b"data:end",
        b"\n\n",
    ];
    let stop = state.shutdown.child_token();
    let body = async_stream::stream! {
        for _ in 0..MESSAGE2_BLOCKS {
            for piece in PIECES {
                yield Bytes::from_static(piece);
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    };
    let mut response = respond(
        StatusCode::OK,
        None,
        HeaderValue::from_static("text/event-stream"),
        Body::from_stream(body.map(Ok::<_, Infallible>)),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `last-event-id.py`: a request with a `Last-Event-ID` header gets it back as data; one
/// without gets `id: <idvalue>` (default `…`), `retry: 200` and `data: hello`. The header and
/// `idvalue` are echoed as bytes, whatever they hold.
async fn last_event_id(headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let body = match headers
        .get("last-event-id")
        .map(HeaderValue::as_bytes)
        .filter(|id| !id.is_empty())
    {
        Some(id) => [b"data: ", id, b"\n\n"].concat(),
        None => {
            let id = q.first("idvalue").unwrap_or("\u{2026}".as_bytes());
            [b"id: ", id, b"\nretry: 200\ndata: hello\n\n"].concat()
        }
    };
    event_stream(StatusCode::OK, None, body)
}

/// `last-event-id2.py`: `type` 1, an id that persists over events without one; 2 and 3, an id
/// reset by `id:` and by `id` without a colon.
async fn last_event_id2(RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let body: &[u8] = match q.number("type").ok().flatten().unwrap_or(1) {
        1 => b"id: 1\ndata: 1\n\ndata: 2\n\nid: 2\ndata:3\n\ndata:4\n\n",
        2 => b"id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n",
        3 => b"id: 1\ndata: 1\n\nid\ndata:2\n\ndata:3\n\n",
        _ => b"data: invalid_test\n\n",
    };
    event_stream(StatusCode::OK, None, body.to_vec())
}

/// `status-error.py`: `status` (default 404) with the reason phrase `HAHAHAHA`, an event-stream
/// content type, and `data: data` (no body for 204 and 205).
async fn status_error(RawQuery(raw): RawQuery) -> AppResult<Response> {
    let q = Query::parse(raw.as_deref());
    let status = q.status("status", 404)?;
    let body: &[u8] = match status.as_u16() {
        204 | 205 => b"",
        _ => b"data: data\n\n",
    };
    Ok(event_stream(status, Some("HAHAHAHA"), body.to_vec()))
}

/// `status-reconnect.py`: the first request for `id` (default: the status) answers `status`
/// (default 204; reason `TEST`) with `retry: 2` and, with `ok_first`, `data: ok`; every later
/// one a working stream, `data: data`. A redirect status points back at the same URL.
///
/// wptserve tells the first request from the next with a cookie and answers the two in turn
/// for ever, each stream ending at once; here the server counts requests per id (no cookie to
/// share between the two sources on a page), and the working stream stays open after its event
/// until the client leaves, so a `retry: 2` does not turn into a reconnect loop.
async fn status_reconnect(
    State(state): State<AppState>,
    Extension(wpt): Extension<Arc<Wpt>>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let q = Query::parse(raw.as_deref());
    let status = q.status("status", 204)?;
    let key = String::from_utf8_lossy(q.first("id").unwrap_or(status.as_str().as_bytes()));
    let first = {
        let mut seen = wpt.reconnect.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.contains_key(key.as_ref()) && seen.len() >= MAX_KEYS {
            return Err(AppError::bad_request("too many status-reconnect ids"));
        }
        let n = seen.entry(key.into_owned()).or_insert(0);
        *n += 1;
        *n == 1
    };
    if first {
        let mut body = b"retry: 2\n".to_vec();
        if q.has("ok_first") {
            body.extend_from_slice(b"data: ok\n\n");
        }
        let mut response = event_stream(status, Some("TEST"), body);
        if status.is_redirection() {
            let here = uri.path_and_query().map_or("/", |p| p.as_str());
            if let Ok(location) = HeaderValue::from_str(here) {
                response.headers_mut().insert(header::LOCATION, location);
            }
        }
        return Ok(response);
    }
    let stop = state.shutdown.child_token();
    let body = async_stream::stream! {
        yield Bytes::from_static(b"data: data\n\n");
        stop.cancelled().await;
    };
    Ok(respond(
        StatusCode::OK,
        None,
        HeaderValue::from_static("text/event-stream"),
        Body::from_stream(body.map(Ok::<_, Infallible>)),
    ))
}

/// `/common/redirect.py`: `status` (default 302) to `location`, which must be one of these
/// routes (this server redirects nowhere else).
async fn redirect(RawQuery(raw): RawQuery) -> AppResult<Response> {
    let q = Query::parse(raw.as_deref());
    let status = q.status("status", 302)?;
    if !status.is_redirection() {
        return Err(AppError::bad_request("status must be a redirect (3xx)"));
    }
    let location = q
        .first("location")
        .filter(|l| l.starts_with(b"/_test/wpt/"))
        .and_then(|l| HeaderValue::from_bytes(l).ok())
        .ok_or_else(|| AppError::bad_request("location must be a path under /_test/wpt/"))?;
    let mut response = respond(
        status,
        None,
        HeaderValue::from_static("text/plain"),
        Body::empty(),
    );
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

fn event_stream(status: StatusCode, reason: Option<&'static str>, body: Vec<u8>) -> Response {
    respond(
        status,
        reason,
        HeaderValue::from_static("text/event-stream"),
        Body::from(body),
    )
}

fn respond(
    status: StatusCode,
    reason: Option<&'static str>,
    content_type: HeaderValue,
    body: Body,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    if let Some(reason) = reason {
        response
            .extensions_mut()
            .insert(ReasonPhrase::from_static(reason.as_bytes()));
    }
    response
}

/// A query as wptserve's `request.GET` reads it: pairs split on `&`, then on the first `=`;
/// `+` is a space and `%XX` the byte it names (a `%` not followed by two hex digits stays).
struct Query(Vec<(Vec<u8>, Vec<u8>)>);

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((name, value)) => (unescape(name), unescape(value)),
                None => (unescape(pair), Vec::new()),
            })
            .collect();
        Self(pairs)
    }

    /// The first value of `name` (`request.GET.first`).
    fn first(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }

    /// Whether `name` is in the query at all, with or without a value (`name in request.GET`).
    fn has(&self, name: &str) -> bool {
        self.first(name).is_some()
    }

    fn number(&self, name: &str) -> AppResult<Option<u64>> {
        self.first(name)
            .map(|v| {
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .ok_or_else(|| AppError::bad_request(format!("{name} must be a number")))
            })
            .transpose()
    }

    fn status(&self, name: &str, default: u16) -> AppResult<StatusCode> {
        let code = self.number(name)?.unwrap_or(u64::from(default));
        u16::try_from(code)
            .ok()
            .filter(|c| (200..600).contains(c))
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or_else(|| AppError::bad_request(format!("{name} must be between 200 and 599")))
    }
}

fn unescape(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_bytes_as_wptserve_reads_them() {
        let q = Query::parse(Some(
            "message=%EF%BB%BFdata%3A1%0D%00%FF+x&newline=none&ok_first&bad=%zz%4&m=a=b",
        ));
        assert_eq!(
            q.first("message"),
            Some(&b"\xef\xbb\xbfdata:1\r\0\xff x"[..])
        );
        assert_eq!(q.first("newline"), Some(&b"none"[..]));
        assert!(q.has("ok_first"));
        assert_eq!(q.first("ok_first"), Some(&b""[..]));
        assert_eq!(q.first("bad"), Some(&b"%zz%4"[..]));
        assert_eq!(q.first("m"), Some(&b"a=b"[..]));
        assert!(!q.has("missing"));
        assert!(Query::parse(None).first("message").is_none());
    }

    #[test]
    fn statuses_outside_200_to_599_are_refused() {
        let status = |q: &str| Query::parse(Some(q)).status("status", 404).ok();
        assert_eq!(status("status=199"), None);
        assert_eq!(status("status=600"), None);
        assert_eq!(status("status=x"), None);
        assert_eq!(status("status=299").map(|s| s.as_u16()), Some(299));
        assert_eq!(status("other=1"), Some(StatusCode::NOT_FOUND));
    }
}
