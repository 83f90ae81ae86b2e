#!/usr/bin/env bash
# Every function runs with the caller's privileges: none is SECURITY DEFINER, and a role without
# SELECT on a table can neither train on it (by name or in a query), nor profile, clean, split or
# evaluate on it. Models belong to their trainer: another role is refused until granted, also in a
# session that served the model under another role (SET ROLE in a pooled connection), and sees
# none of its rows.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model
setup_analyst

check "no mkt function is SECURITY DEFINER" "0" \
  "$(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'mkt'::regnamespace AND prosecdef")"
for sql in "SELECT count(*) FROM mkt.recommend('m', 7, 3)" "SELECT mkt.drop_model('m')" \
           "SELECT length(mkt.export_model('m'))" "SELECT mkt.deploy('m', 1)"; do
  expect_error "a role not granted model m is refused: $sql" "ERROR:  42501: permission denied to .* model 'm'" "$sql" -U analyst
done
m_ids=$(q "SELECT string_agg(model_id::text, ',') FROM mkt.model_versions WHERE model_name = 'm'")
check "a role not granted model m sees none of its rows" "0|0|0" \
  "$(psql -X -qAt -U analyst -c "SELECT (SELECT count(*) FROM mkt.models WHERE model_name = 'm') || '|' || (SELECT count(*) FROM mkt.model_blobs WHERE model_id IN ($m_ids)) || '|' || (SELECT count(*) FROM mkt.deployments WHERE model_name = 'm')")"
out=$(psql -X -qAt -v VERBOSITY=verbose 2>&1 <<'SQL'
SELECT count(*) FROM mkt.recommend('m', 7, 3);
SET ROLE analyst;
SELECT count(*) FROM mkt.recommend('m', 7, 3);
\! psql -X -qAt -c "SELECT mkt.grant_model('m', 'analyst')"
SELECT count(*) FROM mkt.recommend('m', 7, 3);
SQL
)
check "a pooled session serves the superuser, refuses analyst after SET ROLE, serves analyst once granted" \
  "3|ERROR:  42501|3" "$(echo "$out" | sed -n 1p)|$(echo "$out" | grep -o 'ERROR:  42501' | head -1)|$(echo "$out" | tail -1)"
while IFS='|' read -r name sql; do
  expect_error "a role without SELECT on the table cannot $name" "ERROR:  42501" "$sql" -U analyst
done <<'CALLS'
train on it|SELECT * FROM mkt.train_recommender('sneaky', 'secret')
train on a query of it|SELECT * FROM mkt.train_recommender('sneaky', 'SELECT user_id, item_id FROM secret')
profile it|SELECT * FROM mkt.profile('secret')
clean it|SELECT * FROM mkt.clean('secret', 'secret_copy')
split it|SELECT * FROM mkt.split('secret', 'secret_a', 'secret_b')
evaluate on it|SELECT * FROM mkt.evaluate_recommender('m', 'secret', 10)
CALLS
finish privileges
