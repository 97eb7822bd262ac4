//! The router in-process through `tower::ServiceExt::oneshot`: requests with typed replies.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use livesource_dev::auth::Role;
use livesource_dev::{app, AppState, Config};
use serde_json::Value;
use tower::ServiceExt;

pub struct Api {
    pub state: AppState,
    pub router: Router,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The JSON body less its `_etag`, after checking the tag is an ObjectId and is what the
    /// `ETag` header says (every document answer carries both, as RESTHeart's do).
    pub fn doc(&self) -> Value {
        let mut v = self.json();
        let tag = v
            .as_object_mut()
            .and_then(|d| d.remove("_etag"))
            .unwrap_or_else(|| panic!("no _etag: {}", self.body));
        let hex = tag["$oid"]
            .as_str()
            .unwrap_or_else(|| panic!("_etag {tag}"));
        assert_eq!(self.headers["etag"], hex, "{}", self.body);
        v
    }

    /// Every error has the same shape.
    pub fn error_kind(&self) -> String {
        let v = self.json();
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v["error"].as_str().unwrap().to_owned()
    }

    /// That this is the error `status` with the JSON body of kind `kind` (`what` says which
    /// request, for a failure's message).
    pub fn assert_error(&self, status: StatusCode, kind: &str, what: impl std::fmt::Display) {
        assert_eq!(
            (self.status, self.error_kind().as_str()),
            (status, kind),
            "{what}: {}",
            self.body
        );
    }
}

impl Api {
    pub fn new() -> Self {
        Self::with(Config::for_tests())
    }

    pub fn with(config: Config) -> Self {
        let state = AppState::new(config).unwrap();
        Self {
            router: app(state.clone()),
            state,
        }
    }

    pub fn token(&self, role: Role) -> String {
        self.state.keys.mint("tester", role, 60).unwrap()
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        match body {
            Some(v) => {
                let mut headers = headers.to_vec();
                headers.push(("content-type", "application/json"));
                self.call_raw(method, uri, &headers, Body::from(v.to_string()))
                    .await
            }
            None => self.call_raw(method, uri, headers, Body::empty()).await,
        }
    }

    /// A request with exactly these headers and this body.
    pub async fn call_raw(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    /// Status and headers only, for responses that never end (SSE).
    pub async fn open(&self, uri: &str) -> (StatusCode, HeaderMap) {
        let req = Request::builder()
            .uri(uri)
            .header("accept", "text/event-stream")
            .body(Body::empty())
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        (res.status(), res.headers().clone())
    }

    pub async fn as_role(&self, role: Role, method: &str, uri: &str, body: Option<Value>) -> Reply {
        let auth = format!("Bearer {}", self.token(role));
        self.call(method, uri, &[("authorization", &auth)], body)
            .await
    }
}
