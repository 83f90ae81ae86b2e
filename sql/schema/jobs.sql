-- Background jobs (see src/jobs/).

CREATE TABLE mkt.job_queue (
    job_id            bigserial   PRIMARY KEY,
    command           text        NOT NULL,
    priority          int         NOT NULL DEFAULT 0,
    submitted_by      name        NOT NULL DEFAULT current_user,
    role_oid          oid         NOT NULL,
    database_oid      oid         NOT NULL,
    state             text        NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    cancel_requested  bool        NOT NULL DEFAULT false,
    result            jsonb,
    error             text,
    submitted_at      timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    worker_pid        int
);
COMMENT ON TABLE mkt.job_queue IS 'Jobs submitted with mkt.submit_job and what became of them (read mkt.jobs).';
SELECT pg_catalog.pg_extension_config_dump('mkt.job_queue', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.job_queue_job_id_seq', '');
