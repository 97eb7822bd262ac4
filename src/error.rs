//! The one error type. Every failure the library reports, to Rust callers, to `onError`
//! callbacks or as a thrown exception, is one of these kinds.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Options or the URL were rejected at construction.
    Config(String),
    /// An event's data was not valid JSON, or not the shape the typed listener asked for.
    /// The stream goes on.
    Decode {
        event: String,
        id: Option<String>,
        message: String,
    },
    /// The server answered the stream URL with a status that stops the source (403, 404, 410) or
    /// that it will retry (5xx). `url` is redacted.
    Http {
        status: u16,
        url: String,
        /// Extra context, such as a wrong content type.
        detail: Option<String>,
    },
    /// The token function failed, or the server refused a freshly fetched token.
    Auth(String),
    /// The server could not be reached; the source retries with backoff.
    Network(String),
    /// A JSON-Patch could not be applied; the state is unchanged.
    Patch {
        index: Option<usize>,
        message: String,
    },
    /// A fragment could not be fetched or swapped in; the DOM is unchanged.
    Swap(String),
    /// The source was closed, or ran out of reconnect attempts.
    Closed(String),
}

impl Error {
    /// The stable name JS code switches on.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Decode { .. } => "decode",
            Error::Http { .. } => "http",
            Error::Auth(_) => "auth",
            Error::Network(_) => "network",
            Error::Patch { .. } => "patch",
            Error::Swap(_) => "swap",
            Error::Closed(_) => "closed",
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn event(&self) -> Option<&str> {
        match self {
            Error::Decode { event, .. } => Some(event),
            _ => None,
        }
    }

    pub fn id(&self) -> Option<&str> {
        match self {
            Error::Decode { id, .. } => id.as_deref(),
            _ => None,
        }
    }

    /// The message without the kind prefix.
    pub fn message(&self) -> String {
        match self {
            Error::Config(m) | Error::Auth(m) | Error::Network(m) | Error::Swap(m) => m.clone(),
            Error::Closed(m) => m.clone(),
            Error::Decode { event, id, message } => match id {
                Some(id) => format!("event '{event}' (id {id}): {message}"),
                None => format!("event '{event}': {message}"),
            },
            Error::Http {
                status,
                url,
                detail,
            } => match detail {
                Some(d) => format!("{url} answered HTTP {status} ({d})"),
                None => format!("{url} answered HTTP {status}"),
            },
            Error::Patch {
                index: Some(i),
                message,
            } => format!("op {i}: {message}"),
            Error::Patch {
                index: None,
                message,
            } => message.clone(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "livesource {} error: {}", self.kind(), self.message())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn messages_name_the_kind_and_the_details() {
        let e = Error::Decode {
            event: "change".into(),
            id: Some("7".into()),
            message: "expected value at line 1 column 1".into(),
        };
        assert_eq!(e.kind(), "decode");
        assert_eq!(
            e.to_string(),
            "livesource decode error: event 'change' (id 7): expected value at line 1 column 1"
        );
        let e = Error::Http {
            status: 403,
            url: "/s?access_token=REDACTED".into(),
            detail: None,
        };
        assert_eq!(e.status(), Some(403));
        assert_eq!(e.message(), "/s?access_token=REDACTED answered HTTP 403");
    }
}
