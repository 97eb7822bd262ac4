//! The JavaScript API, all of it: thin wrappers over the Rust API with camelCase names, one typed
//! options object per call read by one reader (`options`), errors thrown as `JsError` and never
//! a panic. Besides the wasm-bindgen classes, this folder holds the TypeScript of those classes
//! (`types.d.ts`, written by hand so the event map can be generic) and the npm package's entry
//! points (`livesource.js`, `livesource-auto.js` and their `.d.ts`), which
//! `scripts/package.mjs` copies into `pkg/`.

mod auto;
mod options;
mod source;
#[cfg(feature = "patch")]
mod store;
mod unsubscribe;

pub use source::JsLiveSource;

/// The error exit of every exported function, not inlined: one copy of the conversion (the
/// message built through `Display`) instead of one per export and per `?`.
#[inline(never)]
fn thrown(e: crate::error::Error) -> wasm_bindgen::JsError {
    wasm_bindgen::JsError::from(e)
}

#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const TS: &str = include_str!("types.d.ts");

/// A panic is a bug (exported functions return errors instead), but if one happens its message
/// must reach the console rather than a bare `unreachable` trap.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("livesource panicked: {info}").into());
    }));
}
