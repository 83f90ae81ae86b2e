-- Decision policies. Rows of mkt.policy_state are updated in place by rewards (row locks make
-- concurrent rewards of one (state, action) serialize, so none is lost); mkt.decisions is the
-- log every decision and its reward land in. No foreign keys: every decide would otherwise lock
-- the policy row (a multixact under concurrency); drop_policy deletes the rows itself.
CREATE TABLE mkt.policies (
    policy_id    bigserial   PRIMARY KEY,
    policy_name  text        NOT NULL UNIQUE CHECK (policy_name <> ''),
    algorithm    text        NOT NULL,
    actions      text[]      NOT NULL,
    params       jsonb       NOT NULL DEFAULT '{}',
    version      int         NOT NULL DEFAULT 1,
    created_by   name        NOT NULL DEFAULT current_user,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE mkt.policies IS 'Every decision policy: algorithm, actions, parameters; version counts batch trainings.';

CREATE TABLE mkt.policy_state (
    policy_id  bigint NOT NULL,
    state      text   NOT NULL,
    action     text   NOT NULL,
    n          bigint NOT NULL,
    value      float8 NOT NULL,
    alpha      float8 NOT NULL DEFAULT 0,
    beta       float8 NOT NULL DEFAULT 0,
    linear     bytea,
    PRIMARY KEY (policy_id, state, action)
);
COMMENT ON TABLE mkt.policy_state IS 'What each policy learned per (state, action): Q-value or Beta posterior and visits; LinUCB regressions under state ''*''.';

CREATE TABLE mkt.decisions (
    decision_id     bigserial   PRIMARY KEY,
    policy_id       bigint      NOT NULL,
    policy_version  int         NOT NULL,
    subject         text,
    context         jsonb       NOT NULL,
    state           text        NOT NULL,
    action          text        NOT NULL,
    probability     float8      NOT NULL,
    probabilities   jsonb       NOT NULL,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    reward          float8,
    next_context    jsonb,
    rewarded_at     timestamptz,
    -- The reward has reached mkt.policy_state: at once on a single server; at the next
    -- mkt.fold_rewards() on a Citus catalog, where decisions live on the subject's worker.
    applied         bool        NOT NULL DEFAULT false
);
CREATE INDEX decisions_policy_time ON mkt.decisions (policy_id, decided_at);
CREATE INDEX decisions_pending ON mkt.decisions (policy_id) WHERE reward IS NOT NULL AND NOT applied;
COMMENT ON TABLE mkt.decisions IS 'Every decision with the probability it was taken with (for off-policy evaluation) and, once known, its reward.';

SELECT pg_catalog.pg_extension_config_dump('mkt.policies', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.policies_policy_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.policy_state', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.decisions', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.decisions_decision_id_seq', '');

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
