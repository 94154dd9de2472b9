#!/usr/bin/env bash
# Builds hookstream, starts it on loopback with a fresh data folder, mints a one-tenant token, runs check.mjs
# against it, and stops the server. Usage: test/sdk/run.sh   (from anywhere; needs Go, Node 20+, npm)
# Ports: HS_HTTP_PORT (default 18181), HS_NATS_PORT (default 14299).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
http_port=${HS_HTTP_PORT:-18181}
nats_port=${HS_NATS_PORT:-14299}
admin=adm_sdk_check_token_0123
work=$(mktemp -d)
server_pid=

cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

[[ -d $here/node_modules/lithic ]] || (cd "$here" && npm ci --no-audit --no-fund)

(cd "$root" && go build -o "$work/hookstream" ./cmd/hookstream)
HOOKSTREAM_ADMIN_TOKEN=$admin "$work/hookstream" serve --http "127.0.0.1:$http_port" --data "$work/data" \
  --nats-listen "127.0.0.1:$nats_port" --allow-private-destinations --delivery-timeout 2s >"$work/server.log" 2>&1 &
server_pid=$!

base=http://127.0.0.1:$http_port
for _ in $(seq 1 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "run.sh: server exited" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null || { cat "$work/server.log"; echo "run.sh: server not ready" >&2; exit 1; }

tenant=$(node -e 'console.log(crypto.randomUUID())')
token=$(curl -fsS -X POST "$base/admin/tokens" -H "Authorization: Bearer $admin" \
  -d '{"name":"sdk","tenants":["'"$tenant"'"],"permissions":["*"]}' |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).token))')

status=0
HOOKSTREAM_URL=$base HOOKSTREAM_TOKEN=$token HOOKSTREAM_TENANT=$tenant HOOKSTREAM_ADMIN_TOKEN=$admin \
  node "$here/check.mjs" || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- server log (last 40 lines) ---" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit $status
