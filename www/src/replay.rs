//! Replay-then-live: the core of lossless resume, shared by change streams and the typed feed.
//!
//! The caller subscribes to live changes *before* this reads the log. Every change committed
//! before the subscription is in the log; every one committed after reaches the receiver; a
//! change in both is dropped by sequence number. So the switch has no gap and no duplicate.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::change::Change;
use crate::fanout::Subscription;
use crate::ids::{resume_point, ResumeError};
use crate::sse::trusted_frame;
use crate::state::AppState;

/// Changes read from the log per query while replaying.
const REPLAY_BATCH: u64 = 500;

/// What one stream selects and how it renders a change into frames.
pub struct Feed<F, R> {
    /// Restricts the log read to one collection (`None`: all).
    pub coll: Option<(String, String)>,
    /// Applied to replayed changes; the live receiver must already carry only matching ones
    /// (the hub filters once per stream, not once per client).
    pub filter: F,
    pub render: R,
}

/// Frames for `resume` (a raw `Last-Event-ID`, if any), then live frames from `live` until it
/// closes or lags (the client fell behind its bounded buffer: it is cut off and resumes).
pub fn replay_then_live<F, R>(
    state: AppState,
    feed: Feed<F, R>,
    mut live: Subscription<Arc<Change>>,
    resume: Option<String>,
) -> impl Stream<Item = Bytes> + Send + 'static
where
    F: Fn(&Change) -> bool + Send + 'static,
    R: Fn(&Change) -> Vec<Bytes> + Send + 'static,
{
    async_stream::stream! {
        let Feed { coll, filter, render } = feed;
        // Highest sequence number already covered (sent, skipped by the filter, or reset past).
        let mut covered: u64 = 0;
        if resume.is_none() {
            // A fresh client has no resume point until its first event; if the connection
            // drops before one arrives, it would reconnect "from now" and miss what was written
            // meanwhile. So it is told where "now" is: a heartbeat carrying the log head.
            match state.blocking(|s| s.head()).await {
                Ok(head) => {
                    covered = head;
                    yield position_frame(head);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the event log head");
                    return;
                }
            }
        }
        if let Some(raw) = resume {
            let head = match state.blocking(|s| s.head()).await {
                Ok(head) => head,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the event log head");
                    return;
                }
            };
            match resume_point(&raw, head, state.config.replay) {
                Ok(start) => {
                    covered = start;
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
                        for change in &batch {
                            if filter(change) {
                                for frame in render(change) {
                                    yield frame;
                                }
                            }
                        }
                        match batch.last() {
                            Some(last) => covered = last.seq,
                            None => break,
                        }
                        if (batch.len() as u64) < REPLAY_BATCH {
                            break;
                        }
                    }
                }
                Err(why) => {
                    yield reset_frame(why, &raw, head);
                    covered = head;
                }
            }
        }
        loop {
            match live.recv().await {
                Ok(change) if change.seq <= covered => {}
                Ok(change) => {
                    covered = change.seq;
                    for frame in render(&change) {
                        yield frame;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "slow SSE client fell behind its buffer; disconnecting it");
                    break;
                }
                Err(RecvError::Closed) => break,
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
            ResumeError::Unknown => "Last-Event-ID is newer than anything in the event log",
            ResumeError::TooOld => "Last-Event-ID is older than the replay window; reload the state",
        },
    });
    trusted_frame("reset", Some(head), &data.to_string())
}
