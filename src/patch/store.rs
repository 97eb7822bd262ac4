//! The patch store: canonical state in wasm, a structurally shared JS copy for subscribers, the
//! Svelte store contract (`subscribe` calls at once and returns an unsubscribe function), and
//! resync on a failed patch or a server `reset`.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::ops;
use crate::dispatch::{call_js, Id, Slots};
use crate::error::Error;
use crate::platform;
use crate::source::Inner;

#[wasm_bindgen(inline_js = r#"
const own = (o, k) => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
// Own data properties only: a key named __proto__ or constructor is data, never a prototype.
const set = (o, k, v) => Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
const ptr = p => (p === '' ? [] : p.slice(1).split('/').map(t => t.replace(/~1/g, '/').replace(/~0/g, '~')));
const at = (node, path) => { for (const k of path) node = Array.isArray(node) ? node[+k] : own(node, k); return node; };
// `fresh` holds the containers this patch already copied: nobody has seen them yet, so later
// ops of the same patch may change them in place. Everything else is copied on write.
const writable = (node, fresh) => {
  if (fresh.has(node)) return node;
  const copy = Array.isArray(node) ? node.slice() : { ...node };
  fresh.add(copy);
  return copy;
};
function put(node, path, i, value, insert, fresh) {
  if (i === path.length) return value;
  const k = path[i], last = i === path.length - 1;
  const copy = writable(node, fresh);
  if (Array.isArray(copy)) {
    if (!last) copy[+k] = put(copy[+k], path, i + 1, value, insert, fresh);
    else if (k === '-') copy.push(value);
    else if (insert) copy.splice(+k, 0, value);
    else copy[+k] = value;
  } else {
    set(copy, k, last ? value : put(own(copy, k), path, i + 1, value, insert, fresh));
  }
  return copy;
}
function del(node, path, i, fresh) {
  const k = path[i], last = i === path.length - 1;
  const copy = writable(node, fresh);
  if (Array.isArray(copy)) {
    if (last) copy.splice(+k, 1); else copy[+k] = del(copy[+k], path, i + 1, fresh);
  } else if (last) {
    delete copy[k];
  } else {
    set(copy, k, del(own(copy, k), path, i + 1, fresh));
  }
  return copy;
}
// Replays ops that already succeeded on the canonical state, copying only the changed paths.
export function mirror(root, opsJson) {
  const fresh = new Set();
  for (const o of JSON.parse(opsJson)) {
    const path = ptr(o.path);
    switch (o.op) {
      case 'add': root = put(root, path, 0, o.value, true, fresh); break;
      case 'replace': root = put(root, path, 0, o.value, false, fresh); break;
      case 'remove': root = del(root, path, 0, fresh); break;
      case 'copy': root = put(root, path, 0, structuredClone(at(root, ptr(o.from))), true, fresh); break;
      case 'move': { const from = ptr(o.from); const v = at(root, from); root = put(del(root, from, 0, fresh), path, 0, v, true, fresh); break; }
    }
  }
  return root;
}
export function toJson(value) { return typeof value === 'string' ? value : JSON.stringify(value); }
export function fromJson(text) { return JSON.parse(text); }
"#)]
extern "C" {
    fn mirror(root: &JsValue, ops_json: &str) -> JsValue;
    /// JSON text of a value; a string is taken to be JSON text already.
    #[wasm_bindgen(js_name = toJson, catch)]
    pub(crate) fn to_json(value: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = fromJson)]
    fn from_json(text: &str) -> JsValue;
}

/// How a patch store starts and recovers.
#[derive(Clone, Debug, Default)]
pub struct PatchOptions {
    pub initial: Value,
    /// Called after a failed patch or a `reset`; returns (or resolves to) the full state.
    pub resync: Option<js_sys::Function>,
}

pub(crate) struct StoreInner {
    me: Weak<StoreInner>,
    source: Weak<Inner>,
    state: RefCell<Value>,
    js: RefCell<JsValue>,
    subscribers: RefCell<Slots<js_sys::Function>>,
    next_id: Cell<Id>,
    resync: Option<js_sys::Function>,
    resyncing: Cell<bool>,
}

/// A JSON-Patch store fed by one event name of a source.
#[must_use = "dropping a PatchStore stops applying patches"]
pub struct PatchStore {
    pub(crate) inner: Rc<StoreInner>,
    pub(crate) _guards: Vec<crate::handle::Registration>,
}

impl PatchStore {
    /// The current state.
    pub fn get(&self) -> Value {
        self.inner.state.borrow().clone()
    }

    /// The current state as the JS object handed to subscribers.
    pub fn js_state(&self) -> JsValue {
        self.inner.js.borrow().clone()
    }

    /// Applies a patch that did not come from the stream (an optimistic local change, say),
    /// with the same atomic rules; the error is returned, not reported, and asks no resync.
    pub fn apply(&self, ops: &Value) -> Result<(), Error> {
        self.inner.apply(&ops.to_string().into())
    }
}

impl StoreInner {
    pub fn new(source: &Rc<Inner>, options: PatchOptions) -> Rc<Self> {
        let js = from_json(&options.initial.to_string());
        Rc::new_cyclic(|me| StoreInner {
            me: me.clone(),
            source: Rc::downgrade(source),
            state: RefCell::new(options.initial),
            js: RefCell::new(js),
            subscribers: RefCell::new(Slots::default()),
            next_id: Cell::new(0),
            resync: options.resync,
            resyncing: Cell::new(false),
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
        let text = text.as_string().ok_or_else(|| Error::Patch {
            index: None,
            message: "a patch must be JSON text".into(),
        })?;
        let ops = ops::parse(&text)?;
        ops::apply(&mut self.state.borrow_mut(), &ops)?;
        let applied = serde_json::to_string(&ops).unwrap_or_else(|_| "[]".into());
        let next = mirror(&self.js.borrow(), &applied);
        self.publish(next);
        Ok(())
    }

    fn failed(&self, e: &Error) {
        if let Some(source) = self.source.upgrade() {
            source.emit_error(e);
        }
        self.request_resync();
    }

    fn publish(&self, next: JsValue) {
        *self.js.borrow_mut() = next.clone();
        let subscribers = self.subscribers.borrow().snapshot();
        for (_, f) in subscribers.iter() {
            call_js(f, &[&next]);
        }
    }

    /// Asks the app for the full state (after a failed patch or a `reset`).
    pub fn request_resync(&self) {
        let Some(resync) = self.resync.clone() else {
            return;
        };
        if self.resyncing.replace(true) {
            return;
        }
        let me = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = fetch_state(&resync).await;
            let Some(this) = me.upgrade() else { return };
            this.resyncing.set(false);
            match result {
                Ok((state, js)) => {
                    *this.state.borrow_mut() = state;
                    this.publish(js);
                }
                Err(e) => {
                    if let Some(source) = this.source.upgrade() {
                        source.emit_error(&e);
                    }
                }
            }
        });
    }

    pub fn subscribe(&self, f: js_sys::Function) -> Id {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        self.subscribers.borrow_mut().add(id, f.clone());
        call_js(&f, &[&self.js.borrow()]);
        id
    }

    pub fn unsubscribe(&self, id: Id) {
        self.subscribers.borrow_mut().remove(id);
    }
}

/// Calls the resync function and reads its result as JSON, both for wasm and as a fresh JS copy
/// (never the caller's own object, which it may go on mutating).
async fn fetch_state(resync: &js_sys::Function) -> Result<(Value, JsValue), Error> {
    let failed = |e: &JsValue| Error::Patch {
        index: None,
        message: format!("resync failed: {}", platform::describe(e)),
    };
    let value = resync.call0(&JsValue::UNDEFINED).map_err(|e| failed(&e))?;
    let value = match value.dyn_into::<js_sys::Promise>() {
        Ok(p) => JsFuture::from(p).await.map_err(|e| failed(&e))?,
        Err(v) => v,
    };
    let text = to_json(&value)
        .map_err(|e| failed(&e))?
        .as_string()
        .ok_or_else(|| failed(&"resync returned no JSON value".into()))?;
    let state = serde_json::from_str(&text).map_err(|e| failed(&e.to_string().into()))?;
    Ok((state, from_json(&text)))
}

/// Initial state given as a JS value.
pub(crate) fn value_from_js(value: &JsValue) -> Result<Value, Error> {
    if value.is_undefined() {
        return Ok(Value::Object(Default::default()));
    }
    let text = to_json(value)
        .map_err(|e| Error::Config(format!("initial state: {}", platform::describe(&e))))?
        .as_string()
        .ok_or_else(|| Error::Config("initial state is not JSON".into()))?;
    serde_json::from_str(&text).map_err(|e| Error::Config(format!("initial state: {e}")))
}
