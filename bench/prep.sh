#!/usr/bin/env bash
# Data-preparation benchmark: profile and clean a 5M-row synthetic events table; profile against
# the same statistics computed by plain SQL aggregates in one query, in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. bench/lib.sh
trap cluster_stop EXIT
cluster_start "shared_buffers = '512MB'" "max_wal_size = '4GB'" "work_mem = '64MB'" "mkt.max_memory_mb = 256"
ROWS=${BENCH_PREP_ROWS:-5000000}
q "CREATE EXTENSION pg_marketing"
q "SELECT setseed(0.3); CREATE TABLE bench_raw AS
   SELECT (random() * 100000)::bigint AS user_id, (10000 * power(random(), 2.5))::bigint AS item_id,
          (ARRAY['view', 'cart', 'purchase'])[1 + floor(random() * random() * 3)::int] AS event_type,
          CASE WHEN random() < 0.05 THEN NULL ELSE round((random() * 100)::numeric, 2) END AS value,
          timestamptz '2026-01-01' + random() * interval '90 days' AS ts
   FROM generate_series(1, $ROWS); ANALYZE bench_raw" > /dev/null
echo "rows: $ROWS, work_mem 64MB (plain SQL), mkt.max_memory_mb 256 (pg_marketing)"
peak() { echo "$(peak_mb "$1") MB"; }
t=$(date +%s%N); mem=$(peak "SELECT count(*) FROM mkt.profile('bench_raw');"); prof_ms=$(ms $t)
plain="SELECT count(*)"
for c in user_id item_id value; do
  plain="$plain, count($c), count(DISTINCT $c), min($c), max($c), avg($c::float8), stddev_samp($c::float8),
         percentile_cont(ARRAY[0.25, 0.5, 0.75]) WITHIN GROUP (ORDER BY $c::float8)"
done
for c in event_type ts; do plain="$plain, count($c), count(DISTINCT $c), min($c), max($c)"; done
t=$(date +%s%N); q "$plain FROM bench_raw" > /dev/null; plain_ms=$(ms $t)
echo "profile_ms=$prof_ms plain_sql_ms=$plain_ms ratio(plain/profile)=$(awk "BEGIN{printf \"%.2f\", $plain_ms/$prof_ms}") target>=0.5 rows/s=$(awk "BEGIN{printf \"%.0f\", $ROWS*1000/$prof_ms}") peak_backend_memory=$mem"
t=$(date +%s%N)
mem=$(peak "SELECT count(*) FROM mkt.clean('bench_raw', 'bench_clean', '{\"dedupe_on\": [\"user_id\", \"item_id\", \"event_type\"], \"keep\": \"last\", \"order_by\": \"ts\", \"nulls\": {\"value\": \"median\"}, \"outliers\": {\"value\": {\"method\": \"iqr\", \"action\": \"clip\"}}}');")
clean_ms=$(ms $t)
echo "clean_ms=$clean_ms rows/s=$(awk "BEGIN{printf \"%.0f\", $ROWS*1000/$clean_ms}") peak_backend_memory=$mem output_rows=$(q "SELECT count(*) FROM bench_clean")"
