//! RESTHeart's `_etag`, in-process: every write gives a document a new tag (in its body and in
//! the `ETag` header), `If-None-Match` gets a 304, and `If-Match` or `?checkEtag` make a write
//! conditional (412 for a stale tag, 409 for none), with nothing stored when refused.

mod oneshot;

use axum::http::StatusCode;
use livesource_dev::auth::Role;
use oneshot::{Api, Reply};
use serde_json::{json, Value};

const DOC: &str = "/shop/products/lamp";
/// `DOC`, created if missing (a PUT only replaces by default, as RESTHeart's).
const UPSERT: &str = "/shop/products/lamp?wm=upsert";

async fn write(
    api: &Api,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let auth = format!("Bearer {}", api.token(Role::Editor));
    let mut all = vec![("authorization", auth.as_str())];
    all.extend_from_slice(headers);
    api.call(method, uri, &all, body).await
}

fn tag(r: &Reply) -> String {
    r.headers["etag"].to_str().unwrap().to_owned()
}

/// The stored document less its tag, and its tag.
async fn stored(api: &Api) -> (Value, String) {
    let r = api.call("GET", DOC, &[], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    (r.doc(), tag(&r))
}

#[tokio::test]
async fn every_write_gives_a_new_tag_in_the_body_and_the_header() {
    let api = Api::new();
    let r = write(
        &api,
        "POST",
        "/shop/products",
        &[],
        Some(json!({"_id": "lamp", "n": 1})),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::CREATED, json!({"_id": "lamp", "n": 1}))
    );
    let mut seen = vec![tag(&r)];
    assert_eq!(stored(&api).await.1, seen[0]);

    // A tag sent back with the document (a read-modify-write) is the server's to replace.
    // Whatever it holds, even what would be refused as data anywhere else.
    let r = write(
        &api,
        "POST",
        "/shop/products",
        &[],
        Some(json!({"_id": "o", "_etag": {"$x": 1}})),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::CREATED, json!({"_id": "o"}))
    );
    seen.push(tag(&r));
    let sent = json!({"_id": "lamp", "n": 2, "_etag": {"$oid": seen[0]}});
    let r = write(&api, "PUT", DOC, &[], Some(sent)).await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "lamp", "n": 2}))
    );
    seen.push(tag(&r));
    // An update that changes nothing else still writes a tag, as RESTHeart's `$set` of it does.
    let r = write(
        &api,
        "PATCH",
        DOC,
        &[],
        Some(json!({"n": 2, "_etag": "mine"})),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "lamp", "n": 2}))
    );
    seen.push(tag(&r));
    let r = write(
        &api,
        "POST",
        "/shop/products",
        &[],
        Some(json!([{"_id": "b1"}, {"_id": "b2"}])),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for id in ["b1", "b2"] {
        let r = api
            .call("GET", &format!("/shop/products/{id}"), &[], None)
            .await;
        assert_eq!(r.doc(), json!({"_id": id}));
        seen.push(tag(&r));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "{seen:?}");
    assert_eq!(
        stored(&api).await,
        (json!({"_id": "lamp", "n": 2}), seen[3].clone())
    );

    // The list carries each document's tag too.
    let r = api.call("GET", "/shop/products", &[], None).await;
    let listed = r.json();
    let lamp = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["_id"] == "lamp")
        .unwrap();
    assert_eq!(lamp["_etag"], json!({"$oid": seen[3]}));

    // Nothing else may touch it.
    for body in [
        json!({"$unset": {"_etag": ""}}),
        json!({"_etag.x": 1}),
        json!({"$inc": {"_etag": 1}}),
    ] {
        let r = write(&api, "PATCH", DOC, &[], Some(body.clone())).await;
        r.assert_error(StatusCode::BAD_REQUEST, "bad_request", &body);
    }
    assert_eq!(stored(&api).await.1, seen[3]);
}

#[tokio::test]
async fn if_none_match_of_the_current_tag_is_304_without_a_body() {
    let api = Api::new();
    let r = write(&api, "PUT", UPSERT, &[], Some(json!({"n": 1}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let first = tag(&r);
    let r = api
        .call("GET", DOC, &[("if-none-match", &first)], None)
        .await;
    assert_eq!(
        (r.status, r.body.as_str(), tag(&r)),
        (StatusCode::NOT_MODIFIED, "", first.clone())
    );
    // A read compares the text exactly, as RESTHeart's does (a write reads an ObjectId).
    let r = api
        .call(
            "GET",
            DOC,
            &[("if-none-match", &first.to_uppercase())],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // HEAD, as `curl -I` sends it: the tag, no body; and 304 the same way.
    let r = api.call("HEAD", DOC, &[], None).await;
    assert_eq!(
        (r.status, r.body.as_str(), tag(&r)),
        (StatusCode::OK, "", first.clone())
    );
    let r = api
        .call("HEAD", DOC, &[("if-none-match", &first)], None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    let r = write(&api, "PATCH", DOC, &[], Some(json!({"n": 2}))).await;
    let second = tag(&r);
    let r = api
        .call("GET", DOC, &[("if-none-match", &first)], None)
        .await;
    assert_eq!(
        (r.status, r.doc(), tag(&r)),
        (
            StatusCode::OK,
            json!({"_id": "lamp", "n": 2}),
            second.clone()
        )
    );
    // Only the bare tag matches, as on RESTHeart: quoted, it is another tag.
    let quoted = format!("\"{second}\"");
    let r = api
        .call("GET", DOC, &[("if-none-match", &quoted)], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn if_match_makes_each_write_conditional_and_a_refused_one_stores_nothing() {
    let api = Api::new();
    let r = write(&api, "PUT", UPSERT, &[], Some(json!({"n": 1}))).await;
    let old = tag(&r);
    let r = write(
        &api,
        "PATCH",
        DOC,
        &[("if-match", &old)],
        Some(json!({"n": 2})),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "lamp", "n": 2}))
    );
    let current = tag(&r);

    // The old tag is stale now: every write with it is refused, and says the current one. A
    // quoted tag is another tag (RESTHeart compares the bare text), and the message says so.
    let quoted = format!("\"{current}\"");
    for method in ["PUT", "PATCH", "DELETE"] {
        let body = (method != "DELETE").then(|| json!({"n": 9}));
        let r = write(&api, method, DOC, &[("if-match", &old)], body.clone()).await;
        r.assert_error(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            method,
        );
        assert_eq!(tag(&r), current, "{method}");
        let r = write(&api, method, DOC, &[("if-match", &quoted)], body).await;
        r.assert_error(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            method,
        );
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("without quotes"), "{method}: {message}");
    }
    assert_eq!(
        stored(&api).await,
        (json!({"_id": "lamp", "n": 2}), current.clone())
    );

    let r = write(
        &api,
        "PUT",
        DOC,
        &[("if-match", &current)],
        Some(json!({"n": 3})),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "lamp", "n": 3}))
    );
    let r = write(&api, "DELETE", DOC, &[("if-match", &tag(&r))], None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    // A write that creates the document has nothing to check (as on RESTHeart); one on a
    // document that is not there is 404.
    let r = write(
        &api,
        "PATCH",
        DOC,
        &[("if-match", &current)],
        Some(json!({"n": 4})),
    )
    .await;
    r.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "PATCH a deleted document",
    );
    let r = write(
        &api,
        "PUT",
        UPSERT,
        &[("if-match", &current)],
        Some(json!({"n": 4})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

#[tokio::test]
async fn check_etag_without_if_match_is_409_with_the_current_tag() {
    let api = Api::new();
    let r = write(&api, "PUT", UPSERT, &[], Some(json!({"n": 1}))).await;
    let current = tag(&r);
    let uri = format!("{DOC}?checkEtag");
    for (method, body) in [
        ("PUT", Some(json!({"n": 9}))),
        ("PATCH", Some(json!({"n": 9}))),
        ("DELETE", None),
    ] {
        let r = write(&api, method, &uri, &[], body).await;
        r.assert_error(StatusCode::CONFLICT, "etag_required", method);
        assert_eq!(tag(&r), current, "{method}");
    }
    assert_eq!(
        stored(&api).await,
        (json!({"_id": "lamp", "n": 1}), current.clone())
    );
    let r = write(
        &api,
        "PATCH",
        &uri,
        &[("if-match", &current)],
        Some(json!({"n": 2})),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "lamp", "n": 2}))
    );
    // A new document's PUT with ?checkEtag has nothing to check.
    let r = write(
        &api,
        "PUT",
        "/shop/products/new-one?checkEtag&wm=upsert",
        &[],
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// A page on another origin reads the tag (and a POST's `Location`) only if CORS exposes them,
/// as RESTHeart does.
#[tokio::test]
async fn the_tag_and_location_are_exposed_to_other_origins() {
    let mut config = livesource_dev::Config::for_tests();
    config.cors_origins = vec!["http://localhost:5173".into()];
    let api = Api::with(config);
    let r = api
        .call("GET", DOC, &[("origin", "http://localhost:5173")], None)
        .await;
    let exposed = r.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("location"),
        "{exposed}"
    );
}

/// A refused write leaves no trace: not the document (checked above), not the event log.
/// (RESTHeart writes first and restores the old document after, so its streams see both.)
#[tokio::test]
async fn a_refused_write_logs_no_event() {
    let api = Api::new();
    let r = write(&api, "PUT", UPSERT, &[], Some(json!({"n": 1}))).await;
    let stale = tag(&r);
    write(&api, "PATCH", DOC, &[], Some(json!({"n": 2}))).await;
    let head = api.state.store.head().unwrap();
    for (method, uri, headers) in [
        ("PATCH", DOC.to_owned(), vec![("if-match", stale.as_str())]),
        ("DELETE", DOC.to_owned(), vec![("if-match", "not-a-tag")]),
        ("PUT", format!("{DOC}?checkEtag&checkEtag"), vec![]),
    ] {
        let body = (method != "DELETE").then(|| json!({"n": 9}));
        let r = write(&api, method, &uri, &headers, body).await;
        assert!(
            [StatusCode::CONFLICT, StatusCode::PRECONDITION_FAILED].contains(&r.status),
            "{method} {uri}: {} {}",
            r.status,
            r.body
        );
    }
    assert_eq!(api.state.store.head().unwrap(), head);
}

/// Many writers with the same tag: the first wins, every other gets 412 (the check and the
/// write are one transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_writers_racing_with_one_tag_exactly_one_wins() {
    let api = std::sync::Arc::new(Api::new());
    let r = write(&api, "PUT", UPSERT, &[], Some(json!({"n": 0}))).await;
    let tag = tag(&r);
    let writers: Vec<_> = (1..=20)
        .map(|n| {
            let (api, tag) = (api.clone(), tag.clone());
            tokio::spawn(async move {
                let body = Some(json!({"$inc": {"n": n}}));
                write(&api, "PATCH", DOC, &[("if-match", &tag)], body)
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for w in writers {
        statuses.push(w.await.unwrap());
    }
    let won = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let lost = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((won, lost), (1, 19), "{statuses:?}");
    let (doc, _) = stored(&api).await;
    assert!(
        doc["n"].as_i64().is_some_and(|n| (1..=20).contains(&n)),
        "{doc}"
    );
}

#[tokio::test]
async fn odd_tags_and_bodies() {
    let api = Api::new();
    // An If-Match that is not text fails to match (412) rather than failing the request; a PUT
    // that creates the document checks nothing, whatever it sent.
    let r = write(
        &api,
        "PUT",
        UPSERT,
        &[("if-match", "tägg")],
        Some(json!({"n": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = write(
        &api,
        "PUT",
        DOC,
        &[("if-match", "tägg")],
        Some(json!({"n": 2})),
    )
    .await;
    r.assert_error(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "non-ASCII",
    );
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("not an ETag this server gives"),
        "{message}"
    );
    // A PATCH may carry a tag back, whatever it holds: it is replaced.
    let r = write(
        &api,
        "PATCH",
        DOC,
        &[],
        Some(json!({"_etag": {"$x": 1}, "n": 3})),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "lamp", "n": 3}))
    );
    // An empty PATCH would only write a new tag: refused, as RESTHeart refuses it.
    let r = write(&api, "PATCH", DOC, &[], Some(json!({}))).await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request", "empty PATCH");
}
