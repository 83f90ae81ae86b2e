-- Documentation of every function (shown by \df+ and in BI tools).

COMMENT ON FUNCTION mkt.demo_data(int) IS
'Creates (or replaces) the synthetic shop in schema mkt_demo: users, items, events (view/cart/purchase) with power-law popularity, attribute-driven tastes and drift. scale 1 is about 100k events; deterministic.';

COMMENT ON FUNCTION mkt.split(text, text, text, text, float8, text, text, int) IS
'Splits a source per user into two new tables. method: random (seeded), temporal (last test_fraction of each user''s rows by time_col) or leave_last_out. Each user keeps at least one training row.';

COMMENT ON FUNCTION mkt.train_recommender(text, text, text, text, text, text, jsonb) IS
'Trains a new version of a recommender from a table, view or SELECT. algorithm: popularity, als, item_knn, ease, bpr, neural (two-tower in candle; optional user_features / item_features tables give cold-start users and items personal scores; per-epoch progress in mkt.training_log), neumf (GMF + MLP, same feature tables); params per algorithm plus deploy (default true). NULL ids are skipped with a NOTICE.';

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
'Models this backend holds for serving: their private memory (bytes; mkt.model_cache_mb bounds it, least recently used models are dropped first) and the bytes they view in read-only file mappings shared with every other backend (shared_bytes; see mkt.shared_models).';

COMMENT ON FUNCTION mkt.create_policy(text, text[], text, jsonb) IS
'Creates a decision policy over actions. algorithm: q_learning (alpha, alpha_schedule, gamma, q_init, exploration epsilon_greedy|softmax|ucb with epsilon, temperature, ucb_c), thompson (prior_alpha, prior_beta, draws), linucb (features, categorical, alpha, ridge); state_features and bins build states from the context; transform names a mkt.fit_transform applied to every context; seed; learning: immediate (default: each reward updates the state in its transaction) or deferred (rewards wait with their decision for mkt.fold_rewards).';

COMMENT ON FUNCTION mkt.drop_policy(text) IS
'Drops a policy with what it learned and its decision log; returns the number of decisions removed.';

COMMENT ON FUNCTION mkt.decide(text, jsonb, text, text[]) IS
'Chooses an action for a context (minus excluded actions), logs the decision in mkt.decisions with the probability it was chosen with and the full distribution, and returns decision_id, action, probability.';

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

-- Campaigns -------------------------------------------------------------------------------------

-- What a campaign's trigger calls for each row that meets its condition. Static SQL only, so
-- PL/pgSQL keeps every plan.
CREATE FUNCTION mkt.campaign_fire(cid bigint, subj text, ctx jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    c mkt.campaigns;
    h int;
BEGIN
    SELECT * INTO c FROM mkt.campaigns WHERE campaign_id = cid;
    IF NOT FOUND OR c.paused OR subj IS NULL THEN
        RETURN;
    END IF;
    IF (c.starts_at IS NOT NULL AND now() < c.starts_at) OR (c.ends_at IS NOT NULL AND now() >= c.ends_at) THEN
        RETURN;
    END IF;
    IF c.quiet_from IS NOT NULL THEN
        h := extract(hour FROM now())::int;
        IF (c.quiet_from <= c.quiet_to AND h >= c.quiet_from AND h < c.quiet_to)
           OR (c.quiet_from > c.quiet_to AND (h >= c.quiet_from OR h < c.quiet_to)) THEN
            RETURN;
        END IF;
    END IF;
    IF c.queued THEN
        -- The insert fails now, as an immediate campaign's would, rather than the event later.
        IF NOT EXISTS (SELECT 1 FROM mkt.policies WHERE policy_name = c.policy_name) THEN
            RAISE EXCEPTION 'policy % does not exist', quote_literal(c.policy_name) USING ERRCODE = '42704';
        END IF;
        INSERT INTO mkt.campaign_queue (campaign_id, subject, context) VALUES (cid, subj, ctx);
        RETURN;
    END IF;
    PERFORM mkt.campaign_act(c, subj, ctx);
END $$;

COMMENT ON FUNCTION mkt.campaign_fire(bigint, text, jsonb) IS
'Internal: what a campaign''s trigger runs for a qualifying row (pause, schedule, quiet hours; then mkt.campaign_act, or the queue of a queued campaign).';

-- The treatment of one qualifying event: frequency cap, control group, budget, decide, outbox.
CREATE FUNCTION mkt.campaign_act(c mkt.campaigns, subj text, ctx jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n int;
    d record;
    tid bigint;
BEGIN
    IF c.frequency_cap IS NOT NULL THEN
        -- Sessions touching the same subject queue here, so the count below cannot be stale (a
        -- queued campaign has one processor at a time; see mkt.process_campaign).
        IF NOT c.queued THEN
            PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('pg_marketing.campaign:' || c.campaign_id || ':' || subj, 0));
        END IF;
        SELECT count(*) INTO n FROM mkt.campaign_touches
        WHERE campaign_id = c.campaign_id AND subject = subj AND touched_at > now() - c.frequency_interval;
        IF n >= c.frequency_cap THEN
            RETURN;
        END IF;
    END IF;
    -- The hold-out is a fixed function of the subject: the same customer is always control.
    IF (pg_catalog.hashtextextended(subj, c.seed) & 4294967295)::float8 / 4294967296.0 < c.control_fraction THEN
        INSERT INTO mkt.campaign_touches (campaign_id, subject, arm) VALUES (c.campaign_id, subj, 'control');
        RETURN;
    END IF;
    IF c.daily_budget IS NOT NULL THEN
        INSERT INTO mkt.campaign_budget AS b (campaign_id, day, sends) VALUES (c.campaign_id, current_date, 1)
        ON CONFLICT (campaign_id, day) DO UPDATE SET sends = b.sends + 1 WHERE b.sends < c.daily_budget
        RETURNING b.sends INTO n;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    SELECT * INTO d FROM mkt.decide(c.policy_name, ctx, subj);
    INSERT INTO mkt.campaign_touches (campaign_id, subject, arm, decision_id)
    VALUES (c.campaign_id, subj, d.action, d.decision_id) RETURNING touch_id INTO tid;
    INSERT INTO mkt.outbox (campaign_id, campaign, subject, action, decision_id, touch_id)
    VALUES (c.campaign_id, c.campaign_name, subj, d.action, d.decision_id, tid);
END $$;

COMMENT ON FUNCTION mkt.campaign_act(mkt.campaigns, text, jsonb) IS
'Internal: the treatment of one qualifying event of a campaign (frequency cap, control group, budget, decide, touch and outbox message).';

CREATE FUNCTION mkt.process_campaign(campaign_name text, max_events int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    c mkt.campaigns;
    e record;
    done bigint := 0;
BEGIN
    IF max_events IS NULL OR max_events < 1 THEN
        RAISE EXCEPTION 'max_events must be at least 1, got %', coalesce(max_events::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT * INTO c FROM mkt.campaigns WHERE campaigns.campaign_name = process_campaign.campaign_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign % does not exist', quote_literal(process_campaign.campaign_name) USING ERRCODE = '42704';
    END IF;
    IF c.paused THEN
        RETURN 0;  -- events wait in the queue until the campaign is resumed
    END IF;
    -- One processor per campaign at a time keeps caps and budgets exact without a lock per
    -- subject (thousands of those in one transaction would fill the shared lock table); a
    -- concurrent call leaves the queue to the running one.
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('pg_marketing.campaign:' || c.campaign_id, 0)) THEN
        RETURN 0;
    END IF;
    FOR e IN
        SELECT q.queue_id, q.subject, q.context FROM mkt.campaign_queue q
        WHERE q.campaign_id = c.campaign_id ORDER BY q.queue_id LIMIT max_events
        FOR UPDATE
    LOOP
        PERFORM mkt.campaign_act(c, e.subject, e.context);
        DELETE FROM mkt.campaign_queue q WHERE q.campaign_id = c.campaign_id AND q.queue_id = e.queue_id;
        done := done + 1;
    END LOOP;
    RETURN done;
END $$;

COMMENT ON FUNCTION mkt.process_campaign(text, int) IS
'Decides for up to max_events queued events of a campaign created with mode ''queued'' (oldest first; frequency cap, control group, budget, decide, outbox) and returns how many it took. One call at a time works on a campaign: a concurrent call returns 0. mkt.claim_messages calls it first; a pg_cron job can call it too.';

CREATE FUNCTION mkt.claim_messages(campaign_name text, n int DEFAULT 100) RETURNS SETOF mkt.outbox
LANGUAGE plpgsql AS $$
DECLARE
    c mkt.campaigns;
BEGIN
    IF n IS NULL OR n < 1 OR n > 100000 THEN
        RAISE EXCEPTION 'n must be between 1 and 100000, got %', n USING ERRCODE = '22023';
    END IF;
    SELECT * INTO c FROM mkt.campaigns WHERE campaigns.campaign_name = claim_messages.campaign_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign % does not exist', quote_literal(claim_messages.campaign_name) USING ERRCODE = '42704';
    END IF;
    IF c.queued THEN
        -- Delivery workers drive a queued campaign: up to n of its waiting events are decided first.
        -- If that fails (say the policy was dropped), delivery of what the outbox holds goes on;
        -- the events stay queued and mkt.process_campaign raises the error.
        BEGIN
            PERFORM mkt.process_campaign(claim_messages.campaign_name, n);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'campaign %: queued events were not processed: %', quote_literal(c.campaign_name), SQLERRM;
        END;
    END IF;
    RETURN QUERY
    UPDATE mkt.outbox o SET claimed_at = clock_timestamp(), claims = o.claims + 1
    WHERE o.message_id IN (
        SELECT p.message_id FROM mkt.outbox p
        WHERE p.campaign_id = c.campaign_id AND p.delivered_at IS NULL
          AND (p.claimed_at IS NULL OR p.claimed_at < clock_timestamp() - c.claim_timeout)
        ORDER BY p.message_id
        LIMIT n
        FOR UPDATE SKIP LOCKED)
    RETURNING o.*;
END $$;

COMMENT ON FUNCTION mkt.claim_messages(text, int) IS
'For delivery workers: up to n undelivered messages of a campaign, each to one worker at a time (FOR UPDATE SKIP LOCKED). A claim not acknowledged within the campaign''s claim_timeout is handed out again. For a queued campaign it first decides up to n waiting events (mkt.process_campaign; if that fails, a warning, and the claim goes on).';

CREATE FUNCTION mkt.ack_message(message_id bigint) RETURNS bool
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE mkt.outbox o SET delivered_at = clock_timestamp()
    WHERE o.message_id = ack_message.message_id AND o.delivered_at IS NULL;
    IF FOUND THEN
        RETURN true;
    END IF;
    IF EXISTS (SELECT 1 FROM mkt.outbox o WHERE o.message_id = ack_message.message_id) THEN
        RETURN false;
    END IF;
    RAISE EXCEPTION 'message % does not exist', ack_message.message_id USING ERRCODE = '42704';
END $$;

COMMENT ON FUNCTION mkt.ack_message(bigint) IS
'Marks a message delivered; true the first time, false when it already was.';

CREATE FUNCTION mkt.attribute_outcomes(campaign_name text, outcomes regclass, subject_col text, value_col text,
                                       time_col text, "window" interval DEFAULT '7 days') RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    c mkt.campaigns;
    n bigint;
    rewarded bigint := 0;
    t record;
    v float8;
    k bigint;
    col text;
BEGIN
    SELECT * INTO c FROM mkt.campaigns WHERE campaigns.campaign_name = attribute_outcomes.campaign_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'campaign % does not exist', quote_literal(attribute_outcomes.campaign_name) USING ERRCODE = '42704';
    END IF;
    IF "window" IS NULL OR "window" <= interval '0' THEN
        RAISE EXCEPTION 'window must be a positive interval, got %', "window" USING ERRCODE = '22023';
    END IF;
    FOREACH col IN ARRAY ARRAY[subject_col, value_col, time_col] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                       WHERE attrelid = outcomes AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
            RAISE EXCEPTION 'column % does not exist in %', quote_literal(col), outcomes USING ERRCODE = '42703';
        END IF;
    END LOOP;
    -- Each outcome goes to the last touch of its subject before it, within the window; an outcome
    -- is identified by its row's content, so re-running adds nothing.
    EXECUTE format($q$
        INSERT INTO mkt.attributions (campaign_id, outcome_key, touch_id, value, outcome_at)
        SELECT $1, md5(o.r::text), t.touch_id, coalesce(o.v, 0), o.at
        FROM (SELECT x AS r, (x.%1$I)::text AS s, (x.%2$I)::float8 AS v, (x.%3$I)::timestamptz AS at FROM %4$s x) o
        CROSS JOIN LATERAL (
            SELECT tt.touch_id FROM mkt.campaign_touches tt
            WHERE tt.campaign_id = $1 AND tt.subject = o.s AND tt.touched_at <= o.at AND o.at < tt.touched_at + $2
            ORDER BY tt.touched_at DESC, tt.touch_id DESC
            LIMIT 1) t
        WHERE o.s IS NOT NULL AND o.at IS NOT NULL
        ON CONFLICT (campaign_id, outcome_key) DO NOTHING$q$,
        subject_col, value_col, time_col, outcomes)
    USING c.campaign_id, "window";
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Decisions whose window has closed get their reward, once: conversion (0/1) or summed value.
    FOR t IN
        SELECT tt.touch_id, tt.decision_id FROM mkt.campaign_touches tt
        WHERE tt.campaign_id = c.campaign_id AND tt.decision_id IS NOT NULL AND tt.rewarded_at IS NULL
          AND tt.touched_at + "window" <= now()
        ORDER BY tt.touch_id
        FOR UPDATE SKIP LOCKED
    LOOP
        SELECT coalesce(sum(a.value), 0), count(*) INTO v, k FROM mkt.attributions a WHERE a.touch_id = t.touch_id;
        PERFORM mkt.reward(t.decision_id, CASE WHEN c.reward = 'value' THEN v ELSE (k > 0)::int END);
        UPDATE mkt.campaign_touches SET rewarded_at = now() WHERE touch_id = t.touch_id;
        rewarded := rewarded + 1;
    END LOOP;
    RAISE NOTICE 'campaign %: % new attributions, % decisions rewarded', quote_literal(c.campaign_name), n, rewarded;
    RETURN n;
END $$;

COMMENT ON FUNCTION mkt.attribute_outcomes(text, regclass, text, text, text, interval) IS
'Last-touch attribution: credits each outcome row (subject, value, time) to the campaign''s last touch of that subject within the window before it (control touches included); then rewards every decision whose window has closed, once (conversion 0/1, or the summed value when the campaign''s reward param is value). Idempotent; returns the number of new attributions.';

COMMENT ON FUNCTION mkt.create_campaign(text, text, regclass, text, text[], text, jsonb) IS
'Installs an AFTER INSERT trigger on trigger_source: each new row meeting condition (a boolean expression over its columns) gets a decision of the policy for its subject, with context_cols as context, queued in mkt.outbox. params: control_fraction (0.1, a stable per-subject hold-out), frequency_cap per frequency_interval (1 day), budget (sends per day), start, end, quiet_hours [from, to), claim_timeout (5 minutes), reward (conversion | value), seed, mode (immediate: decide in the inserting transaction; queued: the insert only queues the event, mkt.process_campaign or mkt.claim_messages decides later).';

COMMENT ON FUNCTION mkt.pause_campaign(text) IS 'Makes the campaign''s trigger a no-op until resumed.';
COMMENT ON FUNCTION mkt.resume_campaign(text) IS 'Resumes a paused campaign.';
COMMENT ON FUNCTION mkt.drop_campaign(text) IS 'Removes the campaign''s trigger, queue, outbox, touches and attributions (its policy and decisions stay).';

COMMENT ON FUNCTION mkt.campaign_report(text, timestamptz, timestamptz) IS
'Per arm (control, all treated, each action): subjects, sends, converted subjects, conversion rate, attributed revenue, and for treatments the uplift over control with a 95% interval and a two-sided p-value; note says when a sample is too small to conclude.';

COMMENT ON FUNCTION mkt.campaign_report_svg(text) IS
'Conversion rate per arm and day with 95% intervals, as a standalone SVG chart.';

-- Data preparation ------------------------------------------------------------------------------

COMMENT ON FUNCTION mkt.profile(text) IS
'Per column of a table, view or SELECT: type, rows, NULLs, distinct values, min, max; for numeric columns mean, sample stddev, quartiles and IQR outliers (beyond 1.5 IQR); the five most frequent values (NULL for mostly distinct columns). Three scans per 40 columns, each within mkt.max_memory_mb.';

COMMENT ON FUNCTION mkt.fit_transform(text, text, jsonb, text, bool) IS
'Fits per-column transforms on a source and stores their statistics under transform_name: standard, min_max, robust, log1p, one_hot (max_categories), hash (buckets), quantile_bucket (n), target_encode (label, smoothing). With target, writes the source plus the output columns to a new table (replace => true overwrites). Returns each column''s output columns.';

COMMENT ON FUNCTION mkt.apply_transform(text, text, text, bool) IS
'Applies a stored transform''s statistics (never refitting) to a source, writing source columns plus outputs to a new table; unseen categories get zeros (one_hot) or the global mean (target_encode). Returns the row count.';

COMMENT ON FUNCTION mkt.rfm(text, text, text, text, text, timestamptz, int, bool) IS
'Recency (days before as_of), frequency and monetary value per customer, their quantile scores (1 worst .. quantiles best), the RFM cell and a named segment (champions, loyal, potential loyalists, new, need attention, at risk, cannot lose them, hibernating), written to a new table. Returns the number of customers.';

COMMENT ON FUNCTION mkt.user_features(text, text, text, text, text, text, text, timestamptz, bool) IS
'Per-user activity features from an event table, written to a new table: events, first and last seen, recency in days, active days, a count per event type (n_<type>), distinct items and diversity, total and average value. Returns the number of users.';

-- Conversions for mkt.clean's coerce: NULL instead of an error for text that does not parse.
CREATE FUNCTION mkt.try_numeric(v text) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN v::numeric;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mkt.try_numeric(text) IS 'v as numeric, or NULL when it does not parse (used by mkt.clean''s coerce).';

CREATE FUNCTION mkt.try_bigint(v text) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN v::bigint;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mkt.try_bigint(text) IS 'v as bigint, or NULL when it does not parse (used by mkt.clean''s coerce).';

CREATE FUNCTION mkt.try_float8(v text) RETURNS float8
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN v::float8;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mkt.try_float8(text) IS 'v as float8, or NULL when it does not parse (used by mkt.clean''s coerce).';

CREATE FUNCTION mkt.try_date(v text) RETURNS date
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN v::date;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mkt.try_date(text) IS 'v as date, or NULL when it does not parse (used by mkt.clean''s coerce).';

CREATE FUNCTION mkt.try_timestamptz(v text) RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN v::timestamptz;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mkt.try_timestamptz(text) IS 'v as timestamptz, or NULL when it does not parse (used by mkt.clean''s coerce).';

CREATE FUNCTION mkt.try_boolean(v text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN v::boolean;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END $$;
COMMENT ON FUNCTION mkt.try_boolean(text) IS 'v as boolean, or NULL when it does not parse (used by mkt.clean''s coerce).';

COMMENT ON FUNCTION mkt.clean(text, text, jsonb, bool) IS
'Writes a cleaned copy of a source to a new table (the source is never modified) and reports each step''s rows: coerce (text to numeric, bigint, float8, date, timestamptz, boolean; failures become NULL and are counted), dedupe_on with keep first|last by order_by, bots (subjects with more than max_events_per_day events on a day), nulls per column (drop, mean, median, mode or a constant), outliers per column (method iqr with k, zscore with k, quantile with low/high; action clip, drop or flag).';

COMMENT ON FUNCTION mkt.live_progress() IS
'Where each long pg_marketing call running now is: its backend pid, phase (e.g. als sweeps, ease solve, profile scans), done of total, and when it last reported (epoch seconds). Calls report after their first second, about once a second; mkt.jobs shows it for jobs.';

COMMENT ON FUNCTION mkt.live_training() IS
'Epochs of the training calls running now in any backend (loss, validation ndcg@10, seconds); the live half of mkt.training_log.';

CREATE VIEW mkt.training_log WITH (security_invoker = true) AS
SELECT v.model_name, v.version, 'finished'::text AS state, NULL::int AS pid,
       e.epoch, e.loss, e.metric AS validation_ndcg, e.seconds, e.logged_at
FROM mkt.training_epochs e
JOIN mkt.model_versions v USING (model_id)
UNION ALL
SELECT l.model_name, NULL, 'running', l.pid,
       l.epoch, l.loss, l.metric, l.seconds, to_timestamp(l.logged_at)
FROM mkt.live_training() l
WHERE l.role = current_user OR pg_has_role(current_user, 'pg_read_all_stats', 'member');
COMMENT ON VIEW mkt.training_log IS
'Per-epoch progress of neural training: rows of running calls (state running, version NULL, visible to their role and to pg_read_all_stats) while they train, and of every stored version (state finished) after.';

COMMENT ON FUNCTION mkt.export_model(text, int) IS
'The stored bytes (safetensors: ids, seen items, popularity, factors or weights) of a version, the deployed one when version is NULL. mkt.import_model stores them again.';

COMMENT ON FUNCTION mkt.import_model(text, bytea, bool, jsonb) IS
'Stores bytes from mkt.export_model as a new version of a model (deployed unless deploy is false) after checking every length and index; it then serves exactly as the exported version did. Returns the version.';

COMMENT ON FUNCTION mkt.explain_recommendation(text, bigint, bigint, int) IS
'The n items of the user''s history that contribute most to an item''s score, with their contributions. Exact for item_knn, EASE (the history item''s weight toward the item) and ALS (c_j * y_i'' W_u y_j from the user-vector solve; contributions sum to the score); for bpr and neural the cosine of item vectors (which history items the model places near the item).';

COMMENT ON FUNCTION mkt.tune_recommender(text, text, text, text, text, text, jsonb) IS
'Grid or random search over an algorithm''s params on a validation split carved from the source (a fifth of the items of users with 5 or more), then trains and stores a version with the best params on all the data. search: {"params": {name: [values] | {"min", "max", "log"}}, "method": grid|random, "trials", "seed", "validation", "k", "metric": ndcg|recall|precision|map|hit_rate, "base": {fixed params}}. Every trial is returned and kept in mkt.tuning_trials.';

CREATE VIEW mkt.jobs AS
SELECT q.job_id, q.command, q.submitted_by,
       CASE WHEN q.state = 'running'
                 AND (q.started_at < pg_postmaster_start_time()
                      OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = q.worker_pid))
            THEN 'failed' ELSE q.state END AS state,
       CASE WHEN q.state = 'succeeded' THEN 1.0::float8
            WHEN q.state = 'running' THEN coalesce(e.epoch::float8 / e.epochs, p.done::float8 / nullif(p.total, 0))
       END AS progress,
       CASE WHEN q.state = 'running' THEN
            coalesce(CASE WHEN e.epoch IS NOT NULL THEN
                          format('epoch %s/%s loss %s ndcg@10 %s', e.epoch, e.epochs, round(e.loss::numeric, 4),
                                 coalesce(round(e.metric::numeric, 4)::text, '-')) END,
                     CASE WHEN p.phase IS NOT NULL THEN format('%s %s/%s', p.phase, p.done, p.total) END)
       END AS message,
       q.result, q.error, q.priority, q.submitted_at, q.started_at, q.finished_at, q.worker_pid
FROM mkt.job_queue q
-- Each live source is read once per running job, and not at all for the others (the quals on q
-- gate the scans).
LEFT JOIN LATERAL (SELECT l.epoch, l.epochs, l.loss, l.metric FROM mkt.live_training() l
                   WHERE q.state = 'running' AND l.pid = q.worker_pid ORDER BY l.epoch DESC LIMIT 1) e ON true
LEFT JOIN LATERAL (SELECT lp.phase, lp.done, lp.total FROM mkt.live_progress() lp
                   WHERE q.state = 'running' AND lp.pid = q.worker_pid LIMIT 1) p ON true;
COMMENT ON VIEW mkt.jobs IS
'Every job: state queued|running|succeeded|failed|cancelled (a running job whose worker is gone shows failed), progress 0..1 and a message while it runs (the latest epoch of neural training, else the phase of the work, e.g. ''als 120000/2100000''), the result rows (jsonb) or the error.';

COMMENT ON FUNCTION mkt.submit_job(text, int) IS
'Queues one SELECT of a long mkt function (train_recommender, retrain, tune_recommender, evaluate_recommender, train_policy, evaluate_policy, estimate_policy_value, simulate_campaign, profile, clean, fit_transform, apply_transform, rfm, user_features, split) to run in a background worker as the submitting role, after this transaction commits. At most mkt.max_workers jobs of a database run at once. Returns the job id; follow it in mkt.jobs.';

COMMENT ON FUNCTION mkt.cancel_job(bigint) IS
'Cancels a queued job, or interrupts a running one (its state becomes cancelled and nothing it would have written stays). True when there was something to cancel.';

COMMENT ON FUNCTION mkt.wait_job(bigint, interval) IS
'Waits until a job is no longer queued or running, or until the timeout, and returns its state.';

COMMENT ON FUNCTION mkt.retrain(text, text) IS
'Re-runs the stored definition (source, columns, algorithm, params, feature tables and transforms) of the serving version on current data. The holdout is a fifth of the interactions the serving version never trained on; a challenger trained on the rest and the serving version are both ranked on it (ndcg@10). A version trained on all the data is then stored and deployed per deploy: always, never or if_better (default: only when the challenger scored higher; with no interaction newer than the serving version there is nothing to judge by and it keeps serving). The reason is kept in mkt.deploy_history.';

COMMENT ON FUNCTION mkt.rollback(text) IS
'Redeploys the version that was deployed before the current one (per mkt.deploy_history) and returns its number.';

COMMENT ON FUNCTION mkt.model_report(text, int) IS
'A self-contained HTML page (inline CSS and SVG, no external assets) about a model version (default: the deployed one): definition, metrics, training curve and validation ndcg per epoch, every version compared, deployments and tuning trials. For a policy name: definition, decisions, the learning curve of rewards and the value heatmap.';

COMMENT ON FUNCTION mkt.forget_subject(text) IS
'GDPR-style erasure of one customer: deletes their decisions, campaign touches, outbox messages and attributions, and removes them from every stored model version (their id, seen items and vector), so recommendations for them are those of a new user and everyone else''s stay the same. Returns what was removed. What everyone''s data shaped together (item factors, item-item weights, popularity) keeps the customer''s influence until the next retrain, and the source tables are yours to clean.';

-- Citus: the model and policy catalog becomes reference tables (a copy on every node, so serving
-- runs wherever Citus sends it), the decision log a table distributed by subject, and the serving
-- and decision functions can be routed to the worker holding a customer's shard.
CREATE FUNCTION mkt.citus_setup(customers regclass DEFAULT NULL)
RETURNS TABLE(step text, detail text)
LANGUAGE plpgsql AS $fn$
DECLARE
    t regclass;
    fk record;
    dist_type regtype;
    reference regclass[] := ARRAY['mkt.model_versions', 'mkt.model_blobs', 'mkt.deployments',
        'mkt.deploy_history', 'mkt.training_epochs', 'mkt.tuning_trials', 'mkt.policies',
        'mkt.policy_state', 'mkt.transforms', 'mkt.model_acl']::regclass[];
    -- Worker shells are the extension's own tables; they must match the coordinator's definition.
    shell_fix text := $$
        DO $d$ DECLARE r record; BEGIN
          -- On a node added later the shells are Citus tables already; change them locally only.
          PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
          FOR r IN SELECT conrelid::regclass AS rel, conname FROM pg_catalog.pg_constraint
                   WHERE contype = 'f' AND connamespace = 'mkt'::regnamespace
                     AND confrelid = 'mkt.model_versions'::regclass LOOP
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.rel, r.conname);
          END LOOP;
          IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = 'mkt.decisions'::regclass
                         AND contype = 'p' AND array_length(conkey, 1) = 2)
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                             WHERE logicalrelid = 'mkt.decisions'::regclass) THEN
            ALTER TABLE mkt.decisions DROP CONSTRAINT decisions_pkey,
                ADD CONSTRAINT decisions_pkey PRIMARY KEY (decision_id, subject);
          END IF;
          -- Decision ids drawn on this node start at its group id times 2^48: unique cluster-wide.
          PERFORM pg_catalog.setval('mkt.decisions_decision_id_seq',
              greatest((SELECT last_value FROM mkt.decisions_decision_id_seq),
                       (SELECT groupid FROM pg_catalog.pg_dist_local_group)::bigint << 48));
        END $d$ $$;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
        RAISE EXCEPTION 'mkt.citus_setup needs the citus extension in this database'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'CREATE EXTENSION citus first (citus must be in shared_preload_libraries).';
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        RAISE EXCEPTION 'mkt.citus_setup runs on the coordinator'
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF EXISTS (SELECT 1 FROM mkt.reward_log) THEN
        RAISE EXCEPTION 'mkt.reward_log has rewards waiting to be learned'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run SELECT * FROM mkt.fold_rewards() first.';
    END IF;
    IF EXISTS (SELECT 1 FROM mkt.decisions WHERE subject IS NULL) THEN
        RAISE EXCEPTION 'mkt.decisions has decisions without a subject; they cannot be distributed by subject'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Delete them or give them a subject first.';
    END IF;

    SELECT string_agg(format('%s:%s: %s', w.nodename, w.nodeport, w.result), '; ') INTO detail
    FROM pg_catalog.run_command_on_workers(shell_fix) w WHERE NOT w.success;
    IF detail IS NOT NULL THEN
        RAISE EXCEPTION 'mkt.citus_setup could not prepare every worker: %', detail
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'pg_marketing must be installed on every node (CREATE EXTENSION propagates it once the node is added).';
    END IF;
    step := 'workers'; detail := (SELECT count(*) FROM pg_catalog.pg_dist_node
        WHERE groupid <> 0 AND isactive)::text || ' worker(s) prepared'; RETURN NEXT;

    FOR fk IN SELECT conrelid::regclass AS rel, conname FROM pg_catalog.pg_constraint
              WHERE contype = 'f' AND connamespace = 'mkt'::regnamespace
                AND confrelid = 'mkt.model_versions'::regclass LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.conname);
    END LOOP;
    FOREACH t IN ARRAY reference LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = t) THEN
            PERFORM pg_catalog.create_reference_table(t);
            step := 'reference table'; detail := t::text; RETURN NEXT;
        END IF;
    END LOOP;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = 'mkt.decisions'::regclass) THEN
        ALTER TABLE mkt.decisions DROP CONSTRAINT decisions_pkey,
            ADD CONSTRAINT decisions_pkey PRIMARY KEY (decision_id, subject);
        PERFORM pg_catalog.create_distributed_table('mkt.decisions', 'subject');
        step := 'distributed table'; detail := 'mkt.decisions by subject'; RETURN NEXT;
    END IF;
    -- Citus crashes routing a NULL text argument; pg_marketing's planner guard refuses a NULL
    -- subject first, but only where pg_marketing is preloaded (after citus) on every node.
    IF (SELECT bool_and(w.result ~ '\mpg_marketing\M')
        FROM pg_catalog.run_command_on_workers('SHOW shared_preload_libraries') w)
       AND current_setting('shared_preload_libraries') ~ '\mpg_marketing\M' THEN
        PERFORM pg_catalog.create_distributed_function('mkt.decide(text, jsonb, text, text[])', '$3',
            colocate_with := 'mkt.decisions');
        step := 'distributed function'; detail := 'mkt.decide by subject, with mkt.decisions'; RETURN NEXT;
    ELSE
        step := 'skipped'; detail := 'mkt.decide runs on the coordinator (its decisions still land on the subject''s worker): add pg_marketing after citus to shared_preload_libraries on every node and run mkt.citus_setup() again to route it';
        RETURN NEXT;
    END IF;

    IF customers IS NOT NULL THEN
        SELECT a.atttypid::regtype INTO dist_type
        FROM pg_catalog.pg_dist_partition p
        JOIN pg_catalog.pg_attribute a ON a.attrelid = p.logicalrelid
         AND a.attname = pg_catalog.column_to_column_name(p.logicalrelid, p.partkey)
        WHERE p.logicalrelid = customers AND p.partmethod = 'h';
        IF dist_type IS NULL THEN
            RAISE EXCEPTION 'customers table % is not a hash-distributed table', customers
                USING ERRCODE = 'wrong_object_type',
                      HINT = 'SELECT create_distributed_table(''<table>'', ''<user id column>'') first.';
        END IF;
        IF dist_type NOT IN ('bigint'::regtype, 'integer'::regtype) THEN
            RAISE EXCEPTION 'customers table % is distributed by a % column; mkt.recommend takes a bigint user id', customers, dist_type
                USING ERRCODE = 'datatype_mismatch';
        END IF;
        PERFORM pg_catalog.create_distributed_function(
            'mkt.recommend(text, bigint, integer, boolean, bigint[])', '$2', colocate_with := customers::text);
        step := 'distributed function'; detail := 'mkt.recommend by user id, with ' || customers::text; RETURN NEXT;
    END IF;
END
$fn$;
COMMENT ON FUNCTION mkt.citus_setup(regclass) IS
'On a Citus coordinator: makes the model and policy catalog reference tables (a copy on every node), distributes mkt.decisions by subject with node-unique decision ids, registers mkt.decide as a function distributed by subject (when pg_marketing is preloaded on every node), and, given a customers table distributed by a bigint user id, mkt.recommend as a function colocated with it. Idempotent; run it again after adding nodes. See README "Scaling out with Citus".';

COMMENT ON FUNCTION mkt.grant_model(text, text, text) IS
'Grants a role (or public) a privilege on a model: use (serve, export, evaluate, read its catalog rows), manage (also train versions, deploy, roll back, drop) or owner (transfers ownership). Only the owner (or a member of the owning role, or a superuser) may grant. Takes effect in every backend at commit.';

COMMENT ON FUNCTION mkt.revoke_model(text, text, text) IS
'Revokes a role''s use and/or manage privilege on a model (privilege NULL: both); returns the number of grants removed. Ownership is transferred with mkt.grant_model, never revoked.';
