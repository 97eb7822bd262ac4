//! A live list, no framework: the documents of a collection as `<li>`s, kept current from its
//! change stream, with the connection's state on show.
//!
//! ```html
//! <div id="products"></div>
//! <script type="module">
//!   import init, { mount } from './pkg/live_list.js';
//!   await init();
//!   mount('#products', '/shop/products/_streams/changes');
//! </script>
//! ```
//!
//! What it renders into its root element:
//!
//! ```html
//! <div data-state="open">
//!   <p class="status">open</p>
//!   <ul class="items"><li data-id="…">Desk lamp</li>…</ul>
//! </div>
//! ```
//!
//! `data-state` is the connection's state (`connecting`, `open`, `reconnecting`, `paused`,
//! `closed`): style it, and test it (`tests/live_list.rs`).

use futures_util::StreamExt;
use livesource::{LiveSource, Options, Registration, State};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::Element;

/// A RESTHeart change event, the fields the list needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change {
    operation_type: String,
    full_document: Option<Document>,
    document_key: Key,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Key {
    #[serde(rename = "_id")]
    id: Id,
}

/// A document's `_id`: RESTHeart (and livesource-dev) send an ObjectId as `{"$oid": "…"}`, an
/// id the writer chose as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Oid {
        #[serde(rename = "$oid")]
        oid: String,
    },
    Str(String),
}

impl Id {
    fn as_str(&self) -> &str {
        match self {
            Id::Oid { oid } => oid,
            Id::Str(s) => s,
        }
    }
}

/// The list, live while this value lives: dropping it closes the stream.
pub struct LiveList {
    source: LiveSource,
    root: Element,
    _state: Registration,
}

impl LiveList {
    /// Renders a status line and an empty list into `root` and keeps them current from the
    /// change stream at `stream_url`.
    pub fn mount(root: &Element, stream_url: &str, options: Options) -> Result<Self, JsValue> {
        root.set_inner_html(r#"<p class="status"></p><ul class="items"></ul>"#);
        let status = root.query_selector(".status")?.expect("just rendered");
        let list = root.query_selector(".items")?.expect("just rendered");
        let source =
            LiveSource::connect(stream_url, options).map_err(|e| JsValue::from(e.to_string()))?;
        show_state(root, &status, source.state());
        let state = {
            let (root, status) = (root.clone(), status.clone());
            source
                .on_state(move |state| show_state(&root, &status, state))
                .map_err(|e| JsValue::from(e.to_string()))?
        };
        let mut changes = source.subscribe::<Change>("change");
        wasm_bindgen_futures::spawn_local(async move {
            // Ends when the source closes (the `LiveList` is dropped).
            while let Some(event) = changes.next().await {
                match event {
                    Ok(event) => apply(&list, &event.data),
                    Err(e) => web_sys::console::warn_1(&e.to_string().into()),
                }
            }
        });
        Ok(Self {
            source,
            root: root.clone(),
            _state: state,
        })
    }

    /// The names shown, top to bottom.
    pub fn names(&self) -> Vec<String> {
        let items = self
            .root
            .query_selector_all(".items li")
            .expect("a valid selector");
        (0..items.length())
            .filter_map(|i| items.item(i))
            .filter_map(|node| node.text_content())
            .collect()
    }

    pub fn state(&self) -> State {
        self.source.state()
    }

    pub fn root(&self) -> &Element {
        &self.root
    }
}

fn show_state(root: &Element, status: &Element, state: State) {
    let _ = root.set_attribute("data-state", state.as_str());
    status.set_text_content(Some(match state {
        State::Reconnecting => "reconnecting…",
        other => other.as_str(),
    }));
}

/// One change applied to the `<ul>`: insert appends, update and replace rename in place,
/// delete removes.
fn apply(list: &Element, change: &Change) {
    let id = change.document_key.id.as_str();
    let existing = (0..list.children().length())
        .filter_map(|i| list.children().item(i))
        .find(|li| li.get_attribute("data-id").as_deref() == Some(id));
    let name = change
        .full_document
        .as_ref()
        .and_then(|d| d.name.clone())
        .unwrap_or_else(|| id.to_owned());
    match (change.operation_type.as_str(), existing) {
        ("delete", Some(li)) => li.remove(),
        ("delete", None) => {}
        (_, Some(li)) => li.set_text_content(Some(&name)),
        (_, None) => {
            let document = list.owner_document().expect("in a document");
            let Ok(li) = document.create_element("li") else {
                return;
            };
            let _ = li.set_attribute("data-id", id);
            li.set_text_content(Some(&name));
            let _ = list.append_child(&li);
        }
    }
}

/// For a page: mounts the list on the element `selector` names and keeps it live for the
/// page's lifetime.
#[wasm_bindgen]
pub fn mount(selector: &str, stream_url: &str) -> Result<(), JsValue> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let root = document
        .query_selector(selector)?
        .ok_or_else(|| format!("no element {selector}"))?;
    std::mem::forget(LiveList::mount(&root, stream_url, Options::default())?);
    Ok(())
}
