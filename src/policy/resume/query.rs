//! The connect URL's query parameters: where the resume id and the token travel when the
//! transport cannot send headers, and how such a URL is shown without its secret.

/// Returns `url` with each `(name, Some(value))` pair set as a query parameter, replacing the
/// URL's own values of that name. A `None` leaves the URL's own value: a token or resume id the
/// app wrote into the URL is sent until the source has one of its own. The fragment is kept, and
/// so is the spelling of every other parameter.
pub fn with_query_params(url: &str, params: &[(&str, Option<&str>)]) -> String {
    let (base, query, fragment) = split(url);
    let mut out = String::with_capacity(url.len() + 64);
    out.push_str(base);
    let mut separator = '?';
    let kept = pairs(query).filter(|pair| {
        !params
            .iter()
            .any(|(name, value)| value.is_some() && name_of(pair) == *name)
    });
    for pair in kept {
        out.push(separator);
        out.push_str(pair);
        separator = '&';
    }
    for (name, value) in params {
        if let Some(value) = value {
            out.push(separator);
            encode_into(&mut out, name);
            out.push('=');
            encode_into(&mut out, value);
            separator = '&';
        }
    }
    out.push_str(fragment);
    out
}

/// Returns `url` with the values of the named query parameters replaced, so it can appear in an
/// error or a log without leaking a credential.
pub fn redact(url: &str, secret_params: &[&str]) -> String {
    let (base, query, fragment) = split(url);
    if base.len() + fragment.len() == url.len() {
        // No query (a `?` inside the fragment is not one).
        return url.to_owned();
    }
    let mut out = String::with_capacity(url.len());
    out.push_str(base);
    let mut separator = '?';
    for pair in query.split('&') {
        out.push(separator);
        separator = '&';
        if secret_params.contains(&name_of(pair).as_str()) {
            out.push_str(pair.split('=').next().unwrap_or_default());
            out.push_str("=REDACTED");
        } else {
            out.push_str(pair);
        }
    }
    out.push_str(fragment);
    out
}

/// `url` as (everything before `?`, the query, `#` and the fragment).
fn split(url: &str) -> (&str, &str, &str) {
    // `split_once` rather than indexing: no panic path, whose formatting the download would carry.
    let (rest, fragment) = match url.split_once('#') {
        Some((rest, _)) => (rest, url.get(rest.len()..).unwrap_or_default()),
        None => (url, ""),
    };
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    (base, query, fragment)
}

fn pairs(query: &str) -> impl Iterator<Item = &str> {
    query.split('&').filter(|pair| !pair.is_empty())
}

/// Appends `s` percent-encoded: everything but RFC 3986's unreserved characters.
fn encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// A query pair's name, decoded (`%XX` and `+`) the way servers read it; malformed escapes
/// are kept literally, as browsers do.
fn name_of(pair: &str) -> String {
    let name = pair.split('=').next().unwrap_or_default().as_bytes();
    let mut out = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let escaped = match name.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match (escaped, name[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn query_params_are_set_replaced_and_encoded() {
        assert_eq!(
            with_query_params("http://h/s", &[("lastEventId", Some("7"))]),
            "http://h/s?lastEventId=7"
        );
        assert_eq!(
            with_query_params(
                "http://h/s?a=1&access_token=old&lastEventId=3#frag",
                &[("access_token", Some("new tok&=")), ("lastEventId", None)]
            ),
            "http://h/s?a=1&lastEventId=3&access_token=new%20tok%26%3D#frag"
        );
        assert_eq!(
            with_query_params("/s?x", &[("k", Some("{\"_data\":\"82\"}"))]),
            "/s?x&k=%7B%22_data%22%3A%2282%22%7D"
        );
        assert_eq!(with_query_params("/s?k=1", &[("k", None)]), "/s?k=1");
    }

    #[test]
    fn redaction_hides_only_the_named_params() {
        assert_eq!(
            redact(
                "https://h/s?a=1&access_token=eyJ.secret&b=2#x",
                &["access_token"]
            ),
            "https://h/s?a=1&access_token=REDACTED&b=2#x"
        );
        assert_eq!(
            redact("https://h/s?access%5Ftoken=eyJ", &["access_token"]),
            "https://h/s?access%5Ftoken=REDACTED",
            "an encoded name is still recognised"
        );
        assert_eq!(redact("https://h/s", &["access_token"]), "https://h/s");
        assert_eq!(
            redact("https://h/s#a?access_token=x", &["access_token"]),
            "https://h/s#a?access_token=x",
            "a ? in the fragment starts no query"
        );
    }

    #[test]
    fn names_are_decoded_and_malformed_escapes_kept() {
        assert_eq!(name_of("a%2=1"), "a%2");
        assert_eq!(name_of("%zz"), "%zz");
        assert_eq!(name_of("%41+b=c"), "A b");
        assert_eq!(name_of("%"), "%");
        assert_eq!(name_of(""), "");
    }
}
