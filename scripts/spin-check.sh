#!/usr/bin/env bash
# Builds every group as a Spin component (wasm32-wasip2) and checks, with wasm-tools, that it
# is a WASI 0.2 HTTP component importing only interfaces Spin provides. There is no spin CLI
# to install on this machine's kind, so this is the closest check of the Spin build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

# What Spin 3.x/4.x hosts offer a spin-sdk 5 component: WASI 0.2 and Spin's own 2.0 interfaces.
allowed='^(wasi:(cli|clocks|filesystem|io|random|sockets|http)/[a-z-]+@0\.2\.[0-9]+|fermyon:spin/(sqlite|variables|key-value|llm|mqtt|mysql|postgres|redis|rdbms-types|redis-types)@2\.0\.0)$'

# Every component in one cargo invocation. No group crate depends on another, so each
# component links only its own handler.
packages=() features=()
for crate in $(python3 scripts/groups.py crates); do
  packages+=(-p "$crate") features+=("$crate/spin")
done
features=$(IFS=,; echo "${features[*]}")
cargo build --release --locked --target wasm32-wasip2 "${packages[@]}" --features "$features" 2>&1 | grep -E '^(warning|error)' || true

status=0
for group in $(python3 scripts/groups.py names); do
  wasm="target/wasm32-wasip2/release/tui_$group.wasm"
  wit=$(wasm-tools component wit "$wasm")
  imports=$(grep -oE '^\s*import [a-z:/@.0-9-]+;' <<<"$wit" | sed -E 's/^\s*import ([^;]+);/\1/' | sort -u)
  exports=$(grep -oE '^\s*export [a-z:/@.0-9-]+;' <<<"$wit" | sed -E 's/^\s*export ([^;]+);/\1/' | sort -u)
  if ! grep -qx 'wasi:http/incoming-handler@0.2.0' <<<"$exports"; then
    echo "$group: does not export wasi:http/incoming-handler@0.2.0 (exports: $exports)" >&2
    status=1
  fi
  unexpected=$(grep -vE "$allowed" <<<"$imports" || true)
  if [ -n "$unexpected" ]; then
    echo "$group: imports interfaces Spin does not provide:" >&2
    echo "$unexpected" >&2
    status=1
  fi
  printf '%-9s %s KiB, imports: %s\n' "$group" "$(( $(wc -c <"$wasm") / 1024 ))" "$(tr '\n' ' ' <<<"$imports")"
done
exit $status
