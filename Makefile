# The two commands a newcomer needs: `make run` and `make test`. Each installs what is missing.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

ADDR ?= 127.0.0.1:8080
DATA ?= data
LIB_SOURCES := $(shell find src -type f) $(wildcard js/*) scripts/package.mjs scripts/optimize-wasm.mjs scripts/minify.mjs README.md Cargo.toml Cargo.lock LICENSE-MIT LICENSE-APACHE
WASM := pkg/livesource_wasm_bg.wasm

.PHONY: run test soak bench pkg setup setup-test lint fmt clean
# A recipe that fails leaves no half-built target that a later make would take as up to date.
.DELETE_ON_ERROR:

## make run: install what is missing, build pkg/, serve the demo on http://$(ADDR)
run: setup pkg
	cargo build -q -p livesource-dev
	@echo "==> open http://$(ADDR)/  (Ctrl-C stops the server)"
	target/debug/livesource-dev serve --addr $(ADDR) --data $(DATA)

## make test: install what is missing, then every test: native, headless browser, end-to-end
test: setup-test pkg
	scripts/test.sh

## make soak: the slow reliability runs kept out of make test (a few minutes): a stuck client
## among 100 readers, 10,000 dropped connections, 10,000 writes through the fault proxy, fuzzing at 10,000 cases
soak: setup-test pkg
	scripts/soak.sh

## make bench: performance against same-run baselines, written to BENCHMARKS.md
## (make bench ARGS=--quick for a short run that writes nothing)
bench: setup-test pkg
	node bench/run.mjs $(ARGS)

## make pkg: the npm package in pkg/ (release wasm, optimised by npm binaryen's wasm-opt)
pkg: $(WASM)

$(WASM): $(LIB_SOURCES)
	wasm-pack build --target web --profile wasm-release --no-opt --out-dir pkg --out-name livesource_wasm -- --features npm
	node scripts/package.mjs
	@echo '==> pkg/, gzip -9 per file (the measure of make test and P4):'
	@node scripts/size.mjs pkg

setup:
	scripts/setup.sh run

setup-test:
	scripts/setup.sh test

## make lint: rustfmt and clippy on the native and the wasm targets, and on examples/live-list
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	cargo clippy -p livesource --target wasm32-unknown-unknown --all-targets -- -D warnings
	cargo fmt --manifest-path examples/live-list/Cargo.toml -- --check
	CARGO_TARGET_DIR=$(CURDIR)/target cargo clippy --manifest-path examples/live-list/Cargo.toml \
	  --target wasm32-unknown-unknown --all-targets -- -D warnings

fmt:
	cargo fmt --all
	cargo fmt --manifest-path examples/live-list/Cargo.toml

clean:
	rm -rf pkg target
