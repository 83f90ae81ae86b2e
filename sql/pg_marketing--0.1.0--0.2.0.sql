-- pg_marketing 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_marketing UPDATE).
-- New: rewards that wait with their decision until mkt.fold_rewards (Citus), model ownership and
-- grants enforced by row-level security on the model catalog, mkt.citus_setup.
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

COMMENT ON FUNCTION mkt.reward(bigint, float8, jsonb, text) IS
'Learns from the outcome of a decision: Q-learning update (next_context: where the customer went; NULL ends the journey), Beta posterior (reward in [0,1]) or LinUCB regression. One reward per decision; durable at commit. subject (optional) must be the decision''s subject; on Citus it makes the update a single-shard write on that subject''s worker, where the reward waits for mkt.fold_rewards.';

COMMENT ON FUNCTION mkt.fold_rewards(text) IS
'Applies rewards recorded but not yet learned from (on a Citus catalog, where mkt.reward stores them with the decision on the subject''s worker) to the shared policy state, in the order they were recorded, each exactly once; returns the count per policy. Schedule it with pg_cron on the coordinator. On a single server rewards are learned at once and this returns nothing.';

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

