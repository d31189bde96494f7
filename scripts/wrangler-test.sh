#!/usr/bin/env bash
# Runs the black-box suite against every worker under `wrangler dev` (workerd, local D1), on a
# fresh database. The workers must be built (scripts/worker-build.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${TUI_WRANGLER_PORT:-8791}
work=$root/target/wrangler-test
rm -rf "$work" && mkdir -p "$work"
# The secret the black-box tests forge tokens with, and cheap hashing (tests only).
printf 'JWT_SECRET=black-box-test-secret-0123456789abcdef\nARGON2_MEMORY_KIB=64\nARGON2_ITERATIONS=1\n' >"$work/vars"
group=$(scripts/wrangler-local.sh "$work" "$port" "$work/vars")
trap 'kill -- "-$group" 2>/dev/null || true' EXIT

if ! TUI_TEST_BASE_URL="http://127.0.0.1:$port" cargo test -p tui-blackbox --locked; then
  echo "--- the last lines wrangler logged:" >&2
  tail -40 "$work/wrangler.log" >&2
  exit 1
fi
