#!/usr/bin/env bash
# Serving a sequential model (10k items, dim 64, 50 positions, 8 clients) against pgbench's
# select-only rate on the same cluster:
# - mkt.recommend with params.history_source: each call reads the user's latest 50 events from an
#   indexed table (a kept plan; the index the training NOTICE suggests, which INCLUDEs the item, and
#   a vacuumed table, so the read is an index-only scan) and runs the network over them;
# - mkt.recommend from the history kept in training, and mkt.recommend_next for a session.
# Training runs one epoch: serving speed does not depend on how well the model ranks.
# Expects a release build installed (make install-release).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. bench/lib.sh
trap cluster_stop EXIT
cluster_start "shared_buffers = '512MB'"
CLIENTS=${BENCH_CLIENTS:-8}
DURATION=${BENCH_SECONDS:-5}
USERS=${SEQ_USERS:-5000}
ITEMS=${SEQ_ITEMS:-10000}

q "CREATE EXTENSION pg_marketing"
pgbench -i -q -s 10 > /dev/null 2>&1

# Every item once, then 60 events per user: walks through the catalogue in time order.
q "CREATE TABLE hist AS
   SELECT (g % $USERS) + 1 AS user_id, g::bigint AS item_id, timestamptz '2026-01-01' AS ts
   FROM generate_series(0, $ITEMS - 1) g
   UNION ALL
   SELECT u, ((u * 37 + t * (1 + u % 5)) % $ITEMS)::bigint, timestamptz '2026-01-02' + t * interval '1 minute'
   FROM generate_series(1, $USERS) u, generate_series(1, 60) t;
   CREATE INDEX ON hist (user_id, ts DESC) INCLUDE (item_id)"
q "VACUUM ANALYZE hist"
train() { # name, extra params
  local started
  started=$(date +%s%N)
  psql -X -qAt -v ON_ERROR_STOP=1 -c "SET mkt.progress_interval = 0" -c "SET mkt.max_memory_mb = 8192" \
    -c "SELECT count(*) FROM mkt.train_recommender('$1', 'hist', algorithm => 'sequential',
          params => '{\"time_col\": \"ts\", \"dim\": 64, \"max_length\": 50, \"epochs\": 1$2}')" > /dev/null
  echo "trained $1 ($USERS users, $ITEMS items, 1 epoch) in $(ms "$started") ms"
}
train seq_live ', "history_source": "hist"'
train seq_kept ''

script() { # name, sql body -> file
  printf '\\set uid random(1, %s)\n%s\n' "$USERS" "$2" > "$CLUSTER_DIR/$1.sql"
  echo "$CLUSTER_DIR/$1.sql"
}
rate() { pgbench -n "$@" -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" 2>&1 | awk '/^tps/ {print $3; exit}'; }
# The machine's speed drifts by a fifth within minutes, so each call is measured in three rounds
# that alternate with pgbench's select-only, and the ratio is of the two means.
paired() { # name, script -> "select_only_tps tps ratio"
  local a=0 b=0 i
  for i in 1 2 3; do
    a=$(awk "BEGIN{print $a + $(rate -S) / 3}")
    b=$(awk "BEGIN{print $b + $(rate -f "$2") / 3}")
  done
  awk "BEGIN{printf \"select_only_tps=%.0f $1_tps=%.0f ratio($1/select_only)=%.2f\", $a, $b, $b / $a}"
}
echo "$CLIENTS clients, ${DURATION}s rounds"
echo "$(paired recommend_live_history "$(script live "SELECT * FROM mkt.recommend('seq_live', :uid::bigint, 10);")") target>=0.3"
paired recommend_training_history "$(script kept "SELECT * FROM mkt.recommend('seq_kept', :uid::bigint, 10);")"; echo
paired recommend_next "$(script next "SELECT * FROM mkt.recommend_next('seq_live', ARRAY[:uid, :uid + 1, :uid + 2]::bigint[], 10);")"; echo
# The live path reads what was just written: a new event changes the next answer.
before=$(q "SELECT array_agg(item_id ORDER BY rank) FROM mkt.recommend('seq_live', 1, 5)")
q "INSERT INTO hist VALUES (1, 4242, now()), (1, 4243, now() + interval '1 second')"
after=$(q "SELECT array_agg(item_id ORDER BY rank) FROM mkt.recommend('seq_live', 1, 5)")
echo "user 1 before two new events: $before; after: $after"
