#!/usr/bin/env bash
# Every test, in order: the package against its size budget, native (both crates), the library
# in headless Chromium and Firefox against a real livesource-dev, the example app's own browser
# tests and the Playwright recipe, and the release package end to end in three engines. Fails if
# any runner fails or ran nothing, and ends with each runner's closing line.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

logs=$(mktemp -d "${TMPDIR:-/tmp}/livesource-logs.XXXXXX")
trap 'rm -rf "$logs"' EXIT
summary=()

# What failed, and why, from a failed step's log, written last and to stderr: a long run's
# failures are otherwise far up the output, among the server's own log lines.
digest() {
  local name=$1 log=$logs/$1.log
  {
    echo
    echo "==> $name failed; what failed, from its output:"
    # node --test's closing section (spec reporter), then cargo test's "failures:" list.
    sed -n '/^✖ failing tests:/,$p' "$log" | grep -vE '^\s*at |^\s*$|^[0-9TZ:.-]+ +(INFO|ERROR|WARN)' \
      | cut -c1-400 | head -80 || true
    sed -n '/^failures:$/,/^test result:/p' "$log" | grep -E '^    |panicked|^test result' | head -40 || true
    # Neither (a build error, a size over budget, a runner that crashed): the log's end.
    if ! grep -qE '^✖ failing tests:|^failures:$' "$log"; then
      tail -n 40 "$log"
    fi
  } >&2
}

# Runs a step, keeps its output, and records the runner's closing line(s).
step() {
  local name=$1 pattern=$2
  shift 2
  echo "==> $name"
  if ! "$@" 2>&1 | tee "$logs/$name.log"; then
    digest "$name"
    exit 1
  fi
  local closing
  closing=$(grep -E "$pattern" "$logs/$name.log" || true)
  if [ -z "$closing" ]; then
    echo "error: $name printed no result line: its tests did not run" >&2
    exit 1
  fi
  local tally
  tally=$(awk '
    /^test result: / { p += $4; f += $6 }
    /^(ℹ|#) pass / { p += $3 } /^(ℹ|#) fail / { f += $3 }
    END { printf "%d passed, %d failed\n", p, f }' <<<"$closing")
  # A runner that passed nothing ran nothing: a failure, whatever its exit status.
  if [[ $tally == "0 passed,"* ]]; then
    echo "error: $name passed no tests: its tests did not run" >&2
    exit 1
  fi
  summary+=("$name: $tally")
}

# The shipped download against its committed budget (scripts/size-budget.json): bytes, not time.
step size '^# (pass|fail) ' node scripts/size.mjs check pkg

step native '^test result: ' cargo test --workspace --all-features

# wasm-pack runs every #[wasm_bindgen_test] (the browser suite and the pure-module tests) in
# Chromium. A test binary with zero browser tests is a failure too, not only a run with none.
step browser '^test result: ' scripts/with-server.sh wasm-pack test --headless --chrome
if grep -qE '^test result: ok\. 0 passed' "$logs/browser.log"; then
  echo "error: the browser run executed no tests" >&2
  exit 1
fi
grep -q 'Running headless tests in Chrome' "$logs/browser.log" || {
  echo "error: the browser tests did not run in Chrome" >&2
  exit 1
}

# The same wasm-bindgen tests in Firefox, through geckodriver.
step browser-firefox '^test result: ' scripts/with-server.sh wasm-pack test --headless --firefox
if grep -qE '^test result: ok\. 0 passed' "$logs/browser-firefox.log"; then
  echo "error: the Firefox browser run executed no tests" >&2
  exit 1
fi

# The example app (examples/live-list, its own crate) as its users run it: its own
# `wasm-pack test --headless --chrome` under `livesource-dev with` (through with-server.sh),
# building into the root target directory so nothing builds twice.
wasm_bindgen_in() { awk '/^name = "wasm-bindgen"$/ { getline; print; exit }' "$1"; }
if [ "$(wasm_bindgen_in Cargo.lock)" != "$(wasm_bindgen_in examples/live-list/Cargo.lock)" ]; then
  echo "error: examples/live-list builds with another wasm-bindgen than the CLI: copy Cargo.lock" \
    "there and pin the same version in its Cargo.toml" >&2
  exit 1
fi
step live-list '^test result: ' env CARGO_TARGET_DIR="$PWD/target" \
  scripts/with-server.sh sh -c 'cd examples/live-list && wasm-pack test --headless --chrome'

# The Playwright recipe of docs/GUIDE.md ("Testing your live page"), on a server of its own: it
# kills the server on purpose.
step live-page '^(ℹ|#) (tests|pass|fail) ' \
  scripts/with-server.sh node --test --test-reporter=spec tests/e2e/live-page.recipe.mjs

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
