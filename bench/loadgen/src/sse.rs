//! An incremental SSE parser (the WHATWG field rules, for what the benchmark reads): `event`,
//! `id` and `data` fields, comments and `retry:` ignored, dispatch on a blank line.

#[derive(Default)]
pub struct Parser {
    line: Vec<u8>,
    event: String,
    id: Option<String>,
    data: String,
    has_data: bool,
    /// The previous byte was CR, so a following LF belongs to the same line ending.
    after_cr: bool,
}

pub struct Event<'a> {
    pub event: &'a str,
    pub id: Option<&'a str>,
    pub data: &'a str,
}

impl Parser {
    pub fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(Event<'_>)) {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    self.end_line(on_event);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
    }

    fn end_line(&mut self, on_event: &mut impl FnMut(Event<'_>)) {
        if self.line.is_empty() {
            if self.has_data {
                let event = if self.event.is_empty() {
                    "message"
                } else {
                    &self.event
                };
                on_event(Event {
                    event,
                    id: self.id.as_deref(),
                    data: &self.data,
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        let line = String::from_utf8_lossy(&self.line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*line, ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // The last event id persists between events, as in browsers.
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        self.line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_frames() {
        let wire = b"retry: 3000\n\nevent: heartbeat\nid: 0\ndata: {}\n\n: c\nevent: patch\nid: 1\ndata: [1]\r\n\r\n";
        for split in 0..wire.len() {
            let mut p = Parser::default();
            let mut seen = Vec::new();
            let mut on = |e: Event<'_>| {
                seen.push((
                    e.event.to_owned(),
                    e.id.map(str::to_owned),
                    e.data.to_owned(),
                ))
            };
            p.feed(&wire[..split], &mut on);
            p.feed(&wire[split..], &mut on);
            assert_eq!(
                seen,
                vec![
                    ("heartbeat".into(), Some("0".into()), "{}".into()),
                    ("patch".into(), Some("1".into()), "[1]".into()),
                ]
            );
        }
    }
}
