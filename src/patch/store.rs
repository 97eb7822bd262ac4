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
function put(node, path, i, value, insert) {
  if (i === path.length) return value;
  const k = path[i], last = i === path.length - 1;
  if (Array.isArray(node)) {
    const copy = node.slice();
    if (!last) copy[+k] = put(node[+k], path, i + 1, value, insert);
    else if (k === '-') copy.push(value);
    else if (insert) copy.splice(+k, 0, value);
    else copy[+k] = value;
    return copy;
  }
  const copy = { ...node };
  set(copy, k, last ? value : put(own(node, k), path, i + 1, value, insert));
  return copy;
}
function del(node, path, i) {
  const k = path[i], last = i === path.length - 1;
  if (Array.isArray(node)) {
    const copy = node.slice();
    if (last) copy.splice(+k, 1); else copy[+k] = del(node[+k], path, i + 1);
    return copy;
  }
  const copy = { ...node };
  if (last) delete copy[k]; else set(copy, k, del(own(node, k), path, i + 1));
  return copy;
}
// Replays ops that already succeeded on the canonical state, copying only the changed paths.
export function mirror(root, opsJson) {
  for (const o of JSON.parse(opsJson)) {
    const path = ptr(o.path);
    switch (o.op) {
      case 'add': root = put(root, path, 0, o.value, true); break;
      case 'replace': root = put(root, path, 0, o.value, false); break;
      case 'remove': root = del(root, path, 0); break;
      case 'copy': root = put(root, path, 0, structuredClone(at(root, ptr(o.from))), true); break;
      case 'move': { const from = ptr(o.from); const v = at(root, from); root = put(del(root, from, 0), path, 0, v, true); break; }
    }
  }
  return root;
}
export function toJson(value) { return JSON.stringify(value); }
export function fromJson(text) { return JSON.parse(text); }
"#)]
extern "C" {
    fn mirror(root: &JsValue, ops_json: &str) -> JsValue;
    #[wasm_bindgen(js_name = toJson, catch)]
    fn to_json(value: &JsValue) -> Result<JsValue, JsValue>;
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

    /// One event's raw data: a patch.
    pub fn on_data(&self, data: &JsValue) {
        let Some(text) = data.as_string() else {
            return self.failed(&Error::Patch {
                index: None,
                message: "event data is not text".into(),
            });
        };
        let result = ops::parse(&text)
            .and_then(|ops| ops::apply(&mut self.state.borrow_mut(), &ops).map(|()| ops));
        match result {
            Ok(ops) => {
                let applied = serde_json::to_string(&ops).unwrap_or_else(|_| "[]".into());
                let next = mirror(&self.js.borrow(), &applied);
                self.publish(next);
            }
            Err(e) => self.failed(&e),
        }
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
