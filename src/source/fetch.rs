//! The fetch transport's side of the state machine: the request with real headers (the token as
//! `Authorization: Bearer`, the resume id as `Last-Event-ID`), the status decided from the
//! response itself with no probe, and the body parsed in wasm a chunk at a time.

use livesource_protocol::sse::{Item, Parser};

use super::Inner;
use crate::auth::headers::Headers;
use crate::error::Error;
use crate::options::Transport;
use crate::platform;
use crate::policy::backoff::parse_retry_after;
use crate::policy::failure::Probe;
use crate::policy::resume::Reconnect;
use crate::source::dispatch::State;
use crate::transport::{Conn, FetchConnection, Head};

impl Inner {
    pub(super) fn open_fetch(&self, generation: u64, token: Option<String>, extra: Headers) {
        let options = &self.options;
        // A native source's takeover (`Inner::takeover_by_fetch`) asks exactly what its
        // `EventSource` would, token and resume id in the URL, and adds the header; like an
        // `EventSource`, it puts no bound on an event's size.
        let native = options.transport == Transport::EventSource;
        // For a native source this connection stands in for an `EventSource`: after an open
        // stream dropped, for the browser's own reconnect of it (the id buffer carried over,
        // nothing on it a repeat); otherwise for a new one (an empty id buffer, and a leading
        // replay of what was delivered dropped once, for a server that read neither the header
        // nor the query).
        let how = if native && !self.dropped_open.replace(false) {
            Reconnect::Takeover
        } else {
            Reconnect::Native
        };
        self.fetch_as.set(how);
        let resume_id = self.resume.borrow().last_id().map(str::to_owned);
        let token_in_query = native || options.token_in_query;
        let url = self.connect_url(
            resume_id
                .as_deref()
                .filter(|_| native || options.resume_in_query),
            token.as_deref().filter(|_| token_in_query),
        );
        let bearer = token.filter(|_| !token_in_query);
        let mut headers: Headers = vec![("Accept".into(), "text/event-stream".into())];
        if let Some(id) = &resume_id {
            headers.push(("Last-Event-ID".into(), header_bytes(id)));
        }
        // The token function's result wins over an `Authorization` the headers function gave.
        headers.extend(
            extra
                .into_iter()
                .filter(|(n, _)| bearer.is_none() || !n.eq_ignore_ascii_case("authorization")),
        );
        if let Some(token) = bearer {
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        // Each connection parses afresh, but the last event id buffer carries over, as it does
        // across an `EventSource`'s own reconnects; a new `EventSource`'s starts empty.
        let limit = if native {
            usize::MAX
        } else {
            options.max_event_bytes as usize
        };
        let mut parser = Parser::with_limit(limit).with_last_event_id(match how {
            Reconnect::Native => resume_id.as_deref().unwrap_or(""),
            Reconnect::Takeover => "",
        });
        let (on_head, on_chunk, on_end) = (self.me.clone(), self.me.clone(), self.me.clone());
        let conn = FetchConnection::open(
            &url,
            &headers,
            options.with_credentials,
            move |head| {
                on_head
                    .upgrade()
                    .filter(|s| s.current(generation))
                    .is_some_and(|s| s.fetch_head(&head))
            },
            move |bytes| match on_chunk.upgrade().filter(|s| s.current(generation)) {
                Some(s) => s.fetch_chunk(generation, &mut parser, bytes),
                None => false,
            },
            move |result| {
                if let Some(s) = on_end.upgrade().filter(|s| s.current(generation)) {
                    s.fetch_ended(result);
                }
            },
        );
        self.opened.set(false);
        *self.attempt_url.borrow_mut() = url;
        match conn {
            Ok(conn) => *self.conn.borrow_mut() = Some(Conn::Fetch(conn)),
            Err(reason) => {
                self.emit_error(&Error::Network(format!("cannot start a request: {reason}")));
                self.reconnect_later(None);
            }
        }
    }

    /// Reads the body of a live event stream; anything else is decided here, as the native
    /// transport's probe decides it, and the body is not read.
    fn fetch_head(&self, head: &Head) -> bool {
        let event_stream = crate::policy::failure::is_event_stream(&head.content_type);
        if head.status == 200 && event_stream {
            // The header told the server where we are, so with the fetch transport nothing on
            // this connection is a repeat; a native source's follows `open_fetch`'s choice.
            self.resume.borrow_mut().new_connection(self.fetch_as.get());
            self.opened();
            self.start_watchdog();
            return true;
        }
        let url = self.attempt_url.borrow().clone();
        let answer = Probe::Answered {
            status: head.status,
            retry_after_ms: head
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, platform::now_ms(), platform::parse_http_date)),
            event_stream,
            content_type: head.content_type.clone(),
            retry_hint_ms: None,
        };
        // Aborted first, so the request's end reports nothing more.
        self.drop_connection();
        self.set_state(State::Reconnecting);
        self.after_probe(&answer, &url);
        false
    }

    /// Parses one chunk and delivers what it completes; `false` stops reading.
    fn fetch_chunk(&self, generation: u64, parser: &mut Parser, bytes: &[u8]) -> bool {
        let (mut too_long, mut delivered) = (false, false);
        parser.feed(bytes, &mut |item| {
            if too_long || !self.current(generation) {
                return;
            }
            match item {
                Item::Event(e) => {
                    delivered = true;
                    self.received_text(e.event, e.data, e.id);
                }
                Item::Retry(ms) => self.schedule.borrow_mut().set_retry_hint(ms),
                Item::TooLong => too_long = true,
            }
        });
        if !self.current(generation) {
            return false;
        }
        if delivered && self.oversized_at.borrow().is_some() {
            let at = self.resume.borrow().last_id().unwrap_or("").to_owned();
            if self.oversized_at.borrow().as_deref() != Some(at.as_str()) {
                // Past the over-long event at last: this connection is progress.
                *self.oversized_at.borrow_mut() = None;
                self.schedule.borrow_mut().opened();
            }
        }
        if too_long {
            let at = self.resume.borrow().last_id().unwrap_or("").to_owned();
            *self.oversized_at.borrow_mut() = Some(at);
            let url = self.public_url(&self.attempt_url.borrow());
            self.emit_error(&Error::Network(format!(
                "{url} sent a line or an event over maxEventBytes ({} bytes); reconnecting",
                self.options.max_event_bytes
            )));
            self.drop_connection();
            self.reconnect_later(None);
            return false;
        }
        true
    }

    /// The body ended or the request failed. A stream that was open is resumed after the
    /// server's `retry:` (no error, as the native transport reports none for a drop); a request
    /// that never got an answer is reported as unreachable.
    fn fetch_ended(&self, result: Result<(), String>) {
        let was_open = self.opened.get();
        let native = self.options.transport == Transport::EventSource;
        let url = self.attempt_url.borrow().clone();
        self.drop_connection();
        self.set_state(State::Reconnecting);
        // It ended for another reason than an over-long event: that is no longer a loop.
        self.oversized_at.borrow_mut().take();
        match result {
            Err(_) if !was_open && native => {
                // A native source's takeover by fetch got no answer: an `EventSource` next,
                // which reports a failure of its own if the server is really unreachable.
                self.fetch_unanswered.set(true);
                self.connect();
            }
            Err(reason) if !was_open => self.after_probe(&Probe::Unreachable(reason), &url),
            _ => {
                self.dropped_open.set(native);
                self.reconnect_later(None);
            }
        }
    }
}

/// A header value carrying `text`'s UTF-8 bytes, as the native `EventSource` sends a
/// `Last-Event-ID`. `fetch` takes a header value as a string of chars up to U+00FF, one byte
/// each, so a non-ASCII id is given byte by byte (passed as-is, it would make `fetch` throw).
fn header_bytes(text: &str) -> String {
    text.bytes().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_non_ascii_id_goes_out_as_its_utf8_bytes() {
        assert_eq!(super::header_bytes("42"), "42");
        assert_eq!(super::header_bytes("…"), "\u{e2}\u{80}\u{a6}");
    }
}
