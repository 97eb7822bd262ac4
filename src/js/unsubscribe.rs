//! The functions `on()`, `refresh()`, `subscribe()` and friends return: calling one removes what
//! it was returned for; dropping it unnoticed (garbage collection) keeps the listener, as
//! `addEventListener` does for a callback nobody can remove any more.

use wasm_bindgen::prelude::*;

use crate::api::handle::Refresh;
use crate::source::registry::Registration;

/// What a JS unsubscribe function releases: a listener registration, a fragment refresh or a
/// store subscription. Dropping it releases; `detach` keeps it for the source's life.
pub(super) trait Guard {
    fn detach(self: Box<Self>);
}

impl Guard for Registration {
    fn detach(self: Box<Self>) {
        self.forget();
    }
}

impl Guard for Refresh {
    fn detach(self: Box<Self>) {
        (*self).detach();
    }
}

/// Held by the JS function `on()` and friends return. Calling that function runs `run()` then
/// `free()`; if the function is garbage-collected instead, wasm-bindgen's finalizer frees the
/// handle and `Drop` detaches rather than unsubscribes.
#[wasm_bindgen(skip_typescript)]
pub struct Unsubscribe {
    guard: Option<Box<dyn Guard>>,
}

#[wasm_bindgen]
impl Unsubscribe {
    /// Releases the listener.
    pub fn run(&mut self) {
        self.guard.take();
    }
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            guard.detach();
        }
    }
}

#[wasm_bindgen(inline_js = "
export function unsubscriber(handle) {
  let h = handle;
  return () => { if (h) { const x = h; h = null; x.run(); x.free(); } };
}
")]
extern "C" {
    fn unsubscriber(handle: Unsubscribe) -> js_sys::Function;
}

/// The JS unsubscribe function for `guard`.
pub(super) fn unsubscribe_fn(guard: impl Guard + 'static) -> js_sys::Function {
    unsubscriber(Unsubscribe {
        guard: Some(Box::new(guard)),
    })
}
