//! Extractors whose rejections are `AppError`s, so malformed input gets our JSON error body.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::BODY_LIMIT;
use crate::error::AppError;

/// A JSON request body that must be an object.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match JsonValue::from_request(req, state).await?.0 {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(AppError::bad_request("the body must be a JSON object")),
        }
    }
}

/// Any JSON request body.
pub struct JsonValue(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        axum::Json::<Value>::from_request(req, state)
            .await
            .map(|j| Self(j.0))
            .map_err(|e: JsonRejection| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(format!(
                    "the body is over the {} byte limit",
                    BODY_LIMIT
                )),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(e.body_text()),
                _ => AppError::BadRequest(e.body_text()),
            })
    }
}

/// Query parameters; a malformed query is a 400 naming the problem (not echoing the query).
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| AppError::BadRequest(e.body_text()))
    }
}

/// The resume id: the `Last-Event-ID` header (sent by EventSource on reconnect) wins over the
/// `lastEventId` query parameter (used for the first connection of a resumed page). A header
/// that is not visible ASCII still counts as present, and is reported as malformed. Empty
/// means "no id", as browsers never send one.
pub fn resume_id(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let header = headers.get("last-event-id").map(|v| {
        v.to_str()
            .map(str::to_owned)
            .unwrap_or_else(|_| "\u{fffd}".into())
    });
    header
        .or_else(|| query.map(str::to_owned))
        .filter(|id| !id.is_empty())
}
