//! Coalescing for fragment refresh: a burst of N events costs at most one request in flight plus
//! one trailing request, and a response older than one already applied is never swapped in.
//! Pure, so the guarantees are native unit tests.

/// A request the caller should start, tagged with its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start(pub u64);

#[derive(Debug, Default)]
pub struct Coalescer {
    in_flight: Option<u64>,
    /// Events arrived while a request was in flight: one more request is owed.
    owed: bool,
    next_seq: u64,
    applied: u64,
    /// How many requests were started, for tests and benchmarks.
    pub started: u64,
}

impl Coalescer {
    pub fn new() -> Self {
        Self::default()
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

    /// Request `seq` finished. Returns whether its response may be applied (it is newer than
    /// anything applied) and the trailing request to start, if events arrived meanwhile.
    pub fn finished(&mut self, seq: u64, succeeded: bool) -> (bool, Option<Start>) {
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
        let apply = succeeded && seq > self.applied;
        if apply {
            self.applied = seq;
        }
        let next = if self.owed && self.in_flight.is_none() {
            self.owed = false;
            Some(self.start())
        } else {
            None
        };
        (apply, next)
    }

    /// Forgets the request in flight (it was aborted); its response, if any, will be stale.
    pub fn abandon(&mut self) {
        self.in_flight = None;
        self.owed = false;
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
        let Some(Start(first)) = c.trigger() else {
            panic!("the first event starts a request")
        };
        for _ in 0..999 {
            assert_eq!(
                c.trigger(),
                None,
                "no second request while one is in flight"
            );
        }
        let (apply, next) = c.finished(first, true);
        assert!(apply);
        let Some(Start(trailing)) = next else {
            panic!("events arrived meanwhile: one trailing request")
        };
        assert_eq!(c.finished(trailing, true), (true, None));
        assert_eq!(c.started, 2);
    }

    #[test]
    fn a_quiet_stream_makes_one_request_per_event() {
        let mut c = Coalescer::new();
        for i in 1..=3 {
            let Some(Start(s)) = c.trigger() else {
                panic!()
            };
            assert_eq!(s, i);
            assert_eq!(c.finished(s, true), (true, None));
        }
    }

    #[test]
    fn stale_and_failed_responses_are_not_applied() {
        let mut c = Coalescer::new();
        let Some(Start(old)) = c.trigger() else {
            panic!()
        };
        c.abandon();
        let Some(Start(new)) = c.trigger() else {
            panic!()
        };
        assert!(c.finished(new, true).0);
        assert!(
            !c.finished(old, true).0,
            "an older response arriving late is dropped"
        );
        let Some(Start(failed)) = c.trigger() else {
            panic!()
        };
        assert_eq!(c.finished(failed, false), (false, None));
        let Some(Start(after)) = c.trigger() else {
            panic!()
        };
        assert!(
            c.finished(after, true).0,
            "a failure does not block later refreshes"
        );
    }

    #[test]
    fn a_failed_request_still_starts_the_owed_one() {
        let mut c = Coalescer::new();
        let Some(Start(s)) = c.trigger() else {
            panic!()
        };
        assert_eq!(c.trigger(), None);
        let (apply, next) = c.finished(s, false);
        assert!(!apply);
        assert!(
            next.is_some(),
            "the DOM must still converge on the latest state"
        );
    }
}
