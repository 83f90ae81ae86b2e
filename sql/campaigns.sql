-- Campaigns -------------------------------------------------------------------------------------

-- What a campaign's trigger calls for each row that meets its condition. Static SQL only, so
-- PL/pgSQL keeps every plan.
CREATE FUNCTION mkt.campaign_fire(cid bigint, subj text, ctx jsonb) RETURNS void
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

COMMENT ON FUNCTION mkt.process_campaign(text, int) IS
'Decides for up to max_events queued events of a campaign created with mode ''queued'' (oldest first; frequency cap, control group, budget, decide, outbox) and returns how many it took. One call at a time works on a campaign: a concurrent call returns 0. mkt.claim_messages calls it first; a pg_cron job can call it too.';

CREATE FUNCTION mkt.claim_messages(campaign_name text, n int DEFAULT 100) RETURNS SETOF mkt.outbox
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

COMMENT ON FUNCTION mkt.claim_messages(text, int) IS
'For delivery workers: up to n undelivered messages of a campaign, each to one worker at a time (FOR UPDATE SKIP LOCKED). A claim not acknowledged within the campaign''s claim_timeout is handed out again. For a queued campaign it first decides up to n waiting events (mkt.process_campaign; if that fails, a warning, and the claim goes on).';

CREATE FUNCTION mkt.ack_message(message_id bigint) RETURNS bool
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

COMMENT ON FUNCTION mkt.ack_message(bigint) IS
'Marks a message delivered; true the first time, false when it already was.';

CREATE FUNCTION mkt.attribute_outcomes(campaign_name text, outcomes regclass, subject_col text, value_col text,
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

COMMENT ON FUNCTION mkt.attribute_outcomes(text, regclass, text, text, text, interval) IS
'Last-touch attribution: credits each outcome row (subject, value, time) to the campaign''s last touch of that subject within the window before it (control touches included); then rewards every decision whose window has closed, once (conversion 0/1, or the summed value when the campaign''s reward param is value). Idempotent; returns the number of new attributions.';

COMMENT ON FUNCTION mkt.create_campaign(text, text, regclass, text, text[], text, jsonb) IS
'Installs an AFTER INSERT trigger on trigger_source: each new row meeting condition (a boolean expression over its columns) gets a decision of the policy for its subject, with context_cols as context, queued in mkt.outbox. params: control_fraction (0.1, a stable per-subject hold-out), frequency_cap per frequency_interval (1 day), budget (sends per day), start, end, quiet_hours [from, to), claim_timeout (5 minutes), reward (conversion | value), seed, mode (immediate: decide in the inserting transaction; queued: the insert only queues the event, mkt.process_campaign or mkt.claim_messages decides later), target (only rows a model picks, scored from the row''s columns by name: {"uplift_model": m, "top_fraction": f} or {"uplift_model": m, "min_uplift": x} with mkt.predict_uplift, {"predictor": m, "min_score": x} or {"predictor": m, "top_fraction": f} with mkt.predict; for a classifier''s class (a multiclass predictor has no single score) {"predictor": m, "class": c, "min_score": p} with mkt.predict_probability, or {"predictor": m, "class": c} for the rows mkt.predict_class calls c; top_fraction is turned into a score threshold by the model''s held-out scores when the campaign is created; the control group is drawn from the targeted rows; untargeted_sample, 0 to 0.5, default 0, also takes that share of all qualifying rows, drawn by subject whatever the model says, as an untargeted campaign in miniature with its own control group, so that mkt.campaign_report can set sending to everyone beside targeting).';

COMMENT ON FUNCTION mkt.pause_campaign(text) IS 'Makes the campaign''s trigger a no-op until resumed.';
COMMENT ON FUNCTION mkt.resume_campaign(text) IS 'Resumes a paused campaign.';
COMMENT ON FUNCTION mkt.drop_campaign(text) IS 'Removes the campaign''s trigger, queue, outbox, touches and attributions (its policy and decisions stay).';

COMMENT ON FUNCTION mkt.campaign_report(text, timestamptz, timestamptz) IS
'Per arm (control, all treated, each action): subjects, sends, converted subjects, conversion rate, attributed revenue, and for treatments the uplift over control with a 95% interval and a two-sided p-value; note says when a sample is too small to conclude. A targeted campaign with an untargeted sample reports its targeted rows so, then the sample''s rows (untargeted sample: control, untargeted sample: all treated, compared with the sample''s control), whose note gives the incremental conversions per message of sending to everyone beside those of targeting.';

COMMENT ON FUNCTION mkt.campaign_report_svg(text) IS
'Conversion rate per arm and day with 95% intervals, as a standalone SVG chart.';
