#!/usr/bin/env bash
# Runs the black-box suite against every worker under one `wrangler dev` (workerd, local D1),
# on a fresh database. The workers must be built (scripts/worker-build.sh).
#
# Each worker reads its secrets from the .dev.vars beside its config, so the suite runs on
# copies of the configs in target/wrangler-test, each with test secrets beside it: a
# developer's own .dev.vars are never touched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# wrangler needs Node 22; npm installs it into node_modules/.bin.
export WRANGLER_SEND_METRICS=false PATH="$root/node_modules/.bin:$PATH"
port=${TUI_WRANGLER_PORT:-8791}
work=target/wrangler-test
rm -rf "$work" && mkdir -p "$work"

configs=()
for group in gateway auth projects; do
  if [ "$group" = gateway ]; then src=wrangler.toml; else src=functions/$group/wrangler.toml; fi
  mkdir -p "$work/$group"
  # Absolute paths, and no build step: the workers are built already.
  sed -e "s|^main = \"\(functions/$group/\)\{0,1\}build/|main = \"$root/functions/$group/build/|" \
      -e "s|^migrations_dir = .*|migrations_dir = \"$root/migrations\"|" \
      -e '/^\[build\]$/d' -e '/^command = /d' "$src" > "$work/$group/wrangler.toml"
  # The secret the black-box tests forge tokens with, and cheap hashing (tests only).
  printf 'JWT_SECRET=black-box-test-secret-0123456789abcdef\nARGON2_MEMORY_KIB=64\nARGON2_ITERATIONS=1\n' \
    > "$work/$group/.dev.vars"
  configs+=(-c "$work/$group/wrangler.toml")
done

log="$work/wrangler.log"
wrangler dev "${configs[@]}" --ip 127.0.0.1 --port "$port" \
  --persist-to "$work/state" --show-interactive-dev-session=false >"$log" 2>&1 &
wrangler=$!
trap 'kill $wrangler 2>/dev/null; wait $wrangler 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/v1/health/ready" >/dev/null; then break; fi
  if ! kill -0 $wrangler 2>/dev/null; then cat "$log" >&2; echo "wrangler dev exited" >&2; exit 1; fi
  sleep 1
done
curl -sf "http://127.0.0.1:$port/v1/health/ready" >/dev/null || { tail -50 "$log" >&2; exit 1; }

if ! TUI_TEST_BASE_URL="http://127.0.0.1:$port" cargo test -p tui-blackbox --locked; then
  echo "--- the last lines wrangler logged:" >&2
  tail -40 "$log" >&2
  exit 1
fi
