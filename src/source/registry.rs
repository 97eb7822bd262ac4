//! The listener registry's side of the source: a name the app starts listening to is listened to
//! on the live connection too, and one nobody listens to any more is dropped from it (unless the
//! source needs it itself, or other tabs that share the stream do).

use std::rc::{Rc, Weak};

use super::{Inner, HEARTBEAT, RESET};
use crate::source::dispatch::{self, EventSink, Id, Kind};

impl Inner {
    /// Adds an event listener; starts listening on the live connection for a new name.
    pub(crate) fn add_event(&self, name: &str, cb: EventSink) -> dispatch::Id {
        let mut registry = self.registry.borrow_mut();
        let id = registry.next_id();
        registry.add_event(name, id, cb);
        if let Some(conn) = self.conn.borrow_mut().as_mut() {
            conn.listen(name);
            conn.set_js_listeners(name, registry.js_only.get(name).map(|f| &**f));
        }
        drop(registry);
        self.share_listen(name);
        id
    }

    pub(crate) fn remove(&self, kind: &Kind, id: dispatch::Id) {
        let mut registry = self.registry.borrow_mut();
        let emptied = registry.remove(kind, id);
        if let (Kind::Event(name), Some(conn)) = (kind, self.conn.borrow_mut().as_mut()) {
            conn.set_js_listeners(name, registry.js_only.get(name).map(|f| &**f));
            let followers_listen = self
                .share
                .borrow()
                .as_ref()
                .is_some_and(|s| s.names.contains(name));
            if emptied.is_some() && name != RESET && name != HEARTBEAT && !followers_listen {
                conn.unlisten(name);
            }
        }
    }
}

/// Keeps a callback registered; dropping it unregisters. `forget` keeps it for the source's life.
#[must_use = "dropping a Registration removes the callback at once"]
pub struct Registration {
    inner: Weak<Inner>,
    kind: Kind,
    id: Id,
}

impl Registration {
    pub(crate) fn new(inner: &Rc<Inner>, kind: Kind, id: Id) -> Self {
        Self {
            inner: Rc::downgrade(inner),
            kind,
            id,
        }
    }

    /// Keeps the callback until the source closes.
    pub fn forget(mut self) {
        // Dropped with no source to unregister from: `mem::forget` would leak the `Weak` (and
        // with it the source's allocation) and the event name.
        self.inner = Weak::new();
    }

    pub(crate) fn unregister(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.remove(&self.kind, self.id);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.unregister();
    }
}
