#!/usr/bin/env bash
# pg_cron drives retraining through a job: a schedule every minute submits mkt.retrain, a worker
# runs it, and a new version is deployed; a customer value model and a predictor the same way, in
# the same minute.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster "shared_preload_libraries = 'pg_cron'" "cron.database_name = 'postgres'"
setup_demo_model
q "CREATE EXTENSION pg_cron" > /dev/null
q "SELECT 1 FROM mkt.train_clv('clv', 'tr', 'user_id', 'ts', params => '{\"period\": \"day\"}')" > /dev/null
q "CREATE TABLE buyers AS SELECT u.user_id, u.segment, u.region, u.age_band,
   (EXISTS (SELECT 1 FROM mkt_demo.events e WHERE e.user_id = u.user_id AND e.event_type = 'purchase'))::int AS bought
   FROM mkt_demo.users u" > /dev/null
q "SELECT 1 FROM mkt.train_predictor('buy', 'buyers', 'bought', ARRAY['segment', 'region', 'age_band'])" > /dev/null
before=$(q "SELECT max(version) FROM mkt.model_versions WHERE model_name = 'm'")
q "SELECT cron.schedule('retrain-m', '* * * * *', \$\$SELECT mkt.submit_job('SELECT * FROM mkt.retrain(''m'', ''always'')')\$\$)" > /dev/null
q "SELECT cron.schedule('retrain-clv', '* * * * *', \$\$SELECT mkt.submit_job('SELECT * FROM mkt.retrain(''clv'', ''always'')')\$\$)" > /dev/null
q "SELECT cron.schedule('retrain-buy', '* * * * *', \$\$SELECT mkt.submit_job('SELECT * FROM mkt.retrain(''buy'', ''always'')')\$\$)" > /dev/null
after=$before
for _ in $(seq 150); do
  after=$(q "SELECT max(version) FROM mkt.model_versions WHERE model_name = 'm'")
  [ "$after" -gt "$before" ] && break; sleep 0.5
done
[ "$after" -gt "$before" ] && ok "pg_cron's scheduled job retrained 'm' in a worker (version $before -> $after)" \
  || fail "no new version of 'm' from pg_cron: $(q "SELECT string_agg(status || ' ' || coalesce(return_message, ''), '; ') FROM cron.job_run_details")"
state=$(poll succeeded 100 "SELECT state FROM mkt.jobs WHERE command LIKE '%retrain%' ORDER BY job_id DESC LIMIT 1")
check "the retrain job succeeded and was deployed" "succeeded|$after" \
  "$state|$(q "SELECT version FROM mkt.models WHERE model_name = 'm' AND deployed")"
clv=$(poll succeeded 300 "SELECT state FROM mkt.jobs WHERE command LIKE '%retrain(''clv''%' ORDER BY job_id DESC LIMIT 1")
check "the customer value model was retrained by pg_cron too, and deployed" "succeeded|2" \
  "$clv|$(q "SELECT version FROM mkt.models WHERE model_name = 'clv' AND deployed")"
buy=$(poll succeeded 300 "SELECT state FROM mkt.jobs WHERE command LIKE '%retrain(''buy''%' ORDER BY job_id DESC LIMIT 1")
check "the predictor was retrained by pg_cron too, and deployed" "succeeded|2" \
  "$buy|$(q "SELECT version FROM mkt.models WHERE model_name = 'buy' AND deployed")"
q "SELECT cron.unschedule('retrain-m'), cron.unschedule('retrain-clv'), cron.unschedule('retrain-buy')" > /dev/null
finish pg_cron
