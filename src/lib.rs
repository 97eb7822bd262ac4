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
//! Pure logic (backoff, resume, SSE framing, failure rules, options) lives in crate-private
//! modules with native tests; `transport`, `source`, `probe` and `share` are the thin browser
//! layers, and `js` (with its TypeScript and the npm entry points) is the whole JavaScript API.

mod auto;
mod backoff;
mod coalesce;
mod dispatch;
pub mod error;
mod failure;
pub mod fragment;
mod handle;
pub mod headers;
mod js;
mod options;
#[cfg(feature = "patch")]
pub mod patch;
mod platform;
mod probe;
mod resume;
mod share;
mod source;
mod sse;
pub mod token;
mod transport;
mod vec_map;

pub use auto::{auto_wire, AutoWiring};
pub use backoff::Backoff;
pub use dispatch::{Meta, State};
pub use error::Error;
pub use fragment::{OnSwap, RefreshOptions, Swap, Target};
pub use handle::{Event, LiveSource, Refresh, Registration, Subscription};
pub use headers::HeadersSource;
pub use js::JsLiveSource;
pub use options::{Options, Transport};
pub use token::TokenSource;

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
