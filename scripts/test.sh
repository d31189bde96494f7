#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs its tools, then
#   1. unit tests and the black-box suite against the native host (cargo test), on its
#      embedded database and again over a Hrana server (the remote path to Turso),
#   2. checks the OpenAPI document against the native host with schemathesis, and reads
#      spin.toml as Spin does (its manifest schema, and the project's rules),
#   3. builds and bundles every Worker as `wrangler deploy --dry-run` does (so a config error
#      shows here, not in a user's deploy), and checks each bundle's gzipped size,
#   4. runs the same black-box suite, and schemathesis, against all workers under `wrangler
#      dev` (workerd, D1), reached as Cloudflare's routes reach them,
#   5. builds every group as a Spin component and checks it imports only what Spin provides.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# A one-off build gains nothing from incremental state, which would double the disk it needs.
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0

step() { printf '\n== %s\n' "$*"; }

step "installing tools ($(df -h --output=avail . | tail -1 | tr -d ' ') of disk free)"
scripts/install-tools.sh

step "unit tests and the black-box suite on the native host"
cargo test --workspace --locked

step "the black-box suite on the native host over a remote database (Hrana, as Turso speaks it)"
TUI_TEST_DATABASE=hrana cargo test --workspace --locked --test suite

step "the OpenAPI document against the native host (schemathesis, as a member and as an admin)"
cargo build --workspace --locked --bins --quiet
scripts/schemathesis.sh native

step "the Spin manifest, as Spin reads it, and every list of groups against groups.toml"
(cd scripts && ../.venv/bin/python -m unittest --quiet test_check_manifests)
.venv/bin/python scripts/check-manifests.py

step "building and bundling the workers (wrangler deploy --dry-run)"
# Each dry run builds its worker by the config's build command, as a deploy does: the first
# compiles every group's crate in one cargo invocation, and each then runs wasm-opt on its own
# bundle once (a build before them would make every bundle twice).
bundles=$(mktemp -d)
for config in $(python3 scripts/groups.py configs); do
  group=$(basename "$(dirname "$config")")
  [ "$config" = wrangler.toml ] && group=gateway
  if ! wrangler deploy --dry-run --outdir "$bundles/$group" -c "$config" >"$bundles/$group.log" 2>&1; then
    cat "$bundles/$group.log" >&2
    echo "wrangler refused $config" >&2
    exit 1
  fi
  # wrangler reports "Total Upload: <every module> KiB / gzip: <them gzipped> KiB", in KiB of
  # 1,024 bytes; the gzipped figure is what Cloudflare limits: 3 MB on the free plan (10 MB
  # paid), 3,000,000 bytes, which is 2,929.69 of wrangler's KiB.
  upload=$(sed 's/\x1b\[[0-9;]*m//g' "$bundles/$group.log" | grep -o 'Total Upload: .*' || true)
  gzip_kib=$(sed -n 's|.* / gzip: \([0-9.]*\) KiB.*|\1|p' <<<"$upload")
  if [ -z "$gzip_kib" ]; then
    cat "$bundles/$group.log" >&2
    echo "wrangler did not report the $group worker's gzipped size" >&2
    exit 1
  fi
  printf '%-9s %s (wasm: %d bytes)\n' "$group" "$upload" "$(wc -c <"functions/$group/build/index_bg.wasm")"
  if awk -v kib="$gzip_kib" 'BEGIN { exit !(kib * 1024 > 3000000) }'; then
    echo "the $group worker is $gzip_kib KiB gzipped: over the free plan's 3 MB (3,000,000 bytes)" >&2
    exit 1
  fi
done

step "the black-box suite under wrangler dev"
scripts/wrangler-test.sh

step "the Spin components"
scripts/spin-check.sh

step "all passed"
