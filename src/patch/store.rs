//! The patch store: the state is a JS value patched by `engine.js` with structural sharing
//! (atomic because nothing published is ever changed in place), the Svelte store contract
//! (`subscribe` calls at once and returns an unsubscribe function), and resync on a failed patch
//! or a server `reset`. Values never cross into wasm on the hot path.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::rc::{Rc, Weak};

use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::error::Error;
use crate::platform;
use crate::provider::{ask_js, Provider};
use crate::source::dispatch::Id;
use crate::source::Inner;

#[wasm_bindgen(module = "/src/patch/engine.js")]
extern "C" {
    /// The state and its subscribers, in JS: a patch is applied and published in one call.
    type Store;
    #[wasm_bindgen(constructor)]
    fn new(state: &JsValue) -> Store;
    #[wasm_bindgen(method, getter)]
    fn state(this: &Store) -> JsValue;
    /// Applies `patch` (JSON text, or an ops array if `local`) and notifies every subscriber;
    /// throws `{ index, message }`, leaving the state as it was.
    #[wasm_bindgen(method, catch)]
    fn apply(this: &Store, patch: &JsValue, local: bool) -> Result<(), JsValue>;
    /// Replaces the state and notifies every subscriber.
    #[wasm_bindgen(method)]
    fn set(this: &Store, state: &JsValue);
    /// Calls `run` with the current state now and after every change; returns an id.
    #[wasm_bindgen(method)]
    fn subscribe(this: &Store, run: &js_sys::Function) -> f64;
    #[wasm_bindgen(method)]
    fn unsubscribe(this: &Store, id: f64);

    /// JSON text of a value; a string is taken to be JSON text already.
    #[wasm_bindgen(js_name = toJson, catch)]
    fn to_json(value: &JsValue) -> Result<JsValue, JsValue>;
    /// A deep copy through JSON text (`undefined` for a value JSON cannot hold).
    #[wasm_bindgen(js_name = copyJson, catch)]
    fn copy_json(value: &JsValue) -> Result<JsValue, JsValue>;
}

/// Where a store gets the full state after a failed patch or a `reset`: a JS function returning
/// the state or a promise of it, whose value is copied in JS and never converted through Rust; or
/// a Rust closure, its `serde_json::Value` converted in the closure, so the conversion is compiled
/// in only for Rust callers, not into the npm package.
#[derive(Clone)]
pub struct Resync(Provider<JsValue>);

impl Resync {
    /// The full state from an async Rust function; an `Err` is reported as a 'patch' error.
    pub fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<Value, String>> + 'static,
    {
        Resync(Provider::from_fn(move || {
            let state = f();
            async move { state.await.map(|v| initial_from_value(&v)) }
        }))
    }

    pub(crate) fn js(f: js_sys::Function) -> Self {
        Resync(Provider::Js(f))
    }
}

impl fmt::Debug for Resync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resync(..)")
    }
}

/// How a patch store starts and recovers.
#[derive(Clone, Debug, Default)]
pub struct PatchOptions {
    pub initial: Value,
    /// Asked for the full state after a failed patch or a `reset`.
    pub resync: Option<Resync>,
}

pub(crate) struct StoreInner {
    me: Weak<StoreInner>,
    source: Weak<Inner>,
    /// The one state, with its subscribers: a JS value whose containers are never changed once
    /// published.
    js: Store,
    resync: Option<Resync>,
    resyncing: Cell<bool>,
    /// Another resync was asked for while one was in flight.
    again: Cell<bool>,
}

/// A JSON-Patch store fed by one event name of a source.
#[must_use = "dropping a PatchStore stops applying patches"]
pub struct PatchStore {
    pub(crate) inner: Rc<StoreInner>,
    pub(crate) _guards: Vec<crate::source::registry::Registration>,
}

impl PatchStore {
    /// The current state. A `patch` error when it is no `serde_json::Value`: nested deeper
    /// than serde_json's 128 levels, or holding a lone UTF-16 surrogate, both of which the JS
    /// state may (it used to read as `null`).
    pub fn get(&self) -> Result<Value, Error> {
        let unreadable = |why: String| Error::Patch {
            index: None,
            message: format!("the state cannot be read as serde_json::Value: {why}"),
        };
        let text = to_json(&self.inner.js.state())
            .map_err(|e| unreadable(platform::describe(&e)))?
            .as_string()
            .ok_or_else(|| unreadable("JSON.stringify gave no string".into()))?;
        serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))
    }

    /// The current state as the JS object handed to subscribers.
    pub(crate) fn js_state(&self) -> JsValue {
        self.inner.js.state()
    }

    /// Applies a patch that did not come from the stream (an optimistic local change, say),
    /// with the same atomic rules; the error is returned, not reported, and asks no resync.
    pub fn apply(&self, ops: &Value) -> Result<(), Error> {
        self.inner.apply(&ops.to_string().into())
    }
}

/// The initial state for the JS engine from the Rust API's `serde_json::Value`.
pub(crate) fn initial_from_value(value: &Value) -> JsValue {
    js_sys::JSON::parse(&value.to_string()).unwrap_or(JsValue::NULL)
}

impl StoreInner {
    /// `initial` is already a private copy.
    pub fn new(source: &Rc<Inner>, initial: JsValue, resync: Option<Resync>) -> Rc<Self> {
        Rc::new_cyclic(|me| StoreInner {
            me: me.clone(),
            source: Rc::downgrade(source),
            js: Store::new(&initial),
            resync,
            resyncing: Cell::new(false),
            again: Cell::new(false),
        })
    }

    /// One event's raw data: a patch. A failure is reported and asks for a resync.
    pub fn on_data(&self, data: &JsValue) {
        if let Err(e) = self.apply(data) {
            self.failed(&e);
        }
    }

    /// Applies a patch given as JSON text, atomically, and publishes the new state.
    pub fn apply(&self, text: &JsValue) -> Result<(), Error> {
        self.apply_with(text, false)
    }

    /// Applies a patch given as JSON text or as an ops array (copied first, so the caller's
    /// values never become part of the state).
    pub fn apply_js(&self, patch: &JsValue) -> Result<(), Error> {
        self.apply_with(patch, true)
    }

    fn apply_with(&self, patch: &JsValue, local: bool) -> Result<(), Error> {
        self.js.apply(patch, local).map_err(patch_error)
    }

    fn failed(&self, e: &Error) {
        if let Some(source) = self.source.upgrade() {
            source.emit_error(e);
        }
        self.request_resync();
    }

    /// Asks the app for the full state (after a failed patch or a `reset`).
    pub fn request_resync(&self) {
        let Some(resync) = self.resync.clone() else {
            return;
        };
        if self.resyncing.replace(true) {
            // A failure or a reset while a resync is in flight: its answer may predate what
            // caused this one, so one more follows it.
            self.again.set(true);
            return;
        }
        let me = self.me.clone();
        platform::spawn(async move {
            let result = fetch_state(&resync).await;
            let Some(this) = me.upgrade() else { return };
            this.resyncing.set(false);
            match result {
                Ok(js) => this.js.set(&js),
                Err(e) => {
                    if let Some(source) = this.source.upgrade() {
                        source.emit_error(&e);
                    }
                }
            }
            if this.again.replace(false) {
                this.request_resync();
            }
        });
    }

    pub fn subscribe(&self, f: js_sys::Function) -> Id {
        self.js.subscribe(&f) as Id
    }

    pub fn unsubscribe(&self, id: Id) {
        self.js.unsubscribe(id as f64);
    }
}

/// What the engine threw, as a typed error.
fn patch_error(thrown: JsValue) -> Error {
    let field = |name: &str| js_sys::Reflect::get(&thrown, &name.into()).ok();
    match field("message").and_then(|m| m.as_string()) {
        Some(message) => Error::Patch {
            index: field("index").and_then(|i| i.as_f64()).map(|i| i as usize),
            message,
        },
        // Not the engine's own error (out of memory, say).
        None => Error::Patch {
            index: None,
            message: platform::describe(&thrown),
        },
    }
}

/// Calls the resync function and copies its result (never the caller's own object, which it may
/// go on mutating).
async fn fetch_state(resync: &Resync) -> Result<JsValue, Error> {
    let failed = |message: &str| Error::Patch {
        index: None,
        message: format!("resync failed: {message}"),
    };
    let value = match &resync.0 {
        Provider::Rust(f) => return f().await.map_err(|e| failed(&e)),
        Provider::Js(f) => ask_js(f).await.map_err(|e| failed(&e))?,
    };
    let copy = copy_json(&value).map_err(|e| failed(&platform::describe(&e)))?;
    if copy.is_undefined() {
        return Err(failed("resync returned no JSON value"));
    }
    Ok(copy)
}

/// Initial state given as a JS value: a private copy (`{}` when not given).
pub(crate) fn initial_from_js(value: &JsValue) -> Result<JsValue, Error> {
    if value.is_undefined() {
        return Ok(js_sys::Object::new().into());
    }
    let copy = copy_json(value)
        .map_err(|e| Error::Config(format!("initial state: {}", platform::describe(&e))))?;
    if copy.is_undefined() {
        return Err(Error::Config("initial state is not JSON".into()));
    }
    Ok(copy)
}
