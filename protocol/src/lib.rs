//! # livesource-protocol
//!
//! The pieces of livesource's wire protocol, implemented once and shared by every crate of the
//! workspace: the library (`livesource`, compiled to wasm32), the dev server (`livesource-dev`),
//! the server's integration tests and the load generator (`livesource-loadgen`).
//!
//! - [`sse`]: the `text/event-stream` parser, per the WHATWG HTML "event stream
//!   interpretation". Incremental over bytes, bounded memory, no dependency but `std`.
//! - [`patch`] (feature `patch`): the JSON-Patch normal form: RFC 6902 objects and the compact
//!   tuples (`[["replace", "/counter", 7]]`) checked and turned into one [`patch::Op`] list.
//! - [`resume`]: the canonical decimal form of event ids, as the server accepts them and as the
//!   library keeps them as numbers.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "patch")]
pub mod patch;
pub mod resume;
pub mod sse;
