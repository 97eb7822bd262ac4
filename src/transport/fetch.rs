//! One streamed `fetch` of an event stream. The request and the body reads are plain JS
//! (`fetchStream` in `io.js`); each chunk crosses into wasm once, as bytes, for the parser.
//! Dropping the connection aborts the request, so a closed or replaced source never reads on.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::auth::headers::Headers;
use crate::platform;

#[wasm_bindgen(module = "/src/io.js")]
extern "C" {
    #[wasm_bindgen(js_name = fetchStream)]
    fn fetch_stream(
        url: &str,
        headers: js_sys::Array,
        with_credentials: bool,
        abort: &web_sys::AbortController,
        head: &Closure<dyn FnMut(u16, String, Option<String>) -> bool>,
        chunk: &Closure<dyn FnMut(js_sys::Uint8Array) -> bool>,
    ) -> js_sys::Promise;
}

/// The response head, as the state machine needs it.
pub(crate) struct Head {
    pub status: u16,
    pub content_type: String,
    pub retry_after: Option<String>,
}

#[must_use = "dropping a FetchConnection aborts it"]
pub(crate) struct FetchConnection {
    abort: web_sys::AbortController,
    _head: Closure<dyn FnMut(u16, String, Option<String>) -> bool>,
    _chunk: Closure<dyn FnMut(js_sys::Uint8Array) -> bool>,
}

impl FetchConnection {
    /// Starts the request. `on_head` decides whether to read the body (`true` for a stream the
    /// source accepts); `on_chunk` gets each piece of it and returns whether to go on; `on_end`
    /// runs once when the body ended (`Ok`) or the request failed (`Err` with the reason), but
    /// not after the connection was dropped.
    pub fn open(
        url: &str,
        headers: &Headers,
        with_credentials: bool,
        mut on_head: impl FnMut(Head) -> bool + 'static,
        mut on_chunk: impl FnMut(&[u8]) -> bool + 'static,
        on_end: impl FnOnce(Result<(), String>) + 'static,
    ) -> Result<Self, String> {
        let abort = web_sys::AbortController::new().map_err(|e| platform::describe(&e))?;
        let head = Closure::<dyn FnMut(u16, String, Option<String>) -> bool>::new(
            move |status, content_type, retry_after| {
                on_head(Head {
                    status,
                    content_type,
                    retry_after,
                })
            },
        );
        // One buffer reused for every chunk: a copy into wasm memory, no allocation per read.
        let mut buf = Vec::new();
        let chunk = Closure::<dyn FnMut(js_sys::Uint8Array) -> bool>::new(
            move |bytes: js_sys::Uint8Array| {
                buf.resize(bytes.length() as usize, 0);
                bytes.copy_to(&mut buf);
                on_chunk(&buf)
            },
        );
        let pairs = js_sys::Array::new();
        for (name, value) in headers {
            pairs.push(&js_sys::Array::of2(&name.into(), &value.into()));
        }
        let promise = fetch_stream(url, pairs, with_credentials, &abort, &head, &chunk);
        let signal = abort.signal();
        platform::spawn(async move {
            let result = JsFuture::from(promise).await;
            // An aborted request is the source's own doing: nobody waits for its end.
            if signal.aborted() {
                return;
            }
            on_end(result.map(|_| ()).map_err(|e| platform::describe(&e)));
        });
        Ok(Self {
            abort,
            _head: head,
            _chunk: chunk,
        })
    }
}

impl Drop for FetchConnection {
    fn drop(&mut self) {
        self.abort.abort();
    }
}
