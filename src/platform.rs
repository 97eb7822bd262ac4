//! The few browser globals the library needs, in a window or a worker alike.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Url, Window, WorkerGlobalScope};

use crate::error::{Error, Result};

pub(crate) fn window() -> Option<Window> {
    js_sys::global().dyn_into::<Window>().ok()
}

fn worker() -> Option<WorkerGlobalScope> {
    js_sys::global().dyn_into::<WorkerGlobalScope>().ok()
}

/// Resolves `url` against the document's base URL (or the worker's location).
pub(crate) fn absolute_url(url: &str) -> Result<String> {
    if let Ok(u) = Url::new(url) {
        return Ok(u.href());
    }
    let base = window()
        .and_then(|w| w.document())
        .and_then(|d| d.base_uri().ok().flatten())
        .or_else(|| worker().map(|w| w.location().href()));
    let Some(base) = base else {
        return Err(Error::Config(format!(
            "'{url}' is a relative URL and there is no document base to resolve it against"
        )));
    };
    Url::new_with_base(url, &base)
        .map(|u| u.href())
        .map_err(|_| Error::Config(format!("'{url}' is not a valid URL")))
}

pub(crate) fn random() -> f64 {
    js_sys::Math::random()
}

pub(crate) fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// An HTTP date (`Retry-After`) in Unix milliseconds, read by the browser's `Date.parse`.
pub(crate) fn parse_http_date(value: &str) -> Option<f64> {
    let at = js_sys::Date::parse(value);
    (!at.is_nan()).then_some(at)
}

/// A JS exception's message, for error reports.
pub(crate) fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

/// Runs `future` on the page's event loop. Every task goes through one boxed type, so the
/// download carries one copy of the executor's spawn code instead of one per `async` block.
pub(crate) fn spawn(future: impl std::future::Future<Output = ()> + 'static) {
    spawn_boxed(Box::pin(future));
}

#[inline(never)]
fn spawn_boxed(future: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(future);
}

/// Whether `url` (absolute) has this page's or worker's origin: `self.origin`, the one `fetch`
/// goes by, not `location.origin`. A sandboxed frame's origin is opaque (`"null"`), so nothing is
/// same-origin there, as nothing is for the browser.
pub(crate) fn same_origin(url: &str) -> bool {
    let origin = js_sys::Reflect::get(&js_sys::global(), &"origin".into())
        .ok()
        .and_then(|o| o.as_string());
    match (origin, Url::new(url)) {
        (Some(origin), Ok(u)) => u.origin() == origin,
        _ => false,
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `Object.keys`, with what a Proxy's trap throws returned instead of thrown through wasm.
    #[wasm_bindgen(catch, js_namespace = Object, js_name = keys)]
    pub(crate) fn object_keys(object: &JsValue) -> std::result::Result<js_sys::Array, JsValue>;

    /// `Object.entries`, likewise (a getter that throws).
    #[wasm_bindgen(catch, js_namespace = Object, js_name = entries)]
    pub(crate) fn object_entries(object: &JsValue) -> std::result::Result<js_sys::Array, JsValue>;
}

/// The npm package is the whole program, so it may pick the allocator: talc is a few KB smaller
/// than the default dlmalloc. A Rust app linking the library keeps its own (feature `npm` off).
#[cfg(all(
    feature = "npm",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
