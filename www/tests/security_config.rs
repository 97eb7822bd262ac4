//! The security findings about limits and configuration, each as it was reproduced against the
//! real binary: one address holding every file descriptor with SSE streams, `--cors-origin '*'`
//! panicking after the server announced itself, a 1-byte signing secret, tokens that never
//! expire or carry an unreadable `nbf`, and a cross-origin htmx page failing its preflight.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{eventually, Item, Server, BIN};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const STREAM: &str = "/shop/products/_streams/changes";
const T: Duration = Duration::from_secs(10);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// How a run of the binary that should stop by itself ended: exit status, stdout, stderr. A
/// run still going after `T` is killed and fails the test, so a server that wrongly starts
/// cannot hang it.
fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (std::process::ExitStatus, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("LIVESOURCE_JWT_SECRET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > T {
            let _ = child.kill();
            let _ = child.wait();
            panic!("livesource-dev {args:?} was still running after {T:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

/// `serve` on a free port with `extra`, expected to refuse to start.
fn serve_refuses(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let data = data.to_str().unwrap();
    let mut args = vec!["serve", "--addr", "127.0.0.1:0", "--data", data];
    args.extend_from_slice(extra);
    let (status, out, err) = run_to_exit(&args, env);
    assert!(!status.success(), "{extra:?} started: {out}{err}");
    assert!(
        !out.contains("listening"),
        "{extra:?}: announced itself before failing: {out}"
    );
    assert!(!err.contains("panicked"), "{extra:?}: {err}");
    err
}

fn get(server: &Server, path: &str, token: &str) -> common::Response {
    server.request(
        "GET",
        path,
        &[("authorization", &format!("Bearer {token}"))],
        None,
    )
}

/// A token signed with the server's real secret, with whatever claims an attacker who holds
/// the key (or the server's own minting, misused) would put in it.
fn sign(server: &Server, claims: &Value) -> String {
    let secret = std::fs::read_to_string(server.data.join("jwt-secret")).unwrap();
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.trim().as_bytes()),
    )
    .unwrap()
}

fn refused_with(r: &common::Response, why: &str) {
    assert_eq!(r.status, 401, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], "unauthorized");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(why), "{message:?} does not say {why:?}");
}

#[test]
fn one_address_over_its_stream_cap_gets_429_while_its_streams_and_health_keep_working() {
    const CAP: usize = 4;
    let server = Server::start(&["--max-sse-per-client", "4", "--heartbeat", "300ms"]);
    let viewer = server.token("viewer");
    let editor = server.token("editor");
    // Every kind of SSE route counts against the same cap.
    let routes = [
        STREAM.to_owned(),
        format!("/api/events?access_token={viewer}"),
        "/demo/__events?topic=dashboard:cap".to_owned(),
        STREAM.to_owned(),
    ];
    let mut held: Vec<_> = routes.iter().map(|r| server.sse(r, &[])).collect();
    assert!(held.iter().all(|c| c.status == 200));
    assert_eq!(held.len(), CAP);

    for route in &routes[..3] {
        let refused = server.sse(route, &[]);
        assert_eq!(refused.status, 429, "{route}");
        assert_eq!(refused.header("retry-after"), Some("5"));
        assert_eq!(refused.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&refused.body()).unwrap();
        assert_eq!(body["error"], "too_many_requests");
        assert!(body["message"].as_str().unwrap().contains("at most 4"));
    }
    // Ordinary requests are not streams and stay open to the capped address.
    let health = server.request("GET", "/health", &[], None);
    assert_eq!(health.status, 200);
    assert_eq!(
        server.request("GET", "/ready", &[], None).json()["sseClients"],
        CAP
    );

    // The held streams still deliver.
    let doc = server.insert(&editor, "/shop/products", r#"{"name":"still here"}"#);
    for i in [0, 3] {
        let c = &mut held[i];
        let got = loop {
            match c.next_item(T) {
                Item::Event(e) if e.event == "change" => break e.json(),
                Item::Event(_) | Item::Retry(_) | Item::Comment(_) => {}
                other => panic!("held stream ended: {other:?}"),
            }
        };
        assert_eq!(got["fullDocument"], doc);
    }

    // Closing one frees its slot once the server notices (its next heartbeat write at most).
    drop(held.remove(1));
    let mut admitted = None;
    assert!(
        eventually(T, || {
            let c = server.sse(STREAM, &[]);
            let ok = c.status == 200;
            admitted = Some(c).filter(|_| ok);
            ok
        }),
        "no slot came free after a stream closed"
    );
    held.push(admitted.unwrap());
    assert_eq!(server.sse(STREAM, &[]).status, 429, "the cap still holds");
}

/// Finding 7 as reproduced: 260 anonymous streams from one address against a 200-descriptor
/// limit starved `/health` and the accept loop. At the default cap the address gets its
/// share, the rest get 429, and the server keeps accepting.
#[test]
fn the_default_cap_keeps_one_address_from_taking_every_descriptor() {
    let server = Server::start(&[]);
    let pid = server.child.id().to_string();
    let status = Command::new("prlimit")
        .args(["--pid", &pid, "--nofile=200:200"])
        .status()
        .expect("prlimit (util-linux) is needed to lower the server's descriptor limit");
    assert!(status.success());
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 200 ")),
        "{limits}"
    );

    let cap = livesource_dev::config::DEFAULT_MAX_SSE_PER_CLIENT;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..260 {
        let c = server.sse(STREAM, &[]);
        match c.status {
            200 => held.push(c),
            429 => refused += 1,
            other => panic!("stream got {other}"),
        }
    }
    assert_eq!((held.len(), refused), (cap, 260 - cap));
    let health = server.request("GET", "/health", &[], None);
    assert_eq!(health.status, 200, "{}", health.body);
    let (fds, _, clients) = server.resources();
    assert_eq!(clients, cap as u64);
    assert!(fds < 200, "{fds} descriptors open");
    let log = server.stderr();
    assert!(!log.contains("accept failed"), "{log}");
    // One warning for the whole episode, not one per refusal.
    assert_eq!(log.matches("event streams refused").count(), 1, "{log}");
}

#[test]
fn a_wildcard_or_malformed_cors_origin_stops_the_server_before_it_listens() {
    let tmp = tempfile::tempdir().unwrap();
    let err = serve_refuses(tmp.path(), &["--cors-origin", "*"], &[]);
    assert!(
        err.contains("'*' is not supported with credentials; name each origin"),
        "{err}"
    );
    for bad in [
        "http://localhost:5173/",
        "localhost:5173",
        "http://example.com/app",
        "ftp://example.com",
        "null",
    ] {
        let err = serve_refuses(
            tmp.path(),
            &["--cors-origin", "http://ok.example", "--cors-origin", bad],
            &[],
        );
        assert!(
            err.contains(&format!("{bad:?} is not an origin")),
            "{bad}: {err}"
        );
    }
    // Embedders that build a `Config` themselves meet the same check, not the panic.
    let mut config = livesource_dev::Config::for_tests();
    config.cors_origins = vec!["*".into()];
    match livesource_dev::AppState::new(config) {
        Err(e) => assert!(e.to_string().contains("'*' is not supported"), "{e}"),
        Ok(_) => panic!("'*' was accepted"),
    }
}

#[test]
fn a_short_signing_secret_stops_the_server_and_the_token_command() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("jwt-secret"), "x").unwrap();
    let err = serve_refuses(&data, &[], &[]);
    assert!(
        err.contains("jwt-secret must hold at least 32 bytes, it has 1"),
        "{err}"
    );
    let (status, out, err) = run_to_exit(
        &[
            "token",
            "--sub",
            "m",
            "--role",
            "admin",
            "--data",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!status.success(), "minted {out}");
    assert!(err.contains("must hold at least 32 bytes"), "{err}");

    // The environment variable follows the same rule.
    let fresh = tmp.path().join("fresh");
    let err = serve_refuses(
        &fresh,
        &[],
        &[("LIVESOURCE_JWT_SECRET", "sixteen-bytes-ok")],
    );
    assert!(
        err.contains("LIVESOURCE_JWT_SECRET must be at least 32 bytes, it has 16"),
        "{err}"
    );
}

#[test]
fn forged_tokens_with_endless_lifetimes_or_malformed_times_are_refused() {
    let server = Server::start(&[]);
    // `/shop/orders` needs a viewer, so only a token that verifies gets through.
    let path = "/shop/orders";
    let t = now();
    let control = sign(
        &server,
        &json!({"sub": "x", "role": "admin", "iat": t, "exp": t + 600}),
    );
    assert_eq!(get(&server, path, &control).status, 200, "the forge works");

    let endless = sign(
        &server,
        &json!({"sub": "x", "role": "admin", "iat": t, "exp": i64::MAX}),
    );
    refused_with(
        &get(&server, path, &endless),
        "token lifetime exceeds the server's limit of 24h",
    );
    let backdated = sign(
        &server,
        &json!({"sub": "x", "role": "admin", "iat": t - 30 * 86_400, "exp": t + 600}),
    );
    refused_with(
        &get(&server, path, &backdated),
        "token lifetime exceeds the server's limit of 24h",
    );

    for nbf in [
        json!((t + 3600).to_string()),
        json!("tomorrow"),
        json!(1.5),
        json!(-1),
        json!(u64::MAX),
    ] {
        let token = sign(
            &server,
            &json!({"sub": "x", "role": "admin", "iat": t, "exp": t + 600, "nbf": nbf}),
        );
        refused_with(&get(&server, path, &token), "token is malformed");
    }
    for exp in [json!((t + 600).to_string()), json!(-1), json!(1e19)] {
        let token = sign(
            &server,
            &json!({"sub": "x", "role": "admin", "iat": t, "exp": exp}),
        );
        refused_with(&get(&server, path, &token), "token is malformed");
    }
    // Also as `?access_token=` on an event stream.
    let r = server.request(
        "GET",
        &format!("/api/events?access_token={endless}"),
        &[],
        None,
    );
    assert_eq!(r.status, 401);
}

#[test]
fn token_lifetimes_follow_max_token_ttl_in_the_cli_and_the_server() {
    let server = Server::start(&[]);
    let data = server.data.to_str().unwrap();
    let mint = |extra: &[&str]| {
        let mut args = vec!["token", "--sub", "s", "--role", "viewer", "--data", data];
        args.extend_from_slice(extra);
        run_to_exit(&args, &[])
    };
    let (status, _, err) = mint(&["--ttl", "48h"]);
    assert!(!status.success());
    assert!(
        err.contains("--ttl 48h is longer than the server's token lifetime limit (24h)"),
        "{err}"
    );
    let (status, long, err) = mint(&["--ttl", "48h", "--max-token-ttl", "48h"]);
    assert!(status.success(), "{err}");
    let long = long.trim();
    refused_with(&get(&server, "/shop/orders", long), "limit of 24h");

    // Another server with the same secret and a longer limit takes it.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        server.data.join("jwt-secret"),
        tmp.path().join("jwt-secret"),
    )
    .unwrap();
    let relaxed = Server::start_in(tmp.path(), &["--max-token-ttl", "48h"], &[]);
    assert_eq!(get(&relaxed, "/shop/orders", long).status, 200);
}

#[test]
fn a_cross_origin_preflight_is_allowed_the_headers_htmx_and_the_fetch_transport_send() {
    // Given as a user might type it; browsers send the lowercase origin without the port 80.
    let server = Server::start(&["--cors-origin", "HTTP://LocalHost:80"]);
    let origin = "http://localhost";
    let preflight = server.request(
        "OPTIONS",
        "/shop/products",
        &[
            ("origin", origin),
            ("access-control-request-method", "GET"),
            (
                "access-control-request-headers",
                "hx-request, hx-trigger, hx-trigger-name, hx-target, hx-current-url, hx-boosted, \
                 hx-prompt, last-event-id, authorization, x-tenant",
            ),
        ],
        None,
    );
    assert_eq!(preflight.status, 200, "{}", preflight.body);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(origin)
    );
    assert_eq!(
        preflight.header("access-control-allow-credentials"),
        Some("true")
    );
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in [
        "hx-request",
        "hx-trigger",
        "hx-trigger-name",
        "hx-target",
        "hx-current-url",
        "hx-boosted",
        "hx-prompt",
        "last-event-id",
        "authorization",
        // An app's own header, as a fetch-transport `headers` function would send.
        "x-tenant",
    ] {
        assert!(allowed.split(',').any(|a| a.trim() == h), "{h}: {allowed}");
    }
    let r = server.request(
        "GET",
        "/shop/products",
        &[("origin", origin), ("hx-request", "true")],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase()
        .contains("retry-after"));
}

#[test]
fn the_access_flag_says_it_takes_a_file() {
    let (status, out, _) = run_to_exit(&["serve", "--help"], &[]);
    assert!(status.success());
    assert!(out.contains("--access <FILE>"), "{out}");
    assert!(out.contains("File of JSON access rules"), "{out}");
    assert!(out.contains("--max-sse-per-client <N>"), "{out}");
    assert!(out.contains("0 means no limit"), "{out}");
}
