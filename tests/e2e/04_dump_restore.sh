#!/usr/bin/env bash
# pg_dump / pg_restore of everything: models, policies, transforms, jobs. The copy serves
# byte-identical top-k, the same policy values, decisions, transforms, deployed versions and jobs.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model
setup_policy
q "SELECT * FROM mkt.train_recommender('m', 'tr', algorithm => 'popularity', params => '{\"deploy\": false}')" > /dev/null
q "SELECT mkt.fit_transform('tf', 'tr', '{\"item_id\": \"standard\"}')" > /dev/null
job=$(q "SELECT mkt.submit_job('SELECT * FROM mkt.profile(''tr'')')")
q "SELECT mkt.wait_job($job, '60 s')" > /dev/null

createdb -T template0 restored
pg_dump -Fc -d postgres -f "$CLUSTER_DIR/dump" && pg_restore -d restored "$CLUSTER_DIR/dump" 2> "$CLUSTER_DIR/restore.err"
same() { # description, query: equal on the original and the restored database
  dcheck "after pg_dump/pg_restore: $1" "$(q "$2")" "$(psql -X -qAt -d restored -c "$2")"
}
same "byte-identical top-10 of 30 users" \
  "SELECT md5(string_agg(r.item_id || ':' || r.score, ',' ORDER BY u, r.rank)) FROM generate_series(1, 30) u, mkt.recommend('m', u, 10) r"
same "every version" "SELECT count(*) FROM mkt.model_versions"
same "the same policy values and visits" \
  "SELECT md5(string_agg(state || action || value || visits, ',' ORDER BY state, action)) FROM mkt.policy_values('conc')"
same "the same decisions and rewards" "SELECT count(*) || ':' || sum(reward::numeric) FROM mkt.decisions"
same "the same transforms, applying the same" \
  "SELECT md5(string_agg(t::text, ',' ORDER BY transform_name)) FROM mkt.transforms t"
same "the job history" "SELECT md5(string_agg(job_id || command || state, ',' ORDER BY job_id)) FROM mkt.job_queue"
same "the deployed versions" "SELECT string_agg(model_name || version, ',' ORDER BY model_name) FROM mkt.models WHERE deployed"
expect_empty "restoring reported no error about pg_marketing" "$(grep -i 'mkt\|pg_marketing' "$CLUSTER_DIR/restore.err" | head -3)"
finish dump_restore
