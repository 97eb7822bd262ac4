//! P5's peer: what a Rust user would write instead of livesource-dev for the same job — axum's
//! own `Sse` response fed by a `tokio::sync::broadcast` channel per topic, as in axum's `sse`
//! example — speaking the same two routes, so the same load generator drives both in one run:
//!
//! - `GET /<page>/__events?topic=T`: `event: heartbeat` with the topic's position as its id, then
//!   `event: patch` with `id: n` for each publish;
//! - `POST /_publish/<topic>`: broadcasts the body, answers 202 `{"receivers": n}`;
//! - `GET /ready`: `{"sseClients": n}`, the subscribers of every topic (the load generator checks
//!   its own count against the server's, as it does with livesource-dev).
//!
//! No auth, no resume history, no per-client bound beyond the channel's own lag: the baseline
//! is the plain thing, not a second livesource-dev.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Per-topic ring, as livesource-dev's.
const CAPACITY: usize = 256;

struct Topic {
    tx: broadcast::Sender<(u64, Arc<str>)>,
    last: u64,
}

#[derive(Clone, Default)]
struct Topics(Arc<Mutex<HashMap<String, Topic>>>);

impl Topics {
    fn with<T>(&self, name: &str, f: impl FnOnce(&mut Topic) -> T) -> T {
        let mut topics = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let topic = topics.entry(name.to_owned()).or_insert_with(|| Topic {
            tx: broadcast::channel(CAPACITY).0,
            last: 0,
        });
        f(topic)
    }
}

impl Topics {
    /// Open subscriptions over all topics: each SSE response holds one receiver until dropped.
    fn receivers(&self) -> usize {
        let topics = self.0.lock().unwrap_or_else(|e| e.into_inner());
        topics.values().map(|t| t.tx.receiver_count()).sum()
    }
}

async fn ready(State(topics): State<Topics>) -> Json<serde_json::Value> {
    Json(json!({ "sseClients": topics.receivers() }))
}

#[derive(Deserialize)]
struct Subscribe {
    topic: String,
}

async fn subscribe(
    State(topics): State<Topics>,
    Path(_page): Path<String>,
    Query(q): Query<Subscribe>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (rx, position) = topics.with(&q.topic, |t| (t.tx.subscribe(), t.last));
    let first = futures_util::stream::once(async move {
        Ok(Event::default()
            .event("heartbeat")
            .id(position.to_string())
            .data("{}"))
    });
    // A subscriber that lagged is dropped, as livesource-dev cuts one off.
    let patches = BroadcastStream::new(rx)
        .take_while(|r| std::future::ready(r.is_ok()))
        .filter_map(|r| async move {
            r.ok().map(|(n, data)| {
                Ok(Event::default()
                    .event("patch")
                    .id(n.to_string())
                    .data(&*data))
            })
        });
    Sse::new(first.chain(patches)).keep_alive(KeepAlive::default())
}

async fn publish(
    State(topics): State<Topics>,
    Path(topic): Path<String>,
    Json(ops): Json<serde_json::Value>,
) -> impl IntoResponse {
    let data: Arc<str> = ops.to_string().into();
    let receivers = topics.with(&topic, |t| {
        t.last += 1;
        t.tx.send((t.last, data)).unwrap_or(0)
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({ "receivers": receivers })),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let app = Router::new()
        .route("/{page}/__events", get(subscribe))
        .route("/_publish/{topic}", post(publish))
        .route("/ready", get(ready))
        .with_state(Topics::default());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
