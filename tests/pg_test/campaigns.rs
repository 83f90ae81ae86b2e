// Campaigns: qualifying rows, the control group, caps, budgets, the outbox, queued processing, attribution, the report.
// (The error matrices are golden files: tests/pg_regress.)

#[pg_test]
fn campaigns_fire_on_qualifying_rows_with_a_stable_control_group() {
    campaign_setup("cp1", "cart1");
    Spi::run(
        "SELECT mkt.create_campaign('c1', 'cp1', 'cart1', 'user_id', ARRAY['region'], 'event_type = ''cart'' AND value > 10',
                                    '{\"control_fraction\": 0.2}')",
    )
    .unwrap();
    Spi::run(
        "INSERT INTO cart1 (user_id, event_type, value, region)
         SELECT u, CASE WHEN n % 2 = 0 THEN 'cart' ELSE 'view' END, 5 + (n * 7) % 20, 'r' || u % 3
         FROM generate_series(1, 1000) u, generate_series(1, 10) n",
    )
    .unwrap();
    let qualifying = count("SELECT count(*) FROM cart1 WHERE event_type = 'cart' AND value > 10");
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_touches"), qualifying);
    let control = float(
        "SELECT (count(DISTINCT subject) FILTER (WHERE arm = 'control'))::float8 / count(DISTINCT subject) FROM mkt.campaign_touches",
    );
    assert!((control - 0.2).abs() < 0.05, "control share {control}");
    assert_eq!(
        count("SELECT count(*) FROM (SELECT subject FROM mkt.campaign_touches GROUP BY subject HAVING count(DISTINCT arm = 'control') > 1) s"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM mkt.outbox"), count("SELECT count(*) FROM mkt.campaign_touches WHERE arm <> 'control'"));
    assert_eq!(
        count("SELECT count(*) FROM mkt.outbox o JOIN mkt.decisions d USING (decision_id) WHERE d.context ? 'region' AND d.subject = o.subject AND d.action = o.action"),
        count("SELECT count(*) FROM mkt.outbox")
    );
    // Paused: the trigger does nothing. Resumed: it fires again.
    Spi::run("SELECT mkt.pause_campaign('c1')").unwrap();
    let before = count("SELECT count(*) FROM mkt.campaign_touches");
    Spi::run("INSERT INTO cart1 (user_id, event_type, value) VALUES (5, 'cart', 50)").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_touches"), before);
    Spi::run("SELECT mkt.resume_campaign('c1')").unwrap();
    Spi::run("INSERT INTO cart1 (user_id, event_type, value) VALUES (5, 'cart', 50)").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_touches"), before + 1);
    // A dropped policy makes the insert fail clearly, and only that insert.
    Spi::run("SELECT mkt.drop_policy('cp1')").unwrap();
    let (state, msg) = try_sql("INSERT INTO cart1 (user_id, event_type, value) VALUES (6, 'cart', 50)");
    assert!(state == "42704" && msg.contains("policy"), "{state}: {msg}");
    assert_eq!(count("SELECT count(*) FROM cart1 WHERE user_id = 6 AND value = 50"), 0);
    Spi::run("SELECT mkt.drop_campaign('c1')").unwrap();
    Spi::run("INSERT INTO cart1 (user_id, event_type, value) VALUES (6, 'cart', 50)").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaigns"), 0);
    assert_eq!(count("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'cart1'::regclass"), 0);
}

#[pg_test]
fn campaign_caps_budget_and_outbox() {
    campaign_setup("cp2", "cart2");
    Spi::run(
        "SELECT mkt.create_campaign('c2', 'cp2', 'cart2', 'user_id',
            params => '{\"control_fraction\": 0, \"frequency_cap\": 2, \"budget\": 50, \"claim_timeout\": \"1 second\"}')",
    )
    .unwrap();
    Spi::run("INSERT INTO cart2 (user_id, event_type) SELECT u, 'cart' FROM generate_series(1, 40) u, generate_series(1, 5) n").unwrap();
    assert_eq!(count("SELECT max(c) FROM (SELECT count(*) c FROM mkt.campaign_touches GROUP BY subject) s"), 2);
    assert_eq!(count("SELECT count(*) FROM mkt.outbox"), 50);
    // Claims never overlap; an unacknowledged claim comes back after the timeout.
    let first = count("SELECT count(*) FROM mkt.claim_messages('c2', 30)");
    let second = count("SELECT count(*) FROM mkt.claim_messages('c2', 30)");
    assert_eq!((first, second), (30, 20));
    assert_eq!(count("SELECT count(*) FROM mkt.claim_messages('c2', 30)"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.outbox WHERE claims <> 1"), 0);
    assert!(Spi::get_one::<bool>("SELECT mkt.ack_message((SELECT min(message_id) FROM mkt.outbox))").unwrap().unwrap());
    assert!(!Spi::get_one::<bool>("SELECT mkt.ack_message((SELECT min(message_id) FROM mkt.outbox))").unwrap().unwrap());
    assert_eq!(try_sql("SELECT mkt.ack_message(-1)").0, "42704");
    Spi::run("SELECT pg_sleep(1.2)").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.claim_messages('c2', 100)"), 49);
    assert_eq!(count("SELECT count(*) FROM mkt.outbox WHERE claims = 2"), 49);
}

#[pg_test]
fn queued_campaigns_decide_when_processed() {
    campaign_setup("cp6", "cart6");
    Spi::run(
        "SELECT mkt.create_campaign('c6', 'cp6', 'cart6', 'user_id', ARRAY['region'], 'event_type = ''cart''',
            '{\"mode\": \"queued\", \"control_fraction\": 0.2, \"frequency_cap\": 2, \"budget\": 100}')",
    )
    .unwrap();
    // 200 subjects with 2 qualifying events each: the inserts only queue them.
    Spi::run(
        "INSERT INTO cart6 (user_id, event_type, region)
         SELECT u, CASE WHEN n % 2 = 0 THEN 'cart' ELSE 'view' END, 'r' || u % 3
         FROM generate_series(1, 200) u, generate_series(1, 4) n",
    )
    .unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 400);
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_touches") + count("SELECT count(*) FROM mkt.decisions"), 0);
    assert_eq!(count("SELECT mkt.process_campaign('c6', 150)"), 150);
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 250);
    assert_eq!(count("SELECT mkt.process_campaign('c6')"), 250);
    assert_eq!(count("SELECT mkt.process_campaign('c6')"), 0);
    // Processed like an immediate campaign: a stable control group (of all 200 subjects: past
    // the budget, treated subjects get no touch), the budget, the context.
    let control = float(
        "SELECT (count(DISTINCT subject) FILTER (WHERE arm = 'control'))::float8 / 200 FROM mkt.campaign_touches",
    );
    assert!((control - 0.2).abs() < 0.1, "control share {control}");
    assert_eq!(
        count("SELECT count(*) FROM (SELECT subject FROM mkt.campaign_touches GROUP BY subject HAVING count(DISTINCT arm = 'control') > 1) s"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM mkt.outbox"), 100);
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_touches WHERE arm <> 'control'"), 100);
    assert_eq!(count("SELECT count(*) FROM mkt.decisions WHERE context ? 'region'"), 100);
    // The frequency cap holds across processing calls (a control subject: the budget spares it).
    let held = count("SELECT min(subject::int) FROM mkt.campaign_touches WHERE arm = 'control'");
    assert_eq!(count(&format!("SELECT count(*) FROM mkt.campaign_touches WHERE subject = '{held}'")), 2);
    Spi::run(&format!("INSERT INTO cart6 (user_id, event_type) SELECT {held}, 'cart' FROM generate_series(1, 3)")).unwrap();
    assert_eq!(count("SELECT mkt.process_campaign('c6')"), 3);
    assert_eq!(count(&format!("SELECT count(*) FROM mkt.campaign_touches WHERE subject = '{held}'")), 2);
    // Paused: nothing is queued, and queued events wait; claim_messages processes them.
    Spi::run("SELECT mkt.pause_campaign('c6')").unwrap();
    Spi::run("INSERT INTO cart6 (user_id, event_type) VALUES (1000, 'cart')").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 0);
    Spi::run("SELECT mkt.resume_campaign('c6')").unwrap();
    Spi::run("INSERT INTO cart6 (user_id, event_type) SELECT u, 'cart' FROM generate_series(1001, 1005) u").unwrap();
    Spi::run("SELECT mkt.pause_campaign('c6')").unwrap();
    assert_eq!(count("SELECT mkt.process_campaign('c6')"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 5);
    Spi::run("SELECT mkt.resume_campaign('c6')").unwrap();
    let touched = count("SELECT count(*) FROM mkt.campaign_touches");
    Spi::run("SELECT count(*) FROM mkt.claim_messages('c6', 3)").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 2);
    // Over budget: the three oldest events (subjects 1001-1003) were taken; only the control
    // subjects among them (the control test with the default seed 42) got a touch.
    assert_eq!(count("SELECT count(*) FROM mkt.outbox"), 100);
    let control = count(
        "SELECT count(*) FROM generate_series(1001, 1003) u
         WHERE (hashtextextended(u::text, 42) & 4294967295)::float8 / 4294967296.0 < 0.2",
    );
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_touches"), touched + control);
    // Three events of treated subjects (the control test with the default seed 42), no budget.
    Spi::run("UPDATE mkt.campaigns SET daily_budget = NULL WHERE campaign_name = 'c6'").unwrap();
    Spi::run(
        "INSERT INTO cart6 (user_id, event_type) SELECT u, 'cart' FROM generate_series(3000, 3100) u
         WHERE (hashtextextended(u::text, 42) & 4294967295)::float8 / 4294967296.0 >= 0.2 LIMIT 3",
    )
    .unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 5);
    // A dropped policy fails the insert, not a later processing call.
    Spi::run("SELECT mkt.drop_policy('cp6')").unwrap();
    let (state, msg) = try_sql("INSERT INTO cart6 (user_id, event_type) VALUES (2000, 'cart')");
    assert!(state == "42704" && msg.contains("policy"), "{state}: {msg}");
    assert_eq!(count("SELECT count(*) FROM cart6 WHERE user_id = 2000"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 5);
    // Events queued before the drop cannot be decided: processing says why, delivery goes on.
    assert_eq!(try_sql("SELECT mkt.process_campaign('c6')").0, "42704");
    Spi::run("UPDATE mkt.outbox SET claimed_at = NULL").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.claim_messages('c6', 5)"), 5);
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 5);
    Spi::run("SELECT mkt.drop_campaign('c6')").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_queue"), 0);
}

#[pg_test]
fn attribution_is_exactly_once_and_windowed() {
    campaign_setup("cp3", "cart3");
    Spi::run("SELECT mkt.create_campaign('c3', 'cp3', 'cart3', 'user_id', params => '{\"control_fraction\": 0.3}')").unwrap();
    Spi::run("INSERT INTO cart3 (user_id, event_type) SELECT u, 'cart' FROM generate_series(1, 100) u").unwrap();
    Spi::run("UPDATE mkt.campaign_touches SET touched_at = '2026-01-01'").unwrap();
    Spi::run(
        "CREATE TABLE orders3 (customer text, amount float8, at timestamptz);
         INSERT INTO orders3 SELECT u::text, 10 * u, '2026-01-03' FROM generate_series(1, 100) u WHERE u % 2 = 0;
         INSERT INTO orders3 SELECT u::text, 1, '2026-01-20' FROM generate_series(1, 100) u WHERE u % 3 = 0;
         INSERT INTO orders3 VALUES ('5', 7, '2025-12-31')",
    )
    .unwrap();
    let n = count("SELECT mkt.attribute_outcomes('c3', 'orders3', 'customer', 'amount', 'at')");
    assert_eq!(n, 50);
    assert_eq!(count("SELECT mkt.attribute_outcomes('c3', 'orders3', 'customer', 'amount', 'at')"), 0);
    // Every treated decision got exactly one reward: 1 when its subject ordered within the window.
    let treated = count("SELECT count(*) FROM mkt.campaign_touches WHERE arm <> 'control'");
    assert_eq!(count("SELECT count(*) FROM mkt.decisions WHERE reward IS NOT NULL"), treated);
    assert_eq!(
        count("SELECT count(*) FROM mkt.decisions WHERE reward = 1"),
        count("SELECT count(*) FROM mkt.campaign_touches WHERE arm <> 'control' AND subject::int % 2 = 0")
    );
    assert_eq!(count("SELECT sum(visits)::bigint FROM mkt.policy_values('cp3')"), treated);
    // A wider window credits the late orders too, without counting anything twice.
    assert_eq!(count("SELECT mkt.attribute_outcomes('c3', 'orders3', 'customer', 'amount', 'at', \"window\" => '30 days')"), 33);
    assert_eq!(count("SELECT count(*) FROM mkt.decisions WHERE reward IS NOT NULL"), treated);
    let (state, _) = try_sql("SELECT mkt.attribute_outcomes('c3', 'orders3', 'nope', 'amount', 'at')");
    assert_eq!(state, "42703");
}

#[pg_test]
fn campaign_report_matches_a_hand_computation() {
    campaign_setup("cp4", "cart4");
    Spi::run("SELECT mkt.create_campaign('c4', 'cp4', 'cart4', 'user_id')").unwrap();
    // 200 control subjects with 40 conversions, 200 treated with 60: uplift 0.1,
    // 95% interval 0.1 ± 1.959964 · 0.0430116, p = 0.020921.
    Spi::run(
        "INSERT INTO mkt.campaign_touches (campaign_id, subject, arm, decision_id)
         SELECT (SELECT campaign_id FROM mkt.campaigns WHERE campaign_name = 'c4'), 's' || i,
                CASE WHEN i <= 200 THEN 'control' ELSE 'a' END, CASE WHEN i <= 200 THEN NULL ELSE i END
         FROM generate_series(1, 400) i;
         INSERT INTO mkt.attributions (campaign_id, outcome_key, touch_id, value, outcome_at)
         SELECT campaign_id, 'o' || touch_id, touch_id, 5, now() FROM mkt.campaign_touches
         WHERE (arm = 'control' AND substr(subject, 2)::int <= 40) OR (arm = 'a' AND substr(subject, 2)::int <= 260)",
    )
    .unwrap();
    let (uplift, lo, hi) = Spi::get_three::<f64, f64, f64>(
        "SELECT uplift, uplift_ci_low, uplift_ci_high FROM mkt.campaign_report('c4') WHERE arm = 'a'",
    )
    .unwrap();
    let (uplift, lo, hi) = (uplift.unwrap(), lo.unwrap(), hi.unwrap());
    assert!((uplift - 0.1).abs() < 1e-12);
    assert!((lo - (0.1 - 1.959964 * 0.0430116)).abs() < 1e-5 && (hi - (0.1 + 1.959964 * 0.0430116)).abs() < 1e-5);
    assert!((float("SELECT p_value FROM mkt.campaign_report('c4') WHERE arm = 'a'") - 0.020921).abs() < 1e-5);
    assert_eq!(count("SELECT conversions FROM mkt.campaign_report('c4') WHERE arm = 'control'"), 40);
    assert_eq!(float("SELECT revenue_per_subject FROM mkt.campaign_report('c4') WHERE arm = 'a'"), 1.5);
    assert_eq!(count("SELECT count(*) FROM mkt.campaign_report('c4') WHERE note IS NOT NULL"), 0);
    let svg = Spi::get_one::<String>("SELECT mkt.campaign_report_svg('c4')").unwrap().unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("control"));
}
