//! Fragment refresh against the real server's htmx fragment (`HX-Request: true`).

use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use livesource::{Error, LiveSource, Options, Refresh, RefreshOptions, Swap};
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

/// `performance.now()`, in milliseconds.
fn now_ms() -> f64 {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let now: js_sys::Function = js_sys::Reflect::get(&performance, &"now".into())
        .unwrap()
        .unchecked_into();
    now.call0(&performance).unwrap().as_f64().unwrap()
}

/// The server's current fragment as HTML text, fetched as `refresh` fetches it.
async fn fetch_fragment() -> String {
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
    wasm_bindgen_futures::JsFuture::from(response.text().unwrap())
        .await
        .unwrap()
        .as_string()
        .unwrap()
}

/// The server's current fragment, normalised by the same HTML parser as the DOM.
async fn server_fragment() -> String {
    let html = fetch_fragment().await;
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

/// Inserts `names` in one bulk POST (one change event each).
async fn insert_many(editor: &str, names: &[String]) {
    let docs = js_sys::Array::new();
    for name in names {
        docs.push(&object(&[("name", name.as_str().into())]));
    }
    let r = fetch("POST", "/shop/products", Some(&docs.into()), Some(editor))
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "bulk insert");
}

#[wasm_bindgen_test]
async fn a_burst_of_500_inserts_converges_within_the_coalescing_bound() {
    table_with_body("product-list");
    let editor = token("editor", 600).await;
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let refresh = source
        .refresh("change", refresh_options("#product-list"))
        .unwrap();
    let mut changes = source.subscribe::<Change>("change");
    opened(&source).await;
    // One fetch: the fastest of a few, before the burst (the list only grows during it).
    let mut fetch_ms = f64::INFINITY;
    for _ in 0..7 {
        let t = now_ms();
        fetch_fragment().await;
        fetch_ms = fetch_ms.min(now_ms() - t);
    }

    // 500 events, 25 at a time, written as fast as the server takes them: faster than one fetch
    // per event, so coalescing has work to do and the bound is below 500.
    let batch = unique("burst");
    let (events, per_write) = (500, 25);
    let started = now_ms();
    for write in 0..events / per_write {
        let names: Vec<String> = (0..per_write)
            .map(|i| format!("{batch}-{}", write * per_write + i))
            .collect();
        insert_many(&editor, &names).await;
    }
    let last = format!("{batch}-{}", events - 1);
    within(15_000, "the last event of the burst", async {
        loop {
            let change = changes.next().await.unwrap().unwrap();
            if change.data.full_document.and_then(|d| d.name).as_deref() == Some(last.as_str()) {
                break;
            }
        }
    })
    .await;
    // The burst as the page saw it: from the first write to the last event's arrival.
    let burst_ms = now_ms() - started;

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
    // The documented bound (src/fragment/coalesce.rs, BENCHMARKS.md P3): one request in flight at a time,
    // so while events arrive at most 1 + burst ÷ one fetch requests start. The tolerance,
    // honestly: one more, the trailing request owed by events that arrived during the last
    // fetch, which starts after the burst. "One fetch" is the fastest of the fetches timed
    // before the burst; a refresh (fetch, read and swap, of a list that grew) is not faster.
    let requests = refresh.requests() as f64;
    let bound = 2.0 + burst_ms / fetch_ms;
    web_sys::console::log_1(
        &format!(
            "coalescing: {events} events in {burst_ms:.0} ms, one fetch {fetch_ms:.1} ms: \
             {requests} requests, bound {bound:.0}"
        )
        .into(),
    );
    // Else a fetch per event would pass too. (A refresher that does not coalesce fails here:
    // its fetches share the page's six connections with the writes and stretch the burst.)
    assert!(
        bound < events as f64,
        "the burst took {burst_ms:.0} ms, too long for one fetch ({fetch_ms:.1} ms) to test \
         coalescing: the bound ({bound:.0}) must be below the {events} events; {requests} \
         requests were made"
    );
    assert!(
        requests <= bound,
        "{events} events in {burst_ms:.0} ms cost {requests} requests; one fetch takes \
         {fetch_ms:.1} ms, so the bound is 2 + burst ÷ fetch = {bound:.0}"
    );
    assert!(document()
        .get_element_by_id("product-list")
        .unwrap()
        .inner_html()
        .contains(&last));
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

/// A source on the product changes whose `change` events refresh `target` from `path`, and its
/// errors.
fn refreshing(path: &str, target: &str) -> (LiveSource, mpsc::UnboundedReceiver<Error>, Refresh) {
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let errors = collect_errors(&source);
    let options = RefreshOptions {
        url: url(path),
        ..refresh_options(target)
    };
    let refresh = source.refresh("change", options).unwrap();
    (source, errors, refresh)
}

/// The next error is a `swap` error whose message contains `needle`.
async fn swap_error(errors: &mut mpsc::UnboundedReceiver<Error>, needle: &str) {
    match next(errors, 5000, "a swap error").await {
        Error::Swap(m) => assert!(m.contains(needle), "{m}"),
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
    let key = unique("fragment-404");
    let (_source, mut errors, refresh) = refreshing(
        &format!("/_test/flaky/{key}?fail=1000&status=404"),
        "#kept-list",
    );
    refresh.trigger();
    swap_error(&mut errors, "HTTP 404").await;
    let after = document()
        .get_element_by_id("kept-list")
        .unwrap()
        .outer_html();
    assert_eq!(before, after);
    // A 404 would be a 404 again: no retry (a 503 is retried, see below).
    sleep(Duration::from_millis(1500)).await;
    assert_eq!(hits(&key).await.len(), 1, "a refusal is not retried");
}

#[wasm_bindgen_test]
async fn a_refresh_that_fails_is_retried_until_the_fragment_arrives() {
    table_with_body("retried-list");
    let key = unique("fragment-503");
    let html = "<tbody id=\"retried-list\"><tr><td>fresh</td></tr></tbody>";
    let path = format!(
        "/_test/fragment?key={key}&fail=2&status=503&html={}",
        js_sys::encode_uri_component(html)
    );
    let (_source, mut errors, refresh) = refreshing(&path, "#retried-list");
    // One trigger, and no event after it: only a retry can bring the fragment.
    refresh.trigger();
    for _ in 0..2 {
        swap_error(&mut errors, "HTTP 503").await;
    }
    within(10_000, "the retried fragment", async {
        while document()
            .get_element_by_id("retried-list")
            .is_none_or(|el| el.text_content().unwrap_or_default() != "fresh")
        {
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let hits = hits(&key).await;
    assert_eq!(hits.len(), 3, "two failures, then the fragment: {hits:?}");
    // The delays grow: drawn from 0.5–1 s, then 1–2 s (less timer slack).
    let (first, second) = (hits[1] - hits[0], hits[2] - hits[1]);
    assert!(
        (450.0..1600.0).contains(&first) && second >= 950.0,
        "{first} ms, then {second} ms"
    );
    drop(refresh);
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

#[wasm_bindgen_test]
async fn a_rust_on_swap_closure_gets_the_html_and_the_element_now_in_place() {
    table_with_body("swapped-list");
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    let (tx, mut swaps) = futures_channel::mpsc::unbounded();
    let options = RefreshOptions {
        url: url("/shop/products?pagesize=1"),
        ..refresh_options("#swapped-list")
    }
    .on_swap(move |html, element| {
        let _ = tx.unbounded_send((html.to_owned(), element.cloned()));
    });
    let refresh = source.refresh("change", options).unwrap();
    refresh.trigger();
    let (html, element) = next(&mut swaps, 5000, "the on_swap call").await;
    let element = element.expect("an outerHTML swap passes the element it put in");
    assert!(element.is_connected(), "the element now in the document");
    assert_eq!(
        element.parent_element().map(|p| p.id()).as_deref(),
        Some("swapped-list-table"),
        "in the target's place"
    );
    assert!(html.contains(&element.tag_name().to_lowercase()), "{html}");
}

#[wasm_bindgen_test]
async fn beforeend_afterbegin_and_none_put_the_fragment_where_they_say() {
    let source = LiveSource::connect(&changes_url(), Options::default()).unwrap();
    if let Some(old) = document().get_element_by_id("swap-modes") {
        old.remove();
    }
    let list = document().create_element("ul").unwrap();
    list.set_id("swap-modes");
    list.set_inner_html("<li>middle</li>");
    document().body().unwrap().append_child(&list).unwrap();
    let items = || -> Vec<String> {
        let all = list.query_selector_all("li").unwrap();
        (0..all.length())
            .map(|i| all.item(i).unwrap().text_content().unwrap_or_default())
            .collect()
    };
    for (swap, item, expected) in [
        (Swap::BeforeEnd, "last", ["middle", "last"].as_slice()),
        (Swap::AfterBegin, "first", &["first", "middle", "last"]),
        (Swap::None, "dropped", &["first", "middle", "last"]),
    ] {
        let html = format!("<li>{item}</li>");
        let (tx, mut swaps) = mpsc::unbounded();
        let options = RefreshOptions {
            url: url(&format!(
                "/_test/fragment?html={}",
                js_sys::encode_uri_component(&html)
            )),
            swap,
            ..refresh_options("#swap-modes")
        }
        .on_swap(move |html, placed| {
            let _ = tx.unbounded_send((html.to_owned(), placed.is_some()));
        });
        let refresh = source.refresh("change", options).unwrap();
        refresh.trigger();
        let (got, placed) = next(&mut swaps, 5000, swap.as_str()).await;
        assert_eq!(got, html, "{}: on_swap gets the fragment", swap.as_str());
        assert_eq!(
            placed,
            swap != Swap::None,
            "{}: an element placed",
            swap.as_str()
        );
        assert_eq!(items(), expected, "{}", swap.as_str());
    }
    source.close();
    list.remove();
}
