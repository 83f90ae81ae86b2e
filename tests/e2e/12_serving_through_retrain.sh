#!/usr/bin/env bash
# Serving while retraining: 8 pgbench clients call mkt.recommend while another session retrains
# and deploys the same model. No call fails, each answer is one version's whole top-10, calls that
# start after the deploy committed answer from the new version, and every client maps the same
# model file instead of holding its own copy.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model
q "CREATE TABLE live_events AS SELECT user_id, item_id FROM tr;
   CREATE TABLE serve_log (uid int, at timestamptz, answer text)" > /dev/null
q "SELECT * FROM mkt.train_recommender('live', 'live_events', algorithm => 'als', params => '{\"factors\": 16}')" > /dev/null
users=$(q "SELECT max(user_id) FROM live_events")
cat > "$CLUSTER_DIR/serve.sql" <<SQL
\\set uid random(1, $users)
INSERT INTO serve_log SELECT :uid, statement_timestamp(), string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('live', :uid, 10);
SQL
pgbench -n -c 8 -j 2 -T 12 -f "$CLUSTER_DIR/serve.sql" > "$CLUSTER_DIR/pgbench.out" 2>&1 &
bench=$!
sleep 3
q "INSERT INTO live_events SELECT user_id, item_id FROM live_events WHERE item_id % 3 = 0" > /dev/null
q "SELECT deployed FROM mkt.retrain('live', 'always')" > /dev/null
done_at=$(q "SELECT clock_timestamp()")
wait $bench
status=$?
[ "$status" = 0 ] && grep -q "number of failed transactions: 0 " "$CLUSTER_DIR/pgbench.out" \
  && ok "8 pgbench clients served through a retrain and deploy with no error ($(grep -o 'tps = [0-9.]*' "$CLUSTER_DIR/pgbench.out" | head -1))" \
  || fail "pgbench during retrain (exit $status): $(tail -5 "$CLUSTER_DIR/pgbench.out")"
new=$(q "SELECT version FROM mkt.models WHERE model_name = 'live' AND deployed")
for v in 1 "$new"; do
  q "SELECT mkt.deploy('live', $v)" > /dev/null
  q "CREATE TABLE ref_$v AS SELECT s.uid, (SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('live', s.uid, 10)) AS answer
     FROM (SELECT DISTINCT uid FROM serve_log) s" > /dev/null
done
verdict=$(q "SELECT count(*) FILTER (WHERE l.answer IS DISTINCT FROM a.answer AND l.answer IS DISTINCT FROM b.answer) || '|' ||
                    count(*) FILTER (WHERE l.at > '$done_at' AND l.answer IS DISTINCT FROM b.answer) || '|' ||
                    (count(*) FILTER (WHERE l.at > '$done_at' AND a.answer <> b.answer) > 0) || '|' ||
                    (count(*) FILTER (WHERE l.at < '$done_at' AND l.answer = a.answer AND a.answer <> b.answer) > 0)
             FROM serve_log l JOIN ref_1 a USING (uid) JOIN ref_$new b USING (uid)")
check "every answer is one version's top-10; none after the deploy is old; both versions served" "0|0|true|true" "$verdict"
echo "   ($(q "SELECT count(*) FROM serve_log") calls, version 1 -> $new)"
check "the served model is one shared file mapping" "1" \
  "$(q "SELECT count(*) FROM pg_ls_dir('pg_marketing_models') f WHERE f LIKE '%-' || (SELECT model_id FROM mkt.deployments WHERE model_name = 'live') || '-%.model'")"
finish serving_through_retrain
