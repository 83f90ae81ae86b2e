-- Data preparation on hand-made tables: profile, clean, transforms, RFM, user features, splits.
CREATE TABLE prep_t (id bigint, price numeric, label text, at timestamptz, raw text);
INSERT INTO prep_t SELECT g, CASE WHEN g = 20 THEN 1000 WHEN g % 7 = 0 THEN NULL ELSE g END,
       CASE WHEN g % 3 = 0 THEN 'x' ELSE 'y' END, timestamptz '2026-01-01 00:00+00' + g * interval '1 hour',
       CASE WHEN g % 5 = 0 THEN 'n/a' ELSE g::text END
FROM generate_series(1, 20) g;
SELECT column_name, data_type, rows, nulls, distinct_values, min, max, round(mean::numeric, 3) AS mean,
       p25, p50, p75, outliers, top_values
FROM mkt.profile('prep_t');

SELECT * FROM mkt.clean('prep_t', 'prep_clean', '{
  "coerce": {"raw": "numeric"},
  "dedupe_on": ["id"], "keep": "last", "order_by": "at",
  "nulls": {"price": "median"},
  "outliers": {"price": {"method": "iqr", "action": "clip"}}}');
SELECT id, price, label, raw FROM prep_clean ORDER BY id;

SELECT * FROM mkt.fit_transform('prep_tf', 'prep_t', '{"price": "standard", "label": "one_hot"}', target => 'prep_tf_out');
SELECT id, round(price_std::numeric, 4) AS price_std, label_x, label_y FROM prep_tf_out ORDER BY id LIMIT 3;
SELECT mkt.apply_transform('prep_tf', 'SELECT * FROM prep_t WHERE id <= 2', 'prep_tf_again');
SELECT id, round(price_std::numeric, 4) AS price_std FROM prep_tf_again ORDER BY id;

CREATE TABLE prep_orders AS SELECT g % 6 AS customer, timestamptz '2026-01-01 00:00+00' + g * interval '1 day' AS at, g * 10 AS amount
FROM generate_series(1, 30) g;
SELECT mkt.rfm('prep_orders', 'customer', 'at', 'amount', 'prep_rfm', as_of => '2026-02-15 00:00+00', quantiles => 3);
SELECT customer, recency_days, frequency, monetary, rfm_cell, segment FROM prep_rfm ORDER BY customer;
SELECT mkt.user_features('SELECT customer AS user_id, at AS ts, ''order'' AS event_type, customer AS item_id, amount FROM prep_orders',
                         'prep_uf', value_col => 'amount', as_of => '2026-02-15 00:00+00');
SELECT user_id, events, recency_days, active_days, n_order, distinct_items, total_value FROM prep_uf ORDER BY user_id;

SELECT * FROM mkt.split('prep_orders', 'prep_train', 'prep_test', method => 'temporal', user_col => 'customer', time_col => 'at');
SELECT * FROM mkt.split('prep_orders', 'prep_train2', 'prep_test2', method => 'leave_last_out', user_col => 'customer', time_col => 'at');

\pset format unaligned
\pset fieldsep '\n    '
SELECT q, regress.err(q) FROM (VALUES
  ($$SELECT * FROM mkt.profile('no_such_table')$$),
  ($$SELECT * FROM mkt.clean('prep_t', 'prep_x', '{"dedupe": ["id"]}')$$),
  ($$SELECT * FROM mkt.clean('prep_t', 'prep_x', '[1]')$$),
  ($$SELECT * FROM mkt.clean('prep_t', 'prep_x', '{"coerce": {"raw": "money"}}')$$),
  ($$SELECT * FROM mkt.clean('prep_t', 'prep_x', '{"nulls": {"label": "mean"}}')$$),
  ($$SELECT * FROM mkt.clean('prep_t', 'prep_x', '{"outliers": {"price": {"method": "quantile", "low": 0.9, "high": 0.1}}}')$$),
  ($$SELECT * FROM mkt.clean('prep_t', 'prep_clean')$$),
  ($$SELECT * FROM mkt.fit_transform('prep_tf', 'prep_t', '{"price": "standard"}')$$),
  ($$SELECT * FROM mkt.fit_transform('prep_tf2', 'prep_t', '{"label": "standard"}')$$),
  ($$SELECT * FROM mkt.fit_transform('prep_tf2', 'prep_t', '{"price": "sqrt"}')$$),
  ($$SELECT mkt.apply_transform('no_such', 'prep_t', 'prep_x')$$),
  ($$SELECT mkt.rfm('prep_orders', 'customer', 'at', 'amount', 'prep_x', quantiles => 1)$$),
  ($$SELECT mkt.rfm('prep_orders', 'customer', 'amount', 'amount', 'prep_x')$$),
  ($$SELECT mkt.rfm('SELECT * FROM prep_orders WHERE false', 'customer', 'at', 'amount', 'prep_x')$$),
  ($$SELECT * FROM mkt.split('prep_orders', 'a1', 'b1', method => 'bogus')$$),
  ($$SELECT * FROM mkt.split('prep_orders', 'a1', 'b1', test_fraction => 1.5)$$),
  ($$SELECT * FROM mkt.split('prep_orders', 'a1', 'b1', method => 'temporal', user_col => 'customer')$$),
  ($$SELECT * FROM mkt.split('prep_orders', 'a1', 'a1')$$),
  ($$SELECT * FROM mkt.split('prep_orders', 'prep_train', 'b1', user_col => 'customer')$$),
  ($$SELECT * FROM mkt.demo_data(0)$$)
) AS c(q);
\pset format aligned
