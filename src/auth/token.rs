//! Where the auth token comes from. It is asked for before *every* connect, so an expired JWT is
//! never reused, and it is never formatted into errors, logs or state payloads.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{Error, Result};

type TokenFuture = Pin<Box<dyn Future<Output = Result<String, String>>>>;

#[derive(Clone)]
pub enum TokenSource {
    /// A JS function returning a string or a promise of one.
    Js(js_sys::Function),
    /// A Rust closure returning a future.
    Rust(Rc<dyn Fn() -> TokenFuture>),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenSource::Js(_) => "TokenSource::Js(..)",
            TokenSource::Rust(_) => "TokenSource::Rust(..)",
        })
    }
}

impl TokenSource {
    /// A token from an async Rust function.
    pub fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<String, String>> + 'static,
    {
        TokenSource::Rust(Rc::new(move || Box::pin(f())))
    }

    /// Asks for a fresh token.
    pub async fn fetch(&self) -> Result<String> {
        let token = match self {
            TokenSource::Rust(f) => f().await.map_err(|e| Error::Auth(format!("token: {e}")))?,
            TokenSource::Js(f) => {
                let value = call_js_fn(f).await.map_err(|e| {
                    Error::Auth(format!(
                        "token function failed: {}",
                        crate::platform::describe(&e)
                    ))
                })?;
                value.as_string().ok_or_else(|| {
                    Error::Auth(format!(
                        "token function must return a string, got {}",
                        js_type_name(&value)
                    ))
                })?
            }
        };
        if token.is_empty() {
            return Err(Error::Auth(
                "token function returned an empty string".into(),
            ));
        }
        Ok(token)
    }
}

/// Calls an app's JS function with no arguments and awaits its result if it is a promise.
pub(crate) async fn call_js_fn(f: &js_sys::Function) -> std::result::Result<JsValue, JsValue> {
    let value = f.call0(&JsValue::UNDEFINED)?;
    match value.dyn_into::<js_sys::Promise>() {
        Ok(promise) => JsFuture::from(promise).await,
        Err(value) => Ok(value),
    }
}

pub(crate) fn js_type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    }
}
