#!/bin/sh
# Builds endpoint groups into Workers (functions/<group>/build/worker/shim.mjs).
#   worker-build.sh <group>   one group (what each wrangler config's [build] runs)
#   worker-build.sh all       every group of groups.toml
# Every group's cargo build is the same one invocation over all the groups' crates (worker-build
# hands the extra options to cargo): the first call compiles them all, in parallel and sharing
# one build of the kernel, and the others find it fresh; worker-build then packages its group.
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
  for name in $(python3 "$root/scripts/groups.py" names); do
    "$0" "$name"
  done
  exit 0
fi
packages="" features=""
for crate in $(python3 "$root/scripts/groups.py" crates); do
  packages="$packages -p $crate" features="$features,$crate/cloudflare"
done
cd "$root/functions/$group"
# shellcheck disable=SC2086 # one word per option
exec worker-build --release --no-opt . --locked $packages --features "${features#,}"
