//! Request headers for the fetch transport, asked for before *every* connect (like the token),
//! so an app can put a fresh credential, a tenant or a trace id on each one. Their values are
//! never formatted into errors or logs.

use wasm_bindgen::{JsCast, JsValue};

use crate::auth::token::js_type_name;
use crate::error::{Error, Result};
use crate::provider::{ask_js, Provider};

/// Header name and value pairs, in the order they were given.
pub type Headers = Vec<(String, String)>;

/// Where the fetch transport's headers come from: a JS function returning an object of string
/// values or a promise of one, or an async Rust closure (`HeadersSource::from_fn`).
pub type HeadersSource = Provider<Headers>;

impl Provider<Headers> {
    /// Asks for this connect's headers.
    pub async fn fetch(&self) -> Result<Headers> {
        let failed = |e: String| Error::Config(format!("headers function failed: {e}"));
        let headers = match self {
            Provider::Rust(f) => f().await.map_err(failed)?,
            Provider::Js(f) => from_object(&ask_js(f).await.map_err(failed)?)?,
        };
        for (name, _) in &headers {
            check_name(name)?;
        }
        Ok(headers)
    }
}

fn from_object(value: &JsValue) -> Result<Headers> {
    let refused = || {
        Error::Config(format!(
            "headers function must return an object of strings, got {}",
            js_type_name(value)
        ))
    };
    // `typeof`, so a prototype-less object is accepted; entries through a binding that catches
    // a throwing getter or Proxy trap, which would otherwise escape the connect task.
    if !value.is_object() {
        return Err(refused());
    }
    let entries = crate::platform::object_entries(value).map_err(|e| {
        Error::Config(format!(
            "the headers function's result could not be read: {}",
            crate::platform::describe(&e)
        ))
    })?;
    if js_sys::Array::is_array(value) {
        return Err(refused());
    }
    entries
        .iter()
        .map(|entry| {
            let entry: js_sys::Array = entry.unchecked_into();
            let name = entry.get(0).as_string().unwrap_or_default();
            let value = entry.get(1);
            let text = value.as_string().ok_or_else(|| {
                Error::Config(format!(
                    "header '{name}' must be a string, got {}",
                    js_type_name(&value)
                ))
            })?;
            Ok((name, text))
        })
        .collect()
}

/// The transport sets these itself; an app that sets them would break resume or the stream.
const RESERVED: &[&str] = &["last-event-id", "accept"];

fn check_name(name: &str) -> Result<()> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(Error::Config(format!(
            "'{name}' is not a valid header name"
        )));
    }
    if RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
        return Err(Error::Config(format!(
            "header '{name}' is set by the fetch transport itself"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn header_names_are_tokens_and_not_the_transports_own() {
        assert!(check_name("Authorization").is_ok());
        assert!(check_name("X-Tenant").is_ok());
        for bad in ["", "Bad Name", "a:b", "Last-Event-ID", "accept"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
