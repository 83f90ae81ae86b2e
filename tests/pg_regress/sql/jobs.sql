-- Background jobs: what may be submitted, and unknown jobs.
\pset format unaligned
\pset fieldsep '\n    '
SELECT q, regress.err(q) FROM (VALUES
  ($$SELECT mkt.submit_job('DELETE FROM mkt.model_versions')$$),
  ($$SELECT mkt.submit_job('SELECT mkt.recommend(''m'', 1)')$$),
  ($$SELECT mkt.submit_job('SELECT * FROM mkt.profile(''t''); DROP TABLE t')$$),
  ($$SELECT mkt.cancel_job(424242)$$),
  ($$SELECT mkt.wait_job(424242, '1 s')$$)
) AS c(q);
\pset format aligned
SELECT count(*) FROM mkt.jobs;
SELECT count(*) FROM mkt.live_progress();
SELECT count(*) FROM mkt.training_log;
