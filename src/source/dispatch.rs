//! Listener registries. JS callbacks get the parsed JSON value as is (no serde round trip); Rust
//! subscribers get a typed value decoded from it with serde. Registries are copy-on-write
//! snapshots, so a callback may add or remove listeners (or close the source) while it is called.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::error::Error;
use crate::vec_map::VecMap;

pub(crate) type Id = u64;

/// Connection state, as `onState` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Connecting,
    Open,
    Reconnecting,
    /// `pauseWhenHidden` closed the connection while the page is hidden.
    Paused,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Open => "open",
            State::Reconnecting => "reconnecting",
            State::Paused => "paused",
            State::Closed => "closed",
        }
    }
}

/// What a listener learns about an event besides its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub id: Option<String>,
    pub event: String,
}

/// A Rust event sink: decodes the parsed value and forwards it, or returns a decode error.
pub(crate) type RustSink = dyn Fn(&JsValue, &Meta) -> Result<(), Error>;
pub(crate) type StateFn = dyn Fn(State);
pub(crate) type RawFn = dyn Fn(&JsValue);
pub(crate) type ErrorFn = dyn Fn(&Error);
pub(crate) type ResetFn = dyn Fn(&JsValue);

pub(crate) enum Callback<R: ?Sized> {
    Js(js_sys::Function),
    Rust(Rc<R>),
}

// Derived Clone would demand `R: Clone`, which no `dyn Fn` is.
impl<R: ?Sized> Clone for Callback<R> {
    fn clone(&self) -> Self {
        match self {
            Callback::Js(f) => Callback::Js(f.clone()),
            Callback::Rust(r) => Callback::Rust(Rc::clone(r)),
        }
    }
}

/// A listener for one event name.
#[derive(Clone)]
pub(crate) enum EventSink {
    /// A JS callback: `(data, meta)`, data parsed once by `JSON.parse`.
    Js(js_sys::Function),
    /// A typed Rust subscriber.
    Typed(Rc<RustSink>),
    /// Gets the raw data string, unparsed: fragment refresh only needs the fact that the event
    /// happened, and JSON-Patch parses the text itself.
    Raw(Rc<RawFn>),
}

/// An ordered list of callbacks, cloned cheaply for iteration.
pub(crate) struct Slots<T> {
    list: Rc<Vec<(Id, T)>>,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self {
            list: Rc::new(Vec::new()),
        }
    }
}

impl<T: Clone> Slots<T> {
    pub fn add(&mut self, id: Id, item: T) {
        Rc::make_mut(&mut self.list).push((id, item));
    }

    pub fn remove(&mut self, id: Id) -> bool {
        let Some(pos) = self.list.iter().position(|(i, _)| *i == id) else {
            return false;
        };
        Rc::make_mut(&mut self.list).remove(pos);
        true
    }

    pub fn snapshot(&self) -> Rc<Vec<(Id, T)>> {
        Rc::clone(&self.list)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Every callback registered on one source.
#[derive(Default)]
pub(crate) struct Registry {
    next_id: Id,
    pub events: VecMap<Slots<EventSink>>,
    pub states: Slots<Callback<StateFn>>,
    pub errors: Slots<Callback<ErrorFn>>,
    pub resets: Slots<Callback<ResetFn>>,
    /// For event names whose listeners are all JS functions: those functions, so one JS call
    /// can deliver an event (the hot path for pages) without the data crossing into wasm.
    pub js_only: VecMap<Rc<js_sys::Array>>,
}

/// Which list an id belongs to, so one `remove` serves every kind of registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Event(String),
    State,
    Error,
    Reset,
}

impl Registry {
    pub fn next_id(&mut self) -> Id {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_event(&mut self, name: &str, id: Id, sink: EventSink) {
        self.events.or_default(name).add(id, sink);
        self.refresh_js_only(name);
    }

    fn refresh_js_only(&mut self, name: &str) {
        let fns: Option<Vec<&js_sys::Function>> = self.events.get(name).and_then(|slots| {
            slots
                .list
                .iter()
                .map(|(_, sink)| match sink {
                    EventSink::Js(f) => Some(f),
                    _ => None,
                })
                .collect()
        });
        match fns {
            Some(fns) if !fns.is_empty() => {
                let array: js_sys::Array = fns.into_iter().collect();
                self.js_only.insert(name.to_owned(), Rc::new(array));
            }
            _ => {
                self.js_only.remove(name);
            }
        }
    }

    /// Removes a registration. Returns the event name if that name now has no listener left.
    pub fn remove(&mut self, kind: &Kind, id: Id) -> Option<String> {
        match kind {
            Kind::Event(name) => {
                let slots = self.events.get_mut(name)?;
                let removed = slots.remove(id);
                let emptied = removed && slots.is_empty();
                if emptied {
                    self.events.remove(name);
                }
                self.refresh_js_only(name);
                emptied.then(|| name.clone())
            }
            Kind::State => {
                self.states.remove(id);
                None
            }
            Kind::Error => {
                self.errors.remove(id);
                None
            }
            Kind::Reset => {
                self.resets.remove(id);
                None
            }
        }
    }
}

#[wasm_bindgen(module = "/src/io.js")]
extern "C" {
    /// `{ id, event }` built in JS: one boundary crossing instead of an object plus two sets.
    #[wasm_bindgen(js_name = meta)]
    pub(crate) fn js_meta(id: &str, event: &str) -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &JsValue) -> Result<JsValue, JsValue>;
}

/// Parses event data with the engine's `JSON.parse`, without copying the text through wasm.
pub(crate) fn parse_json(text: &JsValue) -> Result<JsValue, String> {
    json_parse(text).map_err(|e| {
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .unwrap_or_else(|| "not valid JSON".into())
    })
}

/// Calls a JS callback; an exception is reported, never propagated into the stream.
pub(crate) fn call_js(f: &js_sys::Function, args: &[&JsValue]) {
    let result = match args {
        [] => f.call0(&JsValue::UNDEFINED),
        [a] => f.call1(&JsValue::UNDEFINED, a),
        [a, b] => f.call2(&JsValue::UNDEFINED, a, b),
        _ => unreachable!("callbacks take at most two arguments"),
    };
    if let Err(e) = result {
        crate::transport::report(&e);
    }
}

/// Builds the `{kind, message, status?, event?, id?}` object `onError` callbacks receive.
/// What `onReset` receives when the server's ids started again below the resume point (it
/// restarted, or lost its log): the same shape as a server's `reset` event.
pub(crate) fn restart_notice(previous: &str, id: &str) -> JsValue {
    let o = js_sys::Object::new();
    for (k, v) in [
        ("reason", "ids-restarted"),
        ("lastEventId", previous),
        ("resumeFrom", id),
        (
            "message",
            "the server's event ids started again below the last one seen",
        ),
    ] {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &JsValue::from_str(v));
    }
    o.into()
}

pub(crate) fn error_object(e: &Error) -> JsValue {
    let o = js_sys::Object::new();
    let set = |k: &str, v: JsValue| {
        let _ = js_sys::Reflect::set(&o, &JsValue::from_str(k), &v);
    };
    set("kind", e.kind().into());
    set("message", e.message().into());
    if let Some(s) = e.status() {
        set("status", s.into());
    }
    if let Some(ev) = e.event() {
        set("event", ev.into());
    }
    if let Some(id) = e.id() {
        set("id", id.into());
    }
    if let Error::Patch { index: Some(i), .. } = e {
        set("index", (*i as u32).into());
    }
    o.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn snapshots_are_unaffected_by_later_changes() {
        let mut slots: Slots<u32> = Slots::default();
        slots.add(1, 10);
        slots.add(2, 20);
        let snap = slots.snapshot();
        assert!(slots.remove(1));
        assert!(!slots.remove(1), "removing twice is a no-op");
        slots.add(3, 30);
        assert_eq!(snap.iter().map(|(_, v)| *v).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(
            slots.snapshot().iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            [20, 30]
        );
    }

    #[test]
    fn removing_the_last_listener_of_an_event_reports_its_name() {
        let mut r = Registry::default();
        let a = r.next_id();
        let b = r.next_id();
        let sink: Rc<RawFn> = Rc::new(|_: &JsValue| ());
        let slots = r.events.or_default("change");
        slots.add(a, EventSink::Raw(Rc::clone(&sink)));
        slots.add(b, EventSink::Raw(sink));
        let kind = Kind::Event("change".into());
        assert_eq!(r.remove(&kind, a), None);
        assert_eq!(r.remove(&kind, b), Some("change".into()));
        assert!(r.events.is_empty());
        assert_eq!(r.remove(&kind, b), None);
    }
}
