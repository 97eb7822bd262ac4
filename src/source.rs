//! The source state machine: connect (with a fresh token and the resume id), deliver, detect
//! failure and stalls, learn why a connect failed, and reconnect on the backoff schedule.
//!
//! Every async step and every callback carries the `generation` it was started for; `close`,
//! `pause` and each new connect bump it, so late work from an old attempt is ignored.

use std::cell::Cell;
use std::rc::{Rc, Weak};

use gloo_events::EventListener;
use gloo_timers::callback::{Interval, Timeout};
use web_sys::MessageEvent;

use crate::auth::headers::Headers;
use crate::cell::RefCell;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::options::Transport;
use crate::platform;
use crate::policy::backoff::Schedule;
use crate::policy::failure::{decide, Action, Probe};
use crate::policy::resume::{self, Reconnect, Resume};
use crate::source::dispatch::{Registry, State};
use crate::transport::probe::probe;
use crate::transport::{Conn, Connection, EventId};

mod delivery;
pub(crate) mod dispatch;
mod fetch;
mod lifecycle;
pub(crate) mod registry;
mod shared;
mod watchdog;

/// Events the source always listens to, whether or not the app subscribed to them.
const RESET: &str = "reset";
const HEARTBEAT: &str = "heartbeat";

pub(crate) struct Inner {
    me: Weak<Inner>,
    /// Absolute, without the resume id or token.
    url: String,
    pub(crate) options: Options,
    state: Cell<State>,
    closed: Cell<bool>,
    generation: Cell<u64>,
    conn: RefCell<Option<Conn>>,
    /// The current connection fired `open`.
    opened: Cell<bool>,
    /// The current `EventSource` has been open at least once, so the browser's own reconnect
    /// of it sends `Last-Event-ID`.
    ever_opened: Cell<bool>,
    /// The browser is reconnecting the current `EventSource` by itself.
    native_reconnecting: Cell<bool>,
    /// The URL of the latest attempt, with its secrets: the probe must ask exactly that.
    attempt_url: RefCell<String>,
    resume: RefCell<Resume>,
    schedule: RefCell<Schedule>,
    pub(crate) registry: RefCell<Registry>,
    reconnect_timer: RefCell<Option<Timeout>>,
    watchdog: RefCell<Option<Interval>>,
    activity: Cell<bool>,
    idle_ticks: Cell<u8>,
    /// The current connection has delivered a `heartbeat` event, so silence means a stall.
    heartbeats: Cell<bool>,
    refreshed_once: Cell<bool>,
    /// The resume id at which a fetch connection ran into an event over `maxEventBytes`, until
    /// an event past it arrives or a connection ends otherwise. The server replays that event on
    /// every reconnect, so meanwhile an open is no progress and does not reset the backoff.
    oversized_at: RefCell<Option<String>>,
    /// Native transport: the fetch connection standing in for an `EventSource` was open when it
    /// ended, so the next one stands in for the browser's own reconnect (see `open_fetch`).
    dropped_open: Cell<bool>,
    /// Native transport: the last takeover by fetch got no answer at all. A CORS failure looks
    /// like that (a same-origin URL that redirects to another origin), so the next connect is an
    /// `EventSource`, which such a redirect does not stop.
    fetch_unanswered: Cell<bool>,
    /// How the current fetch connection resumes: set by `open_fetch`, used once it answers.
    fetch_as: Cell<Reconnect>,
    lifecycle: RefCell<Vec<EventListener>>,
    /// With `share`: this tab's part in the shared stream (`None` when it runs alone).
    share: RefCell<Option<shared::Sharing>>,
    /// This tab holds the shared stream's lock, so it connects and relays.
    leading: Cell<bool>,
}

impl Inner {
    pub fn new(url: &str, options: Options) -> Result<Rc<Self>> {
        options.validate()?;
        let url = platform::absolute_url(url)?;
        let inner = Rc::new_cyclic(|me| Inner {
            me: me.clone(),
            url,
            resume: RefCell::new(Resume::new(options.last_event_id.clone())),
            schedule: RefCell::new(Schedule::new(options.backoff.clone())),
            options,
            state: Cell::new(State::Connecting),
            closed: Cell::new(false),
            generation: Cell::new(0),
            conn: RefCell::new(None),
            opened: Cell::new(false),
            ever_opened: Cell::new(false),
            native_reconnecting: Cell::new(false),
            attempt_url: RefCell::new(String::new()),
            registry: RefCell::new(Registry::default()),
            reconnect_timer: RefCell::new(None),
            watchdog: RefCell::new(None),
            activity: Cell::new(false),
            idle_ticks: Cell::new(0),
            heartbeats: Cell::new(false),
            refreshed_once: Cell::new(false),
            oversized_at: RefCell::new(None),
            dropped_open: Cell::new(false),
            fetch_unanswered: Cell::new(false),
            fetch_as: Cell::new(Reconnect::Native),
            lifecycle: RefCell::new(Vec::new()),
            share: RefCell::new(None),
            leading: Cell::new(false),
        });
        inner.watch_page_lifecycle();
        if inner.options.share && inner.join_share() {
            // The lock decides: this tab connects when it leads, and follows until then.
            let mut listeners = Vec::new();
            inner.watch_share_lifecycle(&mut listeners);
            inner.lifecycle.borrow_mut().extend(listeners);
        } else if inner.state.get() != State::Paused {
            inner.connect();
        }
        Ok(inner)
    }

    pub fn state(&self) -> State {
        self.state.get()
    }

    pub fn last_event_id(&self) -> Option<String> {
        if let Some(followed) = self.followed_id() {
            return followed;
        }
        self.resume.borrow().last_id().map(str::to_owned)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The URL with secrets redacted, for messages.
    fn public_url(&self, url: &str) -> String {
        resume::redact(url, &[self.options.token_param.as_str()])
    }

    fn bump(&self) -> u64 {
        let g = self.generation.get() + 1;
        self.generation.set(g);
        g
    }

    fn current(&self, generation: u64) -> bool {
        !self.closed.get() && self.generation.get() == generation
    }

    // ---- connecting -------------------------------------------------------------------------

    fn connect(&self) {
        if self.closed.get() {
            return;
        }
        let generation = self.bump();
        self.reconnect_timer.borrow_mut().take();
        self.drop_connection();
        if self.state.get() != State::Reconnecting {
            self.set_state(State::Connecting);
        }
        let (token, headers) = (self.options.token.clone(), self.options.headers.clone());
        if token.is_none() && headers.is_none() {
            self.open(generation, None, Vec::new());
            return;
        }
        let me = self.me.clone();
        platform::spawn(async move {
            let token = match token {
                Some(t) => t.fetch().await.map(Some),
                None => Ok(None),
            };
            let headers = match (&token, headers) {
                (Ok(_), Some(h)) => h.fetch().await,
                _ => Ok(Vec::new()),
            };
            let Some(this) = me.upgrade().filter(|s| s.current(generation)) else {
                return;
            };
            match token.and_then(|t| headers.map(|h| (t, h))) {
                Ok((token, headers)) => this.open(generation, token, headers),
                Err(e) => {
                    this.emit_error(&e);
                    this.reconnect_later(None);
                }
            }
        });
    }

    fn open(&self, generation: u64, token: Option<String>, headers: Headers) {
        match self.options.transport {
            Transport::EventSource if self.takeover_by_fetch() => {
                self.open_fetch(generation, token, headers)
            }
            Transport::EventSource => self.open_native(generation, token),
            Transport::Fetch => self.open_fetch(generation, token, headers),
        }
    }

    /// A connect of the native transport with an id to resume from is a takeover: a new
    /// `EventSource` could carry the id only as `?lastEventId=`, which a header-only server
    /// ignores, and the events between the old connection's last one and the new one's first
    /// would be lost. On the page's own origin a `fetch` sends the `Last-Event-ID` header with
    /// no CORS preflight, so the takeover goes by fetch. Cross-origin it stays an `EventSource`:
    /// the header would need a preflight that such servers do not answer; so does the connect
    /// after a takeover by fetch that got no answer (`fetch_unanswered`).
    fn takeover_by_fetch(&self) -> bool {
        !self.fetch_unanswered.replace(false)
            && self.resume.borrow().last_id().is_some()
            && platform::same_origin(&self.url)
    }

    fn open_native(&self, generation: u64, token: Option<String>) {
        let url = self.connect_url(self.resume.borrow().last_id(), token.as_deref());
        let (on_open, on_error) = (self.me.clone(), self.me.clone());
        let (on_event, on_decode) = (self.me.clone(), self.me.clone());
        let conn = Connection::open(
            &url,
            self.options.with_credentials,
            move || {
                if let Some(s) = on_open.upgrade().filter(|s| s.current(generation)) {
                    s.opened();
                }
            },
            move || {
                if let Some(s) = on_error.upgrade().filter(|s| s.current(generation)) {
                    s.failed(generation);
                }
            },
            Rc::new(
                move |name: &str, event: &MessageEvent, id: EventId, js_only: &Cell<bool>| {
                    match on_event.upgrade().filter(|s| s.current(generation)) {
                        Some(s) => s.received(name, event, id, js_only),
                        None => false,
                    }
                },
            ),
            Rc::new(move |name: &str, id: String, message: String| {
                if let Some(s) = on_decode.upgrade().filter(|s| s.current(generation)) {
                    s.emit_error(&Error::Decode {
                        event: name.to_owned(),
                        id: (!id.is_empty()).then_some(id),
                        message,
                    });
                }
            }),
        );
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                self.emit_error(&e);
                self.stop();
                return;
            }
        };
        conn.listen(RESET);
        conn.listen(HEARTBEAT);
        let registry = self.registry.borrow();
        for name in registry.events.keys() {
            conn.listen(name);
            conn.set_js_listeners(name, registry.js_only.get(name).map(|f| &**f));
        }
        drop(registry);
        if let Some(share) = self.share.borrow().as_ref() {
            for name in share.names.iter() {
                conn.listen(name);
            }
        }
        self.resume.borrow_mut().new_connection(Reconnect::Takeover);
        self.opened.set(false);
        self.ever_opened.set(false);
        self.native_reconnecting.set(false);
        *self.attempt_url.borrow_mut() = url;
        *self.conn.borrow_mut() = Some(Conn::Native(conn));
        self.start_watchdog();
    }

    /// The URL of one connect: the resume `id` and `token`, where given, as the
    /// `lastEventIdParam` and `tokenParam` query parameters, for the transports and servers that
    /// read them there.
    fn connect_url(&self, id: Option<&str>, token: Option<&str>) -> String {
        let params = [
            (self.options.last_event_id_param.as_str(), id),
            (self.options.token_param.as_str(), token),
        ];
        resume::with_query_params(&self.url, &params)
    }

    fn opened(&self) {
        if self.native_reconnecting.replace(false) {
            self.resume.borrow_mut().new_connection(Reconnect::Native);
            self.start_watchdog();
        }
        self.ever_opened.set(true);
        self.opened.set(true);
        self.refreshed_once.set(false);
        if self.oversized_at.borrow().is_none() {
            self.schedule.borrow_mut().opened();
        }
        self.set_state(State::Open);
    }

    /// The native source reported `error`. Once it has been open, the browser reconnects the
    /// same object by itself, sending `Last-Event-ID` and waiting the server's `retry:` — what a
    /// new `EventSource` can do neither of, and what header-only servers need to resume. So it is
    /// kept, and the policy takes over only when the browser gives up (a non-200 answer), when it
    /// never opened, when a token must be refreshed, or when the stall watchdog fires.
    fn failed(&self, generation: u64) {
        let retrying =
            self.ever_opened.get() && self.conn.borrow().as_ref().is_some_and(Conn::reconnecting);
        if retrying {
            self.opened.set(false);
            self.native_reconnecting.set(true);
            self.watchdog.borrow_mut().take();
            self.set_state(State::Reconnecting);
            // Each failed native attempt counts toward `backoff.maxAttempts`.
            if self.schedule.borrow_mut().next_delay(0.0).is_none() {
                self.give_up();
            }
            return;
        }
        let was_open = self.opened.get();
        self.drop_connection();
        self.set_state(State::Reconnecting);
        if was_open {
            self.reconnect_later(None);
            return;
        }
        let url = self.attempt_url.borrow().clone();
        let with_credentials = self.options.with_credentials;
        let me = self.me.clone();
        platform::spawn(async move {
            let result = probe(&url, with_credentials).await;
            if let Some(this) = me.upgrade().filter(|s| s.current(generation)) {
                this.after_probe(&result, &url);
            }
        });
    }

    fn after_probe(&self, result: &Probe, url: &str) {
        if let Probe::Answered {
            retry_hint_ms: Some(ms),
            ..
        } = result
        {
            self.schedule.borrow_mut().set_retry_hint(*ms);
        }
        let has_token = self.options.token.is_some();
        let action = decide(
            result,
            has_token,
            self.refreshed_once.get(),
            &self.public_url(url),
        );
        match action {
            Action::RetryWithFreshToken => {
                self.refreshed_once.set(true);
                self.connect();
            }
            Action::Stop(error) => {
                if let Some(e) = error {
                    self.emit_error(&e);
                }
                self.stop();
            }
            Action::Retry { after_ms, error } => {
                if let Some(e) = error {
                    self.emit_error(&e);
                }
                self.reconnect_later(after_ms);
            }
        }
    }

    fn reconnect_later(&self, after_ms: Option<u32>) {
        self.set_state(State::Reconnecting);
        let delay = self
            .schedule
            .borrow_mut()
            .next_delay_after(after_ms, platform::random());
        let Some(delay) = delay else {
            self.give_up();
            return;
        };
        let me = self.me.clone();
        let timer = Timeout::new(delay, move || {
            if let Some(s) = me.upgrade() {
                s.connect();
            }
        });
        *self.reconnect_timer.borrow_mut() = Some(timer);
    }

    fn give_up(&self) {
        let attempts = self.schedule.borrow().attempts();
        self.emit_error(&Error::Closed(format!(
            "gave up after {attempts} reconnect attempts (backoff.maxAttempts)"
        )));
        self.stop();
    }

    fn drop_connection(&self) {
        // Taken out first so no borrow is held while the listeners are released.
        let old = self.conn.borrow_mut().take();
        drop(old);
        self.watchdog.borrow_mut().take();
        self.opened.set(false);
        // No browser reconnect is under way for a connection that is gone.
        self.native_reconnecting.set(false);
    }

    /// Stops everything: connection, timers, page listeners; then releases every callback, which
    /// also ends Rust streams.
    pub fn close(&self) {
        if self.closed.get() {
            return;
        }
        self.bump();
        self.reconnect_timer.borrow_mut().take();
        self.drop_connection();
        self.lifecycle.borrow_mut().clear();
        self.leave_share();
        self.set_state(State::Closed);
        self.closed.set(true);
        let released = std::mem::take(&mut *self.registry.borrow_mut());
        drop(released);
    }
}
