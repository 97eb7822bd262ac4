//! JSON-Patch mode: RFC 6902 operation objects and the compact tuples
//! (`[["replace", "/counter", 7]]`) applied atomically to client state.
//!
//! The canonical state is a `serde_json::Value` in wasm, patched by the `json-patch` crate, which
//! reverts every op of a patch when one fails. JS gets a structurally shared copy: after a patch
//! succeeds, only the applied ops are replayed onto it, copying the containers on each changed
//! path (so unchanged subtrees keep their identity, as React and Svelte expect), and values cross
//! as JSON text parsed by `JSON.parse`, which never writes a prototype.

pub mod ops;
pub(crate) mod store;

pub use store::{PatchOptions, PatchStore};
