#!/usr/bin/env bash
# Policy benchmark: decide and reward throughput against pgbench's select-only, and inserts into a
# table with mkt.reward_trigger against the same inserts without it; all in one run, one cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh
trap cluster_stop EXIT
cluster_start "shared_buffers = '512MB'" "max_wal_size = '4GB'" "max_connections = 100" ${BENCH_EXTRA_CONF:-}
DURATION=${BENCH_SECONDS:-20}
CLIENTS=${BENCH_POLICY_CLIENTS:-8}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
tps() { pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" "$@" 2>&1 | awk '/^tps/ {print $3; exit}'; }
ratio() { awk "BEGIN{printf \"%.2f\", $1/$2}"; }
# Mean tps of script A and of script B, alternating in 3 rounds of 5 s each: a checkpoint or a
# slower stretch of the VM then falls on both sides instead of skewing one of them.
paired() {
  local a=0 b=0 i
  for i in 1 2 3; do
    a=$(awk "BEGIN{print $a + $(tps -f "$1" -T 5) / 3}")
    b=$(awk "BEGIN{print $b + $(tps -f "$2" -T 5) / 3}")
  done
  echo "$a $b"
}

q "CREATE EXTENSION pg_marketing"
q "SELECT mkt.create_policy('bench_ts', ARRAY['a', 'b', 'c', 'd', 'e'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 200}')"
q "SELECT mkt.create_policy('bench_q', ARRAY['a', 'b', 'c', 'd', 'e'], 'q_learning', '{\"state_features\": [\"segment\"]}')"
q "SELECT mkt.create_policy('bench_qd', ARRAY['a', 'b', 'c', 'd', 'e'], 'q_learning', '{\"state_features\": [\"segment\"], \"learning\": \"deferred\"}')"
pgbench -i -q -s 10 > /dev/null 2>&1
echo "clients: $CLIENTS, ${DURATION}s each"

sel=$(tps -S)
D="$CLUSTER_DIR"
printf '\\set s random(1, 4)\nSELECT decision_id FROM mkt.decide(:pol, jsonb_build_object(%s, :s::int));\n' "'segment'" > "$D/decide.sql"
dec_ts=$(tps -f "$D/decide.sql" -D pol=bench_ts)
dec_q=$(tps -f "$D/decide.sql" -D pol=bench_q)
echo "select_only_tps=$sel"
echo "decide_thompson_tps=$dec_ts ratio(decide/select_only)=$(ratio "$dec_ts" "$sel") target>=0.5"
echo "decide_q_learning_tps=$dec_q ratio(decide/select_only)=$(ratio "$dec_q" "$sel") target>=0.5"
# Decisions of the policy with deferred learning, for its trigger path below (same decide cost).
dec_qd=$(tps -f "$D/decide.sql" -D pol=bench_qd)
echo "decide_q_learning_deferred_tps=$dec_qd ratio(decide/select_only)=$(ratio "$dec_qd" "$sel") target>=0.5"

# Rewards need decisions without one: ids come from a sequence over the decisions made above.
q "CREATE SEQUENCE next_decision; SELECT setval('next_decision', (SELECT min(decision_id) FROM mkt.decisions WHERE policy_id = (SELECT policy_id FROM mkt.policies WHERE policy_name = 'bench_q')))" > /dev/null
printf 'SELECT mkt.reward(nextval(%s), random());\n' "'next_decision'" > "$D/reward.sql"
avail=$(q "SELECT count(*) FROM mkt.decisions d JOIN mkt.policies p USING (policy_id) WHERE policy_name = 'bench_q'")
rew=$(tps -f "$D/reward.sql" -T "$(( DURATION / 2 ))")
used=$(q "SELECT count(*) FROM mkt.decisions WHERE reward IS NOT NULL")
echo "reward_tps=$rew ratio(reward/select_only)=$(ratio "$rew" "$sel") target>=0.5 (rewarded $used of $avail decisions)"

# Trigger path: the same insert into two tables, one with mkt.reward_trigger.
q "CREATE TABLE plain_conversions (decision_id bigint, converted int); CREATE TABLE conversions (decision_id bigint, converted int);
   CREATE TRIGGER learn AFTER INSERT ON conversions FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted');
   CREATE SEQUENCE plain_ids;"
printf 'INSERT INTO plain_conversions VALUES (nextval(%s), 1);\n' "'plain_ids'" > "$D/plain.sql"
printf 'INSERT INTO conversions VALUES (nextval(%s), 1);\n' "'next_decision'" > "$D/trig.sql"
read -r plain trig < <(paired "$D/plain.sql" "$D/trig.sql")
echo "insert_tps=$plain insert_with_reward_trigger_tps=$trig ratio(trigger/plain)=$(ratio "$trig" "$plain") target>=0.7"

# The same with a policy that learns deferred: the insert logs the reward in mkt.reward_log, and
# mkt.fold_rewards learns from the waiting rewards afterwards (timed separately, as pg_cron would
# run it).
q "CREATE TABLE conversions_deferred (decision_id bigint, converted int);
   CREATE TRIGGER learn AFTER INSERT ON conversions_deferred FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted');
   CREATE SEQUENCE next_deferred; SELECT setval('next_deferred', (SELECT min(decision_id) FROM mkt.decisions WHERE policy_id = (SELECT policy_id FROM mkt.policies WHERE policy_name = 'bench_qd')))" > /dev/null
printf 'INSERT INTO conversions_deferred VALUES (nextval(%s), 1);\n' "'next_deferred'" > "$D/trig_deferred.sql"
read -r plain_d trig_d < <(paired "$D/plain.sql" "$D/trig_deferred.sql")
echo "insert_tps=$plain_d insert_with_reward_trigger_deferred_tps=$trig_d ratio(deferred trigger/plain)=$(ratio "$trig_d" "$plain_d") target>=0.7"
# The ceiling of decide and reward, which write durably: a one-row INSERT with its commit.
echo "ceiling: insert_tps=$plain ratio(insert/select_only)=$(ratio "$plain" "$sel") (a durable one-row write, before any policy work)"
# mkt.decide against that ceiling (target 0.8), each in alternating rounds with the plain insert;
# and the one-row insert every decision makes, into a copy of mkt.decisions with its indexes and
# jsonb columns, against the same ceiling: what the log's shape alone leaves of it.
q "CREATE TABLE decision_log_copy (LIKE mkt.decisions INCLUDING DEFAULTS INCLUDING INDEXES)"
printf '\\set s random(1, 4)\nINSERT INTO decision_log_copy (policy_id, policy_version, context, state, action, probability, probabilities) VALUES (1, 1, jsonb_build_object(%s, :s::int), %s || :s, %s, 0.2, %s) RETURNING decision_id;\n' \
  "'segment'" "'segment='" "'a'" "'{\"a\": 0.2, \"b\": 0.2, \"c\": 0.2, \"d\": 0.2, \"e\": 0.2}'" > "$D/log_insert.sql"
for pol in bench_q bench_ts; do
  sed "s/:pol/'$pol'/" "$D/decide.sql" > "$D/decide_$pol.sql"
  read -r p_i p_d < <(paired "$D/plain.sql" "$D/decide_$pol.sql")
  echo "insert_tps=$p_i decide_${pol#bench_}_tps=$p_d ratio(decide/insert)=$(ratio "$p_d" "$p_i") target>=0.8"
done
read -r p_i p_l < <(paired "$D/plain.sql" "$D/log_insert.sql")
echo "insert_tps=$p_i decision_log_insert_tps=$p_l ratio(log insert/insert)=$(ratio "$p_l" "$p_i") (the bound on decide/insert that the log's shape sets)"
# What bounds all three: each durable commit waits for a WAL flush, and a flush carries the commits
# that are ready when it starts. Per script, flushes per second, their mean duration and commits
# per flush (pg_stat_wal, with WAL I/O timing on for these runs only).
q "ALTER SYSTEM SET track_wal_io_timing = on"; q "SELECT pg_reload_conf()" > /dev/null
for s in plain log_insert decide_bench_q; do
  q "SELECT pg_stat_reset_shared('wal')" > /dev/null
  t=$(tps -f "$D/$s.sql" -T 5)
  q "SELECT 'wal_flush $s: tps=' || round($t) || ' flushes_per_s=' || round(wal_sync / 5.0) || ' ms_per_flush=' ||
       round((wal_sync_time / greatest(wal_sync, 1))::numeric, 3) || ' commits_per_flush=' ||
       round(($t * 5 / greatest(wal_sync, 1))::numeric, 2) || ' flushing_share=' ||
       round((wal_sync_time / 5000.0)::numeric, 2) FROM pg_stat_wal"
done
q "ALTER SYSTEM RESET track_wal_io_timing"; q "SELECT pg_reload_conf()" > /dev/null
t0=$(date +%s%N)
folded=$(q "SELECT coalesce(sum(rewards), 0) FROM mkt.fold_rewards('bench_qd')")
secs=$(awk "BEGIN{print ($(date +%s%N) - $t0) / 1e9}")
echo "fold_rewards_per_s=$(awk "BEGIN{printf \"%.0f\", $folded / $secs}") ($folded rewards in one call)"

# Campaigns: inserts into a table with an active campaign (every row qualifies; 10% control) vs. the
# same inserts into a table without one; then claim+ack throughput of the outbox with 4 workers.
q "CREATE TABLE carts_plain (user_id bigint, event_type text); CREATE TABLE carts (user_id bigint, event_type text)"
q "SELECT mkt.create_campaign('bench_c', 'bench_q', 'carts', 'user_id', params => '{\"control_fraction\": 0.1}')" > /dev/null
printf '\\set u random(1, 100000)\nINSERT INTO carts_plain VALUES (:u, %s);\n' "'cart'" > "$D/carts_plain.sql"
printf '\\set u random(1, 100000)\nINSERT INTO carts VALUES (:u, %s);\n' "'cart'" > "$D/carts.sql"
cplain=$(tps -f "$D/carts_plain.sql" -T "$(( DURATION / 2 ))")
ccamp=$(tps -f "$D/carts.sql" -T "$(( DURATION / 2 ))")
echo "insert_tps=$cplain insert_with_campaign_tps=$ccamp ratio(campaign/plain)=$(ratio "$ccamp" "$cplain") target>=0.6"
printf 'SELECT count(mkt.ack_message(message_id)) FROM mkt.claim_messages(%s, 10);\n' "'bench_c'" > "$D/claim.sql"
pending=$(q "SELECT count(*) FROM mkt.outbox WHERE delivered_at IS NULL AND campaign = 'bench_c'")
t0=$(date +%s%N)
pgbench -n -M prepared -c 4 -j 4 -t "$(( pending / 40 + 1 ))" -f "$D/claim.sql" > /dev/null 2>&1
secs=$(awk "BEGIN{print ($(date +%s%N) - $t0) / 1e9}")
acked=$(q "SELECT count(*) FROM mkt.outbox WHERE delivered_at IS NOT NULL")
echo "outbox_claim_ack_messages_per_s=$(awk "BEGIN{printf \"%.0f\", $acked / $secs}") ($acked messages, 4 workers claiming 10 at a time)"

# The same inserts into a table with a queued campaign (the insert queues the event), then how many
# queued events mkt.process_campaign decides per second.
q "CREATE TABLE carts_queued (user_id bigint, event_type text)"
q "SELECT mkt.create_campaign('bench_cq', 'bench_q', 'carts_queued', 'user_id', params => '{\"control_fraction\": 0.1, \"mode\": \"queued\"}')" > /dev/null
printf '\\set u random(1, 100000)\nINSERT INTO carts_queued VALUES (:u, %s);\n' "'cart'" > "$D/carts_queued.sql"
cplain2=$(tps -f "$D/carts_plain.sql" -T "$(( DURATION / 2 ))")
cqueued=$(tps -f "$D/carts_queued.sql" -T "$(( DURATION / 2 ))")
echo "insert_tps=$cplain2 insert_with_queued_campaign_tps=$cqueued ratio(queued campaign/plain)=$(ratio "$cqueued" "$cplain2") target>=0.6"
queued=$(q "SELECT count(*) FROM mkt.campaign_queue")
t0=$(date +%s%N)
done_events=$(q "SELECT mkt.process_campaign('bench_cq', 1000000)")
secs=$(awk "BEGIN{print ($(date +%s%N) - $t0) / 1e9}")
echo "process_campaign_events_per_s=$(awk "BEGIN{printf \"%.0f\", $done_events / $secs}") ($done_events of $queued queued events in one call)"

# Bulk decisions: mkt.decide_all over a customer table against INSERT ... SELECT writing the same
# rows (same columns, contexts built from the same table, same indexes) into a copy of the log.
BULK=${BENCH_DECIDE_ALL_ROWS:-200000}
q "CREATE TABLE bulk_customers AS SELECT g AS customer_id, g % 4 AS segment FROM generate_series(1, $BULK) g;
   CREATE TABLE decisions_copy (LIKE mkt.decisions INCLUDING DEFAULTS INCLUDING INDEXES); CHECKPOINT"
t0=$(date +%s%N)
q "INSERT INTO decisions_copy (policy_id, policy_version, subject, context, state, action, probability, probabilities)
   SELECT 1, 1, customer_id::text, jsonb_build_object('segment', segment), 'segment=' || segment, 'a', 0.2,
          jsonb_build_object('a', 0.2, 'b', 0.2, 'c', 0.2, 'd', 0.2, 'e', 0.2) FROM bulk_customers"
ins_s=$(awk "BEGIN{print ($(date +%s%N) - $t0) / 1e9}")
echo "insert_select_rows_per_s=$(awk "BEGIN{printf \"%.0f\", $BULK / $ins_s}") ($BULK rows into a copy of mkt.decisions)"
for pol in bench_q bench_ts; do
  q "CHECKPOINT"
  t0=$(date +%s%N)
  bulk_n=$(q "SELECT count(*) FROM mkt.decide_all('$pol', 'bulk_customers', 'customer_id', ARRAY['segment'])")
  bulk_s=$(awk "BEGIN{print ($(date +%s%N) - $t0) / 1e9}")
  echo "decide_all_${pol#bench_}_rows_per_s=$(awk "BEGIN{printf \"%.0f\", $bulk_n / $bulk_s}") ratio(decide_all/insert_select)=$(ratio "$ins_s" "$bulk_s") target>=0.5 ($bulk_n decisions)"
done
