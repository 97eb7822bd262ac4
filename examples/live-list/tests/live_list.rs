//! The live list in headless Chrome against a real server:
//!
//! ```sh
//! livesource-dev with --test-routes --restart -- wasm-pack test --headless --chrome
//! ```
#![cfg(target_arch = "wasm32")]

mod helpers;

use std::cell::RefCell;
use std::rc::Rc;

use live_list::LiveList;
use livesource::{Backoff, Options, State};
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;
use web_sys::{Element, MutationObserver, MutationObserverInit};

use helpers::*;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const PRODUCTS: &str = "/shop/products";

/// Reconnects come quickly in tests: 100 ms, then up to 500 ms.
fn options() -> Options {
    Options::default().backoff(Backoff {
        initial_ms: 100,
        max_ms: 500,
        factor: 2.0,
        jitter: false,
        max_attempts: None,
    })
}

/// A fresh element on the page, and the list mounted on it, open.
async fn mounted() -> LiveList {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    let list = LiveList::mount(&root, &url("/shop/products/_streams/changes"), options()).unwrap();
    eventually(5_000, "the list to open", || list.state() == State::Open).await;
    assert_eq!(root.get_attribute("data-state").as_deref(), Some("open"));
    list
}

/// The names shown that start with `prefix`, in order.
fn shown(list: &LiveList, prefix: &str) -> Vec<String> {
    list.names()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[wasm_bindgen_test]
async fn it_renders_an_insert() {
    let editor = token("editor").await;
    let list = mounted().await;
    let name = unique("lamp");
    insert_until_acknowledged(PRODUCTS, &json!({ "_id": name, "name": name }), &editor).await;
    eventually(5_000, "the insert to be shown", || {
        shown(&list, &name) == [name.clone()]
    })
    .await;
}

/// RESTHeart's ids: an ObjectId arrives as `{"$oid": "…"}` in `documentKey`, on insert and on
/// delete alike, and the list keys its items by the hex digits.
#[wasm_bindgen_test]
async fn it_renders_and_removes_a_document_with_an_object_id() {
    let editor = token("editor").await;
    let list = mounted().await;
    let name = unique("oid");
    // 24 hex digits no other run uses; an upsert to them creates an ObjectId document, and is
    // safe to repeat while another test has the server down.
    let hex = format!("{:024x}", (js_sys::Math::random() * 1e15) as u64);
    let doc = json!({ "name": name });
    let put = request_when_up(
        "PUT",
        &format!("{PRODUCTS}/{hex}?wm=upsert"),
        Some(&doc),
        Some(&editor),
    )
    .await;
    assert!(matches!(put.status(), 200 | 201), "PUT: {}", put.status());
    eventually(5_000, "the insert to be shown", || {
        shown(&list, &name) == [name.clone()]
    })
    .await;
    let item = list
        .root()
        .query_selector(&format!("li[data-id='{hex}']"))
        .unwrap();
    assert!(
        item.is_some(),
        "the item is keyed by the ObjectId's hex digits"
    );
    let delete = request_when_up("DELETE", &format!("{PRODUCTS}/{hex}"), None, Some(&editor)).await;
    assert!(
        matches!(delete.status(), 204 | 404),
        "DELETE: {}",
        delete.status()
    );
    eventually(5_000, "the delete to remove it", || {
        shown(&list, &name).is_empty()
    })
    .await;
}

#[wasm_bindgen_test]
async fn it_survives_a_server_restart_with_no_loss() {
    let editor = token("editor").await;
    let list = mounted().await;
    let batch = unique("restart");
    let names: Vec<String> = (0..10).map(|i| format!("{batch}-{i}")).collect();
    for name in &names[..5] {
        insert_until_acknowledged(PRODUCTS, &json!({ "_id": name, "name": name }), &editor).await;
    }
    eventually(5_000, "the first five", || shown(&list, &batch).len() == 5).await;

    cut_streams().await;
    // Written while the server is down or coming back: each is retried until stored once.
    for name in &names[5..] {
        insert_until_acknowledged(PRODUCTS, &json!({ "_id": name, "name": name }), &editor).await;
    }
    eventually(10_000, "all ten, each once, in order", || {
        shown(&list, &batch) == names
    })
    .await;
    // Waited for, not asserted at once: a concurrent test may have cut the server again.
    eventually(10_000, "the list to be open again", || {
        list.state() == State::Open
    })
    .await;
    assert_eq!(
        shown(&list, &batch),
        names,
        "nothing shown twice after the reconnect"
    );
}

#[wasm_bindgen_test]
async fn it_shows_reconnecting_while_the_server_is_away() {
    let list = mounted().await;
    // Every state the page shows, as the user would have seen it: `data-state` and the text.
    let seen = Rc::new(RefCell::new(Vec::<String>::new()));
    let observer = {
        let (seen, root) = (seen.clone(), list.root().clone());
        let record = Closure::<dyn Fn()>::new(move || {
            let state = root.get_attribute("data-state").unwrap_or_default();
            let text = status_text(&root);
            seen.borrow_mut().push(format!("{state}: {text}"));
        });
        let observer = MutationObserver::new(record.as_ref().unchecked_ref()).unwrap();
        record.forget();
        let init = MutationObserverInit::new();
        init.set_attributes(true);
        observer.observe_with_options(list.root(), &init).unwrap();
        observer
    };

    cut_streams().await;
    eventually(10_000, "'reconnecting', then 'open' again", || {
        let seen = seen.borrow();
        let reconnecting = seen.iter().position(|s| s == "reconnecting: reconnecting…");
        reconnecting.is_some_and(|at| seen[at..].iter().any(|s| s == "open: open"))
    })
    .await;
    observer.disconnect();
    assert_eq!(status_text(list.root()), "open");
}

fn status_text(root: &Element) -> String {
    root.query_selector(".status")
        .unwrap()
        .and_then(|s| s.text_content())
        .unwrap_or_default()
}
