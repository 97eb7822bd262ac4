//! Access rules: which paths and methods need which role. Ordered, first match wins; rules
//! from `--access FILE` come before the defaults, so they can open or close any path.

use axum::http::Method;
use serde::Deserialize;

use crate::auth::Role;

/// Who may do something: anyone (`$unauthenticated`), or a role and everything above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    AtLeast(Role),
}

/// One rule. `prefix` is matched segment by segment (`*` matches any one segment), so
/// `/shop/products` covers `/shop/products/_streams/changes` but not `/shop/productsX`.
#[derive(Debug, Clone)]
pub struct Rule {
    prefix: String,
    /// `None` for every method; otherwise only these.
    methods: Option<Vec<Method>>,
    access: Access,
}

impl Rule {
    fn new(prefix: &str, methods: Option<&[Method]>, access: Access) -> Self {
        Self {
            prefix: prefix.to_owned(),
            methods: methods.map(<[Method]>::to_vec),
            access,
        }
    }
}

const READ: &[Method] = &[Method::GET, Method::HEAD];

/// Requests no rule covers need viewer to read and editor to write.
pub struct AccessRules(Vec<Rule>);

impl Default for AccessRules {
    fn default() -> Self {
        Self(vec![
            // Patch-topic streams; the topic prefix guards which topics exist.
            Rule::new("/*/__events", Some(READ), Access::Anyone),
            // The demo: catalog page and its change streams are public, as in the tutorial.
            Rule::new("/shop/products", Some(READ), Access::Anyone),
            Rule::new("/api/events", Some(READ), Access::AtLeast(Role::Viewer)),
            Rule::new("/_publish", None, Access::AtLeast(Role::Editor)),
        ])
    }
}

/// The file format: `[{"prefix": "/reports", "methods": ["GET"], "role": "$unauthenticated"}]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    prefix: String,
    methods: Option<Vec<String>>,
    role: String,
}

impl AccessRules {
    /// Parses a rules file and puts its rules before the defaults.
    pub fn with_file_rules(json: &str) -> Result<Self, String> {
        let specs: Vec<RuleSpec> =
            serde_json::from_str(json).map_err(|e| format!("access rules: {e}"))?;
        let mut rules = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            if !spec.prefix.starts_with('/') {
                return Err(format!("access rule {i}: prefix must start with '/'"));
            }
            let access = match spec.role.as_str() {
                "$unauthenticated" => Access::Anyone,
                role => Access::AtLeast(Role::parse(role).ok_or_else(|| {
                    format!(
                        "access rule {i}: role must be $unauthenticated, viewer, editor or admin"
                    )
                })?),
            };
            let methods = spec
                .methods
                .map(|ms| {
                    ms.iter()
                        .map(|m| match m.to_ascii_uppercase().as_str() {
                            "GET" => Ok(Method::GET),
                            "HEAD" => Ok(Method::HEAD),
                            "POST" => Ok(Method::POST),
                            "PUT" => Ok(Method::PUT),
                            "PATCH" => Ok(Method::PATCH),
                            "DELETE" => Ok(Method::DELETE),
                            other => Err(format!("access rule {i}: unknown method {other:?}")),
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            rules.push(Rule {
                prefix: spec.prefix,
                methods,
                access,
            });
        }
        rules.extend(Self::default().0);
        Ok(Self(rules))
    }

    pub fn required(&self, method: &Method, path: &str) -> Access {
        self.0
            .iter()
            .find(|r| {
                r.methods.as_ref().is_none_or(|m| m.contains(method))
                    && prefix_matches(&r.prefix, path)
            })
            .map(|r| r.access)
            .unwrap_or(if READ.contains(method) {
                Access::AtLeast(Role::Viewer)
            } else {
                Access::AtLeast(Role::Editor)
            })
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    let mut path = path.split('/').filter(|s| !s.is_empty());
    prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .all(|want| path.next().is_some_and(|got| want == "*" || want == got))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_match_by_segment() {
        let rules = AccessRules::default();
        assert_eq!(
            rules.required(&Method::GET, "/shop/products/_streams/changes"),
            Access::Anyone
        );
        assert_eq!(
            rules.required(&Method::GET, "/shop/productsX"),
            Access::AtLeast(Role::Viewer)
        );
        assert_eq!(
            rules.required(&Method::POST, "/shop/products"),
            Access::AtLeast(Role::Editor)
        );
        assert_eq!(
            rules.required(&Method::GET, "/dash/__events"),
            Access::Anyone
        );
        assert_eq!(
            rules.required(&Method::POST, "/_publish/dashboard:x"),
            Access::AtLeast(Role::Editor)
        );
    }

    #[test]
    fn file_rules_come_first() {
        let rules = AccessRules::with_file_rules(
            r#"[{"prefix": "/shop/products", "role": "admin"},
                {"prefix": "/reports", "methods": ["get"], "role": "$unauthenticated"}]"#,
        )
        .unwrap();
        assert_eq!(
            rules.required(&Method::GET, "/shop/products"),
            Access::AtLeast(Role::Admin)
        );
        assert_eq!(rules.required(&Method::GET, "/reports/q1"), Access::Anyone);
        assert_eq!(
            rules.required(&Method::POST, "/reports/q1"),
            Access::AtLeast(Role::Editor)
        );
    }

    #[test]
    fn bad_rule_files_are_explained() {
        for (json, needle) in [
            ("{", "access rules"),
            (r#"[{"prefix": "x", "role": "admin"}]"#, "start with '/'"),
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

    proptest! {
        #[test]
        fn prefix_matching_never_panics(prefix in "[/a-z*]{0,12}", path in "\\PC{0,24}") {
            let _ = prefix_matches(&prefix, &path);
        }

        #[test]
        fn a_path_matches_its_own_prefixes(segs in prop::collection::vec("[a-z]{1,5}", 1..5), cut in 0usize..5) {
            let path = format!("/{}", segs.join("/"));
            let prefix = format!("/{}", segs[..cut.min(segs.len())].join("/"));
            prop_assert!(prefix_matches(&prefix, &path));
        }
    }
}
