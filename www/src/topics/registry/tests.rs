//! Topic lifetimes and the retention bounds.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::store::{resume_point, ResumeError};

const SMALL: Limits = Limits {
    topics: 3,
    waiting_topics: 3,
    patches: 4,
    topic_bytes: 1000,
    total_bytes: 2500,
};

/// Ops whose frame is a little over `n` bytes.
fn ops(n: usize) -> Vec<Value> {
    vec![json!(["replace", "/x", "x".repeat(n)])]
}

fn seqs(topics: &Topics, name: &str) -> Vec<u64> {
    let joined = topics.join(name, None).unwrap();
    joined.history.iter().map(|p| p.seq).collect()
}

fn assert_unavailable(result: AppResult<impl Sized>) {
    match result {
        Err(AppError::Unavailable {
            retry_after_secs, ..
        }) => assert!(retry_after_secs > 0),
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("expected Unavailable, got Ok"),
    }
}

#[test]
fn patch_frames_are_trusted_frames() {
    for data in [
        "[]",
        "[[\"add\",\"/a\",\"x\\ny\"]]",
        "a\r\nb\rc\nd",
        "x\n",
        "\r",
        "",
    ] {
        let built = patch_frame(42, &data_lines(data));
        assert_eq!(built, crate::sse::trusted_frame("patch", Some(42), data));
    }
}

#[test]
fn a_topic_only_subscribers_named_goes_with_its_last_subscriber() {
    let topics = Topics::with_limits(LIMITS, 0);
    let first = topics
        .join("dashboard:a", Some(ConnCut::default()))
        .unwrap();
    let second = topics.join("dashboard:a", None).unwrap();
    assert_eq!(topics.len(), 1);
    drop(first);
    assert_eq!(topics.len(), 1, "one subscriber is still there");
    drop(second);
    assert!(topics.is_empty());
    // Subscribing again starts from nothing, as for any unknown topic.
    let again = topics.join("dashboard:a", None).unwrap();
    assert_eq!((again.head, again.history.len()), (0, 0));
}

#[test]
fn a_published_topic_stays_with_its_numbering() {
    let topics = Topics::with_limits(LIMITS, 0);
    let listener = topics.join("dashboard:p", None).unwrap();
    assert_eq!(topics.publish("dashboard:p", &ops(1)).unwrap(), (1, 1));
    drop(listener);
    assert_eq!(topics.len(), 1);
    assert_eq!(topics.publish("dashboard:p", &ops(1)).unwrap(), (2, 0));
}

#[test]
fn subscribers_never_use_up_room_for_publishes() {
    let topics = Topics::with_limits(SMALL, 0);
    let held: Vec<_> = (0..3)
        .map(|n| topics.join(&format!("dashboard:w{n}"), None).unwrap())
        .collect();
    assert_unavailable(topics.join("dashboard:w3", None));
    // Publishing needs no room among the subscriber-only topics, and makes one of them
    // published, which frees a place there.
    for n in 0..3 {
        topics.publish(&format!("dashboard:p{n}"), &ops(1)).unwrap();
    }
    assert_unavailable(topics.publish("dashboard:p3", &ops(1)));
    assert!(
        topics.join("dashboard:p0", None).is_ok(),
        "a published topic takes anyone"
    );
    drop(held);
    assert_eq!(topics.len(), 3, "only the published topics are left");
    let many: Vec<_> = (0..3)
        .map(|n| topics.join(&format!("dashboard:again{n}"), None).unwrap())
        .collect();
    assert_eq!(topics.len(), 6);
    drop(many);
    assert_eq!(topics.len(), 3);
}

#[test]
fn ten_thousand_passing_subscribers_leave_nothing_behind() {
    let topics = Topics::with_limits(LIMITS, 0);
    for n in 0..10_001 {
        let joined = topics.join(&format!("dashboard:{n}"), Some(ConnCut::default()));
        drop(joined.unwrap());
    }
    assert!(topics.is_empty());
    assert_eq!(topics.publish("dashboard:new", &ops(1)).unwrap().0, 1);
}

#[test]
fn history_is_bounded_in_count_and_bytes_per_topic() {
    let topics = Topics::with_limits(SMALL, 0);
    for _ in 0..6 {
        topics.publish("dashboard:c", &ops(10)).unwrap();
    }
    assert_eq!(seqs(&topics, "dashboard:c"), [3, 4, 5, 6], "count bound");
    for _ in 0..3 {
        topics.publish("dashboard:c", &ops(400)).unwrap();
    }
    // Each frame is over 400 bytes: two fit in 1000.
    assert_eq!(seqs(&topics, "dashboard:c"), [8, 9], "byte bound");
    assert!(topics.retained_bytes() <= SMALL.topic_bytes);
}

#[test]
fn a_patch_over_the_topic_bound_is_sent_not_kept_and_resuming_before_it_resets() {
    let topics = Topics::with_limits(SMALL, 0);
    topics.publish("dashboard:big", &ops(10)).unwrap();
    let mut listener = topics.join("dashboard:big", None).unwrap().live;
    topics.publish("dashboard:big", &ops(10)).unwrap();
    assert_eq!(topics.publish("dashboard:big", &ops(5000)).unwrap(), (3, 1));
    let got: Vec<u64> = futures_util::FutureExt::now_or_never(async {
        vec![
            listener.recv().await.unwrap().seq,
            listener.recv().await.unwrap().seq,
        ]
    })
    .expect("both already sent");
    assert_eq!(got, [2, 3], "the large patch was broadcast");
    let joined = topics.join("dashboard:big", None).unwrap();
    assert!(
        joined.history.is_empty(),
        "nothing before it is kept either"
    );
    assert_eq!(topics.retained_bytes(), 0);
    // What the subscribe handler computes: every earlier id is out of the window.
    let window = joined.head - joined.history.first().map_or(joined.head, |p| p.seq - 1);
    assert_eq!(
        resume_point("1", joined.floor, joined.head, window),
        Err(ResumeError::TooOld)
    );
    assert_eq!(resume_point("3", joined.floor, joined.head, window), Ok(3));
    topics.publish("dashboard:big", &ops(10)).unwrap();
    assert_eq!(seqs(&topics, "dashboard:big"), [4]);
}

#[test]
fn over_the_total_bound_the_largest_history_shrinks_first() {
    // Frames here are 40-odd bytes over their payload: 140 + 2 × 490 + 2 × 440 > 1900.
    let limits = Limits {
        total_bytes: 1900,
        ..SMALL
    };
    let topics = Topics::with_limits(limits, 0);
    topics.publish("dashboard:quiet", &ops(100)).unwrap();
    for _ in 0..2 {
        topics.publish("dashboard:busy", &ops(450)).unwrap();
    }
    for _ in 0..2 {
        topics.publish("dashboard:other", &ops(400)).unwrap();
    }
    assert!(topics.retained_bytes() <= SMALL.total_bytes);
    assert_eq!(
        seqs(&topics, "dashboard:quiet"),
        [1],
        "the small history is kept"
    );
    assert_eq!(
        seqs(&topics, "dashboard:busy"),
        [2],
        "the largest lost its oldest"
    );
    assert_eq!(seqs(&topics, "dashboard:other"), [1, 2]);
}

proptest! {
    /// Whatever is published where, the bounds hold, the byte count is exact, and every
    /// history is the newest patches up to the head without a hole.
    #[test]
    fn retention_invariants(publishes in prop::collection::vec((0usize..3, 0usize..1200), 1..60)) {
        let topics = Topics::with_limits(SMALL, 0);
        for (topic, size) in publishes {
            topics.publish(&format!("dashboard:{topic}"), &ops(size)).unwrap();
            let registry = topics.lock();
            let mut total = 0;
            for t in registry.topics.values() {
                let bytes: usize = t.history.iter().map(|p| p.frame.len()).sum();
                prop_assert_eq!(bytes, t.bytes);
                prop_assert!(t.bytes <= SMALL.topic_bytes && t.history.len() <= SMALL.patches);
                let expected: Vec<u64> =
                    (t.last_seq + 1 - t.history.len() as u64..=t.last_seq).collect();
                let got: Vec<u64> = t.history.iter().map(|p| p.seq).collect();
                prop_assert_eq!(got, expected);
                total += bytes;
            }
            prop_assert_eq!(total, registry.retained);
            prop_assert!(registry.retained <= SMALL.total_bytes);
        }
    }
}

#[test]
fn the_servers_topics_number_from_the_process_base() {
    // Topics live in memory: a restarted server must not number its patches as the one before.
    let topics = Topics::default();
    let base = crate::store::process_base();
    assert_eq!(topics.join("dashboard:b", None).unwrap().head, base);
    assert_eq!(topics.publish("dashboard:b", &ops(1)).unwrap().0, base + 1);
    let joined = topics.join("dashboard:b", None).unwrap();
    assert_eq!((joined.floor, joined.head), (base, base + 1));
}
