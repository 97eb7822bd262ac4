//! SIGKILL in the middle of a write burst, then a restart on the same data directory: every
//! acknowledged write is in the store and reaches the resumed stream exactly once, in order,
//! and nothing is half-applied (a bulk insert is all there or not at all, and the store and
//! the event log agree).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, Server};

const STREAM: &str = "/shop/products/_streams/changes";
const T: Duration = Duration::from_secs(10);
const WRITERS: usize = 3;
/// Writers go on until the server dies; this only bounds the loop.
const ROUNDS: usize = 5000;
const BULK: usize = 5;

/// A POST that reports failure instead of panicking: the server may die at any byte.
fn try_post(addr: SocketAddr, auth: &str, body: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(T)).ok()?;
    write!(
        s,
        "POST /shop/products HTTP/1.0\r\nhost: x\r\nauthorization: {auth}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    reply.split_whitespace().nth(1)?.parse().ok()
}

/// One write: a single document or a bulk array, named so the test knows what it holds.
fn write(t: usize, i: usize) -> (Vec<String>, String) {
    if i % 2 == 0 {
        let id = format!("w{t}-{i}");
        (
            vec![id.clone()],
            format!(r#"{{"_id":"{id}","t":{t},"i":{i}}}"#),
        )
    } else {
        let ids: Vec<String> = (0..BULK).map(|k| format!("b{t}-{i}-{k}")).collect();
        let docs: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"_id":"{id}"}}"#))
            .collect();
        (ids, format!("[{}]", docs.join(",")))
    }
}

/// The client reads a few events, then loses its connection: the rest of the burst (and the
/// crash) happen while it is away, so what it gets after the restart comes from resume.
fn first_events(mut sse: common::SseClient, n: usize, into: Arc<Mutex<Vec<(u64, String)>>>) {
    while into.lock().unwrap().len() < n {
        let Some(e) = sse.next_event(T) else { return };
        let id = e.id.as_deref().unwrap().parse().unwrap();
        let key = e.json()["documentKey"]["_id"].as_str().unwrap().to_owned();
        into.lock().unwrap().push((id, key));
    }
}

#[test]
fn sigkill_during_a_write_burst_loses_no_acknowledged_write_and_half_applies_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start_in(&data, &[], &[]);
    let auth = format!("Bearer {}", server.token("editor"));
    let received = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (sse, into) = (server.sse(STREAM, &[]), received.clone());
        std::thread::spawn(move || first_events(sse, 20, into))
    };

    let acked = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    let attempted = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    let ack_count = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (addr, auth) = (server.addr, auth.clone());
            let (acked, attempted, ack_count) =
                (acked.clone(), attempted.clone(), ack_count.clone());
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    let (ids, body) = write(t, i);
                    attempted.lock().unwrap().push(ids.clone());
                    match try_post(addr, &auth, &body) {
                        Some(201) => {
                            acked.lock().unwrap().push(ids);
                            ack_count.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(status) => panic!("write {t}/{i} answered {status}"),
                        None => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Mid-burst: some writes acknowledged, more in flight.
    assert!(eventually(T, || ack_count.load(Ordering::Relaxed) >= 40));
    let mut server = server;
    server.signal("KILL");
    server.wait_exit(T).expect("killed");
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() < WRITERS * ROUNDS,
        "the kill came after the burst, not during it"
    );

    // Restart on the same data, and resume from the last event the client saw.
    let server = Server::start_in(&data, &[], &[]);
    let before = received.lock().unwrap().clone();
    let last = before
        .last()
        .map_or("0".to_owned(), |(id, _)| id.to_string());
    let head: u64 = server.request("GET", "/ready", &[], None).json()["lastEventId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut resumed = server.sse(STREAM, &[("last-event-id", &last)]);
    let mut all = before.clone();
    while all.last().is_none_or(|(id, _)| *id < head) {
        let e = resumed.next_event(T).expect("the rest of the log");
        let key = e.json()["documentKey"]["_id"].as_str().unwrap().to_owned();
        all.push((e.id.unwrap().parse().unwrap(), key));
    }

    // Exactly once, in order.
    let ids: Vec<u64> = all.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids strictly increase");
    let streamed: Vec<&String> = all.iter().map(|(_, k)| k).collect();
    let streamed_set: HashSet<&String> = streamed.iter().copied().collect();
    assert_eq!(streamed_set.len(), streamed.len(), "no document twice");
    // The store holds exactly what the log streamed.
    let mut stored = BTreeSet::new();
    for page in 1.. {
        let r = server.request(
            "GET",
            &format!("/shop/products?pagesize=1000&page={page}"),
            &[("authorization", &auth)],
            None,
        );
        let docs = r.json().as_array().unwrap().clone();
        stored.extend(docs.iter().map(|d| d["_id"].as_str().unwrap().to_owned()));
        if docs.len() < 1000 {
            break;
        }
    }
    assert_eq!(
        stored,
        streamed_set
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        "store and event log agree"
    );
    // Every acknowledged write is there.
    for ids in &acked {
        for id in ids {
            assert!(stored.contains(id), "acknowledged {id} lost");
        }
    }
    // Nothing half-applied: each attempted write is all there or all absent.
    let attempted = attempted.lock().unwrap().clone();
    let mut unacked_present = 0;
    for ids in &attempted {
        let present = ids.iter().filter(|id| stored.contains(*id)).count();
        assert!(
            present == 0 || present == ids.len(),
            "half-applied: {present} of {ids:?}"
        );
        if present > 0 && !acked.contains(ids) {
            unacked_present += 1;
        }
    }
    println!(
        "reliability: sigkill acknowledged_writes={} attempted_writes={} documents={} \
         streamed_before_kill={} streamed_after_resume={} unacknowledged_but_committed={unacked_present} \
         half_applied=0 duplicates=0 lost=0",
        acked.len(),
        attempted.len(),
        stored.len(),
        before.len(),
        all.len() - before.len()
    );
}
