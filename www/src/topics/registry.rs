//! The topics themselves: who listens, each topic's numbering, and the history kept for
//! resume within the bounds the module documentation states.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::error::{AppError, AppResult};
use crate::sse::{frame, ConnCut, Fanout, Subscription};

/// Ring size per topic: how far a subscriber may fall behind before it is cut off.
const CHANNEL_CAPACITY: usize = 256;
/// Bytes of patches a subscriber may leave unread besides the newest before it is cut off:
/// the ring keeps what a subscriber has not read, and patches may be megabytes each.
const CHANNEL_UNREAD_BYTES: u64 = 8 * 1024 * 1024;

/// How much the registry holds at most; `LIMITS` in production, smaller in tests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Topics published to at least once.
    pub topics: usize,
    /// Topics that only subscribers named, counted apart so they never crowd out publishes.
    pub waiting_topics: usize,
    /// Patches kept per topic for resume.
    pub patches: usize,
    /// Frame bytes kept per topic; a larger patch is broadcast but not kept.
    pub topic_bytes: usize,
    /// Frame bytes kept over all topics.
    pub total_bytes: usize,
}

pub const LIMITS: Limits = Limits {
    topics: 10_000,
    waiting_topics: 10_000,
    patches: 256,
    topic_bytes: 1024 * 1024,
    total_bytes: 64 * 1024 * 1024,
};

/// `Retry-After` when a topic bound is reached.
const FULL_RETRY_AFTER_SECS: u64 = 60;

pub struct Patch {
    pub seq: u64,
    pub frame: Bytes,
}

struct Topic {
    tx: Fanout<Arc<Patch>>,
    last_seq: u64,
    /// Where its ids start (its head before the first patch).
    base: u64,
    /// Always the newest patches up to `last_seq` without a hole (or empty): a resume
    /// replays it up to the head, so a missing patch in between would be a silent gap.
    history: VecDeque<Arc<Patch>>,
    /// Frame bytes in `history`.
    bytes: usize,
}

impl Topic {
    /// Numbered from `base` up: see `Registry::base`.
    fn new(base: u64) -> Self {
        Self {
            tx: Fanout::with_byte_bound(CHANNEL_CAPACITY, CHANNEL_UNREAD_BYTES),
            last_seq: base,
            base,
            history: VecDeque::new(),
            bytes: 0,
        }
    }

    /// A published topic keeps its numbering for the life of the process: dropping it would
    /// restart its ids and make a client's resume id point at a different patch.
    fn published(&self) -> bool {
        self.last_seq > self.base
    }

    /// Drops the oldest kept patch; returns its size.
    fn pop_oldest(&mut self) -> usize {
        let size = self.history.pop_front().map_or(0, |p| p.frame.len());
        self.bytes -= size;
        size
    }
}

struct Registry {
    /// Where every topic's ids start: topics live in memory, so a restarted server numbers
    /// from its own `process_base`, above any id an earlier process gave out.
    base: u64,
    topics: HashMap<String, Topic>,
    /// How many of `topics` are published.
    published: usize,
    /// Frame bytes kept over all topics.
    retained: usize,
    limits: Limits,
}

impl Registry {
    /// Under the total bound, the topic keeping the most bytes gives up its oldest patches
    /// first, so one busy topic cannot push out the short histories of quiet ones.
    fn trim_total(&mut self) {
        while self.retained > self.limits.total_bytes {
            let Some(largest) = self.topics.values_mut().max_by_key(|t| t.bytes) else {
                return;
            };
            if largest.history.is_empty() {
                return;
            }
            while self.retained > self.limits.total_bytes && !largest.history.is_empty() {
                self.retained -= largest.pop_oldest();
            }
        }
    }
}

/// Cheap to clone: subscribers hold one to leave their topic when they go.
#[derive(Clone)]
pub struct Topics(Arc<Mutex<Registry>>);

impl Default for Topics {
    fn default() -> Self {
        Self::with_limits(LIMITS, crate::store::process_base())
    }
}

/// A subscriber's live patches, plus what it needs to resume; taken under one lock, so
/// nothing published in between is missed.
pub struct Joined {
    pub live: Listener,
    pub history: Vec<Arc<Patch>>,
    pub head: u64,
    /// Where the topic's ids start (see `resume_point`).
    pub floor: u64,
}

/// Live patches of one topic; dropping it may drop the topic (see `Topics::leave`).
pub struct Listener {
    live: Subscription<Arc<Patch>>,
    // Last: fields drop in declaration order, so the topic no longer counts this receiver
    // when `Leave` checks whether anyone is left.
    _leave: Leave,
}

impl Listener {
    pub async fn recv(&mut self) -> Result<Arc<Patch>, RecvError> {
        self.live.recv().await
    }
}

struct Leave {
    topics: Topics,
    name: String,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.topics.leave(&self.name);
    }
}

fn too_many(what: &str) -> AppError {
    AppError::Unavailable {
        message: format!("too many {what}"),
        retry_after_secs: FULL_RETRY_AFTER_SECS,
    }
}

impl Topics {
    pub fn with_limits(limits: Limits, base: u64) -> Self {
        Self(Arc::new(Mutex::new(Registry {
            base,
            topics: HashMap::new(),
            published: 0,
            retained: 0,
            limits,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every update keeps the counts consistent before it can panic (it never does).
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Topics that exist now: published ones, and unpublished ones with a subscriber.
    pub fn len(&self) -> usize {
        self.lock().topics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frame bytes kept for resume over all topics.
    pub fn retained_bytes(&self) -> usize {
        self.lock().retained
    }

    /// Subscribes to `name`, which exists from now until its last subscriber leaves if
    /// nobody published to it yet.
    pub fn join(&self, name: &str, cut: Option<ConnCut>) -> AppResult<Joined> {
        let mut registry = self.lock();
        let registry = &mut *registry;
        if !registry.topics.contains_key(name) {
            if registry.topics.len() - registry.published >= registry.limits.waiting_topics {
                return Err(too_many("topics nobody published to"));
            }
            registry
                .topics
                .insert(name.to_owned(), Topic::new(registry.base));
        }
        let topic = &registry.topics[name];
        Ok(Joined {
            live: Listener {
                live: topic.tx.subscribe(cut),
                _leave: Leave {
                    topics: self.clone(),
                    name: name.to_owned(),
                },
            },
            history: topic.history.iter().cloned().collect(),
            head: topic.last_seq,
            floor: topic.base,
        })
    }

    /// Broadcasts already-validated compact ops and keeps them for resume within the
    /// bounds; returns (id, receivers).
    pub fn publish(&self, name: &str, ops: &[Value]) -> AppResult<(u64, usize)> {
        // The costly part, serialising and framing megabytes, happens before the lock that
        // every topic's subscribers and publishers share; under it only the id is added.
        let data = serde_json::to_string(ops).map_err(AppError::internal)?;
        let lines = data_lines(&data);
        let mut registry = self.lock();
        let registry = &mut *registry;
        let (limits, base) = (registry.limits, registry.base);
        let known = registry.topics.get(name).is_some_and(Topic::published);
        if !known && registry.published >= limits.topics {
            return Err(too_many("topics"));
        }
        let topic = registry
            .topics
            .entry(name.to_owned())
            .or_insert_with(|| Topic::new(base));
        if !known {
            registry.published += 1;
        }
        topic.last_seq += 1;
        let patch = Arc::new(Patch {
            seq: topic.last_seq,
            frame: patch_frame(topic.last_seq, &lines),
        });
        let size = patch.frame.len();
        if size > limits.topic_bytes {
            // Not kept, and neither is anything before it: the history must reach the head
            // without a hole. Resuming from before this patch now gets `reset`.
            registry.retained -= topic.bytes;
            topic.history.clear();
            topic.bytes = 0;
        } else {
            topic.history.push_back(patch.clone());
            topic.bytes += size;
            registry.retained += size;
            while topic.history.len() > limits.patches || topic.bytes > limits.topic_bytes {
                registry.retained -= topic.pop_oldest();
            }
        }
        let id = topic.last_seq;
        let receivers = topic.tx.send_sized(patch, size);
        registry.trim_total();
        Ok((id, receivers))
    }

    /// Drops `name` if nobody published to it and nobody listens any more. Checked under the
    /// lock `join` takes, so no subscriber can join a topic that is about to go.
    fn leave(&self, name: &str) {
        let mut registry = self.lock();
        if registry
            .topics
            .get(name)
            .is_some_and(|t| !t.published() && t.tx.receiver_count() == 0)
        {
            registry.topics.remove(name);
        }
    }
}

/// The `data:` lines (and the closing blank line) of a frame carrying `data`.
fn data_lines(data: &str) -> Bytes {
    // Compact JSON is one line; splitting megabytes of it char by char would cost more than
    // serialising it did. (`contains` on bytes is a memchr.)
    if !data.as_bytes().contains(&b'\n') && !data.as_bytes().contains(&b'\r') {
        let mut out = Vec::with_capacity(data.len() + 8);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
        return Bytes::from(out);
    }
    frame(None, None, data).unwrap_or_else(|e| unreachable!("no event or id to check: {e}"))
}

/// `trusted_frame("patch", Some(seq), data)`, given `data_lines(data)`.
fn patch_frame(seq: u64, lines: &[u8]) -> Bytes {
    let head = format!("event: patch\nid: {seq}\n");
    let mut out = Vec::with_capacity(head.len() + lines.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(lines);
    Bytes::from(out)
}

#[cfg(test)]
mod tests;
