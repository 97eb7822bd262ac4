//! The connect URL's query parameters: where the resume id and the token travel when the
//! transport cannot send headers, and how such a URL is shown without its secret.

/// Returns `url` with each `(name, value)` pair set as a query parameter: earlier values of the
/// same names are removed, `None` only removes. The fragment is kept.
pub fn with_query_params(url: &str, params: &[(&str, Option<&str>)]) -> String {
    let (without_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (base, query) = match without_fragment.find('?') {
        Some(i) => (&without_fragment[..i], &without_fragment[i + 1..]),
        None => (without_fragment, ""),
    };
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !params
                .iter()
                .any(|(name, _)| decode_component(key) == *name)
        })
        .map(str::to_owned)
        .collect();
    for (name, value) in params {
        if let Some(value) = value {
            pairs.push(format!(
                "{}={}",
                encode_component(name),
                encode_component(value)
            ));
        }
    }
    let mut out = String::with_capacity(url.len() + 64);
    out.push_str(base);
    if !pairs.is_empty() {
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out.push_str(fragment);
    out
}

/// Returns `url` with the values of the named query parameters replaced, so it can appear in an
/// error or a log without leaking a credential.
pub fn redact(url: &str, secret_params: &[&str]) -> String {
    let Some(q) = url.find('?') else {
        return url.to_owned();
    };
    let (base, rest) = url.split_at(q + 1);
    let (query, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            if secret_params.contains(&decode_component(key).as_str()) {
                format!("{key}=REDACTED")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    format!("{base}{}{fragment}", redacted.join("&"))
}

fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+`; malformed escapes are kept literally, as browsers do.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
            "http://h/s?a=1&access_token=new%20tok%26%3D#frag"
        );
        assert_eq!(
            with_query_params("/s?x", &[("k", Some("{\"_data\":\"82\"}"))]),
            "/s?x&k=%7B%22_data%22%3A%2282%22%7D"
        );
        assert_eq!(with_query_params("/s?k=1", &[("k", None)]), "/s");
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
    }

    #[test]
    fn decoding_tolerates_malformed_escapes() {
        assert_eq!(decode_component("a%2"), "a%2");
        assert_eq!(decode_component("%zz"), "%zz");
        assert_eq!(decode_component("%41+b"), "A b");
        assert_eq!(decode_component("%"), "%");
    }
}
