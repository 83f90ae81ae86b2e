#!/usr/bin/env bash
# statement_timeout and pg_cancel_backend stop training; nothing is written; progress (NOTICEs,
# live epochs in mkt.training_log) is reported meanwhile.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model

start=$(date +%s%N)
err=$(psql -X -qAt -c "SET statement_timeout = '2.5s'" -c "SET mkt.progress_interval = 1" \
  -c "SELECT * FROM mkt.train_recommender('slow', 'tr', params => '{\"iterations\": 10000}')" 2>&1)
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "canceling statement due to statement timeout" <<< "$err" && ok "statement_timeout cancels training" \
  || fail "statement_timeout: $err"
grep -q "NOTICE:  pg_marketing: als" <<< "$err" && ok "long training reports progress" \
  || fail "no progress NOTICE: $err"
[ "$elapsed_ms" -lt 6500 ] && ok "training stopped after ${elapsed_ms} ms" || fail "training took ${elapsed_ms} ms to stop"
check "no catalog rows for the cancelled model" "0" "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'slow'")"

psql -X -qAt -c "SELECT * FROM mkt.train_recommender('slow', 'tr', params => '{\"iterations\": 10000}')" \
  > "$CLUSTER_DIR/cancel.out" 2>&1 &
bg=$!
pid=$(backend_of slow)
sleep 0.5
q "SELECT pg_cancel_backend($pid)" > /dev/null
wait $bg
grep -q "canceling statement due to user request" "$CLUSTER_DIR/cancel.out" && ok "pg_cancel_backend cancels training" \
  || fail "pg_cancel_backend: $(cat "$CLUSTER_DIR/cancel.out")"

# Neural training shows its epochs to other sessions while it runs; a cancel leaves nothing.
psql -X -qAt -c "SELECT * FROM mkt.train_recommender('deep', 'tr', algorithm => 'neural', params => '{\"epochs\": 100000, \"patience\": 100000, \"dim\": 16, \"hidden\": 16}')" \
  > "$CLUSTER_DIR/deep.out" 2>&1 &
bg=$!
running=0
for _ in $(seq 300); do
  running=$(q "SELECT count(*) FROM mkt.training_log WHERE model_name = 'deep' AND state = 'running'")
  [ "$running" -ge 2 ] && break; sleep 0.1
done
[ "$running" -ge 2 ] && ok "another session reads the running training's epochs ($running so far)" \
  || fail "no live epochs of the running training"
check "live epochs carry loss and validation ndcg" "t" \
  "$(q "SELECT bool_and(loss > 0 AND validation_ndcg BETWEEN 0 AND 1) FROM mkt.training_log WHERE model_name = 'deep'")"
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%train_recommender(''deep''%' AND pid <> pg_backend_pid()" > /dev/null
wait $bg || true
grep -q "canceling statement due to user request" "$CLUSTER_DIR/deep.out" && ok "pg_cancel_backend cancels neural training" \
  || fail "neural cancel: $(cat "$CLUSTER_DIR/deep.out")"
check "a cancelled training leaves no live rows and no version" "0|0" \
  "$(q "SELECT (SELECT count(*) FROM mkt.training_log WHERE model_name = 'deep') || '|' || (SELECT count(*) FROM mkt.model_versions WHERE model_name = 'deep')")"
finish cancel
