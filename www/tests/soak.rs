//! Slow reliability runs, for `make soak` (each is `#[ignore]`d in `make test`): a client that
//! never reads among a hundred that do, and connection churn at ten times the `make test` size.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{eventually, Server};

const STREAM: &str = "/shop/products/_streams/changes";

fn micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

fn ready(server: &Server, key: &str) -> u64 {
    server.request("GET", "/ready", &[], None).json()[key]
        .as_u64()
        .unwrap()
}

/// A reader that scans `data:` lines for `"n":` and `"t":` without parsing the padding, so a
/// hundred of them keep up on two cores. Returns, per event, (n, receipt − write in µs).
fn read_stream(addr: std::net::SocketAddr, total: u64, start: &Barrier) -> Vec<(u64, u64)> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {STREAM} HTTP/1.0\r\nhost: x\r\naccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    start.wait();
    let field = |line: &str, key: &str| -> Option<u64> {
        let at = line.find(key)? + key.len();
        let digits: String = line[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    let mut got = Vec::with_capacity(total as usize);
    let mut line = String::new();
    while (got.len() as u64) < total {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .expect("a reading client is never cut off");
        assert!(n > 0, "stream closed after {} events", got.len());
        if !line.starts_with("data:") || !line.contains("\"fullDocument\"") {
            continue;
        }
        let now = micros();
        let (n, t) = (
            field(&line, "\"n\":").unwrap(),
            field(&line, "\"t\":").unwrap(),
        );
        got.push((n, now.saturating_sub(t)));
    }
    got
}

fn p99(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[test]
#[ignore = "soak: run by make soak"]
fn a_client_that_never_reads_is_cut_off_while_a_hundred_others_keep_their_latency() {
    const READERS: usize = 100;
    const CALM: u64 = 300;
    // 2 KB events: the stuck socket's kernel buffers (a few MB on loopback) and the stream's
    // 1,024-event ring overflow well before the end.
    const TOTAL: u64 = 5000;
    let server = Server::start(&[]);
    let auth = format!("Bearer {}", server.token("editor"));
    let start = Arc::new(Barrier::new(READERS + 1));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (addr, start) = (server.addr, start.clone());
            std::thread::spawn(move || read_stream(addr, TOTAL, &start))
        })
        .collect();
    start.wait();
    assert!(eventually(Duration::from_secs(10), || ready(
        &server,
        "sseClients"
    ) == READERS as u64));
    let pad = "x".repeat(2000);
    let write = |n: u64| {
        let body = format!(r#"{{"n":{n},"t":{},"pad":"{pad}"}}"#, micros());
        common::insert_product(server.addr, &auth, &body);
        // About 500 writes/s: a steady load rather than one burst.
        std::thread::sleep(Duration::from_millis(2));
    };
    for n in 0..CALM {
        write(n);
    }
    // Now a client that connects and never reads a byte.
    let stuck = server.sse(STREAM, &[]);
    assert!(eventually(Duration::from_secs(10), || ready(
        &server,
        "sseClients"
    ) == READERS as u64
        + 1));
    let mut cut_at = None;
    for n in CALM..TOTAL {
        write(n);
        if cut_at.is_none() && n % 50 == 0 && ready(&server, "sseClients") == READERS as u64 {
            cut_at = Some(n);
        }
    }
    let results: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let cut_at = cut_at.or_else(|| {
        eventually(Duration::from_secs(10), || {
            ready(&server, "sseClients") == READERS as u64
        })
        .then_some(TOTAL)
    });
    let cut_at = cut_at.expect("the client that never reads was not cut off");
    drop(stuck);

    let (mut calm, mut stormy) = (Vec::new(), Vec::new());
    for got in &results {
        let ns: Vec<u64> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            ns,
            (0..TOTAL).collect::<Vec<_>>(),
            "every event once, in order"
        );
        for (n, lat) in got {
            if *n < CALM { &mut calm } else { &mut stormy }.push(*lat);
        }
    }
    let (before, during) = (p99(calm), p99(stormy));
    println!(
        "reliability: slow-consumer readers={READERS} events={TOTAL} received={} \
         stuck_cut_after_event={cut_at} p99_before_us={before} p99_with_stuck_us={during} \
         duplicates=0 lost=0",
        TOTAL * READERS as u64
    );
    // Not a speed target: a broadcast blocked on the stuck socket would stall the others for
    // the whole write timeout (30 s); their p99 stays far below that.
    assert!(during < 1_000_000, "p99 with a stuck client: {during} µs");
}

#[test]
#[ignore = "soak: run by make soak"]
fn ten_thousand_dropped_connections_leak_nothing() {
    let server = Server::start(&["--heartbeat", "1s"]);
    drop(server.sse(STREAM, &[]));
    let baseline = server.settled_resources();
    const TOTAL: usize = 10_000;
    let started = Instant::now();
    for i in 0..TOTAL {
        let mut c = server.sse(STREAM, &[]);
        assert_eq!(c.status, 200);
        if i % 2 == 0 {
            let _ = c.next_item(Duration::from_secs(5));
        }
    }
    server.assert_nothing_leaked(
        baseline,
        Duration::from_secs(15),
        &format!("{TOTAL} dropped connections"),
    );
    println!(
        "reliability: churn connections={TOTAL} seconds={:.1} leaked_fds=0 leaked_tasks=0",
        started.elapsed().as_secs_f64()
    );
}

fn rss_mb(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024
}

/// The security review's finding 4 at its own size: 200 documents of 1 MiB, then 8 anonymous
/// clients that resume from 0 and never read. Before the fix RSS went from 438 MB to 1.9 GB,
/// `/ready` took 14 s and a small write 25.7 s.
#[test]
#[ignore = "soak: run by make soak"]
fn eight_anonymous_resumers_of_200_mib_that_never_read() {
    const DOCS: usize = 200;
    const READERS: usize = 8;
    let server = Server::start(&[]);
    let auth = format!("Bearer {}", server.token("editor"));
    let pad = "x".repeat(1024 * 1024);
    for i in 0..DOCS {
        common::insert_product(
            server.addr,
            &auth,
            &format!(r#"{{"_id":"big{i}","pad":"{pad}"}}"#),
        );
    }
    let before = rss_mb(&server);
    let stuck: Vec<_> = (0..READERS)
        .map(|_| server.sse(&format!("{STREAM}?lastEventId=0"), &[]))
        .collect();
    assert!(eventually(Duration::from_secs(30), || ready(
        &server,
        "sseClients"
    ) == READERS as u64));
    let (mut worst_write, mut worst_ready, mut peak) = (Duration::ZERO, Duration::ZERO, before);
    for i in 0..20 {
        let start = Instant::now();
        common::insert_product(server.addr, &auth, &format!(r#"{{"_id":"small{i}"}}"#));
        worst_write = worst_write.max(start.elapsed());
        let start = Instant::now();
        ready(&server, "sseClients");
        worst_ready = worst_ready.max(start.elapsed());
        peak = peak.max(rss_mb(&server));
    }
    println!(
        "reliability: {READERS} anonymous resumers of {DOCS} MiB that never read: RSS {before} → peak {peak} MB; \
         slowest of 20 small writes {} ms, slowest /ready {} ms",
        worst_write.as_millis(),
        worst_ready.as_millis()
    );
    assert!(peak - before < 200, "RSS grew from {before} to {peak} MB");
    drop(stuck);
}
