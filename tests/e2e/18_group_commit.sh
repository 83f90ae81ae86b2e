#!/usr/bin/env bash
# mkt.decision_log = 'group_commit' (pg_marketing preloaded): decisions of many concurrent sessions
# are committed by the log writer, each exactly once and as mkt.decide returned it; a decide that
# returned survives a crash; a rolled-back caller keeps its decision; what the writer cannot take
# (an oversized context, a REPEATABLE READ caller) is logged by the caller; the writer retires
# when idle (DROP DATABASE is not held up) and a killed writer is replaced.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster "shared_preload_libraries = 'pg_marketing'" "mkt.decision_log = 'group_commit'"
q "CREATE EXTENSION pg_marketing" > /dev/null
q "SELECT mkt.create_policy('gc', ARRAY['a', 'b', 'c'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 50}')" > /dev/null
writers() { q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_marketing decision log writer'"; }

row=$(q "SELECT d.decision_id || '|' || d.action || '|' || d.probability FROM mkt.decide('gc', '{\"segment\": 2, \"x\": 1.50}', 'cust-1') d")
id=${row%%|*}
check "a decision is returned and logged as returned, context as given, at the caller's now()" "$row|cust-1|{\"x\": 1.50, \"segment\": 2}|segment=2|true" \
  "$(q "SELECT decision_id || '|' || action || '|' || probability || '|' || subject || '|' || context::text || '|' || state || '|' || (decided_at <= now()) FROM mkt.decisions WHERE decision_id = $id")"
check "it was committed by the log writer" "1" "$(writers)"
q "SELECT mkt.reward($id, 1)" > /dev/null
check "and can be rewarded" "1" "$(q "SELECT reward FROM mkt.decisions WHERE decision_id = $id")"
q "SELECT count(mkt.reward(d.decision_id, 1)) FROM generate_series(1, 20) g, LATERAL mkt.decide('gc', jsonb_build_object('segment', g % 3), 'same statement') d" > /dev/null
check "a reward in the same statement finds its decision (it reads with a new snapshot)" "20|20" \
  "$(q "SELECT count(*) || '|' || count(reward) FROM mkt.decisions WHERE subject = 'same statement'")"

cat > "$CLUSTER_DIR/gc.sql" <<'SQL'
\set s random(1, 3)
SELECT decision_id AS id FROM mkt.decide('gc', jsonb_build_object('segment', :s::int), 'c' || :client_id) \gset
SELECT mkt.reward(:id, random());
SQL
before=$(q "SELECT count(*) FROM mkt.decisions")
out=$(pgbench -n -c 16 -j 4 -t 200 -f "$CLUSTER_DIR/gc.sql" 2>&1)
grep -q "number of failed transactions: 0" <<< "$out" && ! grep -q "aborted" <<< "$out" \
  && ok "16 concurrent clients decide and reward through the writer without an error" || fail "concurrent group commit: $out"
dcheck "every decision is logged once and rewarded" "3200|3200|3200" \
  "$(q "SELECT count(*) || '|' || count(DISTINCT decision_id) || '|' || count(reward) FROM mkt.decisions WHERE subject ~ '^c[0-9]+$'")"
check "and no other row was written" "$((before + 3200))" "$(q "SELECT count(*) FROM mkt.decisions")"

rolled_back() { # BEGIN options, decide arguments: the decision's rows after a rollback, and its reward inside
  psql -X -qAt -v ON_ERROR_STOP=1 <<SQL
BEGIN $1;
SELECT decision_id FROM mkt.decide($2) \gset
SELECT mkt.reward(:decision_id, 1);
SELECT reward FROM mkt.decisions WHERE decision_id = :decision_id;
ROLLBACK;
SELECT count(*) FROM mkt.decisions WHERE decision_id = :decision_id;
SQL
}
check "a rolled-back caller keeps its decision (committed before decide returned)" "$(printf '\n1\n1')" \
  "$(rolled_back "" "'gc', '{}', 'rolled back'")"
check "an oversized context is logged by the caller, and rolls back with it" "$(printf '\n1\n0')" \
  "$(rolled_back "" "'gc', jsonb_build_object('note', repeat('x', 5000)), 'big'")"
check "so is a REPEATABLE READ caller's decision, which its reward then finds" "$(printf '\n1\n0')" \
  "$(rolled_back "ISOLATION LEVEL REPEATABLE READ" "'gc', '{}', 'rr'")"

q "CREATE ROLE app LOGIN; GRANT USAGE ON SCHEMA mkt TO app; GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA mkt TO app;
   GRANT USAGE ON ALL SEQUENCES IN SCHEMA mkt TO app; ALTER ROLE app SET mkt.decision_log = 'group_commit'" > /dev/null
check "a role set to group_commit by a superuser decides through the writer" "$(printf '\n1\n1')" \
  "$(PGUSER=app rolled_back "" "'gc', '{}', 'app'")"
expect_error "a role cannot choose the setting itself (the writer inserts as the superuser)" "42501" \
  "SET mkt.decision_log = 'in_transaction'" -U app
check "the writer retires when idle" "0" "$(poll 0 60 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_marketing decision log writer'")"
q "CREATE DATABASE gc_other" > /dev/null
psql -X -qAt -d gc_other -c "CREATE EXTENSION pg_marketing" -c "SELECT mkt.create_policy('o', ARRAY['a', 'b'])" -c "SELECT count(*) FROM mkt.decide('o')" > /dev/null
check "a second database gets its own writer" "1" "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_marketing decision log writer' AND datname = 'gc_other'")"
check "DROP DATABASE right after a decide there is not held up by its writer" "ok" "$(q "DROP DATABASE gc_other" > /dev/null && echo ok)"

q "SELECT count(*) FROM mkt.decide('gc')" > /dev/null
wpid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_marketing decision log writer'")
q "SELECT pg_terminate_backend($wpid)" > /dev/null
id=$(q "SELECT decision_id FROM mkt.decide('gc', '{}', 'after kill')")
check "after the writer is terminated, decisions still commit (through a new writer)" "1|1" \
  "$(q "SELECT count(*) FROM mkt.decisions WHERE decision_id = $id")|$(writers)"

id=$(q "SELECT decision_id FROM mkt.decide('gc', '{\"segment\": 1}', 'durable')")
as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop > /dev/null
as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w start > /dev/null
dcheck "a decision survives a crash right after decide returned" "durable" "$(q "SELECT subject FROM mkt.decisions WHERE decision_id = $id")"
check "and decisions go on after the restart" "1" "$(q "SELECT count(*) FROM mkt.decide('gc')")"
finish group_commit
