#!/usr/bin/env bash
# End-to-end checks that need real commits, several sessions or a restart: a throwaway cluster,
# psql clients, and the installed extension.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/cluster.sh
trap cluster_stop EXIT
cluster_start "shared_preload_libraries = 'pg_cron'" "cron.database_name = 'postgres'"
PASS=0; FAIL=0
ok()   { echo "ok   - $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL - $1"; FAIL=$((FAIL + 1)); }
q()    { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
check() { # name, expected, actual
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected [$2] got [$3]"; fi
}
# Runs a query every 0.1 s, at most `tries` times, until it prints `expected`; prints its last value.
poll() { # expected, tries, query
  local v=""
  for _ in $(seq "$2"); do v=$(q "$3"); [ "$v" = "$1" ] && break; sleep 0.1; done
  echo "$v"
}
backend_of() { # the pid of the backend running mkt.train_recommender('<model>', ...), once it runs
  local pid=""
  for _ in $(seq 50); do
    pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE '%train_recommender(''$1''%' AND pid <> pg_backend_pid()")
    [ -n "$pid" ] && break; sleep 0.1
  done
  echo "$pid"
}
DATA_LOST=0
dcheck() { # a check that data survived (restart, crash, dump/restore, concurrency): counted apart
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected [$2] got [$3]"; DATA_LOST=$((DATA_LOST + 1)); fi
}

q "CREATE EXTENSION pg_marketing" > /dev/null
q "SELECT * FROM mkt.demo_data(1)" > /dev/null
q "SELECT * FROM mkt.split('mkt_demo.events', 'tr', 'te', method => 'temporal', time_col => 'ts')" > /dev/null
q "SELECT * FROM mkt.train_recommender('m', 'tr', algorithm => 'als', params => '{\"factors\": 8}')" > /dev/null

# 1. A session that cached version 1 sees a version deployed by another session on its next call.
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
q "SELECT mkt.deploy('m', 1)" > /dev/null

# 2. Models survive a restart.
before=$(q "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")
cluster_restart
after=$(q "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")
dcheck "recommendations are identical after a restart" "$before" "$after"

# 3. statement_timeout stops a long training; nothing is written; progress is reported meanwhile.
start=$(date +%s%N)
err=$(psql -X -qAt -c "SET statement_timeout = '2.5s'" -c "SET mkt.progress_interval = 1" \
  -c "SELECT * FROM mkt.train_recommender('slow', 'tr', params => '{\"iterations\": 10000}')" 2>&1)
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "canceling statement due to statement timeout" <<< "$err" && ok "statement_timeout cancels training" \
  || fail "statement_timeout: $err"
grep -q "NOTICE:  pg_marketing: als" <<< "$err" && ok "long training reports progress" \
  || fail "no progress NOTICE: $err"
[ "$elapsed_ms" -lt 6500 ] && ok "training stopped after ${elapsed_ms} ms" || fail "training took ${elapsed_ms} ms to stop"
check "no catalog rows for the cancelled model" "0" "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'slow'")"

# 4. pg_cancel_backend from another session stops training.
psql -X -qAt -c "SELECT * FROM mkt.train_recommender('slow', 'tr', params => '{\"iterations\": 10000}')" \
  > "$CLUSTER_DIR/cancel.out" 2>&1 &
bg=$!
pid=$(backend_of slow)
sleep 0.5
q "SELECT pg_cancel_backend($pid)" > /dev/null
wait $bg
grep -q "canceling statement due to user request" "$CLUSTER_DIR/cancel.out" && ok "pg_cancel_backend cancels training" \
  || fail "pg_cancel_backend: $(cat "$CLUSTER_DIR/cancel.out")"

# 5. pg_dump keeps the models: restore into a new database and serve from it.
createdb -T template0 restored
pg_dump -Fc -d postgres -f "$CLUSTER_DIR/dump" && pg_restore -d restored "$CLUSTER_DIR/dump" 2> "$CLUSTER_DIR/restore.err"
restored=$(psql -X -qAt -d restored -c "SELECT string_agg(item_id || ':' || score, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")
dcheck "a pg_dump/pg_restore copy serves the same recommendations" "$before" "$restored"
dcheck "restored catalog has every version" "$(q "SELECT count(*) FROM mkt.model_versions")" \
  "$(psql -X -qAt -d restored -c "SELECT count(*) FROM mkt.model_versions")"

# 6. Serving reads take no transaction id (so they work on a hot standby).
xid=$(psql -X -qAt -c "BEGIN" -c "SELECT count(*) FROM mkt.recommend('m', 7, 5)" \
  -c "SELECT count(*) FROM mkt.recommend_all('m', 2, ARRAY[1,2,3])" -c "SELECT txid_current_if_assigned() IS NULL" -c "COMMIT" | tail -1)
check "serving assigns no transaction id" "t" "$xid"

# 7. Policies under 16 concurrent clients: no error, no deadlock, no lost reward.
q "SELECT mkt.create_policy('conc', ARRAY['a', 'b', 'c'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 50}')" > /dev/null
cat > "$CLUSTER_DIR/conc.sql" <<'SQL'
\set s random(1, 3)
SELECT decision_id AS id FROM mkt.decide('conc', jsonb_build_object('segment', :s::int)) \gset
SELECT mkt.reward(:id, random());
SQL
out=$(pgbench -n -c 16 -j 4 -t 100 -f "$CLUSTER_DIR/conc.sql" 2>&1)
grep -q "number of failed transactions: 0" <<< "$out" && ! grep -q "aborted" <<< "$out" \
  && ok "16 concurrent clients decide and reward without an error" || fail "concurrent policy use: $out"
rewarded=$(q "SELECT count(*) FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc' AND reward IS NOT NULL")
dcheck "every decision got its reward" "1600" "$rewarded"
dcheck "no concurrent reward was lost (visits)" "$rewarded" \
  "$(q "SELECT sum(n) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc'")"
dcheck "no concurrent reward was lost (posterior mass)" "$(q "SELECT round(sum(reward)::numeric, 6) FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc'")" \
  "$(q "SELECT round(sum(alpha - 1)::numeric, 6) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc'")"

# 7b. The same with deferred learning while two sessions fold over and over: every reward is
# learned exactly once.
q "SELECT mkt.create_policy('conc_later', ARRAY['a', 'b', 'c'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 50, \"learning\": \"deferred\"}')" > /dev/null
sed 's/conc/conc_later/' "$CLUSTER_DIR/conc.sql" > "$CLUSTER_DIR/conc_later.sql"
touch "$CLUSTER_DIR/folding"
for f in 1 2; do
  (while [ -e "$CLUSTER_DIR/folding" ]; do q "SELECT count(*) FROM mkt.fold_rewards('conc_later')" > /dev/null || echo "fold failed" >> "$CLUSTER_DIR/fold_errors"; done) &
done
out=$(pgbench -n -c 16 -j 4 -t 100 -f "$CLUSTER_DIR/conc_later.sql" 2>&1)
rm "$CLUSTER_DIR/folding"; wait
grep -q "number of failed transactions: 0" <<< "$out" && ! grep -q "aborted" <<< "$out" && [ ! -e "$CLUSTER_DIR/fold_errors" ] \
  && ok "16 clients reward a deferred policy while 2 sessions fold, without an error" || fail "deferred learning under load: $out"
q "SELECT count(*) FROM mkt.fold_rewards('conc_later')" > /dev/null
dcheck "every deferred reward was learned once (visits)" "1600" \
  "$(q "SELECT sum(n) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc_later'")"
dcheck "every deferred reward was learned once (posterior mass)" "$(q "SELECT round(sum(reward)::numeric, 6) FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc_later'")" \
  "$(q "SELECT round(sum(alpha - 1)::numeric, 6) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc_later'")"

# 8. A crash right after COMMIT loses no reward.
id=$(q "SELECT decision_id FROM mkt.decide('conc', '{\"segment\": 1}')")
q "SELECT mkt.reward($id, 1)" > /dev/null
later=$(q "SELECT decision_id FROM mkt.decide('conc_later', '{\"segment\": 1}')")
q "SELECT mkt.reward($later, 1)" > /dev/null
as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop > /dev/null
as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w start > /dev/null
dcheck "a committed reward survives a crash" "1" "$(q "SELECT reward FROM mkt.decisions WHERE decision_id = $id")"
dcheck "its update of the policy survives too" "1601" \
  "$(q "SELECT sum(n) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc'")"
dcheck "a committed deferred reward survives a crash" "1" "$(q "SELECT count(*) FROM mkt.reward_log WHERE decision_id = $later")"
q "SELECT * FROM mkt.fold_rewards('conc_later')" > /dev/null
dcheck "and is learned at the next fold" "1601" \
  "$(q "SELECT sum(n) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'conc_later'")"

# 9. Campaigns: 8 sessions inserting at once never exceed the frequency cap or the budget; two
#    delivery workers claiming at once never get the same message; the same for a queued campaign
#    whose events 4 delivery workers process while they claim.
q "SELECT mkt.create_policy('cpol', ARRAY['a', 'b'], 'thompson', '{\"draws\": 20}')" > /dev/null
# campaign_under_load NAME TABLE MODE: a campaign (cap 5 per subject, budget 200) on a new table,
# and 8 sessions inserting 100 rows each for 50 subjects into it at once.
campaign_under_load() {
  q "CREATE TABLE $2 (user_id bigint, event_type text)"
  q "SELECT mkt.create_campaign('$1', 'cpol', '$2', 'user_id', params => '{\"control_fraction\": 0, \"frequency_cap\": 5, \"budget\": 200, \"mode\": \"$3\"}')" > /dev/null
  printf '\\set u random(1, 50)\nINSERT INTO %s VALUES (:u, %s);\n' "$2" "'cart'" > "$CLUSTER_DIR/$2.sql"
  local out
  out=$(pgbench -n -c 8 -j 4 -t 100 -f "$CLUSTER_DIR/$2.sql" 2>&1)
  grep -q "number of failed transactions: 0" <<< "$out" && ok "8 sessions insert into the $3 campaign's table without an error" \
    || fail "$3 campaign inserts: $out"
}
campaign_under_load busy carts immediate
check "frequency cap holds under concurrency" "t" "$(q "SELECT max(c) <= 5 FROM (SELECT count(*) c FROM mkt.campaign_touches GROUP BY subject) s")"
check "budget holds under concurrency" "200" "$(q "SELECT count(*) FROM mkt.outbox")"
# claim FILE CAMPAIGN ROUNDS: one delivery worker claiming 10 messages per round (errors kept too).
claim() { for _ in $(seq "$3"); do psql -X -qAt -c "SELECT message_id FROM mkt.claim_messages('$2', 10)" 2>&1; done > "$1"; }
claim "$CLUSTER_DIR/w1" busy 15 & claim "$CLUSTER_DIR/w2" busy 15 & wait
check "two workers never claim the same message" "0" "$(cat "$CLUSTER_DIR/w1" "$CLUSTER_DIR/w2" | sort | uniq -d | wc -l)"
check "together they claim every message" "200" "$(cat "$CLUSTER_DIR/w1" "$CLUSTER_DIR/w2" | sort -u | wc -l)"
# A queued campaign: 8 sessions queue events, 4 delivery workers process and claim them at once.
campaign_under_load qbusy carts_q queued
check "the inserts only queue the events" "800|0" \
  "$(q "SELECT count(*) FROM mkt.campaign_queue")|$(q "SELECT count(*) FROM mkt.outbox o JOIN mkt.campaigns c USING (campaign_id) WHERE campaign_name = 'qbusy'")"
for w in 1 2 3 4; do claim "$CLUSTER_DIR/q$w" qbusy 30 & done; wait
q "SELECT mkt.process_campaign('qbusy')" > /dev/null
check "4 workers processing and claiming at once: no error, no message twice" "0|0" \
  "$(cat "$CLUSTER_DIR"/q[1-4] | grep -vc '^[0-9]*$')|$(cat "$CLUSTER_DIR"/q[1-4] | sort | uniq -d | wc -l)"
check "every queued event was processed" "0" "$(q "SELECT count(*) FROM mkt.campaign_queue")"
check "the queued campaign's frequency cap and budget hold" "t|200" \
  "$(q "SELECT max(c) <= 5 FROM (SELECT count(*) c FROM mkt.campaign_touches t JOIN mkt.campaigns c USING (campaign_id) WHERE campaign_name = 'qbusy' GROUP BY subject) s")|$(q "SELECT count(*) FROM mkt.outbox o JOIN mkt.campaigns c USING (campaign_id) WHERE campaign_name = 'qbusy'")"

# 10. Neural training shows its epochs to other sessions while it runs; a cancel leaves nothing.
psql -X -qAt -c "SELECT * FROM mkt.train_recommender('deep', 'tr', algorithm => 'neural', params => '{\"epochs\": 100000, \"patience\": 100000, \"dim\": 16, \"hidden\": 16}')" \
  > "$CLUSTER_DIR/deep.out" 2>&1 &
bg=$!
running=0
for _ in $(seq 300); do
  running=$(q "SELECT count(*) FROM mkt.training_log WHERE model_name = 'deep' AND state = 'running'")
  [ "$running" -ge 2 ] && break; sleep 0.1
done
[ "$running" -ge 2 ] && ok "another session reads the running training's epochs ($running so far)" \
  || fail "no live epochs of the running training"
check "live epochs carry loss and validation ndcg" "t" \
  "$(q "SELECT bool_and(loss > 0 AND validation_ndcg BETWEEN 0 AND 1) FROM mkt.training_log WHERE model_name = 'deep'")"
q "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%train_recommender(''deep''%' AND pid <> pg_backend_pid()" > /dev/null
wait $bg || true
grep -q "canceling statement due to user request" "$CLUSTER_DIR/deep.out" && ok "pg_cancel_backend cancels neural training" \
  || fail "neural cancel: $(cat "$CLUSTER_DIR/deep.out")"
check "a cancelled training leaves no live rows and no version" "0|0" \
  "$(q "SELECT (SELECT count(*) FROM mkt.training_log WHERE model_name = 'deep') || '|' || (SELECT count(*) FROM mkt.model_versions WHERE model_name = 'deep')")"

# 11. Jobs in background workers: run as the submitting role, progress while running, cancel,
#     a killed worker, at most mkt.max_workers at once.
q "CREATE ROLE analyst LOGIN" > /dev/null
q "GRANT USAGE ON SCHEMA mkt TO analyst; GRANT ALL ON ALL TABLES IN SCHEMA mkt TO analyst;
   GRANT ALL ON ALL SEQUENCES IN SCHEMA mkt TO analyst; GRANT SELECT ON tr TO analyst;
   CREATE TABLE secret AS SELECT 1 AS user_id, 2 AS item_id" > /dev/null
aq() { psql -X -qAt -v ON_ERROR_STOP=1 -U analyst -c "$1"; }
job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''jobbed'', ''tr'', params => ''{\"factors\": 8}'')')")
check "a submitted training job succeeds" "succeeded" "$(aq "SELECT mkt.wait_job($job, '60 s')")"
check "the job's model is there, created by the submitter" "analyst" "$(q "SELECT created_by FROM mkt.model_versions WHERE model_name = 'jobbed'")"
check "the job keeps its result rows" "jobbed" "$(q "SELECT result->0->>'model_name' FROM mkt.jobs WHERE job_id = $job")"
job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''sneaky'', ''secret'')')")
check "a job cannot read what its submitter cannot" "failed|t" \
  "$(aq "SELECT mkt.wait_job($job, '60 s')")|$(q "SELECT error LIKE '%permission denied%' FROM mkt.jobs WHERE job_id = $job")"
err=$(aq "SELECT mkt.submit_job('DELETE FROM mkt.model_versions')" 2>&1)
grep -q "a job must be one SELECT" <<< "$err" && ok "a job that is not a mkt call is refused" || fail "refusal: $err"
job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''deepjob'', ''tr'', algorithm => ''neural'', params => ''{\"epochs\": 100000, \"patience\": 100000, \"dim\": 16, \"hidden\": 16}'')')")
seen=$(poll "running|true|true" 300 "SELECT state || '|' || (progress > 0) || '|' || (message LIKE 'epoch %') FROM mkt.jobs WHERE job_id = $job")
check "a running job shows its state, progress and epoch to other sessions" "running|true|true" "$seen"
check "cancel_job interrupts it" "t" "$(aq "SELECT mkt.cancel_job($job)")"
check "the cancelled job ends as cancelled" "cancelled" "$(aq "SELECT mkt.wait_job($job, '30 s')")"
check "a cancelled job leaves no version" "0" "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'deepjob'")"
job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''killed'', ''tr'', algorithm => ''neural'', params => ''{\"epochs\": 100000, \"patience\": 100000, \"dim\": 16, \"hidden\": 16}'')')")
poll running 100 "SELECT state FROM mkt.jobs WHERE job_id = $job" > /dev/null
q "SELECT pg_terminate_backend(worker_pid) FROM mkt.jobs WHERE job_id = $job" > /dev/null
sleep 1
check "a job whose worker was killed shows failed, not running" "failed" "$(aq "SELECT mkt.wait_job($job, '10 s')")"
job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''alsjob'', ''tr'', params => ''{\"iterations\": 10000}'')')")
seen=$(poll "running|true|true" 100 "SELECT state || '|' || (progress > 0 AND progress < 1) || '|' || (message ~ '^als [0-9]+/[0-9]+$') FROM mkt.jobs WHERE job_id = $job")
check "a running ALS job (no epochs) shows its progress and phase" "running|true|true" "$seen"
aq "SELECT mkt.cancel_job($job)" > /dev/null
check "and cancels as well" "cancelled" "$(aq "SELECT mkt.wait_job($job, '30 s')")"
psql -X -qAt -c "LOAD 'pg_marketing'" -c "ALTER SYSTEM SET mkt.max_workers = 1" -c "SELECT pg_reload_conf()" > /dev/null; sleep 0.5
a=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''one'', ''tr'', algorithm => ''neural'', params => ''{\"epochs\": 4, \"dim\": 8, \"hidden\": 8}'')')")
b=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''two'', ''tr'', algorithm => ''neural'', params => ''{\"epochs\": 4, \"dim\": 8, \"hidden\": 8}'')')")
most=0
for _ in $(seq 400); do
  n=$(q "SELECT count(*) FROM mkt.jobs WHERE job_id IN ($a, $b) AND state = 'running'")
  [ "$n" -gt "$most" ] && most=$n
  [ "$(q "SELECT count(*) FROM mkt.jobs WHERE job_id IN ($a, $b) AND state = 'succeeded'")" = 2 ] && break
  sleep 0.1
done
check "with mkt.max_workers = 1 both queued jobs run, one at a time" "2|1" \
  "$(q "SELECT count(*) FROM mkt.jobs WHERE job_id IN ($a, $b) AND state = 'succeeded'")|$most"
psql -X -qAt -c "LOAD 'pg_marketing'" -c "ALTER SYSTEM RESET mkt.max_workers" -c "SELECT pg_reload_conf()" > /dev/null
job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''restarted'', ''tr'', algorithm => ''neural'', params => ''{\"epochs\": 100000, \"patience\": 100000, \"dim\": 16, \"hidden\": 16}'')')")
poll running 100 "SELECT state FROM mkt.jobs WHERE job_id = $job" > /dev/null
cluster_restart
check "a job running across a server restart shows failed, and the deployed model still serves" "failed|3" \
  "$(q "SELECT state FROM mkt.jobs WHERE job_id = $job")|$(q "SELECT count(*) FROM mkt.recommend('m', 7, 3)")"

# 12. pg_cron drives retraining through a job: a schedule every minute submits mkt.retrain, a worker
#     runs it, and a new version appears.
q "CREATE EXTENSION pg_cron" > /dev/null
before=$(q "SELECT max(version) FROM mkt.model_versions WHERE model_name = 'm'")
q "SELECT cron.schedule('retrain-m', '* * * * *', \$\$SELECT mkt.submit_job('SELECT * FROM mkt.retrain(''m'', ''always'')')\$\$)" > /dev/null
after=$before
for _ in $(seq 150); do
  after=$(q "SELECT max(version) FROM mkt.model_versions WHERE model_name = 'm'")
  [ "$after" -gt "$before" ] && break; sleep 0.5
done
[ "$after" -gt "$before" ] && ok "pg_cron's scheduled job retrained 'm' in a worker (version $before -> $after)" \
  || fail "no new version of 'm' from pg_cron: $(q "SELECT string_agg(status || ' ' || coalesce(return_message, ''), '; ') FROM cron.job_run_details")"
check "the retrain job succeeded and was deployed" "succeeded|$after" \
  "$(q "SELECT state FROM mkt.jobs WHERE command LIKE '%retrain%' ORDER BY job_id DESC LIMIT 1")|$(q "SELECT version FROM mkt.models WHERE model_name = 'm' AND deployed")"
q "SELECT cron.unschedule('retrain-m')" > /dev/null

# 13. A model report renders in headless Chromium.
if command -v chromium > /dev/null; then
  q "SELECT mkt.model_report('deep_report')" > /dev/null 2>&1 || true
  q "SELECT * FROM mkt.train_recommender('deep_report', 'tr', algorithm => 'neural', params => '{\"epochs\": 6, \"patience\": 100, \"dim\": 16, \"hidden\": 16}')" > /dev/null
  q "SELECT * FROM mkt.evaluate_recommender('deep_report', 'te', 10)" > /dev/null
  q "SELECT mkt.model_report('deep_report')" > "$CLUSTER_DIR/report.html"
  chmod 644 "$CLUSTER_DIR/report.html"
  shot=${REPORT_SCREENSHOT:-$CLUSTER_DIR/report.png}
  timeout 60 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,1600 \
    --screenshot="$shot" "file://$CLUSTER_DIR/report.html" > "$CLUSTER_DIR/chromium.log" 2>&1
  dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$CLUSTER_DIR/report.html" 2> /dev/null)
  [ -s "$shot" ] && [ "$(stat -c %s "$shot")" -gt 10000 ] && ok "Chromium renders the model report ($(stat -c %s "$shot") bytes of PNG)" \
    || fail "no screenshot: $(tail -3 "$CLUSTER_DIR/chromium.log")"
  grep -q "<polyline" <<< "$dom" && grep -q "validation ndcg@10" <<< "$dom" && ok "the rendered DOM has the training curve" \
    || fail "rendered DOM lacks the curve"
else
  fail "chromium is not installed (make deps installs it)"
fi

# 14. Serving while retraining: 8 pgbench clients call mkt.recommend while another session retrains
#     and deploys the same model. No call fails, each answer is one version's whole top-10, and
#     calls that start after the deploy committed answer from the new version. Every client maps
#     the same model file instead of holding its own copy.
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

# 15. A streaming hot standby serves: recommend (from its own mapping of the model file), policy
#     probabilities, and a deploy on the primary reaches a standby session through WAL; decide, a
#     write, is refused there with a clear read-only error.
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
check "the standby gives policy probabilities" "3" "$(sq "SELECT count(*) FROM mkt.policy_probabilities('conc', '{\"segment\": 1}')")"
err=$(psql -X -qAt -p "$SPORT" -v VERBOSITY=verbose -c "SELECT * FROM mkt.decide('conc', '{\"segment\": 1}')" -c "SELECT mkt.reward(1, 1)" 2>&1)
[ "$(echo "$err" | grep -c "ERROR:  25006: mkt\.\(decide\|reward\) writes to the catalog and cannot run on a hot standby")" = 2 ] \
  && ok "decide and reward on the standby are clear read-only errors (25006)" || fail "decide on standby: $err"
other=$(q "SELECT version FROM mkt.models WHERE model_name = 'm' AND NOT deployed ORDER BY version LIMIT 1")
now=$(q "SELECT version FROM mkt.models WHERE model_name = 'm' AND deployed")
out=$(psql -X -qAt -p "$SPORT" -v ON_ERROR_STOP=1 <<SQL
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5);
\\! psql -X -qAt -p $PGPORT -c "SELECT mkt.deploy('m', $other)" > /dev/null
\\! sleep 1
SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5);
SQL
)
check "a deploy on the primary reaches a standby session that had the old version" \
  "$(q "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('m', 7, 5)")" "$(echo "$out" | sed -n 2p)"
q "SELECT mkt.deploy('m', $now)" > /dev/null
as_postgres "$PGBIN/pg_ctl" -D "$SDIR" -m fast -w stop > /dev/null
grep -q "terminated by signal" "$CLUSTER_DIR/standby.log" && fail "the standby's log shows a crash" || ok "no standby backend crashed"

# 16. kill -9 of a backend mid-training and of a job's worker mid-job: the server recovers (it
#     restarts every backend), nothing half-written is left, the job shows failed, and the
#     deployed model still serves.
server_back() {
  for _ in $(seq 300); do q "SELECT 1" > /dev/null 2>&1 && return; sleep 0.1; done
}
consistent() {
  q "SELECT (SELECT count(*) FROM mkt.model_blobs b WHERE NOT EXISTS (SELECT 1 FROM mkt.model_versions v WHERE v.model_id = b.model_id))
          + (SELECT count(*) FROM mkt.model_versions v WHERE NOT EXISTS (SELECT 1 FROM mkt.model_blobs b WHERE b.model_id = v.model_id))
          + (SELECT count(*) FROM mkt.deployments d WHERE NOT EXISTS (SELECT 1 FROM mkt.model_versions v WHERE v.model_id = d.model_id))"
}
psql -X -qAt -c "SELECT * FROM mkt.train_recommender('k9', 'tr', params => '{\"iterations\": 10000}')" > /dev/null 2>&1 &
pid=$(backend_of k9)
sleep 0.5
kill -9 "$pid"; wait 2> /dev/null; server_back
dcheck "after kill -9 of a training backend: no version, a consistent catalog, the deployed model serves" "0|0|3" \
  "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'k9'")|$(consistent)|$(q "SELECT count(*) FROM mkt.recommend('m', 7, 3)")"
job=$(q "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''k9job'', ''tr'', params => ''{\"iterations\": 10000}'')')")
poll running 100 "SELECT state FROM mkt.jobs WHERE job_id = $job" > /dev/null
sleep 0.5
kill -9 "$(q "SELECT worker_pid FROM mkt.jobs WHERE job_id = $job")"; server_back
dcheck "after kill -9 of a job's worker: the job failed, no version, a consistent catalog, the deployed model serves" "failed|0|0|3" \
  "$(q "SELECT mkt.wait_job($job, '10 s')")|$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'k9job'")|$(consistent)|$(q "SELECT count(*) FROM mkt.recommend('m', 7, 3)")"

# 18. statement_timeout stops every long function promptly (1 s timeout, each call would run far
#     longer): the error is 57014 and the call returns within 1 s of the timeout.
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

# 19. Every function runs with the caller's privileges: none is SECURITY DEFINER, and a role
#     without SELECT on a table can neither train on it (by name or in a query), nor profile,
#     clean, split or evaluate on it.
check "no mkt function is SECURITY DEFINER" "0" \
  "$(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'mkt'::regnamespace AND prosecdef")"
# Models belong to their trainer: another role is refused until granted, also in a session that
# served the model under another role (SET ROLE in a pooled connection), and sees none of its rows.
for sql in "SELECT count(*) FROM mkt.recommend('m', 7, 3)" "SELECT mkt.drop_model('m')" \
           "SELECT length(mkt.export_model('m'))" "SELECT mkt.deploy('m', 1)"; do
  err=$(psql -X -qAt -U analyst -v VERBOSITY=verbose -c "$sql" 2>&1)
  grep -q "ERROR:  42501: permission denied to .* model 'm'" <<< "$err" && ok "a role not granted model m is refused: $sql" \
    || fail "ungranted $sql: $(echo "$err" | head -1)"
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
  err=$(psql -X -qAt -U analyst -v VERBOSITY=verbose -c "$sql" 2>&1)
  grep -q "ERROR:  42501" <<< "$err" && ok "a role without SELECT on the table cannot $name" \
    || fail "$name without SELECT: $(echo "$err" | head -1)"
done <<'CALLS'
train on it|SELECT * FROM mkt.train_recommender('sneaky', 'secret')
train on a query of it|SELECT * FROM mkt.train_recommender('sneaky', 'SELECT user_id, item_id FROM secret')
profile it|SELECT * FROM mkt.profile('secret')
clean it|SELECT * FROM mkt.clean('secret', 'secret_copy')
split it|SELECT * FROM mkt.split('secret', 'secret_a', 'secret_b')
evaluate on it|SELECT * FROM mkt.evaluate_recommender('m', 'secret', 10)
CALLS

# 20. pg_dump / pg_restore of everything: models, policies, transforms, jobs. The copy serves
#     byte-identical top-k, the same policy values, the same transforms and the job history.
q "SELECT mkt.fit_transform('tf', 'tr', '{\"item_id\": \"standard\"}')" > /dev/null
createdb -T template0 restored2
pg_dump -Fc -d postgres -f "$CLUSTER_DIR/dump2" && pg_restore -d restored2 "$CLUSTER_DIR/dump2" 2> "$CLUSTER_DIR/restore2.err"
same() { # description, query: equal on the original and the restored database
  dcheck "after pg_dump/pg_restore: $1" "$(q "$2")" "$(psql -X -qAt -d restored2 -c "$2")"
}
same "byte-identical top-10 of 30 users" \
  "SELECT md5(string_agg(r.item_id || ':' || r.score, ',' ORDER BY u, r.rank)) FROM generate_series(1, 30) u, mkt.recommend('m', u, 10) r"
same "the same policy values and visits" \
  "SELECT md5(string_agg(state || action || value || visits, ',' ORDER BY state, action)) FROM mkt.policy_values('conc')"
same "the same decisions and rewards" "SELECT count(*) || ':' || sum(reward::numeric) FROM mkt.decisions"
same "the same transforms, applying the same" \
  "SELECT md5(string_agg(t::text, ',' ORDER BY transform_name)) FROM mkt.transforms t"
same "the job history" "SELECT md5(string_agg(job_id || command || state, ',' ORDER BY job_id)) FROM mkt.job_queue"
same "the deployed versions" "SELECT string_agg(model_name || version, ',' ORDER BY model_name) FROM mkt.models WHERE deployed"
# (pg_cron refuses to be created outside cron.database_name; that error is pg_cron's own)
check "restoring reported no error about pg_marketing" "" "$(grep -i 'mkt\|pg_marketing' "$CLUSTER_DIR/restore2.err" | head -3)"

# 17. The server never crashed (the deliberate kill -9s above aside).
CRASHES=$(grep "terminated by signal" "$CLUSTER_LOG" | grep -vc "signal 9: Killed")
if [ "$CRASHES" != 0 ]; then fail "server log shows a crash"; else ok "no backend crashed"; fi

printf '\n%-12s %-8s %-8s %-10s\n' "cases tried" passed crashes "data lost"
printf '%-12s %-8s %-8s %-10s\n' "$((PASS + FAIL))" "$PASS" "$CRASHES" "$DATA_LOST"
echo "e2e: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
