#!/usr/bin/env bash
# The one test command, for a fresh machine and for CI (.ci/run calls it):
# installs what the tests need, then runs every check and every test.
#
# What the tests need:
# - the Rust toolchain with rustfmt and clippy;
# - Node.js and npm, to install the real language servers pinned in
#   tests/package-lock.json (typescript-language-server 5 with TypeScript 5,
#   pyright) into tests/node_modules;
# - python3, which runs the scripted misbehaving server of the proxy tests.
# The end-to-end tests drive the real `meshls` binary, built once below and
# reused by every test. Later issues add editors (apt-get) and rust-analyzer.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "toolchain"
if ! command -v cargo >/dev/null; then
    echo "tests/run.sh: cargo is not installed: install Rust with rustup (https://rustup.rs) and run again" >&2
    exit 1
fi
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo --version >&2

step "language servers (npm ci in tests/)"
for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "tests/run.sh: $tool is not installed: install it (Debian: apt-get install nodejs npm python3) and run again" >&2
        exit 1
    fi
done
npm ci --prefix tests --no-audit --no-fund
export MESHLS_TEST_NODE_BIN="$PWD/tests/node_modules/.bin"

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the meshls binary the end-to-end tests drive"
cargo build --locked -p meshls

step "tests (unit, end-to-end, and each benchmark once in test mode)"
cargo test --workspace --all-targets --locked
