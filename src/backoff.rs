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
pub fn parse_retry_after(value: &str, now_ms: f64) -> Option<u32> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000).min(u64::from(u32::MAX)) as u32);
    }
    let at = parse_http_date(value)?;
    Some((at - now_ms).clamp(0.0, f64::from(u32::MAX)) as u32)
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form RFC 9110 lets servers send.
fn parse_http_date(value: &str) -> Option<f64> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u32 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400) + i64::from(h * 3600 + m * 60 + s)) as f64 * 1000.0)
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("2", 0.0), Some(2000));
        assert_eq!(parse_retry_after(" 0 ", 0.0), Some(0));
        let now = 784_111_777_000.0; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(10_000)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(0),
            "a date in the past means retry now"
        );
        for bad in [
            "",
            "-1",
            "soon",
            "Sun, 06 Nov 1994 08:49:47",
            "Sun, 32 Nov 1994 08:49:47 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }
}
