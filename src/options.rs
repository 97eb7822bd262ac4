//! Options: what callers may set, their defaults, and validation. `OptionsInput` mirrors the JS
//! options object field for field (camelCase, unknown names rejected); `Options` is the validated
//! form the source runs on.

use crate::backoff::Backoff;
use crate::error::{Error, Result};
use crate::headers::HeadersSource;
use crate::token::TokenSource;

/// How a source talks to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Transport {
    /// The browser's `EventSource` (the default): its own reconnects send `Last-Event-ID`, but it
    /// can send no other header, so a token travels in the URL.
    #[default]
    EventSource,
    /// `fetch` with a streamed body, parsed in wasm: real headers (`Authorization`,
    /// `Last-Event-ID`) on every connect, and the status read from the response itself.
    Fetch,
}

/// Default bound on one line or one event's data in the fetch transport.
pub const DEFAULT_MAX_EVENT_BYTES: u32 = 1 << 20;

/// Validated options. Build with `Options::default()` and the builder methods from Rust.
#[derive(Clone, Debug)]
pub struct Options {
    pub token: Option<TokenSource>,
    pub transport: Transport,
    /// Fetch transport: headers asked for before every connect.
    pub headers: Option<HeadersSource>,
    /// Fetch transport: send the token as the `token_param` query parameter instead of
    /// `Authorization: Bearer` (for servers that read only the query).
    pub token_in_query: bool,
    /// Fetch transport: also send the resume id as the `last_event_id_param` query parameter
    /// (the `Last-Event-ID` header is always sent).
    pub resume_in_query: bool,
    /// Fetch transport: a longer line or event is a typed error and a reconnect.
    pub max_event_bytes: u32,
    pub with_credentials: bool,
    pub backoff: Backoff,
    /// Reconnect if nothing arrives for this long; 0 turns the watchdog off. It arms once the
    /// connection has delivered a `heartbeat` event.
    pub heartbeat_timeout_ms: u32,
    /// Query parameter that carries the last seen id on every new connection.
    pub last_event_id_param: String,
    /// Query parameter that carries the token.
    pub token_param: String,
    /// Where to resume from on the first connection (for example, an id saved by the page).
    pub last_event_id: Option<String>,
    /// Close the connection while the page is hidden and resume, losing nothing, when it shows.
    pub pause_when_hidden: bool,
    /// One connection for every same-origin tab that opens the same stream (see `share`).
    pub share: bool,
    /// With `share`: only tabs with the same key share (to keep users or tenants apart).
    pub share_key: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            token: None,
            transport: Transport::EventSource,
            headers: None,
            token_in_query: false,
            resume_in_query: false,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            with_credentials: false,
            backoff: Backoff::default(),
            heartbeat_timeout_ms: 45_000,
            last_event_id_param: "lastEventId".into(),
            token_param: "access_token".into(),
            last_event_id: None,
            pause_when_hidden: false,
            share: false,
            share_key: String::new(),
        }
    }
}

impl Options {
    pub fn token(mut self, token: TokenSource) -> Self {
        self.token = Some(token);
        self
    }

    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    pub fn headers(mut self, headers: HeadersSource) -> Self {
        self.headers = Some(headers);
        self
    }

    pub fn token_in_query(mut self, on: bool) -> Self {
        self.token_in_query = on;
        self
    }

    pub fn resume_in_query(mut self, on: bool) -> Self {
        self.resume_in_query = on;
        self
    }

    pub fn max_event_bytes(mut self, bytes: u32) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    pub fn with_credentials(mut self, on: bool) -> Self {
        self.with_credentials = on;
        self
    }

    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn heartbeat_timeout_ms(mut self, ms: u32) -> Self {
        self.heartbeat_timeout_ms = ms;
        self
    }

    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    pub fn pause_when_hidden(mut self, on: bool) -> Self {
        self.pause_when_hidden = on;
        self
    }

    /// One server connection for all the tabs of a browser profile that open the same stream
    /// (the same URL without secrets, transport, credentials mode and `share_key`): one tab,
    /// elected with the Web Locks API, holds it and relays every event over a
    /// `BroadcastChannel`. Where either API is missing, each tab connects on its own.
    pub fn share(mut self, on: bool) -> Self {
        self.share = on;
        self
    }

    /// With `share`: only sources with the same key share a connection.
    pub fn share_key(mut self, key: impl Into<String>) -> Self {
        self.share_key = key.into();
        self
    }

    /// Checks the invariants that builder callers could break.
    pub fn validate(&self) -> Result<()> {
        let b = &self.backoff;
        if b.initial_ms > b.max_ms {
            return Err(Error::Config(format!(
                "backoff.initialMs ({}) must not exceed backoff.maxMs ({})",
                b.initial_ms, b.max_ms
            )));
        }
        if !(b.factor.is_finite() && b.factor >= 1.0) {
            return Err(Error::Config(format!(
                "backoff.factor must be a finite number >= 1, got {}",
                describe_number(b.factor)
            )));
        }
        if self.transport == Transport::EventSource {
            let fetch_only = [
                ("headers", self.headers.is_some()),
                ("tokenInQuery", self.token_in_query),
                ("resumeInQuery", self.resume_in_query),
                (
                    "maxEventBytes",
                    self.max_event_bytes != DEFAULT_MAX_EVENT_BYTES,
                ),
            ];
            if let Some((name, _)) = fetch_only.iter().find(|(_, set)| *set) {
                return Err(Error::Config(format!(
                    "{name} needs transport: 'fetch' (EventSource cannot send headers or bound its own parser)"
                )));
            }
        }
        if self.max_event_bytes < 1024 {
            return Err(Error::Config(format!(
                "maxEventBytes must be at least 1024, got {}",
                self.max_event_bytes
            )));
        }
        if self.share && self.pause_when_hidden {
            return Err(Error::Config(
                "share and pauseWhenHidden cannot be combined: a hidden leader would pause every tab".into(),
            ));
        }
        for (name, value) in [
            ("lastEventIdParam", &self.last_event_id_param),
            ("tokenParam", &self.token_param),
        ] {
            if value.is_empty() {
                return Err(Error::Config(format!("{name} must not be empty")));
            }
        }
        Ok(())
    }
}

/// Option names the JS options object may have.
pub const OPTION_NAMES: &[&str] = &[
    "token",
    "transport",
    "headers",
    "tokenInQuery",
    "resumeInQuery",
    "maxEventBytes",
    "withCredentials",
    "backoff",
    "heartbeatTimeoutMs",
    "lastEventIdParam",
    "tokenParam",
    "lastEventId",
    "pauseWhenHidden",
    "share",
    "shareKey",
];

pub const BACKOFF_NAMES: &[&str] = &["initialMs", "maxMs", "factor", "jitter", "maxAttempts"];

/// A typo in an option name would otherwise be ignored silently; this names it instead.
pub fn check_names<'a>(
    given: impl IntoIterator<Item = &'a str>,
    allowed: &[&str],
    prefix: &str,
) -> Result<()> {
    for name in given {
        if !allowed.contains(&name) {
            return Err(Error::Config(format!(
                "unknown option '{prefix}{name}'; expected one of: {}",
                allowed
                    .iter()
                    .map(|a| format!("{prefix}{a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// The JS options object as received, field for field (`heartbeat_timeout_ms` is JS `heartbeatTimeoutMs`). Numbers
/// arrive as `f64` so that a negative or fractional delay gets our message rather than a generic
/// type error.
#[derive(Default, Debug)]
pub struct OptionsInput {
    pub transport: Option<String>,
    pub token_in_query: Option<bool>,
    pub resume_in_query: Option<bool>,
    pub max_event_bytes: Option<f64>,
    pub with_credentials: Option<bool>,
    pub backoff: Option<BackoffInput>,
    pub heartbeat_timeout_ms: Option<f64>,
    pub last_event_id_param: Option<String>,
    pub token_param: Option<String>,
    pub last_event_id: Option<String>,
    pub pause_when_hidden: Option<bool>,
    pub share: Option<bool>,
    pub share_key: Option<String>,
}

#[derive(Default, Debug)]
pub struct BackoffInput {
    pub initial_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub factor: Option<f64>,
    pub jitter: Option<bool>,
    pub max_attempts: Option<f64>,
}

impl OptionsInput {
    /// Applies the input over the defaults and validates the result.
    pub fn into_options(
        self,
        token: Option<TokenSource>,
        headers: Option<HeadersSource>,
    ) -> Result<Options> {
        let defaults = Options::default();
        let b = self.backoff.unwrap_or_default();
        let policy = Backoff {
            initial_ms: millis(
                "backoff.initialMs",
                b.initial_ms,
                defaults.backoff.initial_ms,
            )?,
            max_ms: millis("backoff.maxMs", b.max_ms, defaults.backoff.max_ms)?,
            factor: b.factor.unwrap_or(defaults.backoff.factor),
            jitter: b.jitter.unwrap_or(defaults.backoff.jitter),
            max_attempts: match b.max_attempts {
                None => None,
                Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 => Some(n as u32),
                Some(n) => {
                    return Err(Error::Config(format!(
                        "backoff.maxAttempts must be a whole number >= 0 or null, got {}",
                        describe_number(n)
                    )))
                }
            },
        };
        let transport = match self.transport.as_deref() {
            None | Some("eventsource") => Transport::EventSource,
            Some("fetch") => Transport::Fetch,
            Some(other) => {
                return Err(Error::Config(format!(
                    "transport must be 'eventsource' or 'fetch', got '{other}'"
                )))
            }
        };
        let options = Options {
            token,
            transport,
            headers,
            token_in_query: self.token_in_query.unwrap_or(false),
            resume_in_query: self.resume_in_query.unwrap_or(false),
            max_event_bytes: match self.max_event_bytes {
                None => DEFAULT_MAX_EVENT_BYTES,
                Some(n)
                    if n.is_finite()
                        && n.fract() == 0.0
                        && (0.0..=f64::from(u32::MAX)).contains(&n) =>
                {
                    n as u32
                }
                Some(n) => {
                    return Err(Error::Config(format!(
                        "maxEventBytes must be a whole number of bytes, got {}",
                        describe_number(n)
                    )))
                }
            },
            with_credentials: self.with_credentials.unwrap_or(defaults.with_credentials),
            backoff: policy,
            heartbeat_timeout_ms: millis(
                "heartbeatTimeoutMs",
                self.heartbeat_timeout_ms,
                defaults.heartbeat_timeout_ms,
            )?,
            last_event_id_param: self
                .last_event_id_param
                .unwrap_or(defaults.last_event_id_param),
            token_param: self.token_param.unwrap_or(defaults.token_param),
            last_event_id: self.last_event_id,
            pause_when_hidden: self.pause_when_hidden.unwrap_or(defaults.pause_when_hidden),
            share: self.share.unwrap_or(defaults.share),
            share_key: self.share_key.unwrap_or(defaults.share_key),
        };
        options.validate()?;
        Ok(options)
    }
}

/// A delay in milliseconds: finite, non-negative, at most ~24 days (setTimeout's own limit).
fn millis(name: &str, value: Option<f64>, default: u32) -> Result<u32> {
    const MAX: f64 = i32::MAX as f64;
    match value {
        None => Ok(default),
        Some(v) if v.is_finite() && (0.0..=MAX).contains(&v) => Ok(v.round() as u32),
        Some(v) => Err(Error::Config(format!(
            "{name} must be a number of milliseconds between 0 and {}, got {}",
            i32::MAX,
            describe_number(v)
        ))),
    }
}

/// Names a bad number without `f64`'s `Display`, whose float-printing code would add about
/// 15 KB to the wasm for the sake of error messages.
fn describe_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if v.fract() == 0.0 && v.abs() < 9e15 {
        (v as i64).to_string()
    } else {
        let scaled = (v * 1000.0).round() as i64;
        let sign = if scaled < 0 { "-" } else { "" };
        let scaled = scaled.unsigned_abs();
        format!(
            "{sign}{}.{:03} (approximately)",
            scaled / 1000,
            scaled % 1000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn empty_input_gives_the_documented_defaults() {
        let o = OptionsInput::default().into_options(None, None).unwrap();
        assert_eq!(o.backoff, Backoff::default());
        assert_eq!(o.heartbeat_timeout_ms, 45_000);
        assert_eq!(o.last_event_id_param, "lastEventId");
        assert_eq!(o.token_param, "access_token");
        assert!(!o.with_credentials && !o.pause_when_hidden);
    }

    #[test]
    fn negative_and_non_finite_delays_are_rejected_by_name() {
        let input = OptionsInput {
            backoff: Some(BackoffInput {
                initial_ms: Some(-5.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = input.into_options(None, None).unwrap_err();
        assert_eq!(err.kind(), "config");
        assert!(err.message().contains("backoff.initialMs"), "{err}");

        let input = OptionsInput {
            heartbeat_timeout_ms: Some(f64::NAN),
            ..Default::default()
        };
        assert!(input
            .into_options(None, None)
            .unwrap_err()
            .message()
            .contains("heartbeatTimeoutMs"));
    }

    #[test]
    fn inconsistent_backoff_is_rejected() {
        for b in [
            BackoffInput {
                initial_ms: Some(10_000.0),
                max_ms: Some(100.0),
                ..Default::default()
            },
            BackoffInput {
                factor: Some(0.5),
                ..Default::default()
            },
            BackoffInput {
                max_attempts: Some(1.5),
                ..Default::default()
            },
        ] {
            let input = OptionsInput {
                backoff: Some(b),
                ..Default::default()
            };
            assert_eq!(input.into_options(None, None).unwrap_err().kind(), "config");
        }
    }

    #[test]
    fn fetch_options_need_the_fetch_transport_and_are_checked() {
        let fetch = |input: OptionsInput| OptionsInput {
            transport: Some("fetch".into()),
            ..input
        };
        let ok = fetch(OptionsInput {
            token_in_query: Some(true),
            max_event_bytes: Some(4096.0),
            ..Default::default()
        })
        .into_options(None, None)
        .unwrap();
        assert_eq!(
            (ok.transport, ok.token_in_query, ok.max_event_bytes),
            (Transport::Fetch, true, 4096)
        );
        for (input, needle) in [
            (
                OptionsInput {
                    token_in_query: Some(true),
                    ..Default::default()
                },
                "tokenInQuery needs transport: 'fetch'",
            ),
            (
                OptionsInput {
                    transport: Some("websocket".into()),
                    ..Default::default()
                },
                "transport must be 'eventsource' or 'fetch'",
            ),
            (
                fetch(OptionsInput {
                    max_event_bytes: Some(100.0),
                    ..Default::default()
                }),
                "maxEventBytes must be at least 1024",
            ),
            (
                fetch(OptionsInput {
                    max_event_bytes: Some(1.5e3 + 0.5),
                    ..Default::default()
                }),
                "maxEventBytes must be a whole number",
            ),
        ] {
            let err = input.into_options(None, None).unwrap_err();
            assert!(err.message().contains(needle), "{err}");
        }
    }

    #[test]
    fn unknown_names_are_named_in_the_error() {
        assert!(check_names(["backoff", "token"], OPTION_NAMES, "").is_ok());
        let err = check_names(["heartbeatTimeout"], OPTION_NAMES, "").unwrap_err();
        assert!(
            err.message().contains("unknown option 'heartbeatTimeout'"),
            "{err}"
        );
        assert!(err.message().contains("heartbeatTimeoutMs"), "{err}");
        let err = check_names(["initalMs"], BACKOFF_NAMES, "backoff.").unwrap_err();
        assert!(err.message().contains("'backoff.initalMs'"), "{err}");
    }

    #[test]
    fn bad_numbers_are_named_without_float_formatting() {
        assert_eq!(describe_number(-5.0), "-5");
        assert_eq!(describe_number(f64::NAN), "NaN");
        assert_eq!(describe_number(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(describe_number(0.5), "0.500 (approximately)");
        assert_eq!(describe_number(-1.25), "-1.250 (approximately)");
    }

    #[test]
    fn empty_param_names_are_rejected() {
        let input = OptionsInput {
            token_param: Some(String::new()),
            ..Default::default()
        };
        assert!(input
            .into_options(None, None)
            .unwrap_err()
            .message()
            .contains("tokenParam"));
    }

    #[test]
    fn share_and_its_key_pass_through_and_exclude_pause_when_hidden() {
        let options = OptionsInput {
            share: Some(true),
            share_key: Some("user-42".into()),
            ..Default::default()
        }
        .into_options(None, None)
        .unwrap();
        assert!(options.share);
        assert_eq!(options.share_key, "user-42");
        assert!(!Options::default().share);
        let err = Options::default()
            .share(true)
            .pause_when_hidden(true)
            .validate()
            .unwrap_err();
        assert!(err.message().contains("share and pauseWhenHidden"));
    }
}
