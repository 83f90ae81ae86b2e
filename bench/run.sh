#!/usr/bin/env bash
# pg_marketing benchmark: every number is a ratio against a baseline measured in the same run, on
# the same machine and cluster. Expects a release build installed (make bench does that).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
trap cluster_stop EXIT
cluster_start "shared_buffers = '512MB'" "max_wal_size = '4GB'"
THREADS=$(nproc)
DURATION=${BENCH_SECONDS:-20}
CLIENTS=${BENCH_CLIENTS:-$THREADS}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

q "CREATE EXTENSION pg_marketing"
psql -X -q -v ON_ERROR_STOP=1 -f bench/data.sql > /dev/null
echo "data: $(q "SELECT count(*) || ' interactions, ' || count(DISTINCT user_id) || ' users, ' || count(DISTINCT item_id) || ' items' FROM bench_events")"
echo "threads: $THREADS"

echo "== read: COPY vs. reading into a model (popularity = read + id mapping)"
t=$(date +%s%N); q "COPY (SELECT user_id, item_id FROM bench_events) TO '/dev/null'"; copy_ms=$(ms $t)
t=$(date +%s%N); q "SELECT 1 FROM mkt.train_recommender('bench_pop', 'bench_events', algorithm => 'popularity')" > /dev/null; read_ms=$(ms $t)
echo "copy_ms=$copy_ms read_ms=$read_ms ratio(copy/read)=$(awk "BEGIN{printf \"%.2f\", $copy_ms/$read_ms}") target>=0.5"

echo "== training: ALS, 64 factors, 15 iterations"
P='{"factors": 64, "iterations": 15, "regularization": 1.0, "alpha": 5.0}'
train_s=$(psql -X -qAt -v ON_ERROR_STOP=1 -c "SET mkt.threads = $THREADS" \
  -c "SELECT train_seconds FROM mkt.train_recommender('bench_als', 'bench_events', algorithm => 'als', params => '$P')")
echo "pg_marketing_als_seconds=$train_s (read + train + store) interactions*iterations/s=$(awk "BEGIN{printf \"%.0f\", 1000000*15/$train_s}")"
PY=${BENCH_PYTHON:-bench/.venv/bin/python}
if [ ! -x "$PY" ] && command -v python3 > /dev/null; then
  python3 -m venv bench/.venv && bench/.venv/bin/pip install -q implicit scipy numpy threadpoolctl || true
fi
if [ -x "$PY" ] && "$PY" -c "import implicit" 2> /dev/null; then
  csv="$CLUSTER_DIR/events.csv"
  q "COPY bench_events TO '$csv' (FORMAT csv)"
  implicit_s=$("$PY" bench/implicit_als.py "$csv" 64 15 1.0 5.0 "$THREADS")
  echo "implicit_als_seconds=$implicit_s (fit only) ratio(implicit/ours)=$(awk "BEGIN{printf \"%.2f\", $implicit_s/$train_s}") target>=1.0"
else
  echo "implicit: not available (pip install implicit to compare)"
fi

echo "== training: BPR, 64 factors, 20 iterations (samples = distinct interactions x iterations)"
B='{"factors": 64, "iterations": 20, "learning_rate": 0.05, "regularization": 0.01}'
bpr_s=$(psql -X -qAt -v ON_ERROR_STOP=1 -c "SET mkt.threads = $THREADS" \
  -c "SELECT train_seconds FROM mkt.train_recommender('bench_bpr', 'bench_events', algorithm => 'bpr', params => '$B')")
nnz=$(q "SELECT count(*) FROM (SELECT DISTINCT user_id, item_id FROM bench_events) d")
echo "pg_marketing_bpr_seconds=$bpr_s (read + train + store) samples/s=$(awk "BEGIN{printf \"%.0f\", $nnz*20/$bpr_s}")"
if [ -x "$PY" ] && "$PY" -c "import implicit" 2> /dev/null; then
  implicit_bpr_s=$("$PY" bench/implicit_bpr.py "$csv" 64 20 0.05 0.01 "$THREADS")
  echo "implicit_bpr_seconds=$implicit_bpr_s (fit only) samples/s=$(awk "BEGIN{printf \"%.0f\", $nnz*20/$implicit_bpr_s}") ratio(ours/implicit samples/s)=$(awk "BEGIN{printf \"%.2f\", $implicit_bpr_s/$bpr_s}") target>=1.0"
fi

echo "== serving: pgbench, $CLIENTS clients, ${DURATION}s each"
pgbench -i -q -s 10 > /dev/null 2>&1
script="$CLUSTER_DIR/recommend.sql"
printf '\\set uid random(1, 50000)\nSELECT * FROM mkt.recommend(%s, :uid::bigint, 10);\n' "'bench_als'" > "$script"
sel=$(pgbench -n -S -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" 2>&1 | awk '/^tps/ {print $3; exit}')
rec=$(pgbench -n -f "$script" -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" 2>&1 | awk '/^tps/ {print $3; exit}')
echo "select_only_tps=$sel recommend_tps=$rec ratio(recommend/select_only)=$(awk "BEGIN{printf \"%.2f\", $rec/$sel}") target>=0.5"
