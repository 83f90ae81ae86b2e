#!/usr/bin/env bash
# Campaigns under load: 8 sessions inserting at once never exceed the frequency cap or the budget;
# two delivery workers claiming at once never get the same message; the same for a queued
# campaign whose events 4 delivery workers process while they claim.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
q "CREATE EXTENSION pg_marketing" > /dev/null
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
# claim FILE CAMPAIGN ROUNDS: one delivery worker claiming 10 messages per round (errors kept too).
claim() { for _ in $(seq "$3"); do psql -X -qAt -c "SELECT message_id FROM mkt.claim_messages('$2', 10)" 2>&1; done > "$1"; }
of() { echo "JOIN mkt.campaigns c USING (campaign_id) WHERE campaign_name = '$1'"; }

campaign_under_load busy carts immediate
check "frequency cap holds under concurrency" "t" "$(q "SELECT max(n) <= 5 FROM (SELECT count(*) n FROM mkt.campaign_touches $(of busy) GROUP BY subject) s")"
check "budget holds under concurrency" "200" "$(q "SELECT count(*) FROM mkt.outbox $(of busy)")"
claim "$CLUSTER_DIR/w1" busy 15 & claim "$CLUSTER_DIR/w2" busy 15 & wait
check "two workers never claim the same message" "0" "$(cat "$CLUSTER_DIR/w1" "$CLUSTER_DIR/w2" | sort | uniq -d | wc -l)"
check "together they claim every message" "200" "$(cat "$CLUSTER_DIR/w1" "$CLUSTER_DIR/w2" | sort -u | wc -l)"

campaign_under_load qbusy carts_q queued
check "the inserts only queue the events" "800|0" \
  "$(q "SELECT count(*) FROM mkt.campaign_queue")|$(q "SELECT count(*) FROM mkt.outbox $(of qbusy)")"
for w in 1 2 3 4; do claim "$CLUSTER_DIR/q$w" qbusy 30 & done; wait
q "SELECT mkt.process_campaign('qbusy')" > /dev/null
check "4 workers processing and claiming at once: no error, no message twice" "0|0" \
  "$(cat "$CLUSTER_DIR"/q[1-4] | grep -vc '^[0-9]*$')|$(cat "$CLUSTER_DIR"/q[1-4] | sort | uniq -d | wc -l)"
check "every queued event was processed" "0" "$(q "SELECT count(*) FROM mkt.campaign_queue")"
check "the queued campaign's frequency cap and budget hold" "t|200" \
  "$(q "SELECT max(n) <= 5 FROM (SELECT count(*) n FROM mkt.campaign_touches $(of qbusy) GROUP BY subject) s")|$(q "SELECT count(*) FROM mkt.outbox $(of qbusy)")"
finish campaigns_under_load
