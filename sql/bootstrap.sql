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
    item_col        text        NOT NULL,
    weight_col      text,
    user_id_type    text        NOT NULL CHECK (user_id_type IN ('bigint', 'text')),
    item_id_type    text        NOT NULL CHECK (item_id_type IN ('bigint', 'text')),
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
COMMENT ON TABLE mkt.model_versions IS 'Every trained model version: definition, sizes, evaluation metrics.';

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

CREATE VIEW mkt.models AS
SELECT v.model_name, v.version, v.algorithm, v.params, v.metrics,
       (d.model_id IS NOT NULL) AS deployed,
       v.created_at, v.size_bytes, v.train_seconds,
       v.n_users, v.n_items, v.n_interactions, v.source, v.created_by
FROM mkt.model_versions v
LEFT JOIN mkt.deployments d ON d.model_id = v.model_id;
COMMENT ON VIEW mkt.models IS 'One row per model version; deployed marks the version serving uses.';
