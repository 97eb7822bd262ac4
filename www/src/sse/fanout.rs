//! A broadcast channel whose per-subscriber bound holds even for a client that never reads.
//!
//! tokio's broadcast tells a receiver it lagged only when the receiver next calls `recv`, and
//! hyper stops polling a response body while the client's socket is full. A client that stops
//! reading would therefore keep its connection (and pin its socket buffers) until the write
//! deadline. Here the sender counts what it sent and each subscription what it took; once a
//! subscriber is more than `capacity` behind — exactly when tokio would report it lagged — its
//! connection is cut at once, and the client resumes from the log when it comes back.
//!
//! The ring holds every value some subscriber has not read yet, so a client that stops
//! reading pins up to `capacity` values: with large values that is a lot of memory, kept at
//! a stranger's pleasure. `with_byte_bound` also cuts a subscriber once the values it left
//! unread (besides the newest) exceed a number of bytes, as `send_sized` counts them.
//!
//! Whoever owns a channel per key (the stream hub) must also learn when the last subscriber
//! left, without waiting for the next value to find out: `idle` resolves then.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Dropped watched subscriptions tolerated in the list before it is pruned (and at least as
/// many as remain live), so a prune costs O(1) amortised per departure.
const PRUNE_SLACK: usize = 32;

/// Cancelling this closes one HTTP connection (see `DeadlineIo` in `http/write_deadline.rs`).
/// The accept loop puts one in every request's extensions.
#[derive(Clone, Debug, Default)]
pub struct ConnCut(pub CancellationToken);

pub struct Fanout<T> {
    tx: broadcast::Sender<T>,
    capacity: u64,
    max_unread_bytes: Option<u64>,
    shared: Arc<Shared>,
}

/// What subscriptions reach back to when they go.
#[derive(Default)]
struct Shared {
    watched: Mutex<Watched>,
    subscriptions: AtomicUsize,
    /// Notified when the last subscription goes, with `notify_one`: the wake-up is kept if
    /// the owner is busy elsewhere at that moment, so no departure goes unnoticed.
    idle: Notify,
    /// How far the sender has got in its own numbering (see `advance`).
    position: AtomicU64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        // Counters only: a panic elsewhere cannot leave them inconsistent.
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Watched {
    sent: u64,
    /// With a byte bound: `totals[i]` is the byte total once `sent + 1 - len + i` values were
    /// sent, for the last `capacity + 1` counts. A subscriber further behind is cut by count,
    /// so this window tells every other one how many bytes it left unread.
    totals: VecDeque<u64>,
    subscribers: Vec<(Weak<AtomicU64>, ConnCut)>,
    /// Watched subscriptions dropped since the list was last pruned.
    gone: usize,
}

impl Watched {
    fn prune(&mut self) {
        self.subscribers
            .retain(|(taken, _)| taken.strong_count() > 0);
        self.gone = 0;
    }
}

impl<T: Clone> Fanout<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
            capacity: capacity as u64,
            max_unread_bytes: None,
            shared: Arc::default(),
        }
    }

    /// As `new`, and a watched subscriber is also cut once it has more than `max_unread_bytes`
    /// unread besides the newest value (so one value of any size is always deliverable).
    pub fn with_byte_bound(capacity: usize, max_unread_bytes: u64) -> Self {
        let fanout = Self {
            max_unread_bytes: Some(max_unread_bytes),
            ..Self::new(capacity)
        };
        fanout.shared.lock().totals.push_back(0);
        fanout
    }

    /// Values sent from now on. With `cut`, the subscriber's connection is closed as soon as
    /// it falls more than the capacity behind; without (in-process readers), it learns so from
    /// `recv` as with a plain broadcast receiver.
    pub fn subscribe(&self, cut: Option<ConnCut>) -> Subscription<T> {
        let mut watched = self.shared.lock();
        let taken = Arc::new(AtomicU64::new(watched.sent));
        let is_watched = cut.is_some();
        if let Some(cut) = cut {
            watched.subscribers.push((Arc::downgrade(&taken), cut));
        }
        self.shared.subscriptions.fetch_add(1, Ordering::AcqRel);
        Subscription {
            rx: self.tx.subscribe(),
            taken,
            leave: Leave {
                shared: self.shared.clone(),
                watched: is_watched,
            },
        }
    }

    /// Sends to every subscriber (none is fine), then cuts those now too far behind. Cost is
    /// linear in watched subscribers, with no wake-ups beyond the broadcast's own.
    /// Returns how many subscribers it reached, as `broadcast::Sender::send` does.
    pub fn send(&self, value: T) -> usize {
        self.send_sized(value, 0)
    }

    /// `send`, counting `bytes` against the byte bound (see `with_byte_bound`).
    pub fn send_sized(&self, value: T, bytes: usize) -> usize {
        let mut guard = self.shared.lock();
        let watched = &mut *guard;
        let reached = self.tx.send(value).unwrap_or(0);
        watched.sent += 1;
        if self.max_unread_bytes.is_some() {
            let total = watched.totals.back().copied().unwrap_or(0) + bytes as u64;
            watched.totals.push_back(total);
            if watched.totals.len() as u64 > self.capacity + 1 {
                watched.totals.pop_front();
            }
        }
        let (sent, capacity, totals) = (watched.sent, self.capacity, &watched.totals);
        // The byte total when `n` values had been sent; `n` below the window (a subscriber the
        // count bound cuts anyway) reads as the window's start.
        let total_at = |n: u64| {
            let first = sent + 1 - totals.len() as u64;
            totals
                .get(n.saturating_sub(first) as usize)
                .copied()
                .unwrap_or(0)
        };
        watched.subscribers.retain(|(taken, cut)| {
            let Some(taken) = taken.upgrade() else {
                return false;
            };
            let taken = taken.load(Ordering::Relaxed);
            let over = if sent - taken > capacity {
                Some("values")
            } else {
                self.max_unread_bytes
                    .filter(|&max| {
                        taken + 1 < sent && total_at(sent - 1).saturating_sub(total_at(taken)) > max
                    })
                    .map(|_| "bytes")
            };
            if let Some(bound) = over {
                tracing::info!(
                    capacity,
                    bound,
                    "SSE client fell behind its buffer; disconnecting it"
                );
                cut.0.cancel();
                return false;
            }
            true
        });
        watched.gone = 0;
        reached
    }

    pub fn receiver_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Says that every value up to `position` (in the sender's own numbering, the event log's
    /// sequence numbers) that was meant for the subscribers has been sent. A value the sender
    /// decided not to send (a change a stream's filter drops) still moves it, which is how a
    /// subscriber learns where it is when little comes its way (see `Subscription::position`).
    pub fn advance(&self, position: u64) {
        self.shared.position.fetch_max(position, Ordering::Release);
    }

    /// Resolves once the last subscription has been dropped since the previous call resolved
    /// (at once if that happened while nobody waited). Only one task may wait. Someone may
    /// subscribe again right after, so the owner re-checks `receiver_count` under whatever
    /// lock its `subscribe` callers take before dropping the channel.
    pub async fn idle(&self) {
        self.shared.idle.notified().await;
    }
}

pub struct Subscription<T> {
    rx: broadcast::Receiver<T>,
    taken: Arc<AtomicU64>,
    // Last: fields drop in declaration order, so when `Leave` runs the receiver is gone from
    // `receiver_count` and `taken` no longer upgrades.
    leave: Leave,
}

struct Leave {
    shared: Arc<Shared>,
    watched: bool,
}

impl Drop for Leave {
    fn drop(&mut self) {
        if self.watched {
            // Pruned here, not only on send: a channel nobody publishes to would otherwise
            // keep one entry (and its connection's token) per client that ever came.
            let mut watched = self.shared.lock();
            watched.gone += 1;
            if watched.gone >= PRUNE_SLACK && watched.gone * 2 >= watched.subscribers.len() {
                watched.prune();
            }
        }
        if self.shared.subscriptions.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.idle.notify_one();
        }
    }
}

impl<T: Clone> Subscription<T> {
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        let next = self.rx.recv().await;
        self.took(next)
    }

    /// The next value if one is waiting; `None` if none is.
    pub fn try_recv(&mut self) -> Option<Result<T, RecvError>> {
        let next = match self.rx.try_recv() {
            Ok(value) => Ok(value),
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Lagged(missed)) => Err(RecvError::Lagged(missed)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
        };
        Some(self.took(next))
    }

    fn took(&self, next: Result<T, RecvError>) -> Result<T, RecvError> {
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

    /// Everything waiting now, up to and including the first error: a closed channel reports
    /// `Closed` on every call, so taking "until none" would never end.
    pub fn drain(&mut self) -> Vec<Result<T, RecvError>> {
        let mut waiting = Vec::new();
        while let Some(next) = self.try_recv() {
            let last = next.is_err();
            waiting.push(next);
            if last {
                break;
            }
        }
        waiting
    }

    /// The sender's position (`Fanout::advance`). Read it *before* taking what is waiting
    /// (`drain`): everything meant for this subscriber up to it was sent before
    /// it was advanced, so it is then all taken, and a client told this position loses nothing.
    pub fn position(&self) -> u64 {
        self.shared().position.load(Ordering::Acquire)
    }

    fn shared(&self) -> &Shared {
        &self.leave.shared
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

    #[test]
    fn drain_takes_what_waits_and_ends_at_a_closed_channel() {
        let fanout = Fanout::new(8);
        let mut sub = fanout.subscribe(None);
        assert!(sub.drain().is_empty());
        fanout.send(1);
        fanout.advance(10);
        fanout.send(2);
        fanout.advance(12);
        assert_eq!(sub.position(), 12);
        drop(fanout);
        // A closed channel says so on every call: the drain must stop at the first.
        let taken = sub.drain();
        assert!(
            matches!(taken.as_slice(), [Ok(1), Ok(2), Err(RecvError::Closed)]),
            "{taken:?}"
        );
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
        assert!(fanout.shared.lock().subscribers.is_empty());
    }

    #[test]
    fn dropped_subscribers_are_pruned_without_any_send() {
        let fanout = Fanout::<u8>::new(2);
        let live: Vec<_> = (0..100)
            .map(|_| fanout.subscribe(Some(ConnCut::default())))
            .collect();
        for _ in 0..10_000 {
            drop(fanout.subscribe(Some(ConnCut::default())));
        }
        let len = fanout.shared.lock().subscribers.len();
        assert!(len <= 2 * live.len() + PRUNE_SLACK, "{len} entries");
        drop(live);
        let len = fanout.shared.lock().subscribers.len();
        assert!(len < PRUNE_SLACK, "{len} entries once everyone left");
    }

    #[tokio::test]
    async fn idle_resolves_when_the_last_subscription_goes_even_if_nobody_waited() {
        use std::time::Duration;
        let fanout = Fanout::<u8>::new(2);
        let first = fanout.subscribe(Some(ConnCut::default()));
        let second = fanout.subscribe(None);
        drop(first);
        let early = tokio::time::timeout(Duration::from_millis(50), fanout.idle()).await;
        assert!(early.is_err(), "one subscription is still there");
        // Nobody waits while the last one goes: the wake-up is kept for the next wait.
        drop(second);
        assert_eq!(fanout.receiver_count(), 0);
        tokio::time::timeout(Duration::from_secs(5), fanout.idle())
            .await
            .expect("idle after the last subscription left");
        let again = tokio::time::timeout(Duration::from_millis(50), fanout.idle()).await;
        assert!(again.is_err(), "one wake-up per departure of the last one");
    }

    #[tokio::test]
    async fn with_a_byte_bound_a_subscriber_is_cut_by_bytes_left_unread() {
        let fanout = Fanout::with_byte_bound(100, 1000);
        let (stuck_cut, reader_cut) = (ConnCut::default(), ConnCut::default());
        let _stuck = fanout.subscribe(Some(stuck_cut.clone()));
        let mut reader = fanout.subscribe(Some(reader_cut.clone()));
        // One value over the bound is still delivered: only what lies behind the newest counts.
        fanout.send_sized(0, 5000);
        assert_eq!(reader.recv().await.unwrap(), 0);
        assert!(!stuck_cut.0.is_cancelled());
        fanout.send_sized(1, 600);
        assert_eq!(reader.recv().await.unwrap(), 1);
        assert!(stuck_cut.0.is_cancelled(), "5000 unread behind the newest");
        assert!(!reader_cut.0.is_cancelled());

        let late_cut = ConnCut::default();
        let _late = fanout.subscribe(Some(late_cut.clone()));
        for n in 2..4 {
            fanout.send_sized(n, 600);
            assert_eq!(reader.recv().await.unwrap(), n);
        }
        assert!(!late_cut.0.is_cancelled(), "600 unread besides the newest");
        fanout.send_sized(4, 600);
        assert!(late_cut.0.is_cancelled(), "1200 unread besides the newest");
        assert_eq!(reader.recv().await.unwrap(), 4);
        assert!(!reader_cut.0.is_cancelled());
    }

    #[tokio::test]
    async fn the_byte_window_follows_the_count_window() {
        // Many more sends than the capacity: the totals kept stay `capacity + 1` long and a
        // subscriber that keeps up is never cut.
        let fanout = Fanout::with_byte_bound(4, 100);
        let cut = ConnCut::default();
        let mut reader = fanout.subscribe(Some(cut.clone()));
        for n in 0..1000u32 {
            fanout.send_sized(n, 60);
            assert_eq!(reader.recv().await.unwrap(), n);
        }
        assert!(!cut.0.is_cancelled());
        assert_eq!(fanout.shared.lock().totals.len(), 5);
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
