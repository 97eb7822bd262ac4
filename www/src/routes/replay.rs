//! Replay-then-live: the core of lossless resume, shared by change streams and the typed feed.
//!
//! The caller subscribes to live changes *before* this reads the log. Every change committed
//! before the subscription is in the log; every one committed after reaches the receiver; a
//! change in both is dropped by sequence number. So the switch has no gap and no duplicate.
//!
//! A client's id moves with what it is sent; where a stream drops most of the log, position
//! heartbeats keep it inside the replay window (see `Subscription::position`).

use std::collections::HashMap;

use axum::http::Method;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{CanonicalPath, Claims, Role};
use crate::sse::{trusted_frame, Subscription};
use crate::state::AppState;
use crate::store::{resume_point, Change, Live, Logged, ReplayBatch, ResumeError};

/// What one replay query may read: a resumer that never reads holds at most this much of the
/// log in memory, however large its documents are.
const REPLAY_BATCH: ReplayBatch = ReplayBatch {
    max_events: 500,
    max_bytes: 1024 * 1024,
};

/// What one stream selects and how it renders a change into frames.
pub struct Feed<F, R> {
    /// Restricts the log read to one collection (`None`: all).
    pub coll: Option<(String, String)>,
    /// Applied to replayed changes; the live receiver must already carry only matching ones
    /// (the hub filters once per stream, not once per client).
    pub filter: F,
    pub render: R,
    /// Which documents this client may see, applied to replayed and live changes alike.
    pub reader: ReadFilter,
}

/// The access rules applied to each document a stream carries, as `GET` on the document's own
/// path would apply them: `/api/events` spans every collection, and a rule may protect one
/// collection or one document. Decided once per collection unless some rule reaches below the
/// collection level.
pub struct ReadFilter {
    state: AppState,
    role: Option<Role>,
    per_document: bool,
    decided: HashMap<String, HashMap<String, bool>>,
}

impl ReadFilter {
    pub fn new(state: &AppState, claims: Option<&Claims>) -> Self {
        Self {
            state: state.clone(),
            role: claims.map(|c| c.role),
            per_document: state.rules.reaches_documents(),
            decided: HashMap::new(),
        }
    }

    pub fn may_read(&mut self, db: &str, coll: &str, doc_id: &str) -> bool {
        let decide = |doc_id: &str| {
            let path = CanonicalPath::document(db, coll, doc_id);
            self.state.rules.allows(self.role, &Method::GET, &path)
        };
        if self.per_document {
            return decide(doc_id);
        }
        if let Some(&known) = self.decided.get(db).and_then(|c| c.get(coll)) {
            return known;
        }
        let allowed = decide(doc_id);
        self.decided
            .entry(db.to_owned())
            .or_default()
            .insert(coll.to_owned(), allowed);
        allowed
    }
}

/// Frames for `resume` (a raw `Last-Event-ID`, if any), then live frames from `live` until it
/// closes or lags (the client fell behind its bounded buffer: it is cut off and resumes).
pub fn replay_then_live<T, F, R>(
    state: AppState,
    feed: Feed<F, R>,
    mut live: Subscription<T>,
    resume: Option<String>,
) -> impl Stream<Item = Bytes> + Send + 'static
where
    T: Into<Live> + Clone + Send + 'static,
    F: Fn(&Change) -> bool + Send + 'static,
    R: Fn(&Change) -> Vec<Bytes> + Send + 'static,
{
    async_stream::stream! {
        let Feed { coll, filter, render, mut reader } = feed;
        // Highest sequence number already covered (sent, skipped by the filter, or reset past).
        let mut covered: u64 = 0;
        // The id the client holds now: the last one it was sent (or resumed from).
        let mut told: u64 = 0;
        if resume.is_none() {
            // A fresh client has no resume point until its first event; if the connection
            // drops before one arrives, it would reconnect "from now" and miss what was written
            // meanwhile. So it is told where "now" is: a heartbeat carrying the log head.
            match state.blocking(|s| s.head()).await {
                Ok(head) => {
                    (covered, told) = (head, head);
                    yield position_frame(head);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the event log head");
                    return;
                }
            }
        }
        if let Some(raw) = resume {
            let (floor, head) = match state.blocking(|s| Ok((s.floor(), s.head()?))).await {
                Ok(ends) => ends,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the event log head");
                    return;
                }
            };
            match resume_point(&raw, floor, head, state.config.replay) {
                Ok(start) => {
                    (covered, told) = (start, start);
                    loop {
                        let scope = coll.clone();
                        let after = covered;
                        let batch = state
                            .blocking(move |s| s.events_after(after, scope.as_ref().map(|(d, c)| (d.as_str(), c.as_str())), REPLAY_BATCH))
                            .await;
                        let batch = match batch {
                            Ok(batch) => batch,
                            Err(e) => {
                                tracing::error!(error = %e, "replay failed; closing so the client resumes");
                                return;
                            }
                        };
                        let Some(last) = batch.last().map(Logged::seq) else {
                            break;
                        };
                        for logged in batch {
                            match logged {
                                Logged::Change(change) => {
                                    if reader.may_read(&change.db, &change.coll, &change.doc_id) && filter(&change) {
                                        for frame in render(&change) {
                                            yield frame;
                                        }
                                        told = change.seq;
                                    }
                                }
                                // Whether it matched this stream cannot be known, so every
                                // client that could have seen it is told to reload.
                                Logged::Unreadable { seq, db, coll, doc_id, .. } => {
                                    if reader.may_read(&db, &coll, &doc_id) {
                                        yield unreadable_frame(seq);
                                        told = seq;
                                    }
                                }
                            }
                        }
                        covered = last;
                    }
                    // The replay read this collection only; up to the head read after the
                    // caller subscribed, the rest of the log is not this stream's either. A
                    // new stream's sender has no position yet to say so.
                    covered = covered.max(head);
                }
                Err(why) => {
                    yield reset_frame(why, &raw, head);
                    (covered, told) = (head, head);
                }
            }
        }
        // The client's id moves only with what it is sent. On a stream that carries few of the
        // log's changes it would fall behind the replay window while the client is connected and
        // up to date, and its next resume would be refused as too old. So when the client's id
        // is a quarter of the window or more behind what the stream has covered, a position
        // heartbeat moves it. What the stream has covered moves with every change it takes,
        // sent or not, and with every position in the channel (a change stream's hub sends one
        // every eighth of the window: see `StreamHub::new`). Once, now, it also moves to the
        // position the sender has got to, read before what is waiting is taken, and applied
        // after it: a replay that found little for this stream ends at its last match.
        let lead = (state.config.replay / 4).max(1);
        let mut start = Some(Live::Position(live.position()));
        let mut waiting = Some(live.drain().into_iter());
        loop {
            let next: Result<Live, RecvError> = match waiting.as_mut().and_then(Iterator::next) {
                Some(next) => next.map(Into::into),
                None => {
                    // Its buffer goes once it is sent, rather than living as long as the stream.
                    waiting = None;
                    match start.take() {
                        Some(position) => Ok(position),
                        None => live.recv().await.map(Into::into),
                    }
                }
            };
            match next {
                Ok(Live::Change(change)) if change.seq <= covered => {}
                Ok(Live::Change(change)) => {
                    covered = change.seq;
                    if reader.may_read(&change.db, &change.coll, &change.doc_id) {
                        for frame in render(&change) {
                            yield frame;
                        }
                        told = covered;
                    }
                }
                Ok(Live::Position(position)) => covered = covered.max(position),
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "slow SSE client fell behind its buffer; disconnecting it");
                    break;
                }
                Err(RecvError::Closed) => break,
            }
            if covered >= told + lead {
                yield position_frame(covered);
                told = covered;
            }
        }
    }
}

/// `event: heartbeat` with `id:` set to the log head: where a fresh client's stream starts.
pub fn position_frame(head: u64) -> Bytes {
    trusted_frame("heartbeat", Some(head), "{}")
}

/// `event: reset`, carrying the head as its id so the client's next resume starts from here.
pub fn reset_frame(why: ResumeError, raw: &str, head: u64) -> Bytes {
    // Echo at most a bounded prefix of what the client sent.
    let echoed: String = raw.chars().take(64).collect();
    let data = json!({
        "reason": why.reason(),
        "lastEventId": echoed,
        "resumeFrom": head.to_string(),
        "message": match why {
            ResumeError::Malformed => "Last-Event-ID is not an id this server issued",
            ResumeError::Unknown => "Last-Event-ID is not in this server's event log (newer than its head, or from before it restarted)",
            ResumeError::TooOld => "Last-Event-ID is older than the replay window; reload the state",
        },
    });
    trusted_frame("reset", Some(head), &data.to_string())
}

/// `event: reset` for a logged event that can no longer be read: the client cannot be told
/// what changed, so it reloads its state; the stream goes on after it.
pub fn unreadable_frame(seq: u64) -> Bytes {
    let data = json!({
        "reason": "unreadable-event",
        "lastEventId": seq.to_string(),
        "resumeFrom": seq.to_string(),
        "message": "an event in the server's log cannot be read; reload the state",
    });
    trusted_frame("reset", Some(seq), &data.to_string())
}

#[cfg(test)]
mod tests;
