//! `GET /<db>/<coll>/_streams/<name>`: RESTHeart-style change streams over SSE.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::documents::check_name;
use super::extract::{resume_id, Query};
use super::replay::{replay_then_live, Feed, ReadFilter};
use crate::auth::Claims;
use crate::error::{AppError, AppResult};
use crate::sse::{self, ConnCut, SseOptions};
use crate::state::AppState;
use crate::store::Change;
use crate::streams::{parse_avars, Pipeline, StreamKey};

/// Reconnect hint for change streams.
pub const RETRY_MS: u64 = 1000;

#[derive(Deserialize)]
pub struct StreamQuery {
    avars: Option<String>,
    #[serde(rename = "lastEventId")]
    last_event_id: Option<String>,
}

/// The server-set variable a stream can filter on: the `sub` of the request's token.
const USER_ID: &str = "@user._id";

pub async fn stream(
    State(state): State<AppState>,
    Path((db, coll, name)): Path<(String, String, String)>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
    cut: Option<Extension<ConnCut>>,
    claims: Option<Extension<Claims>>,
) -> AppResult<Response> {
    check_name("database", &db)?;
    check_name("collection", &coll)?;
    check_name("stream", &name)?;
    let (d, c, n) = (db.clone(), coll.clone(), name.clone());
    let stages = state
        .blocking(move |s| s.stream_stages(&d, &c, &n))
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "no stream {name:?} on /{db}/{coll}; define it with PUT /{db}/{coll}"
            ))
        })?;
    // A definition stored by an earlier version may no longer parse (one that mixes `$match`
    // operators and fields, say): the client learns why and what to do, not a 500.
    let pipeline = Pipeline::parse(&stages).map_err(|e| {
        AppError::BadRequest(format!(
            "the stored definition of stream {name:?} is no longer valid ({e}); define it \
             again with PUT /{db}/{coll}"
        ))
    })?;
    let mut avars = parse_avars(q.avars.as_deref()).map_err(AppError::BadRequest)?;
    // As in RESTHeart, `@user.*` variables are the server's, from the request's token: a client
    // that could pass them would choose whose documents a stream shows.
    if let Some(name) = avars.keys().find(|k| k.starts_with('@')) {
        return Err(AppError::BadRequest(format!(
            "avars: {name:?} is set by the server from the request's token; do not pass it"
        )));
    }
    if let Some(Extension(claims)) = &claims {
        avars.insert(USER_ID.to_owned(), Value::String(claims.sub.clone()));
    }
    // Only the variables the pipeline reads: others change nothing it matches, and would
    // otherwise let any client mint a new stream per request.
    let avars = pipeline.used_avars(&avars);
    let pipeline = pipeline.bind(&avars).map_err(AppError::BadRequest)?;

    // serde_json's Map is sorted, so equal avars serialise equally and share a subscription.
    let key = StreamKey {
        db: db.clone(),
        coll: coll.clone(),
        name,
        avars: Value::Object(avars).to_string(),
        stages: stages.to_string(),
    };
    // Subscribe before the replay reads the log (see `replay`). The hub filters live changes
    // once for all clients of the stream; replayed ones are filtered here.
    let live = state
        .hub
        .subscribe(key, pipeline.clone(), cut.map(|c| c.0))?;
    let feed = Feed {
        coll: Some((db, coll)),
        filter: move |c: &Change| pipeline.matches(&c.event),
        render: |c: &Change| vec![change_frame(c)],
        reader: ReadFilter::new(&state, claims.as_deref()),
    };
    let resume = resume_id(&headers, q.last_event_id.as_deref());
    let frames = replay_then_live(state.clone(), feed, live, resume);
    let options = SseOptions {
        retry_ms: RETRY_MS,
        keepalive: Some((state.config.heartbeat, sse::heartbeat())),
        farewell: None,
    };
    Ok(state.sse(frames, options))
}

pub fn change_frame(change: &Change) -> Bytes {
    sse::trusted_frame("change", Some(change.seq), &change.data)
}
