//! The Rust API: an owning `LiveSource`, typed `Subscription` streams, and `Registration` guards
//! for callbacks. Dropping any of them releases what it holds.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_channel::mpsc;
use futures_core::Stream;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;

use crate::error::{Error, Result};
use crate::fragment::{RefreshOptions, Refresher};
use crate::options::Options;
use crate::source::dispatch::{
    Callback, ErrorFn, EventSink, Id, Kind, Meta, Registry, ResetFn, RustSink, State, StateFn,
};
use crate::source::registry::Registration;
use crate::source::Inner;

/// A typed event from a `Subscription`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<T> {
    pub data: T,
    /// The event's id, if it carried one.
    pub id: Option<String>,
    pub event: String,
}

/// A live connection to one SSE endpoint. Dropping it closes the stream, cancels every timer and
/// ends every `Subscription`.
#[must_use = "dropping a LiveSource closes it"]
pub struct LiveSource {
    inner: Rc<Inner>,
}

impl LiveSource {
    /// Starts connecting to `url` (resolved against the document base if relative).
    pub fn connect(url: &str, options: Options) -> Result<Self> {
        Ok(Self {
            inner: Inner::new(url, options)?,
        })
    }

    /// A stream of `event` events decoded as `T`. Data that fails to decode yields an
    /// `Error::Decode` item (and reaches `on_error`); the stream goes on. The stream ends when
    /// the source closes.
    pub fn subscribe<T: DeserializeOwned + 'static>(&self, event: &str) -> Subscription<T> {
        let (tx, rx) = mpsc::unbounded();
        if self.inner.is_closed() {
            return Subscription::ended(rx);
        }
        let sink: Rc<RustSink> = Rc::new(move |value: &JsValue, meta: &Meta| {
            let item = serde_wasm_bindgen::from_value::<T>(value.clone())
                .map(|data| Event {
                    data,
                    id: meta.id.clone(),
                    event: meta.event.clone(),
                })
                .map_err(|e| Error::Decode {
                    event: meta.event.clone(),
                    id: meta.id.clone(),
                    message: e.to_string(),
                });
            let result = item.as_ref().map(|_| ()).map_err(Clone::clone);
            // A receiver that is gone will be unregistered by its guard; nothing to do here.
            let _ = tx.unbounded_send(item);
            result
        });
        let id = self.inner.add_event(event, EventSink::Typed(sink));
        Subscription {
            rx,
            _registration: Some(Registration::new(
                &self.inner,
                Kind::Event(event.into()),
                id,
            )),
        }
    }

    /// Fragment refresh: on every `event`, GET `options.url` (with `HX-Request: true`) and swap
    /// the HTML into the target, coalescing bursts. A `reset` re-fetches once.
    pub fn refresh(&self, event: &str, options: RefreshOptions) -> Result<Refresh> {
        self.check_open()?;
        let refresher = Refresher::new(&self.inner, options)?;
        let on_event = Rc::clone(&refresher);
        let on_reset = Rc::clone(&refresher);
        Ok(Refresh {
            refresher,
            registrations: vec![
                self.listen_open(
                    event,
                    EventSink::Raw(Rc::new(move |_: &JsValue| on_event.trigger())),
                ),
                self.register(Kind::Reset, |r, id| {
                    r.resets.add(
                        id,
                        Callback::Rust(Rc::new(move |_: &JsValue| on_reset.trigger())),
                    )
                }),
            ],
            detached: false,
        })
    }

    /// JSON-Patch mode: every `event` carries a patch (RFC 6902 objects or compact tuples) that
    /// is applied atomically to the store's state. A failed patch or a `reset` asks
    /// `options.resync` for the full state.
    #[cfg(feature = "patch")]
    pub fn patches(
        &self,
        event: &str,
        options: crate::patch::PatchOptions,
    ) -> Result<crate::patch::PatchStore> {
        let initial = crate::patch::store::initial_from_value(&options.initial);
        self.patch_store(event, initial, options.resync)
    }

    /// `patches` with the initial state as a JS value (already a private copy).
    #[cfg(feature = "patch")]
    pub(crate) fn patch_store(
        &self,
        event: &str,
        initial: JsValue,
        resync: Option<crate::patch::Resync>,
    ) -> Result<crate::patch::PatchStore> {
        self.check_open()?;
        let store = crate::patch::store::StoreInner::new(&self.inner, initial, resync);
        let on_data = Rc::clone(&store);
        let on_reset = Rc::clone(&store);
        Ok(crate::patch::PatchStore {
            inner: store,
            _guards: vec![
                self.listen_open(
                    event,
                    EventSink::Raw(Rc::new(move |data: &JsValue| on_data.on_data(data))),
                ),
                self.register(Kind::Reset, |r, id| {
                    let resync = move |_: &JsValue| on_reset.request_resync();
                    r.resets.add(id, Callback::Rust(Rc::new(resync)))
                }),
            ],
        })
    }

    /// Calls `f` on every state change. A closed source changes no more: `Error::Closed`.
    pub fn on_state(&self, f: impl Fn(State) + 'static) -> Result<Registration> {
        self.add_state(Callback::Rust(Rc::new(f)))
    }

    /// Calls `f` with every error: decode, http, auth, network, patch, swap, closed. On a closed
    /// source: `Error::Closed`.
    pub fn on_error(&self, f: impl Fn(&Error) + 'static) -> Result<Registration> {
        self.add_error(Callback::Rust(Rc::new(f)))
    }

    /// Calls `f` when the server sends `event: reset` (it could not resume without a gap) or its
    /// ids start again below the resume point (it restarted): state derived from earlier events
    /// must be rebuilt. `f` gets the reset's data as JSON text (data that is not JSON arrives as
    /// a JSON string). On a closed source: `Error::Closed`.
    pub fn on_reset(&self, f: impl Fn(&str) + 'static) -> Result<Registration> {
        self.add_reset(Callback::Rust(Rc::new(move |data: &JsValue| {
            let text = js_sys::JSON::stringify(data)
                .ok()
                .and_then(|t| t.as_string());
            f(text.as_deref().unwrap_or("null"))
        })))
    }

    pub(crate) fn add_state(&self, cb: Callback<StateFn>) -> Result<Registration> {
        self.check_open()?;
        Ok(self.register(Kind::State, |r, id| r.states.add(id, cb)))
    }

    pub(crate) fn add_error(&self, cb: Callback<ErrorFn>) -> Result<Registration> {
        self.check_open()?;
        Ok(self.register(Kind::Error, |r, id| r.errors.add(id, cb)))
    }

    pub(crate) fn add_reset(&self, cb: Callback<ResetFn>) -> Result<Registration> {
        self.check_open()?;
        Ok(self.register(Kind::Reset, |r, id| r.resets.add(id, cb)))
    }

    /// Adds a listener for `event` (the connection starts listening for that name if needed).
    pub(crate) fn listen(&self, event: &str, sink: EventSink) -> Result<Registration> {
        self.check_open()?;
        Ok(self.listen_open(event, sink))
    }

    /// `listen` once the caller has checked that the source is open.
    fn listen_open(&self, event: &str, sink: EventSink) -> Registration {
        let id = self.inner.add_event(event, sink);
        Registration::new(&self.inner, Kind::Event(event.into()), id)
    }

    /// Adds a callback once the caller has checked that the source is open.
    fn register(&self, kind: Kind, add: impl FnOnce(&mut Registry, Id)) -> Registration {
        let id = {
            let mut registry = self.inner.registry.borrow_mut();
            let id = registry.next_id();
            add(&mut registry, id);
            id
        };
        Registration::new(&self.inner, kind, id)
    }

    /// A closed source never calls a listener again, so adding one is a mistake worth naming.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.inner.is_closed() {
            return Err(Error::Closed("this LiveSource is closed".into()));
        }
        Ok(())
    }

    pub fn state(&self) -> State {
        self.inner.state()
    }

    /// The id the next connection resumes from.
    pub fn last_event_id(&self) -> Option<String> {
        self.inner.last_event_id()
    }

    /// With `share`: `"leader"` (this tab holds the connection), `"follower"` (another tab
    /// does), or `"off"` (not shared: the option is off, the browser cannot share, or closed).
    pub fn sharing(&self) -> &'static str {
        self.inner.sharing()
    }

    pub fn close(&self) {
        self.inner.close();
    }
}

impl Drop for LiveSource {
    fn drop(&mut self) {
        self.inner.close();
    }
}

/// A fragment refresh in effect. Dropping it stops listening and aborts a request in flight.
#[must_use = "dropping a Refresh stops it"]
pub struct Refresh {
    refresher: Rc<Refresher>,
    registrations: Vec<Registration>,
    detached: bool,
}

impl Refresh {
    /// Keeps refreshing until the source closes, with no handle left to stop it.
    pub(crate) fn detach(mut self) {
        self.detached = true;
        for r in self.registrations.drain(..) {
            r.forget();
        }
    }

    /// Re-fetches now, coalesced with event-driven refreshes.
    pub fn trigger(&self) {
        self.refresher.trigger();
    }

    /// The element fragments go to now, for element targets (it follows `outerHTML` swaps).
    pub fn target_element(&self) -> Option<web_sys::Element> {
        self.refresher.target_element()
    }

    /// A request is in flight, owed or due again: content an event asked for is still coming.
    pub(crate) fn busy(&self) -> bool {
        self.refresher.busy()
    }

    /// How many requests were made so far.
    pub fn requests(&self) -> u64 {
        self.refresher.requests()
    }
}

impl Drop for Refresh {
    fn drop(&mut self) {
        if !self.detached {
            self.refresher.stop();
        }
    }
}

/// A `Stream` of typed events. Dropping it unsubscribes.
#[must_use = "streams do nothing unless polled; dropping one unsubscribes"]
pub struct Subscription<T> {
    rx: mpsc::UnboundedReceiver<Result<Event<T>, Error>>,
    _registration: Option<Registration>,
}

impl<T> Subscription<T> {
    fn ended(rx: mpsc::UnboundedReceiver<Result<Event<T>, Error>>) -> Self {
        Self {
            rx,
            _registration: None,
        }
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Result<Event<T>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}
