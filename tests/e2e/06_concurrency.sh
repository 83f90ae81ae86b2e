#!/usr/bin/env bash
# Policies under 16 concurrent pgbench clients: no error, no deadlock, no lost reward; the same
# with deferred learning while two sessions fold over and over (every reward learned once).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
q "CREATE EXTENSION pg_marketing" > /dev/null

q "SELECT mkt.create_policy('conc', ARRAY['a', 'b', 'c'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 50}')" > /dev/null
cat > "$CLUSTER_DIR/conc.sql" <<'SQL'
\set s random(1, 3)
SELECT decision_id AS id FROM mkt.decide('conc', jsonb_build_object('segment', :s::int)) \gset
SELECT mkt.reward(:id, random());
SQL
out=$(pgbench -n -c 16 -j 4 -t 100 -f "$CLUSTER_DIR/conc.sql" 2>&1)
grep -q "number of failed transactions: 0" <<< "$out" && ! grep -q "aborted" <<< "$out" \
  && ok "16 concurrent clients decide and reward without an error" || fail "concurrent policy use: $out"
mass() { # rewards given vs posterior mass learned, for policy $1
  echo "$(q "SELECT round(sum(reward)::numeric, 6) FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE policy_name = '$1'")" \
       "$(q "SELECT round(sum(alpha - 1)::numeric, 6) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = '$1'")"
}
visits() { q "SELECT sum(n) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = '$1'"; }
rewarded=$(q "SELECT count(*) FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc' AND reward IS NOT NULL")
dcheck "every decision got its reward" "1600" "$rewarded"
dcheck "no concurrent reward was lost (visits)" "$rewarded" "$(visits conc)"
read -r given learned <<< "$(mass conc)"
dcheck "no concurrent reward was lost (posterior mass)" "$given" "$learned"

q "SELECT mkt.create_policy('conc_later', ARRAY['a', 'b', 'c'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 50, \"learning\": \"deferred\"}')" > /dev/null
sed 's/conc/conc_later/' "$CLUSTER_DIR/conc.sql" > "$CLUSTER_DIR/conc_later.sql"
touch "$CLUSTER_DIR/folding"
for _ in 1 2; do
  (while [ -e "$CLUSTER_DIR/folding" ]; do q "SELECT count(*) FROM mkt.fold_rewards('conc_later')" > /dev/null || echo "fold failed" >> "$CLUSTER_DIR/fold_errors"; done) &
done
out=$(pgbench -n -c 16 -j 4 -t 100 -f "$CLUSTER_DIR/conc_later.sql" 2>&1)
rm "$CLUSTER_DIR/folding"; wait
grep -q "number of failed transactions: 0" <<< "$out" && ! grep -q "aborted" <<< "$out" && [ ! -e "$CLUSTER_DIR/fold_errors" ] \
  && ok "16 clients reward a deferred policy while 2 sessions fold, without an error" || fail "deferred learning under load: $out"
q "SELECT count(*) FROM mkt.fold_rewards('conc_later')" > /dev/null
dcheck "every deferred reward was learned once (visits)" "1600" "$(visits conc_later)"
read -r given learned <<< "$(mass conc_later)"
dcheck "every deferred reward was learned once (posterior mass)" "$given" "$learned"
finish concurrency
