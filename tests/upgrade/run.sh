#!/usr/bin/env bash
# ALTER EXTENSION pg_marketing UPDATE from the previous release: builds that release (git tag
# v<old>) from this repository's history, installs it, trains models and runs a policy with it,
# then installs the current build and updates. Everything must keep working: byte-identical
# top-k from every model, the same policy state, and a schema identical to a fresh install's.
# Expects the current build installed (make install); puts it back when done.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. scripts/cluster.sh
OLD=0.1.0
NEW=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
LIB=$($PGBIN/pg_config --pkglibdir)
EXT=$($PGBIN/pg_config --sharedir)/extension
if ! git rev-parse -q --verify "refs/tags/v$OLD" > /dev/null; then
  echo "SKIPPED: this clone has no tag v$OLD (git fetch --tags); the upgrade test did not run"
  exit 0
fi
PASS=0; FAIL=0
ok()   { echo "ok   - $1"; PASS=$((PASS + 1)); }
fail() { echo "FAIL - $1"; FAIL=$((FAIL + 1)); }
q()    { psql -X -qAt -v ON_ERROR_STOP=1 -c "$1"; }
check() { # name, expected, actual
  if [ "$2" = "$3" ] && [ -n "$2" ]; then ok "$1"; else fail "$1: expected [$2] got [$3]"; fi
}
# Replaces an installed file by renaming a copy over it: running backends keep the old inode.
put() { install -m "$3" "$1" "$2.new" && mv -f "$2.new" "$2"; }

WORK=$(mktemp -d /tmp/pg_marketing-upgrade.XXXXXX)
cp "$LIB/pg_marketing.so" "$WORK/current.so"
cp "$EXT/pg_marketing.control" "$WORK/current.control"
restore() {
  cluster_stop
  put "$WORK/current.so" "$LIB/pg_marketing.so" 755
  put "$WORK/current.control" "$EXT/pg_marketing.control" 644
  rm -rf "$WORK"
}
trap restore EXIT

echo "building v$OLD from the tag (its own target folder, kept between runs)"
mkdir -p "$WORK/src" && git archive "v$OLD" | tar x -C "$WORK/src"
if ! (cd "$WORK/src" && CARGO_TARGET_DIR="$ROOT/target/v$OLD" cargo pgrx package --debug \
      --pg-config "$PGBIN/pg_config" --out-dir "$WORK/pkg") > "$WORK/build.log" 2>&1; then
  tail -20 "$WORK/build.log"; echo "FAIL - building v$OLD"; exit 1
fi
put "$WORK/pkg$LIB/pg_marketing.so" "$LIB/pg_marketing.so" 755
put "$WORK/pkg$EXT/pg_marketing.control" "$EXT/pg_marketing.control" 644
put "$WORK/pkg$EXT/pg_marketing--$OLD.sql" "$EXT/pg_marketing--$OLD.sql" 644

cluster_start
q "CREATE EXTENSION pg_marketing VERSION '$OLD'" > /dev/null
check "version $OLD installs" "$OLD" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_marketing'")"
q "SELECT * FROM mkt.demo_data(1)" > /dev/null 2>&1
q "SELECT * FROM mkt.split('mkt_demo.events', 'tr', 'te', method => 'temporal', time_col => 'ts')" > /dev/null
for a in als ease item_knn bpr popularity; do
  q "SELECT 1 FROM mkt.train_recommender('m_$a', 'tr', algorithm => '$a')" > /dev/null
done
# A second version that is not deployed: serving must stay on version 1.
q "SELECT 1 FROM mkt.train_recommender('m_als', 'tr', algorithm => 'als', params => '{\"factors\": 8, \"deploy\": false}')" > /dev/null
q "SELECT mkt.create_policy('offers', ARRAY['none', 'coupon', 'free_ship'], 'q_learning', '{\"epsilon\": 0.2, \"state_features\": [\"segment\"], \"seed\": 5}')" > /dev/null
q "SELECT count(mkt.reward(d.decision_id, (u % 3 = 0)::int)) FROM generate_series(1, 60) u,
   LATERAL mkt.decide('offers', jsonb_build_object('segment', u % 4), u::text) d" > /dev/null
q "SELECT 1 FROM mkt.decide('offers', '{\"segment\": 1}', 'pending')" > /dev/null
# A campaign from the old version: its generated trigger keeps calling mkt.campaign_fire.
q "CREATE TABLE carts_u (user_id bigint, event_type text)"
q "SELECT mkt.create_campaign('old_c', 'offers', 'carts_u', 'user_id', params => '{\"control_fraction\": 0}')" > /dev/null
q "INSERT INTO carts_u VALUES (1, 'cart')"
tops="SELECT md5(string_agg(m || ':' || u || ':' || r.item_id || ':' || r.score, ',' ORDER BY m, u, r.rank))
      FROM unnest(ARRAY['m_als', 'm_ease', 'm_item_knn', 'm_bpr', 'm_popularity']) m, generate_series(1, 40) u,
      LATERAL mkt.recommend(m, u, 10) r"
state="SELECT md5(string_agg(state || action || value || visits, ',' ORDER BY state, action)) FROM mkt.policy_values('offers')"
catalog="SELECT string_agg(model_name || ':' || version || ':' || deployed, ',' ORDER BY model_name, version) FROM mkt.models"
before_tops=$(q "$tops"); before_state=$(q "$state"); before_catalog=$(q "$catalog")
before_decisions=$(q "SELECT count(*) || ':' || count(reward) FROM mkt.decisions")

# The current build replaces the old one; existing sessions end (a restart), then the update.
put "$WORK/current.so" "$LIB/pg_marketing.so" 755
put "$WORK/current.control" "$EXT/pg_marketing.control" 644
[ -f "$EXT/pg_marketing--$OLD--$NEW.sql" ] && ok "the upgrade script $OLD -> $NEW is installed" \
  || fail "no $EXT/pg_marketing--$OLD--$NEW.sql (make install copies sql/pg_marketing--*--*.sql)"
cluster_restart
out=$(q "ALTER EXTENSION pg_marketing UPDATE" 2>&1)
[ -z "$out" ] && ok "ALTER EXTENSION pg_marketing UPDATE succeeds" || fail "the update said: $out"
check "the extension is at $NEW" "$NEW" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_marketing'")"
check "every model serves byte-identical top-10s after the update" "$before_tops" "$(q "$tops")"
check "the model catalog is unchanged" "$before_catalog" "$(q "$catalog")"
check "the policy state is unchanged" "$before_state" "$(q "$state")"
check "the decision log is unchanged" "$before_decisions" "$(q "SELECT count(*) || ':' || count(reward) FROM mkt.decisions")"
check "rewards given before the update count as learned" "0" "$(q "SELECT count(*) FROM mkt.decisions WHERE reward IS NOT NULL AND NOT applied")"
pending=$(q "SELECT decision_id FROM mkt.decisions WHERE subject = 'pending'")
q "SELECT mkt.reward($pending, 1, subject => 'pending')" > /dev/null
check "the new reward signature learns at once on a single server" "1|0" \
  "$(q "SELECT count(*) FILTER (WHERE applied) FROM mkt.decisions WHERE decision_id = $pending")|$(q "SELECT count(*) FROM mkt.fold_rewards()")"
q "INSERT INTO carts_u VALUES (2, 'cart')"
check "a campaign from before the update keeps deciding, immediately" "2|2|0" \
  "$(q "SELECT count(*) FROM mkt.campaign_touches")|$(q "SELECT count(*) FROM mkt.outbox")|$(q "SELECT count(*) FROM mkt.campaign_queue")"
# Dropped with its generated trigger function, which the schema comparison below would count.
q "SELECT mkt.drop_campaign('old_c')" > /dev/null
check "old models can be retrained into new versions" "2" \
  "$(q "SELECT version FROM mkt.train_recommender('m_ease', 'tr', algorithm => 'ease')")"
[ -z "$(q "SELECT grantee FROM mkt.model_acl WHERE model_name = 'm_bpr'")" ] && ok "a model from before the update has no owner until claimed" \
  || fail "m_bpr has an owner after the update"
q "CREATE ROLE upd_owner" > /dev/null
q "SELECT mkt.grant_model('m_bpr', 'upd_owner', 'owner')" > /dev/null
check "a superuser can give an old model an owner" "upd_owner" "$(q "SELECT grantee FROM mkt.model_acl WHERE model_name = 'm_bpr'")"

q "CREATE DATABASE fresh" > /dev/null
psql -X -qAt -d fresh -c "CREATE EXTENSION pg_marketing" > /dev/null
psql -X -qAt -v ON_ERROR_STOP=1 -f tests/upgrade/schema.sql > "$WORK/updated.txt" || fail "describing the updated schema"
psql -X -qAt -v ON_ERROR_STOP=1 -d fresh -f tests/upgrade/schema.sql > "$WORK/fresh.txt" || fail "describing a fresh schema"
if [ "$(wc -l < "$WORK/fresh.txt")" -lt 200 ]; then
  fail "the schema description has only $(wc -l < "$WORK/fresh.txt") lines"
elif diff "$WORK/fresh.txt" "$WORK/updated.txt" > "$WORK/schema.diff"; then
  ok "the updated schema equals a fresh install of $NEW ($(wc -l < "$WORK/fresh.txt") objects compared)"
else
  fail "the updated schema differs from a fresh install of $NEW:"; sed 's/^/    /' "$WORK/schema.diff" | head -40
fi
grep -q "terminated by signal" "$CLUSTER_LOG" && fail "a backend crashed" || ok "no backend crashed"

echo "upgrade: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
