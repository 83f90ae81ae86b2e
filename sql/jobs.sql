-- Background jobs: documentation of their functions (src/jobs/api.rs) and the view of their queue.

COMMENT ON FUNCTION mkt.live_progress() IS
'Where each long pg_marketing call running now is: its backend pid, phase (e.g. als sweeps, ease solve, profile scans), done of total, and when it last reported (epoch seconds). Calls report after their first second, about once a second; mkt.jobs shows it for jobs.';

CREATE VIEW mkt.jobs AS
SELECT q.job_id, q.command, q.submitted_by,
       CASE WHEN q.state = 'running'
                 AND (q.started_at < pg_postmaster_start_time()
                      OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = q.worker_pid))
            THEN 'failed' ELSE q.state END AS state,
       CASE WHEN q.state = 'succeeded' THEN 1.0::float8
            WHEN q.state = 'running' THEN coalesce(e.epoch::float8 / e.epochs, p.done::float8 / nullif(p.total, 0))
       END AS progress,
       CASE WHEN q.state = 'running' THEN
            coalesce(CASE WHEN e.epoch IS NOT NULL THEN
                          format('epoch %s/%s loss %s ndcg@10 %s', e.epoch, e.epochs, round(e.loss::numeric, 4),
                                 coalesce(round(e.metric::numeric, 4)::text, '-')) END,
                     CASE WHEN p.phase IS NOT NULL THEN format('%s %s/%s', p.phase, p.done, p.total) END)
       END AS message,
       q.result, q.error, q.priority, q.submitted_at, q.started_at, q.finished_at, q.worker_pid
FROM mkt.job_queue q
-- Each live source is read once per running job, and not at all for the others (the quals on q
-- gate the scans).
LEFT JOIN LATERAL (SELECT l.epoch, l.epochs, l.loss, l.metric FROM mkt.live_training() l
                   WHERE q.state = 'running' AND l.pid = q.worker_pid ORDER BY l.epoch DESC LIMIT 1) e ON true
LEFT JOIN LATERAL (SELECT lp.phase, lp.done, lp.total FROM mkt.live_progress() lp
                   WHERE q.state = 'running' AND lp.pid = q.worker_pid LIMIT 1) p ON true;
COMMENT ON VIEW mkt.jobs IS
'Every job: state queued|running|succeeded|failed|cancelled (a running job whose worker is gone shows failed), progress 0..1 and a message while it runs (the latest epoch of neural training, else the phase of the work, e.g. ''als 120000/2100000''), the result rows (jsonb) or the error.';

COMMENT ON FUNCTION mkt.submit_job(text, int) IS
'Queues one SELECT of a long mkt function (train_recommender, retrain, tune_recommender, evaluate_recommender, train_policy, evaluate_policy, estimate_policy_value, simulate_campaign, profile, clean, fit_transform, apply_transform, rfm, user_features, split, train_clv, evaluate_clv, train_predictor, evaluate_predictor, train_uplift, evaluate_uplift, decide_all) to run in a background worker as the submitting role, after this transaction commits. At most mkt.max_workers jobs of a database run at once. Returns the job id; follow it in mkt.jobs.';

COMMENT ON FUNCTION mkt.cancel_job(bigint) IS
'Cancels a queued job, or interrupts a running one (its state becomes cancelled and nothing it would have written stays). True when there was something to cancel.';

COMMENT ON FUNCTION mkt.wait_job(bigint, interval) IS
'Waits until a job is no longer queued or running, or until the timeout, and returns its state.';
