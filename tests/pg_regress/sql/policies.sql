-- Decision policies: definitions, decisions and rewards (one action, so every draw is the same),
-- what they learn, batch training from a log, off-policy estimates, and every bad input.
SELECT setval('mkt.decisions_decision_id_seq', 1000) > 0 AS decision_ids_from_1001,
       setval('mkt.policies_policy_id_seq', 100) > 0 AS policy_ids_from_101;
SELECT mkt.create_policy('pol_one', ARRAY['only'], 'q_learning', '{"alpha": 0.5, "gamma": 0.9, "state_features": ["segment"]}');
SELECT mkt.create_policy('pol_ts', ARRAY['a', 'b'], 'thompson', '{"state_features": ["segment"], "seed": 7}');
CREATE TABLE pol_d AS
SELECT g, d.* FROM generate_series(1, 6) g, LATERAL mkt.decide('pol_one', jsonb_build_object('segment', g % 2), 'c' || g) d;
SELECT g, action, probability FROM pol_d ORDER BY g;
SELECT count(mkt.reward(decision_id, g::float8, CASE WHEN g < 3 THEN jsonb_build_object('segment', 1) END)) FROM pol_d;
SELECT state, action, round(value::numeric, 6) AS value, visits FROM mkt.policy_values('pol_one');
SELECT action, round(probability::numeric, 4) AS probability FROM mkt.policy_probabilities('pol_ts', '{"segment": 1}');
SELECT * FROM mkt.fold_rewards();

-- Batch training from a log, with inverse-propensity weights.
CREATE TABLE pol_log AS
SELECT jsonb_build_object('segment', g % 2) AS context, CASE WHEN g % 3 = 0 THEN 'a' ELSE 'b' END AS action,
       (g % 2)::float8 AS reward, 0.5::float8 AS propensity
FROM generate_series(1, 40) g;
SELECT version, rows, skipped, states, mean_reward FROM mkt.train_policy('pol_ts', 'pol_log', propensity_col => 'propensity');
SELECT state, action, round(value::numeric, 4) AS value, visits FROM mkt.policy_values('pol_ts');
-- Probabilities inside a writing statement's parallel plan, looked up first in this new backend
-- (in parallel mode, where no new command may start).
\c
CREATE TABLE pol_users AS SELECT g % 2 AS segment FROM generate_series(1, 30000) g;
ANALYZE pol_users;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
CREATE TABLE pol_par AS SELECT s.segment, (SELECT round(sum(probability)::numeric, 6) FROM mkt.policy_probabilities('pol_ts', jsonb_build_object('segment', s.segment))) AS total
FROM (SELECT DISTINCT segment FROM pol_users) s;
SELECT * FROM pol_par ORDER BY segment;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- Off-policy value of a target that always takes 'b', from the same log.
SELECT estimator, round(value::numeric, 4) AS value
FROM mkt.estimate_policy_value('SELECT reward, propensity, (action = ''b'')::int::float8 AS target FROM pol_log',
                               'reward', 'propensity', 'target', bootstrap => 0);
SELECT estimator, round(value::numeric, 4) AS value, round(logging_value::numeric, 4) AS logging_value
FROM mkt.evaluate_policy('pol_ts', 'pol_log', propensity_col => 'propensity', bootstrap => 0);

-- The heatmap is one SVG document; the simulator learns.
SELECT left(mkt.policy_heatmap_svg('pol_ts'), 5) AS svg;
SELECT count(*) AS checkpoints, bool_and(cumulative_reward >= 0) AS rewards
FROM mkt.simulate_campaign('pol_ts', rounds => 2000);

-- A decision for every row of a source in one call, each logged as mkt.decide logs it; a NULL
-- subject is skipped; without context_cols every other column is the context.
SELECT mkt.create_policy('pol_bulk', ARRAY['a', 'b'], 'thompson', '{"state_features": ["segment"], "seed": 3}');
CREATE TABLE pol_base AS
SELECT g AS customer_id, g % 2 AS segment, 'n' || g AS note FROM generate_series(1, 500) g
UNION ALL SELECT NULL, 1, 'no id';
CREATE TABLE pol_all AS SELECT * FROM mkt.decide_all('pol_bulk', 'pol_base', 'customer_id', ARRAY['segment']);
SELECT count(*) AS decided, count(DISTINCT subject) AS subjects, count(DISTINCT decision_id) AS ids,
       bool_and(action IN ('a', 'b')) AS actions, bool_and(probability > 0 AND probability <= 1) AS probabilities
FROM pol_all;
SELECT count(*) AS logged,
       bool_and(d.subject = a.subject AND d.action = a.action AND d.probability = a.probability) AS same_as_returned,
       bool_and(d.context = jsonb_build_object('segment', b.segment)) AS contexts,
       bool_and(d.state = 'segment=' || b.segment) AS states,
       bool_and(abs((SELECT sum(value::float8) FROM jsonb_each_text(d.probabilities)) - 1) < 1e-9) AS distributions,
       bool_and((d.probabilities->>d.action)::float8 = d.probability) AS propensities
FROM pol_all a JOIN mkt.decisions d USING (decision_id) JOIN pol_base b ON b.customer_id::text = a.subject;
SELECT subject FROM mkt.decide_all('pol_bulk', 'SELECT * FROM pol_base WHERE customer_id <= 2', 'customer_id') ORDER BY subject;
SELECT d.context FROM mkt.decisions d JOIN mkt.policies USING (policy_id)
WHERE policy_name = 'pol_bulk' AND subject = '2' ORDER BY decision_id DESC LIMIT 1;
SELECT mkt.drop_policy('pol_bulk') AS dropped_decisions;

-- Bad inputs; no policy is left behind.
SELECT mkt.create_policy('pbad', ARRAY['a', 'b'], 'q_learning', '{"state_features": ["age"], "bins": {"age": [18, 65]}}');
\pset format unaligned
\pset fieldsep '\n    '
SELECT q, regress.err(q) FROM (VALUES
  ($$SELECT mkt.create_policy('pbad', ARRAY['a'])$$),
  ($$SELECT mkt.create_policy('p2', ARRAY['a'], 'sarsa')$$),
  ($$SELECT mkt.create_policy('p2', ARRAY[]::text[])$$),
  ($$SELECT mkt.create_policy('p2', ARRAY['a', NULL])$$),
  ($$SELECT mkt.create_policy('p2', ARRAY['a', 'a'])$$),
  ($$SELECT mkt.create_policy('p2', ARRAY['a'], 'thompson', '{"alpha": 1}')$$),
  ($$SELECT mkt.create_policy('p2', ARRAY['a'], 'q_learning', '{"epsilon": 2}')$$),
  ($$SELECT mkt.create_policy('p2', ARRAY['a'], 'q_learning', '{"learning": "later"}')$$),
  ($$SELECT mkt.create_policy('', ARRAY['a'])$$),
  ($$SELECT * FROM mkt.decide('nope')$$),
  ($$SELECT * FROM mkt.decide('pbad', '[1, 2]')$$),
  ($$SELECT * FROM mkt.decide('pbad', '{"age": "old"}')$$),
  ($$SELECT * FROM mkt.decide('pbad', '{}', excluded => ARRAY['a', 'b'])$$),
  ($$SELECT * FROM mkt.decide('pbad', '{}', excluded => ARRAY['zz'])$$),
  ($$SELECT * FROM mkt.decide(NULL)$$),
  ($$SELECT * FROM mkt.decide_all('nope', 'pol_base', 'customer_id')$$),
  ($$SELECT * FROM mkt.decide_all('pbad', 'no_table', 'customer_id')$$),
  ($$SELECT * FROM mkt.decide_all('pbad', 'pol_base', 'nope')$$),
  ($$SELECT * FROM mkt.decide_all('pbad', 'pol_base', 'customer_id', ARRAY['note', 'nope'])$$),
  ($$SELECT * FROM mkt.decide_all('pbad', 'pol_base', 'customer_id', ARRAY['note', 'note'])$$),
  ($$SELECT * FROM mkt.decide_all('pbad', 'pol_base', 'customer_id', ARRAY['note', NULL])$$),
  ($$SELECT * FROM mkt.decide_all('pbad', 'SELECT customer_id, note AS age FROM pol_base', 'customer_id')$$),
  ($$SELECT * FROM mkt.decide_all('pbad', NULL, 'customer_id')$$),
  ($$SELECT mkt.reward(1, 'NaN')$$),
  ($$SELECT mkt.reward(424242, 1)$$),
  ($$SELECT mkt.reward((SELECT decision_id FROM pol_d WHERE g = 1), 1)$$),
  ($$SELECT mkt.reward((SELECT decision_id FROM pol_d WHERE g = 1), 1, subject => 'someone else')$$),
  ($$SELECT * FROM mkt.simulate_campaign('pbad', rounds => 0)$$),
  ($$SELECT * FROM mkt.simulate_campaign('pbad', 'mars')$$),
  ($$SELECT * FROM mkt.policy_values('nope')$$),
  ($$SELECT mkt.drop_policy('nope')$$),
  ($$SELECT * FROM mkt.train_policy('pol_ts', 'pol_log', epochs => 0)$$),
  ($$SELECT * FROM mkt.train_policy('pol_ts', 'pol_log', reward_col => 'context')$$),
  ($$SELECT * FROM mkt.train_policy('pol_ts', 'SELECT context, action, reward, 2.0::float8 AS p FROM pol_log', propensity_col => 'p')$$),
  ($$SELECT * FROM mkt.estimate_policy_value('pol_log', 'reward', 'propensity', 'propensity', estimators => ARRAY['magic'])$$),
  ($$SELECT * FROM mkt.estimate_policy_value('pol_log', 'reward', 'propensity', 'propensity', bootstrap => -1)$$),
  ($$SELECT * FROM mkt.evaluate_policy('pol_ts', 'SELECT * FROM pol_log WHERE false', propensity_col => 'propensity')$$)
) AS c(q);
\pset format aligned
SELECT policy_name FROM mkt.policies ORDER BY 1;

-- mkt.reward_trigger on an outcomes table, and its misuse.
CREATE TABLE pol_outcomes (decision_id bigint, amount numeric);
CREATE TRIGGER learn AFTER INSERT ON pol_outcomes FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'amount');
SELECT decision_id FROM mkt.decide('pol_ts', '{"segment": 0}') \gset
INSERT INTO pol_outcomes VALUES (:decision_id, 1);
SELECT reward FROM mkt.decisions WHERE decision_id = :decision_id;
SELECT regress.err(format('INSERT INTO pol_outcomes VALUES (%s, 1)', :decision_id));
SELECT regress.err($$INSERT INTO pol_outcomes VALUES (424242, 1)$$);
CREATE TABLE pol_bad (decision_id bigint);
CREATE TRIGGER learn BEFORE INSERT ON pol_bad FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', '1');
SELECT regress.err($$INSERT INTO pol_bad VALUES (1)$$);
SELECT count(*) FROM pol_outcomes;

-- A decision's context and a reward's next context are logged exactly as given: a number keeps
-- its digits (19.90, an integer past 2^53); the default context is '{}'.
SELECT decision_id FROM mkt.decide('pol_one', '{"segment": 1, "price": 19.90, "id": 12345678901234567890123}', 'exact') \gset
SELECT mkt.reward(:decision_id, 1, '{"segment": 0, "price": 5.50}');
SELECT context::text AS context, next_context::text AS next_context FROM mkt.decisions WHERE decision_id = :decision_id;
SELECT decision_id FROM mkt.decide('pol_one') \gset
SELECT context::text AS default_context FROM mkt.decisions WHERE decision_id = :decision_id;

-- A decision's row holds what an INSERT with the table's defaults would: the id from the log's
-- sequence, the transaction's time, no reward. A reward earlier in the same statement is seen by
-- the next decision's state lookup.
SELECT mkt.create_policy('pol_row', ARRAY['x', 'y'], 'q_learning', '{"state_features": ["segment"], "epsilon": 0.2}');
BEGIN;
SELECT decision_id AS row_id, action AS row_action FROM mkt.decide('pol_row', '{"segment": 1, "list": [1, 2]}', 's1') \gset
SELECT decision_id = currval('mkt.decisions_decision_id_seq') AS id_from_sequence, policy_version, subject,
       context::text AS context, state, action = :'row_action' AS action,
       probability = (probabilities->>action)::float8 AS propensity, probabilities::text AS probabilities,
       decided_at = now() AS decided_now,
       reward IS NULL AND next_context IS NULL AND rewarded_at IS NULL AND NOT applied AS unrewarded
FROM mkt.decisions WHERE decision_id = :row_id;
SELECT mkt.reward(:row_id, 1), (SELECT decision_id FROM mkt.decide('pol_row', '{"segment": 1}')) AS next_id \gset
SELECT probabilities->>:'row_action' AS rewarded_action_probability FROM mkt.decisions WHERE decision_id = :next_id;
COMMIT;

-- The log is written by a statement, with the same result, when it has a trigger, row-level
-- security or a caller without the privilege to insert.
CREATE TABLE pol_seen (decision_id bigint, subject text);
CREATE FUNCTION pol_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO pol_seen VALUES (NEW.decision_id, NEW.subject); RETURN NEW; END $$;
CREATE TRIGGER pol_seen AFTER INSERT ON mkt.decisions FOR EACH ROW EXECUTE FUNCTION pol_seen();
SELECT decision_id AS seen_id FROM mkt.decide('pol_row', '{"segment": 0}', 'seen') \gset
SELECT decision_id = :seen_id AS trigger_saw_the_row, subject FROM pol_seen;
DROP TRIGGER pol_seen ON mkt.decisions;
CREATE ROLE pol_caller;
GRANT USAGE ON SCHEMA mkt, regress TO pol_caller;
GRANT SELECT ON mkt.policies, mkt.policy_state, mkt.deployments TO pol_caller;
GRANT USAGE ON SEQUENCE mkt.decisions_decision_id_seq TO pol_caller;
SET ROLE pol_caller;
SELECT regress.err($$SELECT * FROM mkt.decide('pol_row', '{"segment": 0}', 'no grant')$$);
RESET ROLE;
GRANT SELECT, INSERT ON mkt.decisions TO pol_caller;
ALTER TABLE mkt.decisions ENABLE ROW LEVEL SECURITY;
CREATE POLICY pol_only_ok ON mkt.decisions TO pol_caller USING (subject = 'ok');
SET ROLE pol_caller;
SELECT regress.err($$SELECT * FROM mkt.decide('pol_row', '{"segment": 0}', 'not ok')$$);
SELECT regress.err($$SELECT * FROM mkt.decide('pol_row', '{"segment": 0}', 'ok')$$);
RESET ROLE;
DROP POLICY pol_only_ok ON mkt.decisions;
ALTER TABLE mkt.decisions DISABLE ROW LEVEL SECURITY;
SELECT subject, count(*) FROM mkt.decisions d JOIN mkt.policies USING (policy_id)
WHERE policy_name = 'pol_row' GROUP BY subject ORDER BY subject;
REVOKE ALL ON mkt.policies, mkt.policy_state, mkt.deployments, mkt.decisions FROM pol_caller;
REVOKE ALL ON SEQUENCE mkt.decisions_decision_id_seq FROM pol_caller;
REVOKE ALL ON SCHEMA mkt, regress FROM pol_caller;
DROP ROLE pol_caller;

SELECT mkt.drop_policy(p) FROM unnest(ARRAY['pol_one', 'pol_ts', 'pbad', 'pol_row']) p;
