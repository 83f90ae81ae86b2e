-- Erasure: one customer leaves every stored version and the decision log; everyone else's
-- recommendations stay the same.
CREATE TABLE era_events AS SELECT user_id::text AS user_id, item_id FROM regress.planted;
SELECT version FROM mkt.train_recommender('era_m', 'era_events', algorithm => 'item_knn');
SELECT mkt.create_policy('era_pol', ARRAY['a'], 'thompson');
SELECT count(*) FROM mkt.decide('era_pol', '{}', '7');
CREATE TEMP TABLE era_before AS SELECT item_id, rank FROM mkt.recommend('era_m', '8', 5);
SELECT * FROM mkt.forget_subject('7');
SELECT count(*) AS others_changed FROM (
  (SELECT item_id, rank FROM mkt.recommend('era_m', '8', 5) EXCEPT SELECT * FROM era_before)
  UNION ALL (SELECT * FROM era_before EXCEPT SELECT item_id, rank FROM mkt.recommend('era_m', '8', 5))) d;
SELECT n_users FROM mkt.models WHERE model_name = 'era_m';
SELECT count(*) AS decisions_of_7 FROM mkt.decisions WHERE subject = '7';
SELECT regress.err($$SELECT * FROM mkt.forget_subject('')$$);
SELECT mkt.drop_model('era_m');
SELECT mkt.drop_policy('era_pol');
