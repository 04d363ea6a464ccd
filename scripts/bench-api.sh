#!/usr/bin/env bash
# Measures GET /api/tickets latency on a hub over PostgreSQL holding N tickets (default
# 1,000,000) under 50 concurrent clients, with wrk. Needs Postgres on 127.0.0.1:5432 (trust)
# and wrk (apt-get install wrk). Prints wrk's latency distribution for a few list queries.
#
#   scripts/bench-api.sh [TICKETS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
duration=${2:-20s}
db=aiff_bench_api
pgurl=postgres://postgres@127.0.0.1:5432
port=18095
command -v wrk >/dev/null || { echo "bench-api: wrk is not installed (apt-get install wrk)"; exit 1; }

go build -o /tmp/aiff-bench ./cmd/aiff
if [ "${REUSE:-}" != "1" ]; then
  psql -q "$pgurl/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  /tmp/aiff-bench seed --db "$pgurl/$db" --tickets "$tickets" --days 365 --zones 12 --teams 60
fi
export JWT_SECRET_KEY=bench-secret-bench-secret-bench-secret
/tmp/aiff-bench hub --db "$pgurl/$db" --addr 127.0.0.1:$port --rate-limit 0 --data /tmp/aiff-bench-data >/tmp/aiff-bench-hub.log 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null' EXIT
for _ in $(seq 1 60); do curl -sf 127.0.0.1:$port/readyz >/dev/null && break; sleep 0.5; done
token=$(curl -sf -X POST 127.0.0.1:$port/api/auth/login -H 'content-type: application/json' \
  -d '{"username":"dispatcher","password":"demo"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
zone=$(curl -sf 127.0.0.1:$port/api/zones -H "authorization: Bearer $token" | python3 -c 'import sys,json,urllib.parse;print(urllib.parse.quote(json.load(sys.stdin)["items"][0]["name"]))' 2>/dev/null || echo Mitte)

run() {
  echo "== $1"
  wrk -t2 -c50 -d"$duration" --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1" \
    | grep -E "Requests/sec|50%|90%|99%|Non-2xx|Socket errors"
}
run "/api/tickets"
run "/api/tickets?status=open,assigned&zone=$zone&sort=due_date"
run "/api/tickets?priority=critical&sort=-updated_at&limit=20"
run "/api/tickets?q=hydrant&limit=20"
