//! The decisions, as pure Rust with native unit tests: when to reconnect (`backoff`), what a
//! failed connect means (`failure`), and what to do with each event id so resume never loses or
//! repeats an event (`resume`). No browser calls: the layers above ask and act.

pub mod backoff;
pub mod failure;
pub mod resume;
