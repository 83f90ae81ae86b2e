-- Decision policies: documentation of their functions (src/policies/api.rs).

COMMENT ON FUNCTION mkt.create_policy(text, text[], text, jsonb) IS
'Creates a decision policy over actions. algorithm: q_learning (alpha, alpha_schedule, gamma, q_init, exploration epsilon_greedy|softmax|ucb with epsilon, temperature, ucb_c), thompson (prior_alpha, prior_beta, draws), linucb (features, categorical, alpha, ridge); state_features and bins build states from the context; transform names a mkt.fit_transform applied to every context; seed; learning: immediate (default: each reward updates the state in its transaction) or deferred (rewards wait with their decision for mkt.fold_rewards).';

COMMENT ON FUNCTION mkt.drop_policy(text) IS
'Drops a policy with what it learned and its decision log; returns the number of decisions removed.';

COMMENT ON FUNCTION mkt.decide(text, jsonb, text, text[]) IS
'Chooses an action for a context (minus excluded actions), logs the decision in mkt.decisions with the probability it was chosen with and the full distribution, and returns decision_id, action, probability.';

COMMENT ON FUNCTION mkt.decide_all(text, text, text, text[]) IS
'Decides for every row of source (a table, view or SELECT) in one call, as mkt.decide would for each: the context is a jsonb object of context_cols (NULL = every column but subject_col), each decision is logged in mkt.decisions with its subject, context, probability and distribution, and (decision_id, subject, action, probability) come back in the source''s order. Rows with a NULL subject are skipped (a NOTICE counts them). For a nightly campaign over the whole customer base: the policy''s state is read once per state, not per row, and Thompson sampling''s posterior draws are shared by up to 64 rows of a state (each row takes one of their winners at random, so its logged probability is still exact).';

COMMENT ON FUNCTION mkt.reward(bigint, float8, jsonb, text) IS
'Learns from the outcome of a decision: Q-learning update (next_context: where the customer went; NULL ends the journey), Beta posterior (reward in [0,1]) or LinUCB regression. One reward per decision; durable at commit. subject (optional) must be the decision''s subject; on Citus it makes the update a single-shard write on that subject''s worker, where the reward waits for mkt.fold_rewards, as it does for a policy with deferred learning.';

COMMENT ON FUNCTION mkt.fold_rewards(text) IS
'Applies rewards recorded but not yet learned from (those of policies with learning deferred, and on a Citus catalog every reward, stored with its decision on the subject''s worker) to the policy state, in the order they were recorded, each exactly once; returns the count per policy. Schedule it with pg_cron (on the coordinator with Citus). Rewards of policies that learn immediately on a single server are never pending.';

COMMENT ON FUNCTION mkt.policy_probabilities(text, jsonb) IS
'The policy''s probability of each action for a context, without deciding or logging (Thompson: Monte-Carlo estimate with the policy''s seed).';

COMMENT ON FUNCTION mkt.policy_values(text) IS
'What the policy learned per state and action: Q-value, posterior mean or LinUCB intercept, and visits (rewards received).';

COMMENT ON FUNCTION mkt.policy_heatmap_svg(text) IS
'The states x actions table of mkt.policy_values as a standalone SVG heatmap.';

COMMENT ON FUNCTION mkt.simulate_campaign(text, text, int, int) IS
'Runs a fresh copy of the policy''s definition (not its learned state) in a built-in simulator: scenario demo (one-step offers to segments new, active, vip, lapsed with an engagement in [0,1]) or journey (browse, cart, checkout stages). Returns learning curves at 200 checkpoints: reward, regret against the best action, a random policy''s reward and the oracle''s expected reward.';

COMMENT ON FUNCTION mkt.reward_trigger() IS
'AFTER INSERT FOR EACH ROW trigger: TG_ARGV = (decision id column, reward column or constant [, next-context jsonb column]); calls mkt.reward for each new row with a decision id. A bad row (unknown or already rewarded decision) fails its insert.';

COMMENT ON FUNCTION mkt.estimate_policy_value(text, text, text, text, text[], text[], int, int) IS
'Off-policy value of any target policy from a decision log: per row the logged reward, the logging propensity and the target''s probability of the logged action. Estimators ips, snips, dr (baseline reward model of context_cols), dm; 95% bootstrap intervals (bootstrap resamples, seed) and the effective sample size.';

COMMENT ON FUNCTION mkt.evaluate_policy(text, text, text, text, text, text, int, int) IS
'What a pg_marketing policy (its current state) would earn on a logged set of decisions (e.g. mkt.decisions or a history table): ips, snips, dr and dm with 95% bootstrap intervals, the logging policy''s mean reward and the lift over it.';

COMMENT ON FUNCTION mkt.train_policy(text, text, text, text, text, text, text, int) IS
'Batch learning from a historical log (context jsonb, action, reward [, next context] [, propensity]) on top of what the policy knows, epochs times; with propensity_col rows weigh 1/(actions x propensity), clipped at 10. Online rewards wait while it runs. Returns the new policy version and row counts.';
