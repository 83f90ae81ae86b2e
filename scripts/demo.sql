-- The pg_marketing demo: run by `make demo` on a throwaway cluster.
\set ECHO queries
\pset footer off
CREATE EXTENSION IF NOT EXISTS pg_marketing;

-- 1. Synthetic shop: 5,000 customers, 1,500 products, ~94k view/cart/purchase events over 90 days.
SELECT * FROM mkt.demo_data(1);

-- 2. Hold out each customer's most recent 20% of events.
SELECT * FROM mkt.split('mkt_demo.events', 'public.demo_train', 'public.demo_test',
                        method => 'temporal', time_col => 'ts');

-- 3. Train four recommenders; purchases and carts weigh more than views (a query source).
CREATE VIEW public.demo_weighted AS
SELECT user_id, item_id,
       CASE event_type WHEN 'purchase' THEN 3 WHEN 'cart' THEN 2 ELSE 1 END AS weight
FROM public.demo_train;

SELECT model_name, version, algorithm, n_users, n_items, n_interactions, round(train_seconds::numeric, 3) AS seconds
FROM mkt.train_recommender('shop_popular', 'public.demo_train', algorithm => 'popularity');
SELECT model_name, version, algorithm, n_users, n_items, n_interactions, round(train_seconds::numeric, 3) AS seconds
FROM mkt.train_recommender('shop_als', 'public.demo_weighted', weight_col => 'weight', algorithm => 'als',
                           params => '{"factors": 16, "iterations": 15}');
SELECT model_name, version, algorithm, n_users, n_items, n_interactions, round(train_seconds::numeric, 3) AS seconds
FROM mkt.train_recommender('shop_knn', 'public.demo_train', algorithm => 'item_knn');
SELECT model_name, version, algorithm, n_users, n_items, n_interactions, round(train_seconds::numeric, 3) AS seconds
FROM mkt.train_recommender('shop_ease', 'SELECT user_id, item_id FROM public.demo_train', algorithm => 'ease');

-- A feature-aware neural two-tower model: customers' segment, region and age band, products'
-- category and price; per-epoch progress lands in mkt.training_log.
SELECT model_name, version, algorithm, n_users, n_items, n_interactions, round(train_seconds::numeric, 3) AS seconds
FROM mkt.train_recommender('shop_neural', 'public.demo_train', algorithm => 'neural', params => '{
  "user_features": {"source": "mkt_demo.users", "key": "user_id", "columns": ["segment", "region", "age_band"]},
  "item_features": {"source": "mkt_demo.items", "key": "item_id", "columns": ["category", "price"]}}');
SELECT count(*) AS epochs, max(epoch) AS last_epoch, round(max(validation_ndcg)::numeric, 4) AS best_validation_ndcg
FROM mkt.training_log WHERE model_name = 'shop_neural';

-- 4. Evaluate every model on the held-out events (metrics are stored with each version).
SELECT m.model_name, e.metric, round(e.value::numeric, 4) AS value
FROM (VALUES ('shop_popular'), ('shop_als'), ('shop_knn'), ('shop_ease'), ('shop_neural')) AS m(model_name),
     LATERAL mkt.evaluate_recommender(m.model_name, 'public.demo_test', 10) e
WHERE e.metric IN ('ndcg@10', 'recall@10', 'hit_rate@10', 'coverage');

-- 5. Top-5 for customer 42, and products like the one they bought last.
SELECT r.rank, r.item_id, i.category, i.price, round(r.score::numeric, 4) AS score
FROM mkt.recommend('shop_als', 42, 5) r JOIN mkt_demo.items i USING (item_id);
SELECT s.rank, s.item_id, i.category, round(s.score::numeric, 4) AS score
FROM mkt.similar_items('shop_knn', 1010, 5) s JOIN mkt_demo.items i USING (item_id);

-- Why the top product: the items of customer 42's history that contribute most (EASE: exact).
SELECT e.because_item_id, i.category, round(e.contribution::numeric, 4) AS contribution
FROM mkt.explain_recommendation('shop_ease', 42, (SELECT item_id FROM mkt.recommend('shop_ease', 42, 1)), 3) e
JOIN mkt_demo.items i ON i.item_id = e.because_item_id;

-- 6. A customer the models never saw gets the popular products (with a NOTICE).
SELECT * FROM mkt.recommend('shop_als', 99999999, 3);

-- 7. The catalog.
SELECT model_name, version, algorithm, deployed, size_bytes, round((metrics->>'ndcg@10')::numeric, 4) AS ndcg_at_10
FROM mkt.models ORDER BY model_name, version;

-- 8. Offers: a Thompson-sampling policy that learns which offer each customer segment answers.
--    First in the built-in simulator (hidden conversion rates, against random and an oracle).
SELECT mkt.create_policy('offers', ARRAY['none', 'coupon_10', 'free_shipping', 'bundle'], 'thompson',
                         '{"state_features": ["segment"], "draws": 200}');
SELECT round, cumulative_reward AS reward, round(cumulative_regret::numeric, 1) AS regret,
       random_reward AS random, round(oracle_reward::numeric) AS oracle
FROM mkt.simulate_campaign('offers', rounds => 20000)
WHERE round IN (1000, 5000, 10000, 20000);

-- 9. Then live on the demo customers: five waves of decisions, each rewarded by what the shop saw
--    (a hidden rule stands in for it: bargain hunters answer coupons, VIPs free shipping).
SELECT setseed(0.42);
DO $$
BEGIN
  FOR wave IN 0..4 LOOP
    PERFORM mkt.reward(d.decision_id,
              CASE WHEN random() < CASE
                  WHEN d.action = 'coupon_10' AND u.segment = 'bargain_hunter' THEN 0.30
                  WHEN d.action = 'free_shipping' AND u.segment = 'vip' THEN 0.25
                  WHEN d.action = 'bundle' AND u.segment = 'regular' THEN 0.15
                  WHEN d.action = 'none' THEN 0.05
                  ELSE 0.08 END
              THEN 1 ELSE 0 END)
    FROM mkt_demo.users u,
         LATERAL mkt.decide('offers', jsonb_build_object('segment', u.segment), u.user_id::text) d
    WHERE u.user_id % 5 = wave;
  END LOOP;
END $$;

-- What it learned (posterior mean conversion per segment and offer), and which offer wins now.
SELECT state, action, round(value::numeric, 3) AS conversion, visits
FROM mkt.policy_values('offers') WHERE state IN ('segment=bargain_hunter', 'segment=vip') ORDER BY state, value DESC;
SELECT action, round(probability::numeric, 3) AS probability
FROM mkt.policy_probabilities('offers', '{"segment": "vip"}') ORDER BY probability DESC;

-- 10. Off-policy: what the learned policy would have earned on the logged decisions, against what
--     the logging (still learning) policy earned.
SELECT estimator, round(value::numeric, 4) AS value, round(ci_low::numeric, 4) AS ci_low,
       round(ci_high::numeric, 4) AS ci_high, round(logging_value::numeric, 4) AS logged,
       round(lift::numeric, 3) AS lift
FROM mkt.evaluate_policy('offers', 'mkt.decisions');

-- 11. A campaign end to end: cart events trigger an offer decision (20% held out as control),
--     a delivery worker claims the messages, orders come back and are attributed, the report
--     says what the campaign earned over the control group.
CREATE TABLE public.cart_events (user_id bigint, item_id bigint, segment text, value numeric,
                                 at timestamptz DEFAULT now());
SELECT mkt.create_campaign('cart_rescue', 'offers', 'public.cart_events', 'user_id', ARRAY['segment'],
                           condition => 'value >= 20',
                           params => '{"control_fraction": 0.2, "frequency_cap": 1}');
INSERT INTO public.cart_events (user_id, item_id, segment, value)
SELECT e.user_id, e.item_id, u.segment, i.price
FROM mkt_demo.events e JOIN mkt_demo.users u USING (user_id) JOIN mkt_demo.items i USING (item_id)
WHERE e.event_type = 'cart';
SELECT count(*) AS claimed FROM mkt.claim_messages('cart_rescue', 100000);
-- Orders within two days (the same hidden rule as above; the control group buys at its base rate).
SELECT setseed(0.5);
CREATE TABLE public.orders AS
SELECT t.subject AS customer, round((20 + random() * 80)::numeric, 2) AS amount, t.touched_at + interval '1 day' AS at
FROM mkt.campaign_touches t JOIN mkt_demo.users u ON u.user_id::text = t.subject
WHERE random() < CASE
    WHEN t.arm = 'coupon_10' AND u.segment = 'bargain_hunter' THEN 0.30
    WHEN t.arm = 'free_shipping' AND u.segment = 'vip' THEN 0.25
    WHEN t.arm = 'bundle' AND u.segment = 'regular' THEN 0.15
    WHEN t.arm IN ('none', 'control') THEN 0.05
    ELSE 0.08 END;
SELECT mkt.attribute_outcomes('cart_rescue', 'public.orders', 'customer', 'amount', 'at', "window" => '2 days');
SELECT arm, subjects, conversions, round(conversion_rate::numeric, 3) AS rate,
       round(revenue_per_subject::numeric, 2) AS revenue_per_subject, round(uplift::numeric, 3) AS uplift,
       round(uplift_ci_low::numeric, 3) AS ci_low, round(uplift_ci_high::numeric, 3) AS ci_high,
       round(p_value::numeric, 4) AS p_value, note
FROM mkt.campaign_report('cart_rescue');

-- 12. Data preparation: a profile of the events, RFM segments of the buyers.
SELECT column_name, data_type, rows, nulls, distinct_values, round(mean::numeric, 2) AS mean,
       p50, outliers, top_values -> 0 AS top
FROM mkt.profile('mkt_demo.events');
SELECT mkt.rfm('SELECT * FROM mkt_demo.events WHERE event_type = ''purchase''', 'user_id', 'ts', 'value',
               'public.demo_rfm', as_of => '2026-04-01');
SELECT segment, count(*) AS customers, round(avg(monetary)::numeric, 2) AS avg_monetary
FROM public.demo_rfm GROUP BY segment ORDER BY customers DESC;

-- 13. Customer value: a year of orders in which some customers drift away (drawn with a fixed
--     seed), a BG/NBD + Gamma-Gamma model fitted on the first nine months, scored on the last
--     three, and a win-back campaign for valuable customers who are probably lapsing.
SELECT setseed(0.7);
CREATE TABLE public.shop_orders AS
WITH c AS (SELECT user_id, 0.05 + 0.5 * random() AS weekly_rate, floor(-ln(1 - random()) * 35)::int AS weeks,
                  floor(random() * 20)::int AS first_week, 30 + 90 * random() AS basket
           FROM mkt_demo.users)
SELECT c.user_id AS customer_id, timestamptz '2025-01-06' + (7 * (c.first_week + w) + floor(random() * 7)::int) * interval '1 day' AS ts,
       round((c.basket * (0.6 + 0.8 * random()))::numeric, 2) AS amount
FROM c, generate_series(0, 51) w
WHERE c.first_week + w < 52 AND w <= c.weeks AND (w = 0 OR random() < c.weekly_rate);
SELECT model_name, version, model, customers, repeaters, round(log_likelihood::numeric, 1) AS log_likelihood,
       round((parameters->>'r')::numeric, 3) AS r, round((parameters->>'alpha')::numeric, 3) AS alpha,
       round((parameters->>'a')::numeric, 3) AS a, round((parameters->>'b')::numeric, 3) AS b,
       round((parameters->'spend'->>'frequency_spend_correlation')::numeric, 3) AS spend_corr,
       round(train_seconds::numeric, 3) AS seconds
FROM mkt.train_clv('shop_clv', 'public.shop_orders', amount_col => 'amount',
                   params => '{"period": "week", "calibration_end": "2025-10-01"}');
SELECT metric, round(value::numeric, 2) AS value FROM mkt.evaluate_clv('shop_clv');
-- Who is worth most over the next half year, and who of the valuable ones is slipping away.
SELECT customer_id, round(p_alive::numeric, 3) AS p_alive, round(expected_purchases::numeric, 2) AS purchases,
       round(expected_avg_spend::numeric, 2) AS avg_spend, round(clv::numeric, 2) AS clv_26_weeks
FROM mkt.customer_value('shop_clv', horizon => 26, discount_rate => 0.002) ORDER BY clv DESC LIMIT 5;
SELECT count(*) AS customers, count(*) FILTER (WHERE p_alive < 0.3) AS probably_lapsed,
       count(*) FILTER (WHERE p_alive < 0.3 AND mkt.customer_clv('shop_clv', customer_id) > 40) AS worth_winning_back
FROM mkt.customer_value('shop_clv');
-- The win-back campaign: when one of them visits the shop, the offers policy picks an offer.
CREATE TABLE public.site_visits (user_id bigint, segment text, at timestamptz DEFAULT now());
SELECT mkt.create_campaign('win_back', 'offers', 'public.site_visits', 'user_id', ARRAY['segment'],
    condition => $$mkt.p_alive('shop_clv', user_id::text) < 0.3 AND mkt.customer_clv('shop_clv', user_id::text) > 40$$);
INSERT INTO public.site_visits (user_id, segment) SELECT user_id, segment FROM mkt_demo.users;
SELECT t.arm, count(*) AS offers FROM mkt.campaign_touches t JOIN mkt.campaigns c USING (campaign_id)
WHERE c.campaign_name = 'win_back' GROUP BY t.arm ORDER BY offers DESC;
-- 14. Whom to send a coupon: last month half the customers, drawn at random, got a 10% coupon.
--     An uplift model learns from that test who buys because of the coupon; then a campaign that
--     sends it to everyone is compared with one that sends it only to the top 30% by predicted
--     uplift. A hidden rule stands in for the shop: bargain hunters and young new customers buy
--     because of a coupon, regulars a little, VIPs buy anyway (a coupon only costs a discount).
CREATE FUNCTION public.buy_chance(segment text, age_band text, coupon bool) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE segment WHEN 'vip' THEN 0.30 WHEN 'regular' THEN 0.10 WHEN 'new' THEN 0.06 ELSE 0.04 END
       + CASE WHEN NOT coupon THEN 0
              WHEN segment = 'bargain_hunter' THEN 0.20
              WHEN segment = 'new' AND age_band IN ('18-24', '25-34') THEN 0.12
              WHEN segment = 'regular' THEN 0.03
              WHEN segment = 'vip' THEN -0.02
              ELSE 0 END
$$;
SELECT setseed(0.9);
CREATE TABLE public.coupon_test AS
SELECT user_id, segment, region, age_band, coupon::int AS coupon,
       (random() < public.buy_chance(segment, age_band, coupon))::int AS bought
FROM (SELECT u.*, random() < 0.5 AS coupon FROM mkt_demo.users u ORDER BY user_id) t;
SELECT model_name, algorithm, rows, round((metrics->>'qini')::numeric, 3) AS held_out_qini,
       round((metrics->>'uplift_at_30')::numeric, 3) AS held_out_uplift_at_30
FROM mkt.train_uplift('coupon_uplift', 'public.coupon_test', 'coupon', 'bought',
                      ARRAY['segment', 'region', 'age_band'], params => '{"key": "user_id"}');
SELECT metric, round(value::numeric, 3) AS value FROM mkt.evaluate_uplift('coupon_uplift', 'public.coupon_test');
-- What it learned, by segment (it never saw the rule).
SELECT t.segment, round(avg(p.uplift)::numeric, 3) AS predicted_uplift
FROM mkt.predict_uplift_all('coupon_uplift', 'public.coupon_test', 'user_id') p
JOIN public.coupon_test t ON t.user_id::text = p.key GROUP BY t.segment ORDER BY predicted_uplift DESC;
-- Next month's visits trigger two campaigns: a coupon for everyone, and one for the top 30% (which
-- also takes an untargeted fifth of the visitors, drawn at random, to measure itself against).
SELECT mkt.create_policy('coupon', ARRAY['coupon_10'], 'thompson');
CREATE TABLE public.visits (user_id bigint, segment text, region text, age_band text, at timestamptz DEFAULT now());
SELECT mkt.create_campaign('coupon_everyone', 'coupon', 'public.visits', 'user_id',
                           params => '{"control_fraction": 0.2}');
SELECT mkt.create_campaign('coupon_targeted', 'coupon', 'public.visits', 'user_id',
                           params => '{"control_fraction": 0.2, "target": {"uplift_model": "coupon_uplift", "top_fraction": 0.3, "untargeted_sample": 0.2}}');
INSERT INTO public.visits (user_id, segment, region, age_band) SELECT user_id, segment, region, age_band FROM mkt_demo.users;
-- Orders within a week, by the hidden rule: a message is a coupon, the control group gets none.
SELECT setseed(0.95);
CREATE TABLE public.coupon_orders AS
SELECT c.campaign_name, t.subject AS customer, 1 AS amount, t.touched_at + interval '1 day' AS at
FROM mkt.campaign_touches t JOIN mkt.campaigns c USING (campaign_id) JOIN mkt_demo.users u ON u.user_id::text = t.subject
WHERE c.campaign_name LIKE 'coupon_%' AND random() < public.buy_chance(u.segment, u.age_band, t.arm <> 'control')
ORDER BY t.touch_id;
CREATE TABLE public.orders_everyone AS SELECT * FROM public.coupon_orders WHERE campaign_name = 'coupon_everyone';
CREATE TABLE public.orders_targeted AS SELECT * FROM public.coupon_orders WHERE campaign_name = 'coupon_targeted';
SELECT mkt.attribute_outcomes('coupon_everyone', 'public.orders_everyone', 'customer', 'amount', 'at', "window" => '7 days');
SELECT mkt.attribute_outcomes('coupon_targeted', 'public.orders_targeted', 'customer', 'amount', 'at', "window" => '7 days');
SELECT c.campaign, r.arm, r.subjects, r.sends AS messages, r.conversions, round(r.conversion_rate::numeric, 3) AS rate,
       round(r.uplift::numeric, 3) AS uplift, round(r.p_value::numeric, 4) AS p_value
FROM unnest(ARRAY['coupon_everyone', 'coupon_targeted']) c(campaign), LATERAL mkt.campaign_report(c.campaign) r
ORDER BY c.campaign, r.arm;
-- Incremental conversions (uplift times the customers who got the coupon) per message sent.
SELECT c.campaign, r.sends AS messages, round((r.uplift * r.subjects)::numeric) AS incremental_conversions,
       round((r.uplift * r.subjects / r.sends)::numeric, 3) AS per_message
FROM unnest(ARRAY['coupon_everyone', 'coupon_targeted']) c(campaign), LATERAL mkt.campaign_report(c.campaign) r
WHERE r.arm = 'coupon_10' ORDER BY c.campaign;
-- The targeted campaign says the same on its own: its untargeted sample is everyone in miniature.
SELECT arm, subjects, sends AS messages, conversions, round(uplift::numeric, 3) AS uplift, note
FROM mkt.campaign_report('coupon_targeted');

-- The tracking plot and frequency histogram (open target/demo/shop_clv.svg in a browser).
\pset tuples_only on
\pset format unaligned
\o target/demo/shop_clv.svg
SELECT mkt.clv_report_svg('shop_clv');
\o
