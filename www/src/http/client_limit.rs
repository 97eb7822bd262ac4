//! The middleware that enforces the cap on the SSE responses one client address holds open at
//! once (`--max-sse-per-client`; the counts, and why there is a cap, are `sse::SseLimit`).
//!
//! The cap is enforced on the response rather than per route: any response that turns out to
//! be `text/event-stream` takes a slot, so every SSE route, present and future, is covered.
//! The slot is held by the response body and freed when hyper drops it, i.e. when the stream
//! ends or the client goes.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use crate::error::AppError;
use crate::sse::{client_key, Slot};
use crate::state::AppState;

/// Slots free up only as clients leave, which nothing here can predict; a few seconds keeps a
/// well-behaved client from hammering without leaving it waiting long.
pub const RETRY_AFTER_SECS: u64 = 5;

/// A response body that holds a slot until hyper drops it.
struct SlotBody {
    inner: Body,
    _slot: Slot,
}

impl hyper::body::Body for SlotBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// Middleware on every route: an SSE response takes a slot of its client's address, or is
/// dropped (which releases its subscriptions) and replaced by 429 when the client has none
/// left. Requests without a peer address (a router called directly, as in tests) are not
/// limited.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let response = next.run(req).await;
    let limit = &state.client_limit;
    let Some(peer) = peer.filter(|_| limit.max() > 0) else {
        return response;
    };
    if !is_event_stream(&response) {
        return response;
    }
    match limit.acquire(peer) {
        Ok(slot) => response.map(|inner| Body::new(SlotBody { inner, _slot: slot })),
        Err(refused) => {
            drop(response);
            if refused.first {
                tracing::warn!(
                    client = %client_key(peer),
                    limit = limit.max(),
                    "event streams refused: client at --max-sse-per-client (logged once \
                     until it closes one)"
                );
            }
            AppError::TooManyRequests {
                message: format!(
                    "too many open event streams from your address (at most {}); close one \
                     and retry",
                    limit.max()
                ),
                retry_after_secs: RETRY_AFTER_SECS,
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn the_router_refuses_a_stream_over_the_cap_and_admits_one_after_a_close() {
        use axum::http::StatusCode;
        use tower::ServiceExt;

        let mut config = crate::config::Config::for_tests();
        config.max_sse_per_client = 1;
        let state = AppState::new(config).unwrap();
        let router = crate::http::app(state.clone());
        let get = |path: &str, peer: Option<&str>| {
            let mut req = Request::get(path)
                .header(header::ACCEPT, "text/event-stream")
                .body(Body::empty())
                .unwrap();
            if let Some(peer) = peer {
                req.extensions_mut()
                    .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
            }
            router.clone().oneshot(req)
        };
        const STREAM: &str = "/shop/products/_streams/changes";
        let first = get(STREAM, Some("10.1.1.1:4000")).await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        // Another port, same address: the same client.
        let refused = get(STREAM, Some("10.1.1.1:4001")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "5");
        let body = axum::body::to_bytes(refused.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "too_many_requests");
        // The refused stream was dropped, not left counting.
        assert_eq!(state.clients.count(), 1);
        // Other clients, other routes, and calls with no peer are unaffected.
        let other = get(STREAM, Some("10.1.1.2:4000")).await.unwrap();
        assert_eq!(other.status(), StatusCode::OK);
        let health = get("/health", Some("10.1.1.1:4002")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        let direct = get(STREAM, None).await.unwrap();
        assert_eq!(direct.status(), StatusCode::OK);
        assert_eq!(state.client_limit.held(ip("10.1.1.1")), 1);
        drop(first);
        assert_eq!(state.client_limit.held(ip("10.1.1.1")), 0);
        let again = get(STREAM, Some("10.1.1.1:4003")).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        drop((other, direct, again));
        assert_eq!(state.client_limit.clients(), 0);
    }

    #[test]
    fn event_streams_are_recognised_with_parameters_and_any_case() {
        let with = |ct: &str| {
            let mut r = Response::new(Body::empty());
            r.headers_mut()
                .insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_event_stream(&r)
        };
        assert!(with("text/event-stream"));
        assert!(with("Text/Event-Stream; charset=utf-8"));
        assert!(!with("application/json"));
        assert!(!with("text/event-streams"));
        assert!(!is_event_stream(&Response::new(Body::empty())));
    }
}
