#!/usr/bin/env bash
# Fuzzes the operators' API of a throwaway `vigil run` with schemathesis (PyPI), from the
# /openapi.json it serves: every generated request must get an answer the document declares
# (status, media type, schema), and none a 5xx. Needs `schemathesis` on PATH (or SCHEMATHESIS).
# Usage: test/api/schemathesis.sh [max examples per operation, default 50]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXAMPLES=${1:-50}
ST=${SCHEMATHESIS:-schemathesis}
DIR=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT

# Operators may act (anonymous_role: operator), so the actions run for real against real incidents.
cat > "$DIR/vigil.yaml" <<'YAML'
receivers:
  json:
    endpoint: 127.0.0.1:0
exporters:
  file/incidents:
    path: incidents.ndjson
  correlation: {}
correlation:
  defaults: { group_wait: 0s, allowed_lateness: 1h }
  rules:
    - { kind: pair, name: asset_down, group_by: [tenant, asset] }
api:
  endpoint: 127.0.0.1:0
  anonymous_role: operator
service:
  pipelines:
    logs: { receivers: [json], exporters: [correlation] }
    incidents: { exporters: [file/incidents] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
YAML

node "$ROOT/cmd/vigil.ts" run --config "$DIR/vigil.yaml" --data-dir "$DIR" 2> "$DIR/vigil.log" &
PID=$!
for _ in $(seq 1 200); do grep -q '"Vigil started"' "$DIR/vigil.log" && break; sleep 0.1; done
STARTED=$(grep '"Vigil started"' "$DIR/vigil.log") || { cat "$DIR/vigil.log" >&2; exit 1; }
read -r INGEST API < <(node -e 'const r = JSON.parse(process.argv[1]); console.log(r.http[0].port, r.api.port)' "$STARTED")

# A few incidents over two tenants, one resolved, so reads and actions find something.
curl -sf -o /dev/null -H 'content-type: application/json' "http://127.0.0.1:$INGEST/v1/events" -d '[
  {"asset":"web-1","type":"down","title":"web-1 unreachable","severity":"ERROR","tenant":"acme"},
  {"asset":"db-1","type":"down","title":"db-1 unreachable","severity":"FATAL","tenant":"acme"},
  {"asset":"sw-1","type":"down","title":"sw-1 unreachable","severity":"WARN","tenant":"globex"},
  {"asset":"sw-1","type":"up","title":"sw-1 back","severity":"INFO","tenant":"globex"}]'

"$ST" --config-file "$ROOT/test/api/schemathesis.toml" run "http://127.0.0.1:$API/openapi.json" \
  --checks all --max-examples "$EXAMPLES" --seed 16 --workers 1 \
  --generation-database none --no-color --report-dir "$DIR/report"
if grep -q '"level":50' "$DIR/vigil.log"; then
  echo "vigil logged errors while fuzzed:" >&2
  grep '"level":50' "$DIR/vigil.log" >&2
  exit 1
fi
