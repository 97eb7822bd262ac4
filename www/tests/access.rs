//! The router in-process: who may do what. Tokens (missing, expired, forged, `alg: none`),
//! roles on documents, streams and topics, access-rules files, and CORS.

mod oneshot;

use axum::http::StatusCode;
use livesource_dev::auth::Role;
use livesource_dev::{AppState, Config};
use oneshot::Api;
use serde_json::json;

#[tokio::test]
async fn unauthenticated_expired_forged_and_wrong_role() {
    let api = Api::new();
    let doc = Some(json!({"name": "x"}));
    // No token on a write.
    let r = api.call("POST", "/shop/products", &[], doc.clone()).await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", "");
    // Expired.
    let expired = api.state.keys.mint("t", Role::Admin, -10).unwrap();
    let r = api
        .call(
            "POST",
            "/shop/products",
            &[("authorization", &format!("Bearer {expired}"))],
            doc.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.json()["message"].as_str().unwrap().contains("expired"));
    // Signed with another key.
    let other = livesource_dev::auth::Keys::new(b"a-completely-different-secret!!")
        .mint("t", Role::Admin, 60)
        .unwrap();
    let r = api
        .call(
            "POST",
            "/shop/products",
            &[("authorization", &format!("Bearer {other}"))],
            doc.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // alg: none, claiming admin.
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIiwiaWF0IjowLCJleHAiOjk5OTk5OTk5OTl9.";
    let r = api
        .call(
            "POST",
            "/shop/products",
            &[("authorization", &format!("Bearer {none}"))],
            doc.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // A bad token is refused even on a public stream, in the query or a cookie.
    let r = api
        .call(
            "GET",
            &format!("/shop/products/_streams/changes?access_token={expired}"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api
        .call(
            "GET",
            "/shop/products",
            &[("cookie", &format!("theme=dark; access_token={other}"))],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Viewer may read but not write.
    let r = api
        .as_role(Role::Viewer, "POST", "/shop/products", doc.clone())
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "forbidden", "");
    // The typed feed needs viewer; other collections need viewer to read.
    let r = api.call("GET", "/api/events", &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api.call("GET", "/private/things", &[], None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let viewer = api.token(Role::Viewer);
    let r = api
        .call(
            "GET",
            &format!("/private/things?access_token={viewer}"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // Publishing needs editor.
    let r = api
        .as_role(
            Role::Viewer,
            "POST",
            "/_publish/dashboard:x",
            Some(json!([["replace", "/a", 1]])),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn cors_only_for_configured_origins_and_on_errors() {
    let mut config = Config::for_tests();
    config.cors_origins = vec!["http://localhost:5173".into()];
    let api = Api::with(config);
    let origin = [("origin", "http://localhost:5173")];
    let r = api
        .call("POST", "/shop/products", &origin, Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(r.headers["access-control-allow-credentials"], "true");
    assert!(r.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("retry-after"));
    let preflight = api
        .call(
            "OPTIONS",
            "/shop/products/_streams/changes",
            &[
                ("origin", "http://localhost:5173"),
                ("access-control-request-method", "GET"),
                (
                    "access-control-request-headers",
                    "last-event-id,authorization",
                ),
            ],
            None,
        )
        .await;
    assert_eq!(preflight.status, StatusCode::OK);
    let allowed = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("last-event-id") && allowed.contains("authorization"),
        "{allowed}"
    );
    let r = api
        .call("GET", "/health", &[("origin", "http://evil.example")], None)
        .await;
    assert!(r.headers.get("access-control-allow-origin").is_none());

    let plain = Api::new();
    let r = plain.call("GET", "/health", &origin, None).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn access_rules_file_overrides_defaults() {
    let mut config = Config::for_tests();
    config.access_rules = Some(
        r#"[{"prefix": "/shop/products", "role": "admin"},
            {"prefix": "/reports", "methods": ["GET"], "role": "$unauthenticated"}]"#
            .into(),
    );
    let api = Api::with(config);
    let r = api
        .call("GET", "/shop/products/_streams/changes", &[], None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The wrong role on a stream: refused before it opens.
    let r = api
        .as_role(Role::Editor, "GET", "/shop/products/_streams/changes", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .as_role(Role::Editor, "GET", "/shop/products", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .as_role(Role::Admin, "GET", "/shop/products", None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api.call("GET", "/reports/q1", &[], None).await;
    assert_eq!(r.status, StatusCode::OK);

    let mut bad = Config::for_tests();
    bad.access_rules = Some(r#"[{"prefix": "/x", "role": "root"}]"#.into());
    assert!(AppState::new(bad).is_err());
}

/// Any spelling of a protected document, through the whole router: the rule refuses the viewer
/// and the handler gives the admin the same document, so rules and handlers read one path.
#[test]
fn every_encoding_of_a_protected_path_is_one_decision_and_one_document() {
    use proptest::prelude::*;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config = Config::for_tests();
    config.access_rules = Some(r#"[{"prefix": "/hr/salaries", "role": "admin"}]"#.into());
    let api = Api::with(config);
    let created = runtime.block_on(api.as_role(
        Role::Admin,
        "POST",
        "/hr/salaries",
        Some(json!({"_id": "alice", "pay": 7})),
    ));
    assert_eq!(created.status, StatusCode::CREATED);
    let spell = |plain: &str, picks: &[u8]| -> String {
        plain
            .bytes()
            .enumerate()
            .map(|(i, b)| match (b, picks[i % picks.len()] % 3) {
                (b'/', _) | (_, 0) => (b as char).to_string(),
                (_, 1) => format!("%{b:02x}"),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    proptest!(|(picks in prop::collection::vec(any::<u8>(), 1..24), slash in any::<bool>())| {
        let mut uri = spell("/hr/salaries/alice", &picks);
        if slash {
            uri.push('/');
        }
        let viewer = runtime.block_on(api.as_role(Role::Viewer, "GET", &uri, None));
        prop_assert_eq!(viewer.status, StatusCode::FORBIDDEN, "{}", uri);
        if !slash {
            let admin = runtime.block_on(api.as_role(Role::Admin, "GET", &uri, None));
            prop_assert_eq!(admin.status, StatusCode::OK, "{}", uri);
            prop_assert_eq!(&admin.json()["pay"], &json!(7));
        }
    });
}
