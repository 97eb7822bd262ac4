//! A raw SSE client: every byte on the wire is visible, and any field the server did not mean
//! to send fails the test.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{read_head, write_request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub event: String,
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
    Comment(String),
    Closed,
    TimedOut,
}

pub struct SseClient {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    reader: BufReader<TcpStream>,
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
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body(mut self) -> String {
        let mut s = String::new();
        let _ = self.reader.read_to_string(&mut s);
        s
    }

    /// The next item (a blank-line-terminated block), waiting at most `timeout`.
    pub fn next_item(&mut self, timeout: Duration) -> Item {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        let (mut event, mut id, mut data, mut retry, mut comment) =
            (None, None, Vec::new(), None, None);
        let mut any = false;
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => return Item::Closed,
                Ok(_) => {}
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
            }
            let line = line.strip_suffix('\n').unwrap_or(&line);
            if line.is_empty() {
                if !any {
                    continue;
                }
                if let Some(ms) = retry {
                    return Item::Retry(ms);
                }
                if let Some(c) = comment.filter(|_| data.is_empty() && event.is_none()) {
                    return Item::Comment(c);
                }
                return Item::Event(Event {
                    event: event.unwrap_or_else(|| "message".into()),
                    id,
                    data: data.join("\n"),
                });
            }
            any = true;
            let (field, value) = line
                .split_once(':')
                .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
            match field {
                "" => comment = Some(value.to_owned()),
                "event" => event = Some(value.to_owned()),
                "id" => id = Some(value.to_owned()),
                "data" => data.push(value.to_owned()),
                "retry" => retry = value.parse().ok(),
                other => panic!("unexpected field {other:?}"),
            }
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
