//! The coordinator: spreads N clients over worker processes (this same binary, `clients`),
//! waits until all are connected, reads the server's RSS, publishes events at a fixed rate with
//! their publish time inside, and folds the workers' results into one JSON line.

use std::net::SocketAddrV4;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::Instant;

use crate::clients::{Outcome, Ready};
use crate::hist::Histogram;
use crate::pacing::Pacing;
use crate::{limits, net};

pub struct Plan {
    pub server: SocketAddrV4,
    pub server_pid: Option<u32>,
    pub clients: usize,
    pub procs: usize,
    pub events: u64,
    pub rate: f64,
    pub page: String,
    pub topic: String,
    /// Worker `i` connects from `<src_prefix>.<i + 1>`.
    pub src_prefix: Option<String>,
    pub pacing: Pacing,
    pub token: String,
}

#[derive(Serialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub ok: bool,
    /// Why the run is not `ok`: the first thing that went wrong.
    pub failure: Option<String>,
    /// `connect` when clients could not all connect (a capacity limit), `delivery` when
    /// connected clients missed, repeated or reordered events (a broken scenario).
    pub failure_kind: Option<&'static str>,
    pub clients: usize,
    pub procs: usize,
    pub connected: usize,
    pub connect_errors: Vec<(String, usize)>,
    pub connect_ms: u64,
    /// The server's own count of open SSE responses (`/ready`), once all were connected.
    pub server_sse_clients: Option<u64>,
    pub rss_before_kb: Option<u64>,
    pub rss_idle_kb: Option<u64>,
    pub rss_after_kb: Option<u64>,
    /// (idle − before) / connected, in bytes.
    pub rss_per_conn_bytes: Option<f64>,
    pub events: u64,
    pub published: u64,
    pub publish_secs: f64,
    /// Subscribers the server reported for each publish that differed from `connected`.
    pub receiver_mismatches: u64,
    pub expected: u64,
    pub received: u64,
    pub complete: usize,
    pub problems: u64,
    pub problem_samples: Vec<String>,
    pub unreported: usize,
    pub samples: u64,
    /// CPU time used while events flowed (first publish to last result), in ms: the server's
    /// and all workers' together.
    pub server_cpu_ms: Option<f64>,
    pub loadgen_cpu_ms: f64,
    /// Over the same span, how long the server's threads waited for a CPU while runnable.
    pub server_runqueue_wait_ms: Option<f64>,
    pub broadcast_wall_ms: f64,
    /// Per event, the latest receipt after publish over all clients, in ms.
    pub event_max_ms: Vec<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    /// The next line tagged `tag`, bounded by `until`.
    async fn expect(&mut self, tag: &str, until: Instant) -> Result<String, String> {
        loop {
            let line = tokio::time::timeout_at(until, self.lines.next_line())
                .await
                .map_err(|_| format!("worker gave no `{tag}` line in time"))?
                .map_err(|e| format!("reading a worker: {e}"))?
                .ok_or_else(|| format!("worker exited before its `{tag}` line"))?;
            if let Some(json) = line.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')) {
                return Ok(json.to_owned());
            }
        }
    }
}

/// `VmRSS` of a process, in kB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn spawn_worker(plan: &Plan, path: &str, index: usize, count: usize) -> Result<Worker, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("clients")
        .arg("--server")
        .arg(format!("http://{}", plan.server))
        .arg("--path")
        .arg(path)
        .arg("--count")
        .arg(count.to_string())
        .arg("--events")
        .arg(plan.events.to_string())
        .args(plan.pacing.to_args())
        .arg("--max-seconds")
        .arg(max_worker_secs(plan).to_string());
    if let Some(prefix) = &plan.src_prefix {
        cmd.arg("--src-ip").arg(format!("{prefix}.{}", index + 1));
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| format!("starting a worker: {e}"))?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().ok_or("worker without stdout")?;
    Ok(Worker {
        child,
        stdin,
        lines: BufReader::new(stdout).lines(),
    })
}

/// A worker's own hard bound: connect, publish at the planned rate (twice as slow allowed),
/// grace, and a margin.
fn max_worker_secs(plan: &Plan) -> u64 {
    let publish = (plan.events as f64 / plan.rate * 2.0).ceil() as u64;
    plan.pacing.connect_phase().as_secs() + publish + plan.pacing.grace().as_secs() + 30
}

/// Splits `total` as evenly as possible over `parts`.
pub fn shares(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.clamp(1, total.max(1));
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

pub async fn run(plan: Plan) -> Summary {
    let mut summary = Summary {
        clients: plan.clients,
        events: plan.events,
        ..Summary::default()
    };
    let mut workers = Vec::new();
    let result = drive(&plan, &mut summary, &mut workers).await;
    if let Err(e) = result {
        summary.failure.get_or_insert(e);
    }
    for w in &mut workers {
        let _ = w.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(2), w.child.wait()).await;
    }
    summary.ok = summary.failure.is_none();
    summary
}

async fn drive(plan: &Plan, s: &mut Summary, workers: &mut Vec<Worker>) -> Result<(), String> {
    let path = format!(
        "/{}/__events?topic={}",
        plan.page,
        net::encode_query(&plan.topic)
    );
    s.rss_before_kb = plan.server_pid.and_then(rss_kb);
    let counts = shares(plan.clients, plan.procs);
    s.procs = counts.len();
    for (i, &n) in counts.iter().enumerate() {
        workers.push(spawn_worker(plan, &path, i, n)?);
    }

    // Everyone connected (or the phase ran out).
    let until = Instant::now() + plan.pacing.connect_phase() + Duration::from_secs(10);
    for w in workers.iter_mut() {
        let ready: Ready = serde_json::from_str(&w.expect("ready", until).await?)
            .map_err(|e| format!("worker's ready line: {e}"))?;
        s.connected += ready.connected;
        s.connect_ms = s.connect_ms.max(ready.connect_ms);
        for (msg, n) in ready.errors {
            match s.connect_errors.iter_mut().find(|(m, _)| *m == msg) {
                Some((_, k)) => *k += n,
                None => s.connect_errors.push((msg, n)),
            }
        }
    }
    if s.connected < plan.clients {
        s.failure_kind = Some("connect");
        return Err(format!(
            "only {} of {} clients connected",
            s.connected, plan.clients
        ));
    }

    // Idle: let the server settle, then read its footprint and its own client count.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.rss_idle_kb = plan.server_pid.and_then(rss_kb);
    if let (Some(before), Some(idle)) = (s.rss_before_kb, s.rss_idle_kb) {
        s.rss_per_conn_bytes = Some((idle as f64 - before as f64) * 1024.0 / s.connected as f64);
    }
    s.server_sse_clients = server_clients(plan.server).await.ok();

    // Broadcast at a fixed rate, each event stamped with its publish time.
    let mut publisher = net::connect(None, plan.server)
        .await
        .map_err(|e| format!("publisher connect: {e}"))?;
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let server_cpu_start = plan.server_pid.and_then(limits::process_cpu_ms);
    let server_sched_start = plan.server_pid.and_then(limits::process_sched_ms);
    let start = Instant::now();
    let mut publish_error = None;
    for n in 1..=plan.events {
        tokio::time::sleep_until(start + period.mul_f64((n - 1) as f64)).await;
        let body = format!(
            "[[\"replace\",\"/t\",{}],[\"replace\",\"/n\",{n}]]",
            crate::now_us()
        );
        let request = format!(
            "POST /_publish/{} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            net::encode_query(&plan.topic),
            plan.server,
            plan.token,
            body.len()
        );
        match net::exchange(&mut publisher, request.as_bytes(), Duration::from_secs(5)).await {
            Ok((202, answer)) => {
                s.published += 1;
                let receivers = serde_json::from_slice::<serde_json::Value>(&answer)
                    .ok()
                    .and_then(|v| v.get("receivers").and_then(serde_json::Value::as_u64));
                if receivers != Some(s.connected as u64) {
                    s.receiver_mismatches += 1;
                    publish_error.get_or_insert(format!(
                        "publish {n}: the server had {receivers:?} subscribers, not {}",
                        s.connected
                    ));
                }
            }
            Ok((status, answer)) => {
                publish_error = Some(format!(
                    "publish {n}: HTTP {status}: {}",
                    String::from_utf8_lossy(&answer)
                ));
                break;
            }
            Err(e) => {
                publish_error = Some(format!("publish {n}: {e}"));
                break;
            }
        }
    }
    s.publish_secs = start.elapsed().as_secs_f64();

    // Workers wait for their stragglers (grace), then report.
    for w in workers.iter_mut() {
        if let Some(mut stdin) = w.stdin.take() {
            let _ = stdin.write_all(b"done\n").await;
        }
    }
    let until = Instant::now() + plan.pacing.grace() + Duration::from_secs(10);
    let mut latencies = Histogram::default();
    for w in workers.iter_mut() {
        let outcome: Outcome = serde_json::from_str(&w.expect("result", until).await?)
            .map_err(|e| format!("worker's result line: {e}"))?;
        s.received += outcome.received;
        s.complete += outcome.complete;
        s.problems += outcome.problems;
        s.unreported += outcome.unreported;
        for p in outcome.problem_samples {
            if s.problem_samples.len() < 10 {
                s.problem_samples.push(p);
            }
        }
        latencies.merge(&Histogram::from_pairs(&outcome.latency_us));
        s.loadgen_cpu_ms += outcome.cpu_ms;
        s.event_max_ms.resize(outcome.event_max_us.len(), 0.0);
        for (slot, us) in s.event_max_ms.iter_mut().zip(&outcome.event_max_us) {
            *slot = slot.max(*us as f64 / 1000.0);
        }
    }
    s.broadcast_wall_ms = start.elapsed().as_secs_f64() * 1000.0;
    if let (Some(a), Some(b)) = (
        server_cpu_start,
        plan.server_pid.and_then(limits::process_cpu_ms),
    ) {
        s.server_cpu_ms = Some(b - a);
    }
    if let (Some((_, a)), Some((_, b))) = (
        server_sched_start,
        plan.server_pid.and_then(limits::process_sched_ms),
    ) {
        s.server_runqueue_wait_ms = Some(b - a);
    }
    s.rss_after_kb = plan.server_pid.and_then(rss_kb);
    s.expected = s.connected as u64 * plan.events;
    s.samples = latencies.count();
    let ms = |us: Option<u64>| us.map(|v| v as f64 / 1000.0);
    s.p50_ms = ms(latencies.quantile(0.50));
    s.p99_ms = ms(latencies.quantile(0.99));
    s.max_ms = ms(latencies.max());

    if let Some(e) = publish_error {
        s.failure_kind = Some("delivery");
        return Err(e);
    }
    if s.received != s.expected || s.complete != s.connected || s.problems > 0 {
        s.failure_kind = Some("delivery");
        return Err(format!(
            "{} of {} events received, {} of {} clients complete, {} problems (e.g. {:?})",
            s.received,
            s.expected,
            s.complete,
            s.connected,
            s.problems,
            s.problem_samples.first()
        ));
    }
    if s.server_sse_clients != Some(s.connected as u64) {
        s.failure_kind = Some("delivery");
        return Err(format!(
            "the server counted {:?} SSE clients, the workers {}",
            s.server_sse_clients, s.connected
        ));
    }
    Ok(())
}

/// `sseClients` from `/ready`.
async fn server_clients(server: SocketAddrV4) -> Result<u64, String> {
    let mut stream = net::connect(None, server)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let request = format!("GET /ready HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
    let (status, body) =
        net::exchange(&mut stream, request.as_bytes(), Duration::from_secs(5)).await?;
    if status != 200 {
        return Err(format!("/ready answered {status}"));
    }
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("sseClients").and_then(serde_json::Value::as_u64))
        .ok_or_else(|| "no sseClients in /ready".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_even() {
        assert_eq!(shares(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(shares(1, 4), vec![1]);
        assert_eq!(shares(19_500, 4).iter().sum::<usize>(), 19_500);
    }
}
