//! Shared upstream subscriptions: every client of the same stream (same collection, name and
//! avars) reads one filtered channel fed by one forwarder, as RESTHeart shares one cursor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::change::Change;
use crate::fanout::{ConnCut, Fanout, Subscription};
use crate::store::Store;
use crate::streams::Pipeline;

/// Per-stream ring size: how far one client may fall behind its stream before it is cut off
/// and must resume from the log. Allocated once per stream, not per client.
pub const STREAM_CHANNEL_CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub db: String,
    pub coll: String,
    pub name: String,
    /// Canonical JSON of the bound variables, so equal avars share a subscription.
    pub avars: String,
}

type Streams = HashMap<StreamKey, Arc<Fanout<Arc<Change>>>>;

pub struct StreamHub {
    store: Arc<Store>,
    streams: Mutex<Streams>,
    shutdown: CancellationToken,
}

impl StreamHub {
    pub fn new(store: Arc<Store>, shutdown: CancellationToken) -> Self {
        Self {
            store,
            streams: Mutex::new(HashMap::new()),
            shutdown,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to the stream's matching changes from now on, starting its forwarder if it
    /// is the first client. The returned receiver closes if the forwarder itself falls behind
    /// (its clients then resume from the log); `cut` closes the client's connection once it
    /// is more than the ring behind.
    pub fn subscribe(
        self: &Arc<Self>,
        key: StreamKey,
        pipeline: Pipeline,
        cut: Option<ConnCut>,
    ) -> Subscription<Arc<Change>> {
        let mut streams = self.lock();
        if let Some(tx) = streams.get(&key) {
            return tx.subscribe(cut);
        }
        let tx = Arc::new(Fanout::new(STREAM_CHANNEL_CAPACITY));
        let rx = tx.subscribe(cut);
        // Subscribing upstream here, under the lock and before returning, is what makes
        // "subscribe, then read the log" gap-free for the caller.
        let upstream = self.store.subscribe(None);
        streams.insert(key.clone(), tx.clone());
        tokio::spawn(self.clone().forward(key, pipeline, upstream, tx));
        rx
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
        tx: Arc<Fanout<Arc<Change>>>,
    ) {
        loop {
            let change = tokio::select! {
                () = self.shutdown.cancelled() => break,
                next = upstream.recv() => match next {
                    Ok(change) => change,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(stream = %key.name, missed, "stream forwarder fell behind; its clients will resume from the log");
                        break;
                    }
                    Err(RecvError::Closed) => break,
                },
            };
            if change.db == key.db && change.coll == key.coll && pipeline.matches(&change.event) {
                tx.send(change);
            }
            if tx.receiver_count() == 0 && self.remove_if_idle(&key, &tx) {
                return;
            }
        }
        self.remove(&key, &tx);
    }

    /// Removes the stream if nobody listens; checked under the lock that `subscribe` takes,
    /// so no client can subscribe to a channel that is about to be dropped.
    fn remove_if_idle(&self, key: &StreamKey, tx: &Arc<Fanout<Arc<Change>>>) -> bool {
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

    fn remove(&self, key: &StreamKey, tx: &Arc<Fanout<Arc<Change>>>) {
        let mut streams = self.lock();
        if streams.get(key).is_some_and(|t| Arc::ptr_eq(t, tx)) {
            streams.remove(key);
        }
    }
}
