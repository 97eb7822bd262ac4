//! Reconnect delays: exponential growth with full jitter, the server's `retry:` hint as a floor,
//! and `Retry-After` for 429/503. Pure, so every bound is checked by native unit tests.

/// The delay schedule. Attempt `n` (0-based) waits a uniformly random time in
/// `[0, min(max_ms, initial_ms * factor^n)]` ("full jitter"), never less than the server's hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub initial_ms: u32,
    pub max_ms: u32,
    pub factor: f64,
    /// Without jitter every client reconnects at the same instant after an outage.
    pub jitter: bool,
    /// `None` retries forever.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_ms: 500,
            max_ms: 30_000,
            factor: 2.0,
            jitter: true,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The upper bound for attempt `attempt` before jitter.
    pub fn ceiling(&self, attempt: u32) -> u32 {
        // powi saturates to +inf for large exponents; min() then caps it.
        let grown = f64::from(self.initial_ms) * self.factor.powi(attempt.min(1024) as i32);
        grown.min(f64::from(self.max_ms)) as u32
    }

    /// The delay before reconnect attempt `attempt`. `random` is in `[0, 1)`; `floor_ms` is the
    /// server's `retry:` hint (or 0).
    pub fn delay(&self, attempt: u32, random: f64, floor_ms: u32) -> u32 {
        let ceiling = self.ceiling(attempt);
        let jittered = if self.jitter {
            (f64::from(ceiling) * random.clamp(0.0, 1.0)) as u32
        } else {
            ceiling
        };
        jittered.max(floor_ms)
    }

    /// Whether another reconnect may be tried after `attempts` consecutive failures.
    pub fn allows(&self, attempts: u32) -> bool {
        self.max_attempts.is_none_or(|max| attempts < max)
    }
}

/// Tracks consecutive failures and the server's hint; reset by a successful open.
#[derive(Debug, Default, Clone)]
pub struct Schedule {
    pub policy: Backoff,
    attempts: u32,
    retry_hint_ms: u32,
}

impl Schedule {
    pub fn new(policy: Backoff) -> Self {
        Self {
            policy,
            attempts: 0,
            retry_hint_ms: 0,
        }
    }

    /// The connection opened: the next failure starts again from `initial_ms`.
    pub fn opened(&mut self) {
        self.attempts = 0;
    }

    /// The server sent `retry: <ms>`; it becomes the floor of every later delay.
    pub fn set_retry_hint(&mut self, ms: u32) {
        self.retry_hint_ms = ms;
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before the next reconnect, or `None` when `maxAttempts` is used up.
    pub fn next_delay(&mut self, random: f64) -> Option<u32> {
        self.next_delay_after(None, random)
    }

    /// Like `next_delay`, but a server's `Retry-After` replaces the computed delay. It still
    /// counts as an attempt, so `maxAttempts` bounds a server that keeps answering 503.
    pub fn next_delay_after(&mut self, retry_after_ms: Option<u32>, random: f64) -> Option<u32> {
        if !self.policy.allows(self.attempts) {
            return None;
        }
        let delay = match retry_after_ms {
            Some(ms) => ms,
            None => self.policy.delay(self.attempts, random, self.retry_hint_ms),
        };
        self.attempts += 1;
        // Browser timers take a signed 32-bit delay: a longer one (a huge `retry:` or
        // `Retry-After`) would fire at once instead of late.
        Some(delay.min(MAX_TIMER_MS))
    }
}

/// The longest delay a browser timer honours.
pub const MAX_TIMER_MS: u32 = i32::MAX as u32;

/// Parses a `Retry-After` value: delay-seconds, or an HTTP date relative to `now_ms` (Unix
/// milliseconds). Returns milliseconds to wait, or `None` if the value is unusable.
///
/// The date is read by `parse_date` (`platform::parse_http_date`, the browser's own `Date.parse`):
/// a date parser of our own cost 2 KB of wasm for a header that servers rarely send as a date.
pub fn parse_retry_after(
    value: &str,
    now_ms: f64,
    parse_date: impl FnOnce(&str) -> Option<f64>,
) -> Option<u32> {
    let value = value.trim();
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(secs.saturating_mul(1000).min(u64::from(u32::MAX)) as u32);
    }
    // Every HTTP-date form names a day or a month; without a letter it is malformed, and
    // `Date.parse` would read `1.5` or `-1` as dates long past, meaning "retry at once".
    if !value.bytes().any(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let at = parse_date(value)?;
    Some((at - now_ms).clamp(0.0, f64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn policy() -> Backoff {
        Backoff {
            initial_ms: 100,
            max_ms: 5_000,
            factor: 2.0,
            jitter: true,
            max_attempts: None,
        }
    }

    #[test]
    fn ceiling_grows_exponentially_then_caps() {
        let p = policy();
        let ceilings: Vec<u32> = (0..8).map(|n| p.ceiling(n)).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(
            p.ceiling(u32::MAX),
            5000,
            "huge attempt counts must not overflow"
        );
    }

    #[test]
    fn full_jitter_stays_within_zero_and_ceiling() {
        let p = policy();
        for attempt in 0..20 {
            let ceiling = p.ceiling(attempt);
            for i in 0..=100 {
                let r = f64::from(i) / 100.0;
                let d = p.delay(attempt, r, 0);
                assert!(d <= ceiling, "attempt {attempt} r {r}: {d} > {ceiling}");
            }
            assert_eq!(p.delay(attempt, 0.0, 0), 0);
            assert!(p.delay(attempt, 0.999_999, 0) >= ceiling.saturating_sub(1));
        }
        // Out-of-range randomness is clamped rather than trusted.
        assert_eq!(p.delay(0, 7.0, 0), 100);
        assert_eq!(p.delay(0, -1.0, 0), 0);
    }

    #[test]
    fn no_jitter_uses_the_ceiling() {
        let p = Backoff {
            jitter: false,
            ..policy()
        };
        assert_eq!(p.delay(3, 0.0, 0), 800);
    }

    #[test]
    fn retry_hint_is_a_floor() {
        let p = policy();
        assert_eq!(p.delay(0, 0.0, 3000), 3000);
        assert_eq!(p.delay(10, 1.0, 3000), 5000);
    }

    /// A `retry:` of u32::MAX (the parser saturates) must wait, not fire at once.
    #[test]
    fn delays_never_exceed_what_a_browser_timer_honours() {
        let mut s = Schedule::new(policy());
        s.set_retry_hint(u32::MAX);
        assert_eq!(s.next_delay(0.5), Some(MAX_TIMER_MS));
        assert_eq!(s.next_delay_after(Some(u32::MAX), 0.5), Some(MAX_TIMER_MS));
    }

    #[test]
    fn schedule_resets_after_open_and_honours_max_attempts() {
        let mut s = Schedule::new(Backoff {
            jitter: false,
            max_attempts: Some(3),
            ..policy()
        });
        assert_eq!(s.next_delay(0.5), Some(100));
        assert_eq!(s.next_delay(0.5), Some(200));
        s.opened();
        assert_eq!(
            s.next_delay(0.5),
            Some(100),
            "delay resets after a successful open"
        );
        assert_eq!(s.next_delay(0.5), Some(200));
        assert_eq!(s.next_delay(0.5), Some(400));
        assert_eq!(s.next_delay(0.5), None, "maxAttempts used up");
        s.set_retry_hint(1000);
        s.opened();
        assert_eq!(s.next_delay(0.5), Some(1000));
        assert_eq!(
            s.next_delay_after(Some(250), 0.5),
            Some(250),
            "Retry-After is what the server asked for"
        );
        assert_eq!(s.attempts(), 2);
        assert_eq!(s.next_delay_after(Some(250), 0.5), Some(250));
        assert_eq!(s.next_delay_after(Some(250), 0.5), None, "still bounded");
    }

    /// Stands in for `Date.parse` natively: the one date these tests use.
    fn one_date(value: &str) -> Option<f64> {
        (value == "Sun, 06 Nov 1994 08:49:47 GMT").then_some(784_111_787_000.0)
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("2", 0.0, one_date), Some(2000));
        assert_eq!(parse_retry_after(" 0 ", 0.0, one_date), Some(0));
        assert_eq!(
            parse_retry_after("99999999999999999999999", 0.0, one_date),
            Some(u32::MAX),
            "a huge delay saturates instead of being refused"
        );
        // Each would reach the date parser if it were asked: it must not be.
        let any_date = |_: &str| Some(0.0);
        for bad in ["", "-1", "+1", "1.5", "0.5", "1 2"] {
            assert_eq!(parse_retry_after(bad, 0.0, any_date), None, "{bad:?}");
        }
        assert_eq!(parse_retry_after("soon", 0.0, one_date), None);
    }

    #[test]
    fn retry_after_dates_are_relative_to_now() {
        let now = 784_111_777_000.0; // Sun, 06 Nov 1994 08:49:37 GMT
        let date = "Sun, 06 Nov 1994 08:49:47 GMT";
        assert_eq!(parse_retry_after(date, now, one_date), Some(10_000));
        assert_eq!(
            parse_retry_after(date, now + 60_000.0, one_date),
            Some(0),
            "a date in the past means retry now"
        );
    }

    /// The real date parser, in the browser (`wasm-pack test` runs this module there too).
    #[cfg(target_arch = "wasm32")]
    #[test]
    fn retry_after_dates_through_the_browser() {
        let now = 784_111_777_000.0;
        let parse = crate::platform::parse_http_date;
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now, parse),
            Some(10_000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now, parse),
            Some(0)
        );
        // V8 reads `1.5` as 2001-01-05 and `-1` as 2001-01-01: none may mean "retry now".
        for bad in ["soon", "GMT", "", "-1", "+1", "1.5", "0.5", "1 2"] {
            assert_eq!(parse_retry_after(bad, now, parse), None, "{bad:?}");
        }
    }
}
