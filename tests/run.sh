#!/usr/bin/env bash
# The one test command, for a fresh machine and for CI (.ci/run calls it):
# installs what the tests need, then runs every check and every test.
#
# What the tests need today: the Rust toolchain with rustfmt and clippy. The
# end-to-end tests drive the real `meshls` binary, built once below and
# reused by every test. Later issues add the real language servers (npm ci of
# tests/package-lock.json), editors (apt-get) and rust-analyzer here.
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

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the meshls binary the end-to-end tests drive"
cargo build --locked -p meshls

step "tests (unit, end-to-end, and each benchmark once in test mode)"
cargo test --workspace --all-targets --locked
