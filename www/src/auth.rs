//! Who may do what. This file: tokens (HS256 JWTs, algorithm pinned), roles and the signing
//! secret. `access`: the access rules that map paths and methods to roles. `path`: the one
//! canonical form of a request path the rules match. `request`: the token a request carries,
//! and the decision for it.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{
    decode, encode, errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use crate::config::DEFAULT_MAX_TOKEN_TTL;
use crate::error::{AppError, AppResult};

mod access;
mod path;
mod request;
pub(crate) use access::AccessRules;
pub(crate) use path::CanonicalPath;
pub(crate) use request::authorize;

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
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "viewer" => Self::Viewer,
            "editor" => Self::Editor,
            "admin" => Self::Admin,
            _ => return None,
        })
    }
}

/// The time claims are parsed here, strictly, and not only by jsonwebtoken: its validation
/// skips an `nbf` it cannot read as a number (a string, say), so such a token would be valid
/// at once whatever its `nbf` meant. A string, a fraction, a negative number or one past
/// `i64` in any of them makes the token malformed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    pub role: Role,
    #[serde(deserialize_with = "numeric_date")]
    pub iat: i64,
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    #[serde(
        default,
        deserialize_with = "optional_numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<i64>,
}

/// RFC 7519's NumericDate, limited to whole seconds from 1970 on.
fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = i64::deserialize(d)?;
    if n < 0 {
        return Err(serde::de::Error::custom("a time claim is negative"));
    }
    Ok(n)
}

/// Absent is `None` (through `default`); present, even as `null`, it must be a NumericDate.
fn optional_numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    numeric_date(d).map(Some)
}

/// Name of the environment variable that overrides the generated secret.
const SECRET_ENV: &str = "LIVESOURCE_JWT_SECRET";
const SECRET_FILE: &str = "jwt-secret";
/// HS256 is only as strong as its key: RFC 7518 asks for at least the hash's 256 bits. A
/// generated secret is 64 hex digits.
const MIN_SECRET_BYTES: usize = 32;

pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    max_ttl_secs: i64,
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
            max_ttl_secs: ttl_secs(DEFAULT_MAX_TOKEN_TTL),
        }
    }

    /// The server's keys: signed with the secret `load_secret` finds for `dir`, refusing
    /// tokens that live longer than `max_ttl`.
    pub(crate) fn load(dir: Option<&Path>, max_ttl: Duration) -> AppResult<Self> {
        let secret =
            load_secret(dir).map_err(|e| AppError::internal(format!("signing secret: {e}")))?;
        Ok(Self::new(&secret).with_max_ttl(max_ttl))
    }

    /// Refuse tokens whose `exp` lies more than `max_ttl` after now or after their `iat`.
    fn with_max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl_secs = ttl_secs(max_ttl);
        self
    }

    /// A token for `sub` with `role`, valid for `ttl_secs` (negative: already expired).
    pub fn mint(&self, sub: &str, role: Role, ttl_secs: i64) -> Result<String, AppError> {
        let now = unix_now();
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            iat: now,
            exp: now.saturating_add(ttl_secs),
            nbf: None,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AppError::internal)
    }

    pub(crate) fn verify(&self, token: &str) -> Result<Claims, AppError> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                // The message names the failure, never the token.
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::ImmatureSignature => "token not valid yet (nbf)",
                    ErrorKind::InvalidSignature => "token signature does not verify",
                    ErrorKind::InvalidAlgorithm => "token algorithm not accepted (HS256 only)",
                    ErrorKind::Json(_) => {
                        "token is malformed (claims: sub and role strings; iat, exp and nbf \
                         whole seconds since 1970)"
                    }
                    _ => "token is malformed",
                };
                AppError::Unauthorized(why.into())
            })?;
        // The signature only proves who minted the token; a lifetime beyond the limit is
        // refused whoever did, so a leaked long-lived token is not a permanent key.
        let now = unix_now();
        if claims.exp.saturating_sub(now) > self.max_ttl_secs
            || claims.exp.saturating_sub(claims.iat) > self.max_ttl_secs
        {
            return Err(AppError::Unauthorized(format!(
                "token lifetime exceeds the server's limit of {} (exp too far after now or iat)",
                format_duration(self.max_ttl_secs)
            )));
        }
        Ok(claims)
    }
}

fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
}

/// Seconds in the units `parse_duration` reads, so a message quotes what a flag would take.
pub fn format_duration(secs: i64) -> String {
    match secs {
        s if s != 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s != 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
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
///
/// A secret that is too short is refused rather than used: with a 1-byte key anyone can forge
/// an admin token by trying all 256.
pub fn load_secret(dir: Option<&Path>) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = std::env::var_os(SECRET_ENV) {
        // Not `env::var`: it reports a non-UTF-8 value as unset, and the secret would then
        // silently come from elsewhere.
        let secret = secret
            .into_string()
            .map_err(|_| std::io::Error::other(format!("{SECRET_ENV} is not valid UTF-8")))?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(std::io::Error::other(format!(
                "{SECRET_ENV} must be at least {MIN_SECRET_BYTES} bytes, it has {} \
                 (e.g. `openssl rand -hex 32`)",
                secret.len()
            )));
        }
        return Ok(secret.into_bytes());
    }
    let Some(dir) = dir else {
        return Ok(random_secret()?.into_bytes());
    };
    let path = dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(secret) => {
            let secret = secret.trim();
            if secret.len() < MIN_SECRET_BYTES {
                return Err(std::io::Error::other(format!(
                    "{} must hold at least {MIN_SECRET_BYTES} bytes, it has {}; delete it to \
                     have a new one generated (tokens signed with the old one stop working)",
                    path.display(),
                    secret.len()
                )));
            }
            return Ok(secret.as_bytes().to_vec());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(dir)?;
    let secret = random_secret()?;
    write_private(&path, &secret)?;
    Ok(secret.into_bytes())
}

fn random_secret() -> std::io::Result<String> {
    random_hex(32).map_err(std::io::Error::other)
}

/// `bytes` random bytes from the OS, as hex: signing secrets, and `with`'s temporary names.
pub fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests;
