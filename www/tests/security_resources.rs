//! Bounded work for anonymous clients, against the real binary: what a client creates by
//! naming it (a change stream per avars, a patch topic per name) goes when the client goes,
//! is capped while it stays, and retained topic history is bounded in bytes.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, Server, SseClient};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);
/// The demo stream: no variables.
const STREAM: &str = "/shop/products/_streams/changes";
/// A stream whose pipeline reads the variable `n`; defined by `define_by_name`.
const BY_NAME: &str = "/shop/products/_streams/byname";

/// Percent-encodes everything but ASCII letters and digits.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn with_avars(path: &str, avars: &Value) -> String {
    format!("{path}?avars={}", encode(&avars.to_string()))
}

fn define_by_name(server: &Server, editor: &str) {
    let auth = format!("Bearer {editor}");
    let r = server.request(
        "PUT",
        "/shop/products",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(
            r#"{"streams": [{"uri": "byname",
                "stages": [{"_$match": {"fullDocument::name": {"_$var": "n"}}}]}]}"#,
        ),
    );
    assert!(r.status < 300, "{} {}", r.status, r.body);
}

fn ready(server: &Server) -> Value {
    server.request("GET", "/ready", &[], None).json()
}

fn live_streams(server: &Server) -> u64 {
    ready(server)["streams"].as_u64().unwrap()
}

/// Opens an SSE request, reads the response head, and leaves.
fn open_then_close(server: &Server, path: &str) -> u16 {
    server.sse(path, &[]).status
}

fn rss_kb(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Finding 5: 2,000 open-then-close requests with distinct avars used to leave 2,000
/// streams and their tasks until some unrelated write woke them. No write happens here.
#[test]
fn two_thousand_open_then_close_streams_with_distinct_avars_leave_nothing_behind() {
    let server = Server::start(&[]);
    define_by_name(&server, &server.token("editor"));
    let baseline = server.settled_resources();
    assert_eq!(live_streams(&server), 0);
    let start = Instant::now();
    for n in 0..2000 {
        // Unused by `changes`: these all share one stream.
        let path = with_avars(STREAM, &json!({ "x": n }));
        assert_eq!(open_then_close(&server, &path), 200);
        // Used by `byname`: each is a stream of its own while its client is there.
        let path = with_avars(BY_NAME, &json!({ "n": format!("v{n}") }));
        assert_eq!(open_then_close(&server, &path), 200, "request {n}");
    }
    let opened = start.elapsed();
    let mut last = ready(&server);
    let settled = eventually(T, || {
        last = ready(&server);
        last["streams"] == 0
            && last["sseClients"] == 0
            && last["tasks"].as_u64() <= Some(baseline.1)
    });
    assert!(
        settled,
        "after 4,000 open-then-close: {last}, baseline tasks {}",
        baseline.1
    );
    server.assert_nothing_leaked(baseline, T, "4,000 open-then-close streams");
    println!(
        "security: open-then-close streams=4000 in {opened:?}; settled in {:?}: {last}",
        start.elapsed() - opened
    );
}

/// Variables a stream's pipeline does not read are accepted but never make a new stream.
#[test]
fn distinct_unused_avars_share_one_stream() {
    let server = Server::start(&[]);
    let editor = server.token("editor");
    define_by_name(&server, &editor);
    let mut clients: Vec<SseClient> = Vec::new();
    for n in 0..20 {
        let path = with_avars(STREAM, &json!({ "x": n, "page": { "deep": [n] } }));
        clients.push(server.sse(&path, &[]));
        let path = with_avars(BY_NAME, &json!({ "n": "lamp", "x": n }));
        clients.push(server.sse(&path, &[]));
    }
    assert!(clients.iter().all(|c| c.status == 200));
    assert!(eventually(T, || ready(&server)["sseClients"] == 40));
    assert_eq!(live_streams(&server), 2, "one per stream and used binding");
    server.insert(&editor, "/shop/products", r#"{"name": "lamp"}"#);
    for client in &mut clients {
        let e = client.next_event(T).expect("every client hears the insert");
        assert_eq!(e.json()["fullDocument"]["name"], "lamp");
    }
    drop(clients);
    assert!(eventually(T, || live_streams(&server) == 0));
}

/// Over `MAX_STREAMS` distinct live streams, a new one gets 503 with `Retry-After`; clients
/// of a live stream still join, and room comes back as soon as a stream's clients leave.
#[test]
fn over_the_stream_cap_a_new_stream_gets_503_with_retry_after() {
    let cap = livesource_dev::MAX_STREAMS;
    // All clients here share one address: lift the per-client SSE limit, which is not what
    // this measures.
    let server = Server::start(&["--max-sse-per-client", "0"]);
    define_by_name(&server, &server.token("editor"));
    let by_name = |n: &str| with_avars(BY_NAME, &json!({ "n": n }));
    let rss_before = rss_kb(&server);
    let start = Instant::now();
    let mut held: Vec<SseClient> = (0..cap)
        .map(|n| server.sse(&by_name(&format!("v{n}")), &[]))
        .collect();
    let opened = start.elapsed();
    assert!(held.iter().all(|c| c.status == 200));
    assert_eq!(live_streams(&server), cap as u64);
    let per_stream_kb = rss_kb(&server).saturating_sub(rss_before) / cap as u64;

    let over = server.request(
        "GET",
        &by_name("one-more"),
        &[("accept", "text/event-stream")],
        None,
    );
    assert_eq!(over.status, 503, "{}", over.body);
    assert_eq!(over.json()["error"], "unavailable");
    let retry: u64 = over
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry > 0);
    // The same binding as a live stream costs no stream: it joins.
    let joined = server.sse(&by_name("v7"), &[]);
    assert_eq!(joined.status, 200);
    // And unused avars do not make it a new stream either.
    let joined_too = server.sse(&with_avars(BY_NAME, &json!({ "n": "v7", "x": 1 })), &[]);
    assert_eq!(joined_too.status, 200);
    assert_eq!(live_streams(&server), cap as u64);

    // One stream's only client leaves: its place is free without any write.
    drop(held.remove(0));
    assert!(eventually(T, || live_streams(&server) == cap as u64 - 1));
    let room = server.sse(&by_name("one-more"), &[]);
    assert_eq!(room.status, 200);
    drop((held, joined, joined_too, room));
    assert!(eventually(T, || live_streams(&server) == 0));
    println!(
        "security: stream cap={cap} held open in {opened:?} (~{per_stream_kb} kB RSS per stream \
         and client), next got 503 Retry-After: {retry}"
    );
}

/// Finding 6: anonymous subscribers used to create topics that never went away, until
/// editors' publishes to a new topic got 503 `too many topics`. More distinct topics than
/// that bound (10,000) come and go here; then an editor publishes to a new topic.
#[test]
fn subscribers_to_unknown_topics_leave_no_topic_behind() {
    const SUBSCRIBERS: usize = 10_001;
    const THREADS: usize = 4;
    let server = Server::start(&[]);
    let editor = server.token("editor");
    let baseline = server.settled_resources();
    let start = Instant::now();
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let server = &server;
            s.spawn(move || {
                for n in (thread..SUBSCRIBERS).step_by(THREADS) {
                    let path = format!("/demo/__events?topic=dashboard:probe-{n}");
                    assert_eq!(open_then_close(server, &path), 200, "subscriber {n}");
                }
            });
        }
    });
    let opened = start.elapsed();
    // Subscribers present at the same time do not block publishes either.
    let present: Vec<_> = (0..50)
        .map(|n| server.sse(&format!("/demo/__events?topic=dashboard:held-{n}"), &[]))
        .collect();
    let auth = format!("Bearer {editor}");
    let publish = |topic: &str| {
        server.request(
            "POST",
            &format!("/_publish/{topic}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(r#"[["replace","/counter",1]]"#),
        )
    };
    let r = publish("dashboard:fresh");
    assert_eq!(r.status, 202, "{}", r.body);
    // The topic's first patch (ids start above the server's start time, `process_base`).
    assert!(
        r.json()["id"].as_str().is_some_and(|id| id.ends_with("01")),
        "{}",
        r.body
    );
    drop(present);
    assert_eq!(publish("dashboard:fresher").status, 202);
    server.assert_nothing_leaked(baseline, T, "10,001 topic subscribers");
    println!(
        "security: topic subscribers={SUBSCRIBERS} in {opened:?}; publish to a new topic: 202"
    );
}

/// Finding 10: every topic kept its last 256 patches whatever their size (100 publishes of
/// 1.9 MB grew the server by 208 MB). A patch over the per-topic bound is now broadcast but
/// not kept, and resuming from before it gets `event: reset`, not a silent gap. An anonymous
/// subscriber that stops reading is cut off once it leaves a few patches unread, instead of
/// pinning them all in the topic's ring.
#[test]
fn a_hundred_large_publishes_keep_memory_bounded_and_resume_resets() {
    const PUBLISHES: usize = 100;
    const PUBLISHERS: usize = 4;
    let server = Server::start(&[]);
    let editor = server.token("editor");
    let auth = format!("Bearer {editor}");
    let body = format!(
        r#"[{{"op":"add","path":"/blob","value":"{}"}}]"#,
        "x".repeat(1_900_000)
    );
    assert!(body.len() < livesource_dev::config::BODY_LIMIT);
    let publish = |topic: &str| {
        let r = server.request(
            "POST",
            &format!("/_publish/{topic}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(&body),
        );
        assert_eq!(r.status, 202, "{}", r.body);
        r.json()["id"].as_str().unwrap().to_owned()
    };
    // Several publishers at once, to stay within seconds on a debug build.
    let publish_all = |topic: &str, count: usize| -> Vec<u64> {
        let mut ids: Vec<u64> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..PUBLISHERS)
                .map(|w| {
                    s.spawn(move || {
                        (w..count)
                            .step_by(PUBLISHERS)
                            .map(|_| publish(topic).parse::<u64>().unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        ids.sort_unstable();
        ids
    };
    // The allocator's first large buffers, per thread, are not what this measures.
    publish_all("dashboard:warm-up", PUBLISHERS);
    let before = rss_kb(&server);
    let start = Instant::now();
    let mut stalled = server.sse("/demo/__events?topic=dashboard:big", &[]);
    assert_eq!(stalled.status, 200);
    let ids: Vec<String> = publish_all("dashboard:big", PUBLISHES)
        .iter()
        .map(u64::to_string)
        .collect();
    assert_eq!(ids.len(), PUBLISHES);
    let took = start.elapsed();
    let grown_mb = (rss_kb(&server).saturating_sub(before)) as f64 / 1024.0;
    assert!(
        grown_mb < 64.0,
        "RSS grew by {grown_mb:.1} MB over {PUBLISHES} publishes"
    );
    // The stalled subscriber got what its socket buffers took, then was cut off.
    let mut received = 0;
    while let Some(e) = stalled.next_event(T) {
        assert_eq!(e.event, "patch");
        assert_eq!(
            e.id.as_deref(),
            Some(ids[received].as_str()),
            "no gap before the cut"
        );
        received += 1;
    }
    assert!(received < PUBLISHES, "the stalled subscriber was cut off");

    let resume = format!("/demo/__events?topic=dashboard:big&lastEventId={}", ids[0]);
    let mut resumed = server.sse(&resume, &[]);
    let reset = resumed.next_event(T).expect("a reset frame");
    assert_eq!(reset.event, "reset");
    let data = reset.json();
    assert_eq!(data["reason"], "too-old");
    assert_eq!(data["resumeFrom"], ids[PUBLISHES - 1].as_str());
    assert_eq!(reset.id.as_deref(), Some(ids[PUBLISHES - 1].as_str()));
    println!(
        "security: {PUBLISHES} publishes of 1.9 MB in {took:?}: RSS +{grown_mb:.1} MB; stalled \
         subscriber cut after {received}; resume from {} -> reset",
        ids[0]
    );
}
