#!/usr/bin/env bash
# Property-based fuzzing of the management API with schemathesis, from the spec a running
# gateway serves (GET /api/v1/openapi.json), against the built-in Google simulator. Any 5xx
# fails the run. Operations that would end the run are left out: changing a password or
# signing out (the fuzzer's bearer would stop working), resetting usage, the endless log
# stream, and signing in (its wrong passwords would lock the fuzzer's address out for a minute). Upstream URLs and PROXY cannot change without the current password, which the
# fuzzer does not send. Examples are capped to keep this to a minute or two on 2 cores. One
# worker: with two threads, Hypothesis sometimes crashes on its own (a Python AST recursion
# depth error under CPython 3.11), which is reported as a runtime error unrelated to the API.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${GCLI2API_BIN:-$PWD/target/debug/gcli2api}
ST=${SCHEMATHESIS:-$PWD/target/pyenv/bin/st}
PY=${PYTHON:-python3}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sim_port=$(free_port)
port=$(free_port)
work=$(mktemp -d)
sim="http://127.0.0.1:$sim_port"
panel_password="schemathesis-panel-password"

"$BIN" simulate-google --listen "127.0.0.1:$sim_port" >"$work/sim.log" 2>&1 &
sim_pid=$!
env -i PATH="$PATH" HOME="$work" DATA_DIR="$work/data" HOST=127.0.0.1 PORT="$port" \
  API_PASSWORD=schemathesis-api-key PANEL_PASSWORD="$panel_password" LOG_LEVEL=warn \
  CODE_ASSIST_ENDPOINT="$sim" OAUTH_PROXY_URL="$sim" GOOGLEAPIS_PROXY_URL="$sim" \
  RESOURCE_MANAGER_API_URL="$sim" SERVICE_USAGE_API_URL="$sim" METADATA_SERVICE_URL="$sim" \
  GEMINI_API_URL="$sim" VERTEX_API_URL="$sim" OAUTH_AUTH_URL="$sim/o/oauth2/v2/auth" \
  "$BIN" >"$work/gateway.log" 2>&1 &
gw_pid=$!
cleanup() {
  kill "$gw_pid" "$sim_pid" 2>/dev/null || true
  wait "$gw_pid" "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if "$PY" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/api/v1/openapi.json', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

status=0
"$ST" run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $panel_password" \
  --checks not_a_server_error \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-20}" \
  --workers 1 \
  --exclude-operation-id set_password \
  --exclude-operation-id delete_session \
  --exclude-operation-id reset_usage \
  --exclude-operation-id stream_logs \
  --exclude-operation-id create_session \
  || status=$?
if [ "$status" -ne 0 ]; then
  echo "== gateway log (last 50 lines)" >&2
  tail -n 50 "$work/gateway.log" >&2
fi
exit "$status"
