//! The position heartbeat against changes still on their way: it must never tell a client an
//! id above a change the client has not been sent yet (the client would skip that change on
//! its next resume, and the stream itself drops it as covered).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use super::*;
use crate::config::Config;
use crate::sse::Fanout;
use crate::store::Operation;

fn state(replay: u64) -> AppState {
    AppState::new(Config {
        replay,
        ..Config::for_tests()
    })
    .unwrap()
}

fn change(seq: u64) -> Live {
    let id = seq.to_string();
    let event = json!({ "documentKey": { "_id": id } });
    // The demo's collection, which anyone may read by default.
    let (db, coll) = ("shop".into(), "products".into());
    Live::Change(Arc::new(Change::new(
        seq,
        db,
        coll,
        id,
        Operation::Insert,
        1,
        event,
    )))
}

/// A change frame is `change <seq>`; a heartbeat is `heartbeat <id>`.
fn stream(
    state: &AppState,
    live: Subscription<Live>,
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

/// A change waiting in the channel when the sender's position has already passed it goes out
/// before the heartbeat that carries that position; so does one sent before a position in the
/// channel.
#[tokio::test]
async fn a_change_goes_out_before_the_position_that_covers_it() {
    let state = state(8);
    let head = state.blocking(|s| s.head()).await.unwrap();
    let fanout = Fanout::new(16);
    let live = fanout.subscribe(None);
    fanout.send(change(head + 1));
    // Nine more changes the stream's filter dropped (the hub advances past them).
    fanout.advance(head + 10);
    let mut frames = Box::pin(stream(&state, live));
    assert_eq!(next(&mut frames).await, format!("heartbeat {head}"));
    assert_eq!(next(&mut frames).await, format!("change {}", head + 1));
    assert_eq!(next(&mut frames).await, format!("heartbeat {}", head + 10));

    fanout.send(change(head + 11));
    fanout.advance(head + 20);
    fanout.send(Live::Position(head + 20));
    assert_eq!(next(&mut frames).await, format!("change {}", head + 11));
    assert_eq!(next(&mut frames).await, format!("heartbeat {}", head + 20));
    // Less than the lead (2) ahead of what the client holds: nothing to tell.
    fanout.send(Live::Position(head + 21));
    fanout.send(change(head + 22));
    assert_eq!(next(&mut frames).await, format!("change {}", head + 22));
}

/// A writer on another thread sends one change in ten and a position in the middle of each
/// ten, and advances past every one, as the hub's forwarder does, while a stream starts: the
/// stream's one read of the sender's position races the writer. Every sent change arrives
/// once, in order, and no id the client is told ever goes back. Many rounds, for the race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_starting_while_a_writer_runs_loses_nothing() {
    const ROUNDS: u64 = 100;
    const WRITES: u64 = 1_000;
    let state = state(4);
    let head = state.blocking(|s| s.head()).await.unwrap();
    for round in 0..ROUNDS {
        // Room for every value of the round: nobody lags.
        let fanout = Arc::new(Fanout::new(256));
        let live = fanout.subscribe(None);
        let writer = {
            let fanout = Arc::clone(&fanout);
            std::thread::spawn(move || {
                for seq in head + 1..=head + WRITES {
                    match (seq - head) % 10 {
                        0 => {
                            fanout.send(change(seq));
                        }
                        5 => {
                            fanout.send(Live::Position(seq));
                        }
                        _ => {}
                    }
                    fanout.advance(seq);
                }
            })
        };
        let mut frames = Box::pin(stream(&state, live));
        assert_eq!(next(&mut frames).await, format!("heartbeat {head}"));
        let (mut got, mut told, mut heartbeats) = (Vec::new(), head, 0);
        while got.last() != Some(&(head + WRITES)) {
            let frame = next(&mut frames).await;
            let (kind, id) = frame.split_once(' ').unwrap();
            let id: u64 = id.parse().unwrap();
            assert!(
                id > told,
                "round {round}: {frame} after the client was told {told}"
            );
            told = id;
            match kind {
                "change" => got.push(id),
                _ => heartbeats += 1,
            }
        }
        writer.join().unwrap();
        let sent: Vec<u64> = (head + 10..=head + WRITES).step_by(10).collect();
        assert_eq!(got, sent, "round {round}");
        assert!(
            heartbeats > 0,
            "round {round}: positions were sent, no heartbeat came"
        );
    }
}

/// The stream's start: what the sender had sent is drained, and the position it had got to is
/// applied after it. That position must be read *before* the drain: read after, a change sent
/// between the two would be covered by it and dropped when it arrives. A writer on another
/// thread sends a change at every id while streams start, so that any such gap holds one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_sent_while_the_stream_starts_is_not_covered_by_its_start() {
    const ROUNDS: u64 = 300;
    const WRITES: u64 = 200;
    let state = state(4);
    let head = state.blocking(|s| s.head()).await.unwrap();
    for round in 0..ROUNDS {
        let fanout = Arc::new(Fanout::new(512));
        let live = fanout.subscribe(None);
        let start = Arc::new(std::sync::Barrier::new(2));
        let writer = {
            let (fanout, start) = (Arc::clone(&fanout), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for seq in head + 1..=head + WRITES {
                    fanout.send(change(seq));
                    fanout.advance(seq);
                }
            })
        };
        let mut frames = Box::pin(stream(&state, live));
        start.wait();
        let mut got = Vec::new();
        while got.last() != Some(&(head + WRITES)) {
            let frame = next(&mut frames).await;
            if let Some(seq) = frame.strip_prefix("change ") {
                got.push(seq.parse::<u64>().unwrap());
            }
        }
        writer.join().unwrap();
        let sent: Vec<u64> = (head + 1..=head + WRITES).collect();
        assert_eq!(got, sent, "round {round}");
    }
}
