//! Live delivery against the real binary: `$match`/avars filtering, the typed feed, topics.

mod common;

use std::time::Duration;

use common::{Item, Server, SseClient};

const T: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_millis(300);

#[test]
fn match_and_avars_filter_live_and_replayed_events() {
    let server = Server::start(&[]);
    let editor = server.token("editor");
    let auth = format!("Bearer {editor}");
    let def = r#"{"streams":[
        {"uri":"mine","stages":[{"_$match":{"fullDocument::name":{"_$var":"n"}}}]},
        {"uri":"cheap","stages":[{"_$match":{"_$and":[{"operationType":{"_$in":["insert","replace"]}},{"fullDocument.price":{"_$in":[1,2]}}]}}]}
    ]}"#;
    let r = server.request(
        "PUT",
        "/shop/products",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(def),
    );
    assert_eq!(r.status, 201, "{}", r.body);

    let avars = "%7B%22n%22%3A%22uji%22%7D";
    let mut uji = server.sse(&format!("/shop/products/_streams/mine?avars={avars}"), &[]);
    let mut uji2 = server.sse(&format!("/shop/products/_streams/mine?avars={avars}"), &[]);
    let mut cheap = server.sse("/shop/products/_streams/cheap", &[]);
    for s in [&mut uji, &mut uji2, &mut cheap] {
        assert_eq!(s.next_item(T), Item::Retry(1000));
    }
    // Two clients with equal avars share one upstream subscription.
    assert_eq!(
        server.request("GET", "/ready", &[], None).json()["streams"],
        2
    );

    server.insert(&editor, "/shop/products", r#"{"name":"other","price":1}"#);
    server.insert(&editor, "/shop/products", r#"{"name":"uji","price":5}"#);
    server.insert(&editor, "/shop/products", r#"{"name":"uji","price":2}"#);

    for s in [&mut uji, &mut uji2] {
        let prices: Vec<_> = s
            .events(2, T)
            .iter()
            .map(|e| e.json()["fullDocument"]["price"].clone())
            .collect();
        assert_eq!(prices, [5, 2]);
        assert_eq!(s.next_event(SHORT), None);
    }
    let prices: Vec<_> = cheap
        .events(2, T)
        .iter()
        .map(|e| e.json()["fullDocument"]["price"].clone())
        .collect();
    assert_eq!(prices, [1, 2]);

    // Replay applies the same filter.
    let mut replay = server.sse(
        &format!("/shop/products/_streams/mine?avars={avars}&lastEventId=0"),
        &[],
    );
    let ids: Vec<_> = replay
        .events(2, T)
        .iter()
        .map(|e| e.id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["2", "3"]);
}

/// A stream that carries few of the log's changes: its id would move only on those, fall out of
/// the replay window while the client is connected and up to date, and the next resume would be
/// refused as too old. Position heartbeats move it with the log instead.
/// A stream of the products named "kept" (a `$match` on a variable), defined by an editor:
/// the editor's token and the stream's path.
fn selective_stream(server: &Server) -> (String, &'static str) {
    let editor = server.token("editor");
    let auth = format!("Bearer {editor}");
    let def = r#"{"streams":[{"uri":"mine","stages":[{"_$match":{"fullDocument::name":{"_$var":"n"}}}]}]}"#;
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = server.request("PUT", "/shop/products", &h, Some(def));
    assert_eq!(r.status, 201, "{}", r.body);
    let path = "/shop/products/_streams/mine?avars=%7B%22n%22%3A%22kept%22%7D";
    (editor, path)
}

/// A client of that stream, and the id of the first "kept" product written after it started.
fn first_kept(server: &Server, editor: &str, path: &str) -> (SseClient, u64) {
    let mut live = server.sse(path, &[]);
    assert_eq!(live.next_item(T), Item::Retry(1000));
    // The stream starts from the head it reads after `retry:`; a write before that is not its.
    let start = live
        .next_event_or_heartbeat(T, true)
        .expect("the start position");
    assert!(start.id.is_some(), "{start:?}");
    server.insert(editor, "/shop/products", r#"{"name":"kept","price":1}"#);
    let first = live.next_event(T).expect("the matching change");
    let id = first.id.as_deref().unwrap().parse().unwrap();
    (live, id)
}

#[test]
fn a_selective_streams_client_follows_the_log_and_resumes_without_reset() {
    // A heartbeat period longer than the test: every position comes from the stream (its hub
    // sends one every eighth of the window: after every write, with a window of 8) or from the
    // end of a replay.
    let server = Server::start(&["--replay", "8", "--heartbeat", "60s"]);
    let (editor, path) = selective_stream(&server);
    // Writes the stream drops.
    let others = |n: usize| {
        for i in 0..n {
            server.insert(
                &editor,
                "/shop/products",
                &format!(r#"{{"name":"other-{i}"}}"#),
            );
        }
    };
    let (mut live, first_id) = first_kept(&server, &editor, path);
    others(30);
    // Thirty writes the stream drops, eight in the window: the client is told where it is.
    let deadline = std::time::Instant::now() + T;
    let position = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat with the stream's position"
        );
        let e = live
            .next_event_or_heartbeat(T, true)
            .expect("a heartbeat with the stream's position");
        assert_eq!(e.event, "heartbeat", "only heartbeats: {e:?}");
        match e.id.as_deref().map(|id| id.parse::<u64>().unwrap()) {
            // Told once a quarter of the window (2) or more behind: it ends within 1 of the
            // last write.
            Some(id) if id >= first_id + 29 => break id,
            _ => {}
        }
    };
    assert!(
        position <= first_id + 30,
        "never past the last write: {position}"
    );

    let mut resumed = server.sse(path, &[("last-event-id", &position.to_string())]);
    server.insert(&editor, "/shop/products", r#"{"name":"kept","price":2}"#);
    let next = resumed.next_event(T).expect("the next matching change");
    assert_eq!(
        (
            next.event.as_str(),
            next.json()["fullDocument"]["price"].as_i64()
        ),
        ("change", Some(2)),
        "no reset, the next change"
    );
    // A resume whose replay finds nothing for the stream among many writes is told where the
    // replay got to, at once.
    let kept_id: u64 = next.id.as_deref().unwrap().parse().unwrap();
    others(7);
    let mut replayed = server.sse(path, &[("last-event-id", &kept_id.to_string())]);
    let told = std::time::Instant::now();
    let e = loop {
        let e = replayed
            .next_event_or_heartbeat(Duration::from_secs(1), true)
            .expect("the position within a second, not a heartbeat period later");
        if e.id.is_some() {
            break e;
        }
    };
    assert_eq!(
        (e.event.as_str(), e.id),
        ("heartbeat", Some((kept_id + 7).to_string())),
        "the position after the replay, {:?} after the request",
        told.elapsed()
    );
    // The premise: resumed from the last change it carried, the stream is too old.
    let mut old = server.sse(path, &[("last-event-id", &first_id.to_string())]);
    let e = old.next_event(T).expect("reset");
    assert_eq!(
        (e.event.as_str(), e.json()["reason"].as_str()),
        ("reset", Some("too-old"))
    );
}

/// The bound the position heartbeats keep (`StreamHub::new`, `replay::replay_then_live`): the
/// hub announces its position every eighth of the replay window, and a client is told once it
/// is a quarter behind, so a connected client of a stream that matches none of the writes holds
/// an id at most 3/8 of the window behind the log, and a resume from it is inside the window.
#[test]
fn a_selective_streams_client_is_never_told_an_id_more_than_3_8_of_the_window_behind() {
    const REPLAY: u64 = 64;
    let server = Server::start(&["--replay", "64", "--heartbeat", "60s"]);
    let (editor, path) = selective_stream(&server);
    let (mut live, first_id) = first_kept(&server, &editor, path);
    let bound = REPLAY * 3 / 8;
    let (mut last, mut told) = (first_id, vec![first_id]);
    // Batches of 1 to 19 writes the stream drops (190 in all): after each, the log has stopped
    // at another offset from the hub's positions, and the client is within the bound of it.
    for batch in 1..20 {
        for i in 0..batch {
            let doc = format!(r#"{{"name":"other-{batch}-{i}"}}"#);
            server.insert(&editor, "/shop/products", &doc);
        }
        last += batch;
        while told.last().unwrap() + bound < last {
            let e = live.next_event_or_heartbeat(T, true).unwrap_or_else(|| {
                panic!("no heartbeat within {bound} of the log's {last}: {told:?}")
            });
            assert_eq!(e.event, "heartbeat", "only heartbeats: {e:?}");
            told.extend(e.id.map(|id| id.parse::<u64>().unwrap()));
        }
    }
    let widest = told.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(widest <= bound, "a step of {widest} > {bound}: {told:?}");
    assert!(*told.last().unwrap() <= last, "past the log: {told:?}");
    // What the bound is for: a resume from the id held gets the next change, no reset.
    let held = told.last().unwrap().to_string();
    let mut resumed = server.sse(path, &[("last-event-id", &held)]);
    server.insert(&editor, "/shop/products", r#"{"name":"kept","price":3}"#);
    let next = resumed.next_event(T).expect("the next matching change");
    assert_eq!(next.event, "change", "{next:?}");
}

/// A resume that starts the stream anew (its last client left, so it was torn down) after
/// writes to another collection only: its replay finds nothing in its own, and the client is
/// still told where the log got to, at once (a new stream's hub has no position yet).
#[test]
fn a_resume_that_starts_a_stream_anew_is_told_the_head_at_once() {
    let server = Server::start(&["--replay", "8", "--heartbeat", "60s"]);
    let (editor, path) = selective_stream(&server);
    let (live, kept) = first_kept(&server, &editor, path);
    drop(live);
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..7 {
        server.insert(&editor, "/shop/other", &format!(r#"{{"name":"o-{i}"}}"#));
    }
    let mut resumed = server.sse(path, &[("last-event-id", &kept.to_string())]);
    let e = loop {
        let e = resumed
            .next_event_or_heartbeat(Duration::from_secs(2), true)
            .expect("the position within 2 s, not at the next write");
        if e.id.is_some() {
            break e;
        }
    };
    assert_eq!(
        (e.event.as_str(), e.id),
        ("heartbeat", Some((kept + 7).to_string()))
    );
}

#[test]
fn typed_feed_carries_item_and_revision_events() {
    let server = Server::start(&[]);
    let editor = server.token("editor");
    let viewer = server.token("viewer");
    let mut feed = server.sse(
        "/api/events",
        &[("authorization", &format!("Bearer {viewer}"))],
    );
    assert_eq!(feed.status, 200);
    assert_eq!(feed.next_event(T).unwrap().event, "server.state");
    let doc = server.insert(&editor, "/inventory/items", r#"{"part_number":"A01-0002"}"#);
    let id = doc["_id"]["$oid"].as_str().unwrap();
    let auth = format!("Bearer {editor}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    server.request(
        "PATCH",
        &format!("/inventory/items/{id}"),
        &h,
        Some(r#"{"weight":3}"#),
    );
    server.request("DELETE", &format!("/inventory/items/{id}"), &h, None);
    let events = feed.events(4, T);
    let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        names,
        [
            "item.created",
            "item.updated",
            "revision.created",
            "item.deleted"
        ]
    );
    assert_eq!(events[0].json()["document"]["part_number"], "A01-0002");
    assert_eq!(events[2].json()["revision_number"], 2);
    assert_eq!(
        events[1].id, None,
        "only the last frame of a change carries the id"
    );
    assert_eq!(events[2].id.as_deref(), Some("2"));
    let forbidden = server.sse("/api/events", &[]);
    assert_eq!(forbidden.status, 401);
}

#[test]
fn feed_heartbeats_every_interval() {
    let server = Server::start(&["--heartbeat", "200ms"]);
    let viewer = server.token("viewer");
    let mut feed = server.sse(&format!("/api/events?access_token={viewer}"), &[]);
    let hello = feed.next_event(T).unwrap();
    assert_eq!(hello.event, "server.state");
    // The first heartbeat gives a fresh client its resume point; later ones have no id.
    let position = feed.next_event_or_heartbeat(T, true).unwrap();
    assert_eq!(
        (position.event.as_str(), position.id.as_deref()),
        ("heartbeat", Some("0"))
    );
    let beat = feed
        .next_event_or_heartbeat(Duration::from_secs(2), true)
        .unwrap();
    assert_eq!(
        (beat.event.as_str(), beat.data.as_str(), beat.id.as_deref()),
        ("heartbeat", "{}", None)
    );
}

#[test]
fn patch_topics_stream_published_ops_and_resume() {
    let server = Server::start(&["--topic-prefix", "dashboard:"]);
    let editor = server.token("editor");
    let mut sub = server.sse("/dashboard/__events?topic=dashboard:user:42", &[]);
    assert_eq!(sub.status, 200);
    assert_eq!(sub.next_item(T), Item::Retry(3000));
    let auth = format!("Bearer {editor}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    for body in [
        r#"[["replace","/counter",7]]"#,
        r#"[{"op":"add","path":"/rows/-","value":1}]"#,
    ] {
        let r = server.request("POST", "/_publish/dashboard:user:42", &h, Some(body));
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let patches = sub.events(2, T);
    assert_eq!(patches[0].event, "patch");
    assert_eq!(patches[0].data, r#"[["replace","/counter",7]]"#);
    assert_eq!(patches[1].data, r#"[["add","/rows/-",1]]"#);
    let first_id = patches[0].id.clone().unwrap();
    let mut resumed = server.sse(
        "/dashboard/__events?topic=dashboard:user:42",
        &[("last-event-id", &first_id)],
    );
    assert_eq!(resumed.next_event(T).unwrap().data, patches[1].data);
    let mut reset = server.sse(
        "/dashboard/__events?topic=dashboard:user:42&lastEventId=77",
        &[],
    );
    assert_eq!(reset.next_event(T).unwrap().event, "reset");
    assert_eq!(
        server.sse("/dashboard/__events?topic=admin:x", &[]).status,
        403
    );
}

/// `{"_$var": "@user._id"}` is the token's subject, set by the server as RESTHeart does: each
/// user's stream shows that user's documents, and a client cannot pass the variable itself.
#[test]
fn the_user_variable_comes_from_the_token_not_from_the_client() {
    let server = Server::start(&[]);
    let editor = server.token("editor");
    let def = r#"{"streams": [{"uri": "mine", "stages": [{"_$match": {"fullDocument::owner": {"_$var": "@user._id"}}}]}]}"#;
    let auth = format!("Bearer {editor}");
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let r = server.request("PUT", "/shop/products", &h, Some(def));
    assert_eq!(r.status, 201, "{}", r.body);

    let forged = server.request(
        "GET",
        "/shop/products/_streams/mine?avars=%7B%22%40user._id%22%3A%22alice%22%7D",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(forged.body.contains("set by the server"), "{}", forged.body);
    let anonymous = server.request("GET", "/shop/products/_streams/mine", &[], None);
    assert_eq!(anonymous.status, 400, "{}", anonymous.body);
    assert!(
        anonymous.body.contains("authenticated request"),
        "{}",
        anonymous.body
    );

    // The test tokens' subject is "tester".
    let mut mine = server.sse("/shop/products/_streams/mine", &[("authorization", &auth)]);
    assert_eq!(mine.status, 200);
    server.insert(&editor, "/shop/products", r#"{"owner":"alice","n":1}"#);
    server.insert(&editor, "/shop/products", r#"{"owner":"tester","n":2}"#);
    let e = loop {
        let e = mine.next_event(T).expect("the tester's change");
        if e.event == "change" {
            break e;
        }
    };
    assert_eq!(
        e.json()["fullDocument"]["n"],
        2,
        "only the token's user's document"
    );
}

/// Patch topics live in memory: their ids start above the process's start time, so after a
/// restart a resume id from before it gets `reset` (`unknown-id`), never the patches that the
/// new process happened to number the same way (before, ids started at 1 in every process).
/// The `--memory` change log does the same (`store::log` unit test).
#[test]
fn after_a_restart_an_earlier_processes_topic_id_gets_reset_not_a_silent_gap() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let publish = |server: &Server, n: usize| -> Vec<String> {
        let auth = format!("Bearer {}", server.token("editor"));
        let h = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let mut sub = server.sse("/dashboard/__events?topic=dashboard:restart", &[]);
        let mut ids = Vec::new();
        for i in 0..n {
            let body = format!(r#"[["replace","/n",{i}]]"#);
            let r = server.request("POST", "/_publish/dashboard:restart", &h, Some(&body));
            assert_eq!(r.status, 202, "{}", r.body);
        }
        while ids.len() < n {
            let e = sub.next_event(T).expect("the patches published");
            if e.event == "patch" {
                ids.push(e.id.unwrap());
            }
        }
        ids
    };
    let mut first = Server::start_in(&data, &[], &[]);
    let before = publish(&first, 3);
    first.signal("TERM");
    first.wait_exit(T).expect("stopped");
    drop(first);

    let second = Server::start_in(&data, &[], &[]);
    let after = publish(&second, 5);
    assert!(
        after[0].parse::<u64>().unwrap() > before[2].parse::<u64>().unwrap(),
        "{after:?} after {before:?}"
    );
    let mut resumed = second.sse(
        "/dashboard/__events?topic=dashboard:restart",
        &[("last-event-id", &before[2])],
    );
    let e = resumed.next_event(T).unwrap();
    assert_eq!(
        (e.event.as_str(), e.json()["reason"].as_str()),
        ("reset", Some("unknown-id"))
    );
}

#[cfg(feature = "test-routes")]
mod test_routes {
    use super::*;

    #[test]
    fn one_event_then_silence() {
        let server = Server::start(&["--heartbeat", "100ms"]);
        let mut sse = server.sse("/_test/sse?event=weird&data=not%20json%0Asecond&id=5", &[]);
        assert_eq!(sse.next_item(T), Item::Retry(1000));
        let e = sse.next_event(T).unwrap();
        assert_eq!(
            (e.event.as_str(), e.id.as_deref(), e.data.as_str()),
            ("weird", Some("5"), "not json\nsecond")
        );
        assert_eq!(
            sse.next_item(Duration::from_millis(500)),
            Item::TimedOut,
            "no keep-alives"
        );
        let r = server.request("GET", "/_test/sse?event=a%0Adata:x&data=1", &[], None);
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"], "bad_request");
    }

    #[test]
    fn flaky_fails_then_streams_and_records_hits() {
        let server = Server::start(&[]);
        for _ in 0..2 {
            let r = server.request(
                "GET",
                "/_test/flaky/k1?fail=2&status=503&retryAfter=3",
                &[],
                None,
            );
            assert_eq!(r.status, 503);
            assert_eq!(r.header("retry-after"), Some("3"));
        }
        let mut sse = server.sse("/_test/flaky/k1?fail=2&status=503", &[]);
        assert_eq!(sse.status, 200);
        let hello = sse.next_event(T).unwrap();
        assert_eq!(
            (hello.event.as_str(), hello.id.as_deref()),
            ("hello", Some("3"))
        );
        assert_eq!(hello.json()["attempt"], 3);
        let hits = server.request("GET", "/_test/hits/k1", &[], None).json();
        let hits = hits["hits"].as_array().unwrap();
        assert_eq!(hits.len(), 3);
        assert!(hits.windows(2).all(|w| w[0].as_u64() <= w[1].as_u64()));
    }

    #[test]
    fn token_route_and_exit() {
        let mut server = Server::start(&[]);
        let token = server
            .request("GET", "/_test/token?role=editor&ttl_secs=60", &[], None)
            .body;
        server.insert(token.trim(), "/shop/products", "{}");
        let expired = server
            .request("GET", "/_test/token?role=editor&ttl_secs=-5", &[], None)
            .body;
        let r = server.request(
            "POST",
            "/shop/products",
            &[("authorization", &format!("Bearer {}", expired.trim()))],
            Some("{}"),
        );
        assert_eq!(r.status, 401);
        let r = server.request("POST", "/_test/exit", &[], None);
        assert_eq!(r.status, 202);
        assert!(server.wait_exit(Duration::from_secs(2)).is_some());
    }
}

/// A stream redefined while clients are connected: a client that joins after the `PUT` gets the
/// new filter live, not the forwarder of the old definition.
#[test]
fn a_redefined_stream_filters_new_clients_by_its_new_definition() {
    let server = Server::start(&[]);
    let editor = server.token("editor");
    let auth = format!("Bearer {editor}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let define = |name: &str| {
        let def = format!(
            r#"{{"streams":[{{"uri":"named","stages":[{{"_$match":{{"fullDocument.name":"{name}"}}}}]}}]}}"#
        );
        let r = server.request("PUT", "/shop/products", &headers, Some(&def));
        assert_eq!(r.status, 201, "{}", r.body);
    };
    let next_change = |s: &mut common::SseClient| loop {
        match s.next_item(T) {
            Item::Event(e) if e.event == "change" => {
                return e.json()["fullDocument"]["name"].clone()
            }
            Item::Event(_) | Item::Retry(_) | Item::Comment(_) => {}
            other => panic!("stream ended: {other:?}"),
        }
    };
    define("a");
    let mut old = server.sse("/shop/products/_streams/named", &[]);
    assert_eq!(old.status, 200);
    define("b");
    let mut new = server.sse("/shop/products/_streams/named", &[]);
    assert_eq!(new.status, 200);
    server.insert(&editor, "/shop/products", r#"{"name": "a"}"#);
    server.insert(&editor, "/shop/products", r#"{"name": "b"}"#);
    assert_eq!(next_change(&mut old), "a");
    assert_eq!(next_change(&mut new), "b");
}
