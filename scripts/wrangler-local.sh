#!/usr/bin/env bash
# Starts every built worker under one `wrangler dev` (workerd, local D1 in DIR/state) and waits
# until it is ready; prints the process group to kill (`kill -- -PGID`).
#
# FRONT is what PORT exposes (wrangler dev exposes one worker): `gateway` (the default, as
# without routes: the gateway forwards each path to its group), `routes` (the zone's Cloudflare
# routes, scripts/groups.py routes, played by scripts/zone-routes.mjs: each path straight to the
# worker of its route, the gateway for the rest), or one group's worker alone, as its route
# reaches it.
#
# Each worker reads its secrets from the .dev.vars beside its config, so it runs on copies of
# the configs in DIR, each with VARS_FILE beside it as .dev.vars: a developer's own .dev.vars
# are never touched. The copies point at the built bundles and have no build step.
# Usage: wrangler-local.sh DIR PORT VARS_FILE [FRONT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1 port=$2 vars=$3 front=${4:-gateway}
# wrangler needs Node 22; npm installs it into node_modules/.bin.
export WRANGLER_SEND_METRICS=false PATH="$root/node_modules/.bin:$PATH"

configs=()
if [ "$front" = routes ]; then
  mkdir -p "$dir/zone"
  python3 "$root/scripts/groups.py" zone >"$dir/zone/wrangler.toml"
  configs+=(-c "$dir/zone/wrangler.toml")
fi
groups=$(python3 "$root/scripts/groups.py" names)
if [ "$front" != routes ] && [ "$front" != gateway ]; then
  groups="$front $(grep -vx "$front" <<<"$groups")"
fi
for group in $groups; do
  if [ "$group" = gateway ]; then src=$root/wrangler.toml; else src=$root/functions/$group/wrangler.toml; fi
  mkdir -p "$dir/$group"
  sed -e "s|^main = \"\(functions/$group/\)\{0,1\}build/|main = \"$root/functions/$group/build/|" \
      -e "s|^migrations_dir = .*|migrations_dir = \"$root/migrations\"|" \
      -e '/^\[build\]$/d' -e '/^command = /d' "$src" >"$dir/$group/wrangler.toml"
  cp "$vars" "$dir/$group/.dev.vars"
  configs+=(-c "$dir/$group/wrangler.toml")
done

setsid wrangler dev "${configs[@]}" --ip 127.0.0.1 --port "$port" --persist-to "$dir/state" \
  --show-interactive-dev-session=false >"$dir/wrangler.log" 2>&1 </dev/null &
pid=$!
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/v1/health/ready" >/dev/null; then
    echo "$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 1
done
tail -50 "$dir/wrangler.log" >&2
echo "wrangler dev did not become ready" >&2
kill -- "-$pid" 2>/dev/null || true
exit 1
