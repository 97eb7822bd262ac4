#!/usr/bin/env bash
# `make soak`: the slow reliability runs that stay out of `make test` (several minutes): a
# client that never reads among a hundred that do, 10,000 dropped connections, ten SIGKILLs
# mid-burst, 10,000 writes through the fault proxy, and every fuzz property at 10,000 cases.
# Ends with every `reliability:`/`faults:` figure line, the source of RELIABILITY.md's table.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

logs=$(mktemp -d "${TMPDIR:-/tmp}/livesource-soak.XXXXXX")
trap 'rm -rf "$logs"' EXIT

echo "==> soak: server under hostile clients (release build)"
cargo test --release -p livesource-dev --all-features --test soak -- --ignored --nocapture \
  2>&1 | tee "$logs/server.log"

echo "==> soak: SIGKILL mid-burst and restart, 10 times"
for _ in $(seq 10); do
  cargo test --release -p livesource-dev --all-features --test crash -- --nocapture 2>&1 | tee -a "$logs/crash.log"
done

echo "==> soak: fuzz properties, 10,000 cases each"
PROPTEST_CASES=10000 cargo test --release --workspace --all-features \
  -- never_panic arbitrary typed frames_round_trip single_character 2>&1 | tee "$logs/fuzz.log"

echo "==> soak: 10,000 writes through the fault proxy"
FAULT_WRITES=10000 scripts/with-server.sh node --test --test-reporter=spec \
  tests/e2e/faults.test.mjs 2>&1 | tee "$logs/faults.log"

echo
echo "==> figures"
grep -hE '^(reliability|faults):' "$logs"/*.log || true
if grep -hqE '^test result: FAILED|^(ℹ|#) fail [1-9]' "$logs"/*.log; then
  echo "error: a soak run failed" >&2
  exit 1
fi
