//! Options: what callers may set, their defaults, and validation. `Options` is the validated
//! form the source runs on; `input` holds the JS options object as read, field for field, and
//! turns it into one.

mod input;

pub(crate) use input::{check_names, BackoffInput, OptionsInput, BACKOFF_NAMES, OPTION_NAMES};

use crate::auth::headers::HeadersSource;
use crate::auth::token::TokenSource;
use crate::error::{Error, Result};
use crate::policy::backoff::Backoff;

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
    fn bad_numbers_are_named_without_float_formatting() {
        assert_eq!(describe_number(-5.0), "-5");
        assert_eq!(describe_number(f64::NAN), "NaN");
        assert_eq!(describe_number(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(describe_number(0.5), "0.500 (approximately)");
        assert_eq!(describe_number(-1.25), "-1.250 (approximately)");
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
