#!/bin/sh
# Builds one endpoint group into a Worker (functions/<group>/build/worker/shim.mjs).
# worker-build would download wasm-bindgen and esbuild; this machine's kind cannot, so it is
# given the wasm-bindgen CLI that scripts/install-tools.sh installs (the exact version in
# Cargo.lock) and the esbuild that npm installs with wrangler. wasm-opt is skipped (--no-opt):
# the bundles stay under the 1 MiB gzipped budget without it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
group=${1:?usage: worker-build.sh <group>}
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
cd "$root/functions/$group"
exec worker-build --release --no-opt . --features cloudflare
