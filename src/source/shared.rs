//! The state machine's side of sharing (`share: true`, see `crate::share`): a follower delivers
//! what the leader relays through its own registry, so `on`, `onState`, `onError`, `onReset`,
//! `refresh` and `patches` behave as with a connection of its own; the leader runs the normal
//! state machine and relays each event after its resume and reset verdicts. When the lock comes
//! to a follower it resumes from the last id it was given.

use gloo_events::EventListener;
use gloo_timers::callback::Interval;
use wasm_bindgen::JsValue;

use super::Inner;
use crate::error::Error;
use crate::options::Transport;
use crate::platform;
use crate::policy::backoff::Schedule;
use crate::share::relay::{stream_name, Message, Names, Tracker};
use crate::share::{self, Link};
use crate::source::dispatch::{self, State};

/// This source's part in a shared stream.
pub(crate) struct Sharing {
    link: Link,
    tab: String,
    /// The ids relayed to this tab (a follower's resume point if it becomes the leader).
    tracker: Tracker,
    /// The id of the last event this leader relayed.
    pub(super) relayed_id: String,
    /// Event names the followers listen to (as they said, or as the leader relayed); the
    /// leader listens to them too.
    pub(super) names: Names,
    /// The follower's watch on the leader: something arrived since the last tick, idle ticks
    /// since, a `heartbeat` was relayed, and the leader said it is open.
    heard: bool,
    idle: u8,
    beats: bool,
    leader_open: bool,
    _watch: Option<Interval>,
}

impl Inner {
    /// `"leader"`, `"follower"`, or `"off"` when this source runs alone.
    pub fn sharing(&self) -> &'static str {
        match (self.share.borrow().is_some(), self.leading.get()) {
            (false, _) => "off",
            (true, true) => "leader",
            (true, false) => "follower",
        }
    }

    /// Whether this source follows another tab's connection (it has none of its own).
    pub(super) fn follows(&self) -> bool {
        !self.leading.get() && self.share.borrow().is_some()
    }

    /// Joins the stream's tabs as a follower, queued for the lock. `false` when this page
    /// cannot share (said once in the console): the source connects on its own.
    pub(super) fn join_share(&self) -> bool {
        if share::unsupported().is_some() {
            return false;
        }
        let transport = match self.options.transport {
            Transport::EventSource => "eventsource",
            Transport::Fetch => "fetch",
        };
        let name = stream_name(
            &self.url,
            transport,
            self.options.with_credentials,
            &self.options.share_key,
        );
        let (on_message, on_lead, on_lost) = (self.me.clone(), self.me.clone(), self.me.clone());
        let link = Link::join(
            &name,
            move |m| {
                if let Some(s) = on_message.upgrade().filter(|s| !s.closed.get()) {
                    s.relayed(m);
                }
            },
            move || {
                if let Some(s) = on_lead.upgrade().filter(|s| !s.closed.get()) {
                    s.elected();
                }
            },
            move || {
                if let Some(s) = on_lost.upgrade().filter(|s| !s.closed.get()) {
                    s.lost();
                }
            },
        );
        let timeout = self.options.heartbeat_timeout_ms;
        let watch = (timeout > 0).then(|| {
            let me = self.me.clone();
            Interval::new((timeout / 2).max(1), move || {
                if let Some(s) = me.upgrade() {
                    s.watch_leader();
                }
            })
        });
        let tab = share::tab_id();
        let last = self.last_event_id();
        let names: Vec<String> = self.registry.borrow().events.keys().cloned().collect();
        link.post(&Message::Hello {
            tab: tab.clone(),
            names,
        });
        *self.share.borrow_mut() = Some(Sharing {
            link,
            tab,
            tracker: Tracker::new(last),
            names: Names::default(),
            relayed_id: String::new(),
            heard: false,
            idle: 0,
            beats: false,
            leader_open: false,
            _watch: watch,
        });
        self.leading.set(false);
        true
    }

    /// Leaves the shared stream: the lock (if held) goes to another tab at once.
    pub(super) fn leave_share(&self) {
        let was_leading = self.leading.replace(false);
        let link = self.share.borrow_mut().take();
        if let (false, Some(s)) = (was_leading, &link) {
            // What it was given is where it resumes if it rejoins and leads.
            self.resume.borrow_mut().rebase(s.tracker.last());
        }
        drop(link);
    }

    /// The lock came to this tab: run the state machine, from the last id any tab was given.
    fn elected(&self) {
        let last = match self.share.borrow().as_ref() {
            Some(s) => s.tracker.last().map(str::to_owned),
            None => return,
        };
        self.leading.set(true);
        if let Some(s) = self.share.borrow_mut().as_mut() {
            s.relayed_id = last.clone().unwrap_or_default();
        }
        // The window of what it was relayed stays: a replay of it is dropped (`Resume::record`).
        self.resume.borrow_mut().rebase(last.as_deref());
        *self.schedule.borrow_mut() = Schedule::new(self.options.backoff.clone());
        self.connect();
        self.post(&Message::Ask);
    }

    /// Another tab took the lock (this one looked frozen to it): follow from what this tab
    /// delivered, and queue for the lock again (`io.js` does).
    fn lost(&self) {
        if !self.leading.replace(false) {
            return;
        }
        self.bump();
        self.reconnect_timer.borrow_mut().take();
        self.drop_connection();
        let last = self.resume.borrow().last_id().map(str::to_owned);
        if let Some(s) = self.share.borrow_mut().as_mut() {
            s.tracker = Tracker::new(last);
            (s.heard, s.idle, s.beats, s.leader_open) = (false, 0, false, false);
        }
    }

    /// A leader that relayed `heartbeat` events while open and then goes silent for about two
    /// heartbeat timeouts (its own watchdog would have said so after one) is frozen or hung:
    /// take the lock from it.
    fn watch_leader(&self) {
        if self.leading.get() || self.closed.get() {
            return;
        }
        let steal = {
            let mut share = self.share.borrow_mut();
            let Some(s) = share.as_mut() else { return };
            if !(s.beats && s.leader_open) || std::mem::take(&mut s.heard) {
                s.idle = 0;
                return;
            }
            s.idle += 1;
            s.idle >= 4
        };
        if steal {
            self.emit_error(&Error::Network(
                "the tab holding the shared connection stopped relaying; taking it over".into(),
            ));
            if let Some(s) = self.share.borrow_mut().as_mut() {
                (s.idle, s.beats, s.leader_open) = (0, false, false);
                s.link.steal();
            }
        }
    }

    pub(super) fn post(&self, message: &Message) {
        if let Some(s) = self.share.borrow().as_ref() {
            s.link.post(message);
        }
    }

    /// The follower's last id, when it follows.
    pub(super) fn followed_id(&self) -> Option<Option<String>> {
        if self.leading.get() {
            return None;
        }
        let share = self.share.borrow();
        Some(share.as_ref()?.tracker.last().map(str::to_owned))
    }

    /// A follower listens to one more event name: the leader must too.
    pub(super) fn share_listen(&self, name: &str) {
        if self.follows() {
            self.post(&Message::Names(vec![name.to_owned()]));
        }
    }

    /// Relays an error the connection (not a listener) caused.
    pub(super) fn relay_error(&self, e: &Error) {
        if self.leading.get() && matches!(e.kind(), "http" | "auth" | "network" | "closed") {
            self.post(&Message::Error(e.clone()));
        }
    }

    /// Stops for good, and tells the followers to stop too.
    pub(super) fn stop(&self) {
        if self.leading.get() {
            self.post(&Message::Stop);
        }
        self.close();
    }

    fn relayed(&self, message: Message) {
        if self.leading.get() {
            self.lead(message);
        } else {
            self.follow(message);
        }
    }

    fn lead(&self, message: Message) {
        let names = match message {
            Message::Hello { tab, names } => {
                let state = self.state.get().as_str().to_owned();
                let last_id = self.last_event_id().unwrap_or_default();
                let recent = self.resume.borrow().recent_ids();
                self.post(&Message::Welcome {
                    tab,
                    state,
                    last_id,
                    recent,
                });
                names
            }
            Message::Names(names) => names,
            Message::Ask => return,
            // Left over from a leader before this one: this tab resumes on its own.
            _ => return,
        };
        if let Some(s) = self.share.borrow_mut().as_mut() {
            for name in &names {
                s.names.insert(name);
            }
        }
        if let Some(conn) = self.conn.borrow_mut().as_mut() {
            for name in &names {
                conn.listen(name);
            }
        }
    }

    fn follow(&self, message: Message) {
        if let Some(s) = self.share.borrow_mut().as_mut() {
            // Only what a leader sends shows it is alive.
            s.heard |= !matches!(message, Message::Hello { .. } | Message::Names(_));
            match &message {
                Message::Event { name, .. } => {
                    s.beats |= name == "heartbeat";
                    s.names.insert(name);
                }
                Message::State(state) => s.leader_open = state == "open",
                _ => {}
            }
        }
        match message {
            Message::Event {
                name,
                id,
                data,
                same,
            } => {
                let new = self
                    .share
                    .borrow_mut()
                    .as_mut()
                    .is_some_and(|s| s.tracker.accept(&id, same));
                if new {
                    if !same {
                        self.resume.borrow_mut().record(&id);
                    }
                    self.deliver(&name, &id, &JsValue::from_str(&data));
                }
            }
            Message::State(state) => {
                let state = match state.as_str() {
                    "connecting" => State::Connecting,
                    "open" => State::Open,
                    "reconnecting" => State::Reconnecting,
                    _ => return,
                };
                self.set_state(state);
            }
            Message::Error(e) => self.emit_error(&e),
            Message::Reset { data, id } => {
                if let Some(s) = self.share.borrow_mut().as_mut() {
                    s.tracker.reset(&id);
                }
                self.resume.borrow_mut().reset(&id);
                let data = JsValue::from_str(&data);
                self.notify_reset(&dispatch::parse_json(&data).unwrap_or(data));
            }
            Message::Stop => self.close(),
            Message::Welcome {
                tab,
                state,
                last_id,
                recent,
            } => {
                {
                    let mut share = self.share.borrow_mut();
                    let Some(s) = share.as_mut().filter(|s| s.tab == tab) else {
                        return;
                    };
                    if s.tracker.last().is_none() && !last_id.is_empty() {
                        s.tracker = Tracker::new(Some(last_id));
                    }
                }
                // The leader's window holds whatever was relayed to this tab before it came
                // (one sender's messages arrive in order): it becomes this tab's window.
                self.resume
                    .borrow_mut()
                    .seed(recent.iter().map(String::as_str));
                self.follow(Message::State(state));
            }
            Message::Ask => {
                let names: Vec<String> = self.registry.borrow().events.keys().cloned().collect();
                self.post(&Message::Names(names));
            }
            Message::Hello { .. } | Message::Names(_) => {}
        }
    }

    /// `pagehide` leaves the shared stream (so another tab takes over at once, and no open
    /// channel keeps the page out of the back/forward cache); a page restored from that cache
    /// rejoins as a follower. A page the browser freezes (`freeze`, Chromium's page lifecycle)
    /// leaves too, and rejoins on `resume`.
    pub(super) fn watch_share_lifecycle(&self, listeners: &mut Vec<EventListener>) {
        let Some(window) = platform::window() else {
            return;
        };
        let me = self.me.clone();
        listeners.push(EventListener::new(&window, "pagehide", move |_| {
            if let Some(s) = me.upgrade() {
                s.leave_page();
            }
        }));
        let me = self.me.clone();
        listeners.push(EventListener::new(&window, "pageshow", move |event| {
            let persisted = js_sys::Reflect::get(event, &"persisted".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if let Some(s) = me.upgrade().filter(|_| persisted) {
                s.rejoin();
            }
        }));
        if let Some(document) = window.document() {
            let me = self.me.clone();
            listeners.push(EventListener::new(&document, "freeze", move |_| {
                if let Some(s) = me.upgrade() {
                    s.leave_page();
                }
            }));
            let me = self.me.clone();
            listeners.push(EventListener::new(&document, "resume", move |_| {
                if let Some(s) = me.upgrade() {
                    s.rejoin();
                }
            }));
        }
    }

    fn leave_page(&self) {
        if self.closed.get() || self.share.borrow().is_none() {
            return;
        }
        self.bump();
        self.reconnect_timer.borrow_mut().take();
        self.drop_connection();
        self.leave_share();
    }

    fn rejoin(&self) {
        if self.closed.get() || self.share.borrow().is_some() {
            return;
        }
        if !self.join_share() {
            self.connect();
        }
    }
}
