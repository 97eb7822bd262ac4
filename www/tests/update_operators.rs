//! MongoDB update operators and Extended JSON values through the router, as RESTHeart's own
//! "Writing Documents" page uses them, with the change events they log.

mod oneshot;

use axum::http::StatusCode;
use livesource_dev::auth::Role;
use oneshot::Api;
use serde_json::json;

const DOC: &str = "/inventory/items/myCustomId";

/// The next change the store logs: its event, as change streams send it.
macro_rules! next_event {
    ($changes:expr) => {
        tokio::time::timeout(std::time::Duration::from_secs(5), $changes.recv())
            .await
            .expect("a change within 5 s")
            .expect("the store goes on")
            .event
            .clone()
    };
}

#[tokio::test]
async fn the_operators_of_restheart_s_own_example() {
    let api = Api::new();
    let r = api
        .as_role(
            Role::Editor,
            "PUT",
            &format!("{DOC}?wm=upsert"),
            Some(json!({"item": "pencil", "qty": 55, "tags": ["office"], "discontinued": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let mut changes = api.state.store.subscribe(None);
    // The example of RESTHeart's "Writing Documents" page, "MongoDB Update Operators".
    let body = json!({
        "$inc": { "qty": 1 },
        "$push": { "tags": "school" },
        "$unset": { "discontinued": "" },
        "$currentDate": { "lastModified": true },
    });
    let r = api.as_role(Role::Editor, "PATCH", DOC, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut doc = r.doc();
    let modified = doc.as_object_mut().unwrap().remove("lastModified").unwrap();
    assert_eq!(
        doc,
        json!({"_id": "myCustomId", "item": "pencil", "qty": 56, "tags": ["office", "school"]})
    );
    let ms = modified["$date"]
        .as_i64()
        .expect("a date, as RESTHeart writes one: {\"$date\": <ms>}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!((now - 60_000..=now).contains(&ms), "{modified}");

    let event = next_event!(changes);
    let update = &event["updateDescription"];
    // A date is one value: reported whole, not as `lastModified.$date`.
    assert_eq!(update["updatedFields"]["lastModified"], modified, "{event}");
    assert_eq!(update["updatedFields"]["qty"], 56, "{event}");
    assert_eq!(update["removedFields"], json!(["discontinued"]), "{event}");

    // `$pull` with a condition, `$addToSet`, `$rename`, `$max` of a date.
    let later = json!({"$date": ms + 1000});
    let body = json!({
        "$pull": {"tags": {"$in": ["office"]}},
        "$addToSet": {"colors": {"$each": ["red", "red", "blue"]}},
        "$rename": {"item": "name"},
        "$max": {"lastModified": later},
    });
    let r = api.as_role(Role::Editor, "PATCH", DOC, Some(body)).await;
    assert_eq!(
        (r.status, r.doc()),
        (
            StatusCode::OK,
            json!({"_id": "myCustomId", "name": "pencil", "qty": 56, "tags": ["school"], "colors": ["red", "blue"], "lastModified": later})
        )
    );
    let event = next_event!(changes);
    assert_eq!(
        event["updateDescription"]["removedFields"],
        json!(["item"]),
        "{event}"
    );
    // A changed date is reported whole too.
    assert_eq!(
        event["updateDescription"]["updatedFields"]["lastModified"], later,
        "{event}"
    );
}

#[tokio::test]
async fn extended_json_values_are_stored_as_values_and_malformed_ones_refused() {
    let api = Api::new();
    let doc = json!({
        "_id": "e1",
        "at": {"$date": "2019-09-12T13:42:49.26Z"},
        "big": {"$numberLong": "1568295769260"},
        "price": {"$numberDecimal": "9.99"},
        "ts": {"$timestamp": {"t": 1, "i": 2}},
    });
    let r = api
        .as_role(Role::Editor, "POST", "/inventory/items", Some(doc.clone()))
        .await;
    assert_eq!(
        (r.status, r.doc()),
        (StatusCode::CREATED, doc),
        "{}",
        r.body
    );
    for (bad, why) in [
        (json!({"at": {"$date": "yesterday"}}), "$date takes"),
        (json!({"at": {"$date": 1, "x": 2}}), "alone in its object"),
        (json!({"n": {"$numberLong": 5}}), "as a string"),
        (json!({"n": {"$where": "1"}}), "as an operator"),
    ] {
        let r = api
            .as_role(Role::Editor, "POST", "/inventory/items", Some(bad.clone()))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "bad_request", &bad);
        assert!(
            r.json()["message"].as_str().unwrap().contains(why),
            "{bad}: {}",
            r.body
        );
    }
    // A PATCH may not walk into one either.
    let r = api
        .as_role(
            Role::Editor,
            "PATCH",
            "/inventory/items/e1",
            Some(json!({"at.x": 1})),
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "bad_request", "into a $date");
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("cannot create field \"x\" in \"at\""),
        "{message}"
    );
}

/// Only updates can grow a document past the request size limit: `$push` after `$push` stops at
/// MongoDB's 16 MiB, with nothing stored.
#[tokio::test]
async fn an_update_may_not_grow_a_document_past_16_mib() {
    let api = Api::new();
    let r = api
        .as_role(
            Role::Editor,
            "POST",
            "/inventory/items",
            Some(json!({"_id": "myCustomId", "l": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let chunk = "x".repeat(1_900_000);
    let mut grown = 0;
    let refused = loop {
        let body = json!({"$push": {"l": chunk}});
        let r = api.as_role(Role::Editor, "PATCH", DOC, Some(body)).await;
        if r.status != StatusCode::OK {
            break r;
        }
        grown += 1;
        assert!(grown < 10, "never refused");
    };
    assert_eq!(grown, 8, "16 MiB hold 8 chunks of 1.9 MB");
    refused.assert_error(StatusCode::BAD_REQUEST, "bad_request", "the 9th chunk");
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("over MongoDB's limit"),
        "{}",
        refused.body
    );
    let r = api.as_role(Role::Viewer, "GET", DOC, None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        &r.body[..200.min(r.body.len())]
    );
    assert_eq!(r.json()["l"].as_array().map(Vec::len), Some(8));
}
