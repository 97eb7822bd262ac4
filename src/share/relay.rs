//! The relay protocol between the tabs that share one stream, in plain Rust: the messages, their
//! encoding, the name of the lock and channel of a stream, and what a follower keeps of the ids
//! it was given.
//!
//! A message is a string: the version tag, then each field as `<byte length>:<text>`. Lengths
//! make any text (an event's data, a message with `|` or `:` in it) safe without escaping, and a
//! tab running another version of the library ignores what it cannot read.

use crate::error::Error;

/// The protocol version; part of every lock and channel name, so versions never mix.
pub const VERSION: &str = "ls1";

/// What crosses the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// An event the leader delivered (after its resume and reset verdicts): name, id
    /// (`''` when none), data as text, and whether the id is the one before it again (an event
    /// without an `id:` field reports the previous id), so it is no repeat of that one.
    Event {
        name: String,
        id: String,
        data: String,
        same: bool,
    },
    /// The leader's state changed (`connecting`, `open`, `reconnecting`).
    State(String),
    /// A connection error the leader reported (`http`, `auth`, `network`, `closed`).
    Error(Error),
    /// What the leader's `onReset` got (as JSON text), and the id to resume from after it.
    Reset { data: String, id: String },
    /// The leader stopped for good (a 403, 404, 410, or `backoff.maxAttempts` used up).
    Stop,
    /// A tab joined as a follower: its tab id and the event names it listens to.
    Hello { tab: String, names: Vec<String> },
    /// A follower listens to more event names.
    Names(Vec<String>),
    /// A new leader asks every follower for the names it listens to.
    Ask,
    /// The leader's answer to `Hello`: to whom, its state, the last id it delivered, and the
    /// ids of its dedupe window, oldest first (what a replay to the tab that takes over is
    /// matched against, events from before the tab joined included).
    Welcome {
        tab: String,
        state: String,
        last_id: String,
        recent: Vec<String>,
    },
}

impl Message {
    pub fn encode(&self) -> String {
        let mut out = String::from(VERSION);
        let mut put = |s: &str| {
            crate::policy::resume::push_decimal(&mut out, s.len() as u64);
            out.push(':');
            out.push_str(s);
        };
        match self {
            Message::Event {
                name,
                id,
                data,
                same,
            } => {
                put(if *same { "E" } else { "e" });
                put(name);
                put(id);
                put(data);
            }
            Message::State(s) => {
                put("s");
                put(s);
            }
            Message::Error(e) => {
                put("x");
                match e {
                    Error::Http {
                        status,
                        url,
                        detail,
                    } => {
                        put("http");
                        put(&status.to_string());
                        put(url);
                        if let Some(d) = detail {
                            put(d);
                        }
                    }
                    other => {
                        put(other.kind());
                        put(&other.message());
                    }
                }
            }
            Message::Reset { data, id } => {
                put("r");
                put(data);
                put(id);
            }
            Message::Stop => put("q"),
            Message::Ask => put("a"),
            Message::Hello { tab, names } => {
                put("h");
                put(tab);
                for n in names {
                    put(n);
                }
            }
            Message::Names(names) => {
                put("n");
                for n in names {
                    put(n);
                }
            }
            Message::Welcome {
                tab,
                state,
                last_id,
                recent,
            } => {
                put("w");
                put(tab);
                put(state);
                put(last_id);
                for id in recent {
                    put(id);
                }
            }
        }
        out
    }

    /// `None` for anything malformed or of another version.
    pub fn decode(text: &str) -> Option<Message> {
        let mut rest = text.strip_prefix(VERSION)?;
        let mut fields = Vec::new();
        // `get` rather than indexing: a length that splits a character is malformed input,
        // not a panic, and the panic path would cost the download its formatting machinery.
        while let Some((len, after)) = rest.split_once(':') {
            let len: usize = len.parse().ok()?;
            fields.push(after.get(..len)?.to_owned());
            rest = after.get(len..)?;
        }
        if !rest.is_empty() {
            return None;
        }
        let mut it = fields.into_iter();
        let tag = it.next()?;
        let mut next = || it.next();
        let message = match tag.as_str() {
            "e" | "E" => Message::Event {
                name: next()?,
                id: next()?,
                data: next()?,
                same: tag == "E",
            },
            "s" => Message::State(next()?),
            "x" => {
                let kind = next()?;
                let e = match kind.as_str() {
                    "http" => Error::Http {
                        status: next()?.parse().ok()?,
                        url: next()?,
                        detail: next(),
                    },
                    "auth" => Error::Auth(next()?),
                    "network" => Error::Network(next()?),
                    "closed" => Error::Closed(next()?),
                    _ => return None,
                };
                Message::Error(e)
            }
            "r" => Message::Reset {
                data: next()?,
                id: next()?,
            },
            "q" => Message::Stop,
            "a" => Message::Ask,
            "h" => Message::Hello {
                tab: next()?,
                names: std::iter::from_fn(next).collect(),
            },
            "n" => Message::Names(std::iter::from_fn(next).collect()),
            "w" => Message::Welcome {
                tab: next()?,
                state: next()?,
                last_id: next()?,
                recent: std::iter::from_fn(next).collect(),
            },
            _ => return None,
        };
        Some(message)
    }
}

/// The one name of the lock and the channel of a stream: the same URL (without the token or
/// resume id), the same transport, the same credentials mode and the same `shareKey`.
pub fn stream_name(url: &str, transport: &str, with_credentials: bool, key: &str) -> String {
    let credentials = if with_credentials {
        "include"
    } else {
        "same-origin"
    };
    format!(
        "livesource/{VERSION} {transport} {credentials} {}:{key} {url}",
        key.len()
    )
}

/// What a follower keeps of the relayed ids: the last one (where a new leader resumes), and a
/// floor below which a numeric id is a repeat. A new leader may replay what the old one relayed
/// last, when its lock was granted before those messages reached it; the floor drops them.
#[derive(Debug, Default, Clone)]
pub struct Tracker {
    last: Option<String>,
    floor: Option<u64>,
}

impl Tracker {
    pub fn new(last: Option<String>) -> Self {
        let mut t = Self::default();
        if let Some(id) = last.filter(|s| !s.is_empty()) {
            t.floor = decimal(&id);
            t.last = Some(id);
        }
        t
    }

    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// Whether a relayed event with this id is new (`same`: it had no id of its own and
    /// reports the one before it again); records it if so.
    pub fn accept(&mut self, id: &str, same: bool) -> bool {
        if id.is_empty() || same {
            return true;
        }
        let n = decimal(id);
        if n.is_some_and(|n| self.floor.is_some_and(|f| n <= f)) {
            return false;
        }
        if n.is_some() {
            self.floor = n;
        }
        // The buffer of the id before is reused: this runs for every relayed event.
        let last = self.last.get_or_insert_with(String::new);
        last.clear();
        last.push_str(id);
        true
    }

    /// After a reset nothing before says anything about what comes next.
    pub fn reset(&mut self, id: &str) {
        self.floor = None;
        if !id.is_empty() {
            self.last = Some(id.to_owned());
        }
    }
}

fn decimal(id: &str) -> Option<u64> {
    crate::policy::resume::decimal(id)
}

/// The event names the tabs of a stream listen to: a handful, each once (`follow` adds the name
/// of every relayed event). A `Vec` because a set type would cost the download more
/// than it could save on a few names.
#[derive(Default)]
pub struct Names(Vec<String>);

impl Names {
    pub fn insert(&mut self, name: &str) {
        if !self.contains(name) {
            self.0.push(name.to_owned());
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let all = [
            Message::Event {
                name: "change".into(),
                id: "42".into(),
                data: "{\"a\":\"x:1|é\"}\n2".into(),
                same: false,
            },
            Message::Event {
                name: "message".into(),
                id: "42".into(),
                data: String::new(),
                same: true,
            },
            Message::State("open".into()),
            Message::Error(Error::Http {
                status: 503,
                url: "http://a/s?access_token=REDACTED".into(),
                detail: Some("12:x".into()),
            }),
            Message::Error(Error::Http {
                status: 502,
                url: "/s".into(),
                detail: None,
            }),
            Message::Error(Error::Network("unreachable: 1:x".into())),
            Message::Error(Error::Auth("no token".into())),
            Message::Error(Error::Closed("gave up".into())),
            Message::Reset {
                data: "{\"reason\":\"unknown-id\"}".into(),
                id: "7".into(),
            },
            Message::Stop,
            Message::Ask,
            Message::Hello {
                tab: "t1".into(),
                names: vec!["change".into(), "ping".into()],
            },
            Message::Hello {
                tab: "t2".into(),
                names: vec![],
            },
            Message::Names(vec!["x".into()]),
            Message::Welcome {
                tab: "t1".into(),
                state: "open".into(),
                last_id: "9".into(),
                recent: vec!["8".into(), "{\"_data\":\"x\"}".into(), "9".into()],
            },
            Message::Welcome {
                tab: "t2".into(),
                state: "connecting".into(),
                last_id: String::new(),
                recent: Vec::new(),
            },
        ];
        for m in all {
            assert_eq!(Message::decode(&m.encode()), Some(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn malformed_or_foreign_messages_are_ignored() {
        for bad in [
            "",
            "ls2", /* another version */
            "ls11:e",
            "ls11:e6:change",
            "ls199:e",
            "ls11:z",
            "ls11:x4:http3:abc1:m",
            "ls11:x6:decode1:m",
            "hello",
        ] {
            assert_eq!(Message::decode(bad), None, "{bad}");
        }
        // Lengths are in bytes: a multi-byte character cannot be split.
        assert_eq!(Message::decode("ls11:s1:é"), None);
        // Nothing may follow the last field.
        assert_eq!(Message::decode("ls11:qjunk"), None, "trailing bytes");
        assert_eq!(Message::decode("ls11:s1:ab"), None, "trailing bytes");
    }

    #[test]
    fn each_name_is_kept_once() {
        let mut names = Names::default();
        for name in ["change", "heartbeat", "change", "change"] {
            names.insert(name);
        }
        assert_eq!(
            Vec::from_iter(names.iter().map(String::as_str)),
            ["change", "heartbeat"]
        );
        assert!(names.contains("heartbeat") && !names.contains("reset"));
    }

    #[test]
    fn streams_differ_by_every_part_of_their_name() {
        let base = stream_name("http://a/s", "eventsource", false, "");
        assert_ne!(base, stream_name("http://a/t", "eventsource", false, ""));
        assert_ne!(base, stream_name("http://a/s", "fetch", false, ""));
        assert_ne!(base, stream_name("http://a/s", "eventsource", true, ""));
        assert_ne!(base, stream_name("http://a/s", "eventsource", false, "u1"));
        // A key cannot be confused with a part of the URL.
        assert_ne!(
            stream_name("b http://a/s", "eventsource", false, "x"),
            stream_name("http://a/s", "eventsource", false, "x b")
        );
    }

    #[test]
    fn the_tracker_drops_repeats_of_numeric_ids_and_keeps_the_last() {
        let mut t = Tracker::new(Some("5".into()));
        assert!(!t.accept("4", false));
        assert!(!t.accept("5", false));
        assert!(t.accept("6", false));
        assert!(
            t.accept("", false),
            "an event without an id is never a repeat"
        );
        assert!(
            t.accept("6", true),
            "nor one that reports the id before it again"
        );
        assert_eq!(t.last(), Some("6"));
        assert!(t.accept("abc", false));
        assert_eq!(t.last(), Some("abc"));
        assert!(!t.accept("6", false));
        t.reset("1");
        assert!(t.accept("2", false), "after a reset lower ids are new");
        assert_eq!(t.last(), Some("2"));
        assert_eq!(Tracker::new(None).last(), None);
        assert_eq!(Tracker::new(Some(String::new())).last(), None);
    }
}
