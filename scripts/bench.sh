#!/usr/bin/env bash
# Load benchmark with a real client (wrk), all on this machine over loopback:
#   - the native host: an authenticated project read at 64 connections, login at 8,
#     beside the bare baseline (examples/bare_read.rs) measured in the same run;
#   - resident memory of the native host, idle and under the read load;
#   - the workers under `wrangler dev`: the read at 16 connections, login at 8;
#   - the tasks group on both (tests/src/bin/tasks-bench.rs): 1,000 tasks created in batches,
#     filtered lists and searches on 10,000 tasks, the cycle check on a 1,000-edge chain.
# Default argon2id cost (19 MiB, t=2) everywhere. Prints one line per measurement.
# Usage: scripts/bench.sh [seconds per run, default 15]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
seconds=${1:-15}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
export WRK_REPORT="$root/scripts/wrk-report.lua"
secret=bench-secret-0123456789abcdef0123456789
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --locked -p tui-host --bin tui-server --example bare_read -p tui-blackbox --bin tasks-bench >/dev/null 2>&1

# Waits until a URL answers 2xx (or, with "any", answers at all).
wait_for() {
  local flags=-sf
  [ "${2:-}" = any ] && flags=-s
  for _ in $(seq 1 120); do curl $flags -o /dev/null "$1" && return 0; sleep 1; done
  return 1
}

# Registers a user and creates a project on $1; prints "token project_id login".
setup() {
  local base=$1 name="bench$RANDOM$RANDOM" reply token project
  reply=$(curl -sf -X POST "$base/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$name@example.com\",\"username\":\"$name\",\"password\":\"violet-staple-orbit-42\"}")
  token=$(sed -E 's/.*"access_token":"([^"]+)".*/\1/' <<<"$reply")
  project=$(curl -sf -X POST "$base/v1/projects" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"name":"benchmark","description":"a project to read"}' \
    | sed -E 's/.*"id":"([^"]+)".*/\1/')
  echo "$token $project $name"
}

rss_kib() { ps -o rss= -p "$1" | tr -d ' '; }

# Login bodies of eight accounts registered on $1, one for each connection of the login runs:
# eight sign-ins of one account at once would be refused beyond the lockout's five tries under
# way, which is not what a login benchmark measures.
login_bodies() {
  local base=$1 bodies="" name
  for i in 1 2 3 4 5 6 7 8; do
    name="login$i$RANDOM$RANDOM"
    curl -sf -o /dev/null -X POST "$base/v1/auth/register" -H 'content-type: application/json' \
      -d "{\"email\":\"$name@example.com\",\"username\":\"$name\",\"password\":\"violet-staple-orbit-42\"}"
    bodies+="{\"login\":\"$name\",\"password\":\"violet-staple-orbit-42\"}|"
  done
  echo "$bodies"
}

# Native host, and the baseline reading the same file.
# Rate limits lifted: the load is one client hammering one account from one address.
lifted=(RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP=100000000 RATE_LIMIT_LOGIN_PER_MINUTE_PER_ACCOUNT=100000000
  RATE_LIMIT_REGISTER_PER_HOUR_PER_IP=100000000)
env "${lifted[@]}" JWT_SECRET=$secret target/release/tui-server --listen 127.0.0.1:8801 --data-dir "$work" --log error &
pids+=($!); server=$!
wait_for http://127.0.0.1:8801/v1/health/ready
read -r token project login < <(setup http://127.0.0.1:8801)
target/release/examples/bare_read 127.0.0.1:8802 "$work/tui.db" "$secret" &
pids+=($!)
wait_for http://127.0.0.1:8802/v1/projects/none any
sleep 2
echo "native idle rss: $(( $(rss_kib $server) / 1024 )) MiB"

echo -n "bare baseline, read, 64 connections:  "
wrk -t2 -c64 -d"${seconds}s" -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8802/v1/projects/$project" | tail -1
echo -n "native host, project read, 64 conns:  "
( sleep $(( seconds / 2 )); echo "native rss under read load: $(( $(rss_kib $server) / 1024 )) MiB" >"$work/rss" ) &
sampler=$!
wrk -t2 -c64 -d"${seconds}s" -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8801/v1/projects/$project" | tail -1
wait $sampler; cat "$work/rss"
echo -n "native host, login, 8 connections:     "
login_body() { printf '{"login":"%s","password":"violet-staple-orbit-42"}' "$1"; }
WRK_BODIES=$(login_bodies http://127.0.0.1:8801) wrk -t2 -c8 -d"${seconds}s" -s scripts/wrk-post.lua http://127.0.0.1:8801/v1/auth/login | tail -1
target/release/tasks-bench http://127.0.0.1:8801 50 | sed 's/^/native host, tasks: /'
kill "${pids[@]}"; pids=()

# The workers under wrangler dev (workerd, local D1), default argon2 cost.
scripts/worker-build.sh all >/dev/null 2>&1
printf '%s\n' "JWT_SECRET=$secret" "PUBLIC_URL=http://127.0.0.1:8803" "${lifted[@]}" >"$work/vars"
wrangler=$(scripts/wrangler-local.sh "$work/wr" 8803 "$work/vars")
trap 'kill -- "-$wrangler" 2>/dev/null || true; rm -rf "$work"' EXIT
read -r token project login < <(setup http://127.0.0.1:8803)
echo -n "wrangler dev, project read, 16 conns:  "
wrk -t2 -c16 -d"${seconds}s" -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8803/v1/projects/$project" | tail -1
echo -n "wrangler dev, login, 8 connections:    "
WRK_BODIES=$(login_bodies http://127.0.0.1:8803) wrk -t2 -c8 -d"${seconds}s" -s scripts/wrk-post.lua http://127.0.0.1:8803/v1/auth/login | tail -1

# One connection at a time: what a single request costs under workerd. Against the health
# check, `me` adds a token check, a service-binding hop and one D1 read, and login adds
# argon2id's verify.
for route in /v1/health /v1/auth/me; do
  echo -n "wrangler dev, GET $route, 1 connection: "
  wrk -t1 -c1 -d5s -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8803$route" | tail -1
done
echo -n "wrangler dev, login, 1 connection:      "
WRK_BODY=$(login_body "$login") wrk -t1 -c1 -d10s -s scripts/wrk-post.lua http://127.0.0.1:8803/v1/auth/login | tail -1
# Two 422s that differ only in the caller's check: a malformed device code from anyone (no
# database), and an empty user change from a signed-in caller (the token's signature, then its
# session and roles in one D1 read): the difference is what checking a caller costs.
echo -n "wrangler dev, 422 without a token, 1 connection: "
WRK_BODY='{"device_code":"'$(printf 'x%.0s' $(seq 1 300))'"}' wrk -t1 -c1 -d5s -s scripts/wrk-post.lua http://127.0.0.1:8803/v1/auth/device/token | tail -1
echo -n "wrangler dev, 422 after the token and session check, 1 connection: "
WRK_METHOD=PATCH WRK_BODY='{}' wrk -t1 -c1 -d5s -H "authorization: Bearer $token" -s scripts/wrk-post.lua \
  http://127.0.0.1:8803/v1/users/00000000-0000-7000-8000-000000000000 | tail -1
target/release/tasks-bench http://127.0.0.1:8803 30 | sed 's/^/wrangler dev, tasks: /'
