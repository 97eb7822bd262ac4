//! Lossless resume: the last id seen, the order of recent ids to drop a server's replay overlap
//! after the library reconnected, and the connect URL that carries the id and the token as query
//! parameters (a new `EventSource` cannot send `Last-Event-ID`, and no `EventSource` can send
//! headers).
//!
//! Duplicates can only arise where the server cannot know our place: on a connection the library
//! opened itself, whose id travels in a query parameter that a header-only server ignores (it
//! may replay its backlog from the start). On the browser's own reconnect the `Last-Event-ID`
//! header says where we are, so everything is delivered, as the native object delivers it —
//! unless that connection was dropped while it replayed: the header then names a replayed id,
//! and the server goes on with the replay, which goes on being dropped. And only a leading run
//! that repeats what was delivered, in the same order, is a replay: a repeated id later in a
//! stream is an event like any other.

mod query;

pub use query::{redact, with_query_params};

use std::collections::VecDeque;
use std::rc::Rc;

/// How many recent ids are remembered: how long a replayed run from a server that ignores the
/// resume id can be and still be recognised.
pub const DEDUPE_WINDOW: usize = 512;

/// What to do with an incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Deliver,
    Duplicate,
    /// Deliver it, and tell the app: the first id of a new connection is below the resume point,
    /// so the server's numbering started again (it restarted, or lost its log). The native
    /// object delivers these events too; nothing is dropped for looking like an old id.
    Restarted,
}

/// How the current connection came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// The browser's own reconnect of the same `EventSource`: it sent `Last-Event-ID`.
    Native,
    /// A new `EventSource` the library opened: the id went only in the query string.
    Takeover,
}

/// An id in the dedupe window. Canonical decimal ids (most servers count) are kept as numbers:
/// no allocation, and a cheap comparison, on the per-event path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Number(u64),
    Text(Rc<str>),
}

impl Key {
    fn of(id: &str) -> Key {
        match decimal(id) {
            Some(n) => Key::Number(n),
            None => Key::Text(Rc::from(id)),
        }
    }

    fn is(&self, id: &str) -> bool {
        match self {
            Key::Number(n) => decimal(id) == Some(*n),
            Key::Text(t) => &**t == id,
        }
    }
}

/// `id` as a number if it is a canonical decimal (digits only, no leading zero) of at most 15
/// digits, so that it converts exactly to and from a JS number. The workspace's one
/// implementation, in `livesource-protocol` (the server's reader, beside it, takes any `u64`).
pub use livesource_protocol::resume::decimal_js as decimal;

/// Where the current connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No event with an id yet on this connection.
    First(Reconnect),
    /// Replaying what was delivered before; `next` is the position in `recent` expected next.
    Overlap {
        next: usize,
    },
    /// The browser's reconnect of a connection dropped during a replay: `recent[next]` first is
    /// the replay going on; anything else, a first event as after any reconnect of the browser's.
    Resumed {
        next: usize,
    },
    Steady,
}

/// Resume state that outlives each connection.
#[derive(Debug)]
pub struct Resume {
    last_id: Option<String>,
    /// Ids in delivery order, oldest first, at most `DEDUPE_WINDOW`.
    recent: VecDeque<Key>,
    /// The id buffer of the current connection. Per the SSE spec an event without an `id:` field
    /// reports the previous id again, so "same as the last one on this connection" means "no id".
    connection_id: Option<Key>,
    phase: Phase,
    /// The resume point before the last `Verdict::Restarted`, for telling the app.
    restarted_from: String,
}

impl Resume {
    pub fn new(initial: Option<String>) -> Self {
        Self {
            last_id: initial.filter(|id| !id.is_empty()),
            recent: VecDeque::new(),
            connection_id: None,
            phase: Phase::First(Reconnect::Takeover),
            restarted_from: String::new(),
        }
    }

    /// The resume point that the last `Verdict::Restarted` went back from.
    pub fn take_restarted_from(&mut self) -> String {
        std::mem::take(&mut self.restarted_from)
    }

    /// The id to resume from on the next connection.
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// A connection starts. A new `EventSource` starts with an empty id buffer; the browser's
    /// reconnect of the same one keeps it, as the spec says.
    pub fn new_connection(&mut self, how: Reconnect) {
        if how == Reconnect::Takeover {
            self.connection_id = None;
        }
        self.phase = match (how, self.phase) {
            // Dropped during a replay of what was delivered: the browser resumes from the last
            // replayed id it got, so what comes next may be the rest of that replay (and still
            // is after a reconnect that got no event).
            (Reconnect::Native, Phase::Overlap { next } | Phase::Resumed { next })
                if next < self.recent.len() =>
            {
                Phase::Resumed { next }
            }
            // A takeover's connection dropped before any event: the browser's reconnect sends
            // no id either, and the server may replay as it would have to the takeover.
            (Reconnect::Native, Phase::First(Reconnect::Takeover))
                if self.connection_id.is_none() =>
            {
                Phase::First(Reconnect::Takeover)
            }
            _ => Phase::First(how),
        };
    }

    /// A `reset` from the server: whatever came before no longer says anything about what comes
    /// next, so nothing after it is ever dropped as a repeat of something before it.
    pub fn reset(&mut self, id: &str) {
        self.recent.clear();
        self.phase = Phase::Steady;
        if !id.is_empty() {
            self.connection_id = Some(Key::of(id));
            self.set_last(id);
        }
    }

    /// Classifies an event by the `lastEventId` the browser reported for it, and records it.
    pub fn accept(&mut self, id: &str) -> Verdict {
        if id.is_empty() || self.connection_id.as_ref().is_some_and(|k| k.is(id)) {
            return Verdict::Deliver;
        }
        let verdict = self.classify(Key::of(id));
        if verdict != Verdict::Duplicate {
            self.set_last(id);
        }
        verdict
    }

    /// `accept` for an id that is the canonical decimal `n` (see `decimal`), without its text.
    pub fn accept_number(&mut self, n: u64) -> Verdict {
        if self.connection_id == Some(Key::Number(n)) {
            return Verdict::Deliver;
        }
        let verdict = self.classify(Key::Number(n));
        if verdict != Verdict::Duplicate {
            let last = self.last_id.get_or_insert_with(String::new);
            last.clear();
            push_decimal(last, n);
        }
        verdict
    }

    /// An event another tab's connection delivered to this one (a follower of a shared
    /// stream): it joins the window that a takeover's replay is matched against, so a tab that
    /// takes over drops what the server replays to it as the tab that led would have. The
    /// resume point is not moved: a follower's is its tracker's, given by `rebase` (this runs
    /// for every relayed event, and a copy of each id here would be read by nothing).
    pub fn record(&mut self, id: &str) {
        if !id.is_empty() {
            self.remember(Key::of(id));
        }
    }

    /// Puts `ids` (oldest first: the leader's window, for a tab that joins) before what this
    /// tab recorded that they lack: events relayed before the leader answered are in both, and
    /// those of another sender (a new leader) or from a leader that sent no window are kept.
    pub fn seed<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) {
        let recorded = std::mem::take(&mut self.recent);
        for id in ids.into_iter().filter(|id| !id.is_empty()) {
            self.remember(Key::of(id));
        }
        for key in recorded {
            if !self.recent.contains(&key) {
                self.remember(key);
            }
        }
    }

    /// The window's ids, oldest first (for `seed`).
    pub fn recent_ids(&self) -> Vec<String> {
        self.recent
            .iter()
            .map(|key| match key {
                Key::Number(n) => decimal_string(*n),
                Key::Text(t) => t.to_string(),
            })
            .collect()
    }

    /// Resumes from `last` (where the tabs of a shared stream got to), keeping the window.
    pub fn rebase(&mut self, last: Option<&str>) {
        match last.filter(|id| !id.is_empty()) {
            Some(id) => self.set_last(id),
            None => self.last_id = None,
        }
    }

    fn remember(&mut self, key: Key) {
        if self.recent.len() == DEDUPE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(key);
    }

    fn set_last(&mut self, id: &str) {
        let last = self.last_id.get_or_insert_with(String::new);
        last.clear();
        last.push_str(id);
    }

    fn classify(&mut self, key: Key) -> Verdict {
        if let Phase::Resumed { next } = self.phase {
            self.phase = if self.recent.get(next) == Some(&key) {
                Phase::Overlap { next }
            } else {
                Phase::First(Reconnect::Native)
            };
        }
        let verdict = match self.phase {
            Phase::First(how) => {
                self.phase = Phase::Steady;
                let replayed = match how {
                    Reconnect::Takeover => self.recent.iter().position(|k| *k == key),
                    Reconnect::Native => None,
                };
                if let Some(at) = replayed {
                    self.phase = Phase::Overlap { next: at + 1 };
                    Verdict::Duplicate
                } else if self.went_back(&key) {
                    self.recent.clear();
                    self.restarted_from = self.last_id.clone().unwrap_or_default();
                    Verdict::Restarted
                } else {
                    Verdict::Deliver
                }
            }
            Phase::Overlap { next } if self.recent.get(next) == Some(&key) => {
                self.phase = Phase::Overlap { next: next + 1 };
                Verdict::Duplicate
            }
            Phase::Overlap { .. } | Phase::Resumed { .. } | Phase::Steady => {
                self.phase = Phase::Steady;
                Verdict::Deliver
            }
        };
        if verdict != Verdict::Duplicate {
            self.remember(key.clone());
        }
        self.connection_id = Some(key);
        verdict
    }

    /// Whether `key` is below the resume point: only numbers can say so.
    fn went_back(&self, key: &Key) -> bool {
        let last = self.last_id.as_deref().and_then(decimal);
        matches!((key, last), (Key::Number(n), Some(last)) if *n < last)
    }
}

/// Appends `n` in decimal, without the formatting machinery.
pub(crate) use livesource_protocol::resume::{decimal_string, push_decimal};

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// `feed` with the decimal ids of `ids`, as text.
    fn feed_numbers(r: &mut Resume, ids: std::ops::RangeInclusive<u64>) -> Vec<Verdict> {
        ids.map(|n| r.accept(&n.to_string())).collect()
    }

    fn feed(r: &mut Resume, ids: &[&str]) -> Vec<Verdict> {
        ids.iter().map(|id| r.accept(id)).collect()
    }

    use Verdict::{Deliver, Duplicate, Restarted};

    #[test]
    fn events_without_ids_are_delivered_and_do_not_move_the_resume_point() {
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(r.accept(""), Deliver);
        assert_eq!(r.last_id(), None);
        assert_eq!(r.accept("1"), Deliver);
        // A heartbeat without `id:` reports "1" again: it is not a duplicate.
        assert_eq!(r.accept("1"), Deliver);
        assert_eq!(r.last_id(), Some("1"));
    }

    #[test]
    fn a_replayed_run_after_a_takeover_is_dropped_once() {
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(feed(&mut r, &["1", "2", "3"]), [Deliver; 3]);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(
            feed(&mut r, &["2", "3", "4"]),
            [Duplicate, Duplicate, Deliver]
        );
        assert_eq!(r.last_id(), Some("4"));
    }

    /// A header-only server replays its whole backlog to a client that sends no header.
    #[test]
    fn a_backlog_replayed_from_the_start_is_dropped_and_what_follows_delivered() {
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        feed(&mut r, &["1", "2", "3", "4", "5"]);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(
            feed(&mut r, &["1", "2", "3", "4", "5", "6", "7"]),
            [Duplicate, Duplicate, Duplicate, Duplicate, Duplicate, Deliver, Deliver]
        );
    }

    /// The browser's own reconnect sent `Last-Event-ID`: the server knows where we are, and
    /// everything is delivered as the native object delivers it.
    #[test]
    fn nothing_is_dropped_after_the_browsers_own_reconnect() {
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        feed(&mut r, &["1", "2", "3"]);
        r.new_connection(Reconnect::Native);
        assert_eq!(feed(&mut r, &["4", "5"]), [Deliver, Deliver]);
        r.new_connection(Reconnect::Native);
        // A server that resends the last event (an inclusive resume) reports the id buffer
        // again, which the native object delivers too.
        assert_eq!(feed(&mut r, &["5", "6"]), [Deliver, Deliver]);
    }

    /// An in-memory server restarted and numbers from 1 again: not duplicates, and the app is
    /// told. After the browser's own reconnect that holds even for ids it delivered before;
    /// after a takeover, a run that repeats delivered ids in order is a replay, so only a
    /// restart that starts outside the window is told apart.
    #[test]
    fn ids_that_restart_below_the_resume_point_are_delivered_and_reported() {
        for (how, first_old) in [(Reconnect::Native, 1), (Reconnect::Takeover, 101)] {
            let mut r = Resume::new(None);
            r.new_connection(Reconnect::Takeover);
            let old: Vec<String> = (first_old..first_old + 20).map(|i| i.to_string()).collect();
            feed(&mut r, &old.iter().map(String::as_str).collect::<Vec<_>>());
            r.new_connection(how);
            assert_eq!(
                feed(&mut r, &["1", "2", "3"]),
                [Restarted, Deliver, Deliver],
                "{how:?}"
            );
            assert_eq!(r.last_id(), Some("3"));
        }
    }

    #[test]
    fn a_repeated_id_inside_a_stream_is_delivered() {
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        let ids: Vec<String> = (1..=11).map(|i| i.to_string()).collect();
        assert!(
            feed(&mut r, &ids.iter().map(String::as_str).collect::<Vec<_>>())
                .iter()
                .all(|v| *v == Deliver)
        );
        assert_eq!(feed(&mut r, &["7", "12"]), [Deliver, Deliver]);
    }

    /// A replay overlap ends at the first id that does not repeat the delivered order.
    #[test]
    fn an_overlap_ends_where_the_order_differs() {
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        feed(&mut r, &["1", "2", "3"]);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(
            feed(&mut r, &["2", "9", "3"]),
            [Duplicate, Deliver, Deliver]
        );
    }

    #[test]
    fn a_reset_clears_the_window_whatever_its_id() {
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        feed(&mut r, &["0", "1", "2"]);
        r.new_connection(Reconnect::Takeover);
        r.reset("0");
        assert_eq!(r.last_id(), Some("0"));
        assert_eq!(feed(&mut r, &["1", "2"]), [Deliver, Deliver]);
    }

    #[test]
    fn the_window_is_bounded() {
        let mut r = Resume::new(Some("0".into()));
        r.new_connection(Reconnect::Takeover);
        for i in 1..=(DEDUPE_WINDOW * 3) {
            assert_eq!(r.accept(&i.to_string()), Deliver);
        }
        assert_eq!(r.recent.len(), DEDUPE_WINDOW);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(
            r.accept("1"),
            Restarted,
            "forgotten ids are not held forever: an old id is a restart, not a repeat"
        );
    }

    #[test]
    fn numeric_and_text_forms_of_an_id_are_one_id() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("123456789012345"), Some(123_456_789_012_345));
        for not in ["", "01", "+1", "1e3", "-1", "1234567890123456", "a1"] {
            assert_eq!(decimal(not), None, "{not}");
        }
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(r.accept_number(41), Deliver);
        assert_eq!(r.last_id(), Some("41"));
        assert_eq!(r.accept("42"), Deliver);
        assert_eq!(r.accept_number(42), Deliver, "the connection's id buffer");
        r.new_connection(Reconnect::Takeover);
        assert_eq!(r.accept("41"), Duplicate);
        assert_eq!(r.accept_number(42), Duplicate);
        assert_eq!(r.accept("042"), Deliver, "not the same id as 42");
        assert_eq!(r.accept_number(43), Deliver);
        assert_eq!(r.last_id(), Some("43"));
        let mut s = String::from("x");
        push_decimal(&mut s, 0);
        push_decimal(&mut s, u64::MAX);
        assert_eq!(s, format!("x0{}", u64::MAX));
    }

    #[test]
    fn a_follower_that_takes_over_drops_the_replay_of_what_it_was_relayed() {
        // A follower records what the leader relayed; elected, it resumes from where the tabs
        // got to, and a server that replays its recent backlog (it read no resume id) repeats
        // nothing, as it would not to the tab that led.
        let mut r = Resume::new(None);
        for id in ["5", "6", "7", "8"] {
            r.record(id);
        }
        r.rebase(Some("8"));
        assert_eq!(r.last_id(), Some("8"));
        r.new_connection(Reconnect::Takeover);
        assert_eq!(
            feed(&mut r, &["6", "7", "8", "9"]),
            [Duplicate, Duplicate, Duplicate, Deliver]
        );
        assert_eq!(r.last_id(), Some("9"));
        // What it was never relayed is still a restart, as for any source.
        let mut fresh = Resume::new(None);
        fresh.rebase(Some("8"));
        fresh.new_connection(Reconnect::Takeover);
        assert_eq!(fresh.accept("6"), Restarted);
        // Text ids too; an empty one records nothing.
        let mut t = Resume::new(None);
        t.record("a");
        t.record("");
        t.record("b");
        assert_eq!(t.last_id(), None, "the resume point is rebase's");
        t.rebase(Some("b"));
        t.new_connection(Reconnect::Takeover);
        assert_eq!(
            feed(&mut t, &["a", "b", "c"]),
            [Duplicate, Duplicate, Deliver]
        );
        t.rebase(None);
        assert_eq!(t.last_id(), None);
        // A tab that joins takes the leader's window: ids relayed before it came are in it.
        let mut leader = Resume::new(None);
        leader.new_connection(Reconnect::Takeover);
        assert_eq!(
            feed(&mut leader, &["1", "x", "3"]),
            [Deliver, Deliver, Deliver]
        );
        let mut joined = Resume::new(None);
        joined.seed(leader.recent_ids().iter().map(String::as_str));
        assert_eq!(leader.recent_ids(), ["1", "x", "3"]);
        joined.record("4");
        joined.rebase(Some("4"));
        joined.new_connection(Reconnect::Takeover);
        assert_eq!(
            feed(&mut joined, &["1", "x", "3", "4", "5"]),
            [Duplicate, Duplicate, Duplicate, Duplicate, Deliver]
        );
    }

    #[test]
    fn a_replay_cut_short_goes_on_after_the_browsers_reconnect() {
        // A takeover's server replays 6.. of what was delivered (1..10) and drops the stream at
        // 7; the browser reconnects from 7 (its id buffer), and the server replays 8..10 before
        // anything new: repeats, not a restart.
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        assert!(feed_numbers(&mut r, 1..=10).iter().all(|v| *v == Deliver));
        r.new_connection(Reconnect::Takeover);
        assert_eq!(feed(&mut r, &["6", "7"]), [Duplicate, Duplicate]);
        r.new_connection(Reconnect::Native);
        assert_eq!(
            feed(&mut r, &["8", "9", "10", "11"]),
            [Duplicate, Duplicate, Duplicate, Deliver]
        );
        assert_eq!(r.last_id(), Some("11"));
        // Once past the replay, a reconnect of the browser's is new events as before, and a
        // server that numbers from 1 again after it is still a restart.
        r.new_connection(Reconnect::Native);
        assert_eq!(r.accept("12"), Deliver);
        r.new_connection(Reconnect::Native);
        assert_eq!(r.accept("1"), Restarted);
    }

    #[test]
    fn a_restart_after_a_replay_is_still_a_restart() {
        let delivered = |r: &mut Resume| {
            r.new_connection(Reconnect::Takeover);
            for n in 1..=10 {
                assert_eq!(r.accept_number(n), Deliver);
            }
            r.new_connection(Reconnect::Takeover);
        };
        // Dropped during the replay (6, 7), and the server restarted meanwhile: it numbers
        // from 1 again, which is not the rest of the replay (8).
        let mut r = Resume::new(None);
        delivered(&mut r);
        assert_eq!(feed(&mut r, &["6", "7"]), [Duplicate, Duplicate]);
        r.new_connection(Reconnect::Native);
        assert_eq!(feed(&mut r, &["1", "2"]), [Restarted, Deliver]);
        // The whole replay came (1..10), the stream went quiet, then a restart.
        let mut r = Resume::new(None);
        delivered(&mut r);
        assert!(feed_numbers(&mut r, 1..=10).iter().all(|v| *v == Duplicate));
        r.new_connection(Reconnect::Native);
        assert_eq!(feed(&mut r, &["1", "2"]), [Restarted, Deliver]);
        // Dropped during the replay, resumed past it: new events.
        let mut r = Resume::new(None);
        delivered(&mut r);
        assert_eq!(r.accept("9"), Duplicate);
        r.new_connection(Reconnect::Native);
        assert_eq!(feed(&mut r, &["11", "12"]), [Deliver, Deliver]);
    }

    #[test]
    fn reconnects_that_get_no_event_keep_what_the_next_one_may_replay() {
        // A replay cut short (6, 7), a reconnect dropped before any event, then the rest.
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        feed_numbers(&mut r, 1..=10);
        r.new_connection(Reconnect::Takeover);
        assert_eq!(feed(&mut r, &["6", "7"]), [Duplicate, Duplicate]);
        r.new_connection(Reconnect::Native);
        r.new_connection(Reconnect::Native);
        assert_eq!(
            feed(&mut r, &["8", "9", "10", "11"]),
            [Duplicate, Duplicate, Duplicate, Deliver]
        );
        // A takeover dropped before any event: its reconnect's replay is still a replay.
        let mut r = Resume::new(None);
        r.new_connection(Reconnect::Takeover);
        feed_numbers(&mut r, 1..=10);
        r.new_connection(Reconnect::Takeover);
        r.new_connection(Reconnect::Native);
        assert_eq!(
            feed(&mut r, &["9", "10", "11"]),
            [Duplicate, Duplicate, Deliver]
        );
    }

    #[test]
    fn a_seed_goes_before_what_the_tab_recorded_and_keeps_what_it_lacks() {
        let mut r = Resume::new(None);
        for id in ["4", "5", "20"] {
            r.record(id);
        }
        // The leader's window has 1..5; 20 came from another sender.
        r.seed(["1", "2", "3", "4", "5"]);
        assert_eq!(r.recent_ids(), ["1", "2", "3", "4", "5", "20"]);
        // A leader that sent no window takes nothing away.
        r.seed([]);
        assert_eq!(r.recent_ids(), ["1", "2", "3", "4", "5", "20"]);
    }
}
