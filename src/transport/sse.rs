//! The `text/event-stream` parser: the workspace's one implementation, in `livesource-protocol`
//! (see [`livesource_protocol::sse`]), re-exported here. The fetch transport parses streams
//! with it; the failure probe reads the `retry:` hint from a stream's first bytes with
//! [`retry_hint`] (the browser's `EventSource` hides that field from scripts).

pub use livesource_protocol::sse::{Item, Parser};

/// The `retry:` value of the first complete `retry` line in `text` (the decoded first bytes of
/// a stream), if any. Used by the failure probe.
pub fn retry_hint(text: &str) -> Option<u32> {
    let mut hint = None;
    Parser::new().feed(text.as_bytes(), &mut |item| {
        if let (Item::Retry(ms), None) = (item, hint) {
            hint = Some(ms);
        }
    });
    hint
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn retry_hint_reads_the_first_value() {
        assert_eq!(retry_hint("retry: 1500\n\n: keep-alive\n\n"), Some(1500));
        assert_eq!(retry_hint("retry: 1500\nretry: 10\n"), Some(1500));
        assert_eq!(retry_hint("data: x\n\n"), None);
        assert_eq!(retry_hint("retry: 1500"), None, "an unfinished line");
        assert_eq!(
            retry_hint("retry: 99999999999\n"),
            Some(u32::MAX),
            "overflow saturates (see `Item::Retry`)"
        );
    }

    #[test]
    fn the_parser_runs_in_the_library_build() {
        // The parser's own tests are in `livesource-protocol`; this runs it once in the browser
        // (under `wasm-pack test`) as the fetch transport and the probe use it.
        let mut seen = Vec::new();
        let mut p = Parser::new();
        for chunk in [
            "\u{feff}retry: 3000\n\nevent:change\r",
            "\nid: 7\ndata:{\"a\":",
            "1}\n\n",
        ] {
            p.feed(chunk.as_bytes(), &mut |item| {
                seen.push(match item {
                    Item::Event(e) => format!("{} {} {}", e.event, e.id, e.data),
                    Item::Retry(ms) => format!("retry {ms}"),
                    Item::TooLong => "too long".into(),
                })
            });
        }
        assert_eq!(seen, ["retry 3000", "change 7 {\"a\":1}"]);
        assert_eq!(p.last_event_id(), "7");
    }
}
