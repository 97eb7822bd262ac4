//! A real server restart, in its own test binary (its own browser page): killing the server
//! mid-stream must not disturb the other browser tests. `make test` runs it after them.
#![cfg(target_arch = "wasm32")]

#[path = "../browser/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;

use livesource::{Backoff, LiveSource, Options};
use wasm_bindgen_test::wasm_bindgen_test;

use support::*;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_server_restart_loses_nothing_and_duplicates_nothing() {
    let editor = token("editor", 600).await;
    let batch = unique("restart");
    let source = LiveSource::connect(
        &changes_url(),
        Options::default().backoff(Backoff {
            initial_ms: 100,
            max_ms: 500,
            factor: 2.0,
            jitter: false,
            max_attempts: None,
        }),
    )
    .unwrap();
    let mut changes = source.subscribe::<Change>("change");
    opened(&source).await;

    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let name = format!("{batch}-{i}");
        insert_product(
            &editor,
            &[
                ("_id", name.as_str().into()),
                ("name", name.as_str().into()),
            ],
        )
        .await
        .unwrap();
        acknowledged.push(name);
    }
    let r = fetch("POST", "/_test/exit", None, None).await.unwrap();
    assert_eq!(r.status(), 202);
    // Writes while the server is down fail (not acknowledged); retry each until it is. A write
    // can be committed with its answer lost, so each carries its own `_id`: a retry of a stored
    // one answers 409, which acknowledges it without a second change.
    for i in 10..20 {
        let name = format!("{batch}-{i}");
        within(10_000, "the restarted server to accept writes", async {
            loop {
                let fields = [
                    ("_id", name.as_str().into()),
                    ("name", name.as_str().into()),
                ];
                match insert_product(&editor, &fields).await {
                    Ok(_) | Err(409) => break,
                    Err(_) => sleep(Duration::from_millis(50)).await,
                }
            }
        })
        .await;
        acknowledged.push(name);
    }

    let mut received = Vec::new();
    let mut last_id = 0u64;
    while received.len() < acknowledged.len() {
        let event = next(&mut changes, 10_000, "every acknowledged write")
            .await
            .unwrap();
        let id: u64 = event.id.as_deref().unwrap().parse().expect("numeric ids");
        assert!(id > last_id, "ids strictly increase: {id} after {last_id}");
        last_id = id;
        if let Some(name) = event.data.full_document.and_then(|d| d.name) {
            if name.starts_with(&format!("{batch}-")) {
                received.push(name);
            }
        }
    }
    assert_eq!(received, acknowledged, "every write exactly once, in order");
}
