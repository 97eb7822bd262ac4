//! Helpers for tests against the real binary: spawn it on a free port with a temp data dir,
//! and talk raw HTTP/1.x over loopback so every byte on the wire is visible.
#![allow(dead_code)]

mod sse;
#[allow(unused_imports)] // each test binary uses a different part
pub use sse::{Event, Item, SseClient};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_livesource-dev");

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub stderr_path: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `serve` on a fresh temp data dir.
    pub fn start(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let mut s = Self::start_in(&data, extra, &[]);
        s._tmp = Some(tmp);
        s
    }

    /// Starts `serve --data <data>`, with extra args and environment.
    pub fn start_in(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_at("127.0.0.1:0", data, extra, env)
    }

    pub fn start_at(addr: &str, data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        std::fs::create_dir_all(data).unwrap();
        let stderr_path = data.with_extension(format!("stderr-{}.log", unique()));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--addr", addr, "--data"])
            .arg(data)
            .args(extra);
        cmd.env_remove("LIVESOURCE_JWT_SECRET")
            .env_remove("RUST_LOG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("livesource-dev listening on http://")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )
            })
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            data: data.to_owned(),
            stderr_path,
            _tmp: None,
        }
    }

    pub fn token(&self, role: &str) -> String {
        token(&self.data, role, "15m")
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the process to exit, up to `limit`; returns how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.child.try_wait().unwrap().is_some() {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Open file descriptors (from /proc), and `/ready`'s live `tasks` and `sseClients`.
    pub fn resources(&self) -> (usize, u64, u64) {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count();
        let ready = self.request("GET", "/ready", &[], None).json();
        let count = |k: &str| ready[k].as_u64().unwrap();
        (fds, count("tasks"), count("sseClients"))
    }

    /// `resources` once two readings agree and no SSE client is open: a baseline.
    pub fn settled_resources(&self) -> (usize, u64, u64) {
        let mut baseline = self.resources();
        assert!(eventually(Duration::from_secs(10), || {
            let now = self.resources();
            std::mem::replace(&mut baseline, now) == now && now.2 == 0
        }));
        baseline
    }

    /// Waits until fds and tasks are back at or under `baseline` with no SSE client open, and
    /// panics naming `what` if they are not within `limit`. Not exactly equal: the baseline
    /// itself may have caught a connection still closing.
    pub fn assert_nothing_leaked(&self, baseline: (usize, u64, u64), limit: Duration, what: &str) {
        let mut last = baseline;
        let back = eventually(limit, || {
            last = self.resources();
            last.0 <= baseline.0 && last.1 <= baseline.1 && last.2 == 0
        });
        assert!(back, "after {what}: {last:?}, baseline {baseline:?}");
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        request(self.addr, method, path, headers, body)
    }

    pub fn sse(&self, path: &str, headers: &[(&str, &str)]) -> SseClient {
        SseClient::connect(self.addr, path, headers)
    }

    /// POSTs a JSON document as an editor; returns the stored document.
    pub fn insert(&self, token: &str, path: &str, doc: &str) -> serde_json::Value {
        let auth = format!("Bearer {token}");
        let r = self.request(
            "POST",
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            Some(doc),
        );
        assert_eq!(r.status, 201, "insert failed: {}", r.body);
        serde_json::from_str(&r.body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `livesource-dev token` against a data dir.
pub fn token(data: &Path, role: &str, ttl: &str) -> String {
    let out = Command::new(BIN)
        .args([
            "token", "--sub", "tester", "--role", role, "--ttl", ttl, "--data",
        ])
        .arg(data)
        .env_remove("LIVESOURCE_JWT_SECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

pub(crate) fn write_request(
    stream: &mut TcpStream,
    version: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) {
    let mut req = format!("{method} {path} HTTP/{version}\r\nhost: localhost\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("connection: close\r\n\r\n");
    req.push_str(body.unwrap_or(""));
    stream.write_all(req.as_bytes()).unwrap();
}

pub(crate) fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"))
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    (status, headers)
}

/// One request on its own connection. HTTP/1.0, so the body is never chunked: it is
/// everything until the server closes.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write_request(&mut stream, "1.0", method, path, headers, body);
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader);
    let mut body = String::new();
    reader.read_to_string(&mut body).unwrap();
    Response {
        status,
        headers,
        body,
    }
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Inserts a product over a raw connection (from writer threads), asserting 201.
pub fn insert_product(addr: std::net::SocketAddr, auth: &str, body: &str) {
    let r = request(
        addr,
        "POST",
        "/shop/products",
        &[
            ("authorization", auth),
            ("content-type", "application/json"),
        ],
        Some(body),
    );
    assert_eq!(r.status, 201);
}
