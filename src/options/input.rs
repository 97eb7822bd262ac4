//! The JS options object as read (`js::options` reads it), field for field, and its conversion
//! to validated `Options`: kept apart from the reading so every rule is a native test.

use super::{describe_number, Options, Transport, DEFAULT_MAX_EVENT_BYTES};
use crate::auth::headers::HeadersSource;
use crate::auth::token::TokenSource;
use crate::error::{Error, Result};
use crate::policy::backoff::Backoff;

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
            let mut message = format!("unknown option '{prefix}{name}'; expected one of: ");
            for (i, a) in allowed.iter().enumerate() {
                if i > 0 {
                    message.push_str(", ");
                }
                message.push_str(prefix);
                message.push_str(a);
            }
            return Err(Error::Config(message));
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
    /// Applies the input over the defaults. The result is validated once, where every source
    /// starts (`LiveSource::connect`), whether its options came from JS or from Rust.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the constructor does with the options it read: convert, then validate.
    fn checked(input: OptionsInput) -> Result<Options> {
        let options = input.into_options(None, None)?;
        options.validate()?;
        Ok(options)
    }
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
        let err = checked(input).unwrap_err();
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
            assert_eq!(checked(input).unwrap_err().kind(), "config");
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
            let err = checked(input).unwrap_err();
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
    fn empty_param_names_are_rejected() {
        let input = OptionsInput {
            token_param: Some(String::new()),
            ..Default::default()
        };
        assert!(checked(input).unwrap_err().message().contains("tokenParam"));
    }
}
