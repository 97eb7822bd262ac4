//! The JavaScript API: thin wrappers over the Rust API, camelCase names, one typed options
//! object, errors as `JsError`, never a panic. The TypeScript declarations are written by hand
//! below so the event map can be generic.

use wasm_bindgen::prelude::*;

use crate::dispatch::{Callback, EventSink, Kind};
use crate::error::Error;
use crate::fragment::{RefreshOptions, Swap, Target};
use crate::handle::{LiveSource, Registration};
use crate::headers::HeadersSource;
use crate::options::{self, BackoffInput, OptionsInput, BACKOFF_NAMES, OPTION_NAMES};
use crate::token::{js_type_name, TokenSource};

#[wasm_bindgen(typescript_custom_section)]
const TS: &'static str = r#"
export type LiveState = 'connecting' | 'open' | 'reconnecting' | 'paused' | 'closed';
export type LiveErrorKind = 'config' | 'decode' | 'http' | 'auth' | 'network' | 'patch' | 'swap' | 'closed';

/** What `onError` callbacks receive. Tokens and secret query values never appear in it. */
export interface LiveError {
  kind: LiveErrorKind;
  message: string;
  /** HTTP status, for kind 'http'. */
  status?: number;
  /** Event name, for kind 'decode'. */
  event?: string;
  /** Event id, for kind 'decode' when the event had one. */
  id?: string;
  /** Index of the failing op, for kind 'patch'. */
  index?: number;
}

export interface EventMeta<K extends string = string> {
  /** The event's id as the native `lastEventId` reports it: `''` when the stream has set none
   * (or set it empty), and the previous id for an event without an `id:` field. */
  id: string;
  event: K;
}

export interface BackoffOptions {
  /** First delay ceiling in ms (default 500). */
  initialMs?: number;
  /** Largest delay in ms (default 30000). */
  maxMs?: number;
  /** Growth per attempt, >= 1 (default 2). */
  factor?: number;
  /** Full jitter: a uniform delay in [0, ceiling] (default true). */
  jitter?: boolean;
  /** Give up (state 'closed', error kind 'closed') after this many attempts; null = never. */
  maxAttempts?: number | null;
}

export interface LiveSourceOptions {
  /**
   * Called before every (re)connect. With the native transport it is sent as the `tokenParam`
   * query parameter (EventSource cannot send headers); with `transport: 'fetch'`, as
   * `Authorization: Bearer …` (or the query parameter with `tokenInQuery`).
   */
  token?: () => string | Promise<string>;
  /**
   * 'eventsource' (default): the browser's EventSource. 'fetch': a streamed fetch parsed in wasm,
   * with real headers (`Authorization`, `Last-Event-ID`) and the status read from the response.
   */
  transport?: 'eventsource' | 'fetch';
  /** Fetch transport: headers for each connect, asked for before every one. */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  /** Fetch transport: send the token as the `tokenParam` query parameter, not a header. */
  tokenInQuery?: boolean;
  /** Fetch transport: also send the resume id as the `lastEventIdParam` query parameter. */
  resumeInQuery?: boolean;
  /** Fetch transport: a longer line or event is an error and a reconnect (default 1 MiB). */
  maxEventBytes?: number;
  /** Send cookies on cross-origin streams. */
  withCredentials?: boolean;
  backoff?: BackoffOptions;
  /**
   * Reconnect if nothing arrives for this long (default 45000; 0 = off). Armed once the
   * connection has delivered a `heartbeat` event: keep-alive comments are invisible to scripts.
   */
  heartbeatTimeoutMs?: number;
  /** Query parameter carrying the resume id (default 'lastEventId'). */
  lastEventIdParam?: string;
  /** Query parameter carrying the token (default 'access_token'). */
  tokenParam?: string;
  /** Resume from this id on the first connection. */
  lastEventId?: string;
  /** Close while the page is hidden; resume without loss when it shows again. */
  pauseWhenHidden?: boolean;
  /**
   * One server connection for all same-origin tabs that open the same stream (same URL without
   * secrets, transport, credentials mode and shareKey): one tab holds it (Web Locks) and relays
   * every event, state change, error and reset to the others (BroadcastChannel). Where either
   * API is missing (or outside a secure context), each tab connects on its own. Default false.
   */
  share?: boolean;
  /** With share: only sources with the same key share (keep users or tenants apart). */
  shareKey?: string;
}

export type SwapMode = 'outerHTML' | 'innerHTML' | 'beforeend' | 'afterbegin' | 'none';

export interface RefreshOptions {
  /** The fragment URL (fetched with `HX-Request: true`); same-origin unless allowCrossOrigin. */
  url: string;
  /** CSS selector of the element to swap; looked up at each swap. Required unless swap is 'none'. */
  target?: string;
  /** How the fragment replaces the target (default 'outerHTML'). */
  swap?: SwapMode;
  allowCrossOrigin?: boolean;
  /** Called after each swap with the fragment's HTML and the swapped element. */
  onSwap?: (html: string, target: Element | null) => void;
}

export interface PatchOptions<S> {
  /** The state before the first patch (copied; later changes to this object are not seen). */
  initial?: S;
  /** Called after a failed patch or a server reset; returns the full current state. */
  resync?: () => S | Promise<S>;
}

/**
 * State kept by JSON-Patch events, with the Svelte store contract: `subscribe` calls `run` at
 * once with the current state and after every patch, and returns an unsubscribe function.
 * Each patch yields a new root object; unchanged subtrees keep their identity.
 */
export class PatchStore<S = any> {
  private constructor();
  subscribe(run: (state: S) => void): Unsubscribe;
  get(): S;
  /**
   * Applies a patch that did not come from the stream (an optimistic local change, say), with
   * the same atomic rules. Throws on failure, leaving the state unchanged.
   */
  apply(patch: string | ReadonlyArray<unknown>): void;
  /** Stops applying patches and frees the store. */
  free(): void;
  [Symbol.dispose](): void;
}

/** Removes the listener it was returned for. Calling it again does nothing. */
export type Unsubscribe = () => void;

/**
 * A live Server-Sent Events source. Declare the payload of each event name to type listeners:
 * `new LiveSource<{ 'item.created': Item }>(url).on('item.created', item => item.name)`.
 */
export class LiveSource<Events extends { [name: string]: any } = { [name: string]: any }> {
  constructor(url: string, options?: LiveSourceOptions);
  /** Calls `callback` with the parsed JSON data of every `event` event. */
  on<K extends keyof Events & string>(event: K, callback: (data: Events[K], meta: EventMeta<K>) => void): Unsubscribe;
  /**
   * Fragment refresh: on each `event`, re-fetch `options.url` and swap it into `options.target`.
   * Bursts are coalesced (one request in flight plus one trailing); a reset re-fetches once.
   */
  refresh(event: keyof Events & string, options: RefreshOptions): Unsubscribe;
  /**
   * JSON-Patch mode: each `event` carries a patch (RFC 6902 objects or compact tuples such as
   * `[["replace", "/counter", 7]]`), applied atomically. A failing patch leaves the state as it
   * was, reports a 'patch' error with the op's index, and calls `resync`.
   */
  patches<K extends keyof Events & string, S = any>(event: K, options?: PatchOptions<S>): PatchStore<S>;
  /** Calls `callback` now with the current state, then on every change. */
  onState(callback: (state: LiveState) => void): Unsubscribe;
  onError(callback: (error: LiveError) => void): Unsubscribe;
  /** The server could not resume without a gap: rebuild state derived from earlier events. */
  onReset(callback: (data: unknown) => void): Unsubscribe;
  /** Closes the stream, cancels every timer and releases every listener. */
  close(): void;
  /** Closes, then frees the wasm memory behind this object. */
  free(): void;
  [Symbol.dispose](): void;
  readonly state: LiveState;
  /** The id the next connection resumes from. */
  readonly lastEventId: string | undefined;
  /**
   * With `share`: 'leader' (this tab holds the connection and relays it), 'follower' (another
   * tab does), or 'off' (each tab on its own: the option is off, the browser cannot share, or
   * the source is closed).
   */
  readonly sharing: 'leader' | 'follower' | 'off';
}
"#;

/// `LiveSource` as JS sees it.
#[wasm_bindgen(js_name = LiveSource, skip_typescript)]
pub struct JsLiveSource {
    source: LiveSource,
}

#[wasm_bindgen(js_class = LiveSource)]
impl JsLiveSource {
    #[wasm_bindgen(constructor)]
    pub fn new(url: &str, options: JsValue) -> Result<JsLiveSource, JsError> {
        let options = parse_options(options)?;
        Ok(Self {
            source: LiveSource::connect(url, options)?,
        })
    }

    pub fn on(&self, event: &str, callback: JsValue) -> Result<js_sys::Function, JsError> {
        let f = function("on", callback)?;
        self.open()?;
        let id = self.source.inner().add_event(event, EventSink::Js(f));
        Ok(self.unsubscriber(Kind::Event(event.into()), id))
    }

    pub fn refresh(&self, event: &str, options: JsValue) -> Result<js_sys::Function, JsError> {
        self.open()?;
        let refresh = self.source.refresh(event, refresh_options(&options)?)?;
        Ok(unsubscriber(Unsubscribe::new(refresh)))
    }

    #[cfg(feature = "patch")]
    pub fn patches(&self, event: &str, options: JsValue) -> Result<JsPatchStore, JsError> {
        self.open()?;
        let (initial, resync) = patch_options(&options)?;
        let store = self.source.patch_store(event, initial, resync)?;
        Ok(JsPatchStore { store })
    }

    #[wasm_bindgen(js_name = onState)]
    pub fn on_state(&self, callback: JsValue) -> Result<js_sys::Function, JsError> {
        let f = function("onState", callback)?;
        let _ = f.call1(&JsValue::UNDEFINED, &self.state().into());
        self.register(Kind::State, |r, id| r.states.add(id, Callback::Js(f)))
    }

    #[wasm_bindgen(js_name = onError)]
    pub fn on_error(&self, callback: JsValue) -> Result<js_sys::Function, JsError> {
        let f = function("onError", callback)?;
        self.register(Kind::Error, |r, id| r.errors.add(id, Callback::Js(f)))
    }

    #[wasm_bindgen(js_name = onReset)]
    pub fn on_reset(&self, callback: JsValue) -> Result<js_sys::Function, JsError> {
        let f = function("onReset", callback)?;
        self.register(Kind::Reset, |r, id| r.resets.add(id, Callback::Js(f)))
    }

    pub fn close(&self) {
        self.source.close();
    }

    #[wasm_bindgen(getter)]
    pub fn state(&self) -> String {
        self.source.state().as_str().into()
    }

    #[wasm_bindgen(getter, js_name = lastEventId)]
    pub fn last_event_id(&self) -> Option<String> {
        self.source.last_event_id()
    }

    #[wasm_bindgen(getter)]
    pub fn sharing(&self) -> String {
        self.source.sharing().into()
    }
}

impl JsLiveSource {
    fn open(&self) -> Result<(), Error> {
        if self.source.inner().is_closed() {
            return Err(Error::Closed("this LiveSource is closed".into()));
        }
        Ok(())
    }

    fn register(
        &self,
        kind: Kind,
        add: impl FnOnce(&mut crate::dispatch::Registry, crate::dispatch::Id),
    ) -> Result<js_sys::Function, JsError> {
        self.open()?;
        let id = {
            let mut registry = self.source.inner().registry.borrow_mut();
            let id = registry.next_id();
            add(&mut registry, id);
            id
        };
        Ok(self.unsubscriber(kind, id))
    }

    fn unsubscriber(&self, kind: Kind, id: crate::dispatch::Id) -> js_sys::Function {
        unsubscriber(Unsubscribe::new(Registration::new(
            self.source.inner(),
            kind,
            id,
        )))
    }

    /// The Rust source behind a JS object, for code that mixes both APIs.
    pub fn source(&self) -> &LiveSource {
        &self.source
    }
}

/// `PatchStore` as JS sees it.
#[cfg(feature = "patch")]
#[wasm_bindgen(js_name = PatchStore, skip_typescript)]
pub struct JsPatchStore {
    store: crate::patch::PatchStore,
}

#[cfg(feature = "patch")]
#[wasm_bindgen(js_class = PatchStore)]
impl JsPatchStore {
    pub fn subscribe(&self, run: JsValue) -> Result<js_sys::Function, JsError> {
        let f = function("subscribe", run)?;
        let id = self.store.inner.subscribe(f);
        Ok(unsubscriber(Unsubscribe::new(StoreSubscription {
            store: std::rc::Rc::downgrade(&self.store.inner),
            id,
        })))
    }

    pub fn get(&self) -> JsValue {
        self.store.js_state()
    }

    /// Applies a local patch (JSON text or an ops array), atomically; throws a 'patch' error.
    pub fn apply(&self, patch: JsValue) -> Result<(), JsError> {
        Ok(self.store.inner.apply_js(&patch)?)
    }
}

#[cfg(feature = "patch")]
struct StoreSubscription {
    store: std::rc::Weak<crate::patch::store::StoreInner>,
    id: crate::dispatch::Id,
}

#[cfg(feature = "patch")]
impl Guard for StoreSubscription {
    fn detach(self: Box<Self>) {
        std::mem::forget(*self);
    }
}

#[cfg(feature = "patch")]
impl Drop for StoreSubscription {
    fn drop(&mut self) {
        if let Some(store) = self.store.upgrade() {
            store.unsubscribe(self.id);
        }
    }
}

/// The `patches` options: the initial state (a private copy) and the resync function.
#[cfg(feature = "patch")]
fn patch_options(value: &JsValue) -> Result<(JsValue, Option<js_sys::Function>), Error> {
    if value.is_undefined() || value.is_null() {
        return Ok((
            crate::patch::store::initial_from_js(&JsValue::UNDEFINED)?,
            None,
        ));
    }
    let object = options_object(value, "patches options", &["initial", "resync"], "")?;
    let field =
        |name: &str| js_sys::Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED);
    let resync = field("resync");
    Ok((
        crate::patch::store::initial_from_js(&field("initial"))?,
        if resync.is_undefined() || resync.is_null() {
            None
        } else {
            Some(function("resync", resync)?)
        },
    ))
}

/// What a JS unsubscribe function releases: a listener registration, a fragment refresh or a
/// store subscription.
trait Guard {
    /// The unsubscribe function was garbage-collected without being called: keep the listener,
    /// as `addEventListener` does for a callback nobody can remove any more.
    fn detach(self: Box<Self>);
}

impl Guard for Registration {
    fn detach(self: Box<Self>) {
        self.forget();
    }
}

impl Guard for crate::handle::Refresh {
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

impl Unsubscribe {
    fn new(guard: impl Guard + 'static) -> Self {
        Self {
            guard: Some(Box::new(guard)),
        }
    }
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

const REFRESH_NAMES: &[&str] = &["url", "target", "swap", "allowCrossOrigin", "onSwap"];

fn refresh_options(value: &JsValue) -> Result<RefreshOptions, Error> {
    let object = options_object(value, "refresh options", REFRESH_NAMES, "")?;
    let field =
        |name: &str| js_sys::Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED);
    let string = |name: &str| -> Result<Option<String>, Error> {
        let v = field(name);
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        v.as_string().map(Some).ok_or_else(|| {
            Error::Config(format!(
                "refresh option {name} must be a string, got {}",
                js_type_name(&v)
            ))
        })
    };
    let url = string("url")?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::Config("refresh needs a url".into()))?;
    let swap = match string("swap")? {
        Some(s) => Swap::parse(&s)?,
        None => Swap::OuterHtml,
    };
    let allow = field("allowCrossOrigin");
    let on_swap = field("onSwap");
    Ok(RefreshOptions {
        url,
        target: string("target")?.map(Target::Selector),
        swap,
        allow_cross_origin: allow.as_bool().unwrap_or(false),
        on_swap: if on_swap.is_undefined() || on_swap.is_null() {
            None
        } else {
            Some(function("onSwap", on_swap)?)
        },
    })
}

fn function(method: &str, value: JsValue) -> Result<js_sys::Function, Error> {
    value.dyn_into::<js_sys::Function>().map_err(|v| {
        Error::Config(format!(
            "{method}() needs a callback function, got {}",
            js_type_name(&v)
        ))
    })
}

/// `value` as an options object whose keys are all in `allowed`.
fn options_object<'a>(
    value: &'a JsValue,
    what: &str,
    allowed: &[&str],
    prefix: &str,
) -> Result<&'a js_sys::Object, Error> {
    let object = value
        .dyn_ref::<js_sys::Object>()
        .filter(|_| value.is_object())
        .ok_or_else(|| {
            Error::Config(format!(
                "{what} must be an object, got {}",
                js_type_name(value)
            ))
        })?;
    check_names(&js_sys::Object::keys(object), allowed, prefix)?;
    Ok(object)
}

fn check_names(keys: &js_sys::Array, allowed: &[&str], prefix: &str) -> Result<(), Error> {
    let keys: Vec<String> = keys.iter().filter_map(|k| k.as_string()).collect();
    options::check_names(keys.iter().map(String::as_str), allowed, prefix)
}

/// Splits the JS options object into the token function (kept as a JS value) and the plain
/// settings (read field by field with typed checks, then validated; unknown names are errors).
fn parse_options(value: JsValue) -> Result<crate::options::Options, Error> {
    if value.is_undefined() || value.is_null() {
        return OptionsInput::default().into_options(None, None);
    }
    let object = options_object(&value, "options", OPTION_NAMES, "")?;
    let o = Fields { object, prefix: "" };
    let backoff = o.get("backoff");
    let backoff = if backoff.is_undefined() || backoff.is_null() {
        None
    } else {
        let b = Fields {
            object: options_object(&backoff, "backoff", BACKOFF_NAMES, "backoff.")?,
            prefix: "backoff.",
        };
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
        TokenSource::from_js(o.get("token"))?,
        HeadersSource::from_js(o.get("headers"))?,
    )
}

/// Typed reads of an options object's fields; `undefined` and `null` mean "not set".
struct Fields<'a> {
    object: &'a js_sys::Object,
    prefix: &'a str,
}

impl Fields<'_> {
    fn get(&self, name: &str) -> JsValue {
        js_sys::Reflect::get(self.object, &name.into()).unwrap_or(JsValue::UNDEFINED)
    }

    fn typed<T>(
        &self,
        name: &str,
        kind: &str,
        read: impl FnOnce(&JsValue) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let v = self.get(name);
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
        self.typed(name, "number", JsValue::as_f64)
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, Error> {
        self.typed(name, "boolean", JsValue::as_bool)
    }

    fn string(&self, name: &str) -> Result<Option<String>, Error> {
        self.typed(name, "string", JsValue::as_string)
    }
}
