//! Where the auth token comes from. It is asked for before *every* connect, so an expired JWT is
//! never reused, and it is never formatted into errors, logs or state payloads.

use wasm_bindgen::JsValue;

use crate::error::{Error, Result};
use crate::provider::{ask_js, Provider};

/// Where the token comes from: a JS function returning a string or a promise of one, or an
/// async Rust closure (`TokenSource::from_fn`).
pub type TokenSource = Provider<String>;

impl Provider<String> {
    /// Asks for a fresh token.
    pub async fn fetch(&self) -> Result<String> {
        let failed = |e: String| Error::Auth(format!("token function failed: {e}"));
        let token = match self {
            Provider::Rust(f) => f().await.map_err(failed)?,
            Provider::Js(f) => {
                let value = ask_js(f).await.map_err(failed)?;
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

pub(crate) fn js_type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else {
        v.js_typeof().as_string().unwrap_or_default()
    }
}
