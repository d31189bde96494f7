#!/usr/bin/env bash
# Cold start of each worker under `wrangler dev` (workerd, local D1), and of the plain JS
# yardstick (/work/shared/bench/workerd-ceiling) measured the same way. For every target, RUNS
# times (3 by default), a fresh `wrangler dev` of that worker alone, on a database its schema is
# already in (a first deploy's migrations are not counted; the check of them that every new
# isolate makes on its first request is), then:
#   ready   from starting wrangler dev until it says it is ready
#   first   the first request's own latency: GET /v1/health, which every worker (and the
#           yardstick) answers itself; the Rust workers read the schema's version on it
#   total   from starting wrangler dev to that first successful response
#   warm    a second GET /v1/health
#   db      then the first read of the database: /v1/health/ready (the yardstick: an
#           authenticated project read, /read/p1, whose first request also creates its tables)
# Medians over the runs at the end. Loopback only. Bounded: a start gives up after 60 s, a
# request after 30 s. Needs the built workers (scripts/worker-build.sh all) and npm's wrangler.
# Usage: scripts/cold-start.sh [TARGET...]   targets: the groups of groups.toml and `yardstick`
#   (all of them by default); RUNS=5, COLD_START_PORT (8811) and COLD_START_YARDSTICK (the
#   yardstick's directory) may be set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# wrangler needs Node 22 (npm installs it into node_modules/.bin). Nothing beyond loopback: no
# metrics, no update check (it goes with the banner), no fetch of Request.cf's data.
export WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false
export PATH="$root/node_modules/.bin:$PATH"
runs=${RUNS:-3} port=${COLD_START_PORT:-8811}
yardstick=${COLD_START_YARDSTICK:-/work/shared/bench/workerd-ceiling}
if [ $# -gt 0 ]; then targets=("$@"); else
  mapfile -t targets < <(python3 scripts/groups.py names); targets+=(yardstick)
fi
work=$root/target/cold-start
rm -rf "$work" && mkdir -p "$work"

wrangler_pid=""
stop() {
  if [ -n "$wrangler_pid" ]; then
    kill -- "-$wrangler_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$wrangler_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 -- "-$wrangler_pid" 2>/dev/null || true
    wrangler_pid=""
  fi
}
trap stop EXIT

# What the workers read (the secret, a public URL); the yardstick reads nothing.
cat >"$work/vars" <<VARS
JWT_SECRET=cold-start-secret-0123456789abcdef0123
PUBLIC_URL=http://127.0.0.1:$port
VARS
# The yardstick's token: HS256 with its fixed key, as its README's `ceiling token` makes one.
token=$(python3 - <<'PY'
import base64, hashlib, hmac, json
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
msg = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b(json.dumps({"sub": "u1"}).encode())
print(msg + "." + b(hmac.new(b"ceiling-secret-ceiling-secret-00", msg.encode(), hashlib.sha256).digest()))
PY
)

# A copy of TARGET's config in DIR that runs the built bundle with no build step (as
# scripts/wrangler-local.sh copies them), with the vars beside it.
config() {
  local target=$1 dir=$2 src
  mkdir -p "$dir"
  if [ "$target" = yardstick ]; then
    cp "$yardstick/worker.js" "$yardstick/wrangler.toml" "$dir/"
    return
  fi
  if [ "$target" = gateway ]; then src=wrangler.toml; else src=functions/$target/wrangler.toml; fi
  [ -f "functions/$target/build/worker/shim.mjs" ] || { echo "functions/$target is not built: scripts/worker-build.sh $target" >&2; exit 1; }
  sed -e "s|^main = \"\(functions/$target/\)\{0,1\}build/|main = \"$root/functions/$target/build/|" \
      -e "s|^migrations_dir = .*|migrations_dir = \"$root/migrations\"|" \
      -e '/^\[build\]$/d' -e '/^command = /d' "$src" >"$dir/wrangler.toml"
  cp "$work/vars" "$dir/.dev.vars"
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# Starts wrangler dev on DIR's config with state STATE; sets wrangler_pid and `ready` (ms).
start() {
  local dir=$1 state=$2 t0=$3
  (cd "$dir" && exec setsid wrangler dev -c wrangler.toml --ip 127.0.0.1 --port "$port" \
     --persist-to "$state" --show-interactive-dev-session=false >"$dir/wrangler.log" 2>&1 </dev/null) &
  wrangler_pid=$!
  local deadline=$(( t0 + 60000 ))
  until grep -q "Ready on http://127.0.0.1:$port" "$dir/wrangler.log" 2>/dev/null; do
    if ! kill -0 "$wrangler_pid" 2>/dev/null || [ "$(now_ms)" -gt "$deadline" ]; then
      tail -30 "$dir/wrangler.log" >&2
      echo "wrangler dev did not become ready in $dir" >&2
      return 1
    fi
    sleep 0.02
  done
  ready=$(( $(now_ms) - t0 ))
}

# One request: prints its latency in ms; fails unless the answer is a 2xx.
request() {
  local out code seconds
  out=$(curl -s -o /dev/null --max-time 30 -w '%{http_code} %{time_total}' "$@") || true
  read -r code seconds <<<"$out"
  case $code in 2??) awk -v s="$seconds" 'BEGIN { printf "%.1f", s * 1000 }' ;; *) echo "HTTP ${code:-none} from $*" >&2; return 1 ;; esac
}

# A state directory whose database already has the schema: one start whose first request
# migrates it (every group binds the same database, so one serves them all).
prepare_state() {
  local group=$1 dir=$work/migrate
  config "$group" "$dir"
  start "$dir" "$work/state" "$(now_ms)"
  request "http://127.0.0.1:$port/v1/health/ready" >/dev/null
  stop
}

results=$work/results.tsv
: >"$results"
printf '%-10s %3s %8s %8s %8s %8s %8s\n' target run ready_ms first_ms total_ms warm_ms db_ms
for target in "${targets[@]}"; do
  if [ "$target" != yardstick ] && [ ! -d "$work/state" ]; then prepare_state "$target"; fi
  for run in $(seq 1 "$runs"); do
    dir=$work/$target-$run
    config "$target" "$dir"
    state=$dir/state
    if [ "$target" = yardstick ]; then mkdir -p "$state"; else cp -a "$work/state" "$state"; fi
    t0=$(now_ms)
    start "$dir" "$state" "$t0"
    first=$(request "http://127.0.0.1:$port/v1/health")
    total=$(( $(now_ms) - t0 ))
    warm=$(request "http://127.0.0.1:$port/v1/health")
    if [ "$target" = yardstick ]; then
      db=$(request -H "authorization: Bearer $token" "http://127.0.0.1:$port/read/p1")
    else
      db=$(request "http://127.0.0.1:$port/v1/health/ready")
    fi
    stop
    printf '%-10s %3s %8s %8s %8s %8s %8s\n' "$target" "$run" "$ready" "$first" "$total" "$warm" "$db"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$ready" "$first" "$total" "$warm" "$db" >>"$results"
  done
done

echo
echo "medians over $runs runs (ms):"
printf '%-10s %8s %8s %8s %8s %8s\n' target ready first total warm db
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    target, *values = line.split("\t")
    rows.setdefault(target, []).append([float(v) for v in values])
for target, runs in rows.items():
    medians = [statistics.median(column) for column in zip(*runs)]
    print(f"{target:<10} " + " ".join(f"{m:8.1f}" for m in medians))
PY
