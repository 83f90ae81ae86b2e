#!/usr/bin/env bash
# statement_timeout stops every long function promptly (1 s timeout, each call would run far
# longer): the error is 57014 and the call returns within 1 s of the timeout, leaving no version.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model
setup_policy
q "CREATE TABLE wide AS SELECT u AS user_id, (u * 7919 + n * 104729) % 4000 AS item_id
   FROM generate_series(1, 20000) u, generate_series(1, 8) n;
   CREATE VIEW endless AS SELECT g AS user_id, g % 1000 AS item_id, g::float8 AS value FROM generate_series(1, 1000000000) g;
   CREATE VIEW endless_log AS SELECT jsonb_build_object('segment', g % 3) AS context, 'a' AS action,
     (g % 2)::float8 AS reward, 0.5::float8 AS propensity, 0.3::float8 AS target FROM generate_series(1, 1000000000) g" > /dev/null
while IFS='|' read -r name sql; do
  t0=$(date +%s%N)
  err=$(psql -X -qAt -v VERBOSITY=verbose -c "SET statement_timeout = '1s'" -c "$sql" 2>&1)
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  if grep -q "ERROR:  57014" <<< "$err" && [ "$ms" -lt 2000 ]; then ok "statement_timeout stops $name (${ms} ms)"
  else fail "statement_timeout on $name: ${ms} ms, $(echo "$err" | head -2)"; fi
done <<'CALLS'
als training|SELECT * FROM mkt.train_recommender('t_als', 'tr', params => '{"iterations": 10000}')
bpr training|SELECT * FROM mkt.train_recommender('t_bpr', 'tr', algorithm => 'bpr', params => '{"iterations": 10000}')
ease training|SELECT * FROM mkt.train_recommender('t_ease', 'wide', algorithm => 'ease')
neural training|SELECT * FROM mkt.train_recommender('t_nn', 'tr', algorithm => 'neural', params => '{"epochs": 100000, "patience": 100000}')
neumf training|SELECT * FROM mkt.train_recommender('t_nmf', 'tr', algorithm => 'neumf', params => '{"epochs": 100000, "patience": 100000}')
tuning|SELECT * FROM mkt.tune_recommender('t_tune', 'tr', search => '{"params": {"iterations": [10000, 9999]}}')
simulation|SELECT count(*) FROM mkt.simulate_campaign('conc', rounds => 10000000)
profiling|SELECT count(*) FROM mkt.profile('endless')
cleaning|SELECT * FROM mkt.clean('endless', 'endless_clean', '{"dedupe_on": ["user_id"]}')
reading a huge source|SELECT * FROM mkt.train_recommender('t_read', 'endless', algorithm => 'popularity')
evaluation on a huge test set|SELECT * FROM mkt.evaluate_recommender('m', 'endless', 10)
policy training from a huge log|SELECT * FROM mkt.train_policy('conc', 'endless_log')
off-policy estimation on a huge log|SELECT * FROM mkt.estimate_policy_value('endless_log', 'reward', 'propensity', 'target')
CALLS
check "no timed-out call left a version" "0" "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name LIKE 't\_%'")"
finish statement_timeout
