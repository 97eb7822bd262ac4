//! Patch topics: `event: patch` frames that `POST /_publish/<topic>` broadcasts to the
//! subscribers of `GET /<page>/__events?topic=T` (the routes are in `routes::topics`). In
//! memory; a short history per topic allows resume. The shape (the `__events` path, compact
//! ops, `retry: 3000`, a 15 s keep-alive, a required topic prefix) is that of CaravelaSvelte's
//! SSE plug (a Phoenix library), so a page that subscribes here works against such an app too.
//!
//! This file says what is kept and how it is bounded; `registry` keeps it, and `ops` validates
//! and normalises what is published.
//!
//! Subscribers are anonymous by default and name topics freely, so what they create must go
//! with them: a topic nobody published to exists only while it has subscribers. Such topics
//! and published ones are bounded apart (10,000 each, see `registry::LIMITS`), so subscribers
//! never use up the room editors' publishes need. A published topic keeps its numbering for
//! the life of the process (a resume id must never point at a different patch).
//!
//! A subscriber is cut off (and resumes) once it is more than 256 patches behind, or leaves
//! more than 8 MiB of them unread besides the newest: the topic's ring keeps whatever some
//! subscriber has not read, so one that stops reading would otherwise pin it all.
//!
//! Retention for resume, bounded in count and in bytes (of the SSE frames kept):
//! - per topic, the newest 256 patches within 1 MiB: its oldest go first;
//! - over all topics, 64 MiB: the topic keeping the most bytes gives up its oldest patches
//!   until the total fits, so one busy topic cannot push out the history of quiet ones;
//! - a patch over 1 MiB is broadcast but not kept, and the history before it is dropped
//!   too, since the history must reach the newest patch without a hole.
//!
//! A client whose resume id fell out of what is kept gets `event: reset` (`too-old`) with
//! the head to continue from, never a silent gap.

mod ops;
mod registry;
pub use ops::normalize;
pub use registry::{Joined, Topics};
