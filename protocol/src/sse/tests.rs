use super::*;
use proptest::prelude::*;

/// An item with owned text, to compare and keep.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Event {
        event: String,
        data: String,
        id: String,
    },
    Retry(u32),
    TooLong,
}

fn own(item: Item<'_>) -> Owned {
    match item {
        Item::Event(e) => Owned::Event {
            event: e.event.into(),
            data: e.data.into(),
            id: e.id.into(),
        },
        Item::Retry(ms) => Owned::Retry(ms),
        Item::TooLong => Owned::TooLong,
    }
}

fn event(event: &str, data: &str, id: &str) -> Owned {
    Owned::Event {
        event: event.into(),
        data: data.into(),
        id: id.into(),
    }
}

/// Feeds `chunks` in order, checking the memory bounds after each; returns every item.
fn feed_chunks(p: &mut Parser, chunks: &[&[u8]]) -> Vec<Owned> {
    let mut items = Vec::new();
    for chunk in chunks {
        p.feed(chunk, &mut |item| items.push(own(item)));
        check_bounds(p);
    }
    items
}

fn check_bounds(p: &Parser) {
    assert!(
        p.partial.len() <= p.limit,
        "a partial line of {} bytes",
        p.partial.len()
    );
    assert!(
        p.data.len() <= p.limit,
        "a data buffer of {} bytes",
        p.data.len()
    );
    // One line's value, each byte decoded to at most three (U+FFFD).
    for (what, len) in [
        ("event", p.event.len()),
        ("id", p.id_buffer.len()),
        ("last id", p.last_id.len()),
    ] {
        assert!(len <= 3 * p.limit, "{what} of {len} bytes");
    }
}

fn parse(stream: &[u8]) -> Vec<Owned> {
    feed_chunks(&mut Parser::new(), &[stream])
}

/// Every byte fed on its own.
fn parse_bytewise(stream: &[u8]) -> Vec<Owned> {
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    feed_chunks(&mut Parser::new(), &chunks)
}

/// The spec's algorithm, literally, on the whole stream: decode (one BOM dropped, invalid
/// sequences replaced), split into lines, process each. No limit. The oracle for the parser.
fn reference(stream: &[u8]) -> (Vec<Owned>, String) {
    let text = String::from_utf8_lossy(stream.strip_prefix(BOM).unwrap_or(stream));
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(mem::take(&mut line));
            }
            c => line.push(c),
        }
    }
    // `line` is unterminated: discarded.
    let (mut data, mut event_type, mut id_buffer, mut last_id) =
        (String::new(), String::new(), String::new(), String::new());
    let mut out = Vec::new();
    for line in lines {
        if line.is_empty() {
            last_id = id_buffer.clone();
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            let event = if event_type.is_empty() {
                "message"
            } else {
                &event_type
            };
            out.push(self::event(event, &data, &last_id));
            data.clear();
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_str(), ""),
        };
        match field {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => {
                let n: u128 = value.parse().unwrap_or(u128::MAX);
                out.push(Owned::Retry(n.min(u128::from(u32::MAX)) as u32));
            }
            _ => {}
        }
    }
    (out, last_id)
}

// ---- the rules, one by one ---------------------------------------------------------------------

#[test]
fn parses_the_restheart_shape() {
    let items = parse(b"retry: 3000\n\nevent:change\nid: 7\ndata:{\"a\":1}\n\n");
    assert_eq!(
        items,
        [Owned::Retry(3000), event("change", "{\"a\":1}", "7")]
    );
}

#[test]
fn one_leading_bom_is_dropped_only_at_the_start() {
    assert_eq!(
        parse(b"\xEF\xBB\xBFdata: a\n\n"),
        [event("message", "a", "")]
    );
    // Split across chunks, byte by byte.
    assert_eq!(
        parse_bytewise(b"\xEF\xBB\xBFdata: a\n\n"),
        [event("message", "a", "")]
    );
    // A second BOM is part of the first line: the field `\u{feff}data` is unknown.
    assert_eq!(
        parse(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n"),
        [event("message", "b", "")]
    );
    // Not at the start: part of the line, so again an unknown field.
    assert_eq!(parse(b"\n\xEF\xBB\xBFdata: a\n\n"), []);
    // A BOM alone on the first line makes it blank.
    assert_eq!(
        parse(b"\xEF\xBB\xBF\ndata: a\n\n"),
        [event("message", "a", "")]
    );
    // In a value it is a character like any other.
    assert_eq!(
        parse("data: \u{feff}\n\n".as_bytes()),
        [event("message", "\u{feff}", "")]
    );
}

#[test]
fn lines_end_at_cr_lf_and_crlf_even_split_across_chunks() {
    let want = [event("message", "a\nb\nc", ""), event("message", "d", "")];
    let stream = b"data: a\rdata: b\ndata: c\r\n\rdata: d\r\n\r\n";
    assert_eq!(parse(stream), want);
    assert_eq!(parse_bytewise(stream), want);
    // CR then LF in the next chunk is one line end, not two (which would dispatch `a`).
    let mut p = Parser::new();
    let items = feed_chunks(&mut p, &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(items, [event("message", "a\nb", "")]);
    // CR CR is two line ends; LF CR too.
    assert_eq!(
        parse(b"data: a\r\rdata: b\n\r"),
        [event("message", "a", ""), event("message", "b", "")]
    );
    // A chunk ending in CR, then an empty chunk, then LF.
    let mut p = Parser::new();
    let items = feed_chunks(&mut p, &[b"data: a\r", b"", b"\n", b"\n"]);
    assert_eq!(items, [event("message", "a", "")]);
}

#[test]
fn one_leading_space_is_removed_and_a_line_without_colon_is_a_name() {
    assert_eq!(
        parse(b"data:a\ndata: b\ndata:  c\ndata\ndata:\n\n"),
        [event("message", "a\nb\n c\n\n", "")]
    );
    // The value runs from the first colon: later ones are part of it.
    assert_eq!(parse(b"data: a: b:c\n\n"), [event("message", "a: b:c", "")]);
    // A tab is not a space.
    assert_eq!(parse(b"data:\ta\n\n"), [event("message", "\ta", "")]);
    // `event` without a colon sets an empty type: `message`.
    assert_eq!(
        parse(b"event: x\nevent\ndata: a\n\n"),
        [event("message", "a", "")]
    );
}

#[test]
fn comments_and_unknown_fields_are_ignored() {
    assert_eq!(
        parse(b": hello\n:\nfoo: bar\nData: x\n data: y\ndata : z\ndata: a\n\n"),
        [event("message", "a", "")]
    );
    // A comment line alone does not end an event.
    assert_eq!(
        parse(b"data: a\n: c\ndata: b\n\n"),
        [event("message", "a\nb", "")]
    );
}

#[test]
fn the_data_buffer_loses_only_its_final_lf() {
    assert_eq!(parse(b"data\n\n"), [event("message", "", "")]);
    assert_eq!(parse(b"data\ndata\n\n"), [event("message", "\n", "")]);
    assert_eq!(parse(b"data: a\ndata:\n\n"), [event("message", "a\n", "")]);
}

#[test]
fn an_event_without_data_dispatches_nothing_and_resets_the_type() {
    assert_eq!(
        parse(b"event: x\n\ndata: a\n\nevent: y\nid: 1\n\n\n\ndata: b\n\n"),
        [event("message", "a", ""), event("message", "b", "1")]
    );
}

#[test]
fn the_id_buffer_persists_and_counts_at_the_blank_line() {
    let mut p = Parser::new();
    let items = feed_chunks(
        &mut p,
        &[b"id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 6\n"],
    );
    assert_eq!(
        items,
        [
            event("message", "a", "5"),
            event("message", "b", "5"),
            event("message", "c", "")
        ]
    );
    assert_eq!(
        p.last_event_id(),
        "",
        "the id of an unfinished event does not count"
    );
    feed_chunks(&mut p, &[b"\n"]);
    assert_eq!(
        p.last_event_id(),
        "6",
        "a blank line sets it, even without data"
    );
    // An id later in the event than its data still belongs to it.
    assert_eq!(parse(b"data: a\nid: 9\n\n"), [event("message", "a", "9")]);
    // The last id of an event wins.
    assert_eq!(
        parse(b"id: 1\nid: 2\ndata: a\n\n"),
        [event("message", "a", "2")]
    );
}

#[test]
fn an_id_with_nul_is_ignored() {
    let mut p = Parser::new();
    let items = feed_chunks(&mut p, &[b"id: 5\ndata: a\n\nid: bad\0\ndata: b\n\n"]);
    assert_eq!(
        items,
        [event("message", "a", "5"), event("message", "b", "5")]
    );
    assert_eq!(p.last_event_id(), "5");
    // Other control characters are allowed.
    assert_eq!(
        parse(b"id: a\x01b\ndata: x\n\n"),
        [event("message", "x", "a\x01b")]
    );
}

#[test]
fn retry_needs_all_digits_and_saturates() {
    assert_eq!(
        parse(b"retry: 1500\nretry: 1x\nretry:\nretry: -1\nretry:  5\nretry: 03000\nretry\n"),
        [Owned::Retry(1500), Owned::Retry(3000)]
    );
    assert_eq!(parse(b"retry: 4294967295\n"), [Owned::Retry(u32::MAX)]);
    assert_eq!(
        parse(b"retry: 99999999999999999999999\n"),
        [Owned::Retry(u32::MAX)]
    );
    // Reported at the end of its line: no blank line needed, and before the event around it.
    assert_eq!(
        parse(b"data: a\nretry: 7\n\n"),
        [Owned::Retry(7), event("message", "a", "")]
    );
}

#[test]
fn an_unterminated_final_event_is_not_dispatched() {
    let mut p = Parser::new();
    let items = feed_chunks(&mut p, &[b"id: 1\ndata: a\n\nid: 2\ndata: b\n", b"data: c"]);
    assert_eq!(items, [event("message", "a", "1")]);
    assert_eq!(p.last_event_id(), "1");
}

#[test]
fn utf8_is_decoded_across_chunks_and_invalid_bytes_are_replaced() {
    let stream = "event: \u{e9}t\u{e9}\ndata: \u{20ac} \u{1f600}\n\n".as_bytes();
    let want = [event("\u{e9}t\u{e9}", "\u{20ac} \u{1f600}", "")];
    // Every split point, so every multi-byte character is cut somewhere.
    for cut in 0..=stream.len() {
        let mut p = Parser::new();
        let items = feed_chunks(&mut p, &[&stream[..cut], &stream[cut..]]);
        assert_eq!(items, want, "cut at {cut}");
    }
    assert_eq!(parse_bytewise(stream), want);
    // Invalid: a lone continuation byte, a truncated sequence before the line end, an
    // overlong encoding, a surrogate; each maximal subpart becomes one U+FFFD, as TextDecoder.
    assert_eq!(
        parse(b"data: a\x80b\ndata: \xE2\x82\ndata: \xC0\xAF\ndata: \xED\xA0\x80\n\n"),
        [event(
            "message",
            "a\u{fffd}b\n\u{fffd}\n\u{fffd}\u{fffd}\n\u{fffd}\u{fffd}\u{fffd}",
            ""
        )]
    );
    assert_eq!(
        parse_bytewise(b"id: \xFF\ndata: \xF0\x9F\x98\n\n"),
        [event("message", "\u{fffd}", "\u{fffd}")]
    );
}

// ---- bounded memory ----------------------------------------------------------------------------

#[test]
fn an_over_long_line_is_reported_and_its_event_dropped() {
    let mut p = Parser::with_limit(16);
    let items = feed_chunks(
        &mut p,
        &[b"id: 1\ndata: ok\n\nid: 2\ndata: 0123456789abcdef\ndata: more\nretry: 5\n\ndata: after\n\n"],
    );
    assert_eq!(
        items,
        [
            event("message", "ok", "1"),
            Owned::TooLong,
            event("message", "after", "1")
        ],
        "the dropped event's id does not count"
    );
    // Exactly at the limit is allowed.
    let mut p = Parser::with_limit(16);
    let items = feed_chunks(&mut p, &[b"data: 0123456789\n\n"]);
    assert_eq!(items, [event("message", "0123456789", "")]);
}

#[test]
fn an_over_long_line_split_across_chunks_is_reported_before_its_end_and_not_kept() {
    let mut p = Parser::with_limit(16);
    let mut items = feed_chunks(&mut p, &[b"data: ok\n\n: 0123456789", b"abcdef"]);
    assert_eq!(items, [event("message", "ok", ""), Owned::TooLong]);
    assert!(p.partial.is_empty() && p.skipping_line);
    for _ in 0..1000 {
        items.extend(feed_chunks(&mut p, &[b"0123456789abcdef"]));
    }
    assert!(p.partial.capacity() <= 16, "never grown past the limit");
    items.extend(feed_chunks(
        &mut p,
        &[b"\r", b"\ndata: dropped\n\ndata: kept\n\n"],
    ));
    assert_eq!(
        items,
        [
            event("message", "ok", ""),
            Owned::TooLong,
            event("message", "kept", "")
        ],
        "a comment too long drops its event like any line"
    );
}

#[test]
fn an_event_with_too_much_data_is_reported_and_dropped() {
    let mut p = Parser::with_limit(16);
    let items = feed_chunks(
        &mut p,
        &[b"data: 01234\ndata: 56789\ndata: abcd\nid: 3\n\ndata: 01234\ndata: 56789\ndata: abc\n\n"],
    );
    // 6 + 6 + 4 bytes fit (16, the limit), 6 + 6 + 5 do not.
    assert_eq!(
        items,
        [Owned::TooLong, event("message", "01234\n56789\nabc", "")]
    );
    assert_eq!(p.last_event_id(), "");
}

#[test]
fn the_default_limit_is_one_mebibyte() {
    let mut stream = b"data: ".to_vec();
    stream.extend(std::iter::repeat_n(b'x', DEFAULT_LIMIT - 6));
    stream.extend_from_slice(b"\n\n:");
    stream.extend(std::iter::repeat_n(b'y', 3 * DEFAULT_LIMIT));
    stream.extend_from_slice(b"\n\nid: 2\ndata: after\n\n");
    let chunks: Vec<&[u8]> = stream.chunks(65_537).collect();
    let mut p = Parser::new();
    let items = feed_chunks(&mut p, &chunks);
    assert_eq!(items.len(), 3, "{:?}", &items[1..]);
    assert!(matches!(&items[0], Owned::Event { data, .. } if data.len() == DEFAULT_LIMIT - 6));
    assert_eq!(items[1..], [Owned::TooLong, event("message", "after", "2")]);
    assert!(p.partial.capacity() <= DEFAULT_LIMIT);
}

// ---- tracing -----------------------------------------------------------------------------------

#[test]
fn tracing_reports_every_line_after_its_items() {
    let mut seen = Vec::new();
    let mut p = Parser::new();
    p.feed_traced(
        b": hi\nretry: 10\nevent: e\nid: 1\ndata: x\nfoo\n\n\n",
        &mut |t| {
            seen.push(match t {
                Traced::Line(Line::Blank) => "blank".to_owned(),
                Traced::Line(Line::Comment(c)) => format!("comment {c:?}"),
                Traced::Line(Line::Field { name, value }) => format!("{name}={value}"),
                Traced::Item(item) => format!("{:?}", own(item)),
            })
        },
    );
    assert_eq!(
        seen,
        [
            "comment \" hi\"",
            "Retry(10)",
            "retry=10",
            "event=e",
            "id=1",
            "data=x",
            "foo=",
            "Event { event: \"e\", data: \"x\", id: \"1\" }",
            "blank",
            "blank",
        ]
    );
}

#[test]
fn a_known_last_event_id_carries_over() {
    let mut p = Parser::new().with_last_event_id("41");
    assert_eq!(p.last_event_id(), "41");
    let items = feed_chunks(&mut p, &[b"data: a\n\nid: 42\ndata: b\n\n"]);
    assert_eq!(
        items,
        [event("message", "a", "41"), event("message", "b", "42")]
    );
}

// ---- properties --------------------------------------------------------------------------------

/// Streams made of the format's pieces, and bytes that are not.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let names: &[&'static [u8]] = &[
        b"data",
        b"data:",
        b"data: ",
        b"data:  ",
        b"event:",
        b"event: ",
        b"id:",
        b"id: ",
        b"retry:",
        b"retry: ",
        b":",
        b": ",
        b"dat",
        b"x:",
        b"",
        b"\xEF\xBB\xBF",
        b"\xEF\xBB",
    ];
    let atoms: &[&'static [u8]] = &[
        b"a",
        b"b",
        b"7",
        b"0",
        b"42",
        b" ",
        b":",
        b"\0",
        "\u{e9}".as_bytes(),
        "\u{20ac}".as_bytes(),
        "\u{1f600}".as_bytes(),
        b"\xFF",
        b"\xC3",
        b"\x80",
        b"\xF0\x9F",
        "\u{feff}".as_bytes(),
        b"99999999999",
    ];
    let atoms = atoms.to_vec();
    let ends: &[&[u8]] = &[
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\r\n\r\n",
        b"\r\r",
        b"\n\r",
        b"",
    ];
    let value = prop_oneof![
        3 => prop::collection::vec(prop::sample::select(atoms), 0..6).prop_map(|atoms| atoms.concat()),
        1 => "[0-9]{1,12}".prop_map(String::into_bytes),
    ];
    let line = (
        prop::sample::select(names),
        value,
        prop::sample::select(ends),
    );
    prop::collection::vec(line, 0..16).prop_map(|lines| {
        let mut out = Vec::new();
        for (name, value, end) in lines {
            out.extend_from_slice(name);
            out.extend_from_slice(&value);
            out.extend_from_slice(end);
        }
        out
    })
}

/// `stream` fed whole and in the pieces that `cuts` (sorted positions) make; both results.
fn whole_and_cut(limit: usize, stream: &[u8], cuts: &[usize]) -> [(Vec<Owned>, String); 2] {
    let mut whole = Parser::with_limit(limit);
    let all = feed_chunks(&mut whole, &[stream]);
    let mut chunks = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain([stream.len()].iter()) {
        chunks.push(&stream[from..to]);
        from = to;
    }
    let mut cut = Parser::with_limit(limit);
    let pieces = feed_chunks(&mut cut, &chunks);
    [
        (all, whole.last_event_id().to_owned()),
        (pieces, cut.last_event_id().to_owned()),
    ]
}

proptest! {
    #[test]
    fn agrees_with_the_spec_algorithm(stream in stream()) {
        let mut p = Parser::new();
        let items = feed_chunks(&mut p, &[&stream]);
        let (want, last_id) = reference(&stream);
        prop_assert_eq!(items, want);
        prop_assert_eq!(p.last_event_id(), last_id);
    }

    #[test]
    fn any_split_at_any_byte_gives_the_same_items(stream in stream(), limit in 4usize..48) {
        for limit in [DEFAULT_LIMIT, limit] {
            for cut in 0..=stream.len() {
                let [whole, cut_once] = whole_and_cut(limit, &stream, &[cut]);
                prop_assert_eq!(&whole, &cut_once, "limit {} cut at {}", limit, cut);
            }
        }
    }

    #[test]
    fn any_multi_way_split_gives_the_same_items(
        stream in stream(),
        limit in 4usize..48,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        for limit in [DEFAULT_LIMIT, limit] {
            let [whole, cut] = whole_and_cut(limit, &stream, &cuts);
            prop_assert_eq!(whole, cut, "limit {} cuts {:?}", limit, &cuts);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_within_the_limit(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        limit in 1usize..40,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let [whole, cut] = whole_and_cut(limit, &bytes, &cuts);
        for item in &whole.0 {
            if let Owned::Event { data, .. } = item {
                prop_assert!(data.len() < limit, "{} bytes of data", data.len());
            }
        }
        prop_assert_eq!(whole, cut);
    }
}

#[test]
fn the_generator_reaches_events_retries_ids_and_overflows() {
    // The property tests are only as good as their streams: check that they reach what they
    // are for, on a fixed sample.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = stream();
    let (mut events, mut retries, mut ids, mut too_long) = (0, 0, 0, 0);
    for _ in 0..500 {
        let stream = strategy.new_tree(&mut runner).unwrap().current();
        for item in feed_chunks(&mut Parser::with_limit(24), &[&stream]) {
            match item {
                Owned::Event { id, .. } => {
                    events += 1;
                    ids += usize::from(!id.is_empty());
                }
                Owned::Retry(_) => retries += 1,
                Owned::TooLong => too_long += 1,
            }
        }
    }
    assert!(
        events > 300 && retries > 50 && ids > 50 && too_long > 50,
        "{events} events, {ids} with an id, {retries} retries, {too_long} too long"
    );
}

#[test]
fn finds_line_ends_at_every_position() {
    for len in 0..40 {
        for at in 0..len {
            for end in [b'\n', b'\r'] {
                let mut bytes = vec![b'a'; len];
                // Bytes that differ from CR and LF by one bit, around the end.
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = [b'\x0b', b'\x0c', b'\x0e', b'\x8a', b'\x8d', b'x'][i % 6];
                }
                bytes[at] = end;
                assert_eq!(find_line_end(&bytes), Some(at), "{bytes:?}");
            }
        }
        assert_eq!(find_line_end(&vec![b'\x0b'; len]), None);
    }
}

#[test]
fn parses_the_load_generators_frames_split_anywhere() {
    // Moved from the load generator's own parser.
    let wire = b"retry: 3000\n\nevent: heartbeat\nid: 0\ndata: {}\n\n: c\nevent: patch\nid: 1\ndata: [1]\r\n\r\n";
    for split in 0..wire.len() {
        let mut p = Parser::new();
        let items = feed_chunks(&mut p, &[&wire[..split], &wire[split..]]);
        assert_eq!(
            items,
            [
                Owned::Retry(3000),
                event("heartbeat", "{}", "0"),
                event("patch", "[1]", "1"),
            ]
        );
    }
}
