//! The Rust API: the owning `LiveSource` handle with its typed streams and guards (`handle`),
//! and script-tag auto-wiring of `data-live-*` elements (`auto`), which the JS API exposes too.

pub mod auto;
pub mod handle;
