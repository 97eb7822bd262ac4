//! `GET /<page>/__events?topic=T` streams a patch topic's `event: patch` frames, resuming from
//! the topic's history; `POST /_publish/<topic>` validates the ops and broadcasts them. What a
//! topic keeps, and within which bounds, is said in `src/topics.rs`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::extract::{resume_id, JsonValue, Query};
use super::replay::{position_frame, reset_frame};
use crate::error::{AppError, AppResult};
use crate::sse::{self, ConnCut, SseOptions};
use crate::state::AppState;
use crate::store::resume_point;
use crate::topics::{normalize, Joined};

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
    let Joined {
        mut live,
        history,
        head,
        floor,
    } = state.topics.join(&topic, cut.map(|c| c.0))?;
    let frames = async_stream::stream! {
        let covered;
        if let Some(raw) = resume {
            let oldest = history.first().map_or(head, |p| p.seq - 1);
            match resume_point(&raw, floor, head, head - oldest) {
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
        // An event where CaravelaSvelte's plug sends a comment: scripts never see comments, so
        // only an event lets the client's stall watchdog see a live stream (`sse::heartbeat`).
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
