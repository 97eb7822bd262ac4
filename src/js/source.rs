//! `LiveSource` as JS sees it: each method reads its arguments with `options`, calls the Rust
//! API and hands back an unsubscribe function.

use wasm_bindgen::prelude::*;

use super::options::{callback, refresh_options, source_options};
use super::thrown;
use super::unsubscribe::unsubscribe_fn;
use crate::api::handle::LiveSource;
use crate::source::dispatch::{call_js, Callback, EventSink};

#[wasm_bindgen(js_name = LiveSource, skip_typescript)]
pub struct JsLiveSource {
    source: LiveSource,
}

#[wasm_bindgen(js_class = LiveSource)]
impl JsLiveSource {
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, options: JsValue) -> Result<JsLiveSource, JsError> {
        let options = source_options(&options).map_err(thrown)?;
        Ok(Self {
            source: LiveSource::connect(url, options).map_err(thrown)?,
        })
    }

    pub fn on(&self, event: &str, callback_fn: JsValue) -> Result<js_sys::Function, JsError> {
        self.add(Listener::Event(event), callback_fn)
    }

    pub fn refresh(&self, event: &str, options: JsValue) -> Result<js_sys::Function, JsError> {
        self.source.check_open().map_err(thrown)?;
        let options = refresh_options(&options).map_err(thrown)?;
        let refresh = self.source.refresh(event, options).map_err(thrown)?;
        Ok(unsubscribe_fn(refresh))
    }

    #[cfg(feature = "patch")]
    pub fn patches(
        &self,
        event: &str,
        options: JsValue,
    ) -> Result<super::store::JsPatchStore, JsError> {
        self.source.check_open().map_err(thrown)?;
        let (initial, resync) = super::options::patch_options(&options).map_err(thrown)?;
        let store = self
            .source
            .patch_store(event, initial, resync)
            .map_err(thrown)?;
        Ok(super::store::JsPatchStore { store })
    }

    #[wasm_bindgen(js_name = onState)]
    pub fn on_state(&self, callback_fn: JsValue) -> Result<js_sys::Function, JsError> {
        self.add(Listener::State, callback_fn)
    }

    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, callback_fn: JsValue) -> Result<js_sys::Function, JsError> {
        self.add(Listener::Error, callback_fn)
    }

    #[wasm_bindgen(js_name = onReset)]
    pub fn on_reset(&self, callback_fn: JsValue) -> Result<js_sys::Function, JsError> {
        self.add(Listener::Reset, callback_fn)
    }

    pub fn close(&self) {
        self.source.close();
    }

    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.source.state().as_str().into()
    }

    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> Option<String> {
        self.source.last_event_id()
    }

    #[wasm_bindgen(getter)]
    pub fn sharing(&self) -> String {
        self.source.sharing().into()
    }
}

/// What `on()` and its three siblings register.
enum Listener<'a> {
    Event(&'a str),
    State,
    Error,
    Reset,
}

impl JsLiveSource {
    /// `on()`, `onState()`, `onError()` and `onReset()`: one body, not inlined into four exports.
    #[inline(never)]
    fn add(&self, listener: Listener, callback_fn: JsValue) -> Result<js_sys::Function, JsError> {
        let method = match listener {
            Listener::Event(_) => "on",
            Listener::State => "onState",
            Listener::Error => "onError",
            Listener::Reset => "onReset",
        };
        let f = callback(method, callback_fn).map_err(thrown)?;
        let registration = match listener {
            Listener::Event(event) => self.source.listen(event, EventSink::Js(f)),
            Listener::State => {
                let registration = self.source.add_state(Callback::Js(f.clone()));
                // The current state at once, and an exception reported like any other callback's.
                if registration.is_ok() {
                    call_js(&f, &[&self.source.state().as_str().into()]);
                }
                registration
            }
            Listener::Error => self.source.add_error(Callback::Js(f)),
            Listener::Reset => self.source.add_reset(Callback::Js(f)),
        }
        .map_err(thrown)?;
        Ok(unsubscribe_fn(registration))
    }

    /// The Rust source behind a JS object, for code that mixes both APIs.
    pub fn source(&self) -> &LiveSource {
        &self.source
    }
}
