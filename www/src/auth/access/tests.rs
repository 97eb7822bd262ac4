use super::*;
use proptest::prelude::*;

fn required(rules: &AccessRules, method: Method, raw: &str) -> Access {
    rules.required(&method, &CanonicalPath::parse(raw).unwrap())
}

fn hr_rules() -> AccessRules {
    AccessRules::with_file_rules(
        r#"[{"prefix": "/hr/salaries", "role": "admin"},
            {"prefix": "/pub", "methods": ["GET"], "role": "$unauthenticated"}]"#,
    )
    .unwrap()
}

#[test]
fn defaults_match_by_segment() {
    let rules = AccessRules::default();
    let cases = [
        (
            Method::GET,
            "/shop/products/_streams/changes",
            Access::Anyone,
        ),
        (
            Method::GET,
            "/shop/productsX",
            Access::AtLeast(Role::Viewer),
        ),
        (
            Method::POST,
            "/shop/products",
            Access::AtLeast(Role::Editor),
        ),
        (Method::GET, "/dash/__events", Access::Anyone),
        (
            Method::POST,
            "/_publish/dashboard:x",
            Access::AtLeast(Role::Editor),
        ),
        (
            Method::OPTIONS,
            "/hr/salaries",
            Access::AtLeast(Role::Viewer),
        ),
    ];
    for (method, path, want) in cases {
        assert_eq!(
            required(&rules, method.clone(), path),
            want,
            "{method} {path}"
        );
    }
}

#[test]
fn file_rules_come_first() {
    let rules = AccessRules::with_file_rules(
        r#"[{"prefix": "/shop/products", "role": "admin"},
            {"prefix": "/reports", "methods": ["get"], "role": "$unauthenticated"}]"#,
    )
    .unwrap();
    assert_eq!(
        required(&rules, Method::GET, "/shop/products"),
        Access::AtLeast(Role::Admin)
    );
    assert_eq!(required(&rules, Method::GET, "/reports/q1"), Access::Anyone);
    assert_eq!(
        required(&rules, Method::POST, "/reports/q1"),
        Access::AtLeast(Role::Editor)
    );
}

/// The attack from the security review: every spelling of a protected path gets its rule.
#[test]
fn encoded_spellings_reach_the_same_rule() {
    let rules = hr_rules();
    for raw in [
        "/hr/salaries",
        "/hr/%73alaries",
        "/%68r/salaries/alice",
        "/hr/salaries/",
        "/%68%72/%73%61%6C%61%72%69%65%73",
    ] {
        for method in [Method::GET, Method::HEAD, Method::PATCH, Method::PUT] {
            assert_eq!(
                required(&rules, method.clone(), raw),
                Access::AtLeast(Role::Admin),
                "{method} {raw}"
            );
        }
    }
}

/// A rule that lists only `GET` covers `HEAD` (which reveals existence and size) and `OPTIONS`.
#[test]
fn get_rules_cover_head_and_options() {
    let rules =
        AccessRules::with_file_rules(r#"[{"prefix": "/hr", "methods": ["GET"], "role": "admin"}]"#)
            .unwrap();
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        assert_eq!(
            required(&rules, method, "/hr/x"),
            Access::AtLeast(Role::Admin)
        );
    }
}

#[test]
fn bad_rule_files_are_explained() {
    for (json, needle) in [
        ("{", "access rules"),
        (r#"[{"prefix": "x", "role": "admin"}]"#, "start with '/'"),
        (r#"[{"prefix": "/x//y", "role": "admin"}]"#, "empty segment"),
        (
            r#"[{"prefix": "/x/%zz", "role": "admin"}]"#,
            "percent-escape",
        ),
        (r#"[{"prefix": "/x", "role": "root"}]"#, "role must be"),
        (
            r#"[{"prefix": "/x", "role": "admin", "methods": ["FETCH"]}]"#,
            "unknown method",
        ),
        (
            r#"[{"prefix": "/x", "role": "admin", "extra": 1}]"#,
            "unknown field",
        ),
    ] {
        let err = AccessRules::with_file_rules(json).err().unwrap();
        assert!(err.contains(needle), "{err} should mention {needle}");
    }
}

/// Writes `segment` with each byte either as itself or as a percent-escape in either hex case.
fn spell(segment: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in segment.bytes().enumerate() {
        let choice = choices[i % choices.len()];
        // '/' and '%' and non-ASCII bytes must be escaped to stay inside the segment.
        let must = b == b'/' || b == b'%' || !b.is_ascii();
        match (must, choice % 3) {
            (false, 0) => out.push(b as char),
            (_, 1) => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

proptest! {
    #[test]
    fn prefix_matching_never_panics(prefix in "[/a-z*]{0,12}", path in "\\PC{0,24}") {
        if let Ok(path) = CanonicalPath::parse(&path) {
            let rule = Rule::new(&prefix, None, Access::Anyone);
            let _ = prefix_matches(&rule.prefix, &path);
        }
    }

    #[test]
    fn a_path_matches_its_own_prefixes(segs in prop::collection::vec("[a-z]{1,5}", 1..5), cut in 0usize..5) {
        let path = CanonicalPath::parse(&format!("/{}", segs.join("/"))).unwrap();
        let rule = Rule::new(&format!("/{}", segs[..cut.min(segs.len())].join("/")), None, Access::Anyone);
        prop_assert!(prefix_matches(&rule.prefix, &path));
    }

    /// For any path and any way of encoding it, the rule decision on the raw request equals
    /// the decision on its canonical form, and the canonical form is what the router decodes.
    #[test]
    fn the_decision_on_any_spelling_is_the_decision_on_the_canonical_path(
        segs in prop::collection::vec(
            prop::sample::select(vec!["hr", "salaries", "alice", "pub", "x", "a/b", "é", "%", "sal aries"]),
            0..5,
        ),
        choices in prop::collection::vec(any::<u8>(), 1..16),
        trailing in any::<bool>(),
        method in prop::sample::select(vec![Method::GET, Method::HEAD, Method::OPTIONS, Method::POST, Method::PATCH]),
    ) {
        let rules = hr_rules();
        let canonical = CanonicalPath::from_segments(segs.iter().map(|s| s.to_string()).collect());
        let mut raw: String = segs.iter().map(|s| format!("/{}", spell(s, &choices))).collect();
        if raw.is_empty() || trailing {
            raw.push('/');
        }
        let parsed = CanonicalPath::parse(&raw);
        prop_assert_eq!(parsed.as_ref(), Ok(&canonical), "{}", raw);
        prop_assert_eq!(rules.required(&method, &parsed.unwrap()), rules.required(&method, &canonical));
    }
}
