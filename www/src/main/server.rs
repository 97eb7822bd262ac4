//! The server side of `with`: starting `livesource-dev serve` on a fixed free port, watching
//! it (and restarting it under `--restart`), and stopping it with a drain deadline.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::{log_tail, MAX_RESTARTS, START_TIMEOUT, STOP_TIMEOUT};

/// What it takes to start (and restart) the server.
pub(super) struct Launch {
    pub(super) exe: PathBuf,
    pub(super) data: PathBuf,
    pub(super) flags: Vec<OsString>,
    pub(super) secret: String,
    pub(super) log: File,
    pub(super) log_path: PathBuf,
}

impl Launch {
    pub(super) fn spawn(&self, addr: SocketAddr) -> Result<Child, String> {
        let log = self.log.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&self.exe);
        command
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--data")
            .arg(&self.data)
            .args(&self.flags)
            .env("LIVESOURCE_JWT_SECRET", &self.secret)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        #[cfg(unix)]
        {
            // Its own process group: a Ctrl-C in the terminal goes to the command; `with` stops
            // the server after it.
            command.process_group(0);
        }
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            // If `with` itself is killed (SIGKILL), the server goes too.
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))
    }

    /// Starts the server and waits for its `listening on` line: the address it bound.
    pub(super) async fn start(&self, addr: SocketAddr) -> Result<(Child, SocketAddr), String> {
        let mut child = self.spawn(addr)?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| format!("livesource-dev printed no address within {START_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        let bound = line
            .as_deref()
            .and_then(|l| l.strip_prefix("livesource-dev listening on http://"))
            .and_then(|a| a.trim().parse::<SocketAddr>().ok());
        let Some(bound) = bound else {
            let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            let why = match status {
                Ok(Ok(status)) => format!("it exited with {status}"),
                _ => format!("it printed {line:?}"),
            };
            return Err(format!(
                "livesource-dev did not start ({why}); the end of its log:\n{}",
                log_tail(&self.log_path)
            ));
        };
        drain(lines.into_inner());
        Ok((child, bound))
    }

    fn note(&self, message: &str) {
        let _ = writeln!(&self.log, "livesource-dev with: {message}");
    }
}

/// Watches the server until `stopped`; restarts it on exit when `restart` is set. Returns the
/// last server process, stopped.
pub(super) async fn supervise(
    launch: Launch,
    bound: SocketAddr,
    mut server: Child,
    restart: bool,
    mut stopped: watch::Receiver<bool>,
) -> Child {
    let mut restarts = 0;
    let mut running = true;
    loop {
        tokio::select! {
            status = server.wait(), if running => {
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                if *stopped.borrow() {
                    break;
                }
                if !restart || restarts >= MAX_RESTARTS {
                    let why = if restart {
                        format!("after {MAX_RESTARTS} restarts")
                    } else {
                        "without --restart".into()
                    };
                    launch.note(&format!("the server exited ({status}); not restarted {why}"));
                    running = false;
                    continue;
                }
                restarts += 1;
                launch.note(&format!(
                    "the server exited ({status}); restarting ({restarts}/{MAX_RESTARTS})"
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
                match launch.spawn(bound) {
                    Ok(mut next) => {
                        drain(BufReader::new(next.stdout.take().expect("stdout is piped")));
                        server = next;
                    }
                    Err(e) => {
                        launch.note(&e);
                        running = false;
                    }
                }
            }
            _ = stopped.changed() => {
                if running {
                    stop_server(&mut server).await;
                }
                break;
            }
        }
    }
    server
}

/// Reads the server's stdout to the end: after the address nothing more comes, but a stray
/// write must never meet a closed pipe.
fn drain(stdout: impl AsyncBufRead + Unpin + Send + 'static) {
    tokio::spawn(async move {
        let mut lines = stdout.lines();
        while let Ok(Some(_)) = lines.next_line().await {}
    });
}

/// SIGTERM (the server drains, then exits), SIGKILL if it takes too long.
pub(super) async fn stop_server(server: &mut Child) {
    send_signal(server, libc::SIGTERM);
    if tokio::time::timeout(STOP_TIMEOUT, server.wait())
        .await
        .is_err()
    {
        let _ = server.kill().await;
    }
}

pub(super) fn send_signal(child: &mut Child, signal: i32) {
    #[cfg(unix)]
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid we own and have not reaped.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
        return;
    }
    let _ = (child.start_kill(), signal);
}

/// A port on `ip` that is free now, below the kernel's ephemeral range where it can: no
/// outgoing connection and no other `bind(0)` is ever given it, so while a killed server is
/// down (`--restart`) nothing else takes its port. Elsewhere, whatever port 0 gives.
pub(super) fn free_port(ip: IpAddr) -> Result<SocketAddr, String> {
    // Linux's range (32768–60999 by default); macOS and the BSDs use 49152–65535.
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if ephemeral_low > 12_000 {
        let span = u32::from(ephemeral_low - 11_000);
        for _ in 0..200 {
            let mut bytes = [0u8; 4];
            getrandom::getrandom(&mut bytes).map_err(|e| e.to_string())?;
            let port = 10_000 + (u32::from_le_bytes(bytes) % span) as u16;
            if let Ok(listener) = TcpListener::bind((ip, port)) {
                return listener.local_addr().map_err(|e| e.to_string());
            }
        }
    }
    let listener = TcpListener::bind((ip, 0)).map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}
