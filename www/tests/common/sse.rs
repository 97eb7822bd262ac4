//! A raw SSE client: every byte on the wire is visible, and any field the server did not mean
//! to send fails the test. The stream is parsed by the workspace's one SSE parser (the
//! library's, `livesource_protocol::sse`), traced line by line for what a browser would not
//! show: comments, unknown fields, and which frame carried an `id:`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::mem;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use livesource_protocol::sse::{self, Line, Parser, Traced};

use super::{read_head, write_request};

/// The parser's bound on a line and an event: far above the server's largest frame (a document
/// or a patch of up to `BODY_LIMIT`, 2 MiB, with its envelope), so only a broken stream hits it.
const LIMIT: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: String,
    /// The `id:` this frame carried, if any: what the server sent with it, not the browser's
    /// last event id (which persists from frame to frame).
    pub id: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// What an SSE connection yields: events, the `retry:` hint, comments, or the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Event),
    Retry(u64),
    /// A frame of comments only (its last one, less one leading space).
    Comment(String),
    Closed,
    TimedOut,
}

/// What the current frame (up to its blank line) has shown so far.
#[derive(Default)]
struct Frame {
    id: Option<String>,
    comment: Option<String>,
    /// It produced an event or a retry hint.
    produced: bool,
}

pub struct SseClient {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
    parser: Parser,
    frame: Frame,
    ready: VecDeque<Item>,
}

impl SseClient {
    pub fn connect(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut all = vec![("accept", "text/event-stream")];
        all.extend_from_slice(headers);
        write_request(&mut stream, "1.0", "GET", path, &all, None);
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader);
        Self {
            status,
            headers,
            reader,
            parser: Parser::with_limit(LIMIT),
            frame: Frame::default(),
            ready: VecDeque::new(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The rest of the body (what `next_item` has not read yet).
    pub fn body(mut self) -> String {
        let mut s = String::new();
        let _ = self.reader.read_to_string(&mut s);
        s
    }

    /// The next item, waiting at most `timeout` for bytes.
    pub fn next_item(&mut self, timeout: Duration) -> Item {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        let Self {
            reader,
            parser,
            frame,
            ready,
            ..
        } = self;
        loop {
            if let Some(item) = ready.pop_front() {
                return item;
            }
            let read = match reader.fill_buf() {
                Ok([]) => return Item::Closed,
                Ok(bytes) => {
                    parser.feed_traced(bytes, &mut |t| trace(frame, ready, t));
                    bytes.len()
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Item::TimedOut
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Item::Closed,
                Err(e) => panic!("read: {e}"),
            };
            reader.consume(read);
        }
    }

    /// The next event, skipping retry hints, comments and heartbeats (keep-alives, and the
    /// position a fresh stream starts with).
    pub fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        self.next_event_or_heartbeat(timeout, false)
    }

    /// The next event, heartbeats included.
    pub fn next_event_or_heartbeat(
        &mut self,
        timeout: Duration,
        heartbeats: bool,
    ) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self.next_item(left) {
                Item::Event(e) if e.event == "heartbeat" && !heartbeats => {}
                Item::Event(e) => return Some(e),
                Item::Retry(_) | Item::Comment(_) => {}
                Item::Closed | Item::TimedOut => return None,
            }
        }
    }

    /// Collects `n` events (panicking with what arrived if they do not within `timeout`).
    pub fn events(&mut self, n: usize, timeout: Duration) -> Vec<Event> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_event(deadline.saturating_duration_since(Instant::now())) {
                Some(e) => out.push(e),
                None => panic!("expected {n} events, got {}: {out:?}", out.len()),
            }
        }
        out
    }
}

/// Turns what the parser traced into items, checking every field on the way.
fn trace(frame: &mut Frame, ready: &mut VecDeque<Item>, traced: Traced<'_>) {
    match traced {
        Traced::Item(sse::Item::Event(e)) => {
            frame.produced = true;
            ready.push_back(Item::Event(Event {
                event: e.event.to_owned(),
                id: frame.id.clone(),
                data: e.data.to_owned(),
            }));
        }
        Traced::Item(sse::Item::Retry(ms)) => {
            frame.produced = true;
            ready.push_back(Item::Retry(ms.into()));
        }
        Traced::Item(sse::Item::TooLong) => {
            panic!("the server sent a line or an event over {LIMIT} bytes")
        }
        Traced::Line(Line::Comment(text)) => {
            frame.comment = Some(text.strip_prefix(' ').unwrap_or(text).to_owned());
        }
        Traced::Line(Line::Field { name, value }) => match name {
            "id" => frame.id = Some(value.to_owned()),
            "event" | "data" | "retry" => {}
            other => panic!("unexpected field {other:?}"),
        },
        Traced::Line(Line::Blank) => {
            let frame = mem::take(frame);
            if let (Some(comment), false) = (frame.comment, frame.produced) {
                ready.push_back(Item::Comment(comment));
            }
        }
    }
}
