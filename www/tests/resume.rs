//! Change streams against the real binary: event shape, lossless resume, reset, restart.

mod common;

use std::time::Duration;

use common::{Item, Server};

const STREAM: &str = "/shop/products/_streams/changes";
const T: Duration = Duration::from_secs(10);

fn seq(e: &common::Event) -> u64 {
    e.id.as_deref().unwrap().parse().unwrap()
}

#[test]
fn change_events_have_restheart_shape_and_sse_headers() {
    let server = Server::start(&[]);
    let token = server.token("editor");
    let mut sse = server.sse(STREAM, &[]);
    assert_eq!(sse.status, 200);
    assert_eq!(sse.header("content-type"), Some("text/event-stream"));
    assert_eq!(sse.header("cache-control"), Some("no-cache"));
    assert_eq!(sse.header("x-accel-buffering"), Some("no"));
    assert_eq!(sse.header("content-encoding"), None);
    assert_eq!(sse.next_item(T), Item::Retry(1000));

    let doc = server.insert(&token, "/shop/products", r#"{"name":"lamp","price":3}"#);
    // An ObjectId, `{"$oid": …}` in the document and in every change event (documentKey too),
    // the hex digits in its URL.
    let oid = doc["_id"].clone();
    let id = oid["$oid"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    let auth = format!("Bearer {token}");
    let json = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = server.request(
        "PATCH",
        &format!("/shop/products/{id}"),
        &json,
        Some(r#"{"$set":{"price":4},"$unset":{"name":""}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request(
        "PUT",
        &format!("/shop/products/{id}"),
        &json,
        Some(r#"{"name":"desk"}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.request("DELETE", &format!("/shop/products/{id}"), &json, None);
    assert_eq!(r.status, 204, "{}", r.body);

    let events = sse.events(4, T);
    assert!(events.iter().all(|e| e.event == "change"));
    let ids: Vec<u64> = events.iter().map(seq).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let [insert, update, replace, delete] = [0, 1, 2, 3].map(|i| events[i].json());
    assert_eq!(insert["operationType"], "insert");
    assert_eq!(insert["fullDocument"]["name"], "lamp");
    assert_eq!(insert["documentKey"]["_id"], oid);
    assert_eq!(update["operationType"], "update");
    assert_eq!(update["updateDescription"]["updatedFields"]["price"], 4);
    assert_eq!(update["updateDescription"]["removedFields"][0], "name");
    // Every write gives the document a new `_etag`, as RESTHeart's `$set` of it does, so an
    // update reports it among the fields it changed.
    let tags = [
        &insert["fullDocument"]["_etag"],
        &update["updateDescription"]["updatedFields"]["_etag"],
        &replace["fullDocument"]["_etag"],
    ];
    assert!(
        tags.iter()
            .all(|t| t["$oid"].as_str().is_some_and(|h| h.len() == 24)),
        "{tags:?}"
    );
    assert!(tags[0] != tags[1] && tags[1] != tags[2], "{tags:?}");
    assert_eq!(replace["operationType"], "replace");
    let mut replaced = replace["fullDocument"].clone();
    replaced.as_object_mut().unwrap().remove("_etag");
    assert_eq!(replaced, serde_json::json!({"_id": oid, "name": "desk"}));
    assert_eq!(delete["operationType"], "delete");
    assert!(delete.get("fullDocument").is_none());
    assert_eq!(delete["documentKey"]["_id"], oid);
}

/// The insert event of RESTHeart's own change-stream tutorial ("Step 3"), as it printed it:
/// ours must have the same fields with the same JSON types, so a page written against one reads
/// the other. Ours adds `ns` (as MongoDB's change events have).
#[test]
fn an_insert_event_has_the_shape_of_restheart_tutorial_sample() {
    const TUTORIAL: &str = r#"{"fullDocument":{"_id":{"$oid":"62166d53ebdcd56455a1a7ab"},"message":"Hello SSE!","name":"uji","_etag":{"$oid":"62166d53ebdcd56455a1a7aa"}},"documentKey":{"_id":{"$oid":"62166d53ebdcd56455a1a7ab"}},"operationType":"insert"}"#;
    /// Each path to a leaf, with the leaf's JSON type.
    fn shape(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
        use serde_json::Value::*;
        match v {
            Object(map) => map
                .iter()
                .for_each(|(k, v)| shape(v, &format!("{at}/{k}"), out)),
            Array(_) => out.push(format!("{at}: array")),
            String(_) => out.push(format!("{at}: string")),
            Number(_) => out.push(format!("{at}: number")),
            Bool(_) => out.push(format!("{at}: bool")),
            Null => out.push(format!("{at}: null")),
        }
    }
    let server = Server::start(&[]);
    let token = server.token("editor");
    let mut sse = server.sse(STREAM, &[]);
    server.insert(
        &token,
        "/shop/products",
        r#"{"message":"Hello SSE!","name":"uji"}"#,
    );
    let ours = loop {
        let e = sse.next_event(T).expect("the insert's event");
        if e.event == "change" {
            break e.json();
        }
    };
    let (mut want, mut got) = (Vec::new(), Vec::new());
    shape(&serde_json::from_str(TUTORIAL).unwrap(), "", &mut want);
    shape(&ours, "", &mut got);
    got.retain(|p| !p.starts_with("/ns/"));
    want.sort();
    got.sort();
    assert_eq!(got, want, "{ours}");
}

/// A client disconnects while a writer keeps writing, then resumes: every id arrives exactly
/// once, in order, across the replay→live switch.
#[test]
fn replay_after_disconnect_while_writing_is_contiguous_without_duplicates() {
    let server = Server::start(&[]);
    let token = server.token("editor");
    const TOTAL: usize = 300;

    let writer = {
        let (addr, token) = (server.addr, token.clone());
        std::thread::spawn(move || {
            let auth = format!("Bearer {token}");
            for i in 0..TOTAL {
                let body = format!(r#"{{"n":{i}}}"#);
                common::insert_product(addr, &auth, &body);
            }
        })
    };

    let mut seen = Vec::new();
    // "0" = from the start of the log, so events written before the first connect count too.
    let mut last = "0".to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // Reconnect repeatedly mid-write, each time after reading a few events.
    while seen.len() < TOTAL {
        assert!(
            std::time::Instant::now() < deadline,
            "stalled after {} events",
            seen.len()
        );
        let mut sse = server.sse(STREAM, &[("last-event-id", &last)]);
        assert_eq!(sse.status, 200);
        for _ in 0..37 {
            let Some(e) = sse.next_event(T) else { break };
            assert_eq!(e.event, "change", "no reset expected: {e:?}");
            seen.push(e.json()["fullDocument"]["n"].as_u64().unwrap());
            last = e.id.clone().unwrap();
            if seen.len() == TOTAL {
                break;
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(seen, (0..TOTAL as u64).collect::<Vec<_>>());
}

#[test]
fn reset_is_followed_by_live_events_and_in_window_ids_replay() {
    let server = Server::start(&["--replay", "5"]);
    let token = server.token("editor");
    for i in 0..10 {
        server.insert(&token, "/shop/products", &format!(r#"{{"n":{i}}}"#));
    }
    let mut sse = server.sse(&format!("{STREAM}?lastEventId=999"), &[]);
    let reset = sse.next_event(T).unwrap();
    assert_eq!(reset.event, "reset");
    assert_eq!(reset.json()["reason"], "unknown-id");
    assert_eq!(
        reset.id.as_deref(),
        Some("10"),
        "reset moves the client to the head"
    );
    server.insert(&token, "/shop/products", r#"{"live":true}"#);
    let live = sse.next_event(T).unwrap();
    assert_eq!(
        (live.event.as_str(), live.id.as_deref()),
        ("change", Some("11"))
    );

    // Within the window: replay, no reset; the header wins over the query parameter.
    let mut sse = server.sse(
        &format!("{STREAM}?lastEventId=1"),
        &[("last-event-id", "8")],
    );
    let ids: Vec<u64> = sse.events(3, T).iter().map(seq).collect();
    assert_eq!(ids, vec![9, 10, 11]);
}

#[test]
fn each_bad_id_kind_resets() {
    let server = Server::start(&["--replay", "5"]);
    let token = server.token("editor");
    for i in 0..10 {
        server.insert(&token, "/shop/products", &format!(r#"{{"n":{i}}}"#));
    }
    for (id, reason) in [
        ("999", "unknown-id"),
        ("abc", "malformed-id"),
        ("007", "malformed-id"),
        ("1", "too-old"),
    ] {
        let mut sse = server.sse(STREAM, &[("last-event-id", id)]);
        let reset = sse.next_event(T).unwrap();
        assert_eq!(
            (
                reset.event.as_str(),
                reset.json()["reason"].as_str().unwrap()
            ),
            ("reset", reason),
            "id {id}"
        );
    }
}

#[test]
fn resume_works_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start_in(&data, &[], &[]);
    let token = server.token("editor");
    let mut sse = server.sse(STREAM, &[]);
    server.insert(&token, "/shop/products", r#"{"n":1}"#);
    let first = sse.next_event(T).unwrap();
    for i in 2..=4 {
        server.insert(&token, "/shop/products", &format!(r#"{{"n":{i}}}"#));
    }
    // Crash: no drain, no goodbye.
    server.signal("KILL");
    server.wait_exit(T).expect("killed");
    drop(sse);

    let server = Server::start_in(&data, &[], &[]);
    let mut sse = server.sse(STREAM, &[("last-event-id", first.id.as_deref().unwrap())]);
    let ns: Vec<u64> = sse
        .events(3, T)
        .iter()
        .map(|e| e.json()["fullDocument"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, vec![2, 3, 4]);
    // The old token still verifies: the secret is durable too.
    server.insert(&token, "/shop/products", r#"{"n":5}"#);
    assert_eq!(sse.next_event(T).unwrap().json()["fullDocument"]["n"], 5);
}
