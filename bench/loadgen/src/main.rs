//! `livesource-loadgen`: the load generator of benchmark P5 (server fan-out).
//!
//! `run` is the coordinator: it starts `procs` copies of this binary as `clients` workers, each
//! holding its share of idle SSE connections to a patch topic of `livesource-dev`, publishes
//! `events` patches at `rate` per second with their publish time inside, and prints one JSON
//! line: connections, server RSS per connection, publish→receipt p50/p99, and every count.
//! It exits 1 when the scenario broke (a client missing, an event lost or repeated).
//!
//! Loopback only: the server must be a literal 127.0.0.0/8 address, and so must the source
//! addresses. Every loop is bounded in count and time.

mod clients;
mod coordinator;
mod hist;
mod limits;
mod net;
mod pacing;

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "SSE fan-out load generator for livesource-dev (loopback only)")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Coordinate a run: workers, publisher, figures (one JSON line on stdout).
    Run(RunArgs),
    /// A worker: hold `count` SSE connections and record event arrivals (used by `run`).
    Clients(ClientArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The server, `http://127.x.y.z:port`.
    #[arg(long)]
    server: String,
    /// The server's process id, to read its RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long)]
    clients: usize,
    /// Worker processes to spread the clients over.
    #[arg(long, default_value_t = 4)]
    procs: usize,
    /// Events to publish.
    #[arg(long, default_value_t = 50)]
    events: u64,
    /// Events per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// The page segment of `/<page>/__events`.
    #[arg(long, default_value = "bench")]
    page: String,
    /// The topic (must carry the server's topic prefix); default: a fresh `dashboard:` one.
    #[arg(long)]
    topic: Option<String>,
    /// Worker i connects from `<prefix>.<i+1>`, e.g. `127.0.3`; default: the kernel's choice.
    #[arg(long)]
    src_prefix: Option<String>,
    #[command(flatten)]
    pacing: pacing::Pacing,
}

#[derive(clap::Args)]
struct ClientArgs {
    #[arg(long)]
    server: String,
    /// Path and query of the SSE endpoint.
    #[arg(long)]
    path: String,
    #[arg(long)]
    count: usize,
    #[arg(long)]
    src_ip: Option<String>,
    #[arg(long)]
    events: u64,
    /// Hard bound on this process's whole life.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    #[command(flatten)]
    pacing: pacing::Pacing,
}

/// Microseconds since the Unix epoch: one clock for every process on this machine.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Descriptors a process needs beyond its connections (stdio, epoll, pipes, the publisher).
const FD_MARGIN: u64 = 64;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("livesource-loadgen: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match Cli::parse().command {
        Cmd::Run(args) => match plan(args) {
            Ok(plan) => {
                let summary = runtime.block_on(coordinator::run(plan));
                match serde_json::to_string(&summary) {
                    Ok(json) => println!("{json}"),
                    Err(e) => eprintln!("livesource-loadgen: {e}"),
                }
                if summary.ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("livesource-loadgen: {e}");
                ExitCode::from(2)
            }
        },
        Cmd::Clients(args) => match settings(args) {
            Ok(settings) => match runtime.block_on(clients::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("livesource-loadgen clients: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(e) => {
                eprintln!("livesource-loadgen clients: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn plan(args: RunArgs) -> Result<coordinator::Plan, String> {
    limits::raise_open_files(args.procs as u64 * 4 + FD_MARGIN)?;
    if !(args.rate > 0.0 && args.rate <= 1000.0) {
        return Err("--rate must be in (0, 1000]".into());
    }
    if args.clients == 0 || args.procs == 0 || args.events == 0 {
        return Err("--clients, --procs and --events must be positive".into());
    }
    if args.procs > 64 || args.events > 100_000 || args.clients > 1_000_000 {
        return Err("--procs ≤ 64, --events ≤ 100000, --clients ≤ 1000000".into());
    }
    if let Some(prefix) = &args.src_prefix {
        net::loopback_ip(&format!("{prefix}.1"))?;
        net::loopback_ip(&format!("{prefix}.{}", args.procs))?;
    }
    let token = std::env::var("LIVESOURCE_BENCH_TOKEN").map_err(|_| {
        "set LIVESOURCE_BENCH_TOKEN to an editor token (livesource-dev token --role editor)"
            .to_owned()
    })?;
    Ok(coordinator::Plan {
        server: net::loopback_server(&args.server)?,
        server_pid: args.server_pid,
        clients: args.clients,
        procs: args.procs,
        events: args.events,
        rate: args.rate,
        topic: args
            .topic
            .unwrap_or_else(|| format!("dashboard:fanout-{}", now_us())),
        page: args.page,
        src_prefix: args.src_prefix,
        pacing: args.pacing.bounded(),
        token,
    })
}

fn settings(args: ClientArgs) -> Result<clients::Settings, String> {
    limits::raise_open_files(args.count as u64 + FD_MARGIN)?;
    if !args.path.starts_with('/')
        || args
            .path
            .contains(|c: char| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "--path {:?}: expected /path?query without spaces",
            args.path
        ));
    }
    Ok(clients::Settings {
        server: net::loopback_server(&args.server)?,
        path: args.path,
        count: args.count,
        src: args.src_ip.as_deref().map(net::loopback_ip).transpose()?,
        events: args.events,
        max_total: Duration::from_secs(args.max_seconds.clamp(1, 3600)),
        pacing: args.pacing.bounded(),
    })
}
