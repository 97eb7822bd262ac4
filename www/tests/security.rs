//! Hostile requests against the real binary over raw loopback sockets, so nothing between the
//! test and the server normalises them: oversized bodies, path traversal, SSE field injection.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Item, Server};

const T: Duration = Duration::from_secs(10);

fn count(server: &Server, token: &str) -> usize {
    let r = server.request(
        "GET",
        "/shop/products?pagesize=1000",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().unwrap().len()
}

/// Sends `len` bytes of body after the head (a writer thread, because the server may answer
/// and close before it has read everything), and returns the status line and body.
fn post_large(server: &Server, token: &str, head_extra: &str, len: usize) -> (u16, String) {
    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    let head = format!(
        "POST /shop/products HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\nconnection: close\r\n{head_extra}\r\n"
    );
    let mut writer = stream.try_clone().unwrap();
    let chunked = head_extra.contains("chunked");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        // A valid JSON document, just too big: `{"pad":"xxxx…"}`.
        let mut body = format!(r#"{{"pad":"{}"}}"#, "x".repeat(len - 10)).into_bytes();
        if chunked {
            let mut framed = Vec::new();
            for piece in body.chunks(64 * 1024) {
                framed.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                framed.extend_from_slice(piece);
                framed.extend_from_slice(b"\r\n");
            }
            framed.extend_from_slice(b"0\r\n\r\n");
            body = framed;
        }
        // The server may close early on purpose; a write error then is expected.
        let _ = writer.write_all(&body);
    });
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    let _ = sender.join();
    let code = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, rest)
}

#[test]
fn a_body_over_the_limit_gets_413_and_stores_nothing() {
    let server = Server::start(&[]);
    let editor = server.token("editor");
    server.insert(&editor, "/shop/products", r#"{"name":"kept"}"#);
    let limit = livesource_dev::config::BODY_LIMIT;
    let (status, body) = post_large(
        &server,
        &editor,
        &format!("content-length: {}\r\n", limit + 1024),
        limit + 1024,
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains(r#""error":"payload_too_large""#), "{body}");
    // Without a length up front, the limit applies while reading.
    let (status, body) = post_large(
        &server,
        &editor,
        "transfer-encoding: chunked\r\n",
        limit + 1024,
    );
    assert_eq!(status, 413, "{body}");
    // Just under the limit is fine, and nothing over it was stored.
    let (status, body) = post_large(
        &server,
        &editor,
        &format!("content-length: {}\r\n", limit - 64),
        limit - 64,
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(count(&server, &editor), 2);
}

/// The raw request line goes out byte for byte: no client-side `..` normalisation.
fn raw_get(server: &Server, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nhost: localhost\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

#[test]
fn path_traversal_on_pkg_and_static_is_refused() {
    let server = Server::start(&[]);
    // A sentinel beside the served directories' parents, and the signing secret in the data
    // directory: neither may ever come back.
    let secret = std::fs::read_to_string(server.data.join("jwt-secret")).unwrap();
    let secret = secret.trim();
    let (ok, _) = raw_get(&server, "/static/show-state.js");
    assert_eq!(ok, 200, "the control request works");
    for prefix in ["/pkg", "/static"] {
        for attack in [
            "/../Cargo.toml",
            "/../../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/%2E%2E/%2e%2e/Cargo.toml",
            "/..%2fCargo.toml",
            "/..%2f..%2fCargo.toml",
            "/%2e%2e%2f%2e%2e%2fCargo.toml",
            "/..\\..\\Cargo.toml",
            "/..%5c..%5cCargo.toml",
            "/%252e%252e/Cargo.toml",
            "//etc/passwd",
            "/%2fetc%2fpasswd",
            "/../../../../../../etc/passwd",
            "/....//....//Cargo.toml",
            "/%c0%ae%c0%ae/Cargo.toml",
            "/x/../../Cargo.toml",
        ] {
            let target = format!("{prefix}{attack}");
            let (status, text) = raw_get(&server, &target);
            assert!(
                (400..500).contains(&status),
                "{target}: status {status}\n{text}"
            );
            for leak in ["[workspace]", "[package]", "root:x:0", secret] {
                assert!(!text.contains(leak), "{target} leaked {leak:?}");
            }
        }
    }
}

/// Every line of a stream is one of the fields the server writes; an injected field or event
/// name would show up as something else.
fn assert_clean_stream(client: &mut common::SseClient, wanted: usize) -> Vec<common::Event> {
    let mut events = Vec::new();
    while events.len() < wanted {
        match client.next_item(T) {
            Item::Event(e) => {
                assert!(
                    ["change", "heartbeat", "reset", "patch"].contains(&e.event.as_str()),
                    "injected event name {:?}",
                    e.event
                );
                assert!(
                    e.id.as_deref()
                        .is_none_or(|id| id.bytes().all(|b| b.is_ascii_digit())),
                    "injected id {:?}",
                    e.id
                );
                if e.event != "heartbeat" {
                    events.push(e);
                }
            }
            Item::Retry(_) | Item::Comment(_) => {}
            other => panic!("stream ended: {other:?} after {events:?}"),
        }
    }
    events
}

#[test]
fn ids_names_and_documents_cannot_inject_sse_fields() {
    let server = Server::start(&[]);
    let editor = server.token("editor");
    let stream = "/shop/products/_streams/changes";
    let mut live = server.sse(stream, &[]);
    assert_eq!(live.status, 200);
    // Newlines in values travel as JSON escapes inside one data line; a document key with
    // control characters is refused outright.
    let nasty = "a\n\nevent: evil\nid: 999\ndata: {}\r\n\r\nretry: 1";
    let auth = format!("Bearer {editor}");
    let json = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let doc = serde_json::json!({ "_id": nasty, "name": "x" }).to_string();
    let r = server.request("POST", "/shop/products", &json, Some(&doc));
    assert_eq!(r.status, 400, "{}", r.body);
    let doc = serde_json::json!({ "_id": "k1", "name": nasty, nasty: nasty }).to_string();
    server.insert(&editor, "/shop/products", &doc);
    let got = assert_clean_stream(&mut live, 1);
    assert_eq!(got[0].json()["fullDocument"]["name"], nasty);
    assert_eq!(got[0].json()["fullDocument"][nasty], nasty);

    // A resume id carrying a field: a typed reset, never an echo of the raw value.
    for id in ["1%0Aevent:%20evil", "1%0D%0Adata:%20x", "%0A%0Aretry:%201"] {
        let mut resumed = server.sse(&format!("{stream}?lastEventId={id}"), &[]);
        assert_eq!(resumed.status, 200);
        let first = assert_clean_stream(&mut resumed, 1);
        assert_eq!(first[0].event, "reset", "{id}");
    }

    // Topic names with line breaks never reach a frame: refused before streaming.
    let viewer = server.token("viewer");
    for topic in ["dashboard:x%0Aevent:%20evil", "dashboard:x%0D%0Aid:%201"] {
        let r = server.request(
            "GET",
            &format!("/demo/__events?topic={topic}&access_token={viewer}"),
            &[("accept", "text/event-stream")],
            None,
        );
        assert!((400..500).contains(&r.status), "{topic}: {}", r.status);
        let r = server.request(
            "POST",
            &format!("/_publish/{topic}"),
            &json,
            Some(r#"[["replace","/x",1]]"#),
        );
        assert!((400..500).contains(&r.status), "{topic}: {}", r.status);
    }
    // Ops whose strings carry line breaks arrive as one JSON data line.
    let mut patches = server.sse(
        &format!("/demo/__events?topic=dashboard:inj&access_token={viewer}"),
        &[],
    );
    assert_eq!(patches.status, 200);
    let r = server.request(
        "POST",
        "/_publish/dashboard:inj",
        &json,
        Some(&serde_json::json!([["replace", "/x\n\nevent: evil", nasty]]).to_string()),
    );
    assert!(r.status < 300, "{}", r.body);
    let got = assert_clean_stream(&mut patches, 1);
    assert_eq!(got[0].json()[0][2], nasty);
}

/// Finding 9: SQLite files were created world-readable (0644). Every file of the data dir,
/// the WAL and shared-memory files included, is for the server's user only.
#[test]
fn data_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(&[]);
    let editor = server.token("editor");
    server.insert(&editor, "/shop/products", r#"{"name": "x"}"#);
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&server.data).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
        seen.push(name);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "jwt-secret",
            "livesource.sqlite3",
            "livesource.sqlite3-shm",
            "livesource.sqlite3-wal"
        ]
    );
}
