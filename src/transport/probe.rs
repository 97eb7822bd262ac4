//! Failure visibility. When an `EventSource` fails before it opens, the browser reports only a
//! bare `error`: no status, no reason. One `fetch` of the same URL (in `io.js`) learns the status
//! line (and, for a live stream, the `retry:` hint from the first bytes), then aborts.

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::platform;
use crate::policy::backoff::parse_retry_after;
use crate::policy::failure::Probe;
use crate::transport::sse;

/// How long the probe waits for the first bytes of a stream that answered 200.
const FIRST_BYTES_MS: u32 = 1_000;

#[wasm_bindgen(module = "/src/io.js")]
extern "C" {
    #[wasm_bindgen(js_name = probe)]
    fn probe_js(url: &str, with_credentials: bool, wait_ms: u32) -> js_sys::Promise;
}

pub(crate) async fn probe(url: &str, with_credentials: bool) -> Probe {
    let answer = match JsFuture::from(probe_js(url, with_credentials, FIRST_BYTES_MS)).await {
        Ok(answer) => answer,
        Err(e) => return Probe::Unreachable(platform::describe(&e)),
    };
    let field = |name: &str| js_sys::Reflect::get(&answer, &name.into()).unwrap_or_default();
    let content_type = field("contentType").as_string().unwrap_or_default();
    let event_stream = crate::policy::failure::is_event_stream(&content_type);
    let status = field("status").as_f64().unwrap_or(0.0) as u16;
    Probe::Answered {
        status,
        retry_after_ms: field("retryAfter")
            .as_string()
            .and_then(|v| parse_retry_after(&v, platform::now_ms(), platform::parse_http_date)),
        event_stream,
        content_type,
        retry_hint_ms: field("first")
            .as_string()
            .as_deref()
            .and_then(sse::retry_hint),
    }
}
