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
COMMENT ON FUNCTION mkt.citus_setup(regclass) IS
'On a Citus coordinator: makes the model and policy catalog reference tables (a copy on every node), distributes mkt.decisions by subject with node-unique decision ids, registers mkt.decide as a function distributed by subject (when pg_marketing is preloaded on every node), and, given a customers table distributed by a bigint user id, mkt.recommend as a function colocated with it. Idempotent; run it again after adding nodes. See README "Scaling out with Citus".';
