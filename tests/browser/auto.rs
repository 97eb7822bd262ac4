//! Auto-wiring (`data-live-*` attributes) as the DOM changes under it. The test page is not on
//! livesource-dev's origin, so these tests watch the wiring itself (elements, connections,
//! `data-live-state`, `data-live-error`); `tests/e2e/catalog.test.mjs` and
//! `tests/e2e/demos.test.mjs` watch fragments arrive on a page the server serves.

use std::time::Duration;

use livesource::{auto_wire, AutoWiring};
use wasm_bindgen::JsCast;
use web_sys::Element;

use crate::support::*;

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A detached-from-the-rest root in the body with `html` inside.
fn root(html: &str) -> Element {
    let root = document().create_element("div").unwrap();
    root.set_inner_html(html);
    document().body().unwrap().append_child(&root).unwrap();
    root
}

fn wired(stream: &str, extra: &str) -> String {
    format!("<div data-live-src=\"{stream}\" data-live-get=\"/fragment\" {extra}></div>")
}

/// Lets the MutationObserver's callback run.
async fn settle() {
    sleep(Duration::from_millis(20)).await;
}

fn counts(wiring: &AutoWiring) -> (usize, usize) {
    (wiring.elements(), wiring.connections())
}

fn attr(el: &Element, name: &str) -> String {
    el.get_attribute(name).unwrap_or_default()
}

/// Resolves once `el` has `data-live-state="state"`.
async fn marked(el: &Element, state: &str) {
    within(5000, &format!("data-live-state=\"{state}\""), async {
        while attr(el, "data-live-state") != state {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// One element wired to a fresh `/_test/flaky/KEY{query}` stream, once it is marked `state`:
/// its key, the stream URL, its root, the wiring and the element.
async fn flaky_element(
    prefix: &str,
    query: &str,
    state: &str,
) -> (String, String, Element, AutoWiring, Element) {
    let key = unique(prefix);
    let stream = url(&format!("/_test/flaky/{key}{query}"));
    let root = root(&wired(&stream, ""));
    let wiring = auto_wire(Some(root.clone())).unwrap();
    let el = first(&root);
    marked(&el, state).await;
    (key, stream, root, wiring, el)
}

fn first(root: &Element) -> Element {
    root.first_element_child().unwrap()
}

#[wasm_bindgen_test::wasm_bindgen_test]
fn auto_wiring_opens_one_source_per_url_and_share_setting() {
    // Two elements on one stream share a source; `data-live-share="off"` gets its own.
    let stream = changes_url();
    let root = root(&format!(
        "{}{}{}",
        wired(&stream, ""),
        wired(&stream, ""),
        wired(&stream, "data-live-share=\"off\"")
    ));
    let wiring = auto_wire(Some(root.clone())).unwrap();
    assert_eq!(counts(&wiring), (3, 2));
    drop(wiring);
    root.remove();
}

#[wasm_bindgen_test::wasm_bindgen_test]
async fn a_wrong_attribute_is_named_on_the_element_and_opens_no_connection() {
    let stream = changes_url();
    // The third has a fragment URL on another origin: refused before any connection opens.
    let other =
        format!("<div data-live-src=\"{stream}\" data-live-get=\"https://other.example/f\"></div>");
    let root = root(
        &[
            wired(&stream, "data-live-evnt=\"change\""),
            wired(&stream, "data-live-share=\"false\""),
            other,
            wired(&stream, "data-live-event=\"change\""),
        ]
        .concat(),
    );
    let wiring = auto_wire(Some(root.clone())).unwrap();
    assert_eq!(
        counts(&wiring),
        (1, 1),
        "the good element is wired all the same"
    );
    let children = root.children();
    let error = |i| {
        let el = children.item(i).unwrap();
        assert_eq!(attr(&el, "data-live-state"), "error");
        attr(&el, "data-live-error")
    };
    assert!(
        error(0).starts_with("unknown attribute data-live-evnt"),
        "{}",
        error(0)
    );
    assert!(
        error(1).starts_with("data-live-share must be \"on\" or \"off\""),
        "{}",
        error(1)
    );
    assert!(
        error(2)
            .starts_with("data-live-get: 'https://other.example/f' is not on this page's origin"),
        "{}",
        error(2)
    );
    assert_eq!(attr(&children.item(3).unwrap(), "data-live-error"), "");

    // An unrelated change does not try the bad elements again: still one connection.
    root.append_child(&document().create_element("p").unwrap())
        .unwrap();
    settle().await;
    assert_eq!(counts(&wiring), (1, 1));

    // Fixing the attribute wires the element, and clears the error.
    children
        .item(1)
        .unwrap()
        .set_attribute("data-live-share", "off")
        .unwrap();
    settle().await;
    assert_eq!(
        counts(&wiring),
        (2, 2),
        "its own connection now (share off)"
    );
    assert_eq!(attr(&children.item(1).unwrap(), "data-live-error"), "");
    drop(wiring);
    root.remove();
}

#[wasm_bindgen_test::wasm_bindgen_test]
async fn attribute_changes_rewire_and_a_removed_src_unwires() {
    let root = root(&wired(&changes_url(), ""));
    let wiring = auto_wire(Some(root.clone())).unwrap();
    assert_eq!(counts(&wiring), (1, 1));
    let el = first(&root);

    // Another stream: the old source closes (nobody uses it) and the new one opens.
    el.set_attribute(
        "data-live-src",
        &url(&format!("/_test/flaky/{}", unique("src"))),
    )
    .unwrap();
    settle().await;
    assert_eq!(counts(&wiring), (1, 1));

    el.set_attribute("data-live-swap", "sideways").unwrap();
    settle().await;
    assert_eq!(counts(&wiring), (0, 0), "a wrong value unwires it");
    assert!(attr(&el, "data-live-error").starts_with("data-live-swap must be"));

    el.set_attribute("data-live-swap", "innerHTML").unwrap();
    settle().await;
    assert_eq!(counts(&wiring), (1, 1));

    // A misspelt name added later is noticed at once (every attribute is watched), and its
    // removal too.
    el.set_attribute("data-live-evnt", "change").unwrap();
    settle().await;
    assert_eq!(counts(&wiring), (0, 0));
    assert!(attr(&el, "data-live-error").starts_with("unknown attribute data-live-evnt"));
    el.remove_attribute("data-live-evnt").unwrap();
    settle().await;
    assert_eq!(counts(&wiring), (1, 1));

    el.remove_attribute("data-live-src").unwrap();
    settle().await;
    assert_eq!(
        counts(&wiring),
        (0, 0),
        "no data-live-src: unwired, its connection closed"
    );
    assert!(
        el.get_attribute("data-live-state").is_none(),
        "an unwired element shows no state"
    );
    drop(wiring);
    root.remove();
}

#[wasm_bindgen_test::wasm_bindgen_test]
async fn an_element_replaced_by_an_equal_one_keeps_its_connection() {
    // An htmx swap of the element's container, or a morph, puts an equal element in its place
    // in one DOM change: the new one is wired to the open source before the old one lets go.
    let (key, _, root, wiring, old) = flaky_element("replaced", "", "open").await;
    let requests = hits(&key).await.len();
    let clone: Element = old.clone_node().unwrap().unchecked_into();
    old.replace_with_with_node_1(&clone).unwrap();
    settle().await;
    assert_eq!(counts(&wiring), (1, 1));
    assert_eq!(attr(&clone, "data-live-state"), "open");
    // Time enough for a new source to have connected.
    sleep(Duration::from_millis(500)).await;
    assert_eq!(
        hits(&key).await.len(),
        requests,
        "no new request: the same source"
    );
    drop(wiring);
    root.remove();
}

#[wasm_bindgen_test::wasm_bindgen_test]
async fn a_source_that_stopped_is_opened_again_for_a_new_element() {
    let (key, stream, root, wiring, old) =
        flaky_element("gone", "?fail=1000&status=404", "closed").await;
    let before = hits(&key).await.len();
    root.insert_adjacent_html("beforeend", &wired(&stream, ""))
        .unwrap();
    within(5000, "a new request for the new element", async {
        while hits(&key).await.len() == before {
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        attr(&old, "data-live-state"),
        "closed",
        "the old element keeps its closed source"
    );
    assert_eq!(counts(&wiring), (2, 2));
    drop(wiring);
    root.remove();
}

#[wasm_bindgen_test::wasm_bindgen_test]
async fn two_wirings_over_overlapping_roots_keep_their_own_records() {
    // Each wiring numbers elements under its own symbol: the outer one does not take the inner
    // one's numbers for its own, so a wrong element is reported once, not on every change.
    let warned = js_sys::Array::new();
    let console = js_sys::Reflect::get(&js_sys::global(), &"console".into()).unwrap();
    let original = js_sys::Reflect::get(&console, &"warn".into()).unwrap();
    let count = js_sys::Function::new_with_args("...a", "this.push(a.join(' '))").bind0(&warned);
    js_sys::Reflect::set(&console, &"warn".into(), &count).unwrap();
    // A wired element first, so that the two wirings number the wrong one differently.
    let outer = root(&format!(
        "{}<div id=\"inner-root\">{}</div>",
        wired(&changes_url(), ""),
        wired(&changes_url(), "data-live-share=\"maybe\"")
    ));
    let inner = outer.last_element_child().unwrap();
    let (a, b) = (
        auto_wire(Some(outer.clone())).unwrap(),
        auto_wire(Some(inner.clone())).unwrap(),
    );
    for _ in 0..3 {
        inner
            .append_child(&document().create_element("p").unwrap())
            .unwrap();
        settle().await;
    }
    js_sys::Reflect::set(&console, &"warn".into(), &original).unwrap();
    let about: Vec<String> = warned
        .iter()
        .filter_map(|w| w.as_string())
        .filter(|w| w.contains("data-live-share"))
        .collect();
    assert_eq!(about.len(), 2, "once per wiring: {about:?}");
    assert_eq!(
        counts(&a),
        (1, 1),
        "the outer wiring's good element stays wired"
    );
    drop((a, b));
    outer.remove();
}
