//! The cap on the SSE responses one client address holds open at once: the counts behind
//! `--max-sse-per-client`, which `http`'s `client_limit` middleware enforces.
//!
//! Each open stream holds a file descriptor for as long as the client likes, so without a cap
//! a single address can take every descriptor the process has: the accept loop then fails on
//! every new connection and even `/health` goes unanswered.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Open SSE responses per client; cheap to clone.
#[derive(Clone)]
pub struct SseLimit {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, Client>>>,
}

#[derive(Default)]
struct Client {
    streams: usize,
    /// A refusal was logged since the client was last below its cap: one line per episode,
    /// not one per refused request, so a client hammering at its cap cannot flood the log.
    warned: bool,
}

/// `acquire` found the client at its cap.
#[derive(Debug)]
pub struct Refused {
    /// The first refusal since the client was last below its cap.
    pub first: bool,
}

impl SseLimit {
    /// `max` streams per client; 0 for no limit.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A slot for `peer`, unless it holds `max` already.
    pub fn acquire(&self, peer: IpAddr) -> Result<Slot, Refused> {
        let key = client_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let client = open.entry(key).or_default();
        if self.max != 0 && client.streams >= self.max {
            let first = !std::mem::replace(&mut client.warned, true);
            return Err(Refused { first });
        }
        client.streams += 1;
        Ok(Slot {
            key,
            open: self.open.clone(),
        })
    }

    /// Streams each client may hold; 0 for no limit.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Streams `peer` holds open now.
    pub fn held(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&client_key(peer)).map_or(0, |c| c.streams)
    }

    /// Addresses holding at least one stream (an entry is removed with its last stream, so a
    /// scan of many addresses leaves nothing behind).
    pub fn clients(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// What counts as one client. An IPv6 host normally gets a whole /64 and can pick any address
/// in it, so the /64 is the client; an IPv4-mapped address is the IPv4 client it stands for.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// One open stream of one client; freed on drop.
pub struct Slot {
    key: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, Client>>>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").field("client", &self.key).finish()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = open.get_mut(&self.key) {
            client.streams -= 1;
            client.warned = false;
            if client.streams == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn slots_are_counted_per_address_and_freed_on_drop() {
        let limit = SseLimit::new(2);
        let a1 = limit.acquire(ip("10.0.0.1")).unwrap();
        let a2 = limit.acquire(ip("10.0.0.1")).unwrap();
        assert!(limit.acquire(ip("10.0.0.1")).unwrap_err().first);
        assert!(
            !limit.acquire(ip("10.0.0.1")).unwrap_err().first,
            "logged once"
        );
        // Another address is unaffected.
        let b = limit.acquire(ip("10.0.0.2")).unwrap();
        assert_eq!(limit.held(ip("10.0.0.1")), 2);
        drop(a1);
        let a3 = limit.acquire(ip("10.0.0.1")).unwrap();
        assert!(
            limit.acquire(ip("10.0.0.1")).unwrap_err().first,
            "a new episode"
        );
        drop((a2, a3, b));
        assert_eq!(limit.clients(), 0, "entries go with their last slot");
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_mapped_ipv4_is_its_ipv4() {
        let limit = SseLimit::new(1);
        let _a = limit.acquire(ip("2001:db8:1:2::1")).unwrap();
        assert!(limit.acquire(ip("2001:db8:1:2:ffff::9")).is_err());
        let _other_net = limit.acquire(ip("2001:db8:1:3::1")).unwrap();
        let _v4 = limit.acquire(ip("192.0.2.7")).unwrap();
        assert!(limit.acquire(ip("::ffff:192.0.2.7")).is_err());
    }
}
