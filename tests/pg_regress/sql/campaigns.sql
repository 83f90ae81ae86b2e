-- Campaigns: only qualifying rows fire, the control group, caps and budget, the outbox, queued
-- processing, attribution, the report, and every bad input.
SELECT setval('mkt.decisions_decision_id_seq', 2000) > 0 AS decision_ids_from_2001;
SELECT mkt.create_policy('cmp_pol', ARRAY['coupon'], 'thompson');
CREATE TABLE cmp_carts (user_id bigint, event_type text, value numeric);
SELECT mkt.create_campaign('cmp', 'cmp_pol', 'cmp_carts', 'user_id', ARRAY['event_type'],
    condition => $$event_type = 'cart'$$, params => '{"control_fraction": 0.3, "frequency_cap": 2, "seed": 1}');
INSERT INTO cmp_carts SELECT g % 10, CASE WHEN g % 4 = 0 THEN 'view' ELSE 'cart' END, g FROM generate_series(1, 40) g;
SELECT arm, count(*) AS touches, count(DISTINCT subject) AS subjects FROM mkt.campaign_touches GROUP BY arm ORDER BY arm;
SELECT max(n) AS most_touches_per_subject FROM (SELECT count(*) n FROM mkt.campaign_touches GROUP BY subject) s;
SELECT count(*) AS messages FROM mkt.outbox;
SELECT count(*) AS claimed FROM mkt.claim_messages('cmp', 5);
SELECT count(*) AS claimed_again FROM mkt.claim_messages('cmp', 100);
SELECT mkt.ack_message(min(message_id)) AS first_ack, mkt.ack_message(min(message_id)) AS second_ack FROM mkt.outbox;

-- Outcomes are attributed to the last touch within the window, once.
CREATE TABLE cmp_orders (user_id bigint, amount numeric, at timestamptz);
INSERT INTO cmp_orders SELECT u, 10 * u, now() FROM generate_series(0, 9, 2) u;
SELECT mkt.attribute_outcomes('cmp', 'cmp_orders', 'user_id', 'amount', 'at');
SELECT mkt.attribute_outcomes('cmp', 'cmp_orders', 'user_id', 'amount', 'at');
SELECT arm, subjects, conversions, round(conversion_rate::numeric, 3) AS rate, revenue, note IS NOT NULL AS noted
FROM mkt.campaign_report('cmp');
SELECT left(mkt.campaign_report_svg('cmp'), 5) AS svg;

-- A paused campaign does nothing; a queued one only queues until processed.
SELECT mkt.pause_campaign('cmp');
INSERT INTO cmp_carts VALUES (100, 'cart', 1);
SELECT count(*) AS touches_of_100 FROM mkt.campaign_touches WHERE subject = '100';
SELECT mkt.resume_campaign('cmp');
CREATE TABLE cmp_q (user_id bigint);
SELECT mkt.create_campaign('cmp_queued', 'cmp_pol', 'cmp_q', 'user_id', params => '{"control_fraction": 0, "mode": "queued"}');
INSERT INTO cmp_q SELECT g FROM generate_series(1, 5) g;
SELECT count(*) AS queued FROM mkt.campaign_queue;
SELECT mkt.process_campaign('cmp_queued', 3) AS first, mkt.process_campaign('cmp_queued') AS rest;
SELECT count(*) AS queued FROM mkt.campaign_queue;

-- Bad inputs; nothing is created and no row is written.
CREATE VIEW cmp_carts_v AS SELECT * FROM cmp_carts;
\pset format unaligned
\pset fieldsep '\n    '
SELECT q, regress.err(q) FROM (VALUES
  ($$SELECT mkt.create_campaign('cmp', 'cmp_pol', 'cmp_carts', 'user_id')$$),
  ($$SELECT mkt.create_campaign('x', 'nope', 'cmp_carts', 'user_id')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'nope')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', ARRAY['nope'])$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', condition => 'value + 1')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', condition => 'nope > 1')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', condition => 'true) FROM cmp_carts; DROP TABLE cmp_carts; SELECT (true')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts_v', 'user_id')$$),
  ($$SELECT mkt.create_campaign('', 'cmp_pol', 'cmp_carts', 'user_id')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', params => '{"control_fraction": 1}')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', params => '{"quiet_hours": [3]}')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', params => '{"frequency_interval": "soon"}')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', params => '{"colour": 1}')$$),
  ($$SELECT mkt.create_campaign('x', 'cmp_pol', 'cmp_carts', 'user_id', params => '{"mode": "later"}')$$),
  ($$SELECT mkt.pause_campaign('nope')$$),
  ($$SELECT * FROM mkt.claim_messages('cmp', 0)$$),
  ($$SELECT * FROM mkt.claim_messages('cmp', NULL)$$),
  ($$SELECT * FROM mkt.claim_messages('nope')$$),
  ($$SELECT mkt.ack_message(424242)$$),
  ($$SELECT * FROM mkt.campaign_report('nope')$$),
  ($$SELECT mkt.attribute_outcomes('nope', 'cmp_orders', 'user_id', 'amount', 'at')$$),
  ($$SELECT mkt.attribute_outcomes('cmp', 'cmp_orders', 'user_id', 'amount', 'at', "window" => '-1 day')$$),
  ($$SELECT mkt.attribute_outcomes('cmp', 'cmp_orders', 'user_id', 'nope', 'at')$$),
  ($$SELECT mkt.process_campaign('nope')$$),
  ($$SELECT mkt.process_campaign('cmp', 0)$$),
  ($$SELECT mkt.drop_campaign('nope')$$)
) AS c(q);
\pset format aligned
SELECT campaign_name FROM mkt.campaigns ORDER BY 1;

-- A queued campaign whose policy was dropped: the insert fails at once.
SELECT mkt.drop_policy('cmp_pol');
SELECT regress.err($$INSERT INTO cmp_q VALUES (9)$$);
SELECT mkt.drop_campaign('cmp');
SELECT mkt.drop_campaign('cmp_queued');
SELECT count(*) AS left_behind FROM mkt.outbox;
