#!/usr/bin/env bash
# Jobs in background workers: they run as the submitting role, show progress while running, can
# be cancelled, a killed worker shows failed, and at most mkt.max_workers run at once.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
start_cluster
setup_demo_model
setup_analyst
aq() { psql -X -qAt -v ON_ERROR_STOP=1 -U analyst -c "$1"; }
neural="''{\"epochs\": 100000, \"patience\": 100000, \"dim\": 16, \"hidden\": 16}''"

job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''jobbed'', ''tr'', params => ''{\"factors\": 8}'')')")
check "a submitted training job succeeds" "succeeded" "$(aq "SELECT mkt.wait_job($job, '60 s')")"
check "the job's model is there, created by the submitter" "analyst" "$(q "SELECT created_by FROM mkt.model_versions WHERE model_name = 'jobbed'")"
check "the job keeps its result rows" "jobbed" "$(q "SELECT result->0->>'model_name' FROM mkt.jobs WHERE job_id = $job")"
job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''sneaky'', ''secret'')')")
check "a job cannot read what its submitter cannot" "failed|t" \
  "$(aq "SELECT mkt.wait_job($job, '60 s')")|$(q "SELECT error LIKE '%permission denied%' FROM mkt.jobs WHERE job_id = $job")"
err=$(aq "SELECT mkt.submit_job('DELETE FROM mkt.model_versions')" 2>&1)
grep -q "a job must be one SELECT" <<< "$err" && ok "a job that is not a mkt call is refused" || fail "refusal: $err"

job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''deepjob'', ''tr'', algorithm => ''neural'', params => $neural)')")
seen=$(poll "running|true|true" 300 "SELECT state || '|' || (progress > 0) || '|' || (message LIKE 'epoch %') FROM mkt.jobs WHERE job_id = $job")
check "a running job shows its state, progress and epoch to other sessions" "running|true|true" "$seen"
check "cancel_job interrupts it" "t" "$(aq "SELECT mkt.cancel_job($job)")"
check "the cancelled job ends as cancelled" "cancelled" "$(aq "SELECT mkt.wait_job($job, '30 s')")"
check "a cancelled job leaves no version" "0" "$(q "SELECT count(*) FROM mkt.model_versions WHERE model_name = 'deepjob'")"

job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''killed'', ''tr'', algorithm => ''neural'', params => $neural)')")
poll running 100 "SELECT state FROM mkt.jobs WHERE job_id = $job" > /dev/null
q "SELECT pg_terminate_backend(worker_pid) FROM mkt.jobs WHERE job_id = $job" > /dev/null
sleep 1
check "a job whose worker was killed shows failed, not running" "failed" "$(aq "SELECT mkt.wait_job($job, '10 s')")"

job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''alsjob'', ''tr'', params => ''{\"iterations\": 10000}'')')")
seen=$(poll "running|true|true" 100 "SELECT state || '|' || (progress > 0 AND progress < 1) || '|' || (message ~ '^als [0-9]+/[0-9]+$') FROM mkt.jobs WHERE job_id = $job")
check "a running ALS job (no epochs) shows its progress and phase" "running|true|true" "$seen"
aq "SELECT mkt.cancel_job($job)" > /dev/null
check "and cancels as well" "cancelled" "$(aq "SELECT mkt.wait_job($job, '30 s')")"

job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_clv(''clvjob'', ''tr'', ''user_id'', ''ts'', params => ''{\"period\": \"day\"}'')')")
check "a customer value model trains in a job too, as its submitter" "succeeded|analyst|bg_nbd" \
  "$(aq "SELECT mkt.wait_job($job, '60 s')")|$(q "SELECT created_by || '|' || algorithm FROM mkt.model_versions WHERE model_name = 'clvjob'")"

job=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_predictor(''predjob'', ''tr'', ''value'', ARRAY[''item_id''], ''regression'')')")
check "a predictor trains in a job too, as its submitter" "succeeded|analyst|gbdt" \
  "$(aq "SELECT mkt.wait_job($job, '60 s')")|$(q "SELECT created_by || '|' || algorithm FROM mkt.model_versions WHERE model_name = 'predjob'")"

psql -X -qAt -c "LOAD 'pg_marketing'" -c "ALTER SYSTEM SET mkt.max_workers = 1" -c "SELECT pg_reload_conf()" > /dev/null; sleep 0.5
small="''{\"epochs\": 4, \"dim\": 8, \"hidden\": 8}''"
a=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''one'', ''tr'', algorithm => ''neural'', params => $small)')")
b=$(aq "SELECT mkt.submit_job('SELECT * FROM mkt.train_recommender(''two'', ''tr'', algorithm => ''neural'', params => $small)')")
most=0
for _ in $(seq 400); do
  n=$(q "SELECT count(*) FROM mkt.jobs WHERE job_id IN ($a, $b) AND state = 'running'")
  [ "$n" -gt "$most" ] && most=$n
  [ "$(q "SELECT count(*) FROM mkt.jobs WHERE job_id IN ($a, $b) AND state = 'succeeded'")" = 2 ] && break
  sleep 0.1
done
check "with mkt.max_workers = 1 both queued jobs run, one at a time" "2|1" \
  "$(q "SELECT count(*) FROM mkt.jobs WHERE job_id IN ($a, $b) AND state = 'succeeded'")|$most"
finish jobs
