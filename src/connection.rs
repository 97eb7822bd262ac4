//! One native `EventSource` and the listeners on it, released together on drop. No policy lives
//! here: the source decides when to open, close and reconnect.

use std::collections::HashMap;
use std::rc::Rc;

use gloo_events::EventListener;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{EventSource, EventSourceInit, MessageEvent};

use crate::error::{Error, Result};

/// Called with the event name (as Rust and as a JS string made once per listener) and the native
/// event, for every named event listened to.
pub(crate) type OnEvent = Rc<dyn Fn(&str, &JsValue, &MessageEvent)>;

/// Owns an open (or opening) `EventSource`. Dropping it closes the stream and removes every
/// listener, so an old connection can never deliver into a newer one's state.
#[must_use = "dropping a Connection closes it"]
pub(crate) struct Connection {
    es: EventSource,
    on_event: OnEvent,
    named: HashMap<String, EventListener>,
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
            named: HashMap::new(),
        })
    }

    /// Starts delivering events named `name` (idempotent).
    pub fn listen(&mut self, name: &str) {
        if self.named.contains_key(name) {
            return;
        }
        let on_event = Rc::clone(&self.on_event);
        let owned = name.to_owned();
        let js_name = JsValue::from_str(name);
        let listener = EventListener::new(&self.es, owned.clone(), move |event| {
            // Named events of an EventSource are always MessageEvents: no runtime check on the
            // hot path.
            on_event(&owned, &js_name, event.unchecked_ref::<MessageEvent>());
        });
        self.named.insert(name.to_owned(), listener);
    }

    /// Stops delivering events named `name`.
    pub fn unlisten(&mut self, name: &str) {
        self.named.remove(name);
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.es.close();
    }
}
