//! The page's lifecycle: `online` reconnects at once, and `pauseWhenHidden` closes the
//! connection while the page is hidden.

use gloo_events::EventListener;

use super::Inner;
use crate::platform;
use crate::source::dispatch::State;

impl Inner {
    pub(super) fn watch_page_lifecycle(&self) {
        let Some(window) = platform::window() else {
            return;
        };
        let mut listeners = Vec::new();
        let me = self.me.clone();
        listeners.push(EventListener::new(&window, "online", move |_| {
            if let Some(s) = me.upgrade() {
                // Waiting out the backoff is pointless once the network is back. A follower
                // mirrors its leader's `reconnecting` with no connection of its own: the leader
                // hears `online` too, and a connect here would be a second connection.
                if s.state.get() == State::Reconnecting && s.conn.borrow().is_none() && !s.follows()
                {
                    s.connect();
                }
            }
        }));
        if self.options.pause_when_hidden {
            if let Some(document) = window.document() {
                let me = self.me.clone();
                let doc = document.clone();
                listeners.push(EventListener::new(
                    &document,
                    "visibilitychange",
                    move |_| {
                        if let Some(s) = me.upgrade() {
                            s.visibility_changed(doc.hidden());
                        }
                    },
                ));
                if document.hidden() {
                    self.state.set(State::Paused);
                }
            }
        }
        *self.lifecycle.borrow_mut() = listeners;
    }

    pub(super) fn visibility_changed(&self, hidden: bool) {
        if self.closed.get() {
            return;
        }
        if hidden {
            self.bump();
            self.reconnect_timer.borrow_mut().take();
            self.drop_connection();
            self.set_state(State::Paused);
        } else if self.state.get() == State::Paused {
            self.connect();
        }
    }
}
