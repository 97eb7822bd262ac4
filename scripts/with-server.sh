#!/usr/bin/env bash
# Runs a command against a real livesource-dev: built with the test-only routes, on a free
# loopback port, with a temporary data directory, stopped afterwards even when the command fails.
#
# The command sees:
#   LIVESOURCE_TEST_SERVER     http://127.0.0.1:PORT (browser tests read it at compile time)
#   WASM_BINDGEN_TEST_ADDRESS  127.0.0.1:PORT2, so the test runner has one origin CORS allows
#   LIVESOURCE_JWT_SECRET      the server's signing secret (for `livesource-dev token`)
#   LIVESOURCE_TEST_DATA       the data directory
#
# Every test reaches the server from 127.0.0.1, several browsers at once (each with up to six
# connections per origin, directly and through the fault proxy) plus streams the server has not
# yet seen close, so the per-client stream cap is raised far above that rather than turned off:
# every stream still goes through the cap's code.
#
# The server runs under a small supervisor: if it exits (the test route POST /_test/exit kills
# it mid-stream, like a crash), it is started again on the same port and data directory, so
# tests can check resume across a real restart.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

cargo build -q -p livesource-dev --features test-routes
bin=target/debug/livesource-dev

port=$(free_port)
runner_port=$(free_port)
while [ "$runner_port" = "$port" ]; do runner_port=$(free_port); done
work=$(mktemp -d "${TMPDIR:-/tmp}/livesource-test.XXXXXX")
mkdir -p "$work/data"
export LIVESOURCE_JWT_SECRET="test-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
export LIVESOURCE_TEST_SERVER="http://127.0.0.1:$port"
export WASM_BINDGEN_TEST_ADDRESS="127.0.0.1:$runner_port"
export LIVESOURCE_TEST_DATA="$work/data"
log="$work/server.log"

(
  restarts=0
  while [ ! -e "$work/stop" ] && [ "$restarts" -lt 50 ]; do
    "$bin" serve --addr "127.0.0.1:$port" --data "$work/data" \
      --cors-origin "http://127.0.0.1:$runner_port" --heartbeat 1s \
      --max-sse-per-client 1000 >>"$log" 2>&1 &
    echo $! >"$work/server.pid"
    wait $! || true
    restarts=$((restarts + 1))
    sleep 0.1
  done
) &
supervisor=$!

cleanup() {
  local status=$?
  touch "$work/stop"
  [ -f "$work/server.pid" ] && kill "$(cat "$work/server.pid")" 2>/dev/null || true
  wait "$supervisor" 2>/dev/null || true
  mkdir -p target/test-logs
  cp "$log" target/test-logs/server.log 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "--- livesource-dev log (last 40 lines; all of it in target/test-logs/server.log) ---" >&2
    tail -n 40 "$log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT INT TERM

for _ in $(seq 1 100); do
  if curl -fsS "$LIVESOURCE_TEST_SERVER/health" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "$LIVESOURCE_TEST_SERVER/health" >/dev/null || { echo "livesource-dev did not start" >&2; exit 1; }

"$@"
