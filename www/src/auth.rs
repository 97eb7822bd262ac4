//! Tokens (HS256 JWTs, algorithm pinned), roles, and the access rules that map paths to roles.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use crate::access::Access;
use crate::error::AppError;
use crate::state::AppState;

/// Roles are ordered: each one may do everything the ones below it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "viewer" => Self::Viewer,
            "editor" => Self::Editor,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

/// Name of the environment variable that overrides the generated secret.
pub const SECRET_ENV: &str = "LIVESOURCE_JWT_SECRET";
const SECRET_FILE: &str = "jwt-secret";
/// Query parameter and cookie name that carry a token where headers cannot (EventSource).
pub const TOKEN_PARAM: &str = "access_token";

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        // `Validation::new` pins the accepted algorithms to exactly HS256, so `alg: none` and
        // algorithm-confusion tokens fail. No leeway: an expired token is expired.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // Off by default in jsonwebtoken: a token with a future `nbf` must not work yet.
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token for `sub` with `role`, valid for `ttl_secs` (negative: already expired).
    pub fn mint(&self, sub: &str, role: Role, ttl_secs: i64) -> Result<String, AppError> {
        let now = unix_now();
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            iat: now,
            exp: now.saturating_add(ttl_secs),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AppError::internal)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, AppError> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                // The message names the failure, never the token.
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::ImmatureSignature => "token not valid yet (nbf)",
                    ErrorKind::InvalidSignature => "token signature does not verify",
                    ErrorKind::InvalidAlgorithm => "token algorithm not accepted (HS256 only)",
                    _ => "token is malformed",
                };
                AppError::Unauthorized(why.into())
            })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The signing secret: `$LIVESOURCE_JWT_SECRET`, else `<dir>/jwt-secret` (generated on first
/// use, readable by the owner only), else — in memory mode — a fresh per-process secret.
pub fn load_secret(dir: Option<&Path>) -> std::io::Result<Vec<u8>> {
    if let Ok(secret) = std::env::var(SECRET_ENV) {
        if secret.len() < 16 {
            return Err(std::io::Error::other(format!(
                "{SECRET_ENV} must be at least 16 bytes"
            )));
        }
        return Ok(secret.into_bytes());
    }
    let Some(dir) = dir else {
        return Ok(random_secret()?.into_bytes());
    };
    let path = dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().as_bytes().to_vec()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)?;
    let secret = random_secret()?;
    write_private(&path, &secret)?;
    Ok(secret.into_bytes())
}

fn random_secret() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// The token a request carries: `Authorization: Bearer`, else `?access_token=`, else the
/// `access_token` cookie.
pub fn token_from(req: &Request) -> Option<String> {
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

/// Middleware: verifies the token if one is present (a bad token is 401 even on public paths,
/// so clients learn to refresh it), then enforces the access rule for the path.
pub async fn authorize(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let claims = match token_from(&req) {
        Some(token) => Some(state.keys.verify(&token)?),
        None => None,
    };
    match (
        state.rules.required(req.method(), req.uri().path()),
        &claims,
    ) {
        (Access::Anyone, _) => {}
        (Access::AtLeast(_), None) => {
            return Err(AppError::Unauthorized("authentication required".into()))
        }
        (Access::AtLeast(need), Some(c)) if c.role < need => {
            return Err(AppError::Forbidden(format!(
                "role {:?} may not {} {}; needs {:?} or above",
                c.role,
                req.method(),
                req.uri().path(),
                need
            )))
        }
        (Access::AtLeast(_), Some(_)) => {}
    }
    if let Some(claims) = claims {
        req.extensions_mut().insert(claims);
    }
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests;
