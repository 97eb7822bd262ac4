//! RESTHeart's write modes (`?wm=`, `?writeMode=`), with its defaults: POST inserts, PUT and
//! PATCH update, so a page that creates a document with a bare PUT fails here as it would there.

mod oneshot;

use axum::http::StatusCode;
use livesource_dev::auth::Role;
use oneshot::{Api, Reply};
use serde_json::{json, Value};

async fn editor(api: &Api, method: &str, uri: &str, body: Value) -> Reply {
    api.as_role(Role::Editor, method, uri, Some(body)).await
}

async fn stored(api: &Api, id: &str) -> Option<Value> {
    let r = api
        .call("GET", &format!("/shop/products/{id}"), &[], None)
        .await;
    (r.status == StatusCode::OK).then(|| r.doc())
}

#[tokio::test]
async fn put_replaces_by_default_and_creates_only_when_asked() {
    let api = Api::new();
    let r = editor(&api, "PUT", "/shop/products/p1", json!({"n": 1})).await;
    r.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "PUT of a missing document",
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("?wm=upsert creates it"),
        "{}",
        r.body
    );
    assert_eq!(stored(&api, "p1").await, None);

    let r = editor(&api, "PUT", "/shop/products/p1?wm=upsert", json!({"n": 1})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = editor(&api, "PUT", "/shop/products/p1", json!({"n": 2})).await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "p1", "n": 2}))
    );
    // insert only creates; the long name and any case, as RESTHeart reads them.
    let r = editor(&api, "PUT", "/shop/products/p1?wm=insert", json!({"n": 3})).await;
    r.assert_error(
        StatusCode::CONFLICT,
        "conflict",
        "insert over an existing document",
    );
    let r = editor(
        &api,
        "PUT",
        "/shop/products/p2?writeMode=INSERT",
        json!({"n": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(stored(&api, "p1").await, Some(json!({"_id": "p1", "n": 2})));
    // A misspelt mode is an error, not a silent update (RESTHeart falls back to the default).
    let r = editor(&api, "PUT", "/shop/products/p3?wm=upsret", json!({})).await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request", "wm=upsret");
}

#[tokio::test]
async fn patch_with_upsert_creates_and_set_on_insert_applies_then_only() {
    let api = Api::new();
    let mut changes = api.state.store.subscribe(None);
    let body = json!({"$inc": {"n": 1}, "$setOnInsert": {"created": "now"}});
    let r = editor(&api, "PATCH", "/shop/products/c1", body.clone()).await;
    r.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "PATCH of a missing document",
    );
    let r = editor(&api, "PATCH", "/shop/products/c1?wm=upsert", body.clone()).await;
    assert_eq!(
        (r.status, r.doc()),
        (
            StatusCode::CREATED,
            json!({"_id": "c1", "n": 1, "created": "now"})
        )
    );
    let r = editor(&api, "PATCH", "/shop/products/c1?wm=upsert", body).await;
    assert_eq!(
        (r.status, r.doc()),
        (
            StatusCode::OK,
            json!({"_id": "c1", "n": 2, "created": "now"})
        )
    );
    // The upsert that created it is an insert on the change stream, as MongoDB reports it.
    let ops: Vec<Value> = [changes.recv().await.unwrap(), changes.recv().await.unwrap()]
        .iter()
        .map(|c| c.event["operationType"].clone())
        .collect();
    assert_eq!(ops, [json!("insert"), json!("update")]);
}

#[tokio::test]
async fn post_with_update_or_upsert_replaces_the_document_its_id_names() {
    let api = Api::new();
    let r = editor(
        &api,
        "POST",
        "/shop/products?wm=update",
        json!({"_id": "q1", "n": 1}),
    )
    .await;
    r.assert_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "POST wm=update of a missing document",
    );
    let r = editor(
        &api,
        "POST",
        "/shop/products?wm=upsert",
        json!({"_id": "q1", "n": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.headers["location"], "/shop/products/q1");
    let r = editor(
        &api,
        "POST",
        "/shop/products?wm=update",
        json!({"_id": "q1", "m": 2}),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "q1", "m": 2}))
    );
    // The default inserts: an existing _id is a conflict.
    let r = editor(&api, "POST", "/shop/products", json!({"_id": "q1"})).await;
    r.assert_error(StatusCode::CONFLICT, "conflict", "POST of an existing _id");
    let r = editor(&api, "POST", "/shop/products?wm=update", json!({"m": 2})).await;
    r.assert_error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "wm=update without _id",
    );
    let r = editor(
        &api,
        "POST",
        "/shop/products?wm=upsert",
        json!([{"_id": "b1"}]),
    )
    .await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request", "a bulk upsert");
    assert_eq!(stored(&api, "b1").await, None);
}

#[tokio::test]
async fn patch_with_insert_only_creates() {
    let api = Api::new();
    let r = editor(
        &api,
        "PATCH",
        "/shop/products/i1?wm=insert",
        json!({"n": 1}),
    )
    .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::CREATED, json!({"_id": "i1", "n": 1}))
    );
    let r = editor(
        &api,
        "PATCH",
        "/shop/products/i1?wm=insert",
        json!({"n": 2}),
    )
    .await;
    r.assert_error(
        StatusCode::CONFLICT,
        "conflict",
        "PATCH wm=insert of an existing document",
    );
    assert_eq!(stored(&api, "i1").await, Some(json!({"_id": "i1", "n": 1})));
}

#[tokio::test]
async fn the_long_name_wins_and_delete_has_no_mode() {
    let api = Api::new();
    // RESTHeart reads `writeMode` before `wm`.
    let r = editor(
        &api,
        "PUT",
        "/shop/products/w1?wm=update&writeMode=upsert",
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // RESTHeart ignores `wm` on DELETE; so does this server, whatever it says.
    let r = api
        .as_role(Role::Editor, "DELETE", "/shop/products/w1?wm=bogus", None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}

#[tokio::test]
async fn a_post_that_replaces_is_checked_as_a_put_on_the_document_and_its_tag() {
    let mut config = livesource_dev::Config::for_tests();
    config.access_rules = Some(
        r#"[{"prefix": "/shop/products/locked", "methods": ["PUT", "PATCH", "DELETE"], "role": "admin"}]"#
            .into(),
    );
    let api = Api::with(config);
    let r = api
        .as_role(
            Role::Admin,
            "PUT",
            "/shop/products/locked?wm=upsert",
            Some(json!({"n": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let tag = r.headers["etag"].to_str().unwrap().to_owned();
    for wm in ["update", "upsert"] {
        let uri = format!("/shop/products?wm={wm}");
        let r = editor(&api, "POST", &uri, json!({"_id": "locked", "n": 2})).await;
        r.assert_error(StatusCode::FORBIDDEN, "forbidden", &uri);
    }
    assert_eq!(
        stored(&api, "locked").await,
        Some(json!({"_id": "locked", "n": 1}))
    );
    // With rules that reach documents, wm=update without `_id` is still the 400 it is without.
    let r = editor(&api, "POST", "/shop/products?wm=update", json!({"n": 2})).await;
    r.assert_error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        "wm=update without _id",
    );
    // A replacing POST is conditional as a PUT is.
    let stale = "62166d53ebdcd56455a1a7aa";
    let admin = format!("Bearer {}", api.token(Role::Admin));
    let r = api
        .call(
            "POST",
            "/shop/products?wm=upsert",
            &[("authorization", &admin), ("if-match", stale)],
            Some(json!({"_id": "locked", "n": 3})),
        )
        .await;
    r.assert_error(
        StatusCode::PRECONDITION_FAILED,
        "precondition_failed",
        "stale tag",
    );
    let r = api
        .call(
            "POST",
            "/shop/products?wm=upsert",
            &[("authorization", &admin), ("if-match", &tag)],
            Some(json!({"_id": "locked", "n": 3})),
        )
        .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::OK, json!({"_id": "locked", "n": 3}))
    );
}
