//! Browser tests: real headless Chromium (`wasm-pack test --headless --chrome`) against the real
//! livesource-dev that `scripts/with-server.sh` starts. `make test` runs them.
#![cfg(target_arch = "wasm32")]

mod auto;
mod config;
mod connect;
mod fetch;
mod fragment;
mod patches;
mod resilience;
mod support;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
