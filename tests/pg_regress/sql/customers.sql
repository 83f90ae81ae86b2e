-- Customers: RFM summaries checked by hand, customer value models fitted, served, evaluated,
-- kept in the catalog, targeted by a campaign, erased from; and every bad input.
SET mkt.threads = 1;
SET TIME ZONE 'UTC';
-- Five customers in January 2025 (the 6th is a Monday): 'a' buys twice on the 6th and then
-- weekly, 'b' on the 9th and again on the 28th, 'c' on a Saturday and the Sunday after, 'd' on
-- two Fridays, 'e' once on the last day.
CREATE TABLE cus_tx (customer_id text, ts date, amount numeric);
INSERT INTO cus_tx VALUES
  ('a', '2025-01-06', 10), ('a', '2025-01-06', 5), ('a', '2025-01-13', 20), ('a', '2025-01-20', 30),
  ('b', '2025-01-09', 8), ('b', '2025-01-28', 12),
  ('c', '2025-01-11', 1), ('c', '2025-01-12', 2),
  ('d', '2025-01-24', 4), ('d', '2025-01-31', 6),
  ('e', '2025-01-31', 9);
-- By day: a bought on days 0, 7 and 14 (two repeats, the first day's two purchases count once),
-- observed until day 25; its monetary value is the repeats' mean, (20 + 30) / 2.
SELECT * FROM mkt.rfm_summary('cus_tx', amount_col => 'amount', period => 'day') ORDER BY customer_id;
-- By week (Monday to Sunday): c's two days fall in one week, so it has no repeat.
SELECT * FROM mkt.rfm_summary('cus_tx', amount_col => 'amount') ORDER BY customer_id;
-- Calibration to the 20th: d and e are not customers yet; b's purchase of the 28th is the hold-out.
SELECT * FROM mkt.rfm_summary('cus_tx', amount_col => 'amount', calibration_end => '2025-01-20')
ORDER BY customer_id;
-- Without amounts, and from a SELECT with integer ids.
SELECT * FROM mkt.rfm_summary('SELECT ascii(customer_id) AS cid, ts FROM cus_tx', 'cid', period => 'month')
ORDER BY customer_id;

-- A year of weekly shopping by 400 customers, some of whom stop (rates and lifetimes drawn
-- from a fixed seed), with amounts around each customer's own mean.
SELECT setseed(0.25);
CREATE TABLE cus_people AS
SELECT c AS customer_id, 0.05 + 0.6 * random() AS rate, floor(-ln(1 - random()) * 30)::int AS weeks,
       floor(random() * 20)::int AS first_week, 20 + 60 * random() AS spend
FROM generate_series(1, 400) c;
CREATE TABLE cus_orders AS
SELECT p.customer_id, date '2025-01-06' + 7 * (p.first_week + w) + (random() * 6)::int AS ts,
       round((p.spend * (0.5 + random()))::numeric, 2) AS amount
FROM cus_people p, generate_series(0, 51) w
WHERE p.first_week + w < 52 AND w <= p.weeks AND (w = 0 OR random() < p.rate)
ORDER BY 1, 2;
SELECT count(*) AS orders, count(DISTINCT customer_id) AS customers FROM cus_orders;
SELECT model_name, version, model, customers, repeaters, round(log_likelihood::numeric, 1) AS ll,
       round((parameters->>'r')::numeric, 3) AS r, round((parameters->>'alpha')::numeric, 3) AS alpha,
       round((parameters->>'a')::numeric, 3) AS a, round((parameters->>'b')::numeric, 3) AS b,
       (parameters->'std_errors'->>'r')::float8 > 0 AS has_se,
       round((parameters->'spend'->>'p')::numeric, 3) AS p, parameters->'spend'->>'repeat_buyers' AS repeat_buyers,
       abs((parameters->'spend'->>'frequency_spend_correlation')::float8) < 1 AS correlation
FROM mkt.train_clv('cus_clv', 'cus_orders', amount_col => 'amount',
                   params => '{"calibration_end": "2025-10-01"}');
SELECT m.model_name, m.version, m.algorithm, m.deployed, m.n_users, m.n_items, m.n_interactions, v.user_col,
       v.item_col, v.weight_col, m.params->>'time_col' AS time_col, m.metrics ? 'parameters' AS has_parameters
FROM mkt.models m JOIN mkt.model_versions v USING (model_name, version) WHERE m.model_name = 'cus_clv';

-- Serving: P(alive) in [0, 1], CLV = expected purchases x expected spend, NULLs for a stranger.
SELECT count(*) AS customers, min(p_alive) >= 0 AND max(p_alive) <= 1 AS p_alive_in_bounds,
       max(abs(clv - expected_purchases * expected_avg_spend)) < 1e-9 AS clv_is_product,
       count(*) FILTER (WHERE p_alive < 0.3) > 0 AS some_lapsed
FROM mkt.customer_value('cus_clv');
SELECT customer_id, round(p_alive::numeric, 4) AS p_alive, round(expected_purchases::numeric, 3) AS purchases,
       round(expected_avg_spend::numeric, 2) AS spend, round(clv::numeric, 2) AS clv
FROM mkt.customer_value('cus_clv', 26, customers => '{1, 2, 3, 999}');
SELECT mkt.p_alive('cus_clv', '1') = p_alive AS same_p_alive, mkt.customer_clv('cus_clv', '1', 26) = clv AS same_clv
FROM mkt.customer_value('cus_clv', 26, customers => '{1}');
SELECT mkt.p_alive('cus_clv', '999') IS NULL AS unknown_is_null, mkt.customer_clv('cus_clv', NULL) IS NULL AS null_is_null;
-- Discounting lowers the value; a zero horizon has none.
SELECT d.clv < u.clv AS discounted_lower, z.clv = 0 AS zero_horizon
FROM mkt.customer_value('cus_clv', 52, 0.01, '{1}') d, mkt.customer_value('cus_clv', 52, 0, '{1}') u,
     mkt.customer_value('cus_clv', 0, 0, '{1}') z;

-- The hold-out after 2025-10-01, stored with the version.
SELECT metric, round(value::numeric, 2) AS value FROM mkt.evaluate_clv('cus_clv');
SELECT metrics ? 'holdout_purchases_mae' AS stored FROM mkt.models WHERE model_name = 'cus_clv';

-- Pictures: the tracking plot with the calibration end, the histogram; the model report shows them.
SELECT s LIKE '<svg%' AS svg, s LIKE '%calibration end%' AS marked, s LIKE '%7+%' AS histogram
FROM mkt.clv_report_svg('cus_clv') s;
SELECT r LIKE '%Tracking and frequency%' AS drawn, r LIKE '%log_likelihood%' AS metrics
FROM mkt.model_report('cus_clv') r;

-- A win-back campaign: visits of lapsing customers worth something get an offer.
SELECT mkt.create_policy('cus_offers', ARRAY['winback_coupon'], 'thompson');
CREATE TABLE cus_visits (customer_id bigint, page text);
SELECT mkt.create_campaign('cus_winback', 'cus_offers', 'cus_visits', 'customer_id', ARRAY['page'],
    condition => $$mkt.p_alive('cus_clv', customer_id::text) < 0.3
                   AND mkt.customer_clv('cus_clv', customer_id::text) > 5$$);
INSERT INTO cus_visits SELECT customer_id, 'home' FROM cus_people;
SELECT count(*) = (SELECT count(*) FROM mkt.customer_value('cus_clv') WHERE p_alive < 0.3 AND clv > 5) AS only_targets,
       count(*) > 0 AS some
FROM mkt.campaign_touches t JOIN mkt.campaigns c USING (campaign_id) WHERE c.campaign_name = 'cus_winback';
SELECT mkt.drop_campaign('cus_winback');

-- Grants: another role may not use the model until its owner grants it.
CREATE ROLE cus_other;
GRANT USAGE ON SCHEMA mkt, regress TO cus_other;
GRANT SELECT ON ALL TABLES IN SCHEMA mkt TO cus_other;
SET ROLE cus_other;
SELECT regress.err($$SELECT mkt.p_alive('cus_clv', '1')$$);
RESET ROLE;
SELECT mkt.grant_model('cus_clv', 'cus_other', 'use');
SET ROLE cus_other;
SELECT mkt.p_alive('cus_clv', '1') = (SELECT p_alive FROM mkt.customer_value('cus_clv', customers => '{1}')) AS granted;
RESET ROLE;
SELECT mkt.revoke_model('cus_clv', 'cus_other');
DROP OWNED BY cus_other;
DROP ROLE cus_other;

-- The catalog: export/import, retrain, erasure, a job.
SELECT mkt.import_model('cus_copy', mkt.export_model('cus_clv'));
SELECT (SELECT array_agg(round(clv::numeric, 9) ORDER BY customer_id) FROM mkt.customer_value('cus_clv'))
     = (SELECT array_agg(round(clv::numeric, 9) ORDER BY customer_id) FROM mkt.customer_value('cus_copy')) AS same_values;
SELECT version, round(metric::numeric, 4) = round(previous_metric::numeric, 4) AS same_fit, deployed
FROM mkt.retrain('cus_clv', 'always');
SELECT what, removed FROM mkt.forget_subject('7') WHERE what = 'model_versions';
SELECT count(*) AS rows_for_7, (SELECT count(*) FROM mkt.customer_value('cus_clv')) AS customers
FROM mkt.customer_value('cus_clv', customers => '{7}') WHERE p_alive IS NOT NULL;
SELECT mkt.drop_model('cus_copy');

-- Summary input (frequency, recency and T columns, as lifetimes publishes CDNOW). Heavy buyers
-- keep P(alive) in [0, 1]: 5000 purchases with the last just now is alive, with the last 41 weeks
-- ago is not.
CREATE TABLE cus_summary AS SELECT customer_id::text AS id, frequency, recency, t, monetary_value
FROM mkt.rfm_summary('cus_orders', amount_col => 'amount');
INSERT INTO cus_summary VALUES ('heavy', 5000, 51, 51, 30), ('heavy_gone', 5000, 10, 51, 30);
SELECT model, customers FROM mkt.train_clv('cus_sum', 'cus_summary', 'id', NULL, 'monetary_value', '{"input": "summary"}');
SELECT customer_id, p_alive BETWEEN 0 AND 1 AS in_bounds, p_alive > 0.5 AS likely_alive
FROM mkt.customer_value('cus_sum', customers => '{heavy, heavy_gone}');
SELECT regress.err($$SELECT mkt.evaluate_clv('cus_sum')$$);

-- A model without amounts has no CLV; a recommender is not a customer value model.
SELECT model FROM mkt.train_clv('cus_noamount', 'cus_orders');
SELECT version FROM mkt.train_recommender('cus_rec', 'regress.planted', algorithm => 'popularity');

-- Every bad input, with its SQLSTATE; none leaves a catalog row.
\pset format unaligned
\pset fieldsep '\n    '
SELECT q, regress.err(q) FROM (VALUES
  ($$SELECT * FROM mkt.rfm_summary('no_table')$$),
  ($$SELECT * FROM mkt.rfm_summary('cus_tx', 'nope')$$),
  ($$SELECT * FROM mkt.rfm_summary('cus_tx', time_col => 'amount')$$),
  ($$SELECT * FROM mkt.rfm_summary('cus_tx', amount_col => 'customer_id')$$),
  ($$SELECT * FROM mkt.rfm_summary('cus_tx', period => 'year')$$),
  ($$SELECT * FROM mkt.rfm_summary('cus_tx', holdout_end => '2025-01-01')$$),
  ($$SELECT * FROM mkt.rfm_summary('cus_tx', calibration_end => '2025-01-20', holdout_end => '2025-01-10')$$),
  ($$SELECT * FROM mkt.rfm_summary('SELECT customer_id, ts, -amount AS amount FROM cus_tx', amount_col => 'amount')$$),
  ($$SELECT * FROM mkt.rfm_summary('SELECT * FROM cus_tx WHERE false')$$),
  ($$SELECT * FROM mkt.rfm_summary(NULL)$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_tx', params => '{"model": "bg"}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_tx', params => '{"spend": "gamma_gamma"}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_tx', amount_col => 'amount')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_orders', params => '{"calibration_end": "2025-10-01", "holdout": false}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_orders', params => '{"calibration_end": "2024-01-01"}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_orders', params => '{"calibration_end": "soon"}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_orders', params => '{"penalizer": -1}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_orders', params => '{"frequency_col": "f"}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_orders', params => '{"turbo": true}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'SELECT customer_id, ts FROM cus_orders WHERE false')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'cus_summary', 'id', NULL, NULL, '{"input": "summary", "t_col": "recency", "recency_col": "t"}')$$),
  ($$SELECT * FROM mkt.train_clv('cus_bad', 'SELECT 1 AS id, 1.5::float8 AS frequency, 0::float8 AS recency, 1::float8 AS t', 'id', NULL, NULL, '{"input": "summary"}')$$),
  ($$SELECT * FROM mkt.train_clv('', 'cus_orders')$$),
  ($$SELECT * FROM mkt.customer_value('cus_clv', -1)$$),
  ($$SELECT * FROM mkt.customer_value('cus_clv', 52, 1)$$),
  ($$SELECT * FROM mkt.customer_value('cus_clv', customers => '{1, NULL}')$$),
  ($$SELECT * FROM mkt.customer_value('no_model')$$),
  ($$SELECT mkt.customer_clv('cus_noamount', '1')$$),
  ($$SELECT * FROM mkt.recommend('cus_clv', 1)$$),
  ($$SELECT mkt.p_alive('cus_rec', '1')$$),
  ($$SELECT * FROM mkt.evaluate_clv('cus_clv', 'no_table')$$)
) AS c(q);
\pset format aligned
SELECT count(*) AS bad_versions FROM mkt.model_versions WHERE model_name = 'cus_bad';
SELECT mkt.drop_model(m) FROM unnest(ARRAY['cus_clv', 'cus_sum', 'cus_noamount', 'cus_rec']) m;
SELECT mkt.drop_policy('cus_offers') > 0 AS dropped;
