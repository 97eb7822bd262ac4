//! livesource-dev: a development server for the `livesource` library, speaking RESTHeart's
//! change-stream dialect over SSE.
//!
//! Documents live in SQLite with an append-only events log written in the same transaction;
//! change streams replay that log on resume and then go live without gap or duplicate.

pub mod access;
pub mod app;
pub mod auth;
pub mod change;
pub mod change_streams;
pub mod client_limit;
pub mod config;
pub mod documents;
pub mod error;
pub mod extract;
pub mod fanout;
pub mod feed;
pub mod hub;
pub mod ids;
pub mod ops;
pub mod pages;
pub mod path;
pub mod replay;
pub mod server;
pub mod sse;
pub mod state;
pub mod store;
pub mod streams;
#[cfg(feature = "test-routes")]
pub mod test_routes;
pub mod topics;
pub mod write_deadline;

pub use app::app;
pub use config::Config;
pub use state::AppState;
