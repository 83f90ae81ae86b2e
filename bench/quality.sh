#!/usr/bin/env bash
# Recommendation quality on MovieLens-100K, every algorithm with its default params (and three
# tuned with mkt.tune_recommender on a validation split carved from the training part), under the
# protocol the README describes (md5-ordered per-user 20% test split, Recall@10 and NDCG@10 over
# every catalogue item not in the user's training set). The data comes from the PyPI wheel of
# recbole at run time and is never stored in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
. bench/lib.sh
ml100k_start
q "CREATE TABLE ml_users (user_id bigint, age float8, gender text, occupation text, zip_code text)"
tail -n +2 "$DATA/ml-100k.user" | psql -X -q -c "COPY ml_users FROM STDIN"
q "CREATE TABLE ml_items AS SELECT item_id, mkt.try_float8(release_year) AS release_year, split_part(class, ' ', 1) AS genre, nullif(split_part(class, ' ', 2), '') AS genre2, nullif(split_part(class, ' ', 3), '') AS genre3 FROM ml_items_raw"
psql -X -q -f bench/quality.sql > /dev/null
echo "data: $(q "SELECT count(*) || ' interactions, ' || count(DISTINCT user_id) || ' users, ' || count(DISTINCT item_id) || ' items; test: ' || (SELECT count(*) FROM ml_test) FROM ml_all")"

FEATURES='"user_features": {"source": "ml_users", "key": "user_id", "columns": ["age", "gender", "occupation"]}, "item_features": {"source": "ml_items", "key": "item_id", "columns": ["release_year", "genre"]}'
EASE_FEATURES='"item_features": {"source": "ml_items", "key": "item_id", "columns": ["genre", "genre2", "genre3", "release_year"]}'
printf '%-26s %9s %9s %9s %9s %8s\n' model "ndcg@10" "recall@10" "ref_ndcg" "ref_rec" seconds
run() {  # name algorithm params reference-ndcg reference-recall [source]
  local secs m
  secs=$(q "SELECT round(train_seconds::numeric, 1) FROM mkt.train_recommender('q_$1', '${6:-ml_train}', algorithm => '$2', params => '$3')")
  m=$(q "SELECT round((max(value) FILTER (WHERE metric = 'ndcg@10'))::numeric, 4) || ' ' || round((max(value) FILTER (WHERE metric = 'recall@10'))::numeric, 4) FROM mkt.evaluate_recommender('q_$1', 'ml_test', 10)")
  printf '%-26s %9s %9s %9s %9s %8s\n' "$1" ${m% *} ${m#* } "$4" "$5" "$secs"
}
run popularity popularity '{}' 0.220 -
run item_knn item_knn '{}' 0.353 -
run als als '{}' 0.436 0.420
run ease ease '{}' 0.428 0.410
run bpr bpr '{}' 0.337 -
run ease_time ease '{"time_col": "ts"}' 0.428 0.410 ml_train_ts
run ease_time_features ease "{\"time_col\": \"ts\", $EASE_FEATURES}" 0.428 0.410 ml_train_ts
run neural neural '{}' 0.296 -
run neural_features neural "{$FEATURES}" 0.296 -
run neumf neumf '{"epochs": 20}' - -
run neural_distilled neural '{"teacher": "q_ease_time_features"}' 0.296 -
run neural_features_distilled neural "{\"teacher\": \"q_ease_time_features\", $FEATURES}" 0.296 -
tuned() {  # name algorithm search reference-ndcg reference-recall [source]
  local t0 m
  t0=$(date +%s)
  q "SELECT count(*) FROM mkt.tune_recommender('q_$1', '${6:-ml_train}', algorithm => '$2', search => '$3')" > /dev/null
  m=$(q "SELECT round((max(value) FILTER (WHERE metric = 'ndcg@10'))::numeric, 4) || ' ' || round((max(value) FILTER (WHERE metric = 'recall@10'))::numeric, 4) FROM mkt.evaluate_recommender('q_$1', 'ml_test', 10)")
  printf '%-26s %9s %9s %9s %9s %8s\n' "$1" ${m% *} ${m#* } "$4" "$5" "$(( $(date +%s) - t0 ))"
  q "SELECT '    best of ' || count(*) || ' trials: ' || (SELECT params::text FROM mkt.tuning_trials t2 WHERE t2.model_id = t.model_id ORDER BY value DESC, trial LIMIT 1) FROM mkt.tuning_trials t JOIN mkt.model_versions v USING (model_id) WHERE v.model_name = 'q_$1' GROUP BY t.model_id"
}
tuned als_tuned als '{"params": {"factors": [64, 128], "regularization": [1, 10, 100], "alpha": [1, 3, 10]}}' 0.436 0.420
tuned ease_tuned ease '{"params": {"regularization": [50, 100, 250, 500, 1000]}}' 0.428 0.410
tuned ease_time_features_tuned ease "{\"params\": {\"regularization\": [250, 500], \"time_weight\": [1, 2, 4], \"feature_weight\": [5, 10, 20], \"dropout\": [0.25, 0.5]}, \"base\": {\"time_col\": \"ts\", $EASE_FEATURES}}" 0.428 0.410 ml_train_ts
tuned neural_tuned neural '{"params": {"dim": [32, 64, 128], "hidden": [32, 64, 128], "learning_rate": {"min": 0.001, "max": 0.01, "log": true}}, "trials": 8}' 0.296 -
echo "references: implicit ALS tuned on a wide grid, EASE, item-kNN, implicit BPR, a PyTorch two-tower, popularity (same protocol)"
