//! One worker process: opens its share of SSE connections, says `ready` on stdout when they
//! are all open (or the connect phase ran out of time), then records when each broadcast event
//! arrives on each connection until stdin says `done` and a grace period passes, and prints a
//! `result` line.
//!
//! Protocol with the coordinator, one JSON object per line on stdout:
//! `ready {"connected":..,"failed":..,"errors":[..]}` then `result {...}`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use livesource_protocol::sse;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::hist::Histogram;
use crate::net::{self, Dechunk};
use crate::pacing::Pacing;

/// How long one client may take to connect and receive its first frame.
const PER_CLIENT_CONNECT: Duration = Duration::from_secs(15);
/// Problems quoted per client and per process; the rest are only counted.
const SAMPLES: usize = 3;
/// Read buffer per connection. The clients are idle; frames are about 100 bytes.
const READ_BUF: usize = 1024;

pub struct Settings {
    pub server: SocketAddrV4,
    pub path: String,
    pub count: usize,
    pub src: Option<Ipv4Addr>,
    pub events: u64,
    pub max_total: Duration,
    /// Connect phase, grace, attempts in flight, and read batching (zero: read as data arrives).
    pub pacing: Pacing,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    pub connected: usize,
    pub failed: usize,
    /// Distinct connect errors with how many clients hit each.
    pub errors: Vec<(String, usize)>,
    pub connect_ms: u64,
}

#[derive(Serialize, Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub clients: usize,
    pub connected: usize,
    /// Clients that received every event exactly once, in order.
    pub complete: usize,
    /// Broadcast events received (counted once per client).
    pub received: u64,
    /// Lost, duplicated, reordered or malformed events, and streams the server ended early.
    pub problems: u64,
    pub problem_samples: Vec<String>,
    /// Clients that had not reported when the process gave up on them.
    pub unreported: usize,
    /// Publish→receipt latencies in µs, as `[value, count]` pairs.
    pub latency_us: Vec<[u64; 2]>,
    /// CPU time this process used from `ready` to `result` (user + system), ms.
    pub cpu_ms: f64,
    /// For each event n (index n − 1), the latest receipt after publish, in µs: shows whether
    /// one event's fan-out is slow, or events queue up behind each other.
    pub event_max_us: Vec<u64>,
}

#[derive(Default)]
struct Report {
    connected: bool,
    received: u64,
    complete: bool,
    problems: u64,
    samples: Vec<String>,
    latencies: Vec<u32>,
}

impl Report {
    fn problem(&mut self, what: String) {
        self.problems += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(what);
        }
    }
}

/// What one connection has seen: the position heartbeat, then patches `n = 1, 2, ...`.
struct Tracker {
    events: u64,
    positioned: bool,
    /// The fresh topic's position: where the server numbers its patches from (above the
    /// server process's start time, so never 0).
    base: u64,
    next: u64,
    report: Report,
}

impl Tracker {
    fn on_item(&mut self, item: sse::Item<'_>) {
        match item {
            sse::Item::Event(event) => self.on_event(event),
            sse::Item::Retry(_) => {}
            sse::Item::TooLong => self
                .report
                .problem("a line or an event over the parser's 1 MiB bound".into()),
        }
    }

    fn on_event(&mut self, event: sse::Event<'_>) {
        match event.event {
            // The first frame of a fresh subscription: the topic's position, where the server
            // numbers its patches from.
            "heartbeat" if !self.positioned => {
                self.positioned = true;
                match event.id.parse::<u64>() {
                    Ok(base) => self.base = base,
                    Err(_) => self.report.problem(format!(
                        "first heartbeat has id {:?}, expected the topic's position",
                        event.id
                    )),
                }
            }
            "heartbeat" => {}
            "patch" => {
                let received_at = crate::now_us();
                match parse_patch(event.data) {
                    Some((stamp, n)) => {
                        if event.id.parse::<u64>().ok() != Some(self.base + n) {
                            self.report
                                .problem(format!("patch n={n} carries id {:?}", event.id));
                        }
                        if n != self.next {
                            self.report.problem(format!(
                                "patch n={n} arrived when n={} was expected ({})",
                                self.next,
                                if n < self.next {
                                    "duplicate"
                                } else {
                                    "lost events"
                                }
                            ));
                            if n > self.next {
                                self.next = n + 1;
                            }
                            return;
                        }
                        self.next += 1;
                        self.report.received += 1;
                        let micros = received_at.saturating_sub(stamp);
                        self.report
                            .latencies
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        if self.report.received == self.events {
                            self.report.complete = self.report.problems == 0;
                        }
                    }
                    None => self
                        .report
                        .problem(format!("malformed patch data {:?}", event.data)),
                }
            }
            other => self.report.problem(format!("unexpected event {other:?}")),
        }
    }

    fn done(&self) -> bool {
        self.report.received >= self.events || self.next > self.events
    }
}

/// `[["replace","/t",<µs>],["replace","/n",<n>]]` (exactly what the coordinator publishes, in
/// the server's compact form) → `(µs, n)`. Anything else is `None`: a malformed event.
fn parse_patch(data: &str) -> Option<(u64, u64)> {
    let rest = data.strip_prefix(r#"[["replace","/t","#)?;
    let (stamp, rest) = rest.split_once(']')?;
    let rest = rest.strip_prefix(r#",["replace","/n","#)?;
    let n = rest.strip_suffix("]]")?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    Some((number(stamp)?, number(n)?))
}

enum Body {
    Chunked(Dechunk),
    Identity,
}

struct Conn {
    stream: TcpStream,
    body: Body,
    parser: sse::Parser,
    buf: Box<[u8]>,
}

impl Conn {
    /// Reads once; `Ok(false)` when the server ended the stream.
    async fn read_some(&mut self, tracker: &mut Tracker) -> Result<bool, String> {
        let n = self
            .stream
            .read(&mut self.buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Ok(false);
        }
        self.feed(n, tracker)
    }

    fn feed(&mut self, n: usize, tracker: &mut Tracker) -> Result<bool, String> {
        let Self {
            body, parser, buf, ..
        } = self;
        let mut on_event = |item: sse::Item<'_>| tracker.on_item(item);
        match body {
            Body::Identity => {
                parser.feed(&buf[..n], &mut on_event);
                Ok(true)
            }
            Body::Chunked(d) => {
                let ended = d.feed(&buf[..n], &mut |bytes| parser.feed(bytes, &mut on_event))?;
                Ok(!ended)
            }
        }
    }
}

async fn open(settings: &Settings, tracker: &mut Tracker) -> Result<Conn, String> {
    let mut stream = net::connect(settings.src, settings.server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
        settings.path, settings.server
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut rest = Vec::new();
    let head = net::read_head(&mut stream, &mut rest).await?;
    if head.status != 200 {
        return Err(format!("HTTP {}", head.status));
    }
    if !head
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"))
    {
        return Err(format!(
            "content type {:?}, not text/event-stream",
            head.header("content-type")
        ));
    }
    let mut conn = Conn {
        stream,
        body: if head.is_chunked() {
            Body::Chunked(Dechunk::default())
        } else {
            Body::Identity
        },
        parser: sse::Parser::new(),
        buf: vec![0u8; READ_BUF].into_boxed_slice(),
    };
    // Whatever came with the head, then reads until the position heartbeat: from then on the
    // server has this client subscribed.
    let mut pending = rest.as_slice();
    while !tracker.positioned {
        if pending.is_empty() {
            if !conn.read_some(tracker).await? {
                return Err("the server ended the stream before its first event".into());
            }
        } else {
            let n = pending.len().min(conn.buf.len());
            conn.buf[..n].copy_from_slice(&pending[..n]);
            pending = &pending[n..];
            if !conn.feed(n, tracker)? {
                return Err("the server ended the stream before its first event".into());
            }
        }
    }
    Ok(conn)
}

async fn client(
    settings: Arc<Settings>,
    gate: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
) -> Report {
    let mut tracker = Tracker {
        events: settings.events,
        positioned: false,
        base: 0,
        next: 1,
        report: Report {
            latencies: Vec::with_capacity(usize::try_from(settings.events).unwrap_or(0)),
            ..Report::default()
        },
    };
    let opened = {
        let Ok(_permit) = gate.acquire().await else {
            return tracker.report;
        };
        tokio::time::timeout(PER_CLIENT_CONNECT, open(&settings, &mut tracker))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no first event within {} s",
                    PER_CLIENT_CONNECT.as_secs()
                ))
            })
    };
    let mut conn = match opened {
        Ok(conn) => conn,
        Err(e) => {
            let _ = ready.send(Err(e));
            return tracker.report;
        }
    };
    tracker.report.connected = true;
    let _ = ready.send(Ok(()));
    drop(ready);
    while !tracker.done() {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            read = conn.read_some(&mut tracker) => match read {
                Ok(true) => {}
                Ok(false) => {
                    tracker.report.problem(format!(
                        "the server ended the stream after {} events", tracker.report.received
                    ));
                    break;
                }
                Err(e) => {
                    tracker.report.problem(e);
                    break;
                }
            },
        }
    }
    tracker.report
}

/// Batches reads: sleeps the (only) runtime thread for `period`, then lets every connection
/// that became readable meanwhile run, and again, until `stop`. A thread that sleeps here
/// rather than in `epoll_wait` needs no wake-up per arriving frame; on loopback that wake-up
/// is paid by the sender, so reading frame by frame would bill the server for its clients.
async fn pace(period: Duration, stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        std::thread::sleep(period);
        tokio::task::yield_now().await;
    }
}

fn say(tag: &str, value: &impl Serialize) {
    let json = serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    println!("{tag} {json}");
}

pub async fn run(settings: Settings) -> Result<(), String> {
    let started = Instant::now();
    let hard_stop = started + settings.max_total;
    let settings = Arc::new(settings);
    let gate = Arc::new(Semaphore::new(settings.pacing.in_flight));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for _ in 0..settings.count {
        tasks.spawn(client(
            settings.clone(),
            gate.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        ));
    }
    drop(ready_tx);

    // Connect phase, bounded.
    let mut ready = Ready::default();
    let phase_end = started + settings.pacing.connect_phase();
    while ready.connected + ready.failed < settings.count {
        tokio::select! {
            next = ready_rx.recv() => match next {
                Some(Ok(())) => ready.connected += 1,
                Some(Err(e)) => {
                    ready.failed += 1;
                    if let Some((_, n)) = ready.errors.iter_mut().find(|(m, _)| *m == e) {
                        *n += 1;
                    } else if ready.errors.len() < 8 {
                        ready.errors.push((e, 1));
                    }
                }
                None => break,
            },
            () = tokio::time::sleep_until(phase_end) => {
                let missing = settings.count - ready.connected - ready.failed;
                ready.failed += missing;
                ready.errors.push((format!(
                    "still connecting after {} s", settings.pacing.connect_phase().as_secs()
                ), missing));
                break;
            }
        }
    }
    ready.connect_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    say("ready", &ready);

    // Broadcast phase: until the coordinator says `done` (or goes away), bounded.
    let cpu_at_ready = crate::limits::own_cpu_ms();
    let pacer = (!settings.pacing.batch().is_zero())
        .then(|| tokio::spawn(pace(settings.pacing.batch(), stop_rx)));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let _ = tokio::time::timeout_at(hard_stop, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim() == "done" {
                break;
            }
        }
    })
    .await;

    // Stragglers get a grace period, then everyone still reading is told to stop.
    let mut outcome = Outcome {
        clients: settings.count,
        ..Outcome::default()
    };
    let mut latencies = Histogram::default();
    outcome.event_max_us = vec![0; usize::try_from(settings.events).unwrap_or(0)];
    let mut absorb = |report: Report, outcome: &mut Outcome| {
        outcome.connected += usize::from(report.connected);
        outcome.complete += usize::from(report.complete);
        outcome.received += report.received;
        outcome.problems += report.problems;
        for s in report.samples {
            if outcome.problem_samples.len() < 10 {
                outcome.problem_samples.push(s);
            }
        }
        // A complete report holds events 1, 2, ... in order; later ones may be missing.
        for (slot, l) in outcome.event_max_us.iter_mut().zip(&report.latencies) {
            *slot = (*slot).max(u64::from(*l));
        }
        for l in report.latencies {
            latencies.record(u64::from(l));
        }
    };
    let grace_end = (Instant::now() + settings.pacing.grace()).min(hard_stop);
    while let Ok(Some(joined)) = tokio::time::timeout_at(grace_end, tasks.join_next()).await {
        if let Ok(report) = joined {
            absorb(report, &mut outcome);
        }
    }
    let _ = stop_tx.send(true);
    let collect_end = Instant::now() + Duration::from_secs(3);
    while let Ok(Some(joined)) = tokio::time::timeout_at(collect_end, tasks.join_next()).await {
        if let Ok(report) = joined {
            absorb(report, &mut outcome);
        }
    }
    outcome.unreported = tasks.len();
    tasks.abort_all();
    if let Some(pacer) = pacer {
        pacer.abort();
    }
    outcome.latency_us = latencies.to_pairs();
    outcome.cpu_ms = crate::limits::own_cpu_ms() - cpu_at_ready;
    say("result", &outcome);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_coordinator_publishes() {
        assert_eq!(
            parse_patch(r#"[["replace","/t",1700000000000000],["replace","/n",7]]"#),
            Some((1_700_000_000_000_000, 7))
        );
        assert_eq!(
            parse_patch(r#"[["replace","/t",1],["replace","/n",-7]]"#),
            None
        );
        assert_eq!(
            parse_patch(r#"[["replace","/n",1],["replace","/t",7]]"#),
            None
        );
        assert_eq!(parse_patch("[]"), None);
    }
}
