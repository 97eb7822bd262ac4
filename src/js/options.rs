//! The one reader of JS options objects, for the constructor, `refresh` and `patches`: every
//! field typed, `undefined` and `null` meaning "not set", unknown names rejected, and each error
//! a `config` error that names the field (`backoff.maxMs must be a number, got string`). A value
//! of the wrong type is never read as "not set": `allowCrossOrigin: "yes"` is an error, not
//! `false`.

use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::auth::headers::HeadersSource;
use crate::auth::token::{js_type_name, TokenSource};
use crate::error::Error;
use crate::fragment::{RefreshOptions, Swap, Target};
use crate::options::{self, BackoffInput, Options, OptionsInput, BACKOFF_NAMES, OPTION_NAMES};
use crate::platform;
use crate::source::dispatch::call_js;

/// The fields of one options object.
struct Reader<'a> {
    /// `None` for an options argument left out: every field reads as not set.
    object: Option<&'a js_sys::Object>,
    /// The path of this object in the options, for messages (`backoff.`).
    prefix: &'static str,
}

impl<'a> Reader<'a> {
    /// `value` as an options object whose keys are all in `allowed`; `what` names it in the
    /// error for a value that is not an object.
    fn new(
        value: &'a JsValue,
        what: &str,
        allowed: &[&str],
        prefix: &'static str,
    ) -> Result<Self, Error> {
        if value.is_undefined() || value.is_null() {
            return Ok(Self {
                object: None,
                prefix,
            });
        }
        // `typeof` rather than `instanceof Object`: an object made by `Object.create(null)` or
        // in another realm (an iframe) is an options object too; an array is not.
        if !value.is_object() {
            return Err(Error::Config(format!(
                "{what} must be an object, got {}",
                js_type_name(value)
            )));
        }
        // A Proxy's `ownKeys` trap may throw (a revoked one always does).
        let keys = platform::object_keys(value).map_err(|e| {
            Error::Config(format!(
                "{what} could not be read: {}",
                platform::describe(&e)
            ))
        })?;
        if js_sys::Array::is_array(value) {
            return Err(Error::Config(format!(
                "{what} must be an object, got an array"
            )));
        }
        let object: &js_sys::Object = value.unchecked_ref();
        let keys: Vec<String> = keys.iter().filter_map(|k| k.as_string()).collect();
        options::check_names(keys.iter().map(String::as_str), allowed, prefix)?;
        Ok(Self {
            object: Some(object),
            prefix,
        })
    }

    /// The raw field; `undefined` when not set. A getter that throws is a config error that
    /// names the field, not a field left unset.
    fn value(&self, name: &str) -> Result<JsValue, Error> {
        let Some(object) = self.object else {
            return Ok(JsValue::UNDEFINED);
        };
        js_sys::Reflect::get(object, &name.into()).map_err(|e| {
            Error::Config(format!(
                "{}{name} could not be read: {}",
                self.prefix,
                platform::describe(&e)
            ))
        })
    }

    fn typed<T>(
        &self,
        name: &str,
        kind: &str,
        read: fn(&JsValue) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let v = self.value(name)?;
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        read(&v).map(Some).ok_or_else(|| {
            Error::Config(format!(
                "{}{name} must be a {kind}, got {}",
                self.prefix,
                js_type_name(&v)
            ))
        })
    }

    fn number(&self, name: &str) -> Result<Option<f64>, Error> {
        self.typed(name, "number", |v| v.as_f64())
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, Error> {
        self.typed(name, "boolean", |v| v.as_bool())
    }

    fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.typed(name, "string", |v| v.as_string())
    }

    fn function(&self, name: &str) -> Result<Option<js_sys::Function>, Error> {
        self.typed(name, "function", |v| v.dyn_ref().cloned())
    }
}

/// A listener argument (`on`, `onState`, `subscribe`...): a function, or a config error that
/// names the method.
pub(super) fn callback(method: &str, value: JsValue) -> Result<js_sys::Function, Error> {
    value.dyn_into::<js_sys::Function>().map_err(|v| {
        Error::Config(format!(
            "{method}() needs a callback function, got {}",
            js_type_name(&v)
        ))
    })
}

/// The constructor's options: read here, converted by `OptionsInput::into_options` (and
/// validated by `LiveSource::connect`).
pub(super) fn source_options(value: &JsValue) -> Result<Options, Error> {
    let o = Reader::new(value, "options", OPTION_NAMES, "")?;
    let backoff = o.value("backoff")?;
    let backoff = if backoff.is_undefined() || backoff.is_null() {
        None
    } else {
        let b = Reader::new(&backoff, "backoff", BACKOFF_NAMES, "backoff.")?;
        Some(BackoffInput {
            initial_ms: b.number("initialMs")?,
            max_ms: b.number("maxMs")?,
            factor: b.number("factor")?,
            jitter: b.boolean("jitter")?,
            max_attempts: b.number("maxAttempts")?,
        })
    };
    let input = OptionsInput {
        transport: o.string("transport")?,
        token_in_query: o.boolean("tokenInQuery")?,
        resume_in_query: o.boolean("resumeInQuery")?,
        max_event_bytes: o.number("maxEventBytes")?,
        with_credentials: o.boolean("withCredentials")?,
        backoff,
        heartbeat_timeout_ms: o.number("heartbeatTimeoutMs")?,
        last_event_id_param: o.string("lastEventIdParam")?,
        token_param: o.string("tokenParam")?,
        last_event_id: o.string("lastEventId")?,
        pause_when_hidden: o.boolean("pauseWhenHidden")?,
        share: o.boolean("share")?,
        share_key: o.string("shareKey")?,
    };
    input.into_options(
        o.function("token")?.map(TokenSource::Js),
        o.function("headers")?.map(HeadersSource::Js),
    )
}

const REFRESH_NAMES: &[&str] = &["url", "target", "swap", "allowCrossOrigin", "onSwap"];

pub(super) fn refresh_options(value: &JsValue) -> Result<RefreshOptions, Error> {
    let o = Reader::new(value, "refresh options", REFRESH_NAMES, "")?;
    let url = o
        .string("url")?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::Config("refresh needs a url".into()))?;
    let swap = match o.string("swap")? {
        Some(s) => Swap::parse(&s)?,
        None => Swap::OuterHtml,
    };
    Ok(RefreshOptions {
        url,
        target: o.string("target")?.map(Target::Selector),
        swap,
        allow_cross_origin: o.boolean("allowCrossOrigin")?.unwrap_or(false),
        on_swap: o.function("onSwap")?.map(|f| -> crate::fragment::OnSwap {
            Rc::new(move |html: &str, target: Option<&web_sys::Element>| {
                let target = target.map_or(JsValue::NULL, |t| t.clone().into());
                call_js(&f, &[&html.into(), &target])
            })
        }),
    })
}

#[cfg(feature = "patch")]
const PATCH_NAMES: &[&str] = &["initial", "resync"];

/// The `patches` options: the initial state (a private copy) and the resync function.
#[cfg(feature = "patch")]
pub(super) fn patch_options(
    value: &JsValue,
) -> Result<(JsValue, Option<crate::patch::Resync>), Error> {
    let o = Reader::new(value, "patches options", PATCH_NAMES, "")?;
    Ok((
        crate::patch::store::initial_from_js(&o.value("initial")?)?,
        o.function("resync")?.map(crate::patch::Resync::js),
    ))
}
