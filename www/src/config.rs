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
    /// Origins allowed cross-origin, with credentials. Each must pass `parse_cors_origin`;
    /// `AppState::new` refuses the configuration otherwise.
    pub cors_origins: Vec<String>,
    /// Contents of an access-rules file (JSON), checked before the default rules.
    pub access_rules: Option<String>,
    /// A connection whose writes make no progress this long (the client stopped reading) is
    /// closed.
    pub write_timeout: Duration,
    /// Open SSE responses one client address may hold at once (IPv6: one /64); more get 429.
    /// 0 means no limit.
    pub max_sse_per_client: usize,
    /// Tokens whose `exp` lies further than this after now, or after their `iat`, are refused.
    pub max_token_ttl: Duration,
    pub pkg_dir: PathBuf,
    pub static_dir: PathBuf,
}

/// Each open SSE response holds a file descriptor for as long as the client wants. Under the
/// common soft limit of 1,024 descriptors this leaves room for several clients and for
/// everything else, and at 200 (the limit finding 7 was reproduced with) one address still
/// cannot starve `/health`. It is above the hundred concurrent readers `make soak` opens from
/// loopback, and far above the six connections per origin a browser opens over HTTP/1.1.
pub const DEFAULT_MAX_SSE_PER_CLIENT: usize = 128;

/// A stolen token is useful until it expires; a day bounds that, even for a token minted with
/// an absurd `exp`.
pub(crate) const DEFAULT_MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Largest request body accepted, in bytes; larger ones get 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

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
            max_sse_per_client: DEFAULT_MAX_SSE_PER_CLIENT,
            max_token_ttl: DEFAULT_MAX_TOKEN_TTL,
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

/// The longest duration flag: a year.
const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// Parses a duration flag: `250ms`, `30s`, `15m`, `2h`, `1h 30m` (humantime's syntax), or a bare
/// number of seconds. Zero is rejected because every duration here is an interval or a lifetime
/// for which zero makes no sense.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let duration = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("invalid duration {input:?}: number too large"))?
    } else {
        humantime::parse_duration(s).map_err(|e| {
            format!("invalid duration {input:?}: {e}; expected e.g. 30s, 15m, 500ms")
        })?
    };
    // `with` hands durations to its server in whole milliseconds, and every deadline is
    // `Instant::now() + duration`, which must not overflow: so 1 ms to 365 days.
    if duration < Duration::from_millis(1) {
        return Err(format!("invalid duration {input:?}: must be at least 1ms"));
    }
    if duration > MAX_DURATION {
        return Err(format!("invalid duration {input:?}: at most 365d"));
    }
    Ok(duration)
}

/// Checks that `input` is one origin as a browser sends it in `Origin` (`scheme://host[:port]`,
/// http or https) and returns it in that exact form: the CORS layer compares bytes, so an
/// uppercase host or an explicit default port would never match and fail silently. `*` is
/// refused because the server allows credentials, which browsers never combine with `*`
/// (tower-http panics on that combination).
pub fn parse_cors_origin(input: &str) -> Result<String, String> {
    if input.trim() == "*" {
        return Err(
            "'*' is not supported with credentials; name each origin, e.g. \
             --cors-origin http://localhost:5173"
                .to_owned(),
        );
    }
    let bad = |why: &str| {
        format!("{input:?} is not an origin ({why}); expected scheme://host[:port], e.g. http://localhost:5173")
    };
    let (scheme, rest) = input.split_once("://").ok_or_else(|| bad("no scheme://"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return Err(bad("the scheme must be http or https")),
    };
    if rest.contains(['/', '?', '#']) {
        return Err(bad("no path, query or fragment, not even a trailing /"));
    }
    if rest.contains('@') {
        return Err(bad("no user name or password"));
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed [ in the host"))?;
        addr.parse::<std::net::Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address between [ ]"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
        };
        (format!("[{}]", addr.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let label_ok =
            |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !host.split('.').all(label_ok) {
            return Err(bad(
                "the host must be letters, digits, - and . (punycode for other names)",
            ));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    Ok(match port {
        // Browsers leave the default port out of `Origin`.
        Some(n) if n != default_port => format!("{scheme}://{host}:{n}"),
        _ => format!("{scheme}://{host}"),
    })
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
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        // The bounds themselves are accepted.
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_duration("365d"), Ok(MAX_DURATION));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "s",
            "0s",
            "-1s",
            "0ms",
            "1 parsec",
            "500us",
            "1ns",
            "366d",
            "18446744073709551615",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn cors_origins_are_normalised_to_what_browsers_send() {
        for (given, expected) in [
            ("http://localhost:5173", "http://localhost:5173"),
            ("https://Example.COM", "https://example.com"),
            ("HTTP://example.com:80", "http://example.com"),
            ("https://example.com:443", "https://example.com"),
            ("https://example.com:8443", "https://example.com:8443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("http://[::1]", "http://[::1]"),
        ] {
            assert_eq!(parse_cors_origin(given).as_deref(), Ok(expected), "{given}");
        }
    }

    #[test]
    fn wildcard_and_non_origins_are_refused_by_name() {
        let wildcard = parse_cors_origin("*").unwrap_err();
        assert!(
            wildcard.contains("'*' is not supported with credentials"),
            "{wildcard}"
        );
        for bad in [
            "",
            "null",
            "localhost:5173",
            "http://",
            "http://example.com/",
            "http://example.com/app",
            "http://example.com?x",
            "http://user@example.com",
            "ftp://example.com",
            "http://exa mple.com",
            "http://example..com",
            "http://example.com:",
            "http://example.com:0",
            "http://example.com:65536",
            "http://example.com:+80",
            "http://[::1",
            "http://[nope]",
            "http://[::1]x",
            "http://ex\u{e4}mple.com",
            "http://a\r\nb",
        ] {
            let err = parse_cors_origin(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn accepted_origins_are_header_values_and_fixed_points(s in "\\PC{0,30}") {
            if let Ok(origin) = parse_cors_origin(&s) {
                prop_assert!(axum::http::HeaderValue::from_str(&origin).is_ok());
                prop_assert_eq!(parse_cors_origin(&origin), Ok(origin.clone()));
            }
        }

        #[test]
        fn seconds_roundtrip(n in 1u64..1_000_000) {
            prop_assert_eq!(parse_duration(&format!("{n}s")), Ok(Duration::from_secs(n)));
        }
    }
}
