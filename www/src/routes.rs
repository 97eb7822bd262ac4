//! The handlers, one file per group of routes; `http::app` says which path goes where. They
//! share `extract` (extractors whose errors are our JSON errors) and `replay` (replay-then-live,
//! the core of lossless resume, for `change_streams` and `feed`).

pub mod change_streams;
pub mod documents;
mod extract;
pub mod feed;
mod replay;
pub mod site;
#[cfg(feature = "test-routes")]
pub mod test_routes;
pub mod topics;
