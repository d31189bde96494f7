#!/usr/bin/env bash
# Load benchmarks with real clients (wrk, and tests/src/bin/tasks-bench.rs), all on this machine
# over loopback, each beside its yardstick in the same run (../shared/bench, used as it is):
#   - natively: the authenticated project read at 64 connections against the physical limit
#     (ceiling: hyper, HS256, one rusqlite point read), with logging off and with the README's
#     default (info, a line per request); login at 4 connections against the argon2id bound
#     (host/examples/argon2_bound.rs: what the cores verify per second); resident memory;
#   - under `wrangler dev`: the read at 16 connections and at 1 against a plain JS worker doing
#     the same (workerd-ceiling), the projects worker reached as its Cloudflare route reaches
#     it, and again through the gateway (a deployment without routes); login, and
#     single-request costs;
#   - the tasks group on both: 1,000 tasks created in batches, filtered lists and searches on
#     10,000 tasks, the cycle check on a 1,000-edge chain;
#   - real-time on both: 1,000 WebSockets on one project, publish -> receipt latency, and the
#     server's memory per connection (tests/src/bin/realtime-bench.rs), beside the fan-out's
#     physical limit here: the same client reading frames written straight to its sockets
#     (tests/src/bin/fanout-floor.rs);
#   - workflows on both: steps/s of a 1,000-step fan-out, and what the engine adds per step of a
#     chain (tests/src/bin/workflows-bench.rs);
#   - swarms on both, against the fake Messages API: what the coordinator and the engine add per
#     part of an orchestration, Claude's time taken out (tests/src/bin/swarms-bench.rs).
# Default argon2id cost (19 MiB, t=2) everywhere. Prints one line per measurement, then one
# line per ratio (the regression guard: a change that loses ground shows there).
# Usage: scripts/bench.sh [seconds per run, default 15]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH" WRANGLER_SEND_METRICS=false
seconds=${1:-15}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
export WRK_REPORT="$root/scripts/wrk-report.lua"
yardsticks=$root/../shared/bench
secret=bench-secret-0123456789abcdef0123456789
work=$(mktemp -d)
pids=()
fake=
cleanup() { kill "${pids[@]}" $fake 2>/dev/null || true; for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done; rm -rf "$work"; }
groups=()
trap cleanup EXIT

cargo build --release --locked -p tui-host --bin tui-server --example argon2_bound -p tui-blackbox --bin tasks-bench --bin realtime-bench --bin fanout-floor --bin workflows-bench --bin swarms-bench --bin fake-claude >/dev/null 2>&1
cargo build --release --locked --manifest-path "$yardsticks/ceiling/Cargo.toml" --target-dir target/ceiling >/dev/null 2>&1

# Waits until a URL answers 2xx (or, with "any", answers at all).
wait_for() {
  local flags=-sf
  [ "${2:-}" = any ] && flags=-s
  for _ in $(seq 1 120); do curl $flags --max-time 5 -o /dev/null "$1" && return 0; sleep 1; done
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
# many sign-ins of one account at once would be refused beyond the lockout's five tries under
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

# run NAME wrk-arguments...: one wrk run, printed and kept under NAME for the ratios, after a
# warm-up of 3 s with the same arguments, discarded: JIT tiers (workerd compiles wasm and JS in
# tiers as they run hot), caches and allocators settle first, for the yardsticks as for ours.
declare -A rps p50 p95
run() {
  local name=$1 line arg warm=()
  shift
  for arg in "$@"; do
    if [[ $arg == -d* ]]; then warm+=(-d3s); else warm+=("$arg"); fi
  done
  wrk "${warm[@]}" >/dev/null
  line=$(wrk "$@" | tail -1)
  printf '%-44s %s\n' "$name:" "$line"
  rps[$name]=$(sed -E 's/.*requests\/s=([0-9.]+).*/\1/' <<<"$line")
  p50[$name]=$(sed -E 's/.*p50=([0-9.]+)ms.*/\1/' <<<"$line")
  p95[$name]=$(sed -E 's/.*p95=([0-9.]+)ms.*/\1/' <<<"$line")
}
ratio() { awk -v a="$2" -v b="$3" -v what="$1" 'BEGIN { printf "ratio %-52s %5.1f %%\n", what ":", 100 * a / b }'; }
# The publish->receive p95 of a fan-out benchmark's output, in ms.
p95_of() { grep 'publish->receive' "$1" | sed -E 's/.*p95 ([0-9.]+) ms.*/\1/'; }
difference() { awk -v a="$2" -v b="$3" -v what="$1" 'BEGIN { printf "difference %-47s %+5.1f ms\n", what ":", a - b }'; }

lifted=(RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP=100000000 RATE_LIMIT_LOGIN_PER_MINUTE_PER_ACCOUNT=100000000
  RATE_LIMIT_REGISTER_PER_HOUR_PER_IP=100000000
  ANTHROPIC_API_KEY=sk-ant-fake-test-key ANTHROPIC_BASE_URL=http://127.0.0.1:8806)

# Claude, for the swarms benchmark: the tests' fake, answering at once.
target/release/fake-claude 8806 >/dev/null 2>&1 &
fake=$!

# The yardsticks.
(cd "$work" && PORT=8790 "$root/target/ceiling/release/ceiling" >/dev/null 2>&1) &
pids+=($!)
wait_for http://127.0.0.1:8790/const
ceiling_token=$(target/ceiling/release/ceiling token)
bound=$(target/release/examples/argon2_bound 5)
echo "argon2id bound (default cost, every core): $bound"

# The native host, logging off, then with the README's default logging.
env "${lifted[@]}" JWT_SECRET=$secret target/release/tui-server --listen 127.0.0.1:8801 --data-dir "$work/native" --log error &
pids+=($!); server=$!
wait_for http://127.0.0.1:8801/v1/health/ready
read -r token project _ < <(setup http://127.0.0.1:8801)
sleep 1
echo "native idle rss: $(( $(rss_kib $server) / 1024 )) MiB"
run "ceiling, read, 64 connections" -t2 -c64 -d"${seconds}s" -H "authorization: Bearer $ceiling_token" -s "$WRK_REPORT" http://127.0.0.1:8790/read/p1
( sleep $(( seconds / 2 )); echo "native rss under read load: $(( $(rss_kib $server) / 1024 )) MiB" >"$work/rss" ) &
sampler=$!
run "native, project read, 64 connections" -t2 -c64 -d"${seconds}s" -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8801/v1/projects/$project"
wait $sampler; cat "$work/rss"
WRK_BODIES=$(login_bodies http://127.0.0.1:8801) run "native, login, 4 connections" -t2 -c4 -d"${seconds}s" -s scripts/wrk-post.lua http://127.0.0.1:8801/v1/auth/login
target/release/tasks-bench http://127.0.0.1:8801 50 | sed 's/^/native, tasks: /'
target/release/workflows-bench http://127.0.0.1:8801 1000 50 | tee "$work/workflows-native" | sed 's/^/native, /'
target/release/swarms-bench http://127.0.0.1:8801 12 5 | tee "$work/swarms-native" | sed 's/^/native, /'
kill "$server"
# Real-time on a host of its own, whose allocator hands freed memory back at once
# (MIMALLOC_PURGE_DELAY=0): otherwise the sockets reuse the pages the sign-ups' password hashes
# freed, and the resident memory they add hides.
MIMALLOC_PURGE_DELAY=0 env "${lifted[@]}" JWT_SECRET=$secret target/release/tui-server --listen 127.0.0.1:8804 --data-dir "$work/realtime" --log error &
pids+=($!); server=$!
wait_for http://127.0.0.1:8804/v1/health/ready
target/release/realtime-bench http://127.0.0.1:8804 1000 50 --pid "$server" | tee "$work/realtime-native" | sed 's/^/native, /'
kill "$server"
target/release/fanout-floor 1000 50 | tee "$work/realtime-floor" | sed 's/^/native, /'
env "${lifted[@]}" JWT_SECRET=$secret target/release/tui-server --listen 127.0.0.1:8802 --data-dir "$work/logged" >"$work/access.log" &
pids+=($!)
wait_for http://127.0.0.1:8802/v1/health/ready
read -r token project _ < <(setup http://127.0.0.1:8802)
run "native, project read, info logging" -t2 -c64 -d"${seconds}s" -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8802/v1/projects/$project"
echo "lines logged: $(wc -l <"$work/access.log")"
kill "${pids[@]}" 2>/dev/null || true; pids=()

# Under wrangler dev (workerd, local D1): the plain JS worker beside ours, reached as a
# Cloudflare route reaches the projects worker (no gateway hop), runs of the two interleaved;
# then ours through the gateway, as without routes, for the rest.
cp -r "$yardsticks/workerd-ceiling" "$work/workerd-ceiling"
# exec: the background job's pid is the new session's, so that cleanup's kill of its process
# group reaches wrangler and its workerd.
(cd "$work/workerd-ceiling" && exec setsid wrangler dev --ip 127.0.0.1 --port 8795 --persist-to "$work/workerd-ceiling/state" \
  --show-interactive-dev-session=false >"$work/workerd-ceiling.log" 2>&1 </dev/null) &
groups+=($!)
wait_for http://127.0.0.1:8795/const
curl -sf -o /dev/null -H "authorization: Bearer $ceiling_token" http://127.0.0.1:8795/read/p1

scripts/worker-build.sh all >/dev/null 2>&1
printf '%s\n' "JWT_SECRET=$secret" "PUBLIC_URL=http://127.0.0.1:8803" "${lifted[@]}" >"$work/vars"
ours=$(scripts/wrangler-local.sh "$work/wr" 8803 "$work/vars")
groups+=("$ours")
read -r token project login < <(setup http://127.0.0.1:8803)
kill -- "-$ours"
# The same database, the projects worker in front.
groups+=("$(scripts/wrangler-local.sh "$work/wr" 8803 "$work/vars" projects)")
read_ours() { run "$1" "${@:2}" -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8803/v1/projects/$project"; }
read_js() { run "$1" "${@:2}" -H "authorization: Bearer $ceiling_token" -s "$WRK_REPORT" http://127.0.0.1:8795/read/p1; }
read_js "workerd ceiling, read, 16 connections" -t2 -c16 -d"${seconds}s"
read_ours "wrangler dev, project read, 16 connections" -t2 -c16 -d"${seconds}s"
read_js "workerd ceiling, read, 1 connection" -t1 -c1 -d"${seconds}s"
read_ours "wrangler dev, project read, 1 connection" -t1 -c1 -d"${seconds}s"
for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done; groups=()

groups+=("$(scripts/wrangler-local.sh "$work/wr" 8803 "$work/vars")")
read_ours "wrangler dev, project read via the gateway, 16 connections" -t2 -c16 -d"${seconds}s"
WRK_BODIES=$(login_bodies http://127.0.0.1:8803) run "wrangler dev, login, 8 connections" -t2 -c8 -d"${seconds}s" -s scripts/wrk-post.lua http://127.0.0.1:8803/v1/auth/login
# What one request costs under workerd: against the health check (the gateway alone), `me`
# adds a token check, a service-binding hop and one D1 read.
for route in /v1/health /v1/auth/me; do
  run "wrangler dev, GET $route, 1 connection" -t1 -c1 -d5s -H "authorization: Bearer $token" -s "$WRK_REPORT" "http://127.0.0.1:8803$route"
done
target/release/tasks-bench http://127.0.0.1:8803 30 | sed 's/^/wrangler dev, tasks: /'
# shellcheck disable=SC2046
target/release/realtime-bench http://127.0.0.1:8803 1000 50 --pid $(pgrep -d' ' workerd) | tee "$work/realtime-workerd" | sed 's/^/wrangler dev, /'
target/release/workflows-bench http://127.0.0.1:8803 1000 50 | tee "$work/workflows-workerd" | sed 's/^/wrangler dev, /'
target/release/swarms-bench http://127.0.0.1:8803 12 5 | tee "$work/swarms-workerd" | sed 's/^/wrangler dev, /'

echo
ratio "native read / ceiling, 64 connections (goal >= 60)" "${rps[native, project read, 64 connections]}" "${rps[ceiling, read, 64 connections]}"
ratio "native read with info logging / without (goal >= 90)" "${rps[native, project read, info logging]}" "${rps[native, project read, 64 connections]}"
ratio "native login / argon2id bound, 4 connections (goal >= 85)" "${rps[native, login, 4 connections]}" "$(sed -E 's/verifies\/s=([0-9.]+).*/\1/' <<<"$bound")"
echo "native login p95, 4 connections (goal < 100 ms): ${p95[native, login, 4 connections]} ms"
ratio "wrangler dev read / workerd ceiling, 16 connections (goal >= 80)" "${rps[wrangler dev, project read, 16 connections]}" "${rps[workerd ceiling, read, 16 connections]}"
ratio "the same through the gateway (no routes) / workerd ceiling" "${rps[wrangler dev, project read via the gateway, 16 connections]}" "${rps[workerd ceiling, read, 16 connections]}"
difference "wrangler dev read p50 - workerd ceiling, 1 connection (goal <= 3)" "${p50[wrangler dev, project read, 1 connection]}" "${p50[workerd ceiling, read, 1 connection]}"
echo "native real-time fan-out to 1,000, publish->receive (goal p95 < 10 ms): $(grep 'publish->receive' "$work/realtime-native" | grep -o 'p50.*')"
echo "fan-out floor (frames written straight to 1,000 sockets), publish->receive: $(grep 'publish->receive' "$work/realtime-floor" | grep -o 'p50.*')"
ratio "fan-out floor p95 / native real-time p95 (1,000 sockets)" "$(p95_of "$work/realtime-floor")" "$(p95_of "$work/realtime-native")"
echo "wrangler dev real-time fan-out to 1,000, publish->receive (goal p95 < 50 ms): $(grep 'publish->receive' "$work/realtime-workerd" | grep -o 'p50.*')"
for host in native workerd; do
  echo "$host workflows: $(paste -sd';' "$work/workflows-$host" | sed 's/workflows, //g')"
  echo "$host swarms: $(sed 's/swarms, //' "$work/swarms-$host")"
done
