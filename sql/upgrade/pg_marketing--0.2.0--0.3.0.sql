-- pg_marketing 0.2.0 -> 0.3.0 (ALTER EXTENSION pg_marketing UPDATE).
--
-- The extension's SQL code raises its errors through mkt.raise_error, so their SQLSTATEs come from
-- the one mapping of the Rust code (same codes and messages as before). Customer value models
-- (mkt.rfm_summary, mkt.train_clv, mkt.customer_value, mkt.p_alive, mkt.customer_clv,
-- mkt.evaluate_clv, mkt.clv_report_svg) join the model catalog, whose item columns become
-- optional; stored models are untouched.

COMMENT ON TABLE mkt.campaign_budget IS 'Messages sent per campaign and day, counted against the campaign''s daily budget.';

CREATE FUNCTION mkt."raise_error"(
	"kind" TEXT,
	"message" TEXT,
	"hint" TEXT DEFAULT NULL
) RETURNS void
VOLATILE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'raise_error_wrapper';

COMMENT ON FUNCTION mkt.raise_error(text, text, text) IS
'Internal: raises an ERROR of one of the extension''s kinds (invalid_parameter, undefined_object, undefined_column, wrong_type, wrong_object_type, null_value, invalid_state, ...) with its SQLSTATE from the extension''s one mapping; the campaign runtime and mkt.citus_setup raise their errors through it.';

CREATE OR REPLACE FUNCTION mkt.campaign_fire(cid bigint, subj text, ctx jsonb) RETURNS void
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
            PERFORM mkt.raise_error('undefined_object', format('policy %s does not exist', quote_literal(c.policy_name)));
        END IF;
        INSERT INTO mkt.campaign_queue (campaign_id, subject, context) VALUES (cid, subj, ctx);
        RETURN;
    END IF;
    PERFORM mkt.campaign_act(c, subj, ctx);
END $$;

CREATE OR REPLACE FUNCTION mkt.process_campaign(campaign_name text, max_events int DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    c mkt.campaigns;
    e record;
    done bigint := 0;
BEGIN
    IF max_events IS NULL OR max_events < 1 THEN
        PERFORM mkt.raise_error('invalid_parameter', format('max_events must be at least 1, got %s', coalesce(max_events::text, 'NULL')));
    END IF;
    SELECT * INTO c FROM mkt.campaigns WHERE campaigns.campaign_name = process_campaign.campaign_name;
    IF NOT FOUND THEN
        PERFORM mkt.raise_error('undefined_object', format('campaign %s does not exist', quote_literal(process_campaign.campaign_name)));
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

CREATE OR REPLACE FUNCTION mkt.claim_messages(campaign_name text, n int DEFAULT 100) RETURNS SETOF mkt.outbox
LANGUAGE plpgsql AS $$
DECLARE
    c mkt.campaigns;
BEGIN
    IF n IS NULL OR n < 1 OR n > 100000 THEN
        PERFORM mkt.raise_error('invalid_parameter', format('n must be between 1 and 100000, got %s', coalesce(n::text, 'NULL')));
    END IF;
    SELECT * INTO c FROM mkt.campaigns WHERE campaigns.campaign_name = claim_messages.campaign_name;
    IF NOT FOUND THEN
        PERFORM mkt.raise_error('undefined_object', format('campaign %s does not exist', quote_literal(claim_messages.campaign_name)));
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

CREATE OR REPLACE FUNCTION mkt.ack_message(message_id bigint) RETURNS bool
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
    PERFORM mkt.raise_error('undefined_object', format('message %s does not exist', ack_message.message_id));
END $$;

CREATE OR REPLACE FUNCTION mkt.attribute_outcomes(campaign_name text, outcomes regclass, subject_col text, value_col text,
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
        PERFORM mkt.raise_error('undefined_object', format('campaign %s does not exist', quote_literal(attribute_outcomes.campaign_name)));
    END IF;
    IF "window" IS NULL OR "window" <= interval '0' THEN
        PERFORM mkt.raise_error('invalid_parameter', format('window must be a positive interval, got %s', coalesce("window"::text, 'NULL')));
    END IF;
    FOREACH col IN ARRAY ARRAY[subject_col, value_col, time_col] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                       WHERE attrelid = outcomes AND attname = col AND attnum > 0 AND NOT attisdropped) THEN
            PERFORM mkt.raise_error('undefined_column', format('column %s does not exist in %s', quote_literal(col), outcomes));
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

CREATE OR REPLACE FUNCTION mkt.citus_setup(customers regclass DEFAULT NULL)
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
        PERFORM mkt.raise_error('invalid_state', 'mkt.citus_setup needs the citus extension in this database',
            'CREATE EXTENSION citus first (citus must be in shared_preload_libraries).');
    END IF;
    IF NOT pg_catalog.citus_is_coordinator() THEN
        PERFORM mkt.raise_error('invalid_state', 'mkt.citus_setup runs on the coordinator');
    END IF;
    IF EXISTS (SELECT 1 FROM mkt.reward_log) THEN
        PERFORM mkt.raise_error('invalid_state', 'mkt.reward_log has rewards waiting to be learned',
            'Run SELECT * FROM mkt.fold_rewards() first.');
    END IF;
    IF EXISTS (SELECT 1 FROM mkt.decisions WHERE subject IS NULL) THEN
        PERFORM mkt.raise_error('null_value', 'mkt.decisions has decisions without a subject; they cannot be distributed by subject',
            'Delete them or give them a subject first.');
    END IF;

    SELECT string_agg(format('%s:%s: %s', w.nodename, w.nodeport, w.result), '; ') INTO detail
    FROM pg_catalog.run_command_on_workers(shell_fix) w WHERE NOT w.success;
    IF detail IS NOT NULL THEN
        PERFORM mkt.raise_error('invalid_state', format('mkt.citus_setup could not prepare every worker: %s', detail),
            'pg_marketing must be installed on every node (CREATE EXTENSION propagates it once the node is added).');
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
            PERFORM mkt.raise_error('wrong_object_type', format('customers table %s is not a hash-distributed table', customers),
                'SELECT create_distributed_table(''<table>'', ''<user id column>'') first.');
        END IF;
        IF dist_type NOT IN ('bigint'::regtype, 'integer'::regtype) THEN
            PERFORM mkt.raise_error('wrong_type', format('customers table %s is distributed by a %s column; mkt.recommend takes a bigint user id', customers, dist_type));
        END IF;
        PERFORM pg_catalog.create_distributed_function(
            'mkt.recommend(text, bigint, integer, boolean, bigint[])', '$2', colocate_with := customers::text);
        step := 'distributed function'; detail := 'mkt.recommend by user id, with ' || customers::text; RETURN NEXT;
    END IF;
END
$fn$;


-- Customer value models (mkt.train_clv) live in the same catalog; they have no items.
ALTER TABLE mkt.model_versions ALTER COLUMN item_col DROP NOT NULL,
                               ALTER COLUMN item_id_type DROP NOT NULL;
COMMENT ON TABLE mkt.model_versions IS
'Every trained model version of every kind (recommenders, customer value models): definition, sizes, evaluation metrics. Models without items (customer value) have no item column; their user column is the customer column, the weight column the amount column and n_interactions the transactions read.';

-- Customers: RFM summaries and customer value models.
CREATE FUNCTION mkt."rfm_summary"(
	"transactions" TEXT,
	"customer_col" TEXT DEFAULT 'customer_id',
	"time_col" TEXT DEFAULT 'ts',
	"amount_col" TEXT DEFAULT NULL,
	"period" TEXT DEFAULT 'week',
	"calibration_end" timestamp with time zone DEFAULT NULL,
	"holdout_end" timestamp with time zone DEFAULT NULL
) RETURNS TABLE (
	"customer_id" TEXT,
	"frequency" double precision,
	"recency" double precision,
	"t" double precision,
	"monetary_value" double precision,
	"holdout_frequency" double precision,
	"holdout_monetary_value" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'rfm_summary_wrapper';

CREATE FUNCTION mkt."train_clv"(
	"model_name" TEXT,
	"transactions" TEXT,
	"customer_col" TEXT DEFAULT 'customer_id',
	"time_col" TEXT DEFAULT 'ts',
	"amount_col" TEXT DEFAULT NULL,
	"params" jsonb DEFAULT '{}'
) RETURNS TABLE (
	"model_name" TEXT,
	"version" INT,
	"model" TEXT,
	"customers" bigint,
	"repeaters" bigint,
	"log_likelihood" double precision,
	"parameters" jsonb,
	"train_seconds" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'train_clv_wrapper';

CREATE FUNCTION mkt."customer_value"(
	"model_name" TEXT,
	"horizon" double precision DEFAULT 52,
	"discount_rate" double precision DEFAULT 0,
	"customers" TEXT[] DEFAULT NULL
) RETURNS TABLE (
	"customer_id" TEXT,
	"p_alive" double precision,
	"expected_purchases" double precision,
	"expected_avg_spend" double precision,
	"clv" double precision
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'customer_value_wrapper';

CREATE FUNCTION mkt."p_alive"(
	"model_name" TEXT,
	"customer_id" TEXT
) RETURNS double precision
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'p_alive_wrapper';

CREATE FUNCTION mkt."customer_clv"(
	"model_name" TEXT,
	"customer_id" TEXT,
	"horizon" double precision DEFAULT 52
) RETURNS double precision
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'customer_clv_wrapper';

CREATE FUNCTION mkt."evaluate_clv"(
	"model_name" TEXT,
	"transactions" TEXT DEFAULT NULL
) RETURNS TABLE (
	"metric" TEXT,
	"value" double precision
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'evaluate_clv_wrapper';

CREATE FUNCTION mkt."clv_report_svg"(
	"model_name" TEXT
) RETURNS TEXT
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'clv_report_svg_wrapper';

COMMENT ON FUNCTION mkt.rfm_summary(text, text, text, text, text, timestamptz, timestamptz) IS
'One row per customer of a transactions table, view or SELECT, with the semantics of lifetimes'' summary_data_from_transaction_data and calibration_and_holdout_data: purchases in the same period (day, week Monday to Sunday, or month) count once and their amounts add up; frequency is the number of repeat periods, recency the periods from the first to the last purchase, t the periods from the first purchase to the end of observation (calibration_end, else the last transaction); monetary_value is the mean amount of the repeat periods (0 without repeats; NULL without amount_col). With calibration_end, the purchases after it up to holdout_end (else the last transaction) fill holdout_frequency and holdout_monetary_value, and customers who first bought after it are left out. Rows with a NULL customer, time or amount are skipped with a NOTICE; a negative amount is an error.';

COMMENT ON FUNCTION mkt.train_clv(text, text, text, text, text, jsonb) IS
'Fits a customer value model on a transactions source (or, with params input ''summary'', on one row per customer with frequency, recency and t columns) and stores it as a new version of model_name in the model catalog. params: model ''bg_nbd'' (default), ''mbg_nbd'' or ''pareto_nbd''; period ''day'', ''week'' (default) or ''month''; calibration_end (a timestamptz: later purchases are the hold-out mkt.evaluate_clv scores; with holdout false they are an error) and holdout_end; penalizer (default 0); spend ''gamma_gamma'' (default with amount_col) or ''none''; deploy (default true); frequency_col, recency_col, t_col for summary input. Maximum likelihood in log-parameter space with analytic gradients; parameters holds the estimates with standard errors from the Hessian, the log-likelihood, and for Gamma-Gamma its own with the frequency-spend correlation. Gamma-Gamma needs at least 10 repeat buyers.';

COMMENT ON FUNCTION mkt.customer_value(text, float8, float8, text[]) IS
'Each customer''s probability of being alive, expected purchases over the next horizon periods (in the model''s period), expected average spend and CLV (expected spend times the expected purchases of each period, discounted by (1 + discount_rate) per period; NULL without a spend model), from the deployed version of a customer value model. Every customer of the training data when customers is NULL; an unknown customer gets a row of NULLs.';

COMMENT ON FUNCTION mkt.p_alive(text, text) IS
'The probability that a customer is still active under the deployed customer value model; NULL for a customer the model does not know. Cheap (the model is cached per backend): made for campaign conditions such as mkt.p_alive(''clv'', customer_id) < 0.3.';

COMMENT ON FUNCTION mkt.customer_clv(text, text, float8) IS
'A customer''s expected spend over the next horizon periods (undiscounted) under the deployed customer value model; NULL for an unknown customer; an error for a model without a spend model.';

COMMENT ON FUNCTION mkt.evaluate_clv(text, text) IS
'Scores the deployed customer value model on the hold-out after its calibration_end (from the source it was trained on, or transactions): per-customer MAE and RMSE of predicted against actual repeat purchases, their totals, and with a spend model the MAE and RMSE of the expected average spend among hold-out buyers and the predicted against actual value. The metrics are stored with the version (holdout_*, shown by mkt.models and mkt.model_report).';

COMMENT ON FUNCTION mkt.clv_report_svg(text) IS
'An SVG of the deployed customer value model: repeat purchases per period, actual beside expected, with the calibration end marked (the tracking plot), and customers by number of repeat purchases, actual beside the model''s (the frequency histogram). mkt.model_report shows it too.';

-- What changed for the other areas: jobs may run mkt.train_clv and mkt.evaluate_clv, mkt.retrain
-- and mkt.forget_subject handle customer value models, reports draw them.
COMMENT ON FUNCTION mkt.submit_job(text, int) IS
'Queues one SELECT of a long mkt function (train_recommender, retrain, tune_recommender, evaluate_recommender, train_policy, evaluate_policy, estimate_policy_value, simulate_campaign, profile, clean, fit_transform, apply_transform, rfm, user_features, split, train_clv, evaluate_clv) to run in a background worker as the submitting role, after this transaction commits. At most mkt.max_workers jobs of a database run at once. Returns the job id; follow it in mkt.jobs.';

COMMENT ON FUNCTION mkt.retrain(text, text) IS
'Re-runs the stored definition (source, columns, algorithm, params, feature tables and transforms) of the serving version on current data. The holdout is a fifth of the interactions the serving version never trained on; a challenger trained on the rest and the serving version are both ranked on it (ndcg@10). A version trained on all the data is then stored and deployed per deploy: always, never or if_better (default: only when the challenger scored higher; with no interaction newer than the serving version there is nothing to judge by and it keeps serving). The reason is kept in mkt.deploy_history. A customer value model (mkt.train_clv) is refitted on current data instead and judged by log-likelihood per customer on the current summary, the serving version''s parameters against the refit''s (metric and previous_metric).';

COMMENT ON FUNCTION mkt.forget_subject(text) IS
'GDPR-style erasure of one customer: deletes their decisions, campaign touches, outbox messages and attributions, and removes them from every stored model version (their id, seen items and vector; a customer value model''s summary row), so recommendations for them are those of a new user and everyone else''s stay the same. Returns what was removed. What everyone''s data shaped together (item factors, item-item weights, popularity, a customer value model''s parameters and tracking counts) keeps the customer''s influence until the next retrain, and the source tables are yours to clean.';

COMMENT ON FUNCTION mkt.export_model(text, int) IS
'The stored bytes (safetensors: ids, seen items, popularity, factors or weights; for a customer value model its parameters and customer summary) of a version, the deployed one when version is NULL. mkt.import_model stores them again.';

COMMENT ON FUNCTION mkt.model_report(text, int) IS
'A self-contained HTML page (inline CSS and SVG, no external assets) about a model version (default: the deployed one): definition, metrics, training curve and validation ndcg per epoch, every version compared, deployments and tuning trials; for a customer value model the tracking plot and frequency histogram of mkt.clv_report_svg. For a policy name: definition, decisions, the learning curve of rewards and the value heatmap.';
