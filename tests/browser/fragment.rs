//! Fragment refresh against the real server's htmx fragment (`HX-Request: true`).

use std::time::Duration;

use livesource::{Error, LiveSource, Options, RefreshOptions, Swap};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::*;

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A fresh table whose body has `id`, replacing any earlier one.
fn table_with_body(id: &str) {
    if let Some(old) = document().get_element_by_id(&format!("{id}-table")) {
        old.remove();
    }
    let table = document().create_element("table").unwrap();
    table.set_id(&format!("{id}-table"));
    table.set_inner_html(&format!(
        "<tbody id=\"{id}\"><tr><td>stale</td></tr></tbody>"
    ));
    document().body().unwrap().append_child(&table).unwrap();
}

/// The server's current fragment, normalised by the same HTML parser as the DOM.
async fn server_fragment() -> String {
    let init = web_sys::RequestInit::new();
    let request =
        web_sys::Request::new_with_str_and_init(&url("/shop/products?pagesize=1000"), &init)
            .unwrap();
    request.headers().set("HX-Request", "true").unwrap();
    let response: web_sys::Response = wasm_bindgen_futures::JsFuture::from(
        web_sys::window().unwrap().fetch_with_request(&request),
    )
    .await
    .unwrap()
    .dyn_into()
    .unwrap();
    let html = wasm_bindgen_futures::JsFuture::from(response.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap();
    let template: web_sys::HtmlTemplateElement = document()
        .create_element("template")
        .unwrap()
        .unchecked_into();
    template.set_inner_html(&html);
    template
        .content()
        .first_element_child()
        .unwrap()
        .outer_html()
}

fn refresh_options(target: &str) -> RefreshOptions {
    RefreshOptions {
        url: url("/shop/products?pagesize=1000"),
        target: Some(target.into()),
        swap: Swap::OuterHtml,
        // The test page is served by the test runner, not by livesource-dev.
        allow_cross_origin: true,
        on_swap: None,
    }
}

#[wasm_bindgen_test]
async fn a_burst_of_500_inserts_converges_with_far_fewer_requests() {
    table_with_body("product-list");
    let editor = token("editor", 600).await;
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let refresh = source
        .refresh("change", refresh_options("#product-list"))
        .unwrap();
    opened(&source).await;

    let batch = unique("burst");
    for chunk in 0..50 {
        let inserts: Vec<_> = (0..10)
            .map(|i| {
                let name = format!("{batch}-{}", chunk * 10 + i);
                let editor = editor.clone();
                async move {
                    insert_product(&editor, &[("name", name.as_str().into())])
                        .await
                        .unwrap()
                }
            })
            .collect();
        futures_util::future::join_all(inserts).await;
    }

    within(15_000, "the DOM to equal the server's list", async {
        loop {
            sleep(Duration::from_millis(200)).await;
            let dom = document()
                .get_element_by_id("product-list")
                .map(|e| e.outer_html());
            if dom.as_deref() == Some(server_fragment().await.as_str()) {
                break;
            }
        }
    })
    .await;
    let requests = refresh.requests();
    assert!(
        requests < 100,
        "500 events cost {requests} requests; coalescing should make it far fewer"
    );
    assert!(document()
        .get_element_by_id("product-list")
        .unwrap()
        .inner_html()
        .contains(&format!("{batch}-499")));
}

#[wasm_bindgen_test]
async fn a_missing_target_is_a_swap_error_and_nothing_changes() {
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let mut errors = collect_errors(&source);
    let refresh = source
        .refresh("change", refresh_options("#no-such-element"))
        .unwrap();
    refresh.trigger();
    match next(&mut errors, 5000, "the swap error").await {
        Error::Swap(m) => assert!(
            m.contains("#no-such-element") && m.contains("not found"),
            "{m}"
        ),
        other => panic!("expected a swap error, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn an_error_status_is_a_swap_error_and_the_dom_stays_intact() {
    table_with_body("kept-list");
    let before = document()
        .get_element_by_id("kept-list")
        .unwrap()
        .outer_html();
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let mut errors = collect_errors(&source);
    let refresh = source
        .refresh(
            "change",
            RefreshOptions {
                url: url("/_test/flaky/fragment-404?fail=1000&status=404"),
                ..refresh_options("#kept-list")
            },
        )
        .unwrap();
    refresh.trigger();
    match next(&mut errors, 5000, "the swap error").await {
        Error::Swap(m) => assert!(m.contains("HTTP 404"), "{m}"),
        other => panic!("expected a swap error, got {other:?}"),
    }
    let after = document()
        .get_element_by_id("kept-list")
        .unwrap()
        .outer_html();
    assert_eq!(before, after);
}

#[wasm_bindgen_test]
fn a_cross_origin_fragment_url_is_refused_by_default() {
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let err = source
        .refresh(
            "change",
            RefreshOptions {
                allow_cross_origin: false,
                ..refresh_options("#product-list")
            },
        )
        .err()
        .expect("another origin is refused");
    assert_eq!(err.kind(), "config");
    assert!(err.message().contains("allowCrossOrigin"), "{err}");
}

#[wasm_bindgen_test]
fn js_refresh_options_are_checked() {
    let src = livesource::JsLiveSource::new(&changes_url(), JsValue::UNDEFINED)
        .map_err(JsValue::from)
        .unwrap();
    for (options, expected) in [
        (object(&[("target", "#x".into())]), "needs a url"),
        (
            object(&[
                ("url", "/f".into()),
                ("target", "#x".into()),
                ("swap", "replace".into()),
            ]),
            "swap must be one of",
        ),
        (
            object(&[("url", "/f".into()), ("targt", "#x".into())]),
            "unknown option 'targt'",
        ),
        (object(&[("url", "/f".into())]), "needs a target"),
    ] {
        let err = src
            .refresh("change", options)
            .err()
            .map(JsValue::from)
            .unwrap();
        let msg = get(&err, "message").as_string().unwrap();
        assert!(msg.contains(expected), "{msg}");
    }
    src.close();
}
