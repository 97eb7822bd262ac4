//! An element's `data-live-*` attributes, read into what auto-wiring does with them. Every
//! mistake a template author can make gets a config error that names the attribute: a misspelt
//! name is not ignored, and a value that is not one of the allowed ones is not read as the
//! default.

use crate::error::{Error, Result};
use crate::fragment::Swap;

/// The attributes an author writes.
pub const NAMES: &[&str] = &[
    "data-live-src",
    "data-live-get",
    "data-live-event",
    "data-live-swap",
    "data-live-share",
];

/// The attributes livesource writes: the connection state, and why an element is not wired.
pub const STATE: &str = "data-live-state";
pub const ERROR: &str = "data-live-error";

/// An element's `data-live-*` attributes as `(name, value)` pairs, in the element's order. Two
/// readings compare equal when the element still asks for the same wiring.
pub type Attrs = Vec<(String, String)>;

/// What one element asks for.
#[derive(Debug, PartialEq)]
pub struct Spec {
    /// The stream URL, as written.
    pub src: String,
    /// The fragment URL, as written.
    pub get: String,
    pub event: String,
    pub swap: Swap,
    /// One connection for all tabs (the default), or `data-live-share="off"`.
    pub share: bool,
}

impl Spec {
    pub fn parse(attrs: &[(String, String)]) -> Result<Self> {
        // The value of each of `NAMES`, in its order.
        let mut values: [Option<&str>; 5] = [None; 5];
        for (name, value) in attrs {
            match NAMES.iter().position(|n| n == name) {
                Some(i) => values[i] = Some(value.as_str()),
                None if name == STATE || name == ERROR => {}
                None => {
                    let mut message = format!("unknown attribute {name}; expected one of ");
                    message.push_str(&NAMES.join(", "));
                    return Err(Error::Config(message));
                }
            }
        }
        let [src, get, event, swap, share] = values;
        let event = event.unwrap_or("message");
        if event.is_empty() || event.chars().any(char::is_whitespace) {
            return Err(invalid(2, "one event name, with no spaces", event));
        }
        Ok(Spec {
            src: required(0, src)?,
            get: required(1, get)?,
            event: event.to_owned(),
            swap: match swap {
                None => Swap::OuterHtml,
                Some(v) => Swap::parse(v).map_err(|_| {
                    invalid(3, "outerHTML, innerHTML, beforeend, afterbegin or none", v)
                })?,
            },
            share: match share {
                None | Some("on") => true,
                Some("off") => false,
                Some(v) => return Err(invalid(4, "\"on\" or \"off\"", v)),
            },
        })
    }
}

/// The URL `NAMES[i]` names: it must be there, and not blank.
fn required(i: usize, value: Option<&str>) -> Result<String> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v.to_owned()),
        Some(v) => Err(invalid(i, "a URL", v)),
        None => Err(Error::Config(format!("{} is missing", NAMES[i]))),
    }
}

fn invalid(i: usize, rule: &str, value: &str) -> Error {
    Error::Config(format!("{} must be {rule}, got \"{value}\"", NAMES[i]))
}

/// `message` with the attribute it is about in front (`data-live-get: 'x' is not a valid URL`).
pub fn about(name: &str, e: Error) -> Error {
    match e {
        Error::Config(m) => Error::Config(format!("{name}: {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        Spec::parse(&attrs(pairs)).unwrap_err().message()
    }

    const WIRED: [(&str, &str); 2] = [("data-live-src", "/s"), ("data-live-get", "/f")];

    #[test]
    fn the_defaults_are_message_outer_html_and_shared() {
        let spec = Spec::parse(&attrs(&WIRED)).unwrap();
        assert_eq!(
            spec,
            Spec {
                src: "/s".into(),
                get: "/f".into(),
                event: "message".into(),
                swap: Swap::OuterHtml,
                share: true,
            }
        );
        let all = [
            WIRED[0],
            WIRED[1],
            ("data-live-event", "change"),
            ("data-live-swap", "beforeend"),
            ("data-live-share", "off"),
            ("data-live-state", "open"),
            ("data-live-error", "an earlier mistake"),
        ];
        let spec = Spec::parse(&attrs(&all)).unwrap();
        assert_eq!(
            (spec.event.as_str(), spec.swap, spec.share),
            ("change", Swap::BeforeEnd, false)
        );
    }

    #[test]
    fn each_mistake_names_its_attribute() {
        let with = |extra: (&'static str, &'static str)| error(&[WIRED[0], WIRED[1], extra]);
        let cases = [
            (
                with(("data-live-evnt", "change")),
                "unknown attribute data-live-evnt; expected one of data-live-src, data-live-get",
            ),
            (
                with(("data-live-share", "false")),
                "data-live-share must be \"on\" or \"off\", got \"false\"",
            ),
            (
                with(("data-live-swap", "outer")),
                "data-live-swap must be outerHTML, innerHTML, beforeend, afterbegin or none, got \"outer\"",
            ),
            (
                with(("data-live-event", "insert update")),
                "data-live-event must be one event name, with no spaces, got \"insert update\"",
            ),
            (with(("data-live-event", "")), "data-live-event must be one event name"),
            (with(("data-live-swap", "")), "data-live-swap must be"),
            (error(&[("data-live-src", " "), WIRED[1]]), "data-live-src must be a URL, got \" \""),
            (error(&[WIRED[1]]), "data-live-src is missing"),
            (error(&[WIRED[0]]), "data-live-get is missing"),
            (error(&[WIRED[0], ("data-live-get", "")]), "data-live-get must be a URL, got \"\""),
        ];
        for (message, expected) in cases {
            assert!(message.starts_with(expected), "{message:?} vs {expected:?}");
        }
    }

    #[test]
    fn about_puts_the_attribute_in_front_of_a_config_message() {
        let e = about(
            "data-live-get",
            Error::Config("'x' is not a valid URL".into()),
        );
        assert_eq!(e.message(), "data-live-get: 'x' is not a valid URL");
        let e = about("data-live-get", Error::Closed("closed".into()));
        assert_eq!(e.kind(), "closed");
    }
}
