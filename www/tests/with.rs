//! `livesource-dev with -- COMMAND`: the command sees a running server through the documented
//! variables, its exit status is `with`'s, and afterwards, whatever happened (success, failure,
//! Ctrl-C, SIGTERM), the server is gone and so is the temporary directory.
#![cfg(unix)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_livesource-dev");

/// A shell command that writes its environment to `$OUT` (atomically), then waits for
/// `$OUT.done` and exits with `$CODE`.
const REPORT_AND_WAIT: &str = r#"env > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
while [ ! -e "$OUT.done" ]; do sleep 0.05; done
exit "$CODE""#;

struct Run {
    /// `TMPDIR` for `with`: its temporary directory goes here.
    tmp: tempfile::TempDir,
    out: PathBuf,
}

impl Run {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("t")).unwrap();
        let out = tmp.path().join("env.txt");
        Self { tmp, out }
    }

    fn tmpdir(&self) -> PathBuf {
        self.tmp.path().join("t")
    }

    fn command(&self, flags: &[&str], script: &str, code: i32) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("with")
            .args(flags)
            .args(["--", "sh", "-c", script])
            .env("TMPDIR", self.tmpdir())
            .env("OUT", &self.out)
            .env("CODE", code.to_string())
            .env_remove("LIVESOURCE_JWT_SECRET")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// The command's environment, once it has written it.
    fn env(&self) -> HashMap<String, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.out.exists() {
            assert!(Instant::now() < deadline, "the command never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::read_to_string(&self.out)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn release(&self) {
        std::fs::write(self.out.with_extension("txt.done"), "").unwrap();
    }

    /// What `with` left in its `TMPDIR`.
    fn leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.tmpdir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    }
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("livesource-dev with was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `GET path` with `Origin: origin`: the status line and the headers, or the connect error.
fn get(server: &str, path: &str, origin: &str) -> Result<String, std::io::Error> {
    let addr: SocketAddr = server.strip_prefix("http://").unwrap().parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response.to_ascii_lowercase())
}

fn assert_server_gone(server: &str) {
    assert!(
        get(server, "/health", "http://x").is_err(),
        "the server at {server} still answers after `with` ended"
    );
}

/// What every way out of `with` must leave: no server, no temporary files.
fn assert_cleaned_up(run: &Run, server: &str) {
    assert_server_gone(server);
    assert_eq!(
        run.leftovers(),
        Vec::<PathBuf>::new(),
        "temporary files left"
    );
}

#[test]
fn the_command_sees_the_server_and_its_exit_status_is_passed_through() {
    for code in [0, 7] {
        let run = Run::new();
        let child = run.command(&[], REPORT_AND_WAIT, code).spawn().unwrap();
        let env = run.env();

        let server = &env["LIVESOURCE_TEST_SERVER"];
        let origin = &env["LIVESOURCE_TEST_ORIGIN"];
        let runner = &env["WASM_BINDGEN_TEST_ADDRESS"];
        assert_eq!(origin, &format!("http://{runner}"));
        assert_ne!(origin, server);
        let health = get(server, "/health", origin).expect("the server answers");
        assert!(health.starts_with("http/1.1 200"), "{health}");
        assert!(
            health.contains(&format!("access-control-allow-origin: {origin}\r\n")),
            "CORS allows the test runner's origin: {health}"
        );
        assert!(env["LIVESOURCE_JWT_SECRET"].len() >= 32);
        let data = Path::new(&env["LIVESOURCE_TEST_DATA"]);
        assert!(data.is_dir() && data.starts_with(run.tmpdir()), "{data:?}");
        let log = Path::new(&env["LIVESOURCE_TEST_LOG"]);
        assert!(log.is_file() && log.starts_with(run.tmpdir()), "{log:?}");
        // The secret is the server's: a token signed with it is accepted.
        let refused = get(server, "/t/things", origin).unwrap();
        assert!(refused.starts_with("http/1.1 401"), "{refused}");
        let token = Command::new(BIN)
            .args(["token", "--sub", "t", "--role", "viewer", "--data"])
            .arg(data)
            .env("LIVESOURCE_JWT_SECRET", &env["LIVESOURCE_JWT_SECRET"])
            .output()
            .unwrap();
        let token = String::from_utf8(token.stdout).unwrap();
        let feed = get(
            server,
            &format!("/t/things?access_token={}", token.trim()),
            origin,
        )
        .unwrap();
        assert!(feed.starts_with("http/1.1 200"), "{feed}");

        run.release();
        let output = wait_with_timeout(child, Duration::from_secs(20));
        assert_eq!(output.status.code(), Some(code));
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The server's log is shown when the command fails, and only then.
        assert_eq!(
            stderr.contains("--- livesource-dev log"),
            code != 0,
            "{stderr}"
        );
        assert_cleaned_up(&run, server);
    }
}

#[test]
fn ctrl_c_and_sigterm_stop_the_command_and_the_server_and_remove_the_files() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let run = Run::new();
        let child = run.command(&[], REPORT_AND_WAIT, 0).spawn().unwrap();
        let env = run.env();
        let server = &env["LIVESOURCE_TEST_SERVER"];
        assert!(get(server, "/health", "http://x").is_ok());

        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let output = wait_with_timeout(child, Duration::from_secs(20));
        assert_eq!(output.status.code(), Some(128 + signal), "signal {signal}");
        assert_cleaned_up(&run, server);
    }
}

#[test]
fn a_given_data_dir_and_log_are_kept() {
    let run = Run::new();
    let data = run.tmp.path().join("mine");
    let log = run.tmp.path().join("logs/server.log");
    let flags = [
        "--data",
        data.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ];
    let child = run.command(&flags, REPORT_AND_WAIT, 0).spawn().unwrap();
    let env = run.env();
    assert_eq!(Path::new(&env["LIVESOURCE_TEST_DATA"]), data);
    assert_eq!(Path::new(&env["LIVESOURCE_TEST_LOG"]), log);
    run.release();
    let output = wait_with_timeout(child, Duration::from_secs(20));
    assert!(output.status.success());
    assert!(data.join("livesource.sqlite3").is_file());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("serving"), "{log}");
    assert_eq!(run.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_command_that_cannot_run_is_127_and_leaves_nothing() {
    let run = Run::new();
    let output = Command::new(BIN)
        .args(["with", "--", "/nonexistent/command"])
        .env("TMPDIR", run.tmpdir())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot run"), "{stderr}");
    assert_eq!(run.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn the_command_comes_after_a_double_dash() {
    let output = Command::new(BIN).args(["with", "true"]).output().unwrap();
    assert!(!output.status.success());
}

#[cfg(feature = "test-routes")]
#[test]
fn restart_brings_a_killed_server_back_on_the_same_port() {
    let run = Run::new();
    let child = run
        .command(&["--test-routes", "--restart"], REPORT_AND_WAIT, 0)
        .spawn()
        .unwrap();
    let env = run.env();
    let server = &env["LIVESOURCE_TEST_SERVER"];
    let addr: SocketAddr = server.strip_prefix("http://").unwrap().parse().unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /_test/exit HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");

    // Down, then up again at the same address.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut was_down = false;
    loop {
        match get(server, "/health", "http://x") {
            Ok(r) if was_down && r.starts_with("http/1.1 200") => break,
            Ok(_) => {}
            Err(_) => was_down = true,
        }
        assert!(Instant::now() < deadline, "the server did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&env["LIVESOURCE_TEST_LOG"]).unwrap();
    assert!(log.contains("restarting (1/50)"), "{log}");
    run.release();
    let output = wait_with_timeout(child, Duration::from_secs(20));
    assert!(output.status.success());
    assert_cleaned_up(&run, server);
}

#[cfg(not(feature = "test-routes"))]
#[test]
fn test_routes_needs_a_binary_built_with_them() {
    let run = Run::new();
    let output = run
        .command(&["--test-routes"], "touch \"$OUT\"", 0)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("built without the test-only routes")
            && stderr.contains("--features test-routes"),
        "{stderr}"
    );
    assert!(!run.out.exists(), "the command ran");
}
