#!/usr/bin/env bash
# ALTER EXTENSION pg_marketing UPDATE from every earlier release: each is built from the commit
# RELEASES names (git archive into target/upgrade, which the releases share: see below), installed, used (models
# of every kind of the time, a policy with rewards, a campaign), then the current build replaces it
# and the extension is updated. Everything must keep working: byte-identical top-k from every
# model, the same catalog and policy state, and a schema identical to a fresh install's.
#   tests/upgrade/run.sh           every earlier release
#   tests/upgrade/run.sh 0.1.0     one
# Expects the current build installed (make install); puts it back when done. A release whose
# commit this clone lacks (a shallow clone) is skipped with a message, and fails under CI=true.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
. tests/lib.sh
NEW=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
LIB=$($PGBIN/pg_config --pkglibdir)
EXT=$($PGBIN/pg_config --sharedir)/extension
# Replaces an installed file by renaming a copy over it: running backends keep the old inode.
put() { install -m "$3" "$1" "$2.new" && mv -f "$2.new" "$2"; }
older() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]; }

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

# upgrade_from VERSION COMMIT: the whole check for one earlier release.
upgrade_from() {
  local old=$1 commit=$2 src="$WORK/src-$1" pkg="$WORK/pkg-$1"
  echo "== from $old ($commit)"
  if ! git cat-file -e "$commit^{commit}" 2> /dev/null; then
    if [ "${CI:-}" = true ]; then fail "release $old: commit $commit is not in this clone"
    else echo "SKIPPED: release $old: commit $commit is not in this clone (a shallow clone? git fetch --unshallow)"; fi
    return
  fi
  echo "building $old (target/upgrade)"
  # The releases share one target folder, so crates.io dependencies of equal versions compile once
  # (a build of a release after the first takes minutes, not ten). Our own crates keep their
  # version across releases, so cargo tells the copies apart only by modification time: tar -m
  # stamps the extracted files now, newer than anything built before, and every release rebuilds
  # them. The folder is not the current build's: its artifacts would be taken for this one's.
  mkdir -p "$src" && git archive "$commit" | tar x -m -C "$src"
  # Each release builds once: no incremental caches, and line tables only (as this release's
  # Cargo.toml does; older ones carried full debug info), so the shared folder stays small.
  if ! (cd "$src" && CARGO_TARGET_DIR="$ROOT/target/upgrade" CARGO_INCREMENTAL=0 \
        CARGO_PROFILE_DEV_DEBUG=line-tables-only cargo pgrx package --debug \
        --pg-config "$PGBIN/pg_config" --out-dir "$pkg") > "$WORK/build-$old.log" 2>&1; then
    tail -20 "$WORK/build-$old.log"; fail "building $old"; return
  fi
  put "$pkg$LIB/pg_marketing.so" "$LIB/pg_marketing.so" 755
  put "$pkg$EXT/pg_marketing.control" "$EXT/pg_marketing.control" 644
  put "$pkg$EXT/pg_marketing--$old.sql" "$EXT/pg_marketing--$old.sql" 644

  cluster_start
  q "CREATE EXTENSION pg_marketing VERSION '$old'" > /dev/null
  check "$old: version $old installs" "$old" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_marketing'")"
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
  # A customer value model, where the old release has them.
  local has_clv values="SELECT 'none'"
  has_clv=$(q "SELECT to_regproc('mkt.train_clv') IS NOT NULL")
  if [ "$has_clv" = t ]; then
    q "SELECT 1 FROM mkt.train_clv('old_clv', 'tr', 'user_id', 'ts', params => '{\"period\": \"day\"}')" > /dev/null
    values="SELECT md5(string_agg(customer_id || ':' || p_alive || ':' || expected_purchases, ',' ORDER BY customer_id))
            FROM mkt.customer_value('old_clv', 30)"
  fi
  # A predictor, where the old release has them: its scores must not change with the update.
  local has_pred scores="SELECT 'none'"
  q "CREATE TABLE upd_buyers AS SELECT u.user_id, u.segment, u.region, u.age_band, (u.user_id % 2)::int AS treated,
     (EXISTS (SELECT 1 FROM mkt_demo.events e WHERE e.user_id = u.user_id AND e.event_type = 'purchase'))::int AS bought
     FROM mkt_demo.users u" > /dev/null
  has_pred=$(q "SELECT to_regproc('mkt.train_predictor') IS NOT NULL")
  if [ "$has_pred" = t ]; then
    q "SELECT 1 FROM mkt.train_predictor('old_pred', 'upd_buyers', 'bought', ARRAY['segment', 'region', 'age_band'], params => '{\"key\": \"user_id\"}')" > /dev/null
    scores="SELECT md5(string_agg(key || ':' || score, ',' ORDER BY key)) FROM mkt.predict_all('old_pred', 'upd_buyers', 'user_id')"
  fi
  # A sequence model, where the old release has them: stored before 'gru' and history sources
  # existed, it must serve the same answers after the update (scores to 3 decimals: serving now runs its own
  # forward pass, equal to the training net's to float rounding).
  local has_seq seq_tops="SELECT 'none'"
  has_seq=$(q "SELECT to_regproc('mkt.recommend_next') IS NOT NULL")
  if [ "$has_seq" = t ]; then
    q "SELECT 1 FROM mkt.train_recommender('old_seq', 'tr', algorithm => 'sequential', params => '{\"time_col\": \"ts\", \"epochs\": 2, \"dim\": 16, \"max_length\": 10}')" > /dev/null
    seq_tops="SELECT md5(string_agg(u || ':' || r.item_id || ':' || round(r.score::numeric, 3), ',' ORDER BY u, r.rank)) FROM generate_series(1, 40) u,
              LATERAL mkt.recommend('old_seq', u, 10) r"
  fi
  local before_seq; before_seq=$(q "$seq_tops")
  local tops state catalog decisions
  tops="SELECT md5(string_agg(m || ':' || u || ':' || r.item_id || ':' || r.score, ',' ORDER BY m, u, r.rank))
        FROM unnest(ARRAY['m_als', 'm_ease', 'm_item_knn', 'm_bpr', 'm_popularity']) m, generate_series(1, 40) u,
        LATERAL mkt.recommend(m, u, 10) r"
  state="SELECT md5(string_agg(state || action || value || visits, ',' ORDER BY state, action)) FROM mkt.policy_values('offers')"
  catalog="SELECT string_agg(model_name || ':' || version || ':' || deployed, ',' ORDER BY model_name, version) FROM mkt.models"
  decisions="SELECT count(*) || ':' || count(reward) FROM mkt.decisions"
  local before_tops before_state before_catalog before_decisions
  before_tops=$(q "$tops"); before_state=$(q "$state"); before_catalog=$(q "$catalog"); before_decisions=$(q "$decisions")
  local before_values; before_values=$(q "$values")
  local before_scores; before_scores=$(q "$scores")

  # The current build replaces the old one; existing sessions end (a restart), then the update.
  put "$WORK/current.so" "$LIB/pg_marketing.so" 755
  put "$WORK/current.control" "$EXT/pg_marketing.control" 644
  cluster_restart
  local out; out=$(q "ALTER EXTENSION pg_marketing UPDATE" 2>&1)
  expect_empty "$old: ALTER EXTENSION pg_marketing UPDATE succeeds" "$out"
  check "$old: the extension is at $NEW" "$NEW" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_marketing'")"
  dcheck "$old: every model serves byte-identical top-10s after the update" "$before_tops" "$(q "$tops")"
  dcheck "$old: the model catalog is unchanged" "$before_catalog" "$(q "$catalog")"
  [ "$has_clv" = t ] && dcheck "$old: a customer value model serves the same values after the update" "$before_values" "$(q "$values")"
  [ "$has_pred" = t ] && dcheck "$old: a predictor scores every row the same after the update" "$before_scores" "$(q "$scores")"
  [ "$has_seq" = t ] && dcheck "$old: a sequence model serves the same top-10s after the update" "$before_seq" "$(q "$seq_tops")"
  dcheck "$old: the policy state is unchanged" "$before_state" "$(q "$state")"
  dcheck "$old: the decision log is unchanged" "$before_decisions" "$(q "$decisions")"
  check "$old: rewards given before the update count as learned" "0" "$(q "SELECT count(*) FROM mkt.decisions WHERE reward IS NOT NULL AND NOT applied")"
  local pending; pending=$(q "SELECT decision_id FROM mkt.decisions WHERE subject = 'pending'")
  q "SELECT mkt.reward($pending, 1, subject => 'pending')" > /dev/null
  check "$old: the pending decision takes a reward and it is learned at once" "1|0" \
    "$(q "SELECT count(*) FILTER (WHERE applied) FROM mkt.decisions WHERE decision_id = $pending")|$(q "SELECT count(*) FROM mkt.fold_rewards()")"
  q "INSERT INTO carts_u VALUES (2, 'cart')"
  check "$old: a campaign from before the update keeps deciding, immediately" "2|2|0" \
    "$(q "SELECT count(*) FROM mkt.campaign_touches")|$(q "SELECT count(*) FROM mkt.outbox")|$(q "SELECT count(*) FROM mkt.campaign_queue")"
  expect_error "$old: the updated campaign runtime raises its errors with their SQLSTATEs" \
    "ERROR:  42704: campaign 'nope' does not exist" "SELECT mkt.process_campaign('nope')"
  # Dropped with its generated trigger function, which the schema comparison below would count.
  q "SELECT mkt.drop_campaign('old_c')" > /dev/null
  check "$old: old models can be retrained into new versions" "2" \
    "$(q "SELECT version FROM mkt.train_recommender('m_ease', 'tr', algorithm => 'ease')")"
  check "$old: a customer value model trains and serves beside the old models" "bg_nbd|t" \
    "$(q "SELECT model FROM mkt.train_clv('upd_clv', 'tr', 'user_id', 'ts', params => '{\"period\": \"day\"}')")|$(q "SELECT mkt.p_alive('upd_clv', (SELECT user_id::text FROM tr LIMIT 1)) BETWEEN 0 AND 1")"
  check "$old: a predictor and an uplift model train and serve beside the old models" "gbdt|t|t_learner|t" \
    "$(q "SELECT algorithm FROM mkt.train_predictor('upd_pred', 'upd_buyers', 'bought', ARRAY['segment', 'region', 'age_band'])")|$(q "SELECT mkt.predict('upd_pred', '{\"segment\": \"x\"}') BETWEEN 0 AND 1")|$(q "SELECT algorithm FROM mkt.train_uplift('upd_uplift', 'upd_buyers', 'treated', 'bought', ARRAY['segment', 'region'])")|$(q "SELECT mkt.predict_uplift('upd_uplift', '{}') BETWEEN -1 AND 1")"
  check "$old: a multiclass predictor trains and serves beside the old models" "gbdt|t|t" \
    "$(q "SELECT algorithm FROM mkt.train_predictor('upd_multi', 'upd_buyers', 'segment', ARRAY['region', 'age_band'], 'multiclass')")|$(q "SELECT round(sum(probability)::numeric, 9) = 1 FROM mkt.predict_proba('upd_multi', '{}')")|$(q "SELECT mkt.predict_class('upd_multi', '{}') IN (SELECT segment FROM upd_buyers)")"
  check "$old: a class's probability serves, for a source too, and a campaign targets a class" "t|t|1" \
    "$(q "SELECT mkt.predict_probability('upd_multi', '{}', (SELECT min(segment) FROM upd_buyers)) BETWEEN 0 AND 1")|$(q "SELECT count(*) = (SELECT count(*) * count(DISTINCT segment) FROM upd_buyers) FROM mkt.predict_proba_all('upd_multi', 'upd_buyers', 'user_id')")|$(q "SELECT count(*) FROM (SELECT mkt.create_campaign('upd_class_c', 'offers', 'carts_u', 'user_id', params => jsonb_build_object('target', jsonb_build_object('predictor', 'upd_multi', 'class', (SELECT min(segment) FROM upd_buyers), 'min_score', 0))), mkt.drop_campaign('upd_class_c')) x")"
  check "$old: a network predictor and an uplift model with network bases train beside the old models" "mlp|t|t_learner" \
    "$(q "SELECT algorithm FROM mkt.train_predictor('upd_mlp', 'upd_buyers', 'bought', ARRAY['segment', 'region', 'age_band'], algorithm => 'mlp', params => '{\"hidden\": [8], \"epochs\": 5}')")|$(q "SELECT mkt.predict('upd_mlp', '{\"segment\": \"x\"}') BETWEEN 0 AND 1")|$(q "SELECT algorithm FROM mkt.train_uplift('upd_uplift_mlp', 'upd_buyers', 'treated', 'bought', ARRAY['segment', 'region'], params => '{\"base\": \"mlp\", \"hidden\": [8], \"epochs\": 5}')")"
  check "$old: mkt.decide_all decides with a policy from before the update and logs every decision" "60|60" \
    "$(q "SELECT count(*) FROM mkt.decide_all('offers', 'SELECT g AS u, g % 4 AS segment FROM generate_series(1, 60) g', 'u')")|$(q "SELECT count(*) FROM mkt.decisions WHERE subject ~ '^[0-9]+$' AND decided_at > now() - interval '1 minute' AND context ? 'segment' AND decision_id > (SELECT max(decision_id) - 60 FROM mkt.decisions)")"
  q "CREATE ROLE upd_owner" > /dev/null
  q "SELECT mkt.grant_model('m_bpr', 'upd_owner', 'owner')" > /dev/null
  check "$old: a model can be given an owner" "upd_owner" "$(q "SELECT grantee FROM mkt.model_acl WHERE model_name = 'm_bpr' AND privilege = 'owner'")"

  q "CREATE DATABASE fresh" > /dev/null
  psql -X -qAt -d fresh -c "CREATE EXTENSION pg_marketing" > /dev/null
  psql -X -qAt -v ON_ERROR_STOP=1 -f tests/upgrade/schema.sql > "$WORK/updated.txt" || fail "$old: describing the updated schema"
  psql -X -qAt -v ON_ERROR_STOP=1 -d fresh -f tests/upgrade/schema.sql > "$WORK/fresh.txt" || fail "$old: describing a fresh schema"
  if [ "$(wc -l < "$WORK/fresh.txt")" -lt 200 ]; then
    fail "$old: the schema description has only $(wc -l < "$WORK/fresh.txt") lines"
  elif diff "$WORK/fresh.txt" "$WORK/updated.txt" > "$WORK/schema.diff"; then
    ok "$old: the updated schema equals a fresh install of $NEW ($(wc -l < "$WORK/fresh.txt") objects compared)"
  else
    fail "$old: the updated schema differs from a fresh install of $NEW:"; sed 's/^/    /' "$WORK/schema.diff" | head -40
  fi
  local crashes; crashes=$(crashes_in "$CLUSTER_LOG")
  check "$old: no backend crashed" "0" "$crashes"
  cluster_stop
}

[ -f "$EXT/pg_marketing--$NEW.sql" ] || { echo "FAIL - $NEW is not installed (make install)"; exit 1; }
tested=0
while read -r version commit; do
  case "$version" in ''|'#'*) continue ;; esac
  [ $# -gt 0 ] && [[ " $* " != *" $version "* ]] && continue
  older "$version" "$NEW" || continue
  upgrade_from "$version" "$commit"
  tested=$((tested + 1))
done < RELEASES
[ "$tested" -gt 0 ] || fail "RELEASES names no release older than $NEW${*:+ among: $*}"
echo "upgrade: $PASS passed, $FAIL failed ($tested releases)"
[ "$FAIL" = 0 ]
