-- pg_marketing 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_marketing UPDATE).
-- New: rewards that wait with their decision until mkt.fold_rewards (Citus), model ownership and
-- grants enforced by row-level security on the model catalog, mkt.citus_setup, queued campaigns.
-- Models trained before the update have no owner: as before, every role with privileges on the
-- catalog tables may use and manage them, until one is claimed with
-- mkt.grant_model(model_name, role, 'owner') by a superuser.

ALTER TABLE mkt.decisions ADD COLUMN applied bool NOT NULL DEFAULT false;
-- Before 0.2.0 every reward was learned when it was given.
UPDATE mkt.decisions SET applied = true WHERE reward IS NOT NULL;
CREATE INDEX decisions_pending ON mkt.decisions (policy_id) WHERE reward IS NOT NULL AND NOT applied;

-- Who may use, manage or own each model (see README "Model ownership and grants"). Row-level
-- security on the model catalog enforces it for every query, through the functions or not.
CREATE TABLE mkt.model_acl (
    model_name  text        NOT NULL,
    grantee     name        NOT NULL,
    privilege   text        NOT NULL CHECK (privilege IN ('owner', 'manage', 'use')),
    granted_by  name        NOT NULL DEFAULT current_user,
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, grantee, privilege)
);
CREATE UNIQUE INDEX model_acl_one_owner ON mkt.model_acl (model_name) WHERE privilege = 'owner';
COMMENT ON TABLE mkt.model_acl IS 'Model privileges: the owner (the role that trained the first version), and roles granted use or manage with mkt.grant_model; grantee ''public'' means every role.';
SELECT pg_catalog.pg_extension_config_dump('mkt.model_acl', '');

CREATE FUNCTION mkt.model_allowed(model_name text, privilege text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    -- Inlined into the policies' queries (Citus ships them to the shards as they are), so only
    -- functions and tables every role may read: no pg_roles, which expands to pg_authid.
    SELECT pg_catalog.current_setting('is_superuser')::boolean
        OR NOT EXISTS (SELECT 1 FROM mkt.model_acl a WHERE a.model_name = $1 AND a.privilege = 'owner')
        OR EXISTS (SELECT 1 FROM mkt.model_acl a
                   WHERE a.model_name = $1
                     AND (a.privilege = 'owner' OR a.privilege = $2 OR (a.privilege = 'manage' AND $2 = 'use'))
                     AND (a.grantee = 'public' OR coalesce(pg_catalog.pg_has_role(
                          pg_catalog.to_regrole(a.grantee::text), 'MEMBER'), false)))
$$;
COMMENT ON FUNCTION mkt.model_allowed(text, text) IS
'Whether the current role may use (serve, export, evaluate, read) or manage (train versions, deploy, drop) a model: as its owner, a member of a granted role or of public, a superuser, or because nobody owns the name yet.';

CREATE FUNCTION mkt.model_id_allowed(model_id bigint, privilege text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT mkt.model_allowed(v.model_name, $2) FROM mkt.model_versions v
                     WHERE v.model_id = $1), false)
$$;
COMMENT ON FUNCTION mkt.model_id_allowed(bigint, text) IS
'mkt.model_allowed for the model a version id belongs to (false for a version the role cannot see).';

-- PL/pgSQL, not inlined: the ACL's own policies read the ACL at run time, without recursion.
CREATE FUNCTION mkt.acl_writable(model_name text, grantee name, privilege text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF pg_catalog.current_setting('is_superuser')::boolean THEN
        RETURN true;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM mkt.model_acl a WHERE a.model_name = $1 AND a.privilege = 'owner') THEN
        -- An unowned name: a role may claim it for itself, which training does.
        RETURN $3 = 'owner' AND $2 = current_user;
    END IF;
    RETURN EXISTS (SELECT 1 FROM mkt.model_acl a WHERE a.model_name = $1 AND a.privilege = 'owner'
                   AND coalesce(pg_catalog.pg_has_role(pg_catalog.to_regrole(a.grantee::text), 'MEMBER'), false));
END
$$;
COMMENT ON FUNCTION mkt.acl_writable(text, name, text) IS
'Whether the current role may write this row of mkt.model_acl: the model''s owner (or a member of the owning role) may; anyone may claim an unowned name for themselves.';

ALTER TABLE mkt.model_acl ENABLE ROW LEVEL SECURITY;
CREATE POLICY acl_read ON mkt.model_acl FOR SELECT USING (true);
CREATE POLICY acl_insert ON mkt.model_acl FOR INSERT WITH CHECK (mkt.acl_writable(model_name, grantee, privilege));
CREATE POLICY acl_update ON mkt.model_acl FOR UPDATE USING (mkt.acl_writable(model_name, grantee, privilege))
    WITH CHECK (mkt.acl_writable(model_name, grantee, privilege));
CREATE POLICY acl_delete ON mkt.model_acl FOR DELETE USING (mkt.acl_writable(model_name, grantee, privilege));

-- Each model table: roles that may use the model read its rows, roles that may manage it write them.
DO $rls$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        ('mkt.model_versions', 'mkt.model_allowed(model_name, %L)'),
        ('mkt.deployments', 'mkt.model_allowed(model_name, %L)'),
        ('mkt.deploy_history', 'mkt.model_allowed(model_name, %L)'),
        ('mkt.model_blobs', 'mkt.model_id_allowed(model_id, %L)'),
        ('mkt.training_epochs', 'mkt.model_id_allowed(model_id, %L)'),
        ('mkt.tuning_trials', 'mkt.model_id_allowed(model_id, %L)')) AS v(tbl, test)
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', r.tbl);
        EXECUTE format('CREATE POLICY use_model ON %s FOR SELECT USING (%s)', r.tbl, format(r.test, 'use'));
        EXECUTE format('CREATE POLICY manage_model ON %s FOR ALL USING (%s) WITH CHECK (%s)',
                       r.tbl, format(r.test, 'manage'), format(r.test, 'manage'));
    END LOOP;
END
$rls$;

ALTER VIEW mkt.models SET (security_invoker = true);
ALTER VIEW mkt.training_log SET (security_invoker = true);

-- mkt.reward gained its subject argument.
DROP FUNCTION mkt.reward(bigint, float8, jsonb);
CREATE FUNCTION mkt."reward"(
	"decision_id" bigint, /* Option < i64 > */
	"reward" double precision, /* Option < f64 > */
	"next_context" jsonb DEFAULT NULL, /* Option < JsonB > */
	"subject" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS VOID /* Result < (), ErrorReport > */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'reward_wrapper';

CREATE FUNCTION mkt."fold_rewards"(
	"policy_name" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"policy_name" TEXT,  /* String */
	"rewards" bigint  /* i64 */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fold_rewards_wrapper';

CREATE FUNCTION mkt."grant_model"(
	"model_name" TEXT, /* Option < & str > */
	"role" TEXT, /* Option < & str > */
	"privilege" TEXT DEFAULT 'use' /* Option < & str > */
) RETURNS VOID /* Result < (), ErrorReport > */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'grant_model_wrapper';

CREATE FUNCTION mkt."revoke_model"(
	"model_name" TEXT, /* Option < & str > */
	"role" TEXT, /* Option < & str > */
	"privilege" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS bigint /* Result < i64, ErrorReport > */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'revoke_model_wrapper';

-- mkt.reward_trigger reads the inserted row directly instead of through PL/pgSQL.
CREATE OR REPLACE FUNCTION mkt."reward_trigger"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'reward_trigger_wrapper';

-- Policies may defer learning to mkt.fold_rewards (params.learning).
-- Rewards of policies with deferred learning until mkt.fold_rewards moves them onto their
-- decisions and learns from them: one insert is the cheapest durable record of a reward, and the
-- key refuses a second reward of a decision.
CREATE TABLE mkt.reward_log (
    decision_id  bigint      PRIMARY KEY,
    policy_id    bigint      NOT NULL,
    reward       float8      NOT NULL,
    next_context jsonb,
    rewarded_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mkt.reward_log IS 'Rewards of policies with deferred learning, waiting for mkt.fold_rewards to record them on their decisions and learn from them.';
SELECT pg_catalog.pg_extension_config_dump('mkt.reward_log', '');

COMMENT ON FUNCTION mkt.create_policy(text, text[], text, jsonb) IS
'Creates a decision policy over actions. algorithm: q_learning (alpha, alpha_schedule, gamma, q_init, exploration epsilon_greedy|softmax|ucb with epsilon, temperature, ucb_c), thompson (prior_alpha, prior_beta, draws), linucb (features, categorical, alpha, ridge); state_features and bins build states from the context; transform names a mkt.fit_transform applied to every context; seed; learning: immediate (default: each reward updates the state in its transaction) or deferred (rewards wait with their decision for mkt.fold_rewards).';

COMMENT ON FUNCTION mkt.reward(bigint, float8, jsonb, text) IS
'Learns from the outcome of a decision: Q-learning update (next_context: where the customer went; NULL ends the journey), Beta posterior (reward in [0,1]) or LinUCB regression. One reward per decision; durable at commit. subject (optional) must be the decision''s subject; on Citus it makes the update a single-shard write on that subject''s worker, where the reward waits for mkt.fold_rewards, as it does for a policy with deferred learning.';

COMMENT ON FUNCTION mkt.fold_rewards(text) IS
'Applies rewards recorded but not yet learned from (those of policies with learning deferred, and on a Citus catalog every reward, stored with its decision on the subject''s worker) to the policy state, in the order they were recorded, each exactly once; returns the count per policy. Schedule it with pg_cron (on the coordinator with Citus). Rewards of policies that learn immediately on a single server are never pending.';

COMMENT ON FUNCTION mkt.grant_model(text, text, text) IS
'Grants a role (or public) a privilege on a model: use (serve, export, evaluate, read its catalog rows), manage (also train versions, deploy, roll back, drop) or owner (transfers ownership). Only the owner (or a member of the owning role, or a superuser) may grant. Takes effect in every backend at commit.';

COMMENT ON FUNCTION mkt.revoke_model(text, text, text) IS
'Revokes a role''s use and/or manage privilege on a model (privilege NULL: both); returns the number of grants removed. Ownership is transferred with mkt.grant_model, never revoked.';

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

-- Queued campaigns (params mode 'queued'): the trigger queues the event and
-- mkt.process_campaign decides later; the per-event treatment moves to mkt.campaign_act.
ALTER TABLE mkt.campaigns ADD COLUMN queued bool NOT NULL DEFAULT false;
CREATE TABLE mkt.campaign_queue (
    campaign_id  bigint      NOT NULL,
    queue_id     bigserial,
    subject      text        NOT NULL,
    context      jsonb       NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, queue_id)
);
COMMENT ON TABLE mkt.campaign_queue IS 'Qualifying events of queued campaigns, waiting for mkt.process_campaign (or mkt.claim_messages) to decide.';
SELECT pg_catalog.pg_extension_config_dump('mkt.campaign_queue', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.campaign_queue_queue_id_seq', '');

-- What a campaign's trigger calls for each row that meets its condition. Static SQL only, so
-- PL/pgSQL keeps every plan.
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

CREATE OR REPLACE FUNCTION mkt.claim_messages(campaign_name text, n int DEFAULT 100) RETURNS SETOF mkt.outbox
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

COMMENT ON FUNCTION mkt.create_campaign(text, text, regclass, text, text[], text, jsonb) IS
'Installs an AFTER INSERT trigger on trigger_source: each new row meeting condition (a boolean expression over its columns) gets a decision of the policy for its subject, with context_cols as context, queued in mkt.outbox. params: control_fraction (0.1, a stable per-subject hold-out), frequency_cap per frequency_interval (1 day), budget (sends per day), start, end, quiet_hours [from, to), claim_timeout (5 minutes), reward (conversion | value), seed, mode (immediate: decide in the inserting transaction; queued: the insert only queues the event, mkt.process_campaign or mkt.claim_messages decides later).';
COMMENT ON FUNCTION mkt.drop_campaign(text) IS 'Removes the campaign''s trigger, queue, outbox, touches and attributions (its policy and decisions stay).';
