-- Fitted feature transforms: the spec and the statistics apply_transform reuses (never refits).
CREATE TABLE mkt.transforms (
    transform_name  text        PRIMARY KEY CHECK (transform_name <> ''),
    source          text        NOT NULL,
    spec            jsonb       NOT NULL,
    stats           jsonb       NOT NULL,
    created_by      name        NOT NULL DEFAULT current_user,
    created_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mkt.transforms IS 'Feature transforms fitted by mkt.fit_transform: per-column spec and statistics.';
SELECT pg_catalog.pg_extension_config_dump('mkt.transforms', '');
