//! Access rules: which paths and methods need which role. Ordered, first match wins; rules
//! from `--access FILE` come before the defaults, so they can open or close any path.

use axum::http::Method;
use serde::Deserialize;

use super::{CanonicalPath, Role};
use crate::error::{AppError, AppResult};

/// Who may do something: anyone (`$unauthenticated`), or a role and everything above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Anyone,
    AtLeast(Role),
}

/// One rule. `prefix` is matched segment by segment against the canonical (decoded) path (`*`
/// matches any one segment), so `/shop/products` covers `/shop/products/_streams/changes` and
/// `/shop/%70roducts`, but not `/shop/productsX`.
#[derive(Debug, Clone)]
pub struct Rule {
    prefix: Vec<String>,
    /// `None` for every method; otherwise only these.
    methods: Option<Vec<Method>>,
    access: Access,
}

impl Rule {
    fn new(prefix: &str, methods: Option<&[Method]>, access: Access) -> Self {
        Self {
            prefix: prefix
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            methods: methods.map(<[Method]>::to_vec),
            access,
        }
    }
}

/// Methods that only read. A rule that names `GET` covers all of them: `HEAD` tells whether a
/// document exists and its size, and `OPTIONS` is the same resource's metadata.
const READ: &[Method] = &[Method::GET, Method::HEAD, Method::OPTIONS];

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
    /// The server's rules: those of `--access FILE` (its contents) before the defaults.
    pub fn load(file: Option<&str>) -> AppResult<Self> {
        match file {
            Some(json) => Self::with_file_rules(json).map_err(AppError::BadRequest),
            None => Ok(Self::default()),
        }
    }

    /// Parses a rules file and puts its rules before the defaults.
    pub fn with_file_rules(json: &str) -> Result<Self, String> {
        let specs: Vec<RuleSpec> =
            serde_json::from_str(json).map_err(|e| format!("access rules: {e}"))?;
        let mut rules = Vec::with_capacity(specs.len());
        for (i, spec) in specs.into_iter().enumerate() {
            if !spec.prefix.starts_with('/') {
                return Err(format!("access rule {i}: prefix must start with '/'"));
            }
            // Written as a path: decoded the way request paths are, so both compare equal.
            let prefix = CanonicalPath::parse(&spec.prefix)
                .map_err(|e| format!("access rule {i}: prefix: {e}"))?
                .segments()
                .map(str::to_owned)
                .collect();
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
                            "GET" => Ok(READ.to_vec()),
                            "HEAD" => Ok(vec![Method::HEAD]),
                            "POST" => Ok(vec![Method::POST]),
                            "PUT" => Ok(vec![Method::PUT]),
                            "PATCH" => Ok(vec![Method::PATCH]),
                            "DELETE" => Ok(vec![Method::DELETE]),
                            other => Err(format!("access rule {i}: unknown method {other:?}")),
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(|sets| sets.concat())
                })
                .transpose()?;
            rules.push(Rule {
                prefix,
                methods,
                access,
            });
        }
        rules.extend(Self::default().0);
        Ok(Self(rules))
    }

    pub fn required(&self, method: &Method, path: &CanonicalPath) -> Access {
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

impl AccessRules {
    /// Whether `role` (`None`: no token) may do `method` on `path`.
    pub fn allows(&self, role: Option<Role>, method: &Method, path: &CanonicalPath) -> bool {
        match self.required(method, path) {
            Access::Anyone => true,
            Access::AtLeast(need) => role.is_some_and(|r| r >= need),
        }
    }

    /// Whether some rule names a path below `/<db>/<coll>`, so two documents of one collection
    /// can be decided differently.
    pub fn reaches_documents(&self) -> bool {
        self.0.iter().any(|r| r.prefix.len() > 2)
    }
}

fn prefix_matches(prefix: &[String], path: &CanonicalPath) -> bool {
    let mut path = path.segments();
    prefix
        .iter()
        .all(|want| path.next().is_some_and(|got| want == "*" || want == got))
}

#[cfg(test)]
mod tests;
