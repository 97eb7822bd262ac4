//! Bulk insert: `POST /<db>/<coll>` with a JSON array, against the real binary.

mod common;

use std::time::Duration;

use common::Server;
use serde_json::{json, Value};

fn post(server: &Server, token: &str, path: &str, body: &str) -> common::Response {
    let auth = format!("Bearer {token}");
    server.request(
        "POST",
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(body),
    )
}

fn log_head(server: &Server) -> String {
    let ready = server.request("GET", "/ready", &[], None).json();
    ready["lastEventId"].as_str().unwrap().to_owned()
}

fn count(server: &Server, token: &str, path: &str) -> usize {
    let auth = format!("Bearer {token}");
    let r = server.request(
        "GET",
        &format!("{path}?pagesize=1000"),
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().unwrap().len()
}

/// Asserts a typed error and that it names the offending element.
fn assert_error(r: &common::Response, status: u16, kind: &str, mentions: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let body = r.json();
    assert_eq!(body["error"], kind, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(mentions),
        "{message:?} should mention {mentions:?}"
    );
}

#[test]
fn an_array_inserts_every_document_each_as_its_own_event_in_order() {
    let server = Server::start(&[]);
    let token = server.token("editor");
    let docs = json!([
        {"name": "a", "n": 0},
        {"_id": "own-id", "name": "b", "n": 1},
        {"name": "c", "n": 2},
    ]);
    let r = post(&server, &token, "/shop/bulk", &docs.to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    let body = r.json();
    assert_eq!(body["inserted"], 3);
    // Each `_id` as the document holds it: a generated one is an ObjectId, `{"$oid": …}`.
    let ids: Vec<Value> = body["ids"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[1], "own-id");
    let hex = |id: &Value| id["$oid"].as_str().map(str::to_owned);
    assert!(
        [&ids[0], &ids[2]]
            .iter()
            .all(|id| hex(id).is_some_and(|h| h.len() == 24)),
        "generated ObjectIds: {ids:?}"
    );
    let links: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(
                "/shop/bulk/{}",
                hex(id).unwrap_or_else(|| id.as_str().unwrap().into())
            )
        })
        .collect();
    assert_eq!(body["links"], json!(links));
    for (i, link) in links.iter().enumerate() {
        let auth = format!("Bearer {token}");
        let got = server
            .request("GET", link, &[("authorization", &auth)], None)
            .json();
        assert_eq!(got["n"], i, "{got}");
        assert_eq!(got["_id"], ids[i]);
    }

    // The log holds one insert per document, in array order, with consecutive ids.
    let head: u64 = log_head(&server).parse().unwrap();
    assert_eq!(head, 3);
    let viewer = server.token("viewer");
    let auth = format!("Bearer {viewer}");
    server.request(
        "PUT",
        "/shop/bulk",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        Some(r#"{"streams": [{"uri": "all", "stages": []}]}"#),
    );
    let mut sse = server.sse(
        "/shop/bulk/_streams/all?lastEventId=0",
        &[("authorization", &auth)],
    );
    assert_eq!(sse.status, 200);
    let events = sse.events(3, Duration::from_secs(5));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.event, "change");
        assert_eq!(e.id.as_deref(), Some((i + 1).to_string().as_str()));
        let data = e.json();
        assert_eq!(data["operationType"], "insert");
        assert_eq!(data["documentKey"]["_id"], ids[i]);
        assert_eq!(data["fullDocument"]["n"], i);
    }
}

#[test]
fn live_subscribers_get_every_document_of_a_batch() {
    let server = Server::start(&[]);
    let token = server.token("editor");
    let mut sse = server.sse("/shop/products/_streams/changes", &[]);
    assert_eq!(sse.status, 200);
    // The fresh stream's position heartbeat: the subscription is in place.
    let first = sse
        .next_event_or_heartbeat(Duration::from_secs(5), true)
        .unwrap();
    assert_eq!(first.event, "heartbeat");
    let docs: Vec<Value> = (0..500).map(|n| json!({ "n": n })).collect();
    let r = post(&server, &token, "/shop/products", &json!(docs).to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    let events = sse.events(500, Duration::from_secs(10));
    for (n, e) in events.iter().enumerate() {
        assert_eq!(e.json()["fullDocument"]["n"], n);
        assert_eq!(e.id.as_deref(), Some((n + 1).to_string().as_str()));
    }
}

#[test]
fn one_invalid_element_inserts_nothing() {
    let server = Server::start(&[]);
    let token = server.token("editor");
    let cases = [
        // Not an object.
        (
            r#"[{"n": 0}, 42, {"n": 2}]"#,
            400,
            "bad_request",
            "document 1",
        ),
        (
            r#"[{"n": 0}, {"n": 1}, null]"#,
            400,
            "bad_request",
            "document 2",
        ),
        // An `_id` that is not a string, or not a valid id.
        (
            r#"[{"n": 0}, {"_id": 7}]"#,
            400,
            "bad_request",
            "document 1",
        ),
        (
            r#"[{"_id": ""}, {"n": 1}]"#,
            400,
            "bad_request",
            "document 0",
        ),
        // The same `_id` twice in one batch.
        (
            r#"[{"_id": "x1"}, {"_id": "x1"}]"#,
            409,
            "conflict",
            "document 1",
        ),
    ];
    for (body, status, kind, mentions) in cases {
        let r = post(&server, &token, "/shop/atomic", body);
        assert_error(&r, status, kind, mentions);
        assert_eq!(count(&server, &token, "/shop/atomic"), 0, "after {body}");
        assert_eq!(log_head(&server), "0", "nothing logged after {body}");
    }

    // An `_id` that already exists: the documents before it in the batch are not kept.
    server.insert(&token, "/shop/atomic", r#"{"_id": "taken"}"#);
    let r = post(
        &server,
        &token,
        "/shop/atomic",
        r#"[{"_id": "new1"}, {"_id": "new2"}, {"_id": "taken"}]"#,
    );
    assert_error(&r, 409, "conflict", "document 2");
    assert_eq!(count(&server, &token, "/shop/atomic"), 1);
    assert_eq!(log_head(&server), "1");
}

#[test]
fn empty_oversized_and_scalar_bodies_are_refused() {
    let server = Server::start(&[]);
    let token = server.token("editor");
    assert_error(
        &post(&server, &token, "/shop/limits", "[]"),
        400,
        "bad_request",
        "no documents",
    );
    let too_many: Vec<Value> = (0..1001).map(|n| json!({ "n": n })).collect();
    assert_error(
        &post(
            &server,
            &token,
            "/shop/limits",
            &json!(too_many).to_string(),
        ),
        400,
        "bad_request",
        "at most 1000",
    );
    assert_error(
        &post(&server, &token, "/shop/limits", "\"text\""),
        400,
        "bad_request",
        "array",
    );
    let most: Vec<Value> = (0..1000).map(|n| json!({ "n": n })).collect();
    let r = post(&server, &token, "/shop/limits", &json!(most).to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["inserted"], 1000);
    assert_eq!(log_head(&server), "1000");
}

#[test]
fn bulk_insert_needs_an_editor() {
    let server = Server::start(&[]);
    let body = r#"[{"n": 0}, {"n": 1}]"#;
    let r = server.request(
        "POST",
        "/shop/products",
        &[("content-type", "application/json")],
        Some(body),
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let r = post(&server, &server.token("viewer"), "/shop/products", body);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(log_head(&server), "0");
}
