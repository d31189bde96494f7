#!/usr/bin/env bash
# CPU time of a sign-up and a sign-in under `wrangler dev` (workerd, local D1), at the default
# argon2id cost and at others: what the Workers plan's CPU limit is measured against. The auth
# worker is reached alone, as its Cloudflare route reaches it (no gateway hop). The CPU is the
# workerd processes' own, read from /proc before and after a batch of requests made one at a
# time, divided by the batch; it includes what workerd also does locally for a request (the
# local D1, the rate-limit Durable Object), so the last setting, argon2id at its smallest, is
# there to be subtracted: what remains is the hash's share.
# Everything listens on 127.0.0.1; each run is bounded (BATCH requests of each kind, curl's
# --max-time, wrangler's start-up wait) and stops its wrangler on exit.
# Usage: scripts/signin-cpu.sh [BATCH, default 20, at most 200] [MEMORY_KIB:ITERATIONS ...]
# Default settings: the default (19456:2), OWASP's other minimum argon2id configurations, then
# smaller ones that no guidance accepts, for the scale, and the floor (8:1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
batch=${1:-20}
[[ $batch =~ ^[0-9]+$ ]] && ((batch >= 1 && batch <= 200)) || { echo "BATCH must be 1 to 200" >&2; exit 2; }
shift || true
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(19456:2 12288:3 9216:4 7168:5 47104:1 4096:1 1024:1 8:1)
port=8831
password=violet-staple-orbit-42
work=$(mktemp -d)
group=
cleanup() { [ -n "$group" ] && kill -- "-$group" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

scripts/worker-build.sh all >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; exit 1; }
ticks=$(getconf CLK_TCK)

# CPU time, in ms, of every workerd process of this run's wrangler (its own session).
cpu_ms() {
  local total=0 pid fields
  for pid in $(pgrep -s "$group" workerd); do
    # utime and stime, fields 14 and 15, counted after the command name, which may hold spaces.
    fields=$(sed -E 's/^.*\) //' "/proc/$pid/stat")
    total=$((total + $(awk '{ print $12 + $13 }' <<<"$fields")))
  done
  echo $((total * 1000 / ticks))
}

post() { curl -sf --max-time 30 -o /dev/null -X POST "http://127.0.0.1:$port$1" -H 'content-type: application/json' -d "$2"; }

# CPU ms per request of BATCH calls of `$1 NAME-PREFIX`, made one after another.
measure() {
  local before after i
  before=$(cpu_ms)
  for i in $(seq 1 "$batch"); do "$1" "$2$i"; done
  after=$(cpu_ms)
  awk -v a="$before" -v b="$after" -v n="$batch" 'BEGIN { printf "%.1f", (b - a) / n }'
}
register() { post /v1/auth/register "{\"email\":\"$1@example.com\",\"username\":\"$1\",\"password\":\"$password\"}"; }
login() { post /v1/auth/login "{\"login\":\"$1\",\"password\":\"$password\"}"; }
# A sign-in of a login no one has: 401, as it should be; only its cost matters.
stranger() { curl -s --max-time 30 -o /dev/null -X POST "http://127.0.0.1:$port/v1/auth/login" -H 'content-type: application/json' -d "{\"login\":\"$1\",\"password\":\"$password\"}"; }
health() { curl -sf --max-time 30 -o /dev/null "http://127.0.0.1:$port/v1/health"; }

for setting in "${settings[@]}"; do
  memory=${setting%:*} iterations=${setting#*:}
  printf '%s\n' JWT_SECRET=signin-cpu-secret-0123456789abcdef0123 "PUBLIC_URL=http://127.0.0.1:$port" \
    "ARGON2_MEMORY_KIB=$memory" "ARGON2_ITERATIONS=$iterations" ARGON2_PARALLELISM=1 \
    RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP=100000 RATE_LIMIT_LOGIN_PER_MINUTE_PER_ACCOUNT=100000 \
    RATE_LIMIT_REGISTER_PER_HOUR_PER_IP=100000 >"$work/vars"
  group=$(scripts/wrangler-local.sh "$work/wr" "$port" "$work/vars" auth)
  tag="m$memory-t$iterations-$RANDOM"
  # Warm-up, not counted: workerd compiles wasm in tiers as it runs hot, and the first sign-in
  # of an unknown login hashes once more to make the stand-in hash it compares against.
  for i in 1 2 3 4 5; do register "warm$tag$i"; login "warm$tag$i"; stranger "nobody$tag"; health; done
  floor=$(measure health "")
  registered=$(measure register "$tag")
  signed_in=$(measure login "$tag")
  printf 'argon2id m=%s KiB t=%s p=1: register %s ms CPU, login %s ms CPU (GET /v1/health %s ms; %s of each, workerd)\n' \
    "$memory" "$iterations" "$registered" "$signed_in" "$floor" "$batch"
  kill -- "-$group" 2>/dev/null || true
  while pgrep -s "$group" >/dev/null; do sleep 0.2; done
  group=
done
