//! JSON-Patch mode: RFC 6902 operation objects and the compact tuples
//! (`[["replace", "/counter", 7]]`) applied atomically to client state.
//!
//! The state lives in JS, where subscribers read it: `engine.js` parses each patch with
//! `JSON.parse` (which never writes a prototype), checks every op, then applies them copying only
//! the containers on each changed path, so unchanged subtrees keep their identity (as React and
//! Svelte expect) and a failing op leaves the published state untouched: atomic at no extra cost,
//! and no value crosses into wasm. `ops` is the Rust engine for Rust callers, over
//! `serde_json::Value`: it parses with `livesource-protocol`'s one normalisation and applies with
//! the `json-patch` crate, and `agree` (browser tests) checks that both engines agree op for op.

#[cfg(all(test, target_arch = "wasm32"))]
mod agree;
/// Public for Rust apps that keep their own `serde_json::Value` state: they `subscribe` to the
/// patch event as `serde_json::Value` and apply each with `ops::normalise` and `ops::apply`. It
/// is also the reference the browser tests (`agree`) hold `engine.js` to, op for op.
pub mod ops;
pub(crate) mod store;

pub use store::{PatchOptions, PatchStore, Resync};
