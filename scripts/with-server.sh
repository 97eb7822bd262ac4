#!/usr/bin/env bash
# Runs a command against a real livesource-dev: `livesource-dev with` (www/README.md, "Testing
# against a real server"), built with the test-only routes. A free loopback port, a temporary
# data directory, the server stopped and its files removed afterwards, even when the command
# fails or is interrupted; the command's exit status is this script's.
#
# The command sees (docs/GUIDE.md, "Testing your live page"):
#   LIVESOURCE_TEST_SERVER     http://127.0.0.1:PORT (browser tests read it at compile time)
#   LIVESOURCE_TEST_ORIGIN     http://127.0.0.1:PORT2, the origin CORS allows for test pages
#   WASM_BINDGEN_TEST_ADDRESS  127.0.0.1:PORT2, where wasm-pack's test runner serves (that origin)
#   LIVESOURCE_JWT_SECRET      the server's signing secret (for `livesource-dev token`)
#   LIVESOURCE_TEST_DATA       the data directory
#   LIVESOURCE_TEST_LOG        the server log (kept in target/test-logs/server.log)
#
# Every test reaches the server from 127.0.0.1, several browsers at once (each with up to six
# connections per origin, directly and through the fault proxy) plus streams the server has not
# yet seen close, so the per-client stream cap is raised far above that rather than turned off:
# every stream still goes through the cap's code.
#
# --restart: if the server exits (the test route POST /_test/exit kills it mid-stream, like a
# crash), it is started again on the same port and data directory, so tests can check resume
# across a real restart.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

cargo build -q -p livesource-dev --features test-routes
exec target/debug/livesource-dev with --test-routes --restart \
  --heartbeat 1s --max-sse-per-client 1000 --log target/test-logs/server.log \
  -- "$@"
