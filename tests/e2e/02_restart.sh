#!/usr/bin/env bash
# Models (a recommender, a predictor, a multiclass predictor) survive a restart; a job running across one shows failed and the deployed model serves.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model

before=$(q "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")
cluster_restart
after=$(q "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")
dcheck "recommendations are identical after a restart" "$before" "$after"

q "CREATE TABLE buyers AS SELECT u.user_id, u.segment, u.region, u.age_band,
   (EXISTS (SELECT 1 FROM mkt_demo.events e WHERE e.user_id = u.user_id AND e.event_type = 'purchase'))::int AS bought
   FROM mkt_demo.users u" > /dev/null
q "SELECT 1 FROM mkt.train_predictor('buy', 'buyers', 'bought', ARRAY['segment', 'region', 'age_band'])" > /dev/null
q "SELECT 1 FROM mkt.train_predictor('seg', 'buyers', 'segment', ARRAY['region', 'age_band', 'bought'], 'multiclass')" > /dev/null
scores="SELECT md5(string_agg(key || ':' || score, ',' ORDER BY key)) FROM mkt.predict_all('buy', 'buyers', 'user_id')"
classes="SELECT md5(string_agg(key || ':' || class || ':' || probability, ',' ORDER BY key)) FROM mkt.predict_class_all('seg', 'buyers', 'user_id')"
before=$(q "$scores")
before_classes=$(q "$classes")
cluster_restart
dcheck "predictions are identical after a restart" "$before" "$(q "$scores")"
dcheck "a multiclass predictor's classes and probabilities are identical after a restart" "$before_classes" "$(q "$classes")"

job=$(q "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''restarted'', ''tr'', algorithm => ''neural'', params => ''{\"epochs\": 100000, \"patience\": 100000, \"dim\": 16, \"hidden\": 16}'')')")
poll running 100 "SELECT state FROM mkt.jobs WHERE job_id = $job" > /dev/null
cluster_restart
check "a job running across a server restart shows failed, and the deployed model still serves" "failed|3" \
  "$(q "SELECT state FROM mkt.jobs WHERE job_id = $job")|$(q "SELECT count(*) FROM mkt.recommend('m', 7, 3)")"
finish restart
