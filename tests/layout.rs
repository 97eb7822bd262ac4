//! The library's `src/` holds to the same rule as the dev server's: every top-level module uses
//! only the modules listed after it in `lib.rs`'s documentation, so there is no import circle
//! between folders. One checker for both crates: `www/tests/layout.rs`, compiled here against
//! this crate's own `src/`.
//!
//! `cargo test -p livesource --test layout -- --nocapture` prints the graph.

#![cfg(not(target_arch = "wasm32"))]

#[path = "../www/tests/layout.rs"]
mod layout;
