//! Failure visibility. When an `EventSource` fails before it opens, the browser reports only a
//! bare `error`: no status, no reason. One `fetch` of the same URL learns the status line (and,
//! for a live stream, the `retry:` hint from the first bytes), then aborts.

use gloo_timers::callback::Timeout;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, ReadableStreamDefaultReader, Request, RequestCredentials, RequestInit,
    Response,
};

use crate::backoff::parse_retry_after;
use crate::failure::Probe;
use crate::platform;
use crate::sse;

/// How long the probe waits for the first bytes of a stream that answered 200.
const FIRST_BYTES_MS: u32 = 1_000;

pub(crate) async fn probe(url: &str, with_credentials: bool) -> Probe {
    match run(url, with_credentials).await {
        Ok(p) => p,
        Err(e) => Probe::Unreachable(platform::describe(&e)),
    }
}

async fn run(url: &str, with_credentials: bool) -> Result<Probe, wasm_bindgen::JsValue> {
    let abort = AbortController::new()?;
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_signal(Some(&abort.signal()));
    init.set_credentials(if with_credentials {
        RequestCredentials::Include
    } else {
        RequestCredentials::SameOrigin
    });
    let request = Request::new_with_str_and_init(url, &init)?;
    request.headers().set("Accept", "text/event-stream")?;
    let fetch =
        platform::fetch(&request).map_err(|e| wasm_bindgen::JsValue::from_str(&e.to_string()))?;
    let response: Response = JsFuture::from(fetch).await?.dyn_into()?;
    let headers = response.headers();
    let content_type = headers.get("Content-Type")?.unwrap_or_default();
    let event_stream = content_type
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"));
    let retry_after_ms = headers
        .get("Retry-After")?
        .and_then(|v| parse_retry_after(&v, platform::now_ms()));
    let status = response.status();
    let retry_hint_ms = if status == 200 && event_stream {
        first_bytes(&response, &abort)
            .await
            .as_deref()
            .and_then(sse::retry_hint)
    } else {
        None
    };
    abort.abort();
    Ok(Probe::Answered {
        status,
        retry_after_ms,
        event_stream,
        content_type,
        retry_hint_ms,
    })
}

/// The first chunk of the body, or `None` if nothing arrives in time.
async fn first_bytes(response: &Response, abort: &AbortController) -> Option<String> {
    let reader: ReadableStreamDefaultReader = response.body()?.get_reader().dyn_into().ok()?;
    // Aborting makes the pending read reject, which bounds the wait.
    let abort = abort.clone();
    let _deadline = Timeout::new(FIRST_BYTES_MS, move || abort.abort());
    let chunk = JsFuture::from(reader.read()).await.ok()?;
    let value = js_sys::Reflect::get(&chunk, &"value".into()).ok()?;
    let bytes = value.dyn_into::<js_sys::Uint8Array>().ok()?.to_vec();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
