#!/usr/bin/env bash
# The one test command, for a fresh machine and for CI (.ci/run calls it):
# installs what the tests need, then runs every check and every test.
#
# What the tests need, and what each is for:
# - the Rust toolchain with rustfmt and clippy: builds meshls, checks format
#   and lints; its cargo also builds rust-analyzer (below) and runs the
#   `cargo check` whose findings rust-analyzer reports;
# - Node.js and npm, to install the real language servers pinned in
#   tests/package-lock.json into tests/node_modules: typescript-language-server
#   5 with TypeScript 5 (tests/tests/proxy.rs) and pyright
#   (tests/tests/servers.rs);
# - python3, which runs the scripted misbehaving server of the proxy tests;
# - the VS Code extension's npm packages (vscode-extension/package-lock.json),
#   to compile, lint, unit-test (under node: VS Code cannot run here) and
#   package it;
# - from Debian (apt-get, with sudo when not root), each when it is missing:
#   clangd, the C/C++ server of tests/tests/servers.rs; neovim, the editor of
#   tests/tests/neovim.rs (the plugin in nvim-plugin/); emacs-nox and
#   elpa-eglot, the editor of tests/tests/emacs.rs;
# - rust-analyzer, the Rust server of tests/tests/servers.rs. Debian has none
#   and rustup cannot download it here, so it is built from crates.io
#   (`ra_ap_rust-analyzer`, pinned) into a cache outside the repository,
#   once: about 11 minutes on 2 idle cores, then reused. The cache is
#   $MESHLS_TEST_CACHE, else $XDG_CACHE_HOME/meshls-tests, else
#   ~/.cache/meshls-tests; the tests find the binary through
#   MESHLS_TEST_RUST_ANALYZER.
# The end-to-end tests drive the real `meshls` binary, built once below and
# reused by every test. None of them is skipped: a test whose server is
# missing fails and says to run this script.
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
# A clean build of every test target takes 2.8 GiB in target/ (measured
# 2026-11-21), and rust-analyzer's one-time build needs room of its own; a
# full disk shows up later as a linker's bus error, so say it now.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt $((6 * 1024 * 1024)) ]; then
    echo "tests/run.sh: warning: only $((free_kib / 1024)) MiB free here; the build needs about 6 GiB the first time" >&2
fi

step "language servers (npm ci in tests/)"
for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "tests/run.sh: $tool is not installed: install it (Debian: apt-get install nodejs npm python3) and run again" >&2
        exit 1
    fi
done
npm ci --prefix tests --no-audit --no-fund
export MESHLS_TEST_NODE_BIN="$PWD/tests/node_modules/.bin"

step "the VS Code extension: compile, lint, unit tests, package (.vsix)"
npm ci --prefix vscode-extension --no-audit --no-fund
npm --prefix vscode-extension run ci

step "Debian packages: clangd, neovim, emacs-nox, elpa-eglot"
missing=()
command -v clangd >/dev/null || missing+=(clangd)
command -v nvim >/dev/null || missing+=(neovim)
command -v emacs >/dev/null || missing+=(emacs-nox)
emacs --batch --eval "(require 'eglot)" >/dev/null 2>&1 || missing+=(elpa-eglot)
if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null; then
        echo "tests/run.sh: ${missing[*]} not installed and apt-get is not available: install clangd (LLVM 14 or newer), Neovim 0.7 or newer, and Emacs with eglot, so that clangd, nvim and emacs are on PATH, and run again" >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
clangd --version | sed -n 1p >&2
nvim --version | sed -n 1p >&2
emacs --version | sed -n 1p >&2

step "rust-analyzer (built once into a cache outside the repository)"
# A pinned release that this toolchain builds (newer ones need a newer rustc).
ra_version=0.0.330
ra_cache="${MESHLS_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshls-tests}/rust-analyzer-$ra_version"
if [ ! -x "$ra_cache/bin/rust-analyzer" ]; then
    echo "building rust-analyzer $ra_version into $ra_cache; this takes 11 to 25 minutes, once" >&2
    cargo install ra_ap_rust-analyzer --version "$ra_version" --locked --root "$ra_cache"
fi
export MESHLS_TEST_RUST_ANALYZER="$ra_cache/bin/rust-analyzer"
# Its own version reads 0.0.0 in crates.io builds, so say which it is.
"$MESHLS_TEST_RUST_ANALYZER" --version >/dev/null
echo "rust-analyzer $ra_version: $MESHLS_TEST_RUST_ANALYZER" >&2

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the meshls binary the end-to-end tests drive"
cargo build --locked -p meshls

step "tests (unit, end-to-end, and each benchmark once in test mode)"
cargo test --workspace --all-targets --locked
