-- Recommenders: training every algorithm on a planted table, serving, evaluation, explanations,
-- tuning, and every bad input with its SQLSTATE and message.
SET mkt.threads = 1;
CREATE TABLE rec_events AS SELECT * FROM regress.planted WHERE (user_id + item_id) % 5 <> 0;
CREATE TABLE rec_test AS SELECT user_id, item_id FROM regress.planted WHERE (user_id + item_id) % 5 = 0;

SELECT model_name, version, algorithm, n_users, n_items, n_interactions FROM mkt.train_recommender('rec_popularity', 'rec_events', weight_col => 'w', algorithm => 'popularity');
SELECT model_name, version, algorithm, n_users, n_items, n_interactions FROM mkt.train_recommender('rec_als', 'rec_events', weight_col => 'w', params => '{"factors": 4, "iterations": 5}');
SELECT model_name, version, algorithm, n_users, n_items, n_interactions FROM mkt.train_recommender('rec_item_knn', 'rec_events', algorithm => 'item_knn');
SELECT model_name, version, algorithm, n_users, n_items, n_interactions FROM mkt.train_recommender('rec_ease', 'rec_events', algorithm => 'ease');
SELECT model_name, version, algorithm, n_users, n_items, n_interactions FROM mkt.train_recommender('rec_bpr', 'rec_events', algorithm => 'bpr', params => '{"factors": 4}');

-- A user of group 1 gets group-1 items (i % 3 = 1) first, from every personalised model.
SELECT m, array_agg(r.item_id % 3 ORDER BY r.rank) AS groups_of_top5
FROM unnest(ARRAY['rec_als', 'rec_item_knn', 'rec_ease', 'rec_bpr']) m, mkt.recommend(m, 1::bigint, 5) r
GROUP BY m ORDER BY m;
SELECT item_id, round(score::numeric, 3) AS score, rank FROM mkt.recommend('rec_popularity', 1::bigint, 3);
SELECT item_id, rank FROM mkt.recommend('rec_ease', '1', 3);
SELECT item_id, rank FROM mkt.recommend('rec_item_knn', 4::bigint, 5, exclude_seen => false, candidates => ARRAY[1, 2, 3, 2, 999]);
SELECT count(*), count(DISTINCT user_id) FROM mkt.recommend_all('rec_ease', 3);
SELECT user_id, count(*) FROM mkt.recommend_all('rec_ease', 2, ARRAY[1, 424242]) GROUP BY 1 ORDER BY 1;
SELECT item_id % 3 AS grp, rank FROM mkt.similar_items('rec_item_knn', 4, 3);
SELECT metric, round(value::numeric, 4) AS value FROM mkt.evaluate_recommender('rec_ease', 'rec_test', 5);
SELECT because_item_id % 3 AS grp FROM mkt.explain_recommendation('rec_item_knn', 4, 7, 3);
SELECT trial, params, best FROM mkt.tune_recommender('rec_tuned', 'rec_events', algorithm => 'ease',
    search => '{"params": {"regularization": [10, 1000]}, "method": "grid"}');
SELECT version, deployed FROM mkt.retrain('rec_tuned', 'never');

-- Sequential: causal self-attention over each user's events in time order. Each user walks 30
-- items as two interleaved runs 10 to 20 items apart (the next item is the one two events back
-- plus one), so only the order says what comes next; rows are stored newest first, so only ts
-- gives it.
CREATE TABLE seq_events AS
SELECT u AS user_id,
       100 + CASE WHEN t % 2 = 0 THEN (u * 7 % 30 + t / 2) % 30 ELSE (u * 7 % 30 + 10 + u % 11 + t / 2) % 30 END AS item_id,
       timestamptz '2026-01-01' + (u * 20 + t) * interval '1 minute' AS ts
FROM generate_series(1, 300) u, generate_series(11, 0, -1) t;
SELECT model_name, version, algorithm, n_users, n_items FROM mkt.train_recommender('rec_seq', 'seq_events', algorithm => 'sequential',
    params => '{"time_col": "ts", "max_length": 10, "dim": 32, "dropout": 0, "learning_rate": 0.005, "epochs": 60, "patience": 4, "batch_size": 32}');
-- After 12 events the next is the first run's 7th item: right for nearly every user.
SELECT count(*) FILTER (WHERE r.item_id = 100 + (u * 7 % 30 + 6) % 30) >= 240 AS next_item_right_for_80pct
FROM generate_series(1, 300) u, mkt.recommend('rec_seq', u::bigint, 1, exclude_seen => false) r;
SELECT item_id, rank FROM mkt.recommend_next('rec_seq', ARRAY[107, 121], 1);
SELECT count(*) AS n, bool_and(item_id <> 108) AS excluded_left_out FROM mkt.recommend_next('rec_seq', ARRAY[107, 121, 424242], 2, exclude => ARRAY[108]);
SELECT count(*) AS events_weighed FROM mkt.explain_recommendation('rec_seq', 1, 107, 5);
SELECT mkt.import_model('rec_seq_copy', mkt.export_model('rec_seq')) AS imported_version;
SELECT count(*) AS differences FROM (SELECT * FROM mkt.recommend_all('rec_seq', 3) EXCEPT SELECT * FROM mkt.recommend_all('rec_seq_copy', 3)) d;
-- The same walks with sampled softmax: each position's next item against 8 of the 30 items
-- drawn per batch (a catalogue this small trains on all of them unless params say otherwise).
SELECT model_name FROM mkt.train_recommender('rec_seq_sampled', 'seq_events', algorithm => 'sequential',
    params => '{"time_col": "ts", "negatives": 8, "max_length": 10, "dim": 32, "dropout": 0, "learning_rate": 0.005, "epochs": 60, "patience": 4, "batch_size": 32}');
SELECT count(*) FILTER (WHERE r.item_id = 100 + (u * 7 % 30 + 6) % 30) >= 210 AS sampled_next_item_right_for_70pct
FROM generate_series(1, 300) u, mkt.recommend('rec_seq_sampled', u::bigint, 1, exclude_seen => false) r;
SELECT mkt.import_model('rec_seq_sampled_copy', mkt.export_model('rec_seq_sampled')) AS imported_version;
SELECT count(*) AS differences FROM (SELECT * FROM mkt.recommend_all('rec_seq_sampled', 3) EXCEPT SELECT * FROM mkt.recommend_all('rec_seq_sampled_copy', 3)) d;
-- The same walks read by a GRU (one recurrent layer by default).
SELECT model_name, algorithm FROM mkt.train_recommender('rec_gru', 'seq_events', algorithm => 'sequential',
    params => '{"time_col": "ts", "architecture": "gru", "max_length": 10, "dim": 32, "dropout": 0, "learning_rate": 0.005, "epochs": 40, "patience": 4, "batch_size": 32}');
SELECT count(*) FILTER (WHERE r.item_id = 100 + (u * 7 % 30 + 6) % 30) >= 240 AS gru_next_item_right_for_80pct
FROM generate_series(1, 300) u, mkt.recommend('rec_gru', u::bigint, 1, exclude_seen => false) r;
SELECT (SELECT count(*) FROM mkt.training_epochs e JOIN mkt.model_versions v USING (model_id) WHERE v.model_name = 'rec_gru') > 0 AS epochs_kept,
       position('training loss' IN mkt.model_report('rec_gru')) > 0 AS report_has_training_curve;
-- Live history: serving reads each user's latest events from a table at call time, so an event
-- written now changes the next answer. Without an index led by the user column, a NOTICE names
-- the index to create (shown here by a call that then stops at the memory limit).
CREATE TABLE seq_live AS SELECT * FROM seq_events;
SET client_min_messages = notice;
SET mkt.max_memory_mb = 4;
SELECT model_name FROM mkt.train_recommender('rec_live', 'seq_events', algorithm => 'sequential',
    params => '{"time_col": "ts", "history_source": "seq_live", "batch_size": 4096}');
RESET mkt.max_memory_mb;
SET client_min_messages = warning;
SELECT model_name, algorithm FROM mkt.train_recommender('rec_live', 'seq_events', algorithm => 'sequential',
    params => '{"time_col": "ts", "history_source": "seq_live", "max_length": 10, "dim": 32, "dropout": 0, "learning_rate": 0.005, "epochs": 60, "patience": 4, "batch_size": 32}');
CREATE INDEX ON seq_live (user_id, ts DESC) INCLUDE (item_id);
SELECT (SELECT item_id FROM mkt.recommend('rec_live', 1, 1, exclude_seen => false)) = (SELECT item_id FROM mkt.recommend('rec_seq', 1, 1, exclude_seen => false)) AS same_as_training_history;
-- User 1 starts two new runs (115, 116 and 125, 126): next is 117; user 999, unknown to the
-- model, is served from live events alone.
INSERT INTO seq_live VALUES (1, 115, '2027-01-01'), (1, 125, '2027-01-01 00:01'), (1, 116, '2027-01-01 00:02'),
    (1, 126, '2027-01-01 00:03'), (999, 107, '2027-01-01'), (999, 121, '2027-01-01 00:01');
SELECT u AS user_id, item_id FROM unnest(ARRAY[1, 999]) u, mkt.recommend('rec_live', u::bigint, 1, exclude_seen => false) ORDER BY u;
SELECT count(*) AS n, bool_or(item_id IN (107, 121)) AS recent_shown FROM mkt.recommend('rec_live', 999, 5);
-- The history is read through an index led by (user, time) in either order (from the index alone
-- on pages the visibility map calls all-visible, except in a serializable transaction), or by a
-- statement when there is none; all give the same answers, with a NULL time newest and a NULL
-- item left out, as ORDER BY ts DESC does.
INSERT INTO seq_live VALUES (2, NULL, '2027-02-01'), (2, 131, NULL), (3, 102, NULL);
CREATE TABLE live_heap AS SELECT u, r.item_id, r.rank FROM generate_series(1, 60) u, mkt.recommend('rec_live', u::bigint, 3, exclude_seen => false) r;
VACUUM seq_live;
CREATE TABLE live_desc AS SELECT u, r.item_id, r.rank FROM generate_series(1, 60) u, mkt.recommend('rec_live', u::bigint, 3, exclude_seen => false) r;
BEGIN ISOLATION LEVEL SERIALIZABLE;
CREATE TABLE live_serializable AS SELECT u, r.item_id, r.rank FROM generate_series(1, 60) u, mkt.recommend('rec_live', u::bigint, 3, exclude_seen => false) r;
COMMIT;
DROP INDEX seq_live_user_id_ts_item_id_idx;
CREATE INDEX seq_live_asc ON seq_live (user_id, ts);
CREATE TABLE live_asc AS SELECT u, r.item_id, r.rank FROM generate_series(1, 60) u, mkt.recommend('rec_live', u::bigint, 3, exclude_seen => false) r;
DROP INDEX seq_live_asc;
CREATE INDEX seq_live_user ON seq_live (user_id);
CREATE TABLE live_stmt AS SELECT u, r.item_id, r.rank FROM generate_series(1, 60) u, mkt.recommend('rec_live', u::bigint, 3, exclude_seen => false) r;
CREATE FUNCTION live_same(t text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE same bool;
BEGIN
    EXECUTE format('SELECT NOT EXISTS (SELECT * FROM %1$I EXCEPT SELECT * FROM live_stmt)
                       AND NOT EXISTS (SELECT * FROM live_stmt EXCEPT SELECT * FROM %1$I)', t) INTO same;
    RETURN same;
END $$;
SELECT (SELECT count(*) FROM live_stmt) AS rows, live_same('live_heap') AS heap_same,
       live_same('live_desc') AS index_only_same, live_same('live_serializable') AS serializable_same,
       live_same('live_asc') AS asc_index_same,
       (SELECT bool_and((SELECT array_agg(item_id ORDER BY rank) FROM live_stmt WHERE live_stmt.u = x) =
                        (SELECT array_agg(item_id ORDER BY rank) FROM mkt.recommend_next('rec_live', h.items, 3)))
        FROM generate_series(1, 3) x,
             LATERAL (SELECT array_agg(item_id ORDER BY n DESC) AS items
                      FROM (SELECT item_id, row_number() OVER (ORDER BY ts DESC) AS n FROM seq_live
                            WHERE user_id = x AND item_id IS NOT NULL ORDER BY ts DESC LIMIT 10) l) h) AS as_the_statement_reads;
DROP INDEX seq_live_user;
CREATE INDEX ON seq_live (user_id, ts DESC) INCLUDE (item_id);
DROP TABLE live_heap, live_desc, live_serializable, live_asc, live_stmt;
DROP FUNCTION live_same(text);
-- A model without a history source still answers from the history kept in training.
SELECT item_id AS from_training_history FROM mkt.recommend('rec_seq', 1, 1, exclude_seen => false);
-- A writing statement with a parallel plan (CREATE TABLE AS) whose calls load the models in this
-- new backend: its reads run in parallel mode, where no new command may start.
\c
CREATE TABLE par_users AS SELECT g % 60 + 1 AS user_id FROM generate_series(1, 30000) g;
ANALYZE par_users;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) CREATE TABLE par_recs AS SELECT s.user_id, (SELECT count(*) FROM mkt.recommend('rec_als', s.user_id, 3)) AS als,
    (SELECT count(*) FROM mkt.recommend('rec_live', s.user_id, 3)) AS live FROM (SELECT DISTINCT user_id FROM par_users) s;
CREATE TABLE par_recs AS SELECT s.user_id, (SELECT count(*) FROM mkt.recommend('rec_als', s.user_id, 3)) AS als,
    (SELECT count(*) FROM mkt.recommend('rec_live', s.user_id, 3)) AS live FROM (SELECT DISTINCT user_id FROM par_users) s;
SELECT count(*) AS users, sum(als) AS als, sum(live) AS live FROM par_recs;
-- The same calls made by the parallel workers themselves, each loading the models anew.
EXPLAIN (COSTS OFF) CREATE TABLE par_rows AS SELECT u.user_id, a.item_id AS als, l.item_id AS live
    FROM par_users u, LATERAL mkt.recommend('rec_als', u.user_id, 3) a, LATERAL mkt.recommend('rec_live', u.user_id, 1) l;
CREATE TABLE par_rows AS SELECT u.user_id, a.item_id AS als, l.item_id AS live
    FROM par_users u, LATERAL mkt.recommend('rec_als', u.user_id, 3) a, LATERAL mkt.recommend('rec_live', u.user_id, 1) l;
SELECT count(*) AS rows, count(DISTINCT user_id) AS users FROM par_rows;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- Bad inputs; none changes the catalog.
CREATE TABLE t_bad_types (user_id timestamptz, item_id bigint, w text);
CREATE TABLE seq_live_text (user_id bigint, item_id text, ts timestamptz);
CREATE TABLE t_bad_w AS SELECT 1::bigint AS user_id, 2::bigint AS item_id, 'NaN'::float8 AS w UNION ALL SELECT 1, 3, -1;
CREATE TABLE t_empty (user_id bigint, item_id bigint);
CREATE TABLE x (a int);
CREATE TABLE t_wide AS SELECT 1 AS user_id, i AS item_id FROM generate_series(1, 1000) i;
CREATE TABLE t_nn_users AS SELECT u AS user_id, 'x' AS grp FROM generate_series(1, 60) u;
CREATE TEMP TABLE before AS SELECT (SELECT count(*) FROM mkt.model_versions) + (SELECT count(*) FROM mkt.model_blobs) AS n;
\pset format unaligned
\pset fieldsep '\n    '
SELECT q, regress.err(q) FROM (VALUES
  ($$SELECT * FROM mkt.train_recommender('m', 'no_such_table')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', user_col => 'nope')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 't_bad_types')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', weight_col => 'nope')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 't_bad_types', user_col => 'item_id', weight_col => 'w')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 't_empty')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 't_bad_w', weight_col => 'w')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'svd')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', params => '{"factorz": 1}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', params => '{"factors": -1}')$$),
  ($$SELECT * FROM mkt.train_recommender('', 'rec_events')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'x; DROP TABLE x')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'SELECT 1 AS user_id, 1 AS item_id; DROP TABLE x')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'WITH d AS (DELETE FROM x RETURNING 1) SELECT 1 AS user_id, 1 AS item_id')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'SELECT 1 AS user_id, 1 AS item_id INTO y')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'SELECT *, 1 AS user_id, 1 AS item_id FROM x FOR UPDATE')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 't_wide', algorithm => 'ease', params => '{"max_memory_mb": 1}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'neural', params => '{"epoch": 3}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'neural', params => '{"device": "cuda"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'neural', params => '{"device": "tpu"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'neural', params => '{"user_features": {"source": "t_nn_users", "key": "user_id", "columns": ["nope"]}}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'neural', params => '{"user_features": {"source": "no_such_table", "key": "user_id", "columns": ["grp"]}}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'neural', params => '{"user_features": {"source": "t_nn_users", "key": "user_id", "columns": ["grp"], "transform": "no_such"}}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'rec_events', algorithm => 'neural', params => '{"user_features": {"source": "t_nn_users", "key": "grp", "columns": ["user_id"]}}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "dim": 10, "heads": 3}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "nope"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "architecture": "lstm"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "negatives": -1}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "device": "cuda"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "device": "tpu"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "history_source": "SELECT * FROM seq_live"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "history_source": "no_such_events"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "history_source": "rec_events"}')$$),
  ($$SELECT * FROM mkt.train_recommender('m', 'seq_events', algorithm => 'sequential', params => '{"time_col": "ts", "history_source": "seq_live_text"}')$$),
  ($$SELECT * FROM mkt.recommend_next('rec_als', ARRAY[1, 2])$$),
  ($$SELECT * FROM mkt.recommend_next('rec_seq', NULL)$$),
  ($$SELECT * FROM mkt.recommend_next('rec_seq', ARRAY[107], 0)$$),
  ($$SELECT * FROM mkt.recommend('no_model', 1)$$),
  ($$SELECT * FROM mkt.recommend('rec_als', 1, 0)$$),
  ($$SELECT * FROM mkt.recommend('rec_als', 1, -1)$$),
  ($$SELECT * FROM mkt.recommend('rec_als', 1, 1000000000)$$),
  ($$SELECT * FROM mkt.recommend_all('rec_als', 0)$$),
  ($$SELECT * FROM mkt.similar_items('rec_als', 424242)$$),
  ($$SELECT * FROM mkt.similar_items('rec_popularity', 1)$$),
  ($$SELECT * FROM mkt.evaluate_recommender('no_model', 'rec_events')$$),
  ($$SELECT * FROM mkt.evaluate_recommender('rec_als', 't_empty')$$),
  ($$SELECT * FROM mkt.explain_recommendation('rec_als', 424242, 1)$$),
  ($$SELECT * FROM mkt.tune_recommender('m', 'rec_events', search => '{"params": {"factors": {"min": 8, "max": 4}}}')$$),
  ($$SELECT * FROM mkt.retrain('rec_als', 'sometimes')$$),
  ($$SELECT * FROM mkt.retrain('no_model')$$)
) AS c(q);
\pset format aligned
SELECT (SELECT count(*) FROM mkt.model_versions) + (SELECT count(*) FROM mkt.model_blobs) - n AS catalog_changed,
       (SELECT count(*) FROM x) AS x_rows, to_regclass('y') AS y FROM before;
