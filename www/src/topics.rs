//! Patch topics: `GET /<page>/__events?topic=T` streams `event: patch` frames that
//! `POST /_publish/<topic>` broadcasts. In memory; a short history per topic allows resume.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::error::{AppError, AppResult};
use crate::extract::{resume_id, JsonValue, Query};
use crate::fanout::{ConnCut, Fanout};
use crate::ids::resume_point;
use crate::ops::normalize;
use crate::replay::{position_frame, reset_frame};
use crate::sse::{self, trusted_frame, SseOptions};
use crate::state::AppState;

pub const RETRY_MS: u64 = 3000;
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Patches kept per topic for resume.
const HISTORY: usize = 256;
/// Ring size per topic: how far a subscriber may fall behind before it is cut off.
const CHANNEL_CAPACITY: usize = 256;
/// Bound on distinct topics, since clients name them.
const MAX_TOPICS: usize = 10_000;

struct Patch {
    seq: u64,
    frame: Bytes,
}

struct Topic {
    tx: Fanout<Arc<Patch>>,
    last_seq: u64,
    history: VecDeque<Arc<Patch>>,
}

#[derive(Default)]
pub struct Topics(Mutex<HashMap<String, Topic>>);

impl Topics {
    fn with_topic<T>(&self, name: &str, f: impl FnOnce(&mut Topic) -> T) -> AppResult<T> {
        let mut topics = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !topics.contains_key(name) && topics.len() >= MAX_TOPICS {
            return Err(AppError::Unavailable {
                message: "too many topics".into(),
                retry_after_secs: 60,
            });
        }
        let topic = topics.entry(name.to_owned()).or_insert_with(|| Topic {
            tx: Fanout::new(CHANNEL_CAPACITY),
            last_seq: 0,
            history: VecDeque::new(),
        });
        Ok(f(topic))
    }

    /// Broadcasts already-validated compact ops; returns (id, receivers).
    fn publish(&self, name: &str, ops: &[Value]) -> AppResult<(u64, usize)> {
        self.with_topic(name, |t| {
            t.last_seq += 1;
            let data = Value::Array(ops.to_vec()).to_string();
            let patch = Arc::new(Patch {
                seq: t.last_seq,
                frame: trusted_frame("patch", Some(t.last_seq), &data),
            });
            if t.history.len() == HISTORY {
                t.history.pop_front();
            }
            t.history.push_back(patch.clone());
            (t.last_seq, t.tx.send(patch))
        })
    }
}

fn check_topic(state: &AppState, topic: &str) -> AppResult<()> {
    if topic.is_empty() || topic.len() > 256 || topic.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            "topic must be 1-256 characters without control characters",
        ));
    }
    if !topic.starts_with(&state.config.topic_prefix) {
        return Err(AppError::Forbidden(format!(
            "topics must start with {:?}",
            state.config.topic_prefix
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct TopicQuery {
    topic: Option<String>,
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

pub async fn subscribe(
    State(state): State<AppState>,
    Path(_page): Path<String>,
    Query(q): Query<TopicQuery>,
    headers: HeaderMap,
    cut: Option<Extension<ConnCut>>,
) -> AppResult<Response> {
    let topic = q
        .topic
        .ok_or_else(|| AppError::bad_request("missing ?topic="))?;
    check_topic(&state, &topic)?;
    let resume = resume_id(&headers, q.last_event_id.as_deref());
    // Subscribe and copy the history under one lock: nothing published in between is missed.
    let (mut live, history, head) = state.topics.with_topic(&topic, |t| {
        (
            t.tx.subscribe(cut.map(|c| c.0)),
            t.history.iter().cloned().collect::<Vec<_>>(),
            t.last_seq,
        )
    })?;
    let frames = async_stream::stream! {
        let covered;
        if let Some(raw) = resume {
            let oldest = history.first().map_or(head, |p| p.seq - 1);
            match resume_point(&raw, head, head - oldest) {
                Ok(start) => {
                    for patch in history.iter().filter(|p| p.seq > start) {
                        yield patch.frame.clone();
                    }
                    covered = head;
                }
                Err(why) => {
                    yield reset_frame(why, &raw, head);
                    covered = head;
                }
            }
        } else {
            // Where a fresh client starts, so a drop before its first patch loses nothing.
            yield position_frame(head);
            covered = head;
        }
        loop {
            match live.recv().await {
                Ok(patch) if patch.seq <= covered => {}
                Ok(patch) => yield patch.frame.clone(),
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => break,
            }
        }
    };
    let options = SseOptions {
        retry_ms: RETRY_MS,
        // A heartbeat event rather than the seed's comment (see `sse::heartbeat`).
        keepalive: Some((HEARTBEAT, sse::heartbeat())),
        farewell: None,
    };
    Ok(state.sse(frames, options))
}

pub async fn publish(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    JsonValue(body): JsonValue,
) -> AppResult<Response> {
    check_topic(&state, &topic)?;
    let ops = normalize(&body).map_err(AppError::BadRequest)?;
    let (id, receivers) = state.topics.publish(&topic, &ops)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "topic": topic, "id": id.to_string(), "receivers": receivers })),
    )
        .into_response())
}
