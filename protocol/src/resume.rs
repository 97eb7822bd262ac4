//! Event ids as resume positions: the canonical decimal form (`0`, or digits without a leading
//! zero; no sign, no space), so that each number has exactly one spelling and an id can be
//! compared as a number.
//!
//! Two readers, deliberately different, side by side:
//!
//! - [`decimal_u64`]: any `u64`. The server's event-log sequence numbers, sent as ids and
//!   accepted back in `Last-Event-ID` / `?lastEventId=`.
//! - [`decimal_js`]: at most [`JS_SAFE_DIGITS`] digits, so the number converts exactly to and
//!   from a JavaScript number. The library keeps such ids as numbers (and passes them across
//!   the wasm boundary as numbers); longer ones stay text, which is still correct, only slower.
//!   `src/io.js` has the same rule in JavaScript.

/// The most digits [`decimal_js`] accepts: every 15-digit number is below 2^53, so it is exact
/// as a JavaScript number. Used by the library.
pub const JS_SAFE_DIGITS: usize = 15;

const _: () = assert!(10u64.pow(JS_SAFE_DIGITS as u32) <= 1 << 53);

/// `id` as a number if it is the canonical decimal of a `u64`, else `None` (empty, a sign,
/// spaces, a leading zero, a non-digit, or over `u64::MAX`).
///
/// Used by the server to parse resume ids (its `parse_event_id`).
pub fn decimal_u64(id: &str) -> Option<u64> {
    // u64::MAX has 20 digits.
    canonical(id, 20)?.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `id` as a number if it is a canonical decimal of at most [`JS_SAFE_DIGITS`] digits, so it
/// converts exactly to and from a JavaScript number; else `None`.
///
/// Used by the library's resume window (`src/policy/resume.rs`), which keeps such ids as
/// numbers.
pub fn decimal_js(id: &str) -> Option<u64> {
    Some(
        canonical(id, JS_SAFE_DIGITS)?
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')),
    )
}

/// The digits of `id` if it is canonical and at most `max_digits` long.
fn canonical(id: &str, max_digits: usize) -> Option<&[u8]> {
    let digits = id.as_bytes();
    let canonical = !digits.is_empty()
        && digits.len() <= max_digits
        && digits.iter().all(u8::is_ascii_digit)
        && (digits.len() == 1 || digits[0] != b'0');
    canonical.then_some(digits)
}

/// `n` in canonical decimal, as text (see `push_decimal`).
pub fn decimal_string(n: u64) -> String {
    let mut out = String::new();
    push_decimal(&mut out, n);
    out
}

/// Appends `n` in canonical decimal, without the formatting machinery (which would add to the
/// library's wasm). Used by the library to turn a numeric id back into text.
pub fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn server_ids_are_canonical_decimal_u64() {
        // Moved from the server's `store::ids` tests.
        assert_eq!(decimal_u64("0"), Some(0));
        assert_eq!(decimal_u64("42"), Some(42));
        assert_eq!(decimal_u64(&u64::MAX.to_string()), Some(u64::MAX));
        for bad in [
            "",
            "042",
            "+1",
            "-1",
            " 1",
            "1 ",
            "0x10",
            "1e3",
            "99999999999999999999999",
            "18446744073709551616",
        ] {
            assert_eq!(decimal_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn library_ids_are_canonical_decimal_exact_in_js() {
        // Moved from the library's `resume` tests.
        assert_eq!(decimal_js("0"), Some(0));
        assert_eq!(decimal_js("123456789012345"), Some(123_456_789_012_345));
        assert_eq!(decimal_js("999999999999999"), Some(999_999_999_999_999));
        for not in ["", "01", "+1", "1e3", "-1", "1234567890123456", "a1", "٣"] {
            assert_eq!(decimal_js(not), None, "{not}");
        }
    }

    #[test]
    fn decimals_are_written_canonically() {
        let mut s = String::from("x");
        push_decimal(&mut s, 0);
        push_decimal(&mut s, u64::MAX);
        assert_eq!(s, format!("x0{}", u64::MAX));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_roundtrips(s in "\\PC{0,30}") {
            if let Some(n) = decimal_u64(&s) {
                prop_assert_eq!(n.to_string(), s.clone());
            }
            if let Some(n) = decimal_js(&s) {
                prop_assert_eq!(n.to_string(), s.clone());
                prop_assert_eq!(decimal_u64(&s), Some(n), "the js form is a subset");
            }
        }

        #[test]
        fn every_u64_roundtrips(n in any::<u64>()) {
            let mut text = String::new();
            push_decimal(&mut text, n);
            prop_assert_eq!(&text, &n.to_string());
            prop_assert_eq!(decimal_u64(&text), Some(n));
            prop_assert_eq!(decimal_js(&text), (text.len() <= JS_SAFE_DIGITS).then_some(n));
        }

        #[test]
        fn digit_strings_roundtrip(s in "[0-9]{1,25}") {
            let canonical = s == "0" || !s.starts_with('0');
            let fits = canonical && s.len() <= 20 && s.parse::<u64>().is_ok();
            prop_assert_eq!(decimal_u64(&s), fits.then(|| s.parse().unwrap()));
        }
    }
}
