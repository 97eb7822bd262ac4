//! One native `EventSource` and the listeners on it, released together on drop. No policy lives
//! here: the source decides when to open, close and reconnect.
//!
//! Named events take one boundary crossing each: a small JS listener reads the event's id once
//! and hands it to Rust with the event; Rust answers whether to deliver, and when every listener
//! of that name is a JS function, the listener (which holds those functions) parses the data and
//! calls them without coming back into wasm.

use std::cell::Cell;
use std::rc::Rc;

use gloo_events::EventListener;
use wasm_bindgen::prelude::*;
use web_sys::{EventSource, EventSourceInit, MessageEvent};

use crate::error::{Error, Result};

#[wasm_bindgen(module = "/src/io.js")]
extern "C" {
    fn listen(
        es: &EventSource,
        name: &str,
        received: &Closure<dyn FnMut(MessageEvent, f64, Option<String>) -> bool>,
        decode_failed: &Closure<dyn FnMut(String, String)>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = setFns)]
    fn set_fns(listener: &JsValue, fns: Option<&js_sys::Array>);
    fn unlisten(es: &EventSource, name: &str, listener: &JsValue);
    /// Reports an exception thrown by a user callback without interrupting the others.
    pub(crate) fn report(e: &JsValue);
}

/// The event's id as JS read it (once): a canonical decimal crosses as a number.
pub(crate) enum EventId {
    Number(u64),
    Text(String),
}

/// Called for every named event listened to, with the event's name, the event, its id and
/// whether the JS listener holds the functions to deliver to (every listener of that name is a
/// JS function). Returns whether the JS listener should parse the data and call them; otherwise
/// Rust has delivered (or dropped) the event.
pub(crate) type OnEvent = Rc<dyn Fn(&str, &MessageEvent, EventId, &Cell<bool>) -> bool>;
/// Called when the JS listener could not parse an event's data: name, id, message.
pub(crate) type OnDecodeError = Rc<dyn Fn(&str, String, String)>;

/// One named listener: the JS function on the `EventSource` and the closures it calls.
struct Named {
    name: String,
    listener: JsValue,
    js_only: Rc<Cell<bool>>,
    _received: Closure<dyn FnMut(MessageEvent, f64, Option<String>) -> bool>,
    _decode_failed: Closure<dyn FnMut(String, String)>,
}

/// Owns an open (or opening) `EventSource`. Dropping it closes the stream and removes every
/// listener, so an old connection can never deliver into a newer one's state.
#[must_use = "dropping a Connection closes it"]
pub(crate) struct Connection {
    es: EventSource,
    on_event: OnEvent,
    on_decode_error: OnDecodeError,
    named: Vec<Named>,
    _open: EventListener,
    _error: EventListener,
}

impl Connection {
    pub fn open(
        url: &str,
        with_credentials: bool,
        on_open: impl FnMut() + 'static,
        on_error: impl FnMut() + 'static,
        on_event: OnEvent,
        on_decode_error: OnDecodeError,
    ) -> Result<Self> {
        let init = EventSourceInit::new();
        init.set_with_credentials(with_credentials);
        let es = EventSource::new_with_event_source_init_dict(url, &init)
            .map_err(|_| Error::Config("the stream URL is not valid".into()))?;
        let mut on_open = on_open;
        let mut on_error = on_error;
        Ok(Self {
            _open: EventListener::new(&es, "open", move |_| on_open()),
            _error: EventListener::new(&es, "error", move |_| on_error()),
            es,
            on_event,
            on_decode_error,
            named: Vec::new(),
        })
    }

    /// Whether the browser is reconnecting this same object by itself (it does after a dropped
    /// stream or a network error, not after a non-200 answer).
    pub fn reconnecting(&self) -> bool {
        self.es.ready_state() == EventSource::CONNECTING
    }

    /// Starts delivering events named `name` (idempotent).
    pub fn listen(&mut self, name: &str) {
        if self.named.iter().any(|n| n.name == name) {
            return;
        }
        let (on_event, owned) = (Rc::clone(&self.on_event), name.to_owned());
        let js_only = Rc::new(Cell::new(false));
        let flag = Rc::clone(&js_only);
        let received = Closure::<dyn FnMut(MessageEvent, f64, Option<String>) -> bool>::new(
            move |event: MessageEvent, number: f64, text: Option<String>| {
                let id = match text {
                    Some(text) => EventId::Text(text),
                    None => EventId::Number(number as u64),
                };
                on_event(&owned, &event, id, &flag)
            },
        );
        let (on_decode_error, owned) = (Rc::clone(&self.on_decode_error), name.to_owned());
        let decode_failed =
            Closure::<dyn FnMut(String, String)>::new(move |id: String, message: String| {
                on_decode_error(&owned, id, message)
            });
        let listener = listen(&self.es, name, &received, &decode_failed);
        self.named.push(Named {
            name: name.to_owned(),
            listener,
            js_only,
            _received: received,
            _decode_failed: decode_failed,
        });
    }

    /// The JS functions that events named `name` go to straight from the JS listener, when
    /// every listener of that name is one (`None` otherwise: Rust delivers).
    pub fn set_js_listeners(&self, name: &str, fns: Option<&js_sys::Array>) {
        if let Some(named) = self.named.iter().find(|n| n.name == name) {
            named.js_only.set(fns.is_some());
            set_fns(&named.listener, fns);
        }
    }

    /// Stops delivering events named `name`.
    pub fn unlisten(&mut self, name: &str) {
        if let Some(i) = self.named.iter().position(|n| n.name == name) {
            let named = self.named.swap_remove(i);
            unlisten(&self.es, name, &named.listener);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.es.close();
        for named in &self.named {
            unlisten(&self.es, &named.name, &named.listener);
        }
    }
}
