//! What to do after a connection failed before it opened, given what the probe learned. Pure, so
//! each status rule is a native unit test.

use crate::error::Error;

/// What the failure probe learned.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Answered {
        status: u16,
        /// `Retry-After`, in milliseconds from now.
        retry_after_ms: Option<u32>,
        /// The response was `text/event-stream`.
        event_stream: bool,
        content_type: String,
        /// The `retry:` field, when the first bytes carried one.
        retry_hint_ms: Option<u32>,
    },
    /// No HTTP answer: network down, CORS refusal, or nothing listening.
    Unreachable(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Ask the token function again and reconnect at once (a 401 with a token function).
    RetryWithFreshToken,
    /// Stop for good; report the error if there is one.
    Stop(Option<Error>),
    /// Reconnect after `after_ms` (or the backoff delay when `None`); report the error if any.
    Retry {
        after_ms: Option<u32>,
        error: Option<Error>,
    },
}

/// Decides the next step. `url` must already be redacted.
pub fn decide(probe: &Probe, has_token: bool, refreshed_once: bool, url: &str) -> Action {
    let (status, retry_after_ms, event_stream, content_type) = match probe {
        Probe::Unreachable(reason) => {
            return Action::Retry {
                after_ms: None,
                error: Some(Error::Network(format!("{url} is unreachable: {reason}"))),
            }
        }
        Probe::Answered {
            status,
            retry_after_ms,
            event_stream,
            content_type,
            ..
        } => (*status, *retry_after_ms, *event_stream, content_type),
    };
    let http = |detail: Option<String>| Error::Http {
        status,
        url: url.to_owned(),
        detail,
    };
    match status {
        // A live stream that the browser refused anyway: Chromium fails the connection when the
        // charset is not UTF-8 (the spec says to ignore it), and it would refuse every retry.
        200 if event_stream && !utf8_charset(content_type) => {
            Action::Stop(Some(http(Some(format!(
            "'{content_type}': the charset is not UTF-8, which some browsers' EventSource refuses; \
             serve charset=utf-8, or use transport: 'fetch'"
        )))))
        }
        200 if event_stream => Action::Retry {
            after_ms: None,
            error: None,
        },
        // Not an event stream at all (an HTML error page, a JSON API): what the native object
        // does too, retrying cannot help.
        200 => Action::Stop(Some(http(Some(format!(
            "content type '{content_type}', not text/event-stream"
        ))))),
        204 => Action::Stop(None),
        401 if has_token && !refreshed_once => Action::RetryWithFreshToken,
        401 => Action::Retry {
            after_ms: None,
            error: Some(Error::Auth(if has_token {
                format!("{url} refused a freshly fetched token (HTTP 401)")
            } else {
                format!("{url} requires authentication (HTTP 401); set the token option")
            })),
        },
        403 | 404 | 410 => Action::Stop(Some(http(None))),
        429 | 503 => Action::Retry {
            after_ms: retry_after_ms,
            error: Some(http(None)),
        },
        _ => Action::Retry {
            after_ms: None,
            error: Some(http(None)),
        },
    }
}

/// Whether a `Content-Type` is an event stream, whatever its parameters.
pub fn is_event_stream(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Whether a content type's `charset` parameter, if any, names UTF-8.
fn utf8_charset(content_type: &str) -> bool {
    content_type
        .split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("charset"))
        .all(|(_, value)| {
            let value = value.trim().trim_matches('"');
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn answered(status: u16, retry_after_ms: Option<u32>) -> Probe {
        Probe::Answered {
            status,
            retry_after_ms,
            event_stream: false,
            content_type: "application/json".into(),
            retry_hint_ms: None,
        }
    }

    #[test]
    fn an_event_stream_is_known_by_its_media_type_alone() {
        for yes in ["text/event-stream", " Text/Event-Stream ; charset=utf-8"] {
            assert!(is_event_stream(yes), "{yes}");
        }
        for no in ["", "text/event-streams", "text/html; x=text/event-stream"] {
            assert!(!is_event_stream(no), "{no}");
        }
    }

    #[test]
    fn forbidden_missing_and_gone_stop_with_the_status() {
        for status in [403, 404, 410] {
            match decide(&answered(status, None), true, false, "/s") {
                Action::Stop(Some(e)) => assert_eq!(e.status(), Some(status)),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_live_stream_with_another_charset_stops_with_the_reason() {
        let live = |content_type: &str| Probe::Answered {
            status: 200,
            retry_after_ms: None,
            event_stream: true,
            content_type: content_type.into(),
            retry_hint_ms: None,
        };
        match decide(
            &live("text/event-stream;charset=windows-1252"),
            false,
            false,
            "/s",
        ) {
            Action::Stop(Some(e)) => assert!(e.message().contains("not UTF-8"), "{e}"),
            other => panic!("{other:?}"),
        }
        for fine in [
            "text/event-stream",
            "text/event-stream; charset=utf-8",
            "text/event-stream;charset=\"UTF-8\"",
        ] {
            assert!(
                matches!(
                    decide(&live(fine), false, false, "/s"),
                    Action::Retry { error: None, .. }
                ),
                "{fine}"
            );
        }
    }

    #[test]
    fn no_content_stops_quietly() {
        assert_eq!(
            decide(&answered(204, None), false, false, "/s"),
            Action::Stop(None)
        );
    }

    #[test]
    fn unauthorized_refreshes_the_token_once_then_backs_off() {
        let p = answered(401, None);
        assert_eq!(decide(&p, true, false, "/s"), Action::RetryWithFreshToken);
        match decide(&p, true, true, "/s") {
            Action::Retry {
                after_ms: None,
                error: Some(e),
            } => assert_eq!(e.kind(), "auth"),
            other => panic!("{other:?}"),
        }
        match decide(&p, false, false, "/s") {
            Action::Retry { error: Some(e), .. } => assert!(e.message().contains("token option")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn throttled_and_unavailable_wait_as_retry_after_says() {
        for status in [429, 503] {
            match decide(&answered(status, Some(2000)), false, false, "/s") {
                Action::Retry {
                    after_ms: Some(2000),
                    error: Some(e),
                } => assert_eq!(e.status(), Some(status)),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            decide(&answered(503, None), false, false, "/s"),
            Action::Retry { after_ms: None, .. }
        ));
    }

    #[test]
    fn wrong_content_type_stops_and_other_statuses_back_off() {
        match decide(&answered(200, None), false, false, "/s") {
            Action::Stop(Some(e)) => assert!(e.message().contains("not text/event-stream"), "{e}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&answered(500, None), false, false, "/s"),
            Action::Retry {
                after_ms: None,
                error: Some(_)
            }
        ));
        let live = Probe::Answered {
            status: 200,
            retry_after_ms: None,
            event_stream: true,
            content_type: "text/event-stream".into(),
            retry_hint_ms: Some(3000),
        };
        assert_eq!(
            decide(&live, false, false, "/s"),
            Action::Retry {
                after_ms: None,
                error: None
            }
        );
        match decide(&Probe::Unreachable("refused".into()), false, false, "/s") {
            Action::Retry { error: Some(e), .. } => assert_eq!(e.kind(), "network"),
            other => panic!("{other:?}"),
        }
    }
}
