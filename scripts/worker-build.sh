#!/bin/sh
# Builds endpoint groups into Workers (functions/<group>/build/worker/shim.mjs).
#   worker-build.sh <group>   one group (what each wrangler config's [build] runs)
#   worker-build.sh all       every group of groups.toml
# Every group's cargo build is the same one invocation over all the groups' crates (worker-build
# hands the extra options to cargo): the first call compiles them all, in parallel and sharing
# one build of the kernel, and the others find it fresh; worker-build then packages its group.
# worker-build would download wasm-bindgen, wasm-opt and esbuild from GitHub and npm; this
# machine's kind cannot, so it is given the wasm-bindgen CLI that scripts/install-tools.sh
# installs (the exact version in Cargo.lock), and the wasm-opt and esbuild that npm installs
# (package.json: binaryen at the version worker-build pins, 132, and wrangler's esbuild).
# worker-build runs wasm-opt on the release build as `wasm-opt -O` (-Os) with workerd's wasm
# features enabled and the names section kept (--debuginfo), for smaller bundles that start
# faster. A tool missing here is an error: worker-build would fall back to downloading it.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
group=${1:?usage: worker-build.sh <group>|all}
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$root/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$root/node_modules/.bin/wasm-opt}"
for tool in "$WASM_BINDGEN_BIN" "$ESBUILD_BIN" "$WASM_OPT_BIN"; do
  [ -x "$tool" ] || { echo "worker-build.sh: ${tool:-wasm-bindgen} is missing: run scripts/install-tools.sh" >&2; exit 1; }
done
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
exec worker-build --release . --locked $packages --features "${features#,}"
