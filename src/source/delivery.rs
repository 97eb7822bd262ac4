//! Receiving: each event's verdict (resume, reset, restart) and its delivery to the listeners,
//! errors and state changes.

use std::cell::Cell;

use wasm_bindgen::JsValue;
use web_sys::MessageEvent;

use super::{Inner, HEARTBEAT, RESET};
use crate::error::Error;
use crate::policy::resume::{self, Verdict};
use crate::share::relay::Message;
use crate::source::dispatch::{self, call_js, Callback, EventSink, Meta, State};
use crate::transport::EventId;

impl Inner {
    /// One named event from the native transport. Returns whether the connection's JS listener
    /// should deliver it to the JS functions it holds (`js_only`: every listener of `name` is
    /// one); otherwise Rust has delivered or dropped it.
    pub(super) fn received(
        &self,
        name: &str,
        event: &MessageEvent,
        id: EventId,
        js_only: &Cell<bool>,
    ) -> bool {
        if !self.admit(name, &id, || event.data()) {
            return false;
        }
        let leading = self.leading.get();
        if js_only.get() && !leading {
            return true;
        }
        let data = event.data();
        let id = id_text(&id);
        if leading {
            self.relay_event(name, &id, &data);
        }
        if js_only.get() {
            return true;
        }
        self.deliver(name, &id, &data);
        false
    }

    /// One event from the fetch transport's parser, with the id buffer at its dispatch.
    pub(super) fn received_text(&self, name: &str, data: &str, id: &str) {
        let key = match resume::decimal(id) {
            Some(n) => EventId::Number(n),
            None => EventId::Text(id.to_owned()),
        };
        let data = JsValue::from_str(data);
        if self.admit(name, &key, || data.clone()) {
            if self.leading.get() {
                self.relay_event(name, id, &data);
            }
            self.deliver(name, id, &data);
        }
    }

    /// Whether an event is delivered: the resume verdict, `reset` and restart notices, and the
    /// watchdog's activity flags.
    fn admit(&self, name: &str, id: &EventId, data: impl FnOnce() -> JsValue) -> bool {
        self.activity.set(true);
        if name == HEARTBEAT {
            self.heartbeats.set(true);
        }
        if name == RESET {
            // Always reaches `onReset`, whatever its id, and nothing after it is ever dropped as
            // a repeat of something before it.
            self.resume.borrow_mut().reset(&id_text(id));
            let data = data();
            self.notify_reset(&dispatch::parse_json(&data).unwrap_or(data));
            return !self.closed.get();
        }
        let verdict = match id {
            EventId::Number(n) => self.resume.borrow_mut().accept_number(*n),
            EventId::Text(text) => self.resume.borrow_mut().accept(text),
        };
        match verdict {
            Verdict::Duplicate => false,
            Verdict::Restarted => {
                let previous = self.resume.borrow_mut().take_restarted_from();
                self.notify_reset(&dispatch::restart_notice(&previous, &id_text(id)));
                !self.closed.get()
            }
            Verdict::Deliver => true,
        }
    }

    fn relay_event(&self, name: &str, id: &str, data: &JsValue) {
        let same = match self.share.borrow_mut().as_mut() {
            Some(s) if s.relayed_id == id => true,
            Some(s) => {
                s.relayed_id.clear();
                s.relayed_id.push_str(id);
                false
            }
            None => return,
        };
        self.post(&Message::Event {
            name: name.to_owned(),
            id: id.to_owned(),
            data: data.as_string().unwrap_or_default(),
            same,
        });
    }

    pub(super) fn notify_reset(&self, data: &JsValue) {
        if self.leading.get() {
            let text = js_sys::JSON::stringify(data)
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_default();
            let id = self.last_event_id().unwrap_or_default();
            self.post(&Message::Reset { data: text, id });
        }
        for (_, cb) in self.registry.borrow().resets.snapshot().iter() {
            match cb {
                Callback::Js(f) => call_js(f, &[data]),
                Callback::Rust(f) => f(data),
            }
        }
    }

    /// Delivers to the listeners of `name`; `id` is the event's id, empty for none. Owned
    /// copies of it are made only for a Rust listener's `Meta` or a decode error.
    pub(super) fn deliver(&self, name: &str, id: &str, data: &JsValue) {
        let owned_id = || (!id.is_empty()).then(|| id.to_owned());
        let Some(slots) = self
            .registry
            .borrow()
            .events
            .get(name)
            .map(|s| s.snapshot())
        else {
            return;
        };
        // Parsed once, and only if a listener needs the data.
        let mut value: Option<Result<JsValue, ()>> = None;
        let mut js_meta = None;
        let mut meta = None;
        for (_, sink) in slots.iter() {
            if let EventSink::Raw(f) = sink {
                f(data);
            } else {
                let parsed = value.get_or_insert_with(|| {
                    dispatch::parse_json(data).map_err(|message| {
                        self.emit_error(&Error::Decode {
                            event: name.to_owned(),
                            id: owned_id(),
                            message,
                        })
                    })
                });
                let Ok(v) = parsed else { continue };
                match sink {
                    EventSink::Js(f) => {
                        let m = js_meta.get_or_insert_with(|| dispatch::js_meta(id, name));
                        call_js(f, &[v, m]);
                    }
                    EventSink::Typed(decode) => {
                        let m = meta.get_or_insert_with(|| Meta {
                            id: owned_id(),
                            event: name.to_owned(),
                        });
                        if let Err(e) = decode(v, m) {
                            self.emit_error(&e);
                        }
                    }
                    EventSink::Raw(_) => {}
                }
            }
            if self.closed.get() {
                return;
            }
        }
    }

    pub(crate) fn emit_error(&self, e: &Error) {
        self.relay_error(e);
        let errors = self.registry.borrow().errors.snapshot();
        if errors.is_empty() {
            web_sys::console::warn_1(&e.to_string().into());
        }
        let mut js = None;
        for (_, cb) in errors.iter() {
            match cb {
                Callback::Js(f) => {
                    call_js(f, &[js.get_or_insert_with(|| dispatch::error_object(e))])
                }
                Callback::Rust(f) => f(e),
            }
        }
    }

    pub(super) fn set_state(&self, state: State) {
        if self.state.replace(state) == state {
            return;
        }
        if self.leading.get() && state != State::Closed {
            self.post(&Message::State(state.as_str().to_owned()));
        }
        let states = self.registry.borrow().states.snapshot();
        let js: JsValue = state.as_str().into();
        for (_, cb) in states.iter() {
            match cb {
                Callback::Js(f) => call_js(f, &[&js]),
                Callback::Rust(f) => f(state),
            }
        }
    }
}

/// The id as text: what the native `lastEventId` holds.
fn id_text(id: &EventId) -> String {
    match id {
        EventId::Number(n) => resume::decimal_string(*n),
        EventId::Text(text) => text.clone(),
    }
}
