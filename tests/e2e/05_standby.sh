#!/usr/bin/env bash
# A streaming hot standby serves: recommend (from its own mapping of the model file), policy
# probabilities, customer values, predictions and uplift, and a deploy on the primary reaches a standby session through WAL; decide and
# reward, which write, are refused there with a clear read-only error.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
SDIR=""
stop_all() {
  [ -n "$SDIR" ] && as_postgres "$PGBIN/pg_ctl" -D "$SDIR" -m fast -w stop > /dev/null 2>&1
  cluster_stop
}
trap stop_all EXIT
cluster_start
setup_demo_model
setup_policy
q "SELECT * FROM mkt.train_recommender('m', 'tr', algorithm => 'popularity', params => '{\"deploy\": false}')" > /dev/null
q "SELECT 1 FROM mkt.train_clv('clv', 'tr', 'user_id', 'ts', params => '{\"period\": \"day\"}')" > /dev/null
q "CREATE TABLE buyers AS SELECT u.user_id, u.segment, u.region, u.age_band, (u.user_id % 2)::int AS treated,
   (EXISTS (SELECT 1 FROM mkt_demo.events e WHERE e.user_id = u.user_id AND e.event_type = 'purchase'))::int AS bought
   FROM mkt_demo.users u" > /dev/null
q "SELECT 1 FROM mkt.train_predictor('buy', 'buyers', 'bought', ARRAY['segment', 'region', 'age_band'])" > /dev/null
q "SELECT 1 FROM mkt.train_uplift('buy_uplift', 'buyers', 'treated', 'bought', ARRAY['segment', 'region'])" > /dev/null
q "SELECT 1 FROM mkt.train_predictor('seg', 'buyers', 'segment', ARRAY['region', 'age_band', 'bought'], 'multiclass')" > /dev/null
q "CREATE TABLE live_events AS SELECT user_id, item_id, ts FROM tr; CREATE INDEX ON live_events (user_id, ts DESC)" > /dev/null
q "SELECT 1 FROM mkt.train_recommender('seq', 'tr', algorithm => 'sequential',
   params => '{\"time_col\": \"ts\", \"history_source\": \"live_events\", \"epochs\": 2, \"dim\": 16, \"max_length\": 10}')" > /dev/null

SDIR="$CLUSTER_DIR/standby"; SPORT=$(free_port $((PGPORT + 1)))
as_postgres "$PGBIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$SDIR" -R -X stream -c fast > /dev/null 2>&1
as_postgres rm -rf "$SDIR/pg_marketing_models"
printf "port = %s\nunix_socket_directories = '%s'\n" "$SPORT" "$CLUSTER_DIR" | as_postgres tee -a "$SDIR/postgresql.auto.conf" > /dev/null
as_postgres "$PGBIN/pg_ctl" -D "$SDIR" -l "$CLUSTER_DIR/standby.log" -w start > /dev/null
sq() { psql -X -qAt -p "$SPORT" -c "$1" 2>&1; }
caught_up() { # waits until the standby replayed everything the primary wrote so far
  local lsn; lsn=$(q "SELECT pg_current_wal_lsn()")
  for _ in $(seq 100); do
    [ "$(sq "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && return; sleep 0.1
  done
}
caught_up
check "the standby is in recovery" "t" "$(sq "SELECT pg_is_in_recovery()")"
primary=$(q "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")
check "the standby recommends what the primary does, from its own model file" "$primary|t" \
  "$(psql -X -qAt -p "$SPORT" -c "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)" \
       -c "SELECT shared_bytes > 0 FROM mkt.cache_stats()" | paste -sd'|')"
mid=$(q "SELECT model_id FROM mkt.deployments WHERE model_name = 'm'")
for i in 1 2 3 4; do sq "SELECT count(*) FROM mkt.recommend('m', $i, 5)" > /dev/null & done; wait
check "the standby built its own files of the model once, for all its sessions" "1|1" \
  "$(grep -c "built the serving files of model id $mid in" "$CLUSTER_DIR/standby.log")|$(as_postgres ls "$SDIR/pg_marketing_models" | grep -c "^[0-9]*-$mid-.*\.serving$")"
values="SELECT round(sum(p_alive)::numeric, 9) || ':' || round(sum(expected_purchases)::numeric, 9) FROM mkt.customer_value('clv')"
check "the standby serves customer values as the primary does, and P(alive) for one" "$(q "$values")|$(q "SELECT mkt.p_alive('clv', '7')")" \
  "$(sq "$values")|$(sq "SELECT mkt.p_alive('clv', '7')")"
scores="SELECT md5(string_agg(key || ':' || score, ',' ORDER BY key)) FROM mkt.predict_all('buy', 'buyers', 'user_id')"
one="SELECT mkt.predict('buy', '{\"segment\": \"x\", \"region\": \"north\"}') || ':' || mkt.predict_uplift('buy_uplift', '{\"region\": \"north\"}')"
check "the standby serves predictions and uplift as the primary does" "$(q "$scores")|$(q "$one")" "$(sq "$scores")|$(sq "$one")"
classes="SELECT (SELECT md5(string_agg(key || ':' || class || ':' || probability, ',' ORDER BY key)) FROM mkt.predict_class_all('seg', 'buyers', 'user_id'))
         || (SELECT string_agg(class || ':' || probability, ',') FROM mkt.predict_proba('seg', '{\"region\": \"north\"}'))"
check "the standby serves a multiclass predictor's classes as the primary does" "$(q "$classes")" "$(sq "$classes")"
live="SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('seq', 7, 5, exclude_seen => false)"
before=$(q "$live"); standby_before=$(sq "$live")
q "INSERT INTO live_events SELECT 7, item_id, now() + row_number() OVER () * interval '1 second' FROM (SELECT item_id FROM tr GROUP BY item_id ORDER BY count(*), item_id LIMIT 5) i" > /dev/null
caught_up
after=$(q "$live")
check "the standby serves a sequence model from live history, and an event written on the primary changes its answer there" \
  "$before|$after|changed" "$standby_before|$(sq "$live")|$([ "$before" != "$after" ] && echo changed)"
emb="SELECT round(sum(x::float8 * y)::numeric, 5) FROM unnest(mkt.embed('waterproof hiking boots'), mkt.embed('rain boots for walking')) AS t(x, y)"
check "the standby embeds texts as the primary does" "$(q "$emb")" "$(sq "$emb")"
check "the standby gives policy probabilities" "3" "$(sq "SELECT count(*) FROM mkt.policy_probabilities('conc', '{\"segment\": 1}')")"
err=$(psql -X -qAt -p "$SPORT" -v VERBOSITY=verbose -c "SELECT * FROM mkt.decide('conc', '{\"segment\": 1}')" -c "SELECT mkt.reward(1, 1)" 2>&1)
[ "$(echo "$err" | grep -c "ERROR:  25006: mkt\.\(decide\|reward\) writes to the catalog and cannot run on a hot standby")" = 2 ] \
  && ok "decide and reward on the standby are clear read-only errors (25006)" || fail "decide on standby: $err"
other=$(q "SELECT version FROM mkt.models WHERE model_name = 'm' AND NOT deployed ORDER BY version LIMIT 1")
out=$(psql -X -qAt -p "$SPORT" -v ON_ERROR_STOP=1 <<SQL
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5);
\\! psql -X -qAt -p $PGPORT -c "SELECT mkt.deploy('m', $other)" > /dev/null
\\! sleep 1
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5);
SQL
)
check "a deploy on the primary reaches a standby session that had the old version" \
  "$(q "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")" "$(echo "$out" | sed -n 2p)"
as_postgres "$PGBIN/pg_ctl" -D "$SDIR" -m fast -w stop > /dev/null; SDIR_LOG="$CLUSTER_DIR/standby.log"; SDIR=""
check "no standby backend crashed" "0" "$(crashes_in "$SDIR_LOG")"
finish standby
