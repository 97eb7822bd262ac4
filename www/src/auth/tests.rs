//! Token verification under attack: forged algorithms, time claims, and arbitrary input.

use super::*;
use proptest::prelude::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A token with any header and claims, its signature an HMAC of `mac` over the secret: what
/// an attacker who knows (or guesses) the key material can produce for any `alg`.
fn forge(header: &str, claims: &str, mac: Algorithm) -> String {
    let message = format!(
        "{}.{}",
        base64_url(header.as_bytes()),
        base64_url(claims.as_bytes())
    );
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(SECRET), mac)
            .unwrap();
    format!("{message}.{signature}")
}

fn admin_claims(extra: &str) -> String {
    let now = unix_now();
    format!(
        r#"{{"sub":"x","role":"admin","iat":{now},"exp":{}{extra}}}"#,
        now + 3600
    )
}

fn refusal(keys: &Keys, token: &str) -> String {
    match keys.verify(token) {
        Err(AppError::Unauthorized(why)) => why,
        other => panic!("{token} was not refused: {other:?}"),
    }
}

#[test]
fn tokens_round_trip_and_expire() {
    let keys = Keys::new(SECRET);
    let t = keys.mint("ann", Role::Editor, 60).unwrap();
    assert_eq!(keys.verify(&t).unwrap().role, Role::Editor);
    let expired = keys.mint("ann", Role::Editor, -5).unwrap();
    assert_eq!(refusal(&keys, &expired), "token expired");
    let other = Keys::new(b"another-secret-another-secret!!!");
    assert_eq!(refusal(&other, &t), "token signature does not verify");
}

#[test]
fn the_forging_helper_makes_tokens_the_server_accepts() {
    // Guards the tests below: their tokens fail for the algorithm, not for a broken forge.
    let keys = Keys::new(SECRET);
    let token = forge(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &admin_claims(""),
        Algorithm::HS256,
    );
    assert_eq!(keys.verify(&token).unwrap().role, Role::Admin);
}

#[test]
fn alg_none_is_rejected() {
    let keys = Keys::new(SECRET);
    let header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    let body = base64_url(admin_claims("").as_bytes());
    assert!(keys.verify(&format!("{header}.{body}.")).is_err());
    assert!(keys.verify(&format!("{header}.{body}")).is_err());
}

#[test]
fn hs_rs_confusion_and_other_algorithms_are_rejected() {
    // The classic confusion: an RS/ES/PS header whose "signature" is an HMAC with key material
    // the attacker holds. Only HS256 is accepted, so each is refused for its algorithm.
    let keys = Keys::new(SECRET);
    for alg in ["RS256", "RS512", "PS256", "ES256", "EdDSA"] {
        let token = forge(
            &format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
            &admin_claims(""),
            Algorithm::HS256,
        );
        assert_eq!(
            refusal(&keys, &token),
            "token algorithm not accepted (HS256 only)",
            "{alg}"
        );
    }
    for (alg, mac) in [("HS384", Algorithm::HS384), ("HS512", Algorithm::HS512)] {
        let token = forge(
            &format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#),
            &admin_claims(""),
            mac,
        );
        assert_eq!(
            refusal(&keys, &token),
            "token algorithm not accepted (HS256 only)",
            "{alg}"
        );
    }
}

#[test]
fn not_yet_valid_tokens_are_refused_until_their_nbf() {
    let keys = Keys::new(SECRET);
    let later = unix_now() + 600;
    let early = forge(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &admin_claims(&format!(r#","nbf":{later}"#)),
        Algorithm::HS256,
    );
    assert_eq!(refusal(&keys, &early), "token not valid yet (nbf)");
    let now = forge(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &admin_claims(&format!(r#","nbf":{}"#, unix_now() - 1)),
        Algorithm::HS256,
    );
    assert!(keys.verify(&now).is_ok());
}

#[test]
fn missing_claims_and_unknown_roles_are_refused() {
    let keys = Keys::new(SECRET);
    let now = unix_now();
    for claims in [
        format!(r#"{{"role":"admin","iat":{now},"exp":{}}}"#, now + 60),
        format!(r#"{{"sub":"x","role":"admin","iat":{now}}}"#),
        format!(
            r#"{{"sub":"x","role":"root","iat":{now},"exp":{}}}"#,
            now + 60
        ),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":"later"}}"#),
    ] {
        let token = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &claims, Algorithm::HS256);
        assert!(keys.verify(&token).is_err(), "{claims}");
    }
}

fn hs256(claims: &str) -> String {
    forge(r#"{"alg":"HS256","typ":"JWT"}"#, claims, Algorithm::HS256)
}

#[test]
fn lifetimes_past_the_limit_are_refused_even_when_signed_by_us() {
    let keys = Keys::new(SECRET);
    let now = unix_now();
    let too_long =
        "token lifetime exceeds the server's limit of 24h (exp too far after now or iat)";
    for exp in [i64::MAX, now + 24 * 3600 + 60] {
        let token = hs256(&format!(
            r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp}}}"#
        ));
        assert_eq!(refusal(&keys, &token), too_long, "exp {exp}");
    }
    // Issued long ago for a long time, with little left: the lifetime is still too long.
    let old = hs256(&format!(
        r#"{{"sub":"x","role":"admin","iat":{},"exp":{}}}"#,
        now - 48 * 3600,
        now + 60
    ));
    assert_eq!(refusal(&keys, &old), too_long);
    // Exactly the limit is fine, and a server may set its own.
    let day = keys.mint("ann", Role::Viewer, 24 * 3600).unwrap();
    assert!(keys.verify(&day).is_ok());
    let strict = Keys::new(SECRET).with_max_ttl(Duration::from_secs(600));
    assert_eq!(
        refusal(&strict, &day),
        "token lifetime exceeds the server's limit of 10m (exp too far after now or iat)"
    );
    assert!(strict
        .verify(&keys.mint("ann", Role::Viewer, 600).unwrap())
        .is_ok());
}

#[test]
fn malformed_time_claims_are_refused() {
    let keys = Keys::new(SECRET);
    let now = unix_now();
    let exp = now + 60;
    let malformed = "token is malformed (claims: sub and role strings; iat, exp and nbf whole \
                     seconds since 1970)";
    for claims in [
        // jsonwebtoken alone would ignore each of these `nbf`s and accept the token.
        format!(
            r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp},"nbf":"{}"}}"#,
            now + 999
        ),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp},"nbf":"later"}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp},"nbf":null}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp},"nbf":-1}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp},"nbf":1.5}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp},"nbf":[1]}}"#),
        format!(
            r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp},"nbf":18446744073709551615}}"#
        ),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":"{exp}"}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":{exp}.5}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":-5}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":9223372036854775808}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":{now},"exp":1e300}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":"{now}","exp":{exp}}}"#),
        format!(r#"{{"sub":"x","role":"admin","iat":-1,"exp":{exp}}}"#),
        format!(r#"{{"sub":"x","role":"admin","exp":{exp}}}"#),
    ] {
        assert_eq!(refusal(&keys, &hs256(&claims)), malformed, "{claims}");
    }
}

#[test]
fn secrets_shorter_than_32_bytes_are_refused_from_file_and_environment() {
    // Only the file path here: the environment is process-wide and tests run in parallel,
    // so the variable's rule is covered against the real binary.
    let dir = tempfile::tempdir().unwrap();
    for short in ["", "x", "\n  \n", &"a".repeat(31)] {
        std::fs::write(dir.path().join(SECRET_FILE), short).unwrap();
        let err = load_secret(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("must hold at least 32 bytes"),
            "{short:?}: {err}"
        );
    }
    std::fs::write(
        dir.path().join(SECRET_FILE),
        format!("{}\n", "a".repeat(32)),
    )
    .unwrap();
    assert_eq!(
        load_secret(Some(dir.path())).unwrap(),
        "a".repeat(32).into_bytes()
    );
    // A generated one passes its own rule.
    let fresh = tempfile::tempdir().unwrap();
    let generated = load_secret(Some(fresh.path())).unwrap();
    assert_eq!(generated.len(), 64);
    assert_eq!(load_secret(Some(fresh.path())).unwrap(), generated);
}

#[test]
fn durations_are_quoted_in_flag_syntax() {
    assert_eq!(format_duration(24 * 3600), "24h");
    assert_eq!(format_duration(600), "10m");
    assert_eq!(format_duration(61), "61s");
    assert_eq!(format_duration(0), "0s");
}

proptest! {
    // `make soak` raises the count through PROPTEST_CASES.
    #![proptest_config(ProptestConfig::with_cases(2000.max(ProptestConfig::default().cases)))]

    #[test]
    fn arbitrary_strings_are_typed_refusals(s in "\\PC{0,200}") {
        prop_assert!(matches!(Keys::new(SECRET).verify(&s), Err(AppError::Unauthorized(_))));
    }

    #[test]
    fn arbitrary_three_part_tokens_are_typed_refusals(
        a in "[A-Za-z0-9_=-]{0,60}", b in "[A-Za-z0-9_=-]{0,80}", c in "[A-Za-z0-9_=-]{0,50}"
    ) {
        let token = format!("{a}.{b}.{c}");
        prop_assert!(matches!(Keys::new(SECRET).verify(&token), Err(AppError::Unauthorized(_))));
    }

    #[test]
    fn any_single_character_change_breaks_a_valid_token(at in any::<prop::sample::Index>(), with in "[A-Za-z0-9_-]") {
        let keys = Keys::new(SECRET);
        let token = keys.mint("ann", Role::Viewer, 60).unwrap();
        let i = at.index(token.len());
        let mut bytes = token.clone().into_bytes();
        bytes[i] = with.as_bytes()[0];
        let tampered = String::from_utf8(bytes).unwrap();
        // A change in the last character's unused low bits can decode to the same signature.
        prop_assume!(tampered != token && i != token.len() - 1);
        prop_assert!(keys.verify(&tampered).is_err(), "{} accepted", tampered);
    }
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
