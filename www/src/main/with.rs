//! `livesource-dev with [FLAGS] -- COMMAND [ARGS…]`: one real server for the length of one
//! command, for tests of pages against it (ours and users').
//!
//! The server runs as `livesource-dev serve` (this same binary) in a process group of its own,
//! so a Ctrl-C reaches the command, not the server: the server is stopped after the command,
//! in order. Its stdout line gives the port (bound as 0, kept across restarts); its log goes to
//! a file, shown (the end of it) when the command fails.

use std::ffi::OsString;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::time::Duration;

use clap::Args;
use tokio::process::Command;
use tokio::sync::watch;

use crate::ServerFlags;

mod server;

use server::{free_port, send_signal, supervise, Launch};

/// Server restarts `--restart` allows in one run: a server that cannot stay up is a failure,
/// not a loop.
const MAX_RESTARTS: u32 = 50;
/// How long the server has to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// After SIGTERM, how long the server may drain before it is killed (it exits within 2 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// After a forwarded Ctrl-C or SIGTERM, how long the command has to exit before it is killed.
const COMMAND_GRACE: Duration = Duration::from_secs(10);
/// Lines of the server log shown when the command fails.
const LOG_TAIL: usize = 40;

pub const AFTER_HELP: &str = "\
COMMAND sees:
  LIVESOURCE_TEST_SERVER     the server's base URL, http://127.0.0.1:PORT
  LIVESOURCE_TEST_ORIGIN     the origin CORS allows for the test's own pages, http://127.0.0.1:PORT2
  WASM_BINDGEN_TEST_ADDRESS  127.0.0.1:PORT2: where `wasm-pack test` serves its page (that origin)
  LIVESOURCE_JWT_SECRET      the server's signing secret (`livesource-dev token` uses it)
  LIVESOURCE_TEST_DATA       the server's data directory
  LIVESOURCE_TEST_LOG        the server's log file

Exit status: COMMAND's (128 + N if a signal N ended it or interrupted `with`).

Example:
  livesource-dev with --test-routes --restart -- wasm-pack test --headless --chrome";

#[derive(Args)]
pub struct With {
    /// Address the server binds; port 0 picks a free one (outside the ephemeral range, so
    /// nothing takes it while a restart is pending), which restarts keep.
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Data directory, kept afterwards [default: a temporary one, removed afterwards].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Where the test runner serves its page (WASM_BINDGEN_TEST_ADDRESS); CORS allows its
    /// origin [default: a free loopback port].
    #[arg(long, value_name = "ADDR")]
    runner_addr: Option<SocketAddr>,
    /// Start the server again, on the same port and data directory, whenever it exits while
    /// COMMAND runs (POST /_test/exit, a crash); at most 50 times.
    #[arg(long)]
    restart: bool,
    /// The run needs the test-only routes (/_test/*): refuse to start unless this binary was
    /// built with them (cargo feature `test-routes`, never in a default build).
    #[arg(long)]
    test_routes: bool,
    /// Write the server's log to FILE and keep it [default: a file in the temporary directory].
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    #[command(flatten)]
    server: ServerFlags,
    /// The command to run, after `--`, and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

pub fn run(args: With) -> ExitCode {
    match run_inner(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("livesource-dev with: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The temporary directory, removed when dropped: on every return and on a panic.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, String> {
        let name = livesource_dev::auth::random_hex(8)?;
        let path = std::env::temp_dir().join(format!("livesource-with.{name}"));
        std::fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_inner(args: With) -> Result<u8, String> {
    if args.test_routes && !cfg!(feature = "test-routes") {
        return Err(
            "--test-routes: this livesource-dev was built without the test-only \
                    routes; build it with them: `cargo build -p livesource-dev --features \
                    test-routes` (or `cargo install … --features test-routes`)"
                .to_owned(),
        );
    }
    let temp = TempDir::new()?;
    let data = match &args.data {
        Some(dir) => dir.clone(),
        None => temp.0.join("data"),
    };
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let log_path = match &args.log {
        Some(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            path.clone()
        }
        None => temp.0.join("server.log"),
    };
    let log = File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let loopback = if args.addr.is_ipv6() {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let runner = match args.runner_addr {
        Some(addr) => addr,
        None => free_port(loopback)?,
    };
    let addr = match args.addr.port() {
        0 => free_port(args.addr.ip())?,
        _ => args.addr,
    };
    let runner_origin = format!("http://{runner}");
    let secret = livesource_dev::auth::random_hex(32)?;
    // On Linux the running binary itself, even after a rebuild replaced the file (a restart
    // then still starts the same server).
    let exe = match Path::new("/proc/self/exe") {
        proc if proc.exists() => proc.to_owned(),
        _ => std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?,
    };
    let launch = Launch {
        exe,
        data: data.clone(),
        flags: {
            let mut flags = args.server.to_args();
            flags.extend(["--cors-origin".into(), runner_origin.clone().into()]);
            flags
        },
        secret: secret.clone(),
        log: log.try_clone().map_err(|e| e.to_string())?,
        log_path: log_path.clone(),
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let code = runtime.block_on(async {
        let mut signals = Signals::new()?;
        let (server, bound) = tokio::select! {
            started = launch.start(addr) => started?,
            signal = signals.recv() => return Ok(128 + signal as u8),
        };
        let server_url = format!("http://{bound}");
        let (stop, stopped) = watch::channel(false);
        let supervisor = tokio::spawn(supervise(launch, bound, server, args.restart, stopped));

        let mut command = Command::new(&args.command[0]);
        command
            .args(&args.command[1..])
            .env("LIVESOURCE_TEST_SERVER", &server_url)
            .env("LIVESOURCE_TEST_ORIGIN", &runner_origin)
            .env("WASM_BINDGEN_TEST_ADDRESS", runner.to_string())
            .env("LIVESOURCE_JWT_SECRET", &secret)
            .env("LIVESOURCE_TEST_DATA", &data)
            .env("LIVESOURCE_TEST_LOG", &log_path)
            .kill_on_drop(true);
        let code = match command.spawn() {
            Err(e) => {
                eprintln!("livesource-dev with: cannot run {:?}: {e}", args.command[0]);
                127
            }
            Ok(mut child) => {
                tokio::select! {
                    status = child.wait() => exit_code(status.map_err(|e| e.to_string())?),
                    signal = signals.recv() => {
                        // Passed on, so the command can stop as it would have under a terminal.
                        send_signal(&mut child, signal);
                        if tokio::time::timeout(COMMAND_GRACE, child.wait()).await.is_err() {
                            let _ = child.kill().await;
                        }
                        128 + signal as u8
                    }
                }
            }
        };
        let _ = stop.send(true);
        let _ = supervisor.await;
        Ok::<u8, String>(code)
    })?;
    // The runtime's last tasks (the stdout reader) end with it.
    drop(runtime);
    if code != 0 {
        show_log_tail(&log_path, args.log.is_some());
    }
    drop(temp);
    Ok(code)
}

/// The signals that end `with`: Ctrl-C, SIGTERM, SIGHUP.
struct Signals {
    #[cfg(unix)]
    streams: Vec<(i32, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn new() -> Result<Self, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut streams = Vec::new();
            for (number, kind) in [
                (libc::SIGINT, SignalKind::interrupt()),
                (libc::SIGTERM, SignalKind::terminate()),
                (libc::SIGHUP, SignalKind::hangup()),
            ] {
                streams.push((number, signal(kind).map_err(|e| e.to_string())?));
            }
            Ok(Self { streams })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal's number.
    async fn recv(&mut self) -> i32 {
        #[cfg(unix)]
        {
            let waits = self.streams.iter_mut().map(|(number, stream)| {
                let number = *number;
                Box::pin(async move {
                    stream.recv().await;
                    number
                })
            });
            futures_util::future::select_all(waits).await.0
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            2
        }
    }
}

fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code).unwrap_or(1);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128u8.saturating_add(u8::try_from(signal).unwrap_or(0));
        }
    }
    1
}

fn show_log_tail(path: &Path, kept: bool) {
    if kept {
        eprintln!(
            "--- livesource-dev log (last {LOG_TAIL} lines; all of it in {}) ---",
            path.display()
        );
    } else {
        eprintln!("--- livesource-dev log (last {LOG_TAIL} lines) ---");
    }
    eprint!("{}", log_tail(path));
}

/// The last `LOG_TAIL` lines of the log, each ending in a newline.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL)..]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect()
}
