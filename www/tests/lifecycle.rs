//! Process-level behaviour of the real binary: shutdown, readiness, logs, slow clients.

mod common;

use std::time::Duration;

use common::{eventually, Item, Server};

const STREAM: &str = "/shop/products/_streams/changes";
const T: Duration = Duration::from_secs(10);

#[test]
fn sigterm_drains_and_exits_within_two_seconds_with_ten_open_streams() {
    let mut server = Server::start(&[]);
    let viewer = server.token("viewer");
    let mut streams: Vec<_> = (0..10).map(|_| server.sse(STREAM, &[])).collect();
    for s in &mut streams {
        assert_eq!(s.next_item(T), Item::Retry(1000));
    }
    let mut feed = server.sse(&format!("/api/events?access_token={viewer}"), &[]);
    assert_eq!(feed.status, 200);
    assert_eq!(feed.next_event(T).unwrap().json()["mode"], "normal");
    assert!(eventually(T, || server
        .request("GET", "/ready", &[], None)
        .json()["sseClients"]
        == 11));

    server.signal("TERM");
    let took = server
        .wait_exit(Duration::from_secs(3))
        .expect("process exited");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let farewell = feed.next_event(T).expect("server.state before close");
    assert_eq!(
        (farewell.event.as_str(), farewell.json()["mode"].as_str()),
        ("server.state", Some("draining"))
    );
    assert_eq!(feed.next_item(T), Item::Closed);
    for mut s in streams {
        // Each stream first says where it starts (a heartbeat), then closes.
        let mut item = s.next_item(T);
        while matches!(&item, Item::Event(e) if e.event == "heartbeat") {
            item = s.next_item(T);
        }
        assert_eq!(item, Item::Closed);
    }
}

#[test]
fn ready_counts_sse_clients_and_drops_within_a_heartbeat() {
    let server = Server::start(&["--heartbeat", "300ms"]);
    let count = || {
        server.request("GET", "/ready", &[], None).json()["sseClients"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count(), 0);
    let a = server.sse(STREAM, &[]);
    let b = server.sse(STREAM, &[]);
    assert!(eventually(T, || count() == 2));
    drop(a);
    // The server notices at its next write, the keep-alive: well within a second here.
    assert!(
        eventually(Duration::from_secs(2), || count() == 1),
        "count stayed {}",
        count()
    );
    drop(b);
    assert!(eventually(Duration::from_secs(2), || count() == 0));
}

#[test]
fn planted_tokens_never_appear_in_trace_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, &[], &[("RUST_LOG", "trace")]);
    let token = server.token("editor");
    let bad = format!("{token}tampered");
    let auth = format!("Bearer {token}");
    let cookie = format!("access_token={token}");
    server.insert(&token, "/shop/products", r#"{"n":1}"#);
    server.request(
        "GET",
        &format!("/shop/products?access_token={token}&secret=planted-query-value"),
        &[],
        None,
    );
    server.request("GET", "/shop/products", &[("cookie", &cookie)], None);
    server.request("GET", "/api/events/nope", &[("authorization", &auth)], None);
    server.request(
        "POST",
        &format!("/shop/products?access_token={bad}"),
        &[],
        Some("{}"),
    );
    server.request("GET", &format!("/nowhere?access_token={token}"), &[], None);
    let mut sse = server.sse(&format!("{STREAM}?access_token={token}&lastEventId=0"), &[]);
    sse.next_event(T).unwrap();
    drop(sse);
    std::thread::sleep(Duration::from_millis(300));
    let logs = server.stderr();
    assert!(logs.len() > 500, "trace logging produced output: {logs}");
    let signature = token.rsplit('.').next().unwrap();
    for needle in [
        token.as_str(),
        signature,
        "planted-query-value",
        "access_token",
    ] {
        assert!(!logs.contains(needle), "{needle:?} leaked into the logs");
    }
}

/// A client that stops reading falls behind its bounded buffer and is disconnected, while a
/// reading client keeps up; the slow one then resumes without loss.
#[test]
fn slow_client_is_cut_off_and_resumes_without_loss() {
    let server = Server::start(&[]);
    let token = server.token("editor");
    let mut fast = server.sse(STREAM, &[]);
    let mut slow = server.sse(STREAM, &[]);
    // Large events fill the slow client's socket buffers quickly; more than the per-stream
    // ring (1024) are written while it does not read.
    let payload = "x".repeat(16 * 1024);
    const TOTAL: u64 = 1400;
    let writer = {
        let (addr, token) = (server.addr, token.clone());
        std::thread::spawn(move || {
            let auth = format!("Bearer {token}");
            for n in 0..TOTAL {
                let body = format!(r#"{{"n":{n},"pad":"{payload}"}}"#);
                common::insert_product(addr, &auth, &body);
            }
        })
    };
    for n in 0..TOTAL {
        let e = fast
            .next_event(T)
            .expect("the fast client is not slowed down");
        assert_eq!(e.json()["fullDocument"]["n"], n);
    }
    writer.join().unwrap();

    // Now read the slow connection: it ends early, short of the last event.
    let mut got = Vec::new();
    let mut last = None;
    while let Some(e) = slow.next_event(T) {
        got.push(e.json()["fullDocument"]["n"].as_u64().unwrap());
        last = e.id;
    }
    assert!(
        (got.len() as u64) < TOTAL,
        "the slow client should have been cut off"
    );
    assert_eq!(
        got,
        (0..got.len() as u64).collect::<Vec<_>>(),
        "what it got was contiguous"
    );
    let mut resumed = server.sse(STREAM, &[("last-event-id", last.as_deref().unwrap_or("0"))]);
    let mut next = got.len() as u64;
    while next < TOTAL {
        let e = resumed.next_event(T).expect("resume delivers the rest");
        assert_eq!(e.json()["fullDocument"]["n"], next);
        next += 1;
    }
}

/// A client that stops reading altogether (its socket stays open, full) is disconnected once
/// a write has made no progress for `--write-timeout`.
#[test]
fn stuck_client_is_disconnected_after_write_timeout() {
    let server = Server::start(&["--write-timeout", "1s"]);
    let token = server.token("editor");
    let stuck = server.sse(STREAM, &[]);
    let count = || {
        server.request("GET", "/ready", &[], None).json()["sseClients"]
            .as_u64()
            .unwrap()
    };
    assert!(eventually(T, || count() == 1));
    // ~10 MB: more than loopback socket buffers hold, fewer events than the stream ring.
    let body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(16 * 1024));
    for _ in 0..600 {
        server.insert(&token, "/shop/products", &body);
    }
    assert!(
        eventually(Duration::from_secs(5), || count() == 0),
        "stuck client still counted"
    );
    drop(stuck);
}

/// 1,000 connections opened and dropped in every way a client can go (mid-request, before
/// reading, after the first frames, on each SSE route) leave no connection, task or file
/// descriptor behind: the process's fd count and `/ready`'s task and client counts return to
/// their baseline. (Threads are not counted: the blocking pool grows and retires on its own.)
#[test]
fn a_thousand_dropped_connections_leak_nothing() {
    use std::io::Write;
    let server = Server::start(&["--heartbeat", "1s"]);
    let viewer = server.token("viewer");
    // Warm up once, so lazily created resources (the SQLite reader, the stream's shared
    // subscription) are part of the baseline; then wait for a settled count.
    drop(server.sse(STREAM, &[]));
    let baseline = server.settled_resources();
    let routes = [
        STREAM.to_owned(),
        format!("/api/events?access_token={viewer}"),
        format!("/demo/__events?topic=dashboard:churn&access_token={viewer}"),
    ];
    const TOTAL: usize = 1000;
    for batch in 0..TOTAL / 50 {
        let mut open = Vec::new();
        for i in 0..50 {
            let n = batch * 50 + i;
            let route = &routes[n % routes.len()];
            match n % 4 {
                // Gone halfway through the request head.
                0 => {
                    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
                    let _ = s.write_all(format!("GET {route} HTTP/1.1\r\nhost: x\r\n").as_bytes());
                }
                // Gone before reading the response.
                1 => {
                    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
                    let _ = s.write_all(
                        format!(
                            "GET {route} HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                }
                // Read the head, then held open for the rest of the batch.
                2 => open.push(server.sse(route, &[])),
                // Read the first frame.
                _ => {
                    let mut c = server.sse(route, &[]);
                    assert_eq!(c.status, 200, "{route}");
                    assert_ne!(c.next_item(T), Item::Closed, "{route}");
                }
            }
        }
        drop(open);
    }
    server.assert_nothing_leaked(
        baseline,
        Duration::from_secs(10),
        &format!("{TOTAL} dropped connections"),
    );
    println!("reliability: churn connections={TOTAL} leaked_fds=0 leaked_clients=0");
}
