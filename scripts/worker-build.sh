#!/bin/sh
# Builds endpoint groups into Workers (functions/<group>/build/worker/shim.mjs).
#   worker-build.sh <group>   one group (what each wrangler config's [build] runs)
#   worker-build.sh all       every group of groups.toml: compiled by one cargo invocation
#                             (in parallel, sharing one build of the kernel), then each
#                             packaged by worker-build, whose own cargo build is then fresh
# worker-build would download wasm-bindgen and esbuild; this machine's kind cannot, so it is
# given the wasm-bindgen CLI that scripts/install-tools.sh installs (the exact version in
# Cargo.lock) and the esbuild that npm installs with wrangler. wasm-opt is skipped (--no-opt):
# the bundles stay under the 1 MiB gzipped budget without it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
group=${1:?usage: worker-build.sh <group>|all}
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
if [ "$group" = all ]; then
  packages="" features=""
  for crate in $(python3 "$root/scripts/groups.py" crates); do
    packages="$packages -p $crate" features="$features,$crate/cloudflare"
  done
  # worker-build compiles with this set (its proc-macro reads it, untracked by cargo): the
  # same here, or its own build would take these artifacts as fresh while they differ.
  (cd "$root" && WASM_BINDGEN_USE_JS_SYS=1 cargo build --lib --release --locked --target wasm32-unknown-unknown $packages --features "${features#,}")
  for name in $(python3 "$root/scripts/groups.py" names); do
    "$0" "$name"
  done
  exit 0
fi
cd "$root/functions/$group"
exec worker-build --release --no-opt . --features cloudflare
