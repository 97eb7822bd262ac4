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
//! Each wired element also gets `data-live-state` (`connecting`, `open`, ...) for styling. An
//! element whose attributes are wrong gets `data-live-state="error"`, and the reason in
//! `data-live-error` and the console; the others are wired all the same.
//!
//! The wiring follows the document: an element added is wired, one removed (or that loses
//! `data-live-src`) is unwired, and one whose `data-live-*` attributes change is wired anew. An
//! element replaced by an equal one (an htmx swap of its container, a morph) keeps the
//! connection: the new element is wired before the old one lets go of it.
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
use crate::fragment::{RefreshOptions, Target};
use crate::options::Options;
use crate::platform;
use crate::source::dispatch::State;
use crate::source::registry::Registration;

mod attrs;

use attrs::{about, Attrs, Spec, ERROR, STATE};

const SELECTOR: &str = "[data-live-src]";

/// One wired element.
struct Entry {
    record: u32,
    /// What it asked for when it was wired: an equal element (attributes in another order, a
    /// default spelt out) asks for the same.
    spec: Spec,
    /// Its fragment refresh, which targets the element now in the document.
    refresh: Refresh,
    /// Found in the document by the current scan.
    seen: bool,
    /// Wired by the current scan.
    fresh: bool,
    /// Its `outerHTML` swap put in an element without `data-live-*` attributes, which it follows
    /// while that element stays under the root (as it did before attributes were watched).
    bare: bool,
}

/// One source shared by every element that names its URL with the same share setting.
struct Shared {
    url: String,
    share: bool,
    source: LiveSource,
    _state: Registration,
    entries: Rc<RefCell<Vec<Entry>>>,
}

impl Shared {
    fn mark_all(&self) {
        mark_all(&self.entries.borrow(), self.source.state().as_str());
    }
}

fn mark_all(entries: &[Entry], state: &str) {
    for el in entries.iter().filter_map(|e| e.refresh.target_element()) {
        mark(&el, state);
    }
}

/// An element that could not be wired, kept so that it is not tried (and reported) again until
/// its attributes change.
struct Failed {
    record: u32,
    attrs: Attrs,
    seen: bool,
}

struct Wiring {
    /// The property that holds an element's record number in this wiring: a symbol of its own,
    /// so two wirings over overlapping roots do not read each other's numbers, and a clone of
    /// the element (which copies attributes, not properties) is a new element, as it should be.
    key: JsValue,
    sources: Vec<Shared>,
    failed: Vec<Failed>,
    next_record: u32,
}

impl Wiring {
    fn new() -> Self {
        Self {
            key: JsValue::symbol(Some("livesource-auto")),
            sources: Vec::new(),
            failed: Vec::new(),
            next_record: 0,
        }
    }

    /// Brings the wiring in line with the `data-live-*` elements under `root`.
    fn scan(&mut self, root: &Element) {
        // Every wired element as it is now: an outerHTML swap put a new one in.
        for shared in &self.sources {
            let state = shared.source.state().as_str();
            for entry in shared.entries.borrow_mut().iter_mut() {
                entry.seen = false;
                entry.fresh = false;
                let Some(el) = entry.refresh.target_element() else {
                    continue;
                };
                if self.record_of(&el) != Some(entry.record) {
                    self.set_record(&el, entry.record);
                    mark(&el, state);
                    entry.bare = !el.has_attribute("data-live-src");
                }
                entry.seen = entry.bare && root.contains(Some(&el));
            }
        }
        for failed in &mut self.failed {
            failed.seen = false;
        }
        for el in elements(root) {
            let attrs = read_attrs(&el);
            if !self.keep(&el, &attrs) {
                self.wire(&el, attrs);
            }
        }
        // What the scan did not find is gone: removed, moved out of the root, no longer
        // `data-live-src`, or wired anew with other attributes. Dropped after the new wiring,
        // so a source that an equal element took over stays open.
        let mut gone = Vec::new();
        for shared in &self.sources {
            let (kept, dropped): (Vec<Entry>, Vec<Entry>) =
                std::mem::take(&mut *shared.entries.borrow_mut())
                    .into_iter()
                    .partition(|e| e.seen);
            // An element replaced while an event's fragment was on its way (htmx swapping its
            // container, say): the element that took over asks again, or that content is lost.
            if dropped.iter().any(|e| e.refresh.busy()) {
                kept.iter()
                    .filter(|e| e.fresh)
                    .for_each(|e| e.refresh.trigger());
            }
            *shared.entries.borrow_mut() = kept;
            gone.extend(dropped);
        }
        self.sources.retain(|s| !s.entries.borrow().is_empty());
        self.failed.retain(|f| f.seen);
        for entry in &gone {
            // Unwired, and not wired anew (that gave it another number): no state to show.
            if let Some(el) = entry.refresh.target_element() {
                if self.record_of(&el) == Some(entry.record) {
                    let _ = el.remove_attribute(STATE);
                    let _ = el.remove_attribute(ERROR);
                }
            }
        }
        // Dropped outside every borrow: dropping a Refresh may run callbacks.
        drop(gone);
    }

    /// Whether `el` is wired (or failed) with these very attributes; marks it seen if so.
    fn keep(&mut self, el: &Element, attrs: &Attrs) -> bool {
        let Some(record) = self.record_of(el) else {
            return false;
        };
        for shared in &self.sources {
            for entry in shared.entries.borrow_mut().iter_mut() {
                if entry.record == record {
                    let same = Spec::parse(attrs).is_ok_and(|spec| spec == entry.spec)
                        && entry.refresh.target_element().as_ref() == Some(el);
                    // Not `|=`: a followed bare element that has since been given other
                    // attributes is wired anew, and this entry goes.
                    entry.seen = same;
                    entry.bare &= !same;
                    return same;
                }
            }
        }
        // The same attributes, in any order (an element can have each name once).
        let same = |a: &Attrs| a.len() == attrs.len() && a.iter().all(|p| attrs.contains(p));
        match self.failed.iter_mut().find(|f| f.record == record) {
            Some(f) if same(&f.attrs) => {
                f.seen = true;
                true
            }
            _ => false,
        }
    }

    fn record_of(&self, element: &Element) -> Option<u32> {
        let value = js_sys::Reflect::get(element, &self.key).ok()?;
        value.as_f64().map(|n| n as u32)
    }

    fn set_record(&self, element: &Element, record: u32) {
        let _ = js_sys::Reflect::set(element, &self.key, &record.into());
    }

    fn wire(&mut self, element: &Element, attrs: Attrs) {
        let record = self.next_record;
        self.next_record += 1;
        self.set_record(element, record);
        match self.try_wire(element, &attrs, record) {
            Ok(()) => {
                let _ = element.remove_attribute(ERROR);
            }
            Err(e) => {
                mark(element, "error");
                let _ = element.set_attribute(ERROR, &e.message());
                web_sys::console::warn_2(&format!("livesource-auto: {e}").into(), element);
                self.failed.push(Failed {
                    record,
                    attrs,
                    seen: true,
                });
            }
        }
    }

    fn try_wire(&mut self, element: &Element, attrs: &Attrs, record: u32) -> Result<()> {
        let spec = Spec::parse(attrs)?;
        let url = platform::absolute_url(&spec.src).map_err(|e| about("data-live-src", e))?;
        let get = platform::absolute_url(&spec.get).map_err(|e| about("data-live-get", e))?;
        // Checked before any connection opens: an element that cannot refresh holds none.
        if !platform::same_origin(&get) {
            return Err(Error::Config(format!(
                "data-live-get: '{get}' is not on this page's origin; auto-wiring fetches \
                 fragments from the page's own origin only"
            )));
        }
        let options = RefreshOptions {
            url: get,
            target: Some(Target::Element(element.clone())),
            swap: spec.swap,
            allow_cross_origin: false,
            on_swap: None,
        };
        // A source that stopped for good (a 404, say) is not reused: a new element that names
        // it gets a new one, while those wired to it stay `closed`.
        let found = self.sources.iter().position(|s| {
            s.share == spec.share && s.url == url && s.source.state() != State::Closed
        });
        let shared = match found {
            Some(i) => &self.sources[i],
            None => {
                let source = LiveSource::connect(&url, Options::default().share(spec.share))?;
                let entries = Rc::new(RefCell::new(Vec::<Entry>::new()));
                let marked = Rc::clone(&entries);
                let state = source.on_state(move |s| mark_all(&marked.borrow(), s.as_str()))?;
                // Kept only once an element is wired to it: on an error below it closes.
                self.sources.push(Shared {
                    url,
                    share: spec.share,
                    source,
                    _state: state,
                    entries,
                });
                &self.sources[self.sources.len() - 1]
            }
        };
        let wired = shared.source.refresh(&spec.event, options);
        let refresh = match wired {
            Ok(r) => r,
            Err(e) => {
                if found.is_none() {
                    self.sources.pop();
                }
                return Err(e);
            }
        };
        shared.entries.borrow_mut().push(Entry {
            record,
            spec,
            refresh,
            seen: true,
            fresh: true,
            bare: false,
        });
        shared.mark_all();
        Ok(())
    }

    fn elements(&self) -> usize {
        self.sources.iter().map(|s| s.entries.borrow().len()).sum()
    }
}

/// Whether a batch of mutation records may change the wiring: an element added or removed, or
/// a `data-live-*` attribute changed (not the two livesource writes itself).
fn relevant(records: &JsValue) -> bool {
    let field = |r: &JsValue, name: &str| {
        js_sys::Reflect::get(r, &name.into())
            .ok()
            .and_then(|v| v.as_string())
    };
    js_sys::Array::from(records).iter().any(|r| {
        field(&r, "type").as_deref() != Some("attributes")
            || field(&r, "attributeName")
                .is_some_and(|n| n.starts_with("data-live-") && n != STATE && n != ERROR)
    })
}

/// `root` and the elements under it that have `data-live-src`, in document order.
fn elements(root: &Element) -> Vec<Element> {
    let mut out = Vec::new();
    if root.matches(SELECTOR).unwrap_or(false) {
        out.push(root.clone());
    }
    if let Ok(found) = root.query_selector_all(SELECTOR) {
        for i in 0..found.length() {
            if let Some(el) = found.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                out.push(el);
            }
        }
    }
    out
}

/// The element's `data-live-*` attributes, but for the two livesource writes.
fn read_attrs(element: &Element) -> Attrs {
    let names = element.get_attribute_names();
    let mut out = Vec::new();
    for name in names.iter().filter_map(|n| n.as_string()) {
        if name.starts_with("data-live-") && name != STATE && name != ERROR {
            let value = element.get_attribute(&name).unwrap_or_default();
            out.push((name, value));
        }
    }
    out
}

fn mark(element: &Element, state: &str) {
    let _ = element.set_attribute(STATE, state);
}

/// Wiring in effect for a document. Dropping it disconnects the observer and closes every
/// connection it opened.
#[must_use = "dropping AutoWiring unwires every element"]
pub struct AutoWiring {
    wiring: Rc<RefCell<Wiring>>,
    observer: MutationObserver,
    _callback: Closure<dyn FnMut(JsValue)>,
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
/// `data-live-state="error"`, with the reason in `data-live-error` and a console warning; the
/// others are still wired. Removing `root` itself from the document unwires nothing (the
/// observer watches what is under it): drop the `AutoWiring`.
pub fn auto_wire(root: Option<Element>) -> Result<AutoWiring> {
    let root = match root {
        Some(r) => r,
        None => platform::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .ok_or_else(|| Error::Config("autoWire needs a document".into()))?,
    };
    let wiring = Rc::new(RefCell::new(Wiring::new()));
    wiring.borrow_mut().scan(&root);
    let (w, r) = (Rc::clone(&wiring), root.clone());
    // Rescanning the root is simpler than walking the records, and a scan changes nothing for
    // elements whose attributes did not change; the records only say whether to.
    let callback = Closure::<dyn FnMut(JsValue)>::new(move |records: JsValue| {
        if relevant(&records) {
            w.borrow_mut().scan(&r);
        }
    });
    let observer = MutationObserver::new(callback.as_ref().unchecked_ref())
        .map_err(|e| Error::Config(platform::describe(&e)))?;
    let init = MutationObserverInit::new();
    init.set_child_list(true);
    init.set_subtree(true);
    // Every attribute, not a filter of the known names: adding or removing a misspelt
    // `data-live-*` name changes what an element asks for too.
    init.set_attributes(true);
    observer
        .observe_with_options(&root, &init)
        .map_err(|e| Error::Config(platform::describe(&e)))?;
    Ok(AutoWiring {
        wiring,
        observer,
        _callback: callback,
    })
}
