#!/usr/bin/env bash
# pg_marketing on a Citus cluster: a coordinator and two workers on loopback ports. Skipped (with
# a message, exit 0) when citus.so is not installed: Citus is in no package registry this project
# installs from; see README "Scaling out with Citus".
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/citus.sh
. tests/lib.sh
if ! citus_available; then
  echo "SKIPPED: citus.so is not installed in $($PGBIN/pg_config --pkglibdir); the Citus tests did not run"
  exit 0
fi
trap citus_stop EXIT
citus_start 2
W1=${WORKERS[0]}; W2=${WORKERS[1]}
on()   { local p=$1; shift; psql -X -qAt -v ON_ERROR_STOP=1 -p "$p" -c "$1"; }
top() { # the top-k of one user as a string, from node $1
  on "$1" "SELECT string_agg(item_id || ':' || round(score::numeric, 5), ',' ORDER BY rank) FROM mkt.recommend('m', $2, 10)"
}

# 1. CREATE EXTENSION on the coordinator reaches every node.
q "CREATE EXTENSION pg_marketing" > /dev/null
v=$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_marketing'")
check "the extension is on worker 1" "$v" "$(on "$W1" "SELECT extversion FROM pg_extension WHERE extname = 'pg_marketing'")"
check "the extension is on worker 2" "$v" "$(on "$W2" "SELECT extversion FROM pg_extension WHERE extname = 'pg_marketing'")"

err=$(q "SELECT * FROM mkt.citus_setup('no_such_customers')" 2>&1)
grep -q 'relation "no_such_customers" does not exist' <<< "$err" && ok "citus_setup names a missing customers table" \
  || fail "citus_setup with a missing table: $err"

# 2. Customers and events distributed by user id; the catalog distributed by mkt.citus_setup.
q "SELECT * FROM mkt.demo_data(1)" > /dev/null 2>&1
q "SELECT create_distributed_table('mkt_demo.users', 'user_id')" > /dev/null 2>&1
q "SELECT create_distributed_table('mkt_demo.events', 'user_id', colocate_with => 'mkt_demo.users')" > /dev/null 2>&1
err=$(q "SELECT * FROM mkt.citus_setup('mkt_demo.items')" 2>&1)
grep -q "customers table mkt_demo.items is not a hash-distributed table" <<< "$err" \
  && ok "citus_setup refuses a customers table that is not distributed" || fail "citus_setup with a local table: $err"
steps=$(q "SELECT step || ': ' || detail FROM mkt.citus_setup('mkt_demo.users')")
echo "$steps" | sed 's/^/    /'
check "citus_setup makes ten reference tables" "10" "$(echo "$steps" | grep -c '^reference table')"
check "reference tables on the coordinator's metadata" "10" "$(q "SELECT count(*) FROM pg_dist_partition WHERE partmethod = 'n' AND logicalrelid::text LIKE 'mkt.%'")"
check "mkt.decisions is distributed by subject" "h|subject" \
  "$(q "SELECT partmethod::text || '|' || column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition WHERE logicalrelid = 'mkt.decisions'::regclass")"
again=$(q "SELECT count(*) FROM mkt.citus_setup('mkt_demo.users') WHERE step IN ('reference table', 'distributed table')" 2>&1)
check "citus_setup run again changes nothing and succeeds" "0" "$again"

# 3. Training reads the distributed events through the coordinator.
n=$(q "SELECT count(*) FROM mkt_demo.events")
check "a model trains on the distributed table, every interaction read" "$n" \
  "$(q "SELECT n_interactions FROM mkt.train_recommender('m', 'mkt_demo.events', algorithm => 'als', params => '{\"factors\": 16}')")"
check "a worker sees the model in its catalog" "1|true" "$(on "$W1" "SELECT version || '|' || deployed FROM mkt.models WHERE model_name = 'm'")"

# 4. Serving on the workers gives the coordinator's answers.
coord=$(top "$COORD" 42)
check "worker 1 serves the coordinator's top-10" "$coord" "$(top "$W1" 42)"
check "worker 2 serves the coordinator's top-10" "$coord" "$(top "$W2" 42)"
plan=$(q "EXPLAIN (COSTS OFF) SELECT r.* FROM mkt_demo.users c, LATERAL mkt.recommend('m', c.user_id, 10) r WHERE c.segment = 'vip'")
grep -q "Task Count: 32" <<< "$plan" && ok "the LATERAL query over customers runs on the shards (32 tasks)" \
  || fail "the LATERAL query was not pushed down: $plan"
lateral="SELECT c.user_id || ':' || r.item_id || ':' || round(r.score::numeric, 5) AS x FROM %s c, LATERAL mkt.recommend('m', c.user_id, 10) r WHERE c.segment = 'vip'"
q "CREATE TABLE local_vips AS SELECT * FROM mkt_demo.users WHERE segment = 'vip'" > /dev/null
pushed=$(q "SELECT md5(string_agg(x, ',' ORDER BY x)) || '|' || count(*) FROM ($(printf "$lateral" mkt_demo.users)) s")
local=$(q "SELECT md5(string_agg(x, ',' ORDER BY x)) || '|' || count(*) FROM ($(printf "$lateral" local_vips)) s")
check "the LATERAL top-k over vip customers on the workers equals the coordinator's" "$local" "$pushed"

routed=$(psql -X -qAt -c "SET client_min_messages = debug1" -c "SELECT count(*) FROM mkt.recommend('m', 42, 10)" 2>&1)
grep -q "pushing down the function call" <<< "$routed" && ok "mkt.recommend for one customer is routed to its shard's worker" \
  || fail "mkt.recommend was not delegated: $routed"
check "the routed call answers like the coordinator" "$coord" "$(top "$COORD" 42)"

# Model privileges hold on every node: a role sees a model only once granted.
q "CREATE ROLE analyst LOGIN; GRANT USAGE ON SCHEMA mkt, mkt_demo TO analyst;
   GRANT ALL ON ALL TABLES IN SCHEMA mkt TO analyst; GRANT SELECT ON ALL TABLES IN SCHEMA mkt_demo TO analyst" > /dev/null
err=$(psql -X -qAt -U analyst -v VERBOSITY=verbose -c "SELECT count(*) FROM mkt.recommend('m', 42, 10)" 2>&1)
grep -q "ERROR:  42501: permission denied to use model 'm'" <<< "$err" && ok "a role not granted the model is refused (routed call)" \
  || fail "ungranted routed recommend: $err"
err=$(psql -X -qAt -U analyst -p "$W1" -v VERBOSITY=verbose -c "SELECT count(*) FROM mkt.recommend('m', 42, 10)" 2>&1)
grep -q "ERROR:  42501: permission denied to use model 'm'" <<< "$err" && ok "a role not granted the model is refused on a worker" \
  || fail "ungranted recommend on a worker: $err"
q "SELECT mkt.grant_model('m', 'analyst')" > /dev/null
check "a granted role gets the top-10 on the coordinator" "$coord" \
  "$(psql -X -qAt -U analyst -c "SELECT string_agg(item_id || ':' || round(score::numeric, 5), ',' ORDER BY rank) FROM mkt.recommend('m', 42, 10)" 2>&1)"
check "a granted role gets the top-10 on a worker" "$coord" \
  "$(psql -X -qAt -U analyst -p "$W2" -c "SELECT string_agg(item_id || ':' || round(score::numeric, 5), ',' ORDER BY rank) FROM mkt.recommend('m', 42, 10)" 2>&1)"
check "a granted role's LATERAL query over vip customers matches" "$pushed" \
  "$(psql -X -qAt -U analyst -c "SELECT md5(string_agg(x, ',' ORDER BY x)) || '|' || count(*) FROM ($(printf "$lateral" mkt_demo.users)) s" 2>&1)"

# 5. A worker session that cached a model notices a deploy made on the coordinator.
out=$(psql -X -qAt -v ON_ERROR_STOP=1 -p "$W1" <<SQL
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 42, 5, exclude_seen => false);
\! psql -X -qAt -p $COORD -c "SELECT version FROM mkt.train_recommender('m', 'mkt_demo.events', algorithm => 'popularity')"
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 42, 5, exclude_seen => false);
SQL
)
fresh=$(on "$W2" "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 42, 5, exclude_seen => false)")
check "a worker session that had version 1 cached serves version 2 after the deploy" "$fresh" "$(echo "$out" | sed -n 3p)"
[ "$(echo "$out" | sed -n 1p)" != "$fresh" ] && ok "the two versions rank differently" || fail "versions 1 and 2 gave the same ranking"
q "SELECT mkt.deploy('m', 1)" > /dev/null

# 6. Decisions are routed by subject, logged on that subject's worker, with cluster-unique ids.
q "SELECT mkt.create_policy('offers', ARRAY['a', 'b', 'c'], 'thompson', '{\"seed\": 3}')" > /dev/null
routed=$(psql -X -qAt -c "SET client_min_messages = debug1" -c "SELECT decision_id FROM mkt.decide('offers', '{}', 'cust-1')" 2>&1)
grep -q "pushing down the function call" <<< "$routed" && ok "mkt.decide for a subject is routed to its worker" \
  || fail "mkt.decide was not delegated: $routed"
id=$(echo "$routed" | grep -E '^[0-9]+$' | tail -1)
shard=$(q "SELECT get_shard_id_for_distribution_column('mkt.decisions', 'cust-1')")
node=$(q "SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = $shard")
check "the decision row is stored in the subject's shard on its worker" "$id" "$(on "$node" "SELECT decision_id FROM mkt.decisions_$shard WHERE subject = 'cust-1'")"
[ "$id" -gt $((1 << 48)) ] 2>/dev/null && ok "a worker draws decision ids from its own range" || fail "decision id $id is not from a worker's range"
cat > "$CITUS_DIR/decide.sql" <<'SQL'
\set s random(1, 400)
SELECT decision_id FROM mkt.decide('offers', '{}', 'cust-:s');
SQL
pgbench -n -c 4 -j 2 -t 100 -f "$CITUS_DIR/decide.sql" > "$CITUS_DIR/decide.out" 2>&1 \
  && ok "400 routed decisions from 4 clients" || fail "pgbench decide: $(tail -3 "$CITUS_DIR/decide.out")"
check "decision ids are unique across workers" "401|401" "$(q "SELECT count(DISTINCT decision_id) || '|' || count(*) FROM mkt.decisions")"
check "both workers hold decisions" "2" "$(q "SELECT count(DISTINCT nodeport) FROM run_command_on_placements('mkt.decisions', 'SELECT count(*) FROM %s') WHERE result::int > 0")"
for call in "mkt.decide('offers', '{}')" "mkt.decide('offers', '{}', NULL)" "mkt.decide('offers', '{}', NULL::text, NULL)" "mkt.decide(subject => NULL, policy_name => 'offers')"; do
  err=$(psql -X -qAt -v VERBOSITY=verbose -c "SELECT * FROM $call" 2>&1)
  grep -q "ERROR:  22004: subject must not be NULL on a Citus catalog" <<< "$err" \
    && ok "a decision without a subject is refused on Citus: $call" || fail "$call: $err"
done
# Bound to NULL: a prepared statement (custom plans, then the generic one) and a PL/pgSQL variable.
err=$(psql -X -qAt -v VERBOSITY=verbose 2>&1 <<'SQL'
PREPARE d(text) AS SELECT decision_id FROM mkt.decide('offers', '{}', $1);
EXECUTE d(NULL); EXECUTE d(NULL); EXECUTE d(NULL); EXECUTE d(NULL); EXECUTE d(NULL); EXECUTE d(NULL); EXECUTE d(NULL);
DO $$ DECLARE s text; BEGIN PERFORM mkt.decide('offers', '{}', s); END $$;
SQL
)
check "a NULL subject bound to a parameter is refused every time (7 executions, PL/pgSQL)" "8" \
  "$(echo "$err" | grep -c "ERROR:  22004: subject must not be NULL")"

# 7. Rewards land on the subject's worker and reach the policy exactly once through fold_rewards.
before=$(q "SELECT coalesce(sum(n), 0) FROM mkt.policy_state")
routed=$(psql -X -qAt -c "SET client_min_messages = debug2" -c "SELECT mkt.reward($id, 1, subject => 'cust-1')" 2>&1)
grep -q "Creating router plan" <<< "$routed" && ok "mkt.reward with a subject updates one shard (router plan)" \
  || fail "mkt.reward with a subject: $routed"
# Without a subject a reward finds its decision by id on whichever worker holds it. (Rewarding the
# rows of a query over mkt.decisions itself would run mkt.reward inside the shards: materialize
# the ids first, as here.)
q "WITH ids AS MATERIALIZED (SELECT decision_id FROM mkt.decisions WHERE subject <> 'cust-1' ORDER BY decision_id LIMIT 99)
   SELECT count(mkt.reward(decision_id, 0)) FROM ids" > /dev/null
check "rewards wait on the workers until folded" "$before|100" \
  "$(q "SELECT coalesce(sum(n), 0) FROM mkt.policy_state")|$(q "SELECT count(*) FROM mkt.decisions WHERE reward IS NOT NULL AND NOT applied")"
check "fold_rewards applies each reward once" "offers|100" "$(q "SELECT policy_name || '|' || rewards FROM mkt.fold_rewards()")"
expect_empty "a second fold finds nothing" "$(q "SELECT * FROM mkt.fold_rewards()")"
check "every worker sees the folded policy state" "100|100" \
  "$(on "$W1" "SELECT sum(n) FROM mkt.policy_state")|$(on "$W2" "SELECT sum(n) FROM mkt.policy_state")"
err=$(q "SELECT mkt.reward($id, 1, subject => 'cust-1')" 2>&1)
grep -q "decision $id already has a reward" <<< "$err" && ok "a second reward is refused" || fail "second reward: $err"
err=$(q "SELECT mkt.reward($id, 1, subject => 'cust-2')" 2>&1)
grep -q "decision $id does not exist\|is not for subject" <<< "$err" && ok "a reward naming another subject is refused" \
  || fail "reward with the wrong subject: $err"
check "a worker serves policy probabilities from the folded state" "3" \
  "$(on "$W2" "SELECT count(*) FROM mkt.policy_probabilities('offers')")"

# 8. Dropping a model removes its rows on every node.
q "SELECT mkt.drop_model('m', 2)" > /dev/null
check "a dropped version's blobs are gone on the workers" "1|1" \
  "$(on "$W1" "SELECT count(DISTINCT model_id) FROM mkt.model_blobs")|$(on "$W2" "SELECT count(*) FROM mkt.model_versions")"
check "serving still works after the drop" "$coord" "$(top "$W2" 42)"

# 9. A node added later: citus_setup prepares it (its shells, its range of decision ids).
citus_add_worker
W3=${WORKERS[2]}
check "citus_setup succeeds again after a node is added" "workers: 3 worker(s) prepared" \
  "$(q "SELECT step || ': ' || detail FROM mkt.citus_setup('mkt_demo.users') WHERE step = 'workers'" 2>&1)"
check "the new worker draws decision ids from its own range" "t" \
  "$(on "$W3" "SELECT nextval('mkt.decisions_decision_id_seq') >= (SELECT groupid FROM pg_dist_local_group)::bigint << 48")"
check "the new worker has the extension and serves from the reference copy" "$coord" "$(top "$W3" 42)"

crashes=0
for log in "$CITUS_DIR"/*.log; do
  grep -q "terminated by signal" "$log" && crashes=$((crashes + 1))
done
check "no node crashed" "0" "$crashes"

echo "citus: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
