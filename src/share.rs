//! One connection for all tabs (`share: true`): the tabs of a browser profile that open the same
//! stream elect one leader with the Web Locks API; it holds the connection and relays what it
//! delivers over a `BroadcastChannel`, and the others deliver that through their own listeners.
//!
//! This is the thin browser layer: joining (the channel and the lock request, in `io.js`),
//! posting, leaving, and telling once when the browser cannot share. The protocol and the id
//! bookkeeping are plain Rust in `relay`; the state machine's side is `source/shared.rs`.

use std::cell::Cell;

use wasm_bindgen::prelude::*;

pub(crate) mod relay;

use relay::Message;

#[wasm_bindgen(module = "/src/io.js")]
extern "C" {
    #[wasm_bindgen(js_name = shareUnsupported)]
    fn share_unsupported() -> Option<String>;
    #[wasm_bindgen(js_name = shareJoin)]
    fn share_join(
        name: &str,
        on_message: &Closure<dyn FnMut(String)>,
        on_lead: &Closure<dyn FnMut()>,
        on_lost: &Closure<dyn FnMut()>,
    ) -> JsValue;
    #[wasm_bindgen(js_name = shareSteal)]
    fn share_steal(link: &JsValue);
    #[wasm_bindgen(js_name = sharePost)]
    fn share_post(link: &JsValue, message: &str);
    #[wasm_bindgen(js_name = shareLeave)]
    fn share_leave(link: &JsValue);
}

thread_local! {
    static TOLD: Cell<bool> = const { Cell::new(false) };
}

/// `None` when this page can share; else why not, said once in the console per page.
pub(crate) fn unsupported() -> Option<String> {
    let reason = share_unsupported()?;
    if !TOLD.with(|t| t.replace(true)) {
        web_sys::console::info_1(
            &format!("livesource: share is off in this page ({reason}); each tab keeps its own connection").into(),
        );
    }
    Some(reason)
}

/// This tab's membership of one stream's channel and its place in the lock's queue. Dropping it
/// leaves: the channel is closed, and the lock released (or the request withdrawn).
pub(crate) struct Link {
    link: JsValue,
    _message: Closure<dyn FnMut(String)>,
    _lead: Closure<dyn FnMut()>,
    _lost: Closure<dyn FnMut()>,
}

impl Link {
    pub fn join(
        name: &str,
        mut on_message: impl FnMut(Message) + 'static,
        on_lead: impl FnMut() + 'static,
        on_lost: impl FnMut() + 'static,
    ) -> Self {
        let message = Closure::<dyn FnMut(String)>::new(move |text: String| {
            // A tab on another version of the library may share the channel: ignore it.
            if let Some(m) = Message::decode(&text) {
                on_message(m);
            }
        });
        let lead = Closure::<dyn FnMut()>::new(on_lead);
        let lost = Closure::<dyn FnMut()>::new(on_lost);
        Self {
            link: share_join(name, &message, &lead, &lost),
            _message: message,
            _lead: lead,
            _lost: lost,
        }
    }

    /// Takes the lock from a leader that stopped relaying (frozen, say).
    pub fn steal(&self) {
        share_steal(&self.link);
    }

    pub fn post(&self, message: &Message) {
        share_post(&self.link, &message.encode());
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        share_leave(&self.link);
    }
}

/// A random id for this tab's source, to address the leader's welcome.
pub(crate) fn tab_id() -> String {
    format!(
        "{:x}",
        (crate::platform::random() * 9_007_199_254_740_991.0) as u64
    )
}
