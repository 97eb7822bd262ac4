//! livesource-dev: a development server for the `livesource` library, speaking RESTHeart's
//! change-stream dialect over SSE.
//!
//! Documents live in SQLite with an append-only events log written in the same transaction;
//! change streams replay that log on resume and then go live without gap or duplicate.
//!
//! One folder (or file) per concern; each may use only those listed after it, so nothing
//! imports anything above itself (`tests/layout.rs` fails on any import circle):
//!
//! - `http`: the router, the layers every request passes, the accept loop.
//! - `routes`: the handlers, and the replay-then-live stream they share.
//! - `state`: `AppState`, what every handler shares.
//! - `streams`: change-stream definitions and the hub of shared subscriptions.
//! - `topics`: patch topics: the registry and its bounds, JSON-Patch ops.
//! - `auth`: tokens, roles, access rules, the canonical request path.
//! - `store`: SQLite documents and event log, change events, ids.
//! - `sse`: the SSE wire format and response, fan-out, per-client stream counts.
//! - `pages`: the HTML templates.
//! - `config`, `error`: configuration and the one error type.

pub mod auth;
pub mod config;
mod error;
pub mod http;
mod pages;
mod routes;
mod sse;
mod state;
mod store;
mod streams;
mod topics;

// What the binary and the integration tests use besides `auth`, `config` and `http`.
pub use config::Config;
pub use http::app;
pub use state::AppState;
pub use streams::MAX_STREAMS;
