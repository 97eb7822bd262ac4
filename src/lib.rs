//! # livesource
//!
//! Server-Sent Events for live web pages. Wraps the browser's native `EventSource` and adds typed
//! listeners, reconnect with backoff, lossless resume, token auth in a query parameter and
//! failure visibility.
//!
//! From Rust:
//! ```no_run
//! # async fn demo() -> Result<(), livesource::Error> {
//! use futures_util::StreamExt;
//! use livesource::{LiveSource, Options};
//!
//! #[derive(serde::Deserialize)]
//! struct Change { #[serde(rename = "operationType")] op: String }
//!
//! let source = LiveSource::connect("/shop/products/_streams/changes", Options::default())?;
//! let mut changes = source.subscribe::<Change>("change");
//! while let Some(event) = changes.next().await {
//!     let event = event?;
//!     web_sys::console::log_1(&event.data.op.into());
//! }
//! # Ok(()) }
//! ```
//!
//! The modules, top first; each uses only those listed after it (`tests/layout.rs` checks):
//! - `js`: the whole JavaScript API, with its TypeScript and the npm entry points.
//! - `api`: the Rust API (`LiveSource`, typed streams, guards) and script-tag auto-wiring.
//! - `fragment`, `patch`: the two update modes, fragment refresh and JSON-Patch state.
//! - `source`: the state machine of one source, its listener registry and delivery.
//! - `transport`, `share`, `options`: the connection, the cross-tab relay, the options.
//! - `auth`, `policy`: credentials per connect; the pure decisions (backoff, failure, resume).
//! - `provider`: what the app is asked for (token, headers, resync state).
//! - `platform`, `vec_map`, `cell`: the few browser globals; a small map; a `RefCell` whose
//!   borrows share one panic path.
//! - `error`: the one error type.
//!
//! Pure logic lives in `policy` (and `options`, `share::relay`, `fragment::coalesce`) with native
//! tests; `transport`, `source` and `share` are the thin browser layers around it.

mod api;
mod auth;
mod cell;
pub mod error;
pub mod fragment;
mod js;
mod options;
#[cfg(feature = "patch")]
pub mod patch;
mod platform;
mod policy;
mod provider;
mod share;
mod source;
mod transport;
mod vec_map;

pub use api::auto::{auto_wire, AutoWiring};
pub use api::handle::{Event, LiveSource, Refresh, Subscription};
pub use auth::headers::HeadersSource;
pub use auth::token::TokenSource;
pub use error::Error;
pub use fragment::{OnSwap, RefreshOptions, Swap, Target};
pub use js::JsLiveSource;
pub use options::{Options, Transport};
pub use policy::backoff::Backoff;
pub use provider::{Provider, ProviderFuture};
pub use source::dispatch::{Meta, State};
pub use source::registry::Registration;

// The pure modules' unit tests run natively and, through `wasm-pack test`, in Chromium too.
#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// Rounds for the deterministic fuzz loops: `base`, or more when `PROPTEST_CASES` asks for more
/// (`make soak` sets 10,000). In the browser there is no environment, so `base`.
#[cfg(test)]
pub(crate) fn fuzz_rounds(base: usize) -> usize {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(base, |n: usize| n.max(base))
}

/// A deterministic xorshift generator for the fuzz loops: `rand(n)` is in `0..n`. The same
/// cases every run, so a failure always reproduces.
#[cfg(test)]
pub(crate) fn test_rng(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
