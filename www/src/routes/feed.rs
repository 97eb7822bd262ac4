//! `GET /api/events`: the typed activity feed over every collection, in the shape of silo's
//! `/api/events` (a Go server's feed), so a client written against one works against the other.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::extract::{resume_id, Query};
use super::replay::{replay_then_live, Feed, ReadFilter};
use crate::auth::Claims;
use crate::error::AppResult;
use crate::sse::{self, trusted_frame, ConnCut, SseOptions};
use crate::state::AppState;
use crate::store::{Change, Operation};

pub const RETRY_MS: u64 = 1000;

#[derive(Deserialize)]
pub struct FeedQuery {
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

pub async fn events(
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
    headers: HeaderMap,
    cut: Option<Extension<ConnCut>>,
    claims: Option<Extension<Claims>>,
) -> AppResult<Response> {
    let live = state.store.subscribe(cut.map(|c| c.0));
    let feed = Feed {
        coll: None,
        filter: |_: &Change| true,
        render: feed_frames,
        // The feed spans every collection: each change is shown only to those who may read
        // its document.
        reader: ReadFilter::new(&state, claims.as_deref()),
    };
    let resume = resume_id(&headers, q.last_event_id.as_deref());
    let replayed = replay_then_live(state.clone(), feed, live, resume);
    // The first frame tells a (re)connecting client the server's mode.
    let hello = futures_util::stream::once(async { server_state("normal") });
    let frames = futures_util::StreamExt::chain(hello, replayed);
    let options = SseOptions {
        retry_ms: RETRY_MS,
        keepalive: Some((state.config.heartbeat, sse::heartbeat())),
        farewell: Some(server_state("draining")),
    };
    Ok(state.sse(frames, options))
}

pub fn server_state(mode: &str) -> Bytes {
    trusted_frame("server.state", None, &json!({ "mode": mode }).to_string())
}

/// One change as feed events. Only the last frame of a change carries the id, so a client
/// that disconnects between the two frames of an update resumes before it and sees both.
pub fn feed_frames(c: &Change) -> Vec<Bytes> {
    let item = |extra: serde_json::Value| {
        let mut v = json!({ "id": c.doc_id, "db": c.db, "coll": c.coll });
        if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
            obj.extend(extra);
        }
        v.to_string()
    };
    match c.op {
        Operation::Insert => {
            let doc = c.event.get("fullDocument").cloned().unwrap_or_default();
            vec![trusted_frame(
                "item.created",
                Some(c.seq),
                &item(json!({ "revision": c.revision, "document": doc })),
            )]
        }
        Operation::Update | Operation::Replace => vec![
            trusted_frame(
                "item.updated",
                None,
                &item(json!({ "revision": c.revision, "operationType": c.op.as_str() })),
            ),
            trusted_frame(
                "revision.created",
                Some(c.seq),
                &item(json!({ "revision_number": c.revision })),
            ),
        ],
        Operation::Delete => vec![trusted_frame("item.deleted", Some(c.seq), &item(json!({})))],
    }
}
