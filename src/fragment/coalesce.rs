//! Coalescing for fragment refresh: a burst of N events costs at most one request in flight plus
//! one trailing request, and a response older than one already applied is never swapped in.
//! The latest request, failed for a reason that may pass (the network, a 5xx), is retried after
//! a growing delay, so the DOM converges even when no event follows. Pure, so the guarantees are
//! native unit tests.

/// A request the caller should start, tagged with its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start(pub u64);

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    Ok,
    /// The network, a timeout, 408, 429 or a 5xx: it may pass. `retry_after_ms`: the server's
    /// `Retry-After`, which no retry comes before.
    Failed {
        retry_after_ms: Option<u32>,
    },
    /// Any other answer (a 404, a 403): asking again would get the same.
    Refused,
}

use crate::policy::backoff::{Backoff, Schedule};

/// The retries' schedule, the reconnect's own (`policy::backoff`): a ceiling of 1 s doubled
/// after each failure in a row up to 30 s, and a server's `Retry-After` in place of it. Each
/// delay is drawn from the upper half below the ceiling (see `finished`), so that the refreshes
/// of many elements and tabs that failed together do not come back together, nor at once.
fn retry_schedule() -> Schedule {
    Schedule::new(Backoff {
        initial_ms: 1_000,
        max_ms: 30_000,
        factor: 2.0,
        jitter: true,
        max_attempts: None,
    })
}

/// What to do after a request finished.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Next {
    /// Its response may be swapped in: it is newer than anything applied.
    pub apply: bool,
    /// The trailing request to start now, if events arrived meanwhile.
    pub start: Option<Start>,
    /// Ask again after this many ms (see `Fetched::Failed`).
    pub retry_in_ms: Option<u32>,
}

#[derive(Debug)]
pub struct Coalescer {
    in_flight: Option<u64>,
    /// Events arrived while a request was in flight: one more request is owed.
    owed: bool,
    next_seq: u64,
    applied: u64,
    /// Failures in a row of the latest request (the retry delay grows with them).
    retries: Schedule,
    /// Requests up to this one were abandoned: their failure asks for no retry.
    abandoned: u64,
    /// How many requests were started, for tests and benchmarks.
    pub started: u64,
}

impl Coalescer {
    pub fn new() -> Self {
        Self {
            in_flight: None,
            owed: false,
            next_seq: 0,
            applied: 0,
            retries: retry_schedule(),
            abandoned: 0,
            started: 0,
        }
    }

    /// An event arrived (or a reset asks for a re-fetch).
    pub fn trigger(&mut self) -> Option<Start> {
        if self.in_flight.is_some() {
            self.owed = true;
            return None;
        }
        Some(self.start())
    }

    fn start(&mut self) -> Start {
        self.next_seq += 1;
        self.started += 1;
        self.in_flight = Some(self.next_seq);
        Start(self.next_seq)
    }

    /// Request `seq` finished: whether to apply its response, the trailing request to start,
    /// and when to retry it (`random` in `[0, 1)` spreads the delay). Only the latest request
    /// is retried, and only when no other is in flight or owed (that one will bring the DOM up
    /// to date instead). An abandoned request's response is never applied, even one that had
    /// arrived before `abandon`.
    pub fn finished(&mut self, seq: u64, fetched: Fetched, random: f64) -> Next {
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
        let apply = fetched == Fetched::Ok && seq > self.applied && seq > self.abandoned;
        if apply {
            self.applied = seq;
        }
        let start = if self.owed && self.in_flight.is_none() {
            self.owed = false;
            Some(self.start())
        } else {
            None
        };
        let latest = seq == self.next_seq && seq > self.abandoned;
        let mut retry_in_ms = None;
        let idle = start.is_none() && self.in_flight.is_none();
        match fetched {
            Fetched::Failed { retry_after_ms } if latest && idle => {
                // Full jitter over [0.5, 1) of the ceiling: the upper half.
                let upper_half = (1.0 + random.clamp(0.0, 1.0)) / 2.0;
                retry_in_ms = self.retries.next_delay_after(retry_after_ms, upper_half);
            }
            Fetched::Failed { .. } => {}
            _ if latest => self.retries.opened(),
            _ => {}
        }
        Next {
            apply,
            start,
            retry_in_ms,
        }
    }

    /// Forgets the request in flight (it was aborted); its response, if any, will be stale.
    /// A request is in flight or owed: content newer than the target's may be on its way.
    pub fn busy(&self) -> bool {
        self.in_flight.is_some() || self.owed
    }

    pub fn abandon(&mut self) {
        self.in_flight = None;
        self.owed = false;
        self.abandoned = self.next_seq;
        self.retries.opened();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_burst_costs_one_request_in_flight_plus_one_trailing() {
        let mut c = Coalescer::new();
        let first = begin(&mut c);
        for _ in 0..999 {
            assert_eq!(
                c.trigger(),
                None,
                "no second request while one is in flight"
            );
        }
        let next = c.finished(first, Fetched::Ok, 0.0);
        assert!(next.apply);
        let Some(Start(trailing)) = next.start else {
            panic!("events arrived meanwhile: one trailing request")
        };
        assert_eq!(c.finished(trailing, Fetched::Ok, 0.0), applied());
        assert_eq!(c.started, 2);
    }

    #[test]
    fn a_quiet_stream_makes_one_request_per_event() {
        let mut c = Coalescer::new();
        for i in 1..=3 {
            let s = begin(&mut c);
            assert_eq!(s, i);
            assert_eq!(c.finished(s, Fetched::Ok, 0.0), applied());
        }
    }

    #[test]
    fn stale_and_failed_responses_are_not_applied() {
        let mut c = Coalescer::new();
        let old = begin(&mut c);
        c.abandon();
        let new = begin(&mut c);
        assert!(c.finished(new, Fetched::Ok, 0.0).apply);
        assert!(
            !c.finished(old, Fetched::Ok, 0.0).apply,
            "an older response arriving late is dropped"
        );
        let failed = begin(&mut c);
        assert_eq!(c.finished(failed, Fetched::Refused, 0.0), Next::default());
        let after = begin(&mut c);
        assert!(
            c.finished(after, Fetched::Ok, 0.0).apply,
            "a failure does not block later refreshes"
        );
    }

    #[test]
    fn a_failed_request_still_starts_the_owed_one() {
        let mut c = Coalescer::new();
        let s = begin(&mut c);
        assert_eq!(c.trigger(), None);
        let next = c.finished(s, FAILED, 0.0);
        assert!(!next.apply);
        assert!(
            next.start.is_some(),
            "the DOM must still converge on the latest state"
        );
        assert_eq!(next.retry_in_ms, None, "the owed request is the retry");
    }

    const FAILED: Fetched = Fetched::Failed {
        retry_after_ms: None,
    };

    fn applied() -> Next {
        Next {
            apply: true,
            ..Next::default()
        }
    }

    /// Fails the next request at the top of the delay's range (`random` just under 1).
    fn fail_latest(c: &mut Coalescer) -> Option<u32> {
        fail_latest_with(c, FAILED, 0.999_999)
    }

    fn fail_latest_with(c: &mut Coalescer, fetched: Fetched, random: f64) -> Option<u32> {
        let s = begin(c);
        c.finished(s, fetched, random).retry_in_ms
    }

    /// Triggers a request that must start (nothing in flight); its sequence number.
    fn begin(c: &mut Coalescer) -> u64 {
        match c.trigger() {
            Some(Start(seq)) => seq,
            None => panic!("a request was in flight"),
        }
    }

    #[test]
    fn the_latest_request_failed_is_retried_later_and_later_until_one_succeeds() {
        let mut c = Coalescer::new();
        let delays: Vec<_> = (0..8).map(|_| fail_latest(&mut c)).collect();
        let expected = [999, 1_999, 3_999, 7_999, 15_999, 29_999, 29_999, 29_999];
        assert_eq!(delays, expected.map(Some));
        let s = begin(&mut c);
        assert_eq!(c.finished(s, Fetched::Ok, 0.0), applied());
        assert_eq!(fail_latest(&mut c), Some(999), "a success starts over");
    }

    #[test]
    fn a_refusal_is_not_retried_and_starts_the_delays_over() {
        let mut c = Coalescer::new();
        assert_eq!(fail_latest(&mut c), Some(999));
        let s = begin(&mut c);
        assert_eq!(c.finished(s, Fetched::Refused, 0.0), Next::default());
        assert_eq!(fail_latest(&mut c), Some(999));
    }

    #[test]
    fn delays_are_spread_over_the_upper_half_and_retry_after_takes_their_place() {
        let mut low = Coalescer::new();
        assert_eq!(fail_latest_with(&mut low, FAILED, 0.0), Some(500));
        assert_eq!(fail_latest_with(&mut low, FAILED, 0.5), Some(1_500));
        let mut c = Coalescer::new();
        let asked = Fetched::Failed {
            retry_after_ms: Some(60_000),
        };
        assert_eq!(fail_latest_with(&mut c, asked, 0.3), Some(60_000));
        let soon = Fetched::Failed {
            retry_after_ms: Some(10),
        };
        assert_eq!(
            fail_latest_with(&mut c, soon, 0.0),
            Some(10),
            "the server's word, as for a reconnect (policy::backoff::Schedule)"
        );
        let forever = Fetched::Failed {
            retry_after_ms: Some(u32::MAX),
        };
        assert_eq!(
            fail_latest_with(&mut c, forever, 0.0),
            Some(crate::policy::backoff::MAX_TIMER_MS)
        );
    }

    #[test]
    fn a_response_that_arrived_before_abandon_is_not_applied() {
        let mut c = Coalescer::new();
        let s = begin(&mut c);
        c.abandon();
        assert!(!c.finished(s, Fetched::Ok, 0.0).apply);
    }

    #[test]
    fn an_older_or_abandoned_request_that_fails_asks_for_no_retry() {
        let mut c = Coalescer::new();
        let old = begin(&mut c);
        c.abandon();
        assert_eq!(c.finished(old, FAILED, 0.0).retry_in_ms, None, "abandoned");
        let older = begin(&mut c);
        c.abandon();
        let newer = begin(&mut c);
        assert_eq!(c.finished(older, FAILED, 0.0), Next::default());
        assert_eq!(c.finished(newer, FAILED, 0.0).retry_in_ms, Some(500));
    }
}
