#!/usr/bin/env bash
# A session that cached version 1 sees a version deployed by another session on its next call.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model

out=$(psql -X -qAt -v ON_ERROR_STOP=1 <<'SQL'
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 3);
\! psql -X -qAt -c "SELECT version FROM mkt.train_recommender('m', 'tr', algorithm => 'popularity')"
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 3);
SQL
)
first=$(echo "$out" | sed -n 1p); second=$(echo "$out" | sed -n 3p)
fresh=$(q "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 3)")
check "a new deployment reaches a session that had the old model cached" "$fresh" "$second"
[ "$first" != "$second" ] && ok "the cached and the new model rank differently" || fail "old and new model gave the same ranking"

# Serving reads take no transaction id (so they work on a hot standby).
xid=$(psql -X -qAt -c "BEGIN" -c "SELECT count(*) FROM mkt.recommend('m', 7, 5)" \
  -c "SELECT count(*) FROM mkt.recommend_all('m', 2, ARRAY[1,2,3])" -c "SELECT txid_current_if_assigned() IS NULL" -c "COMMIT" | tail -1)
check "serving assigns no transaction id" "t" "$xid"
finish deploy_reaches_sessions
