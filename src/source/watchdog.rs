//! The stall watchdog: a connection that delivered `heartbeat` events and then goes silent is
//! half-open, so it is closed and resumed.

use gloo_timers::callback::Interval;

use super::Inner;
use crate::error::Error;

impl Inner {
    /// Ticks every half timeout; two idle ticks in a row mean nothing arrived for between one
    /// and one and a half timeouts. A flag per event is cheaper than re-arming a timer per event.
    /// It arms once the connection has delivered a `heartbeat` event.
    pub(super) fn start_watchdog(&self) {
        let timeout = self.options.heartbeat_timeout_ms;
        if timeout == 0 {
            return;
        }
        self.activity.set(false);
        self.idle_ticks.set(0);
        self.heartbeats.set(false);
        let me = self.me.clone();
        let interval = Interval::new((timeout / 2).max(1), move || {
            if let Some(s) = me.upgrade() {
                s.watchdog_tick();
            }
        });
        *self.watchdog.borrow_mut() = Some(interval);
    }

    pub(super) fn watchdog_tick(&self) {
        // Keep-alive comments are invisible to scripts: on a server that sends no `heartbeat`
        // events (RESTHeart's change streams, say) a quiet stream is not a stalled one.
        if !self.heartbeats.get() {
            return;
        }
        if self.activity.replace(false) {
            self.idle_ticks.set(0);
            return;
        }
        let idle = self.idle_ticks.get() + 1;
        self.idle_ticks.set(idle);
        if idle < 2 {
            return;
        }
        let url = self.public_url(&self.attempt_url.borrow());
        self.emit_error(&Error::Network(format!(
            "{url} sent nothing for {} ms (stalled); reconnecting",
            self.options.heartbeat_timeout_ms
        )));
        self.drop_connection();
        self.reconnect_later(None);
    }
}
