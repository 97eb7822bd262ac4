//! The position heartbeat against changes still on their way: it must never tell a client an
//! id above a change the client has not been sent yet (the client would skip that change on
//! its next resume, and the stream itself drops it as covered).

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use super::*;
use crate::config::Config;
use crate::sse::Fanout;
use crate::store::Operation;

fn state(replay: u64, heartbeat: Duration) -> AppState {
    AppState::new(Config {
        replay,
        heartbeat,
        ..Config::for_tests()
    })
    .unwrap()
}

fn change(seq: u64) -> Arc<Change> {
    let id = seq.to_string();
    let event = json!({ "documentKey": { "_id": id } });
    // The demo's collection, which anyone may read by default.
    let (db, coll) = ("shop".into(), "products".into());
    Arc::new(Change::new(seq, db, coll, id, Operation::Insert, 1, event))
}

/// A change frame is `change <seq>`; a heartbeat is `heartbeat <id>`.
fn stream(
    state: &AppState,
    live: Subscription<Arc<Change>>,
) -> impl Stream<Item = String> + Send + 'static {
    let feed = Feed {
        coll: None,
        filter: |_: &Change| true,
        render: |c: &Change| vec![Bytes::from(format!("change {}", c.seq))],
        reader: ReadFilter::new(state, None),
    };
    replay_then_live(state.clone(), feed, live, None).map(|frame| {
        let text = String::from_utf8(frame.to_vec()).unwrap();
        match text.strip_prefix("change ") {
            Some(seq) => format!("change {seq}"),
            None => {
                assert!(text.starts_with("event: heartbeat\n"), "{text:?}");
                let id = text.lines().find_map(|l| l.strip_prefix("id: ")).unwrap();
                format!("heartbeat {id}")
            }
        }
    })
}

async fn next(frames: &mut (impl Stream<Item = String> + Unpin)) -> String {
    tokio::time::timeout(Duration::from_secs(5), frames.next())
        .await
        .expect("a frame within 5 s")
        .expect("the stream goes on")
}

/// A change waiting in the channel when the position has already moved past it goes out
/// before the heartbeat that carries that position. The clock is paused, so the stream's
/// first tick is due at once (with a running clock the timer's millisecond wheel makes the
/// change's branch win every time); which ready branch `select!` takes is random, so it is
/// tried many times.
#[tokio::test(start_paused = true)]
async fn a_waiting_change_goes_out_before_the_position_that_covers_it() {
    let state = state(8, Duration::from_secs(60));
    let head = state.blocking(|s| s.head()).await.unwrap();
    for _ in 0..40 {
        let fanout = Fanout::new(16);
        let live = fanout.subscribe(None);
        fanout.send(change(head + 1));
        // Nine more changes the stream's filter dropped (the hub advances past them).
        fanout.advance(head + 10);
        let mut frames = Box::pin(stream(&state, live));
        assert_eq!(next(&mut frames).await, format!("heartbeat {head}"));
        assert_eq!(next(&mut frames).await, format!("change {}", head + 1));
        assert_eq!(next(&mut frames).await, format!("heartbeat {}", head + 10));
    }
}

/// A writer on another thread sends one change in ten and advances past every one, as the
/// hub's forwarder does, while the stream ticks every millisecond with a lead of one: every
/// sent change arrives once, in order, and no heartbeat ever covers a change still to come.
/// The writer goes on until 20 heartbeats have come between its changes (so the race is run,
/// not assumed), keeping within 1,000 changes of the reader so that nobody lags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_racing_a_writer_never_cover_a_change_still_to_come() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    const MAX_WRITES: u64 = 2_000_000;
    let state = state(4, Duration::from_millis(1));
    let head = state.blocking(|s| s.head()).await.unwrap();
    let fanout = Arc::new(Fanout::new(16_384));
    let mut frames = Box::pin(stream(&state, fanout.subscribe(None)));
    assert_eq!(next(&mut frames).await, format!("heartbeat {head}"));
    // What the reader has seen, and the writer's last change once it is done.
    let (heartbeats, read, done) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(head)),
        Arc::new(AtomicU64::new(0)),
    );
    let writer = {
        let (fanout, heartbeats, read, done) = (
            Arc::clone(&fanout),
            heartbeats.clone(),
            read.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            let mut seq = head;
            while heartbeats.load(Relaxed) < 20 && seq < head + MAX_WRITES {
                while seq - read.load(Relaxed) > 10_000 {
                    std::thread::yield_now();
                }
                for _ in 0..10 {
                    seq += 1;
                    if (seq - head) % 10 == 0 {
                        fanout.send(change(seq));
                    }
                    fanout.advance(seq);
                }
            }
            done.store(seq, Relaxed);
        })
    };
    let (mut got, mut told) = (Vec::new(), head);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let last = done.load(Relaxed);
        if last != 0 && got.last() == Some(&last) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck after {told}");
        let Ok(frame) = tokio::time::timeout(Duration::from_millis(10), frames.next()).await else {
            continue;
        };
        let frame = frame.expect("the stream goes on");
        let (kind, id) = frame.split_once(' ').unwrap();
        let id: u64 = id.parse().unwrap();
        assert!(id > told, "{frame} after the client was told {told}");
        told = id;
        if kind == "change" {
            got.push(id);
            read.store(id, Relaxed);
        } else if done.load(Relaxed) == 0 {
            heartbeats.fetch_add(1, Relaxed);
        }
    }
    writer.join().unwrap();
    let last = done.load(Relaxed);
    assert_eq!(got, (head + 10..=last).step_by(10).collect::<Vec<_>>());
    assert!(
        heartbeats.load(Relaxed) >= 20,
        "the writer stopped at its bound before 20 heartbeats"
    );
}
