#!/usr/bin/env bash
# Runs the black-box suite against every worker under `wrangler dev` (workerd, local D1), on a
# fresh database, reached as Cloudflare's routes reach them (scripts/zone-routes.mjs): each path
# straight to its route's worker, which forwards the nested paths other groups own
# (/v1/projects/{id}/tasks through the projects worker), everything else through the gateway.
# The workers must be built (scripts/worker-build.sh). Arguments filter the tests (as cargo
# test's do) and skip schemathesis: scripts/wrangler-test.sh realtime. TUI_WRANGLER_FRONT=gateway
# runs them through the gateway alone, as a deployment without routes is reached.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
port=${TUI_WRANGLER_PORT:-8791}
work=$root/target/wrangler-test
rm -rf "$work" && mkdir -p "$work"
mail_port=$((port + 1)) oidc_port=$((port + 2)) claude_port=$((port + 3))
python3 scripts/mail-sink.py "$mail_port" "$work/mail.jsonl" test-mail-key &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
# Built with the whole workspace, as step 1 of test.sh built it: selecting one package would
# unify other features and compile everything a second time.
cargo build --workspace --bins --locked --quiet
target/debug/fake-oidc "$oidc_port" >"$work/fake-oidc.log" 2>&1 &
oidc=$!
target/debug/fake-claude "$claude_port" >"$work/fake-claude.log" 2>&1 &
claude=$!
trap 'kill $sink $oidc $claude 2>/dev/null || true' EXIT
# The secret the black-box tests forge tokens with, cheap hashing (tests only), the bootstrap
# admin's email, per-address rate limits lifted (every test comes from one address), the mail
# sink, the fake identity provider and the fake Messages API: the same settings the native host
# gets in the tests; and
# queue messages delayed a second at most, so that waits beyond that go through the workflows
# worker's alarm (which otherwise takes waits beyond 12 h).
cat >"$work/vars" <<VARS
JWT_SECRET=black-box-test-secret-0123456789abcdef
ARGON2_MEMORY_KIB=64
ARGON2_ITERATIONS=1
BOOTSTRAP_ADMIN_EMAIL=admin@bootstrap.test
RATE_LIMIT_LOGIN_PER_MINUTE_PER_IP=1000000
RATE_LIMIT_REGISTER_PER_HOUR_PER_IP=1000000
RATE_LIMIT_RESET_PER_HOUR_PER_IP=1000000
RATE_LIMIT_STARTS_PER_MINUTE_PER_IP=1000000
PUBLIC_URL=http://127.0.0.1:$port
MAIL_API_URL=http://127.0.0.1:$mail_port/mail
MAIL_API_KEY=test-mail-key
OIDC_PROVIDERS=fake
OIDC_FAKE_ISSUER=http://127.0.0.1:$oidc_port
OIDC_FAKE_CLIENT_ID=claude-tui-test
OIDC_FAKE_CLIENT_SECRET=fake-provider-client-secret
OIDC_FAKE_TRUST_EMAIL=true
WORKFLOWS_HTTP_PRIVATE=127.0.0.1/32
WORKFLOWS_TICK_SECRET=tick-secret-for-the-black-box-tests-0123
WORKFLOWS_LEASE_S=3
WORKFLOWS_QUEUE_DELAY_MAX_S=1
ANTHROPIC_API_KEY=sk-ant-fake-test-key
ANTHROPIC_BASE_URL=http://127.0.0.1:$claude_port
CLAUDE_TIMEOUT_S=2
CLAUDE_RETRY_BASE_MS=200
CLAUDE_RETRY_MAX_S=2
SWARMS_STEP_TIMEOUT_S=30
VARS
group=$(scripts/wrangler-local.sh "$work" "$port" "$work/vars" "${TUI_WRANGLER_FRONT:-routes}")
trap 'kill -- "-$group" 2>/dev/null || true; kill $sink $oidc $claude 2>/dev/null || true' EXIT
export TUI_TEST_MAIL_LOG=$work/mail.jsonl TUI_TEST_OIDC_ISSUER=http://127.0.0.1:$oidc_port
export TUI_TEST_CLAUDE_URL=http://127.0.0.1:$claude_port

if ! TUI_TEST_BASE_URL="http://127.0.0.1:$port" cargo test --workspace --locked --test suite -- "$@"; then
  echo "--- the last lines wrangler logged:" >&2
  tail -40 "$work/wrangler.log" >&2
  exit 1
fi

# The OpenAPI document against the workers (the suite has made and verified the bootstrap admin).
[ $# -eq 0 ] || exit 0
scripts/schemathesis.sh "http://127.0.0.1:$port"
