//! Fragment refresh: on each matching event, GET an HTML fragment and swap it into a target.
//! Requests are coalesced (see `coalesce`), the URL comes only from configuration and must be
//! same-origin unless allowed, and a failed fetch or a missing target leaves the DOM untouched.

use std::rc::{Rc, Weak};

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Element};

use crate::cell::RefCell;
use crate::error::{Error, Result};
use crate::platform;
use crate::source::Inner;

mod coalesce;

use crate::policy::backoff::parse_retry_after;
use coalesce::{Coalescer, Fetched, Start};
use gloo_timers::callback::Timeout;

#[wasm_bindgen(module = "/src/io.js")]
extern "C" {
    /// Resolves to the fragment's HTML; rejects with `[status, Retry-After]`, or a message.
    #[wasm_bindgen(js_name = fetchFragment)]
    fn fetch_fragment(url: &str, abort: &AbortController) -> js_sys::Promise;
    /// Swaps the HTML in; returns the element now in the target's place (or the target).
    #[wasm_bindgen(js_name = swap, catch)]
    fn swap_js(target: &Element, html: &str, mode: &str) -> Result<JsValue, JsValue>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    OuterHtml,
    InnerHtml,
    BeforeEnd,
    AfterBegin,
    /// No DOM change; only `on_swap` is called.
    None,
}

impl Swap {
    /// The htmx name.
    pub fn as_str(self) -> &'static str {
        match self {
            Swap::OuterHtml => "outerHTML",
            Swap::InnerHtml => "innerHTML",
            Swap::BeforeEnd => "beforeend",
            Swap::AfterBegin => "afterbegin",
            Swap::None => "none",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "outerHTML" => Swap::OuterHtml,
            "innerHTML" => Swap::InnerHtml,
            "beforeend" => Swap::BeforeEnd,
            "afterbegin" => Swap::AfterBegin,
            "none" => Swap::None,
            other => {
                return Err(Error::Config(format!(
                    "swap must be one of outerHTML, innerHTML, beforeend, afterbegin, none; got '{other}'"
                )))
            }
        })
    }
}

/// Where fragments go.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A CSS selector, looked up at every swap (an `outerHTML` swap replaces the element).
    Selector(String),
    /// An element; after an `outerHTML` swap it is detached, and later swaps report an error.
    Element(Element),
}

impl From<&str> for Target {
    fn from(selector: &str) -> Self {
        Target::Selector(selector.to_owned())
    }
}

/// Called with the fragment's HTML after each swap, and the element now in the target's place
/// (`None` for `Swap::None`, which calls it instead of swapping).
pub type OnSwap = Rc<dyn Fn(&str, Option<&Element>)>;

/// What a refresh does, validated.
#[derive(Clone)]
pub struct RefreshOptions {
    pub url: String,
    pub target: Option<Target>,
    pub swap: Swap,
    pub allow_cross_origin: bool,
    pub on_swap: Option<OnSwap>,
}

impl std::fmt::Debug for RefreshOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshOptions")
            .field("url", &self.url)
            .field("target", &self.target)
            .field("swap", &self.swap)
            .field("allow_cross_origin", &self.allow_cross_origin)
            .finish_non_exhaustive()
    }
}

impl RefreshOptions {
    pub fn new(url: impl Into<String>, target: impl Into<Target>) -> Self {
        Self {
            url: url.into(),
            target: Some(target.into()),
            swap: Swap::OuterHtml,
            allow_cross_origin: false,
            on_swap: None,
        }
    }

    /// Calls `f` after each swap (see [`OnSwap`]).
    pub fn on_swap(mut self, f: impl Fn(&str, Option<&Element>) + 'static) -> Self {
        self.on_swap = Some(Rc::new(f));
        self
    }
}

pub(crate) struct Refresher {
    me: Weak<Refresher>,
    source: Weak<Inner>,
    url: String,
    options: RefreshOptions,
    /// An element target follows its `outerHTML` replacement, so the trailing request of a
    /// burst lands in the element now in the document.
    target: RefCell<Option<Target>>,
    coalescer: RefCell<Coalescer>,
    abort: RefCell<Option<AbortController>>,
    /// The retry of a failed request, pending (see `coalesce::Fetched::Failed`).
    retry: RefCell<Option<Timeout>>,
}

impl Refresher {
    pub fn new(source: &Rc<Inner>, options: RefreshOptions) -> Result<Rc<Self>> {
        if options.target.is_none() && options.swap != Swap::None {
            return Err(Error::Config(
                "refresh needs a target unless swap is 'none'".into(),
            ));
        }
        let url = platform::absolute_url(&options.url)?;
        if !options.allow_cross_origin && !platform::same_origin(&url) {
            return Err(Error::Config(format!(
                "refresh url '{url}' is not same-origin; set allowCrossOrigin to allow it"
            )));
        }
        Ok(Rc::new_cyclic(|me| Refresher {
            me: me.clone(),
            source: Rc::downgrade(source),
            url,
            target: RefCell::new(options.target.clone()),
            options,
            coalescer: RefCell::new(Coalescer::new()),
            abort: RefCell::new(None),
            retry: RefCell::new(None),
        }))
    }

    /// An event (or a reset) asks for fresh content.
    pub fn trigger(&self) {
        self.retry.borrow_mut().take();
        let start = self.coalescer.borrow_mut().trigger();
        if let Some(start) = start {
            self.start(start);
        }
    }

    /// The element fragments go to now, for element targets.
    pub fn target_element(&self) -> Option<Element> {
        match &*self.target.borrow() {
            Some(Target::Element(el)) => Some(el.clone()),
            _ => None,
        }
    }

    /// How many requests were started.
    pub fn requests(&self) -> u64 {
        self.coalescer.borrow().started
    }

    fn start(&self, Start(seq): Start) {
        let me = self.me.clone();
        platform::spawn(async move {
            let Some(this) = me.upgrade() else { return };
            let result = this.fetch().await;
            let Some(this) = me.upgrade() else { return };
            let fetched = match &result {
                Ok(_) => Fetched::Ok,
                Err((_, how)) => *how,
            };
            let next = this
                .coalescer
                .borrow_mut()
                .finished(seq, fetched, platform::random());
            match result {
                Ok(html) if next.apply => {
                    if let Err(e) = this.swap(&html) {
                        this.report(&e);
                    }
                }
                Ok(_) => {}
                Err((e, _)) => this.report(&e),
            }
            if let Some(start) = next.start {
                this.start(start);
            }
            if let Some(ms) = next.retry_in_ms {
                this.retry_later(ms);
            }
        });
    }

    fn retry_later(&self, ms: u32) {
        let me = self.me.clone();
        let timeout = Timeout::new(ms, move || {
            if let Some(this) = me.upgrade() {
                if this.source.upgrade().is_some_and(|s| !s.is_closed()) {
                    this.trigger();
                }
            }
        });
        *self.retry.borrow_mut() = Some(timeout);
    }

    async fn fetch(&self) -> std::result::Result<String, (Error, Fetched)> {
        let failed = |e: JsValue| match e.dyn_ref::<js_sys::Array>() {
            Some(answer) => {
                let status = answer.get(0).as_f64().unwrap_or(0.0) as u16;
                let how = match status {
                    408 | 429 | 500.. => Fetched::Failed {
                        retry_after_ms: answer.get(1).as_string().and_then(|v| {
                            parse_retry_after(&v, platform::now_ms(), platform::parse_http_date)
                        }),
                    },
                    _ => Fetched::Refused,
                };
                let e = Error::Swap(format!(
                    "GET {} answered HTTP {status}; the DOM is unchanged",
                    self.url
                ));
                (e, how)
            }
            None => {
                let e = Error::Swap(format!(
                    "GET {} failed: {}; the DOM is unchanged",
                    self.url,
                    platform::describe(&e)
                ));
                (
                    e,
                    Fetched::Failed {
                        retry_after_ms: None,
                    },
                )
            }
        };
        let abort = AbortController::new().map_err(failed)?;
        let request = fetch_fragment(&self.url, &abort);
        *self.abort.borrow_mut() = Some(abort);
        let text = JsFuture::from(request).await.map_err(failed)?;
        Ok(text.as_string().unwrap_or_default())
    }

    fn swap(&self, html: &str) -> Result<()> {
        let swap = self.options.swap;
        let mut target_el = None;
        if swap != Swap::None {
            let document = platform::window()
                .and_then(|w| w.document())
                .ok_or_else(|| Error::Swap("no document to swap into".into()))?;
            let target = self.find_target(&document)?;
            let placed = swap_js(&target, html, swap.as_str())
                .map_err(|e| Error::Swap(platform::describe(&e)))?;
            let follows = matches!(*self.target.borrow(), Some(Target::Element(_)));
            if let (Swap::OuterHtml, true, Some(first)) =
                (swap, follows, placed.dyn_ref::<Element>())
            {
                *self.target.borrow_mut() = Some(Target::Element(first.clone()));
            }
            target_el = placed.dyn_into::<Element>().ok();
        }
        if let Some(f) = &self.options.on_swap {
            f(html, target_el.as_ref());
        }
        Ok(())
    }

    fn find_target(&self, document: &web_sys::Document) -> Result<Element> {
        match &*self.target.borrow() {
            Some(Target::Selector(selector)) => document
                .query_selector(selector)
                .map_err(|_| Error::Swap(format!("target '{selector}' is not a valid selector")))?
                .ok_or_else(|| {
                    Error::Swap(format!(
                        "target '{selector}' not found; the DOM is unchanged"
                    ))
                }),
            Some(Target::Element(el)) if el.is_connected() => Ok(el.clone()),
            Some(Target::Element(_)) => Err(Error::Swap(
                "the target element is no longer in the document; the DOM is unchanged".into(),
            )),
            None => Err(Error::Swap("no target to swap into".into())),
        }
    }

    fn report(&self, e: &Error) {
        if let Some(source) = self.source.upgrade() {
            source.emit_error(e);
        }
    }

    /// Aborts the request in flight; its response will not be applied.
    /// A request is in flight, owed, or waiting to be tried again: stopping now would leave the
    /// target without content an event asked for.
    pub fn busy(&self) -> bool {
        self.retry.borrow().is_some() || self.coalescer.borrow().busy()
    }

    pub fn stop(&self) {
        self.retry.borrow_mut().take();
        if let Some(abort) = self.abort.borrow_mut().take() {
            abort.abort();
        }
        self.coalescer.borrow_mut().abandon();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn swap_modes_parse_by_their_htmx_names() {
        assert_eq!(Swap::parse("outerHTML").unwrap(), Swap::OuterHtml);
        assert_eq!(Swap::parse("beforeend").unwrap(), Swap::BeforeEnd);
        let err = Swap::parse("outerhtml").unwrap_err();
        assert!(err.message().contains("got 'outerhtml'"), "{err}");
    }
}
