#!/usr/bin/env bash
# Measures the hub's ticket list under load, as BENCHMARKS.md reports it:
#
#  1. seed: `aiff seed` of TICKETS tickets (default 1,000,000) into a fresh PostgreSQL database
#     (rows/s as the seed prints it), then, in the same run, a bare COPY of the very same ticket
#     rows (dumped with COPY … TO in binary) into an UNINDEXED copy of the table and into an
#     INDEXED copy (every index of tickets, trigram GIN included), so the seed's rate can be
#     read against both;
#  2. list: the real hub (`aiff hub`) over that database and `wrk -t2 -c50` (50 concurrent
#     clients) against GET /api/tickets with the default list and common filters, printing
#     wrk's p50/p90/p99 and the machine's load average before each run.
#
# Needs Postgres on 127.0.0.1:5432 (trust auth, user postgres) and wrk (apt-get install wrk).
#
#   scripts/bench-api.sh [TICKETS] [DURATION]
#   REUSE=1 scripts/bench-api.sh        # keep the seeded database, run the list benchmark only
#   ONLY=search scripts/bench-api.sh    # run only the list queries whose name contains "search"
#   STORE=sqlite scripts/bench-api.sh   # the same over the embedded SQLite store (no COPY part;
#                                       # needs the sqlite3 CLI to pick the query values)
set -euo pipefail
cd "$(dirname "$0")/.."
tickets=${1:-1000000}
duration=${2:-20s}
db=aiff_bench_api
pgurl=postgres://postgres@127.0.0.1:5432
port=18095
dump=/tmp/aiff-bench-tickets.copy
store=${STORE:-postgres}
sqlitedb=/tmp/aiff-bench-api.db
command -v wrk >/dev/null || { echo "bench-api: wrk is not installed (apt-get install wrk)"; exit 1; }

# now prints a monotonic-enough wall clock in seconds with nanoseconds.
now() { date +%s.%N; }
psqldb() { psql -X -q -v ON_ERROR_STOP=1 "$pgurl/$db" "$@"; }

echo "== machine: $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(psql -XAt "$pgurl/postgres" -c 'SHOW server_version') Postgres"
go build -o /tmp/aiff-bench ./cmd/aiff
if [ "$store" = sqlite ]; then
  dburl=$sqlitedb
  # query prints one value from the store's database; times are unix microseconds here.
  query() { sqlite3 "$sqlitedb" "$1"; }
  medianDue="SELECT strftime('%Y-%m-%d', due_date / 1000000, 'unixepoch') FROM tickets ORDER BY due_date LIMIT 1 OFFSET (SELECT count(*) / 2 FROM tickets)"
  if [ "${REUSE:-}" != "1" ]; then
    rm -f "$sqlitedb" "$sqlitedb-wal" "$sqlitedb-shm"
    echo "== seed $tickets tickets into SQLite   [load before: $(cut -d' ' -f1-3 /proc/loadavg)]"
    /tmp/aiff-bench seed --db "$sqlitedb" --tickets "$tickets" --days 365 --zones 12 --teams 60 2>&1 | tr '\r' '\n' | grep -E "^seeded|error" || true
    echo "   [load after: $(cut -d' ' -f1-3 /proc/loadavg)]"
  fi
else
  dburl=$pgurl/$db
  query() { psqldb -At -c "$1"; }
  medianDue="SELECT to_char(percentile_disc(0.5) WITHIN GROUP (ORDER BY due_date) AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM tickets"
fi
if [ "$store" = postgres ] && [ "${REUSE:-}" != "1" ]; then
  psql -X -q "$pgurl/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  echo "== seed $tickets tickets   [load before: $(cut -d' ' -f1-3 /proc/loadavg)]"
  /tmp/aiff-bench seed --db "$pgurl/$db" --tickets "$tickets" --days 365 --zones 12 --teams 60 2>&1 | tr '\r' '\n' \
    | grep -E "^seeded|error" | tee /tmp/aiff-bench-seed.txt || true
  seedrate=$(grep -oE '\([0-9,]+ rows/s\)' /tmp/aiff-bench-seed.txt | head -1 | tr -dc 0-9)
  echo "   [load after: $(cut -d' ' -f1-3 /proc/loadavg)]"

  # Bare COPY of the same rows, same run. CHECKPOINT first so neither side pays for the
  # other's dirty pages.
  psqldb -c "\copy tickets TO '$dump' WITH (FORMAT binary)"
  psqldb -c "CREATE TABLE bench_copy_bare (LIKE tickets INCLUDING DEFAULTS)" \
    -c "CREATE TABLE bench_copy_indexed (LIKE tickets INCLUDING ALL)" -c "CHECKPOINT"
  for t in bench_copy_bare bench_copy_indexed; do
    start=$(now)
    psqldb -c "\copy $t FROM '$dump' WITH (FORMAT binary)"
    end=$(now)
    copied="$end - $start"
    rows=$(psqldb -At -c "SELECT count(*) FROM $t")
    python3 -c "import sys; r,s=int(sys.argv[1]),float(sys.argv[2]); print(f'bare COPY into {sys.argv[3]}: {r:,} rows in {s:.2f}s ({r/s:,.0f} rows/s); seed/this = {int(sys.argv[4])/(r/s):.3f}')" "$rows" "$(echo "$end - $start" | bc)" "$t" "${seedrate:-0}"
    psqldb -c "CHECKPOINT"
    if [ $t = bench_copy_bare ]; then
      # The seed must also build the table's indexes; so does this reference, to be comparable:
      # the same definitions, the same maintenance_work_mem as hub/postgres BulkLoad.
      start=$(now)
      psqldb -c "SET maintenance_work_mem = '256MB'" -c "DO \$\$ DECLARE r record; BEGIN
        FOR r IN SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'tickets' LOOP
          EXECUTE replace(replace(r.indexdef, ' ON public.tickets ', ' ON public.bench_copy_bare '), r.indexname, 'bench_' || r.indexname);
        END LOOP; END \$\$"
      end=$(now)
      python3 -c "import sys; r,c,s=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'  + building the same {sys.argv[4]} indexes on it: {s:.2f}s; COPY + indexes {r/(c+s):,.0f} rows/s; seed/this = {int(sys.argv[5])/(r/(c+s)):.3f}')" \
        "$rows" "$(echo "$copied" | bc)" "$(echo "$end - $start" | bc)" "$(psqldb -At -c "SELECT count(*) FROM pg_indexes WHERE tablename = 'tickets'")" "${seedrate:-0}"
      psqldb -c "CHECKPOINT"
    fi
  done
  psqldb -c "DROP TABLE bench_copy_bare, bench_copy_indexed"
  rm -f "$dump"
  psqldb -c "VACUUM ANALYZE tickets"
fi

export JWT_SECRET_KEY=bench-secret-bench-secret-bench-secret
/tmp/aiff-bench hub --db "$dburl" --addr 127.0.0.1:$port --rate-limit 0 --data /tmp/aiff-bench-data >/tmp/aiff-bench-hub.log 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null' EXIT
for _ in $(seq 1 120); do curl -sf 127.0.0.1:$port/readyz >/dev/null && break; sleep 0.5; done
token=$(curl -sf -X POST 127.0.0.1:$port/api/auth/login -H 'content-type: application/json' \
  -d '{"username":"dispatcher","password":"demo"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
urlq() { python3 -c 'import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1]))' "$1"; }
zone=$(urlq "$(query "SELECT name FROM zones ORDER BY name LIMIT 1")")
# A rare text: one ticket's full address (street, house number, postcode), in a handful of rows.
rare=$(urlq "$(query "SELECT location FROM tickets WHERE number = $((tickets / 3))")")
number=$(printf 'TKT-%06d' $((tickets / 2)))
# A due date in the middle of the seeded year: half the tickets are due before it.
due=$(query "$medianDue")
echo "== list, $store, $(query "SELECT count(*) FROM tickets") tickets, wrk -t2 -c50 -d$duration"

run() {
  name=$1 path=$2
  case "$name" in *"${ONLY:-}"*) ;; *) return ;; esac
  curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port$path" || { echo "== $name: $path fails"; return; }
  echo "== $name  $path   [load: $(cut -d' ' -f1-3 /proc/loadavg)]"
  wrk -t2 -c50 -d"$duration" --timeout 10s --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$port$path" \
    | grep -E "Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors"
}
run default "/api/tickets"
run status_open "/api/tickets?status=open"
run zone_active_due "/api/tickets?status=open,assigned&zone=$zone&sort=due_date"
run critical_updated "/api/tickets?priority=critical&sort=-updated_at&limit=20"
run sort_priority "/api/tickets?sort=-priority"
run due_before "/api/tickets?due_before=$due"
run search_common "/api/tickets?q=hydrant&limit=20"
run search_rare "/api/tickets?q=$rare"
run search_none "/api/tickets?q=zzqxv"
run search_number "/api/tickets?q=$number"
