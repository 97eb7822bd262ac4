//! Malformed JSON bodies, fuzzed, on every write route: each gets a typed 400 (or 413), never a
//! panic or a 5xx, and nothing already stored changes: the documents and the event log are
//! exactly as before.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use livesource_dev::auth::Role;
use livesource_dev::{app, AppState, Config};
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

struct Fixture {
    rt: tokio::runtime::Runtime,
    router: Router,
    auth: String,
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let state = rt.block_on(async { AppState::new(Config::for_tests()).unwrap() });
        let auth = format!(
            "Bearer {}",
            state.keys.mint("fuzzer", Role::Admin, 3600).unwrap()
        );
        let fixture = Self {
            router: app(state),
            rt,
            auth,
        };
        // Something to lose: a stored document (and its event in the log).
        let (s, _) = fixture.send(
            "POST",
            "/shop/products",
            br#"{"_id":"keep","n":1}"#.to_vec(),
        );
        assert_eq!(s, StatusCode::CREATED);
        fixture
    }

    fn send(&self, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        self.rt.block_on(async {
            let res = self.router.clone().oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        })
    }

    /// Everything a bad request must leave alone: the documents and the log head.
    fn snapshot(&self) -> (String, String) {
        let (_, docs) = self.send("GET", "/shop/products?pagesize=1000", Vec::new());
        let (_, ready) = self.send("GET", "/ready", Vec::new());
        let ready: Value = serde_json::from_str(&ready).unwrap();
        (docs, ready["lastEventId"].to_string())
    }
}

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/shop/products"),
    ("PUT", "/shop/products"),
    ("PUT", "/shop/products/keep"),
    ("PATCH", "/shop/products/keep"),
    ("POST", "/_publish/dashboard:fuzz"),
];

thread_local! {
    static FIXTURE: Fixture = Fixture::new();
}

fn check(route: usize, body: Vec<u8>) -> Result<(), TestCaseError> {
    FIXTURE.with(|f| {
        let (method, uri) = ROUTES[route % ROUTES.len()];
        let before = f.snapshot();
        let (status, text) = f.send(method, uri, body.clone());
        prop_assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
            "{} {} with {:?}: {} {}",
            method,
            uri,
            String::from_utf8_lossy(&body),
            status,
            text
        );
        let error: Value = serde_json::from_str(&text).unwrap();
        prop_assert!(error["error"].is_string() && error["message"].is_string());
        prop_assert_eq!(f.snapshot(), before);
        Ok(())
    })
}

/// JSON that is well formed but can never be a valid body on these routes.
fn wrong_shapes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<f64>().prop_map(|n| serde_json::json!(n)),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "\\PC{0,20}".prop_map(|s| serde_json::json!(s)),
        any::<bool>().prop_map(|b| serde_json::json!(b)),
        Just(Value::Null),
        // Arrays mixing a scalar into documents or ops: refused as a whole.
        (any::<i64>(), "[a-z]{1,6}")
            .prop_map(|(n, k)| serde_json::json!([{ k: n }, n, [["replace", "/x"]]])),
    ]
    .prop_map(|v| v.to_string().into_bytes())
}

proptest! {
    // `make soak` raises the count through PROPTEST_CASES.
    #![proptest_config(ProptestConfig::with_cases(500.max(ProptestConfig::default().cases)))]

    #[test]
    fn bytes_that_are_not_json_are_typed_400s(route in 0usize..ROUTES.len(), body in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assume!(serde_json::from_slice::<Value>(&body).is_err());
        check(route, body)?;
    }

    #[test]
    fn truncated_and_corrupted_documents_are_typed_400s(route in 0usize..ROUTES.len(), cut in 1usize..40, flip in any::<prop::sample::Index>()) {
        let good = br#"{"_id":"x1","name":"lamp","tags":["a","b"],"price":{"eur":3}}"#.to_vec();
        let mut body = good[..good.len().saturating_sub(cut)].to_vec();
        let i = flip.index(body.len().max(1)).min(body.len().saturating_sub(1));
        if let Some(b) = body.get_mut(i) {
            *b = b'\\';
        }
        prop_assume!(serde_json::from_slice::<Value>(&body).is_err());
        check(route, body)?;
    }

    #[test]
    fn well_formed_json_of_the_wrong_shape_is_a_typed_400(route in 0usize..ROUTES.len(), body in wrong_shapes()) {
        check(route, body)?;
    }
}
