#!/usr/bin/env bash
# Installs what the test suite needs on a fresh machine, and nothing twice: the wasm targets,
# worker-build, the wasm-bindgen CLI of exactly the version in Cargo.lock, wasm-tools (to check
# Spin components), the npm packages (wrangler, and the Node 22 it needs), and the Python tools
# pinned in scripts/requirements.txt, in .venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

rustup target add wasm32-unknown-unknown wasm32-wasip2 >/dev/null

installed() { cargo install --list | grep -q "^$1 v$2:"; }

if ! command -v worker-build >/dev/null; then
  cargo install worker-build --version '^0.8' --locked
fi

# worker-build refuses a wasm-bindgen CLI that differs from the library the workers link.
bindgen=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! installed wasm-bindgen-cli "$bindgen"; then
  # Not --locked: its lock file asks for a crate version the registry here lacks.
  cargo install wasm-bindgen-cli --version "=$bindgen"
fi

if ! command -v wasm-tools >/dev/null; then
  cargo install wasm-tools --locked
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if [ ! -x .venv/bin/python ] || ! cmp -s scripts/requirements.txt .venv/requirements.txt; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  cp scripts/requirements.txt .venv/requirements.txt
fi
