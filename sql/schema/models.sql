-- pg_marketing catalog. Created before the functions; registered with pg_extension_config_dump so
-- pg_dump keeps trained models.

CREATE TABLE mkt.model_versions (
    model_id        bigserial PRIMARY KEY,
    model_name      text        NOT NULL CHECK (model_name <> ''),
    version         int         NOT NULL CHECK (version > 0),
    algorithm       text        NOT NULL,
    params          jsonb       NOT NULL DEFAULT '{}',
    source          text        NOT NULL,
    user_col        text        NOT NULL,
    item_col        text,
    weight_col      text,
    user_id_type    text        NOT NULL CHECK (user_id_type IN ('bigint', 'text')),
    item_id_type    text        CHECK (item_id_type IN ('bigint', 'text')),
    n_users         bigint      NOT NULL,
    n_items         bigint      NOT NULL,
    n_interactions  bigint      NOT NULL,
    metrics         jsonb       NOT NULL DEFAULT '{}',
    train_seconds   float8      NOT NULL,
    size_bytes      bigint      NOT NULL,
    created_by      name        NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_name, version)
);
COMMENT ON TABLE mkt.model_versions IS 'Every trained model version of every kind (recommenders, customer value models, predictors, uplift models): definition, sizes, evaluation metrics. Models without items (customer value) have no item column; their user column is the customer column, the weight column the amount column and n_interactions the transactions read. For a predictor the user column is its key column (empty without one), the item column the label, n_users and n_interactions the rows it trained on and n_items its features; an uplift model has the outcome as item column and the treatment as weight column.';

CREATE TABLE mkt.model_blobs (
    model_id  bigint NOT NULL REFERENCES mkt.model_versions ON DELETE CASCADE,
    part      int    NOT NULL CHECK (part >= 0),
    data      bytea  NOT NULL,
    PRIMARY KEY (model_id, part)
);
-- Float tensors barely compress; skipping pglz saves time on every model load.
ALTER TABLE mkt.model_blobs ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE mkt.model_blobs IS 'Model parameters (safetensors), split into parts below the 1 GB bytea limit.';

CREATE TABLE mkt.deployments (
    model_name   text        PRIMARY KEY,
    model_id     bigint      NOT NULL UNIQUE REFERENCES mkt.model_versions ON DELETE CASCADE,
    deployed_at  timestamptz NOT NULL DEFAULT now(),
    deployed_by  name        NOT NULL DEFAULT current_user
);
COMMENT ON TABLE mkt.deployments IS 'The version of each model that serving uses.';

SELECT pg_catalog.pg_extension_config_dump('mkt.model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.model_versions_model_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.model_blobs', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.deployments', '');

CREATE TABLE mkt.deploy_history (
    deploy_id    bigserial   PRIMARY KEY,
    model_name   text        NOT NULL,
    model_id     bigint      REFERENCES mkt.model_versions ON DELETE SET NULL,
    version      int         NOT NULL,
    reason       text        NOT NULL,
    deployed_at  timestamptz NOT NULL DEFAULT now(),
    deployed_by  name        NOT NULL DEFAULT current_user
);
CREATE INDEX ON mkt.deploy_history (model_name, deploy_id);
COMMENT ON TABLE mkt.deploy_history IS 'Every deployment of every model: which version, who, when and why (trained, mkt.deploy, retrain, rollback, imported, tuned).';
SELECT pg_catalog.pg_extension_config_dump('mkt.deploy_history', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.deploy_history_deploy_id_seq', '');

CREATE TABLE mkt.training_epochs (
    model_id   bigint      NOT NULL REFERENCES mkt.model_versions ON DELETE CASCADE,
    epoch      int         NOT NULL CHECK (epoch > 0),
    loss       float8      NOT NULL,
    metric     float8,
    seconds    float8      NOT NULL,
    logged_at  timestamptz NOT NULL,
    PRIMARY KEY (model_id, epoch)
);
COMMENT ON TABLE mkt.training_epochs IS 'Per-epoch training loss and validation ndcg@10 of every version trained by epochs (neural models).';
SELECT pg_catalog.pg_extension_config_dump('mkt.training_epochs', '');

CREATE TABLE mkt.tuning_trials (
    model_id  bigint NOT NULL REFERENCES mkt.model_versions ON DELETE CASCADE,
    trial     int    NOT NULL CHECK (trial > 0),
    params    jsonb  NOT NULL,
    metric    text   NOT NULL,
    value     float8 NOT NULL,
    seconds   float8 NOT NULL,
    PRIMARY KEY (model_id, trial)
);
COMMENT ON TABLE mkt.tuning_trials IS 'Every trial of the mkt.tune_recommender call that trained a version: params, validation metric, seconds.';
SELECT pg_catalog.pg_extension_config_dump('mkt.tuning_trials', '');

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

CREATE VIEW mkt.models WITH (security_invoker = true) AS
SELECT v.model_name, v.version, v.algorithm, v.params, v.metrics,
       (d.model_id IS NOT NULL) AS deployed,
       v.created_at, v.size_bytes, v.train_seconds,
       v.n_users, v.n_items, v.n_interactions, v.source, v.created_by
FROM mkt.model_versions v
LEFT JOIN mkt.deployments d ON d.model_id = v.model_id;
COMMENT ON VIEW mkt.models IS 'One row per model version; deployed marks the version serving uses.';
