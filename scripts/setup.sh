#!/usr/bin/env bash
# Installs whatever `make run` (setup.sh run) or `make test` (setup.sh test) needs and is missing.
# Every step checks first, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

purpose=${1:-run}
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*"; }

# The wasm-bindgen CLI must match the library version in Cargo.lock to the patch level.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen() {
  local want have
  want=$(wasm_bindgen_version)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    # No --locked: the registry lacks one dependency the CLI's own lock file names.
    say "installing wasm-bindgen-cli $want (about 4 minutes, once)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

ensure_wasm_pack() {
  if ! command -v wasm-pack >/dev/null 2>&1; then
    say "installing wasm-pack (about 3 minutes, once)"
    cargo install wasm-pack --locked
  fi
}

ensure_npm_tools() {
  # wasm-opt comes from npm's binaryen (132): Debian's binaryen 108 produces broken wasm.
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm tooling"
    npm ci --no-audit --no-fund
  fi
}

# The three engines the end-to-end tests run in, from Debian's packages: Chromium (and its
# driver, for wasm-pack's tests), Firefox ESR, and WebKitGTK's MiniBrowser with its WebDriver,
# which needs an X display (Xvfb): it has no headless mode.
ensure_browsers() {
  local missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  command -v firefox-esr >/dev/null 2>&1 || missing+=(firefox-esr)
  command -v WebKitWebDriver >/dev/null 2>&1 || missing+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null 2>&1 || missing+=(xvfb)
  if [ "${#missing[@]}" -eq 0 ]; then
    return
  fi
  if command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "error: the browser tests need ${missing[*]} (apt-get not found)" >&2
    exit 1
  fi
}

# geckodriver for the library's wasm-bindgen tests in Firefox (`wasm-pack test --firefox`):
# Debian has no package of it, crates.io has the real one.
ensure_geckodriver() {
  if ! command -v geckodriver >/dev/null 2>&1; then
    say "installing geckodriver (about 3 minutes, once)"
    cargo install geckodriver --locked
  fi
}

# The interop tests' third-party Python server (sse-starlette + uvicorn) and client (httpx-sse),
# pinned in tests/interop/requirements.txt, in a venv of their own; reinstalled only when that
# file changes.
ensure_interop_venv() {
  local venv=target/interop-venv req=tests/interop/requirements.txt
  if [ -x "$venv/bin/python" ] && cmp -s "$req" "$venv/.requirements.txt"; then
    return
  fi
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      say "installing Debian's python3 and python3-venv"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv
    else
      echo "error: the interop tests need python3 (3.11+) with the venv module" >&2
      exit 1
    fi
  fi
  say "installing the interop tests' Python packages into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.requirements.txt"
}

ensure_wasm_target
ensure_wasm_bindgen
ensure_wasm_pack
ensure_npm_tools
if [ "$purpose" = test ] || [ "$purpose" = bench ]; then
  ensure_browsers
fi
if [ "$purpose" = test ]; then
  ensure_geckodriver
  ensure_interop_venv
fi
