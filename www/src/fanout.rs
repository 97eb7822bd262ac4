//! A broadcast channel whose per-subscriber bound holds even for a client that never reads.
//!
//! tokio's broadcast tells a receiver it lagged only when the receiver next calls `recv`, and
//! hyper stops polling a response body while the client's socket is full. A client that stops
//! reading would therefore keep its connection (and pin its socket buffers) until the write
//! deadline. Here the sender counts what it sent and each subscription what it took; once a
//! subscriber is more than `capacity` behind — exactly when tokio would report it lagged — its
//! connection is cut at once, and the client resumes from the log when it comes back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Cancelling this closes one HTTP connection (see `write_deadline::DeadlineIo`). The accept
/// loop puts one in every request's extensions.
#[derive(Clone, Debug, Default)]
pub struct ConnCut(pub CancellationToken);

pub struct Fanout<T> {
    tx: broadcast::Sender<T>,
    capacity: u64,
    watched: Mutex<Watched>,
}

#[derive(Default)]
struct Watched {
    sent: u64,
    subscribers: Vec<(Weak<AtomicU64>, ConnCut)>,
}

impl<T: Clone> Fanout<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
            capacity: capacity as u64,
            watched: Mutex::new(Watched::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        // Counters only: a panic elsewhere cannot leave them inconsistent.
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Values sent from now on. With `cut`, the subscriber's connection is closed as soon as
    /// it falls more than the capacity behind; without (in-process readers), it learns so from
    /// `recv` as with a plain broadcast receiver.
    pub fn subscribe(&self, cut: Option<ConnCut>) -> Subscription<T> {
        let mut watched = self.lock();
        let taken = Arc::new(AtomicU64::new(watched.sent));
        if let Some(cut) = cut {
            watched.subscribers.push((Arc::downgrade(&taken), cut));
        }
        Subscription {
            rx: self.tx.subscribe(),
            taken,
        }
    }

    /// Sends to every subscriber (none is fine), then cuts those now too far behind. Cost is
    /// linear in watched subscribers, with no wake-ups beyond the broadcast's own.
    /// Returns how many subscribers it reached, as `broadcast::Sender::send` does.
    pub fn send(&self, value: T) -> usize {
        let mut watched = self.lock();
        let reached = self.tx.send(value).unwrap_or(0);
        watched.sent += 1;
        let (sent, capacity) = (watched.sent, self.capacity);
        watched.subscribers.retain(|(taken, cut)| {
            let Some(taken) = taken.upgrade() else {
                return false;
            };
            if sent - taken.load(Ordering::Relaxed) > capacity {
                tracing::info!(
                    capacity,
                    "SSE client fell behind its buffer; disconnecting it"
                );
                cut.0.cancel();
                return false;
            }
            true
        });
        reached
    }

    pub fn receiver_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

pub struct Subscription<T> {
    rx: broadcast::Receiver<T>,
    taken: Arc<AtomicU64>,
}

impl<T: Clone> Subscription<T> {
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        let next = self.rx.recv().await;
        match &next {
            Ok(_) => {
                self.taken.fetch_add(1, Ordering::Relaxed);
            }
            Err(RecvError::Lagged(missed)) => {
                self.taken.fetch_add(*missed, Ordering::Relaxed);
            }
            Err(RecvError::Closed) => {}
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subscriber_more_than_capacity_behind_is_cut_and_readers_are_not() {
        let fanout = Fanout::new(4);
        let (stuck_cut, reader_cut) = (ConnCut::default(), ConnCut::default());
        let _stuck = fanout.subscribe(Some(stuck_cut.clone()));
        let mut reader = fanout.subscribe(Some(reader_cut.clone()));
        for n in 0..4 {
            fanout.send(n);
            assert_eq!(reader.recv().await.unwrap(), n);
        }
        assert!(
            !stuck_cut.0.is_cancelled(),
            "exactly at capacity is still fine"
        );
        fanout.send(4);
        assert!(stuck_cut.0.is_cancelled(), "one more and it is cut");
        assert!(!reader_cut.0.is_cancelled());
        assert_eq!(reader.recv().await.unwrap(), 4);
    }

    #[tokio::test]
    async fn late_subscribers_count_from_their_start_and_dropped_ones_are_forgotten() {
        let fanout = Fanout::new(2);
        for n in 0..10 {
            fanout.send(n);
        }
        let cut = ConnCut::default();
        let mut late = fanout.subscribe(Some(cut.clone()));
        fanout.send(10);
        fanout.send(11);
        assert!(!cut.0.is_cancelled());
        assert_eq!(late.recv().await.unwrap(), 10);
        drop(late);
        fanout.send(12);
        assert!(fanout.lock().subscribers.is_empty());
    }

    #[tokio::test]
    async fn unwatched_subscribers_see_lagged_as_before() {
        let fanout = Fanout::new(2);
        let mut rx = fanout.subscribe(None);
        for n in 0..5 {
            fanout.send(n);
        }
        assert!(matches!(rx.recv().await, Err(RecvError::Lagged(3))));
        assert_eq!(rx.recv().await.unwrap(), 3);
    }
}
