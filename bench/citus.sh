#!/usr/bin/env bash
# Scaling out on Citus: pgbench against the coordinator, each call routed to the worker holding
# the customer's shard. The same data and model are measured with one worker (the baseline), then
# with a second worker added and the shards rebalanced. Prints a SKIPPED line without citus.so.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/citus.sh
if ! citus_available; then
  echo "citus: SKIPPED (citus.so is not installed; see README 'Scaling out with Citus')"
  exit 0
fi
trap citus_stop EXIT
citus_start 1
DURATION=${BENCH_SECONDS:-20}
CLIENTS=${BENCH_CLIENTS:-8}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }

q "CREATE EXTENSION pg_marketing"
q "SELECT 1 FROM mkt.demo_data(4)" > /dev/null 2>&1
q "SELECT create_distributed_table('mkt_demo.users', 'user_id')" > /dev/null 2>&1
q "SELECT create_distributed_table('mkt_demo.events', 'user_id', colocate_with => 'mkt_demo.users')" > /dev/null 2>&1
q "SELECT count(*) FROM mkt.citus_setup('mkt_demo.users')" > /dev/null
q "SELECT 1 FROM mkt.train_recommender('m', 'mkt_demo.events', algorithm => 'als', params => '{\"factors\": 64}')" > /dev/null
q "SELECT mkt.create_policy('offers', ARRAY['a', 'b', 'c', 'd'], 'thompson')" > /dev/null
USERS=$(q "SELECT max(user_id) FROM mkt_demo.users")
echo "data: $(q "SELECT count(*) FROM mkt_demo.events") interactions, $USERS customers; ALS 64 factors; $CLIENTS clients, $DURATION s per run"
printf '\\set u random(1, %s)\nSELECT * FROM mkt.recommend('"'m'"', :u, 10);\n' "$USERS" > "$CITUS_DIR/recommend.sql"
printf '\\set u random(1, %s)\nSELECT decision_id FROM mkt.decide('"'offers'"', '"'{}'"', '"'c:u'"');\n' "$USERS" > "$CITUS_DIR/decide.sql"

tps() { # script
  pgbench -n -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "$CITUS_DIR/$1" 2>&1 | awk '/^tps/ {printf "%.0f", $3}'
}
rec1=$(tps recommend.sql); dec1=$(tps decide.sql)
echo "1 worker:  recommend_tps=$rec1 decide_tps=$dec1"

citus_add_worker
q "SELECT count(*) FROM mkt.citus_setup('mkt_demo.users')" > /dev/null
q "SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')" > /dev/null 2>&1
q "SELECT citus_rebalance_wait()" > /dev/null
echo "shards per worker: $(q "SELECT string_agg(n::text, '/' ORDER BY port) FROM (SELECT nodeport AS port, count(*) AS n FROM pg_dist_shard_placement p JOIN pg_dist_shard s USING (shardid) WHERE s.logicalrelid = 'mkt_demo.users'::regclass GROUP BY 1) x")"
rec2=$(tps recommend.sql); dec2=$(tps decide.sql)
echo "2 workers: recommend_tps=$rec2 decide_tps=$dec2"
echo "ratio(2 workers / 1 worker) recommend=$(awk "BEGIN{printf \"%.2f\", $rec2/$rec1}") decide=$(awk "BEGIN{printf \"%.2f\", $dec2/$dec1}") ($(nproc) cores shared by all three nodes and pgbench)"
