//! Shared upstream subscriptions: every client of the same stream (same collection, name and
//! used avars) reads one filtered channel fed by one forwarder, as RESTHeart shares one cursor.
//!
//! Anonymous clients choose the avars, so streams are a resource they create: a stream ends
//! as soon as its last client leaves (not at the next change), and at most `MAX_STREAMS`
//! distinct ones live at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::Pipeline;
use crate::error::{AppError, AppResult};
use crate::sse::{ConnCut, Fanout, Subscription};
use crate::store::{Change, Live, Store};

/// Per-stream ring size: how far one client may fall behind its stream before it is cut off
/// and must resume from the log. Allocated once per stream, not per client.
pub const STREAM_CHANNEL_CAPACITY: usize = 1024;

/// Bytes of changes (as sent) a client may leave unread besides the newest before it is cut
/// off and resumes from the log: the ring keeps whatever a client has not read, so without
/// this a client that stops reading pins up to the whole ring of large documents.
pub const STREAM_UNREAD_BYTES: u64 = 32 * 1024 * 1024;

/// Distinct live streams at most. Each costs a forwarder task and its ring (50 to 100 KB as
/// measured), and each client can name a new one through avars, so the bound caps that
/// memory near 100 MB. Beyond it a new stream gets 503 with `Retry-After`; clients of a live stream still
/// join, since that costs no new stream.
pub const MAX_STREAMS: usize = 1_000;

/// `Retry-After` when the hub is full. Streams end the moment their last client leaves, so
/// room comes back as fast as clients go.
const FULL_RETRY_AFTER_SECS: u64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub db: String,
    pub coll: String,
    pub name: String,
    /// Canonical JSON of the variables the pipeline uses (`Pipeline::used_avars`), so equal
    /// bindings share a subscription whatever else the client sent.
    pub avars: String,
    /// The stored stages: a stream redefined with `PUT` gets a new forwarder with the new
    /// filter, while clients of the old definition keep theirs until they leave.
    pub stages: String,
}

type Streams = HashMap<StreamKey, Arc<Fanout<Live>>>;

pub struct StreamHub {
    store: Arc<Store>,
    streams: Mutex<Streams>,
    shutdown: CancellationToken,
    max_streams: usize,
    /// Each stream sends its position (`Live::Position`) once per this many changes of the log;
    /// `None`: never.
    announce_step: Option<u64>,
}

impl StreamHub {
    /// A hub for a server whose replay window is `replay` events. Its streams send their
    /// position every eighth of that: a client of a stream that matches few changes is told
    /// where it is (`replay::replay_then_live`) long before the window passes it, however fast
    /// the log grows, for one more value in the channel per `replay / 8` changes.
    pub fn new(store: Arc<Store>, shutdown: CancellationToken, replay: u64) -> Self {
        Self {
            announce_step: Some((replay / 8).max(1)),
            ..Self::with_limit(store, shutdown, MAX_STREAMS)
        }
    }

    /// A hub holding at most `max_streams` distinct live streams, which send no positions.
    pub fn with_limit(store: Arc<Store>, shutdown: CancellationToken, max_streams: usize) -> Self {
        Self {
            store,
            streams: Mutex::new(HashMap::new()),
            shutdown,
            max_streams,
            announce_step: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to the stream's matching changes from now on, starting its forwarder if it
    /// is the first client. The returned receiver closes if the forwarder itself falls behind
    /// (its clients then resume from the log); `cut` closes the client's connection once it
    /// is more than the ring behind. A new stream over `MAX_STREAMS` is `Unavailable`.
    pub fn subscribe(
        self: &Arc<Self>,
        key: StreamKey,
        pipeline: Pipeline,
        cut: Option<ConnCut>,
    ) -> AppResult<Subscription<Live>> {
        let mut streams = self.lock();
        if let Some(tx) = streams.get(&key) {
            return Ok(tx.subscribe(cut));
        }
        if streams.len() >= self.max_streams {
            return Err(AppError::Unavailable {
                message: format!(
                    "too many live change streams (at most {}); try again later",
                    self.max_streams
                ),
                retry_after_secs: FULL_RETRY_AFTER_SECS,
            });
        }
        let tx = Arc::new(Fanout::with_byte_bound(
            STREAM_CHANNEL_CAPACITY,
            STREAM_UNREAD_BYTES,
        ));
        let rx = tx.subscribe(cut);
        // Subscribing upstream here, under the lock and before returning, is what makes
        // "subscribe, then read the log" gap-free for the caller.
        let upstream = self.store.subscribe(None);
        streams.insert(key.clone(), tx.clone());
        tokio::spawn(self.clone().forward(key, pipeline, upstream, tx));
        Ok(rx)
    }

    /// Number of distinct live streams (for `/ready`).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    async fn forward(
        self: Arc<Self>,
        key: StreamKey,
        pipeline: Pipeline,
        mut upstream: Subscription<Arc<Change>>,
        tx: Arc<Fanout<Live>>,
    ) {
        let mut announced = 0;
        loop {
            let change = tokio::select! {
                () = self.shutdown.cancelled() => break,
                // Without this a stream whose clients all left would live until the next
                // change in the whole store, however long that takes.
                () = tx.idle() => {
                    if self.remove_if_idle(&key, &tx) {
                        return;
                    }
                    continue;
                }
                next = upstream.recv() => match next {
                    Ok(change) => change,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(stream = %key.name, missed, "stream forwarder fell behind; its clients will resume from the log");
                        break;
                    }
                    Err(RecvError::Closed) => break,
                },
            };
            let seq = change.seq;
            if change.db == key.db && change.coll == key.coll && pipeline.matches(&change.event) {
                let size = change.data.len();
                tx.send_sized(Live::Change(change), size);
            }
            // Also for a change the stream drops: its clients' ids can then follow the log (see
            // `replay::replay_then_live`), not only the few changes a selective stream carries.
            tx.advance(seq);
            // In the channel, after every change up to it: nothing it covers can come later.
            if self
                .announce_step
                .is_some_and(|step| seq >= announced + step)
            {
                tx.send(Live::Position(seq));
                announced = seq;
            }
            if tx.receiver_count() == 0 && self.remove_if_idle(&key, &tx) {
                return;
            }
        }
        self.remove(&key, &tx);
    }

    /// Removes the stream if nobody listens; checked under the lock that `subscribe` takes,
    /// so no client can subscribe to a channel that is about to be dropped.
    fn remove_if_idle(&self, key: &StreamKey, tx: &Arc<Fanout<Live>>) -> bool {
        let mut streams = self.lock();
        if tx.receiver_count() == 0 {
            if streams.get(key).is_some_and(|t| Arc::ptr_eq(t, tx)) {
                streams.remove(key);
            }
            true
        } else {
            false
        }
    }

    fn remove(&self, key: &StreamKey, tx: &Arc<Fanout<Live>>) {
        let mut streams = self.lock();
        if streams.get(key).is_some_and(|t| Arc::ptr_eq(t, tx)) {
            streams.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn hub(max_streams: usize) -> (Arc<StreamHub>, Arc<Store>) {
        let store = Arc::new(Store::open(None).expect("in-memory store"));
        let hub = StreamHub::with_limit(store.clone(), CancellationToken::new(), max_streams);
        (Arc::new(hub), store)
    }

    fn key(avars: &str) -> StreamKey {
        StreamKey {
            db: "shop".into(),
            coll: "products".into(),
            name: "changes".into(),
            avars: avars.into(),
            stages: "[]".into(),
        }
    }

    fn everything() -> Pipeline {
        Pipeline::parse(&json!([])).expect("empty pipeline")
    }

    /// Polls until `f` holds, yielding so spawned forwarders run; false after 5 s.
    async fn eventually(mut f: impl FnMut() -> bool) -> bool {
        for _ in 0..500 {
            if f() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_stream_ends_when_its_last_client_leaves_without_any_change() {
        let (hub, _store) = hub(MAX_STREAMS);
        let clients: Vec<_> = (0..3)
            .map(|_| hub.subscribe(key("{}"), everything(), None).unwrap())
            .collect();
        let other = hub
            .subscribe(key(r#"{"n":1}"#), everything(), None)
            .unwrap();
        assert_eq!(hub.len(), 2);
        drop(clients);
        assert!(eventually(|| hub.len() == 1).await, "{} streams", hub.len());
        drop(other);
        // Each forwarder holds the hub: back to one owner means every forwarder task ended.
        assert!(eventually(|| hub.is_empty() && Arc::strong_count(&hub) == 1).await);
    }

    #[tokio::test]
    async fn the_cap_refuses_new_streams_only() {
        let (hub, _store) = hub(2);
        let a = hub.subscribe(key("a"), everything(), None).unwrap();
        let _b = hub.subscribe(key("b"), everything(), None).unwrap();
        match hub.subscribe(key("c"), everything(), None) {
            Err(AppError::Unavailable {
                retry_after_secs, ..
            }) => assert!(retry_after_secs > 0),
            other => panic!("expected Unavailable, got {:?}", other.err()),
        }
        let joined = hub.subscribe(key("a"), everything(), None);
        assert!(joined.is_ok(), "a live stream still takes clients");
        drop((a, joined));
        assert!(eventually(|| hub.len() == 1).await);
        assert!(hub.subscribe(key("c"), everything(), None).is_ok());
    }

    /// The last client leaving wakes the forwarder while another client may be joining: the
    /// joiner must get a channel that stays fed, never one the forwarder is about to drop.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_joining_as_the_last_one_leaves_is_never_stranded() {
        let (hub, store) = hub(MAX_STREAMS);
        for round in 0..200 {
            drop(hub.subscribe(key("{}"), everything(), None).unwrap());
            if round % 2 == 0 {
                tokio::task::yield_now().await;
            }
            let mut kept = hub.subscribe(key("{}"), everything(), None).unwrap();
            let doc = json!({ "round": round });
            let serde_json::Value::Object(doc) = doc else {
                unreachable!()
            };
            store.insert("shop", "products", doc).unwrap();
            let next = tokio::time::timeout(Duration::from_secs(5), kept.recv())
                .await
                .unwrap_or_else(|_| panic!("round {round}: the change never arrived"))
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let Live::Change(change) = next else {
                panic!("round {round}: a position from a hub that sends none: {next:?}");
            };
            assert_eq!(change.event["fullDocument"]["round"], round);
        }
    }
}
