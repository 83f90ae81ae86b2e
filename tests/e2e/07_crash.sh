#!/usr/bin/env bash
# Crashes: a reward committed just before an immediate shutdown survives (immediate and deferred);
# kill -9 of a training backend and of a job's worker leaves nothing half-written, the job shows
# failed, and the deployed model still serves.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model
setup_policy 60
q "SELECT mkt.create_policy('later', ARRAY['a', 'b'], 'thompson', '{\"learning\": \"deferred\"}')" > /dev/null

visits() { q "SELECT coalesce(sum(n), 0) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE policy_name = '$1'"; }
before=$(visits conc)
id=$(q "SELECT decision_id FROM mkt.decide('conc', '{\"segment\": 1}')")
q "SELECT mkt.reward($id, 1)" > /dev/null
later=$(q "SELECT decision_id FROM mkt.decide('later')")
q "SELECT mkt.reward($later, 1)" > /dev/null
as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w stop > /dev/null
as_postgres "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_LOG" -w start > /dev/null
dcheck "a committed reward survives a crash" "1" "$(q "SELECT reward FROM mkt.decisions WHERE decision_id = $id")"
dcheck "its update of the policy survives too" "$((before + 1))" "$(visits conc)"
dcheck "a committed deferred reward survives a crash" "1" "$(q "SELECT count(*) FROM mkt.reward_log WHERE decision_id = $later")"
q "SELECT * FROM mkt.fold_rewards('later')" > /dev/null
dcheck "and is learned at the next fold" "1" "$(visits later)"

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
finish crash
