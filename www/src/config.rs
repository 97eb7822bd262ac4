//! Server configuration (what `serve` flags resolve to) and the duration syntax they use.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where documents and the event log live.
#[derive(Debug, Clone)]
pub enum Storage {
    /// SQLite file (and the signing secret) inside this directory, created if missing.
    Dir(PathBuf),
    /// Everything in memory; gone when the process exits. For tests.
    Memory,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub storage: Storage,
    /// Interval of keep-alives on change streams and `heartbeat` events on `/api/events`.
    pub heartbeat: Duration,
    /// How many events back a `Last-Event-ID` may point before the client gets `event: reset`.
    pub replay: u64,
    /// Patch topics must start with this prefix; others get 403.
    pub topic_prefix: String,
    pub cors_origins: Vec<String>,
    /// Contents of an access-rules file (JSON), checked before the default rules.
    pub access_rules: Option<String>,
    /// A connection whose writes make no progress this long (the client stopped reading) is
    /// closed.
    pub write_timeout: Duration,
    pub pkg_dir: PathBuf,
    pub static_dir: PathBuf,
}

impl Config {
    /// Defaults for tests and embedding: in-memory storage, loopback, port chosen by the OS.
    pub fn for_tests() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            storage: Storage::Memory,
            heartbeat: Duration::from_secs(30),
            replay: 10_000,
            topic_prefix: "dashboard:".to_owned(),
            cors_origins: Vec::new(),
            access_rules: None,
            write_timeout: Duration::from_secs(30),
            pkg_dir: default_pkg_dir(),
            static_dir: default_static_dir(),
        }
    }
}

/// `<workspace>/pkg`, where `wasm-pack --target web` writes the library.
pub fn default_pkg_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pkg")
}

/// `www/static`, the demo assets.
pub fn default_static_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")
}

/// Parses `250ms`, `30s`, `15m`, `2h` or a bare number of seconds. Zero is rejected because
/// every duration here is an interval or a lifetime for which zero makes no sense.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "invalid duration {input:?}: expected e.g. 30s, 15m, 500ms"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid duration {input:?}: number too large"))?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "invalid duration {input:?}: unit must be ms, s, m or h"
            ))
        }
    };
    let millis = n
        .checked_mul(millis_per_unit)
        .ok_or_else(|| format!("invalid duration {input:?}: too large"))?;
    if millis == 0 {
        return Err(format!(
            "invalid duration {input:?}: must be greater than zero"
        ));
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "0s",
            "-1s",
            "1d",
            "1.5s",
            "1 s",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn seconds_roundtrip(n in 1u64..1_000_000) {
            prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(Duration::from_secs(n)));
        }
    }
}
