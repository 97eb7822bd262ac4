//! The router in-process: documents, stream definitions and avars, patch topics, pages,
//! health and readiness.

mod oneshot;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use livesource_dev::auth::Role;
use oneshot::Api;
use serde_json::{json, Value};
use tower::ServiceExt;

#[tokio::test]
async fn crud_round_trip() {
    let api = Api::new();
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"name": "lamp", "dims": {"w": 1}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // A new document's id is an ObjectId, `{"$oid": "<24 hex digits>"}` as RESTHeart writes
    // it; its URL names it by the hex digits.
    let oid = r.json()["_id"].clone();
    let id = oid["$oid"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{oid}"
    );
    assert_eq!(r.headers[header::LOCATION], format!("/shop/products/{id}"));

    let r = api
        .call("GET", &format!("/shop/products/{id}"), &[], None)
        .await;
    assert_eq!(
        r.doc(),
        json!({"_id": oid, "name": "lamp", "dims": {"w": 1}})
    );

    let r = api
        .as_role(
            Role::Editor,
            "PATCH",
            &format!("/shop/products/{id}"),
            Some(json!({"dims.h": 2, "name": null})),
        )
        .await;
    // RESTHeart's PATCH: fields are `$set` (a dotted path reaches in; null is a value).
    assert_eq!(
        r.doc(),
        json!({"_id": oid, "name": null, "dims": {"w": 1, "h": 2}})
    );

    let r = api
        .as_role(
            Role::Editor,
            "PUT",
            &format!("/shop/products/{id}"),
            Some(json!({"name": "desk"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A PUT replaces an existing document (RESTHeart's default write mode, update): a missing
    // one is 404, and ?wm=upsert (or insert) creates it.
    let r = api
        .as_role(
            Role::Editor,
            "PUT",
            "/shop/products/given-id",
            Some(json!({"name": "chair"})),
        )
        .await;
    r.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "PUT of a missing document",
    );
    assert!(
        r.json()["message"].as_str().unwrap().contains("?wm=upsert"),
        "{}",
        r.body
    );
    let r = api
        .as_role(
            Role::Editor,
            "PUT",
            "/shop/products/given-id?wm=upsert",
            Some(json!({"name": "chair"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let r = api.call("GET", "/shop/products", &[], None).await;
    let names: Vec<Value> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(
        names,
        [json!("chair"), json!("desk")],
        "newest first, as RESTHeart lists"
    );

    let r = api
        .as_role(
            Role::Editor,
            "DELETE",
            &format!("/shop/products/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api
        .call("GET", &format!("/shop/products/{id}"), &[], None)
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found", "");
}

#[tokio::test]
async fn bad_input_gets_typed_400s() {
    let api = Api::new();
    let auth = format!("Bearer {}", api.token(Role::Editor));
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    for (method, uri, body) in [
        ("POST", "/shop/products", "not json"),
        ("POST", "/shop/products", "[1,2]"),
        ("POST", "/shop/products", r#"{"_id": 5}"#),
        ("POST", "/shop/products", r#"{"_id": ""}"#),
        ("PUT", "/shop/products/a", r#"{"_id": "b"}"#),
        ("POST", "/_bad/products", "{}"),
        ("GET", "/shop/products?pagesize=0", ""),
        ("GET", "/shop/products?page=0", ""),
        // RESTHeart list parameters this server does not implement: refused, not ignored.
        ("GET", "/shop/products?filter=%7B%22a%22%3A1%7D", ""),
        ("GET", "/shop/products?keys=%7B%22a%22%3A1%7D", ""),
        ("GET", "/shop/products?sort=%7B%22a%22%3A1%7D", ""),
        (
            "PUT",
            "/shop/products",
            r#"{"streams": [{"uri": "x", "stages": [{"$group": {}}]}]}"#,
        ),
        ("PUT", "/shop/products", r#"{"streams": [{"stages": []}]}"#),
        ("PUT", "/shop/products", r#"{"nope": 1}"#),
    ] {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in h {
            req = req.header(k, v);
        }
        let res = api
            .router
            .clone()
            .oneshot(req.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {uri} {body}: {v}"
        );
        assert_eq!(v["error"], "bad_request");
    }
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"_id": "dup"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"_id": "dup"})),
        )
        .await;
    r.assert_error(StatusCode::CONFLICT, "conflict", "");
}

/// RESTHeart's ids: `{"$oid": …}` in JSON and in change events, the hex digits in a URL (24 of
/// them name an ObjectId there, in either case); a string id stays a string.
#[tokio::test]
async fn object_ids_as_restheart_writes_them() {
    let api = Api::new();
    let hex = "62166d53ebdcd56455a1a7ab";
    let oid = json!({ "$oid": hex });
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"_id": {"$oid": hex.to_uppercase()}, "n": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.doc(), json!({"_id": oid, "n": 1}));
    assert_eq!(r.headers[header::LOCATION], format!("/shop/products/{hex}"));
    for uri in [hex.to_owned(), hex.to_uppercase()] {
        let r = api
            .call("GET", &format!("/shop/products/{uri}"), &[], None)
            .await;
        assert_eq!(r.doc(), json!({"_id": oid, "n": 1}), "GET {uri}");
    }
    // A body may repeat the path's id as RESTHeart writes it.
    let r = api
        .as_role(
            Role::Editor,
            "PUT",
            &format!("/shop/products/{hex}"),
            Some(json!({"_id": oid, "n": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .as_role(
            Role::Editor,
            "PATCH",
            &format!("/shop/products/{hex}"),
            Some(json!({"_id": oid, "n": 3})),
        )
        .await;
    assert_eq!(r.doc(), json!({"_id": oid, "n": 3}), "{}", r.body);
    // An upsert to new hex digits creates an ObjectId document, as RESTHeart's id_type
    // STRING_OID.
    let other = "62166d53ebdcd56455a1a7ac";
    let r = api
        .as_role(
            Role::Editor,
            "PUT",
            &format!("/shop/products/{other}?wm=upsert"),
            Some(json!({"n": 4})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["_id"], json!({ "$oid": other }));
    // A string id that is not 24 hex digits stays a string.
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"_id": "62166d53"})),
        )
        .await;
    assert_eq!(r.json()["_id"], "62166d53", "{}", r.body);
    // A field may hold an ObjectId (a reference to another document).
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"_id": "ref-1", "owner": oid})),
        )
        .await;
    assert_eq!(r.doc(), json!({"_id": "ref-1", "owner": oid}), "{}", r.body);
    let refused = [
        (
            "POST",
            "/shop/products".to_owned(),
            json!({"owner": {"$oid": "xyz"}}),
            "24 hex digits",
        ),
        // Its URL would name an ObjectId: the document could not be read back by its path.
        (
            "POST",
            "/shop/products".to_owned(),
            json!({"_id": hex}),
            "reads as an ObjectId",
        ),
        (
            "POST",
            "/shop/products".to_owned(),
            json!({"_id": {"$oid": "xyz"}}),
            "24 hex digits",
        ),
        (
            "POST",
            "/shop/products".to_owned(),
            json!({"_id": {"$oid": hex, "a": 1}}),
            "24 hex digits",
        ),
        (
            "PUT",
            format!("/shop/products/{hex}"),
            json!({"_id": {"$oid": other}}),
            "must match",
        ),
        (
            "PUT",
            format!("/shop/products/{hex}"),
            json!({"_id": hex}),
            "reads as an ObjectId",
        ),
        (
            "PATCH",
            format!("/shop/products/{hex}"),
            json!({"_id": {"$oid": other}}),
            "cannot be changed",
        ),
    ];
    for (method, uri, body, why) in refused {
        let r = api
            .as_role(Role::Editor, method, &uri, Some(body.clone()))
            .await;
        r.assert_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{method} {uri} {body}"),
        );
        assert!(r.body.contains(why), "{method} {uri} {body}: {}", r.body);
    }
}

#[tokio::test]
async fn stream_definitions_and_avars_errors() {
    let api = Api::new();
    let def = json!({"streams": [{"uri": "mine", "stages": [{"_$match": {"fullDocument::name": {"_$var": "n"}}}]}]});
    let r = api
        .as_role(Role::Editor, "PUT", "/shop/products", Some(def))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["streams"][0], "/shop/products/_streams/mine");

    let r = api
        .call("GET", "/shop/products/_streams/mine", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("missing variable \"n\""),
        "{}",
        r.body
    );
    let r = api
        .call(
            "GET",
            "/shop/products/_streams/mine?avars=%7Bnope",
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"].as_str().unwrap().contains("avars"),
        "{}",
        r.body
    );
    let r = api
        .call(
            "GET",
            "/shop/products/_streams/mine?avars=%5B1%5D",
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .call("GET", "/shop/products/_streams/nosuch", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let (status, headers) = api
        .open("/shop/products/_streams/mine?avars=%7B%22n%22%3A%22uji%22%7D")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
}

#[tokio::test]
async fn patch_topics_guard_prefix_and_validate_ops() {
    let api = Api::new();
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/_publish/other:x",
            Some(json!([["replace", "/a", 1]])),
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "forbidden", "");
    let r = api
        .call("GET", "/dash/__events?topic=other:x", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api.call("GET", "/dash/__events", &[], None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for bad in [
        json!({}),
        json!([]),
        json!([["jump", "/a"]]),
        json!([["replace", "a", 1]]),
        json!([{"op": "add", "path": "/a"}]),
    ] {
        let r = api
            .as_role(
                Role::Editor,
                "POST",
                "/_publish/dashboard:x",
                Some(bad.clone()),
            )
            .await;
        r.assert_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format_args!("{bad}"),
        );
    }
    let ok = json!([["replace", "/counter", 7], {"op": "move", "from": "/a", "path": "/b"}]);
    let r = api
        .as_role(Role::Editor, "POST", "/_publish/dashboard:x", Some(ok))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    // Topics number their patches from above the process's start time (see `process_base`).
    let id: u64 = r.json()["id"].as_str().unwrap().parse().unwrap();
    assert!(
        (100_000_000_000_001..1_000_000_000_000_000).contains(&id) && id % 100 == 1,
        "the first patch of this process: {id}"
    );
}

#[tokio::test]
async fn catalog_page_fragment_and_json() {
    let api = Api::new();
    api.as_role(
        Role::Editor,
        "POST",
        "/shop/products",
        Some(json!({"name": "<lamp>", "price": 9})),
    )
    .await;
    let page = api
        .call("GET", "/shop/products", &[("accept", "text/html")], None)
        .await;
    assert!(page.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.body.contains("<!doctype html>"));
    assert!(page.body.contains("<tbody id=\"product-list\""));
    assert!(page.body.contains("&lt;lamp&gt;"));
    let fragment = api
        .call(
            "GET",
            "/shop/products",
            &[("accept", "text/html"), ("hx-request", "true")],
            None,
        )
        .await;
    assert!(
        fragment
            .body
            .trim_start()
            .starts_with("<tbody id=\"product-list\""),
        "{}",
        fragment.body
    );
    assert!(fragment.body.trim_end().ends_with("</tbody>"));
    assert!(!fragment.body.contains("<html"));
    let json = api.call("GET", "/shop/products", &[], None).await;
    assert_eq!(json.json()[0]["price"], 9);
    let index = api.call("GET", "/", &[], None).await;
    assert!(index.body.contains("/static/demo.js"));
}

#[tokio::test]
async fn health_ready_and_unknown_routes() {
    let api = Api::new();
    assert_eq!(
        api.call("GET", "/health", &[], None).await.status,
        StatusCode::OK
    );
    let ready = api.call("GET", "/ready", &[], None).await.json();
    assert_eq!(ready["sseClients"], 0);
    assert_eq!(ready["status"], "ready");
    // An unrouted path passes the rules first: a stranger learns nothing from a 404.
    let r = api.call("GET", "/a/b/c/d/e", &[], None).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", "");
    let r = api.as_role(Role::Viewer, "GET", "/a/b/c/d/e", None).await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found", "");
    let r = api.call("GET", "/static/../Cargo.toml", &[], None).await;
    assert_ne!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn errors_the_router_answers_by_itself_have_the_json_body_too() {
    let api = Api::new();
    for (method, uri) in [
        ("DELETE", "/api/events"),
        ("POST", "/shop/products/_streams/changes"),
    ] {
        let r = api.as_role(Role::Admin, method, uri, None).await;
        r.assert_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format_args!("{method} {uri}"),
        );
        assert!(
            r.headers.contains_key(header::ALLOW),
            "{method} {uri}: Allow kept"
        );
    }
    for uri in ["/static/nope.js", "/pkg/nope.wasm"] {
        let r = api.call("GET", uri, &[], None).await;
        r.assert_error(StatusCode::NOT_FOUND, "not_found", format_args!("{uri}"));
    }
    let auth = format!("Bearer {}", api.token(Role::Editor));
    let r = api
        .call_raw(
            "POST",
            "/shop/products",
            &[("authorization", &auth), ("content-type", "text/plain")],
            axum::body::Body::from("{}"),
        )
        .await;
    r.assert_error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "",
    );
}

#[tokio::test]
async fn a_patch_is_applied_as_restheart_applies_it_and_the_rest_is_refused_not_stored() {
    // RESTHeart applies a PATCH as a MongoDB update: had this server stored operators or dotted
    // names as fields, or merged objects, a page would work here and not there.
    let api = Api::new();
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"_id": "p0", "price": 1, "dims": {"w": 1, "h": 2}, "old": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for (body, want) in [
        (
            json!({"$inc": {"price": 2}}),
            json!({"_id": "p0", "price": 3, "dims": {"w": 1, "h": 2}, "old": true}),
        ),
        (
            json!({"dims.w": 5}),
            json!({"_id": "p0", "price": 3, "dims": {"w": 5, "h": 2}, "old": true}),
        ),
        // A plain field is set whole: no merge into the object that was there.
        (
            json!({"dims": {"d": 9}}),
            json!({"_id": "p0", "price": 3, "dims": {"d": 9}, "old": true}),
        ),
        (
            json!({"$set": {"tags": ["a"]}, "$unset": {"old": ""}}),
            json!({"_id": "p0", "price": 3, "dims": {"d": 9}, "tags": ["a"]}),
        ),
        // Operators and plain fields together, as RESTHeart takes them (the fields are `$set`);
        // an ObjectId is stored with its hex digits in lower case, as MongoDB writes it back.
        (
            json!({"$inc": {"price": 1}, "owner": {"$oid": "62166D53EBDCD56455A1A7AB"}}),
            json!({"_id": "p0", "price": 4, "dims": {"d": 9}, "tags": ["a"], "owner": {"$oid": "62166d53ebdcd56455a1a7ab"}}),
        ),
    ] {
        let r = api
            .as_role(
                Role::Editor,
                "PATCH",
                "/shop/products/p0",
                Some(body.clone()),
            )
            .await;
        assert_eq!((r.status, r.doc()), (StatusCode::OK, want), "{body}");
    }
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/shop/products",
            Some(json!({"_id": "p1", "price": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    for (method, uri, body, why) in [
        (
            "PATCH",
            "/shop/products/p1",
            json!({"$bit": {"tags": {"and": 1}}}),
            "not supported by livesource-dev",
        ),
        (
            "PATCH",
            "/shop/products/p1",
            json!({"price.eur": 1}),
            "cannot create field",
        ),
        (
            "PATCH",
            "/shop/products/p1",
            json!({"dims": {"$set": 1}}),
            "as an operator",
        ),
        (
            "POST",
            "/shop/products",
            json!({"name": "x", "$set": {"a": 1}}),
            "as an operator",
        ),
        (
            "PUT",
            "/shop/products/p2",
            json!({"tags": [{"$each": [1]}]}),
            "as an operator",
        ),
    ] {
        let r = api
            .as_role(Role::Editor, method, uri, Some(body.clone()))
            .await;
        r.assert_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format_args!("{method} {body}"),
        );
        assert!(
            r.json()["message"].as_str().unwrap().contains(why),
            "{method} {body}: {}",
            r.body
        );
    }
    let r = api
        .as_role(Role::Viewer, "GET", "/shop/products/p1", None)
        .await;
    assert_eq!(
        r.json()["price"],
        1,
        "nothing of the refused patches was stored"
    );
    // Dots inside nested data, and `$` inside values, are plain data.
    let r = api
        .as_role(
            Role::Editor,
            "PATCH",
            "/shop/products/p1",
            Some(json!({"dims": {"w.cm": 5}, "note": "$5"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}
