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

    #[test]
    fn arbitrary_input_never_panics_and_lines_stay_bounded() {
        // A small deterministic generator stands in for a fuzzer: every byte class that matters
        // (CR, LF, colon, space, NUL, digits, multi-byte) in random order and chunking.
        let alphabet = [
            '\r', '\n', ':', ' ', '\0', '1', 'd', 'a', 't', 'é', 'r', 'y', 'i', '\u{feff}',
        ];
        let mut rand = crate::test_rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..crate::fuzz_rounds(300) {
            let mut p = Parser::new();
            for _ in 0..20 {
                let mut chunk = String::new();
                for _ in 0..rand(40) {
                    chunk.push(alphabet[rand(alphabet.len())]);
                }
                for item in p.feed(&chunk) {
                    if let Item::Event(f) = item {
                        assert!(!f.id.contains('\0'));
                    }
                }
                assert!(p.line.len() <= MAX_LINE + 4);
            }
        }
    }
}
