//! The response every SSE endpoint returns: `retry:` first, the endpoint's frames, keep-alives,
//! a farewell on shutdown, and a place in the count of open responses.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::retry_frame;

/// Number of open SSE responses, for `/ready`. Each response holds a guard; the count drops
/// when hyper drops the body, i.e. at the first failed write after the client left.
#[derive(Clone, Default)]
pub struct SseClients(Arc<AtomicUsize>);

impl SseClients {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn enter(&self) -> ClientGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        ClientGuard(self.0.clone())
    }
}

struct ClientGuard(Arc<AtomicUsize>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What wraps an endpoint's own frames.
pub struct SseOptions {
    /// Sent once, first.
    pub retry_ms: u64,
    /// Frame sent every interval (a comment, or a `heartbeat` event); `None` for silence.
    pub keepalive: Option<(Duration, Bytes)>,
    /// Sent when the server shuts down, before the stream closes.
    pub farewell: Option<Bytes>,
}

/// Turns `frames` into an SSE response. The stream ends when `frames` ends (the endpoint cut
/// the client off, e.g. for falling behind) or on shutdown, so no response outlives the
/// server's drain.
pub fn response<S>(
    frames: S,
    options: SseOptions,
    clients: &SseClients,
    shutdown: CancellationToken,
) -> Response
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let guard = clients.enter();
    let SseOptions {
        retry_ms,
        keepalive,
        farewell,
    } = options;
    let body = async_stream::stream! {
        let _guard = guard;
        // Polled on every frame, so it is this stream's own: the shared token's lock would be
        // taken (twice) per frame by every stream on the server.
        let stopping = shutdown.child_token().cancelled_owned();
        futures_util::pin_mut!(stopping);
        yield retry_frame(retry_ms);
        let frames = frames;
        futures_util::pin_mut!(frames);
        let (period, ping) = match keepalive {
            Some((period, ping)) => (Some(period), ping),
            None => (None, Bytes::new()),
        };
        // A week stands in for "never" so one `select!` serves both cases.
        let period = period.unwrap_or(Duration::from_secs(7 * 24 * 3600));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = &mut stopping => {
                    if let Some(farewell) = farewell {
                        yield farewell;
                    }
                    break;
                }
                next = frames.next() => match next {
                    Some(bytes) => yield bytes,
                    None => break,
                },
                _ = ticks.tick(), if !ping.is_empty() => yield ping.clone(),
            }
        }
    };
    let mut response = Body::from_stream(body.map(Ok::<_, Infallible>)).into_response();
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx: pass each frame through at once instead of buffering the response.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
