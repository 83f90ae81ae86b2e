-- Documentation of every function (shown by \df+ and in BI tools).

COMMENT ON FUNCTION mkt.demo_data(int) IS
'Creates (or replaces) the synthetic shop in schema mkt_demo: users, items, events (view/cart/purchase) with power-law popularity, attribute-driven tastes and drift. scale 1 is about 100k events; deterministic.';

COMMENT ON FUNCTION mkt.split(text, text, text, text, float8, text, text, int) IS
'Splits a source per user into two new tables. method: random (seeded), temporal (last test_fraction of each user''s rows by time_col) or leave_last_out. Each user keeps at least one training row.';

COMMENT ON FUNCTION mkt.train_recommender(text, text, text, text, text, text, jsonb) IS
'Trains a new version of a recommender from a table, view or SELECT. algorithm: popularity, als, item_knn, ease; params per algorithm plus deploy (default true). NULL ids are skipped with a NOTICE.';

COMMENT ON FUNCTION mkt.recommend(text, bigint, int, bool, bigint[]) IS
'Top-k items for a user from the deployed version of a model (bigint ids). Unknown users get the popularity ranking (NOTICE). exclude_seen drops training items; candidates restricts the ranking.';

COMMENT ON FUNCTION mkt.recommend(text, text, int, bool, text[]) IS
'Top-k items for a user from the deployed version of a model, ids as text (for models trained on text ids, or any model).';

COMMENT ON FUNCTION mkt.recommend_all(text, int, bigint[]) IS
'Top-k items for every user of the model (or the given users), computed in parallel (mkt.threads).';

COMMENT ON FUNCTION mkt.similar_items(text, bigint, int) IS
'Items most similar to an item: cosine of ALS item factors, item_knn neighbours or EASE weights. Not available for popularity models.';

COMMENT ON FUNCTION mkt.evaluate_recommender(text, text, int, text, text) IS
'Ranks each test user as serving would (training items excluded) and reports precision, recall, f1, ndcg, map, hit_rate at k, coverage, users_evaluated and users_cold. Stores them with the deployed version.';

COMMENT ON FUNCTION mkt.deploy(text, int) IS
'Makes a version the one serving uses. Backends that cached the previous version switch on their next call after commit.';

COMMENT ON FUNCTION mkt.drop_model(text, int) IS
'Drops one version (or all versions when version is NULL) with their parameters; returns how many versions were dropped. Dropping the deployed version deploys the newest remaining one.';

COMMENT ON FUNCTION mkt.cache_stats() IS
'Models this backend holds decoded for serving and their approximate memory. mkt.model_cache_mb bounds it: least recently used models are dropped first.';

COMMENT ON FUNCTION mkt.create_policy(text, text[], text, jsonb) IS
'Creates a decision policy over actions. algorithm: q_learning (alpha, alpha_schedule, gamma, q_init, exploration epsilon_greedy|softmax|ucb with epsilon, temperature, ucb_c), thompson (prior_alpha, prior_beta, draws), linucb (features, categorical, alpha, ridge); state_features and bins build states from the context; seed.';

COMMENT ON FUNCTION mkt.drop_policy(text) IS
'Drops a policy with what it learned and its decision log; returns the number of decisions removed.';

COMMENT ON FUNCTION mkt.decide(text, jsonb, text, text[]) IS
'Chooses an action for a context (minus excluded actions), logs the decision in mkt.decisions with the probability it was chosen with and the full distribution, and returns decision_id, action, probability.';

COMMENT ON FUNCTION mkt.reward(bigint, float8, jsonb) IS
'Learns from the outcome of a decision: Q-learning update (next_context: where the customer went; NULL ends the journey), Beta posterior (reward in [0,1]) or LinUCB regression. One reward per decision; durable at commit.';

COMMENT ON FUNCTION mkt.policy_probabilities(text, jsonb) IS
'The policy''s probability of each action for a context, without deciding or logging (Thompson: Monte-Carlo estimate with the policy''s seed).';

COMMENT ON FUNCTION mkt.policy_values(text) IS
'What the policy learned per state and action: Q-value, posterior mean or LinUCB intercept, and visits (rewards received).';

COMMENT ON FUNCTION mkt.policy_heatmap_svg(text) IS
'The states x actions table of mkt.policy_values as a standalone SVG heatmap.';

COMMENT ON FUNCTION mkt.simulate_campaign(text, text, int, int) IS
'Runs a fresh copy of the policy''s definition (not its learned state) in a built-in simulator: scenario demo (one-step offers to segments new, active, vip, lapsed with an engagement in [0,1]) or journey (browse, cart, checkout stages). Returns learning curves at 200 checkpoints: reward, regret against the best action, a random policy''s reward and the oracle''s expected reward.';

CREATE FUNCTION mkt.reward_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := to_jsonb(NEW);
    id bigint;
    value float8;
    next_context jsonb;
BEGIN
    IF TG_WHEN <> 'AFTER' OR TG_LEVEL <> 'ROW' OR TG_OP <> 'INSERT' THEN
        RAISE EXCEPTION 'mkt.reward_trigger must be an AFTER INSERT ... FOR EACH ROW trigger'
            USING ERRCODE = '39P01';
    END IF;
    IF TG_NARGS < 2 THEN
        RAISE EXCEPTION 'mkt.reward_trigger takes the decision id column and the reward column (or a constant reward), and optionally a next-context column'
            USING ERRCODE = '22023';
    END IF;
    IF NOT r ? TG_ARGV[0] THEN
        RAISE EXCEPTION 'column "%" does not exist in %.%', TG_ARGV[0], TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = '42703';
    END IF;
    id := (r ->> TG_ARGV[0])::bigint;
    IF id IS NULL THEN
        RETURN NULL;  -- an outcome no decision led to
    END IF;
    IF r ? TG_ARGV[1] THEN
        value := (r ->> TG_ARGV[1])::float8;
    ELSE
        value := TG_ARGV[1]::float8;
    END IF;
    IF TG_NARGS >= 3 THEN
        next_context := r -> TG_ARGV[2];
    END IF;
    PERFORM mkt.reward(id, value, next_context);
    RETURN NULL;
END $$;

COMMENT ON FUNCTION mkt.reward_trigger() IS
'AFTER INSERT FOR EACH ROW trigger: TG_ARGV = (decision id column, reward column or constant [, next-context jsonb column]); calls mkt.reward for each new row with a decision id. A bad row (unknown or already rewarded decision) fails its insert.';

COMMENT ON FUNCTION mkt.estimate_policy_value(text, text, text, text, text[], text[], int, int) IS
'Off-policy value of any target policy from a decision log: per row the logged reward, the logging propensity and the target''s probability of the logged action. Estimators ips, snips, dr (baseline reward model of context_cols), dm; 95% bootstrap intervals (bootstrap resamples, seed) and the effective sample size.';

COMMENT ON FUNCTION mkt.evaluate_policy(text, text, text, text, text, text, int, int) IS
'What a pg_marketing policy (its current state) would earn on a logged set of decisions (e.g. mkt.decisions or a history table): ips, snips, dr and dm with 95% bootstrap intervals, the logging policy''s mean reward and the lift over it.';

COMMENT ON FUNCTION mkt.train_policy(text, text, text, text, text, text, text, int) IS
'Batch learning from a historical log (context jsonb, action, reward [, next context] [, propensity]) on top of what the policy knows, epochs times; with propensity_col rows weigh 1/(actions x propensity), clipped at 10. Online rewards wait while it runs. Returns the new policy version and row counts.';
