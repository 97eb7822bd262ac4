//! What a request carries and may do: its token, found where a browser can put one, and the
//! access rule for its path.

use axum::extract::Request;
use axum::http::header;

use super::access::Access;
use super::{AccessRules, CanonicalPath, Claims, Keys};
use crate::error::AppError;

/// Query parameter and cookie name that carry a token where headers cannot (EventSource).
const TOKEN_PARAM: &str = "access_token";

/// The token a request carries: `Authorization: Bearer`, else `?access_token=`, else the
/// `access_token` cookie.
fn token_from(req: &Request) -> Option<String> {
    let headers = req.headers();
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        {
            return Some(token.trim().to_owned());
        }
    }
    if let Some(query) = req.uri().query() {
        let found = form_pairs(query)
            .find(|(k, _)| k == TOKEN_PARAM)
            .map(|(_, v)| v);
        if found.is_some() {
            return found;
        }
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == TOKEN_PARAM)
        .map(|(_, v)| v.to_owned())
}

fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
}

/// The claims of the request's token (`None`: it carries none), once the access rule for its
/// path lets it through. A token that is present but invalid is 401 even on public paths, so
/// clients learn to refresh it; no token where the rule needs one is 401, too small a role 403.
pub fn authorize(
    keys: &Keys,
    rules: &AccessRules,
    req: &Request,
) -> Result<Option<Claims>, AppError> {
    let claims = match token_from(req) {
        Some(token) => Some(keys.verify(&token)?),
        None => None,
    };
    // The `canonicalize` middleware runs first on every route; computing it here as well keeps
    // this safe if it is ever mounted without that layer.
    let path = match req.extensions().get::<CanonicalPath>() {
        Some(path) => path.clone(),
        None => CanonicalPath::parse(req.uri().path()).map_err(AppError::BadRequest)?,
    };
    match (rules.required(req.method(), &path), &claims) {
        (Access::Anyone, _) => {}
        (Access::AtLeast(_), None) => {
            return Err(AppError::Unauthorized("authentication required".into()))
        }
        (Access::AtLeast(need), Some(c)) if c.role < need => {
            return Err(AppError::Forbidden(format!(
                "role {:?} may not {} {}; needs {:?} or above",
                c.role,
                req.method(),
                path,
                need
            )))
        }
        (Access::AtLeast(_), Some(_)) => {}
    }
    Ok(claims)
}
