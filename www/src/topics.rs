//! Patch topics: `GET /<page>/__events?topic=T` streams `event: patch` frames that
//! `POST /_publish/<topic>` broadcasts. In memory; a short history per topic allows resume.
//!
//! Subscribers are anonymous by default and name topics freely, so what they create must go
//! with them: a topic nobody published to exists only while it has subscribers. Such topics
//! and published ones are bounded apart (10,000 each, see `LIMITS`), so subscribers never use
//! up the room editors' publishes need. A published topic keeps its numbering for the life
//! of the process (a resume id must never point at a different patch).
//!
//! A subscriber is cut off (and resumes) once it is more than 256 patches behind, or leaves
//! more than 8 MiB of them unread besides the newest: the topic's ring keeps whatever some
//! subscriber has not read, so one that stops reading would otherwise pin it all.
//!
//! Retention for resume, bounded in count and in bytes (of the SSE frames kept):
//! - per topic, the newest 256 patches within 1 MiB: its oldest go first;
//! - over all topics, 64 MiB: the topic keeping the most bytes gives up its oldest patches
//!   until the total fits, so one busy topic cannot push out the history of quiet ones;
//! - a patch over 1 MiB is broadcast but not kept, and the history before it is dropped
//!   too, since the history must reach the newest patch without a hole.
//!
//! A client whose resume id fell out of what is kept gets `event: reset` (`too-old`) with
//! the head to continue from, never a silent gap.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::error::{AppError, AppResult};
use crate::extract::{resume_id, JsonValue, Query};
use crate::fanout::ConnCut;
use crate::ids::resume_point;
use crate::ops::normalize;
use crate::replay::{position_frame, reset_frame};
use crate::sse::{self, SseOptions};
use crate::state::AppState;

mod registry;
pub use registry::{Limits, Topics, LIMITS};

pub const RETRY_MS: u64 = 3000;
pub const HEARTBEAT: Duration = Duration::from_secs(15);

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
    let registry::Joined {
        mut live,
        history,
        head,
    } = state.topics.join(&topic, cut.map(|c| c.0))?;
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
