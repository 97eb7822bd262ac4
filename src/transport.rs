//! The two ways a source talks to its server, behind the one type the state machine holds:
//! the browser's `EventSource`, or a streamed `fetch` parsed in wasm (`sse`); and the `probe`
//! that asks the server why an `EventSource` failed, which the browser does not say.

mod eventsource;
mod fetch;
pub(crate) mod probe;
pub(crate) mod sse;

pub(crate) use eventsource::{report, Connection, EventId};
pub(crate) use fetch::{FetchConnection, Head};

/// The live connection of a source. Dropping it closes the stream.
#[must_use = "dropping a connection closes it"]
pub(crate) enum Conn {
    Native(Connection),
    /// Held for its `Drop`, which aborts the request; the state machine never reads it.
    Fetch(#[allow(dead_code)] FetchConnection),
}

impl Conn {
    /// Starts delivering events named `name`. The fetch transport parses every event anyway and
    /// delivers those with listeners.
    pub fn listen(&mut self, name: &str) {
        if let Conn::Native(c) = self {
            c.listen(name);
        }
    }

    pub fn set_js_listeners(&self, name: &str, fns: Option<&js_sys::Array>) {
        if let Conn::Native(c) = self {
            c.set_js_listeners(name, fns);
        }
    }

    pub fn unlisten(&mut self, name: &str) {
        if let Conn::Native(c) = self {
            c.unlisten(name);
        }
    }

    /// Whether the browser is reconnecting this connection by itself (only `EventSource` does).
    pub fn reconnecting(&self) -> bool {
        match self {
            Conn::Native(c) => c.reconnecting(),
            Conn::Fetch(_) => false,
        }
    }
}
