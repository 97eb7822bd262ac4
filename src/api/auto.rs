//! Script-tag use: wire every element with `data-live-src` on load and as elements come and go
//! (after an htmx swap, say), with one connection per source URL. Template authors write
//! attributes, not JavaScript:
//!
//! ```html
//! <tbody id="product-list"
//!        data-live-src="/shop/products/_streams/changes"
//!        data-live-event="change"
//!        data-live-get="/shop/products"
//!        data-live-swap="outerHTML"></tbody>
//! <script type="module" src="/pkg/livesource-auto.js"></script>
//! ```
//!
//! Each wired element also gets `data-live-state` (`connecting`, `open`, ...) for styling.
//!
//! Sources are shared between tabs by default (`share: true`): auto-wiring sends no token and
//! no headers, so every same-origin tab of a profile opening the same stream gets the same
//! events, and a page people open in many tabs (a catalog, a dashboard) is exactly what runs
//! out of HTTP/1.1's six connections per host. `data-live-share="off"` on an element gives it
//! a connection of its own.

use std::rc::Rc;

use wasm_bindgen::prelude::*;
use web_sys::{Element, MutationObserver, MutationObserverInit};

use crate::api::handle::{LiveSource, Refresh};
use crate::cell::RefCell;
use crate::error::{Error, Result};
use crate::fragment::{RefreshOptions, Swap, Target};
use crate::options::Options;
use crate::platform;
use crate::source::registry::Registration;

const SELECTOR: &str = "[data-live-src]";

/// One source shared by every element that names its URL with the same share setting.
struct Shared {
    url: String,
    /// `data-live-share` was not "off": the source is shared between tabs.
    share: bool,
    source: LiveSource,
    _state: Registration,
    /// One fragment refresh per wired element; each targets the element now in the document.
    refreshes: Rc<RefCell<Vec<Refresh>>>,
}

impl Shared {
    fn mark_all(&self) {
        mark_all(&self.refreshes.borrow(), self.source.state().as_str());
    }
}

fn mark_all(refreshes: &[Refresh], state: &str) {
    for el in refreshes.iter().filter_map(Refresh::target_element) {
        mark(&el, state);
    }
}

#[derive(Default)]
struct Wiring {
    sources: Vec<Shared>,
}

impl Wiring {
    fn is_wired(&self, element: &Element) -> bool {
        self.sources.iter().any(|s| {
            s.refreshes
                .borrow()
                .iter()
                .any(|r| r.target_element().as_ref() == Some(element))
        })
    }

    fn wire(&mut self, element: &Element) {
        if self.is_wired(element) {
            return;
        }
        if let Err(e) = self.try_wire(element) {
            mark(element, "error");
            web_sys::console::warn_2(&format!("livesource-auto: {e}").into(), element);
        }
    }

    fn try_wire(&mut self, element: &Element) -> Result<()> {
        let attr = |name: &str| element.get_attribute(name).filter(|v| !v.is_empty());
        let src =
            attr("data-live-src").ok_or_else(|| Error::Config("data-live-src is empty".into()))?;
        let url = platform::absolute_url(&src)?;
        let get = attr("data-live-get").ok_or_else(|| {
            Error::Config("data-live-get names the fragment URL to re-fetch; it is missing".into())
        })?;
        let event = attr("data-live-event").unwrap_or_else(|| "message".into());
        let swap = Swap::parse(&attr("data-live-swap").unwrap_or_else(|| "outerHTML".into()))?;
        let options = RefreshOptions {
            url: get,
            target: Some(Target::Element(element.clone())),
            swap,
            allow_cross_origin: false,
            on_swap: None,
        };
        // Elements that opt out of sharing get a source of their own, apart from the shared one.
        let share = attr("data-live-share").is_none_or(|v| v != "off");
        let found = self
            .sources
            .iter()
            .position(|s| s.share == share && s.url == url);
        let shared = match found {
            Some(i) => &self.sources[i],
            None => {
                let source = LiveSource::connect(&url, Options::default().share(share))?;
                let refreshes = Rc::new(RefCell::new(Vec::<Refresh>::new()));
                let marked = Rc::clone(&refreshes);
                let state = source.on_state(move |s| mark_all(&marked.borrow(), s.as_str()))?;
                self.sources.push(Shared {
                    url,
                    share,
                    source,
                    _state: state,
                    refreshes,
                });
                &self.sources[self.sources.len() - 1]
            }
        };
        let refresh = shared.source.refresh(&event, options)?;
        shared.refreshes.borrow_mut().push(refresh);
        shared.mark_all();
        Ok(())
    }

    /// Drops the wiring of elements no longer in the document, and connections nobody uses.
    fn unwire_detached(&mut self) {
        for shared in &self.sources {
            let gone: Vec<Refresh> = {
                let mut refreshes = shared.refreshes.borrow_mut();
                let (gone, kept) = std::mem::take(&mut *refreshes)
                    .into_iter()
                    .partition(|r| !r.target_element().is_some_and(|e| e.is_connected()));
                *refreshes = kept;
                gone
            };
            // Dropped outside the borrow: dropping a Refresh may run callbacks.
            drop(gone);
        }
        self.sources.retain(|s| !s.refreshes.borrow().is_empty());
        for shared in &self.sources {
            // An outerHTML swap put new elements in: give them the state attribute too.
            shared.mark_all();
        }
    }

    fn scan(&mut self, root: &Element) {
        if root.matches(SELECTOR).unwrap_or(false) {
            self.wire(root);
        }
        if let Ok(found) = root.query_selector_all(SELECTOR) {
            for i in 0..found.length() {
                if let Some(el) = found.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                    self.wire(&el);
                }
            }
        }
    }

    fn elements(&self) -> usize {
        self.sources
            .iter()
            .map(|s| s.refreshes.borrow().len())
            .sum()
    }
}

fn mark(element: &Element, state: &str) {
    let _ = element.set_attribute("data-live-state", state);
}

/// Wiring in effect for a document. Dropping it disconnects the observer and closes every
/// connection it opened.
#[must_use = "dropping AutoWiring unwires every element"]
pub struct AutoWiring {
    wiring: Rc<RefCell<Wiring>>,
    observer: MutationObserver,
    _callback: Closure<dyn FnMut()>,
}

impl AutoWiring {
    /// How many elements are wired now.
    pub fn elements(&self) -> usize {
        self.wiring.borrow().elements()
    }

    /// How many sources the page has open: one per distinct `data-live-src` (and share setting).
    /// With sharing, a source in a tab that follows another holds no server connection itself.
    pub fn connections(&self) -> usize {
        self.wiring.borrow().sources.len()
    }
}

impl Drop for AutoWiring {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}

/// Wires every `[data-live-src]` element under `root` (default: the document element) now and
/// whenever the DOM changes. An element whose attributes are wrong is marked
/// `data-live-state="error"` with a console warning; the others are still wired.
pub fn auto_wire(root: Option<Element>) -> Result<AutoWiring> {
    let root = match root {
        Some(r) => r,
        None => platform::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .ok_or_else(|| Error::Config("autoWire needs a document".into()))?,
    };
    let wiring = Rc::new(RefCell::new(Wiring::default()));
    wiring.borrow_mut().scan(&root);
    let (w, r) = (Rc::clone(&wiring), root.clone());
    // Rescanning the root is simpler than walking mutation records, and wiring is idempotent.
    let callback = Closure::<dyn FnMut()>::new(move || {
        let mut wiring = w.borrow_mut();
        wiring.unwire_detached();
        wiring.scan(&r);
    });
    let observer = MutationObserver::new(callback.as_ref().unchecked_ref())
        .map_err(|e| Error::Config(platform::describe(&e)))?;
    let init = MutationObserverInit::new();
    init.set_child_list(true);
    init.set_subtree(true);
    observer
        .observe_with_options(&root, &init)
        .map_err(|e| Error::Config(platform::describe(&e)))?;
    Ok(AutoWiring {
        wiring,
        observer,
        _callback: callback,
    })
}
