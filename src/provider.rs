//! What the library asks the app for, each time it needs it: the token and the headers before
//! every connect, the full state on a resync. The app gives a JS function (returning the value or
//! a promise of it) or an async Rust closure; `TokenSource`, `HeadersSource` and
//! `patch::Resync` are this one type, and each checks the answer its own way.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::platform;

/// What an async Rust provider returns: the value, or a message saying why there is none.
pub type ProviderFuture<T> = Pin<Box<dyn Future<Output = Result<T, String>>>>;

/// A value the app provides on request: see the module documentation.
pub enum Provider<T> {
    /// A JS function returning the value or a promise of it.
    Js(js_sys::Function),
    /// A Rust closure returning a future.
    Rust(Rc<dyn Fn() -> ProviderFuture<T>>),
}

impl<T: 'static> Provider<T> {
    /// A provider from an async Rust function.
    pub fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<T, String>> + 'static,
    {
        Provider::Rust(Rc::new(move || Box::pin(f())))
    }
}

// By hand: a derive would ask `T: Clone`, which a provider does not need.
impl<T> Clone for Provider<T> {
    fn clone(&self) -> Self {
        match self {
            Provider::Js(f) => Provider::Js(f.clone()),
            Provider::Rust(f) => Provider::Rust(Rc::clone(f)),
        }
    }
}

// Never the value: a provider may hand out credentials.
impl<T> fmt::Debug for Provider<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Js(_) => "Provider::Js(..)",
            Provider::Rust(_) => "Provider::Rust(..)",
        })
    }
}

/// Calls an app's JS function with no arguments and awaits its result if it is a promise, which
/// the caller checks. The error is what it threw or its promise rejected with.
pub(crate) async fn ask_js(f: &js_sys::Function) -> Result<JsValue, String> {
    let value = f
        .call0(&JsValue::UNDEFINED)
        .map_err(|e| platform::describe(&e))?;
    match value.dyn_into::<js_sys::Promise>() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .map_err(|e| platform::describe(&e)),
        Err(value) => Ok(value),
    }
}
