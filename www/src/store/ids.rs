//! SSE resume ids: event-log sequence numbers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Why a resume id could not be honoured; sent to the client in `event: reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeError {
    Malformed,
    Unknown,
    TooOld,
}

impl ResumeError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed-id",
            Self::Unknown => "unknown-id",
            Self::TooOld => "too-old",
        }
    }
}

/// Parses a resume id: the canonical decimal form of an event-log sequence number, exactly as
/// we send it (no sign, no leading zeros, no whitespace), so each id has one spelling. The rule
/// is the workspace's one implementation (`livesource_protocol::resume::decimal_u64`, beside
/// the library's stricter reader).
pub fn parse_event_id(raw: &str) -> Result<u64, ResumeError> {
    livesource_protocol::resume::decimal_u64(raw).ok_or(ResumeError::Malformed)
}

/// The ids of a log that does not outlive its process (the in-memory store, patch topics) start
/// above this one: the process's start in milliseconds, times 100. An id an earlier process
/// issued is then below it, and a resume from it gets `reset` instead of the events that this
/// process numbered the same way. 15 digits: still a number to the client.
pub fn process_base() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        ms * 100
    })
}

/// Decides where a resumed stream starts. `floor` is where the log's ids start (the id of a
/// fresh client on an empty log; 0 for a log that outlives the process, else `process_base`),
/// `head` the newest id in the log (`floor` when empty); `window` is how many events back a
/// resume may reach. An id below the floor was issued by an earlier process: unknown.
pub fn resume_point(raw: &str, floor: u64, head: u64, window: u64) -> Result<u64, ResumeError> {
    let id = parse_event_id(raw)?;
    if id > head || id < floor {
        return Err(ResumeError::Unknown);
    }
    if head - id > window {
        return Err(ResumeError::TooOld);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The spellings themselves are tested once, in `livesource-protocol`'s `resume`; here, that
    /// the server maps a refused one to its typed `Malformed`.
    #[test]
    fn event_ids_are_canonical_decimal() {
        assert_eq!(parse_event_id("42"), Ok(42));
        assert_eq!(parse_event_id("042"), Err(ResumeError::Malformed));
    }

    #[test]
    fn resume_window() {
        assert_eq!(resume_point("5", 0, 10, 10), Ok(5));
        assert_eq!(resume_point("10", 0, 10, 0), Ok(10));
        assert_eq!(resume_point("11", 0, 10, 10), Err(ResumeError::Unknown));
        assert_eq!(resume_point("1", 0, 100, 10), Err(ResumeError::TooOld));
        assert_eq!(resume_point("x", 0, 100, 10), Err(ResumeError::Malformed));
        // A log numbered from 500 (a restarted in-memory one): 3 was an earlier process's.
        assert_eq!(
            resume_point("3", 500, 505, 10_000),
            Err(ResumeError::Unknown)
        );
        assert_eq!(resume_point("500", 500, 500, 10_000), Ok(500));
        assert_eq!(resume_point("501", 500, 505, 10_000), Ok(501));
        let base = process_base();
        assert_eq!(base % 100, 0);
        assert!(
            (170_000_000_000_000..1_000_000_000_000_000).contains(&base),
            "{base}: 15 digits"
        );
    }

    proptest! {
        // Round trips of the decimal form itself are tested with it, in `livesource-protocol`.
        #[test]
        fn parse_never_panics_and_roundtrips(s in "\\PC{0,30}") {
            if let Ok(n) = parse_event_id(&s) {
                prop_assert_eq!(n.to_string(), s);
            }
        }

        #[test]
        fn resume_point_is_within_window(id in 0u64..1000, head in 0u64..1000, window in 0u64..1000) {
            match resume_point(&id.to_string(), 0, head, window) {
                Ok(start) => prop_assert!(start <= head && head - start <= window),
                Err(ResumeError::Unknown) => prop_assert!(id > head),
                Err(ResumeError::TooOld) => prop_assert!(head - id > window),
                Err(ResumeError::Malformed) => prop_assert!(false),
            }
        }
    }
}
