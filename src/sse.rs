//! An incremental `text/event-stream` parser, per the WHATWG HTML "event stream interpretation".
//! The browser's `EventSource` does this for live streams, but hides the `retry:` field from
//! scripts; the failure probe reads the first bytes of a stream with this parser to learn it.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub event: String,
    pub data: String,
    /// The last event id buffer after this event (per spec it persists across events).
    pub id: String,
}

/// What a chunk of input produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Frame),
    Retry(u32),
}

#[derive(Debug, Default)]
pub struct Parser {
    line: String,
    /// A chunk ended in '\r': a following '\n' belongs to the same line break.
    pending_cr: bool,
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    id: String,
}

/// Bound on one line, so a hostile stream without newlines cannot grow memory without limit.
pub const MAX_LINE: usize = 1 << 20;

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds decoded text; returns the items completed by it.
    pub fn feed(&mut self, chunk: &str) -> Vec<Item> {
        let mut out = Vec::new();
        let mut chunk = chunk;
        if !self.started && !chunk.is_empty() {
            self.started = true;
            chunk = chunk.strip_prefix('\u{feff}').unwrap_or(chunk);
        }
        for ch in chunk.chars() {
            match ch {
                '\n' if self.pending_cr => self.pending_cr = false,
                '\r' | '\n' => {
                    self.pending_cr = ch == '\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, &mut out);
                }
                _ => {
                    self.pending_cr = false;
                    if self.line.len() < MAX_LINE {
                        self.line.push(ch);
                    }
                }
            }
        }
        out
    }

    fn line_done(&mut self, line: &str, out: &mut Vec<Item>) {
        if line.is_empty() {
            if self.has_data {
                let mut data = std::mem::take(&mut self.data);
                if data.ends_with('\n') {
                    data.pop();
                }
                let event = std::mem::take(&mut self.event);
                out.push(Item::Event(Frame {
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        event
                    },
                    data,
                    id: self.id.clone(),
                }));
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u32>() {
                    out.push(Item::Retry(ms));
                }
            }
            _ => {}
        }
    }
}

/// The `retry:` value of the first complete frames in `text`, if any.
pub fn retry_hint(text: &str) -> Option<u32> {
    Parser::new()
        .feed(text)
        .into_iter()
        .find_map(|item| match item {
            Item::Retry(ms) => Some(ms),
            Item::Event(_) => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn events(items: Vec<Item>) -> Vec<Frame> {
        items
            .into_iter()
            .filter_map(|i| match i {
                Item::Event(f) => Some(f),
                Item::Retry(_) => None,
            })
            .collect()
    }

    #[test]
    fn parses_the_restheart_shape() {
        let mut p = Parser::new();
        let items = p.feed("retry: 3000\n\nevent:change\nid: 7\ndata:{\"a\":1}\n\n");
        assert_eq!(items[0], Item::Retry(3000));
        assert_eq!(
            events(items),
            [Frame {
                event: "change".into(),
                data: "{\"a\":1}".into(),
                id: "7".into()
            }]
        );
    }

    #[test]
    fn handles_split_chunks_crlf_multiline_data_and_comments() {
        let mut p = Parser::new();
        let mut all = Vec::new();
        for chunk in ["\u{feff}: hi\r", "\ndata: a\r\nda", "ta: b\r\r", "data\n\n"] {
            all.extend(p.feed(chunk));
        }
        let got = events(all);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].data, "a\nb");
        assert_eq!(got[0].event, "message");
        assert_eq!(
            got[1].data, "",
            "a bare `data` field is an empty line of data"
        );
    }

    #[test]
    fn ignores_bad_retry_and_nul_ids_and_keeps_the_id_buffer() {
        let mut p = Parser::new();
        let got = p.feed("retry: 1x\nid: 5\ndata: a\n\nid: bad\0\ndata: b\n\nevent: x\n\n");
        assert!(!got.contains(&Item::Retry(1)));
        let frames = events(got);
        assert_eq!(frames.len(), 2, "an event without data is not dispatched");
        assert_eq!(frames[1].id, "5");
    }

    #[test]
    fn retry_hint_reads_the_first_value() {
        assert_eq!(retry_hint("retry: 1500\n\n: keep-alive\n\n"), Some(1500));
        assert_eq!(retry_hint("data: x\n\n"), None);
        assert_eq!(
            retry_hint("retry: 99999999999\n"),
            None,
            "overflow is ignored"
        );
    }

    /// Feeds `text` in the given chunks, checking the line bound after each; returns every item.
    fn feed_chunked(p: &mut Parser, text: &str, cuts: &[usize]) -> Vec<Item> {
        let mut items = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain([text.len()].iter()) {
            items.extend(p.feed(&text[from..to]));
            from = to;
            // A char is pushed while the line is under the bound, so it may end up to three
            // bytes (one UTF-8 char less one byte) over it, never more.
            assert!(
                p.line.len() <= MAX_LINE + 3,
                "a line grew to {} bytes",
                p.line.len()
            );
        }
        items
    }

    #[test]
    fn an_over_long_line_is_cut_at_the_bound_and_parsing_goes_on() {
        // "data:" then four-byte chars, so the last push overshoots the bound by one byte.
        let long = format!("data:{}", "\u{1f600}".repeat(MAX_LINE / 4 + 1000));
        let text = format!(
            ": {}\nretry: 250\n{long}\n\nid: 3\ndata: after\n\n",
            "x".repeat(3 * MAX_LINE)
        );
        let cuts: Vec<usize> = (1..text.len())
            .step_by(65_537)
            .map(|mut i| {
                while !text.is_char_boundary(i) {
                    i += 1;
                }
                i
            })
            .collect();
        let mut p = Parser::new();
        let items = feed_chunked(&mut p, &text, &cuts);
        assert_eq!(
            items[0],
            Item::Retry(250),
            "an over-long comment does not eat the next line"
        );
        let frames = events(items);
        assert_eq!(frames.len(), 2, "{} frames", frames.len());
        let data = &frames[0].data;
        assert_eq!(
            "data:".len() + data.len(),
            MAX_LINE + 1,
            "the line is kept up to the bound, whole chars only"
        );
        assert!(
            long["data:".len()..].starts_with(data.as_str()),
            "a prefix of the line"
        );
        assert_eq!(
            (frames[1].data.as_str(), frames[1].id.as_str()),
            ("after", "3")
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_keep_lines_bounded_and_parse_the_same_however_chunked() {
        // A small deterministic generator stands in for a fuzzer: arbitrary bytes (any value,
        // invalid UTF-8 included) mixed with the pieces of the format, decoded as `TextDecoder`
        // decodes them (invalid sequences become U+FFFD), fed in arbitrary chunks. Some rounds
        // end in a line longer than the bound.
        let fields: [&[u8]; 12] = [
            b"data:",
            b"data: ",
            b"id:",
            b"id: ",
            b"retry:",
            b"retry: ",
            b"event:",
            b": ",
            b"",
            b"dat",
            b"\0",
            "\u{feff}".as_bytes(),
        ];
        let breaks: [&[u8]; 6] = [b"\n", b"\r", b"\r\n", b"\n\n", b"\r\n\r\n", b""];
        let mut rand = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        let (mut dispatched, mut retries) = (0, 0);
        for round in 0..crate::fuzz_rounds(300) {
            let mut bytes = Vec::new();
            for _ in 0..rand(40) {
                bytes.extend_from_slice(fields[rand(fields.len())]);
                let digits = rand(2) == 0;
                for _ in 0..rand(12) {
                    bytes.push(match rand(4) {
                        _ if digits => b'0' + rand(10) as u8,
                        0 => b"\r\n:\0 "[rand(5)],
                        1 => rand(256) as u8,
                        _ => b'a' + rand(26) as u8,
                    });
                }
                bytes.extend_from_slice(breaks[rand(breaks.len())]);
            }
            let long_line = round % 50 == 7;
            if long_line {
                // Arbitrary bytes without a line break, up to 1.5 times the bound, left open at
                // the end so the parser must hold it (cut into many chunks) at the bound.
                bytes.extend(
                    (0..MAX_LINE + rand(MAX_LINE / 2)).map(|_| match rand(256) as u8 {
                        b'\r' | b'\n' => b'x',
                        b => b,
                    }),
                );
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut cuts: Vec<usize> = (0..rand(20))
                .map(|_| {
                    let mut i = rand(text.len() + 1);
                    while !text.is_char_boundary(i) {
                        i -= 1;
                    }
                    i
                })
                .collect();
            cuts.sort_unstable();

            let mut chunked = Parser::new();
            let items = feed_chunked(&mut chunked, &text, &cuts);
            let mut whole = Parser::new();
            assert_eq!(
                items,
                whole.feed(&text),
                "chunking changed the result (round {round})"
            );
            assert_eq!(chunked.line, whole.line, "chunking changed the open line");
            if long_line {
                assert!(
                    chunked.line.len() >= MAX_LINE,
                    "the long line reached the bound"
                );
            }
            for item in items {
                match item {
                    Item::Event(f) => {
                        dispatched += 1;
                        assert!(!f.id.contains('\0'));
                        // One-line fields are bounded like lines (data may span many lines).
                        assert!(f.event.len() <= MAX_LINE + 3 && f.id.len() <= MAX_LINE + 3);
                    }
                    Item::Retry(_) => retries += 1,
                }
            }
        }
        // The generator reaches what it is for: events and retry values, not only junk.
        assert!(
            dispatched > 300 && retries > 100,
            "{dispatched} events, {retries} retries"
        );
    }
}
