-- Campaigns: a trigger on an event table decides for each qualifying row and queues the decision
-- in the outbox; touches record who was treated with what (or held out as control); attributions
-- tie outcomes to touches exactly once.
CREATE TABLE mkt.campaigns (
    campaign_id         bigserial   PRIMARY KEY,
    campaign_name       text        NOT NULL UNIQUE CHECK (campaign_name <> ''),
    policy_name         text        NOT NULL,
    trigger_source      regclass    NOT NULL,
    subject_col         text        NOT NULL,
    context_cols        text[]      NOT NULL DEFAULT '{}',
    condition           text,
    params              jsonb       NOT NULL DEFAULT '{}',
    control_fraction    float8      NOT NULL,
    frequency_cap       int,
    frequency_interval  interval    NOT NULL,
    daily_budget        int,
    starts_at           timestamptz,
    ends_at             timestamptz,
    quiet_from          int,
    quiet_to            int,
    claim_timeout       interval    NOT NULL,
    reward              text        NOT NULL,
    seed                bigint      NOT NULL,
    paused              bool        NOT NULL DEFAULT false,
    trigger_name        text        NOT NULL,
    function_name       text        NOT NULL,
    created_by          name        NOT NULL DEFAULT current_user,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- mode 'queued': the trigger queues the event in mkt.campaign_queue and
    -- mkt.process_campaign (or mkt.claim_messages) decides later, in batches.
    queued              bool        NOT NULL DEFAULT false
);
COMMENT ON TABLE mkt.campaigns IS 'Trigger-driven campaigns: policy, source table, condition, control group, caps, budget, schedule.';

CREATE TABLE mkt.campaign_touches (
    touch_id     bigserial   PRIMARY KEY,
    campaign_id  bigint      NOT NULL,
    subject      text        NOT NULL,
    arm          text        NOT NULL,
    decision_id  bigint,
    touched_at   timestamptz NOT NULL DEFAULT now(),
    rewarded_at  timestamptz
);
CREATE INDEX campaign_touches_subject ON mkt.campaign_touches (campaign_id, subject, touched_at);
COMMENT ON TABLE mkt.campaign_touches IS 'Every time a campaign fired for a subject: the action it chose (with its decision) or ''control''.';

CREATE TABLE mkt.outbox (
    message_id    bigserial   PRIMARY KEY,
    campaign_id   bigint      NOT NULL,
    campaign      text        NOT NULL,
    subject       text        NOT NULL,
    action        text        NOT NULL,
    decision_id   bigint      NOT NULL,
    touch_id      bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    claimed_at    timestamptz,
    claims        int         NOT NULL DEFAULT 0,
    delivered_at  timestamptz
);
CREATE INDEX outbox_pending ON mkt.outbox (campaign_id, message_id) WHERE delivered_at IS NULL;
COMMENT ON TABLE mkt.outbox IS 'Messages for delivery systems: claim with mkt.claim_messages, confirm with mkt.ack_message.';

CREATE TABLE mkt.campaign_queue (
    campaign_id  bigint      NOT NULL,
    queue_id     bigserial,
    subject      text        NOT NULL,
    context      jsonb       NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, queue_id)
);
COMMENT ON TABLE mkt.campaign_queue IS 'Qualifying events of queued campaigns, waiting for mkt.process_campaign (or mkt.claim_messages) to decide.';

CREATE TABLE mkt.campaign_budget (
    campaign_id  bigint NOT NULL,
    day          date   NOT NULL,
    sends        int    NOT NULL,
    PRIMARY KEY (campaign_id, day)
);
COMMENT ON TABLE mkt.campaign_budget IS 'Messages sent per campaign and day, counted against the campaign''s daily budget.';

CREATE TABLE mkt.attributions (
    campaign_id    bigint      NOT NULL,
    outcome_key    text        NOT NULL,
    touch_id       bigint      NOT NULL,
    value          float8      NOT NULL,
    outcome_at     timestamptz NOT NULL,
    attributed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, outcome_key)
);
CREATE INDEX attributions_touch ON mkt.attributions (touch_id);
COMMENT ON TABLE mkt.attributions IS 'Outcomes (identified by their row''s content) credited to the last touch of their subject within the window.';

SELECT pg_catalog.pg_extension_config_dump('mkt.campaigns', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.campaigns_campaign_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.campaign_touches', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.campaign_touches_touch_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.outbox_message_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.campaign_budget', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.campaign_queue', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.campaign_queue_queue_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mkt.attributions', '');
