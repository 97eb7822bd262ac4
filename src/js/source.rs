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
        let f = callback("on", callback_fn).map_err(thrown)?;
        let registration = self
            .source
            .listen(event, EventSink::Js(f))
            .map_err(thrown)?;
        Ok(unsubscribe_fn(registration))
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
        let f = callback("onState", callback_fn).map_err(thrown)?;
        let registration = self
            .source
            .add_state(Callback::Js(f.clone()))
            .map_err(thrown)?;
        // The current state at once, and an exception reported like any other callback's.
        call_js(&f, &[&self.source.state().as_str().into()]);
        Ok(unsubscribe_fn(registration))
    }

    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, callback_fn: JsValue) -> Result<js_sys::Function, JsError> {
        let f = callback("onError", callback_fn).map_err(thrown)?;
        let registration = self.source.add_error(Callback::Js(f)).map_err(thrown)?;
        Ok(unsubscribe_fn(registration))
    }

    #[wasm_bindgen(js_name = onReset)]
    pub fn on_reset(&self, callback_fn: JsValue) -> Result<js_sys::Function, JsError> {
        let f = callback("onReset", callback_fn).map_err(thrown)?;
        let registration = self.source.add_reset(Callback::Js(f)).map_err(thrown)?;
        Ok(unsubscribe_fn(registration))
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

impl JsLiveSource {
    /// The Rust source behind a JS object, for code that mixes both APIs.
    pub fn source(&self) -> &LiveSource {
        &self.source
    }
}
