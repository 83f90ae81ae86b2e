#!/usr/bin/env bash
# Next items on MovieLens-100K under a time-ordered hold-out: for each user with n >= 5 ratings,
# the last floor(n/5) by time (ties by item id) are test and the earlier ones train. EASE (default
# params, then with its time decay) against 'sequential' (default params, attention and 'gru', then
# with item features: the first genre, or the description embedded by mkt.embed),
# NDCG@10 and Recall@10 over every catalogue item not in the user's training set
# (mkt.evaluate_recommender). Then leave-one-out: each user's last rating is test, NDCG@10 and
# HR@10 (Recall@10 with one test item) with full ranking, the protocol RecBole reports
# (bench/sequence_peers.py runs its SASRec and GRU4Rec on the same file where torch installs).
# The data comes from the PyPI wheel of recbole at run time, as in bench/quality.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. bench/lib.sh
ml100k_start
q "CREATE TABLE ml_ordered AS
   SELECT user_id, item_id, ts, row_number() OVER (PARTITION BY user_id ORDER BY ts, item_id) AS rn,
          count(*) OVER (PARTITION BY user_id) AS n
   FROM (SELECT user_id, item_id, min(ts) AS ts FROM ml_raw GROUP BY 1, 2) d"
q "CREATE TABLE ml_train AS SELECT user_id, item_id, ts FROM ml_ordered WHERE n < 5 OR rn <= n - n / 5;
   CREATE TABLE ml_test AS SELECT user_id, item_id FROM ml_ordered WHERE n >= 5 AND rn > n - n / 5"
echo "data: $(q "SELECT (SELECT count(*) FROM ml_train) || ' train, ' || (SELECT count(*) FROM ml_test) || ' test interactions'")"
printf '%-22s %9s %9s %8s\n' model "ndcg@10" "recall@10" seconds
run() {  # name algorithm params [train test]
  local secs m train=${4:-ml_train} test=${5:-ml_test}
  secs=$(q "SET mkt.progress_interval = 0; SELECT round(train_seconds::numeric, 1) FROM mkt.train_recommender('s_$1', '$train', algorithm => '$2', params => '$3')")
  m=$(q "SELECT round((max(value) FILTER (WHERE metric = 'ndcg@10'))::numeric, 4) || ' ' || round((max(value) FILTER (WHERE metric = 'recall@10'))::numeric, 4) FROM mkt.evaluate_recommender('s_$1', '$test', 10)")
  printf '%-22s %9s %9s %8s\n' "$1" ${m% *} ${m#* } "$secs"
}
run popularity popularity '{}'
run ease ease '{}'
run ease_time ease '{"time_col": "ts"}'
run sequential sequential '{"time_col": "ts"}'
run sequential_gru sequential '{"time_col": "ts", "architecture": "gru"}'
# Sampled softmax (the default above 10,000 items) forced on this 1682-item catalogue.
run sequential_sampled sequential '{"time_col": "ts", "negatives": 256}'
# Item features: the first genre, or the movie's description embedded by mkt.embed.
q "CREATE TABLE ml_items AS SELECT item_id, title || coalesce(' (' || release_year || ')', '') || '. ' || replace(class, ' ', ', ') AS description, split_part(class, ' ', 1) AS genre FROM ml_items_raw"
run sequential_genre sequential '{"time_col": "ts", "item_features": {"source": "ml_items", "key": "item_id", "columns": ["genre"]}}'
run sequential_text sequential '{"time_col": "ts", "item_features": {"source": "ml_items", "key": "item_id", "text_columns": ["description"]}}'
q "SELECT '    sequential: ' || count(*) || ' epochs, best ' || (SELECT epoch FROM mkt.training_log l2 WHERE l2.model_id = l.model_id ORDER BY metric LIMIT 1) FROM mkt.training_log l JOIN mkt.model_versions v USING (model_id) WHERE v.model_name = 's_sequential' GROUP BY l.model_id" 2> /dev/null || true

echo "== leave-one-out: each user's last rating (by time, ties by item id) is test"
q "CREATE TABLE loo_train AS SELECT user_id, item_id, ts FROM ml_ordered WHERE rn < n;
   CREATE TABLE loo_test AS SELECT user_id, item_id FROM ml_ordered WHERE rn = n AND n > 1"
printf '%-22s %9s %9s %8s\n' model "ndcg@10" "hr@10" seconds
run loo_popularity popularity '{}' loo_train loo_test
run loo_ease ease '{}' loo_train loo_test
run loo_sequential sequential '{"time_col": "ts"}' loo_train loo_test
run loo_sequential_gru sequential '{"time_col": "ts", "architecture": "gru"}' loo_train loo_test
