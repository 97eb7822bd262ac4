//! `PatchStore` as JS sees it: the Svelte store contract over the JS engine's state.

use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::*;

use super::options::callback;
use super::thrown;
use super::unsubscribe::{unsubscribe_fn, Guard};
use crate::patch::store::StoreInner;
use crate::patch::PatchStore;
use crate::source::dispatch::Id;

#[wasm_bindgen(js_name = PatchStore, skip_typescript)]
pub struct JsPatchStore {
    pub(super) store: PatchStore,
}

#[wasm_bindgen(js_class = PatchStore)]
impl JsPatchStore {
    pub fn subscribe(&self, run: JsValue) -> Result<js_sys::Function, JsError> {
        let f = callback("subscribe", run).map_err(thrown)?;
        let id = self.store.inner.subscribe(f);
        Ok(unsubscribe_fn(StoreSubscription {
            store: Rc::downgrade(&self.store.inner),
            id,
        }))
    }

    pub fn get(&self) -> JsValue {
        self.store.js_state()
    }

    /// Applies a local patch (JSON text or an ops array), atomically; throws a 'patch' error.
    pub fn apply(&self, patch: JsValue) -> Result<(), JsError> {
        self.store.inner.apply_js(&patch).map_err(thrown)
    }
}

struct StoreSubscription {
    store: Weak<StoreInner>,
    id: Id,
}

impl Guard for StoreSubscription {
    fn detach(mut self: Box<Self>) {
        // Dropped with no store to unsubscribe from, rather than leaked with `mem::forget`.
        self.store = Weak::new();
    }
}

impl Drop for StoreSubscription {
    fn drop(&mut self) {
        if let Some(store) = self.store.upgrade() {
            store.unsubscribe(self.id);
        }
    }
}
