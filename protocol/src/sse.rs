//! The `text/event-stream` parser: one implementation of the WHATWG HTML "event stream
//! interpretation" (<https://html.spec.whatwg.org/multipage/server-sent-events.html>), used by
//! the library's fetch transport and failure probe, the server's tests (their raw SSE client and
//! the frame round-trip check) and the load generator.
//!
//! What the spec asks, and how it is done here:
//!
//! - The body is decoded as UTF-8, invalid sequences replaced by U+FFFD (as `TextDecoder` and
//!   the browsers do), and one leading BOM is dropped, only at the very start of the stream.
//!   Line ends are ASCII and never part of a multi-byte sequence, so the parser splits lines on
//!   bytes and decodes each whole line: a character split across chunks decodes correctly, and
//!   the result is exactly that of decoding the whole body first.
//! - Lines end at CRLF, LF or CR (a CRLF split across two chunks is one line end).
//! - A line starting with `:` is a comment. Otherwise the field name runs to the first `:` and
//!   the value follows it, less one leading space; a line without `:` is a field name with an
//!   empty value.
//! - `event` sets the event type buffer; `data` appends its value and LF to the data buffer;
//!   `id` sets the last event id buffer unless the value contains NUL; `retry` is reported as
//!   [`Item::Retry`] if the value is all ASCII digits; other fields are ignored.
//! - A blank line dispatches: the last event id becomes the id buffer (which persists across
//!   events); then if the data buffer is empty nothing is dispatched, else an [`Event`] with the
//!   event type (`message` if none), the data less its final LF, and that id. Both buffers are
//!   then emptied. An event the stream ends in the middle of is never dispatched, and its `id`
//!   does not count.
//!
//! Beyond the spec, memory is bounded (see [`Parser::with_limit`]): a hostile or broken stream
//! yields [`Item::TooLong`] instead of growing a line or an event without limit.
//!
//! It is built for speed: the load generator parses hundreds of thousands of events a second
//! with it. Lines complete within a chunk are read in place (only a line split across chunks is
//! copied), values are copied into buffers reused from event to event, and events are handed
//! out borrowed, so there is no allocation per event.

use std::borrow::Cow;
use std::mem;

/// The default bound on one line and on one event's data: 1 MiB.
///
/// Used by [`Parser::new`], hence by the library's fetch transport and probe, the server's
/// test client and the load generator.
pub const DEFAULT_LIMIT: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event, borrowed from the parser until the callback returns.
///
/// Produced by [`Parser::feed`] for the library's fetch transport, the server's test client and
/// the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event type: the last `event:` value of the event, or `message` if it had none (or
    /// an empty one).
    pub event: &'a str,
    /// The `data:` values joined by LF.
    pub data: &'a str,
    /// The last event id at dispatch: the last `id:` value of this or an earlier event (the
    /// buffer persists), empty if there was none. The same as [`Parser::last_event_id`] now.
    pub id: &'a str,
}

/// What the stream produced: an event, a reconnection time, or the report that the stream broke
/// the bound on memory.
///
/// Produced by [`Parser::feed`] for the library's fetch transport and probe, the server's test
/// client and the load generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    /// A dispatched event.
    Event(Event<'a>),
    /// A `retry:` field with an all-digit value: the reconnection time in milliseconds, reported
    /// when its line ends (not at dispatch, as the spec sets it at once).
    ///
    /// Values over `u32::MAX` (about 49.7 days) saturate to `u32::MAX`: the spec sets the
    /// reconnection time to the number the server sent, and a huge number means "do not come
    /// back soon". Ignoring it instead would leave the default of a few seconds in place, the
    /// opposite of what the server asked. (A caller that hands the value to `setTimeout` must
    /// clamp it to `i32::MAX` itself: browsers fire longer timeouts at once.)
    Retry(u32),
    /// A line, or an event's data, went over the parser's limit. The event it belonged to is
    /// dropped: nothing more is read up to and including the blank line that ends it, and the
    /// id buffer goes back to [`Parser::last_event_id`], so an `id:` of the dropped event does
    /// not count (resuming from the last event id fetches the dropped event again). Reported
    /// once per dropped event. A caller that needs every event reports an error and reconnects.
    TooLong,
}

/// One line as the parser read it, for callers that need more than events: the server's raw
/// test client checks every field the server sends and sees comments. See
/// [`Parser::feed_traced`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A blank line: the end of an event.
    Blank,
    /// A comment: the text after the `:`, unchanged (a leading space is kept).
    Comment(&'a str),
    /// A field: its name and value (less one leading space), whether the parser uses the field
    /// or ignores it (an unknown name, an `id` with NUL, a `retry` that is not all digits).
    Field {
        /// The text before the first `:` (the whole line if there is none).
        name: &'a str,
        /// The text after the first `:`, less one leading space.
        value: &'a str,
    },
}

/// What [`Parser::feed_traced`] reports: every line, and the items as [`Parser::feed`] reports
/// them. Used by the server's raw test client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Traced<'a> {
    /// A line was read; reported after the items it produced (a blank line after its event, a
    /// `retry` field after its [`Item::Retry`]).
    Line(Line<'a>),
    /// An item, exactly as [`Parser::feed`] reports it.
    Item(Item<'a>),
}

/// The incremental `text/event-stream` parser: feed it the body's bytes as they arrive, in
/// chunks of any size split anywhere; it calls back with every [`Item`] the bytes complete.
///
/// Used by the library's fetch transport and probe, the server's raw test client and frame
/// round-trip test, and the load generator.
#[derive(Debug, Clone)]
pub struct Parser {
    limit: usize,
    /// The start of a line whose end has not arrived yet: raw bytes, as a character may be
    /// split. Never longer than `limit`.
    partial: Vec<u8>,
    /// The current line went over the limit: its bytes are dropped until it ends.
    skipping_line: bool,
    /// A `TooLong` was reported: lines are dropped up to the blank line that ends the event.
    skipping_event: bool,
    /// The last chunk ended in CR: an LF first in the next one ends the same line.
    after_cr: bool,
    /// No line has ended yet, so the next may start with the BOM.
    at_start: bool,
    event: String,
    data: String,
    id_buffer: String,
    /// The id buffer differs from `last_id` (set by an `id` field since the last blank line).
    id_changed: bool,
    last_id: String,
}

impl Default for Parser {
    fn default() -> Self {
        Self::with_limit(DEFAULT_LIMIT)
    }
}

/// Where `feed` and `feed_traced` send what they find. `feed`'s sink ignores lines, which
/// compiles to nothing, so tracing costs nothing when unused. `feed` takes its callback as
/// `dyn`, so every caller shares one copy of the parser (the wasm download counts each copy).
trait Sink {
    fn item(&mut self, item: Item<'_>);
    fn line(&mut self, _line: Line<'_>) {}
}

struct Items<'f>(&'f mut dyn FnMut(Item<'_>));

impl Sink for Items<'_> {
    #[inline]
    fn item(&mut self, item: Item<'_>) {
        (self.0)(item)
    }
}

struct Traces<'f, F>(&'f mut F);

impl<F: FnMut(Traced<'_>)> Sink for Traces<'_, F> {
    fn item(&mut self, item: Item<'_>) {
        (self.0)(Traced::Item(item))
    }
    fn line(&mut self, line: Line<'_>) {
        (self.0)(Traced::Line(line))
    }
}

impl Parser {
    /// A parser with the default limit ([`DEFAULT_LIMIT`], 1 MiB).
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that allows lines of at most `max_bytes` bytes (as sent, line end excluded) and
    /// events whose data buffer (every `data:` value with its LF) holds at most `max_bytes`
    /// bytes. Past either, it reports [`Item::TooLong`] and drops the event. Memory stays within
    /// a small multiple of the limit whatever the stream.
    pub fn with_limit(max_bytes: usize) -> Self {
        Self {
            limit: max_bytes,
            partial: Vec::new(),
            skipping_line: false,
            skipping_event: false,
            after_cr: false,
            at_start: true,
            event: String::new(),
            data: String::new(),
            id_buffer: String::new(),
            id_changed: false,
            last_id: String::new(),
        }
    }

    /// Starts from a known last event id, as a browser's `EventSource` does on reconnect: until
    /// the new stream sends an `id:`, its events carry this one. For the library's fetch
    /// transport, which opens a new parser per connection.
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        self.id_buffer.clear();
        self.id_buffer.push_str(id);
        self.last_id.clear();
        self.last_id.push_str(id);
        self.id_changed = false;
        self
    }

    /// Parses the next bytes of the body, calling `on` with every item they complete, in order.
    pub fn feed(&mut self, bytes: &[u8], on: &mut dyn FnMut(Item<'_>)) {
        self.run(bytes, &mut Items(on));
    }

    /// [`feed`](Self::feed), also reporting every line read (before interpretation). Lines of an
    /// event dropped after [`Item::TooLong`] are not reported. Used by the server's raw test
    /// client, which checks every field and sees comments.
    pub fn feed_traced(&mut self, bytes: &[u8], on: &mut impl FnMut(Traced<'_>)) {
        self.run(bytes, &mut Traces(on));
    }

    /// The last event id: the id buffer as of the last blank line (so an `id:` counts only once
    /// the event it belongs to is complete). What a reconnect sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_id
    }

    fn run(&mut self, mut bytes: &[u8], sink: &mut impl Sink) {
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(end) = find_line_end(bytes) {
            let line = &bytes[..end];
            let ending = match bytes.get(end..end + 2) {
                Some(b"\r\n") => 2,
                None if bytes[end] == b'\r' => {
                    // The chunk ends in CR: an LF may follow in the next one.
                    self.after_cr = true;
                    1
                }
                _ => 1,
            };
            bytes = &bytes[end + ending..];
            if self.skipping_line {
                // The end of an over-long line, already reported.
                self.skipping_line = false;
            } else if self.partial.is_empty() {
                self.line(line, sink);
            } else if self.partial.len() + line.len() > self.limit {
                self.partial.clear();
                self.too_long(sink);
            } else {
                let mut whole = mem::take(&mut self.partial);
                append_bounded(&mut whole, line, self.limit);
                self.line(&whole, sink);
                whole.clear();
                self.partial = whole;
            }
        }
        if bytes.is_empty() || self.skipping_line {
            return;
        }
        if self.partial.len() + bytes.len() > self.limit {
            // Bounded memory: the line is over the limit before its end arrives.
            self.partial.clear();
            self.skipping_line = true;
            self.too_long(sink);
        } else {
            append_bounded(&mut self.partial, bytes, self.limit);
        }
    }

    fn too_long(&mut self, sink: &mut impl Sink) {
        self.at_start = false;
        self.event.clear();
        self.data.clear();
        if self.id_changed {
            self.id_buffer.clone_from(&self.last_id);
            self.id_changed = false;
        }
        if !self.skipping_event {
            self.skipping_event = true;
            sink.item(Item::TooLong);
        }
    }

    /// One complete line, without its line end.
    fn line(&mut self, mut raw: &[u8], sink: &mut impl Sink) {
        if raw.len() > self.limit {
            return self.too_long(sink);
        }
        if self.at_start {
            self.at_start = false;
            raw = raw.strip_prefix(BOM).unwrap_or(raw);
        }
        if raw.is_empty() {
            if mem::take(&mut self.skipping_event) {
                self.event.clear();
                self.data.clear();
            } else {
                self.dispatch(sink);
                sink.line(Line::Blank);
            }
            return;
        }
        if self.skipping_event {
            return;
        }
        let text = match std::str::from_utf8(raw) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        };
        if let Some(comment) = text.strip_prefix(':') {
            sink.line(Line::Comment(comment));
            return;
        }
        let (name, value) = match text.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (&*text, ""),
        };
        if self.field(name, value, sink) {
            sink.line(Line::Field { name, value });
        }
    }

    /// Processes one field; false if it made the event too long (then it is not traced).
    fn field(&mut self, name: &str, value: &str, sink: &mut impl Sink) -> bool {
        match name {
            "data" => {
                if self.data.len() + value.len() + 1 > self.limit {
                    self.too_long(sink);
                    return false;
                }
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "id" if !value.contains('\0') => {
                self.id_buffer.clear();
                self.id_buffer.push_str(value);
                self.id_changed = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                let ms = value.bytes().fold(0u32, |ms, digit| {
                    ms.saturating_mul(10)
                        .saturating_add(u32::from(digit - b'0'))
                });
                sink.item(Item::Retry(ms));
            }
            _ => {}
        }
        true
    }

    fn dispatch(&mut self, sink: &mut impl Sink) {
        if self.id_changed {
            self.last_id.clone_from(&self.id_buffer);
            self.id_changed = false;
        }
        if self.data.is_empty() {
            self.event.clear();
            return;
        }
        self.data.pop(); // the LF after the last line
        let event = if self.event.is_empty() {
            "message"
        } else {
            &self.event
        };
        sink.item(Item::Event(Event {
            event,
            data: &self.data,
            id: &self.last_id,
        }));
        self.data.clear();
        self.event.clear();
    }
}

/// Appends `bytes` (which fit: `buf.len() + bytes.len() <= limit`) growing `buf` by doubling, as
/// `Vec` does, but never to a capacity past `limit`.
fn append_bounded(buf: &mut Vec<u8>, bytes: &[u8], limit: usize) {
    let want = buf.len() + bytes.len();
    if want > buf.capacity() {
        let capacity = want.max(2 * buf.capacity()).min(limit);
        buf.reserve_exact(capacity - buf.len());
    }
    buf.extend_from_slice(bytes);
}

/// The index of the first CR or LF in `bytes`. Eight bytes at a time: most of a stream is data
/// lines of a hundred bytes or more.
#[inline]
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let w = u64::from_le_bytes(word.try_into().unwrap_or_default());
        let (lf, cr) = (w ^ LF, w ^ CR);
        // A byte of `x` is flagged if it is zero (and maybe, through the borrow, a more
        // significant byte after a zero one): the least significant flag is exact.
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        let found = zero(lf) | zero(cr);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|i| at + i)
}

#[cfg(test)]
mod tests;
