//! HTTP: the router (`app`), the layers every request passes (`middleware`, `client_limit`),
//! and the accept loop (`server`) with its per-connection write deadline (`write_deadline`).
//! The top of the crate: it wires `routes` to paths, and nothing but `main` imports it.

mod app;
mod client_limit;
mod middleware;
mod server;
mod write_deadline;
pub use app::app;
pub use server::serve;
