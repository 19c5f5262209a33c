#!/usr/bin/env bash
# prefer-arena load benchmark, loopback only and bounded: `prefer arena serve` (demo
# outputs, K = 4) on SQLite and on PostgreSQL; the load generator (examples/loadgen.rs)
# starts a battle and votes on it with N concurrent voters, each from its own 127.x
# address, for SECONDS per level; then the refresh benchmark at 1,000,000 votes.
#
#   bench/arena/run.sh                 # SQLite, and PostgreSQL when PG_URL is reachable
#   SECONDS_PER_LEVEL=20 LEVELS="4 16 64" bench/arena/run.sh
#
# PG_URL must name an empty database the script may fill (default below; create it with
#   su postgres -c "createdb -O prefer arena_bench_load").
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_LEVEL="${SECONDS_PER_LEVEL:-15}"
LEVELS="${LEVELS:-4 16 64 100}"
PG_URL="${PG_URL:-postgres://prefer:prefer@127.0.0.1:5432/arena_bench_load}"
PORT="${PORT:-18431}"
cargo build --release -p prefer-cli -p prefer-arena --examples --bin prefer >/dev/null
T="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

run_backend() {
    local name=$1 db=$2
    "$T/prefer" arena serve --demo --db "$db" --k 4 --addr "127.0.0.1:$PORT" \
        --rate-per-minute 100000 --burst 1000 --bootstrap 100 --refit-every 10 2>"$work/server.log" &
    server=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    for c in $LEVELS; do
        "$T/examples/loadgen" --url "http://127.0.0.1:$PORT" --concurrency "$c" \
            --seconds "$SECONDS_PER_LEVEL" --label "$name "
    done
    kill "$server"; wait "$server" 2>/dev/null || true
}

echo "== load (K = 4, demo outputs; $(nproc) cores shared by server and load generator)"
run_backend sqlite "$work/load.db"
if command -v psql >/dev/null && psql "$PG_URL" -qc "DROP TABLE IF EXISTS votes, battles, outputs, models, voter_flags, arena_meta, arena_migrations" 2>/dev/null; then
    run_backend postgres "$PG_URL"
else
    echo "postgres: skipped ($PG_URL not reachable)"
fi

echo "== refresh at 1,000,000 votes"
"$T/examples/refresh" --db "$work/refresh.db" --votes 1000000
if psql "$PG_URL" -qc "DROP TABLE IF EXISTS votes, battles, outputs, models, voter_flags, arena_meta, arena_migrations" 2>/dev/null; then
    "$T/examples/refresh" --db "$PG_URL" --votes 1000000
fi
