#!/usr/bin/env bash
# Every test, in order: native (both crates), the library in headless Chromium against a real
# livesource-dev, and the release package end to end. Fails if any runner fails or ran nothing,
# and ends with each runner's closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

logs=$(mktemp -d "${TMPDIR:-/tmp}/livesource-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT
summary=()

# Runs a step, keeps its output, and records the runner's closing line(s).
step() {
  local name=$1 pattern=$2
  shift 2
  echo "==> $name"
  "$@" 2>&1 | tee "$logs/$name.log"
  local closing
  closing=$(grep -E "$pattern" "$logs/$name.log" || true)
  if [ -z "$closing" ]; then
    echo "error: $name printed no result line: its tests did not run" >&2
    exit 1
  fi
  summary+=("$name: $(awk '
    /^test result: / { p += $4; f += $6 }
    /^(ℹ|#) pass / { p += $3 } /^(ℹ|#) fail / { f += $3 }
    END { printf "%d passed, %d failed\n", p, f }' <<<"$closing")")
}

step native '^test result: ' cargo test --workspace --all-features

# wasm-pack runs every #[wasm_bindgen_test] (the browser suite and the pure-module tests) in
# Chromium. A run with zero browser tests is a failure, not a pass.
step browser '^test result: ' scripts/with-server.sh wasm-pack test --headless --chrome
if grep -qE '^test result: ok\. 0 passed' "$logs/browser.log"; then
  echo "error: the browser run executed no tests" >&2
  exit 1
fi
grep -q 'Running headless tests in Chrome' "$logs/browser.log" || {
  echo "error: the browser tests did not run in Chrome" >&2
  exit 1
}

# The release package end to end, once per engine (tests/e2e/browser.mjs): the demo pages, the
# fault proxy, the npm app and the interop matrix in Chromium, Firefox and WebKitGTK.
for engine in chromium firefox webkit; do
  step "e2e-$engine" '^(ℹ|#) (tests|pass|fail) ' env LIVESOURCE_ENGINE="$engine" \
    scripts/with-server.sh node --test --test-reporter=spec tests/e2e/
done

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
printf '%s\n' "${summary[@]}" | awk '{ p += $2; f += $4 } END { printf "total: %d passed, %d failed\n", p, f }'
