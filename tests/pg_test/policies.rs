// Decision policies: decisions and learning, the reward trigger, simulations, off-policy estimates, batch and deferred learning.
// (The error matrices are golden files: tests/pg_regress.)

#[pg_test]
fn policies_decide_learn_and_report() {
    Spi::run(
        "SELECT mkt.create_policy('offers', ARRAY['none', 'coupon', 'free_ship'], 'q_learning',
            '{\"alpha\": 0.5, \"gamma\": 0.9, \"epsilon\": 0, \"state_features\": [\"segment\"]}')",
    )
    .unwrap();
    // Nothing learned: every Q is q_init, so the greedy choice is a three-way tie.
    let (id, action, p) = decide_row("SELECT * FROM mkt.decide('offers', '{\"segment\": \"vip\"}', 'cust-1')");
    assert!((p - 1.0 / 3.0).abs() < 1e-12, "{p}");
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM mkt.decisions WHERE decision_id = {id} AND state = 'segment=vip' AND subject = 'cust-1'
             AND action = '{action}' AND (probabilities ->> '{action}')::float8 = probability AND reward IS NULL"
        )),
        1
    );
    // Q(vip, action) = 0 + 0.5 (1 + 0 - 0) = 0.5: now the greedy choice, with probability 1.
    Spi::run(&format!("SELECT mkt.reward({id}, 1)")).unwrap();
    assert_eq!(
        float(&format!("SELECT value FROM mkt.policy_values('offers') WHERE state = 'segment=vip' AND action = '{action}'")),
        0.5
    );
    let (id2, action2, p2) = decide_row("SELECT * FROM mkt.decide('offers', '{\"segment\": \"vip\"}')");
    assert_eq!((action2.as_str(), p2), (action.as_str(), 1.0));
    // A journey step: from 'new' to 'vip' with reward 0: Q(new, a) = 0 + 0.5 (0 + 0.9 * 0.5 - 0) = 0.225.
    let (id3, action3, _) = decide_row("SELECT * FROM mkt.decide('offers', '{\"segment\": \"new\"}')");
    Spi::run(&format!("SELECT mkt.reward({id3}, 0, '{{\"segment\": \"vip\"}}')")).unwrap();
    let q = float(&format!("SELECT value FROM mkt.policy_values('offers') WHERE state = 'segment=new' AND action = '{action3}'"));
    assert!((q - 0.225).abs() < 1e-12, "{q}");
    // Excluding the best action moves the choice elsewhere.
    let (_, action4, _) = decide_row(&format!(
        "SELECT * FROM mkt.decide('offers', '{{\"segment\": \"vip\"}}', excluded => ARRAY['{action}'])"
    ));
    assert_ne!(action4, action);
    // One reward per decision; unknown decisions are errors.
    assert_eq!(try_sql(&format!("SELECT mkt.reward({id}, 1)")).0, "55000");
    assert_eq!(try_sql("SELECT mkt.reward(-5, 1)").0, "42704");
    Spi::run(&format!("SELECT mkt.reward({id2}, 0)")).unwrap();
    assert_eq!(
        float("SELECT sum(probability) FROM mkt.policy_probabilities('offers', '{\"segment\": \"vip\"}')"),
        1.0
    );
    assert_eq!(
        float(&format!("SELECT probability FROM mkt.policy_probabilities('offers', '{{\"segment\": \"vip\"}}') WHERE action = '{action}'")),
        1.0
    );
    let svg = Spi::get_one::<String>("SELECT mkt.policy_heatmap_svg('offers')").unwrap().unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("segment=vip"));
    assert_eq!(count("SELECT mkt.drop_policy('offers')"), 4);
    assert_eq!(count("SELECT count(*) FROM mkt.policy_state"), count("SELECT count(*) FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id)"));
}

#[pg_test]
fn thompson_and_linucb_policies() {
    Spi::run("SELECT mkt.create_policy('ts', ARRAY['a', 'b'], 'thompson', '{\"draws\": 400}')").unwrap();
    for _ in 0..20 {
        let (id, action, p) = decide_row("SELECT * FROM mkt.decide('ts')");
        assert!(p > 0.0 && p <= 1.0);
        Spi::run(&format!("SELECT mkt.reward({id}, {})", if action == "b" { 1 } else { 0 })).unwrap();
    }
    // b always converts, a never: b's posterior mean is (1 + wins) / (2 + n).
    let (n_b, mean_b) = Spi::get_two::<i64, f64>("SELECT visits, value FROM mkt.policy_values('ts') WHERE action = 'b'").unwrap();
    let n_b = n_b.unwrap_or(0);
    if n_b > 0 {
        assert!((mean_b.unwrap() - (1.0 + n_b as f64) / (2.0 + n_b as f64)).abs() < 1e-12);
    }
    assert!(float("SELECT probability FROM mkt.policy_probabilities('ts') WHERE action = 'b'") > 0.5);
    assert_eq!(try_sql("SELECT mkt.reward((SELECT decision_id FROM mkt.decide('ts')), 2)").0, "22023");
    // A state's draws are kept while its posteriors stay the same (the same distribution is
    // logged), and a reward brings new ones.
    let logged = |id: i64| {
        Spi::get_one::<String>(&format!("SELECT probabilities::text FROM mkt.decisions WHERE decision_id = {id}"))
            .unwrap()
            .unwrap()
    };
    Spi::run("SELECT mkt.create_policy('ts_kept', ARRAY['a', 'b', 'c'], 'thompson', '{\"draws\": 200}')").unwrap();
    let (first, _, _) = decide_row("SELECT * FROM mkt.decide('ts_kept')");
    let (second, _, _) = decide_row("SELECT * FROM mkt.decide('ts_kept')");
    assert_eq!(logged(first), logged(second));
    Spi::run(&format!("SELECT mkt.reward({second}, 1)")).unwrap();
    let distributions: std::collections::HashSet<String> = (0..5)
        .map(|_| {
            let (id, _, _) = decide_row("SELECT * FROM mkt.decide('ts_kept')");
            logged(id)
        })
        .collect();
    assert_eq!(distributions.len(), 1, "{distributions:?}");
    assert!(!distributions.contains(&logged(first)), "new draws after the reward");

    Spi::run(
        "SELECT mkt.create_policy('lin', ARRAY['x', 'y'], 'linucb', '{\"categorical\": {\"segment\": [\"s1\", \"s2\"]}, \"alpha\": 0.1}')",
    )
    .unwrap();
    for i in 0..40 {
        let seg = if i % 2 == 0 { "s1" } else { "s2" };
        let (id, action, p) = decide_row(&format!("SELECT * FROM mkt.decide('lin', '{{\"segment\": \"{seg}\"}}')"));
        assert!(p > 0.0);
        // x pays in s1, y pays in s2
        let r = if (seg == "s1") == (action == "x") { 1 } else { 0 };
        Spi::run(&format!("SELECT mkt.reward({id}, {r})")).unwrap();
    }
    assert_eq!(
        Spi::get_one::<String>("SELECT action FROM mkt.decide('lin', '{\"segment\": \"s2\"}')").unwrap().unwrap(),
        "y"
    );
    assert_eq!(count("SELECT count(*) FROM mkt.policy_values('lin') WHERE state = '*'"), 2);
}

#[pg_test]
fn reward_trigger_learns_from_inserted_outcomes() {
    Spi::run("SELECT mkt.create_policy('trig', ARRAY['a', 'b'], 'thompson')").unwrap();
    Spi::run("CREATE TABLE conversions (decision_id bigint, converted int)").unwrap();
    Spi::run(
        "CREATE TRIGGER learn AFTER INSERT ON conversions FOR EACH ROW
         EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted')",
    )
    .unwrap();
    let (id, _, _) = decide_row("SELECT * FROM mkt.decide('trig')");
    Spi::run(&format!("INSERT INTO conversions VALUES ({id}, 1)")).unwrap();
    assert_eq!(count("SELECT sum(visits)::bigint FROM mkt.policy_values('trig')"), 1);
    assert_eq!(count(&format!("SELECT count(*) FROM mkt.decisions WHERE decision_id = {id} AND reward = 1")), 1);
    // A row for an unknown decision fails its insert only; a row without a decision is no reward.
    let (state, msg) = try_sql("INSERT INTO conversions VALUES (987654321, 1)");
    assert_eq!(state, "42704", "{msg}");
    Spi::run("INSERT INTO conversions VALUES (NULL, 1)").unwrap();
    assert_eq!(count("SELECT count(*) FROM conversions"), 2);
    assert_eq!(count("SELECT sum(visits)::bigint FROM mkt.policy_values('trig')"), 1);
    // A constant reward argument works too.
    Spi::run("CREATE TABLE clicks (decision_id bigint)").unwrap();
    Spi::run("CREATE TRIGGER learn AFTER INSERT ON clicks FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', '1')").unwrap();
    let (id2, _, _) = decide_row("SELECT * FROM mkt.decide('trig')");
    Spi::run(&format!("INSERT INTO clicks VALUES ({id2})")).unwrap();
    assert_eq!(count("SELECT sum(visits)::bigint FROM mkt.policy_values('trig')"), 2);
    // Ids and rewards of other types are read as mkt.reward would take them; a jsonb column gives
    // the next context.
    Spi::run("CREATE TABLE orders_t (ref text, revenue numeric, next jsonb)").unwrap();
    Spi::run("CREATE TRIGGER learn AFTER INSERT ON orders_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('ref', 'revenue', 'next')").unwrap();
    let (id3, _, _) = decide_row("SELECT * FROM mkt.decide('trig')");
    Spi::run(&format!("INSERT INTO orders_t VALUES ('{id3}', 0.25, '{{\"segment\": 2}}')")).unwrap();
    assert_eq!(
        count(&format!("SELECT count(*) FROM mkt.decisions WHERE decision_id = {id3} AND reward = 0.25 AND next_context = '{{\"segment\": 2}}'")),
        1
    );
    // Misuse and bad rows are clear errors.
    let (id4, _, _) = decide_row("SELECT * FROM mkt.decide('trig')");
    Spi::run("CREATE TABLE misuse_t (decision_id bigint, converted int, next jsonb)").unwrap();
    for (trigger, insert, state, fragment) in [
        ("BEFORE INSERT ON misuse_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted')", "INSERT INTO misuse_t VALUES (1, 1)", "39P01", "AFTER INSERT"),
        ("AFTER INSERT ON misuse_t FOR EACH STATEMENT EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted')", "INSERT INTO misuse_t VALUES (1, 1)", "39P01", "FOR EACH ROW"),
        ("AFTER INSERT ON misuse_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id')", "INSERT INTO misuse_t VALUES (1, 1)", "22023", "reward column"),
        ("AFTER INSERT ON misuse_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('order_id', 'converted')", "INSERT INTO misuse_t VALUES (1, 1)", "42703", "\"order_id\" does not exist in public.misuse_t"),
        ("AFTER INSERT ON misuse_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'lots')", "INSERT INTO misuse_t VALUES (1, 1)", "22P02", "\"lots\""),
        ("AFTER INSERT ON misuse_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted')", "INSERT INTO misuse_t VALUES (ID4, NULL)", "22004", "\"converted\" is NULL"),
        ("AFTER INSERT ON misuse_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted', 'nxt')", "INSERT INTO misuse_t VALUES (ID4, 1)", "42703", "\"nxt\""),
        ("AFTER INSERT ON misuse_t FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted', 'converted')", "INSERT INTO misuse_t VALUES (ID4, 1)", "42804", "jsonb"),
    ] {
        Spi::run(&format!("CREATE TRIGGER misuse {trigger}")).unwrap();
        let (got, msg) = try_sql(&insert.replace("ID4", &id4.to_string()));
        assert_eq!((got.as_str(), msg.contains(fragment)), (state, true), "{trigger}: {msg}");
        Spi::run("DROP TRIGGER misuse ON misuse_t").unwrap();
    }
    assert_eq!(count("SELECT count(*) FROM misuse_t"), 0);
    assert_eq!(count(&format!("SELECT count(*) FROM mkt.decisions WHERE decision_id = {id4} AND reward IS NULL")), 1);
}

#[pg_test]
fn simulated_campaign_beats_random() {
    Spi::run("SELECT mkt.create_policy('sim', ARRAY['o1', 'o2', 'o3', 'o4'], 'thompson', '{\"state_features\": [\"segment\"], \"draws\": 50}')").unwrap();
    let (regret, oracle, random) = Spi::get_three::<f64, f64, f64>(
        "SELECT cumulative_regret, oracle_reward, random_reward FROM mkt.simulate_campaign('sim', rounds => 20000) ORDER BY round DESC LIMIT 1",
    )
    .unwrap();
    let (regret, oracle, random) = (regret.unwrap(), oracle.unwrap(), random.unwrap());
    assert!(regret < 0.25 * (oracle - random), "regret {regret}, oracle {oracle}, random {random}");
    assert_eq!(count("SELECT count(*) FROM mkt.simulate_campaign('sim', rounds => 1000)"), 200);
}

#[pg_test]
fn off_policy_estimates_match_their_formulas() {
    Spi::run(
        "CREATE TABLE ope_log AS
         SELECT i, (i % 3)::text AS segment,
                CASE WHEN (i * 7) % 10 < 3 THEN 1.0 ELSE 0.0 END AS reward,
                0.2 + (i % 4) * 0.2 AS propensity,
                ((i * 13) % 11) / 10.0 AS target
         FROM generate_series(1, 500) i",
    )
    .unwrap();
    let ips = float("SELECT value FROM mkt.estimate_policy_value('ope_log', 'reward', 'propensity', 'target') WHERE estimator = 'ips'");
    let snips = float("SELECT value FROM mkt.estimate_policy_value('ope_log', 'reward', 'propensity', 'target') WHERE estimator = 'snips'");
    let ips_sql = float("SELECT avg(target / propensity * reward)::float8 FROM ope_log");
    let snips_sql = float("SELECT (sum(target / propensity * reward) / sum(target / propensity))::float8 FROM ope_log");
    assert!((ips - ips_sql).abs() < 1e-9, "{ips} vs {ips_sql}");
    assert!((snips - snips_sql).abs() < 1e-9, "{snips} vs {snips_sql}");
    assert_eq!(
        count("SELECT count(*) FROM mkt.estimate_policy_value('ope_log', 'reward', 'propensity', 'target', ARRAY['segment'], ARRAY['ips', 'snips', 'dr', 'dm']) WHERE ci_low <= value AND value <= ci_high"),
        4
    );
    let (state, msg) = try_sql("SELECT * FROM mkt.estimate_policy_value('ope_log', 'reward', 'nope', 'target')");
    assert_eq!(state, "42703", "{msg}");
    let (state, msg) = try_sql("SELECT * FROM mkt.estimate_policy_value('ope_log', 'reward', 'segment', 'target')");
    assert_eq!(state, "42804", "{msg}");
    let (state, msg) = try_sql("SELECT * FROM mkt.estimate_policy_value('ope_log', 'reward', 'propensity', 'target', estimators => ARRAY['magic'])");
    assert_eq!(state, "22023", "{msg}");
    let (state, msg) = try_sql("SELECT * FROM mkt.estimate_policy_value('(SELECT * FROM ope_log WHERE false) x', 'reward', 'propensity', 'target')");
    assert!(state == "22000" || state == "42601", "{state}: {msg}");
    let (state, msg) = try_sql("SELECT * FROM mkt.estimate_policy_value('SELECT reward, 0 AS p, target FROM ope_log', 'reward', 'p', 'target')");
    assert_eq!(state, "22023", "{msg}");

    // A uniform policy evaluated on a uniform log: every weight is 1, so IPS is the log's mean.
    Spi::run("SELECT mkt.create_policy('uni', ARRAY['a', 'b'], 'q_learning', '{\"epsilon\": 1}')").unwrap();
    for i in 0..40 {
        let (id, _, p) = decide_row("SELECT * FROM mkt.decide('uni')");
        assert_eq!(p, 0.5);
        Spi::run(&format!("SELECT mkt.reward({id}, {})", i % 2)).unwrap();
    }
    let (ips, logging) = Spi::get_two::<f64, f64>(
        "SELECT value, logging_value FROM mkt.evaluate_policy('uni', 'SELECT * FROM mkt.decisions WHERE policy_id = (SELECT policy_id FROM mkt.policies WHERE policy_name = ''uni'')') WHERE estimator = 'ips'",
    )
    .unwrap();
    assert!((ips.unwrap() - 0.5).abs() < 1e-12 && (logging.unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(count("SELECT count(*) FROM mkt.evaluate_policy('uni', 'mkt.decisions')"), 4);
}

#[pg_test]
fn train_policy_from_logs() {
    Spi::run("SELECT mkt.create_policy('batch', ARRAY['a', 'b'], 'q_learning', '{\"alpha\": 0.5, \"gamma\": 0.5, \"state_features\": [\"s\"]}')").unwrap();
    Spi::run(
        "CREATE TABLE batch_log (context jsonb, action text, reward float8, next_context jsonb, p float8);
         INSERT INTO batch_log VALUES
            ('{\"s\": 1}', 'a', 1, NULL, 0.5),
            ('{\"s\": 1}', 'a', 1, NULL, 0.5),
            ('{\"s\": 0}', 'b', 0, '{\"s\": 1}', 0.25),
            ('{\"s\": 0}', 'zz', 1, NULL, 0.5),
            ('{\"s\": 0}', 'a', NULL, NULL, 0.5)",
    )
    .unwrap();
    let (version, rows) = Spi::get_two::<i32, i64>(
        "SELECT version, rows FROM mkt.train_policy('batch', 'batch_log', next_context_col => 'next_context')",
    )
    .unwrap();
    assert_eq!((version, rows), (Some(2), Some(3)));
    // Q(s=1, a): 0 -> 0.5 -> 0.75; Q(s=0, b) = 0 + 0.5 (0 + 0.5 * 0.75 - 0) = 0.1875
    assert_eq!(float("SELECT value FROM mkt.policy_values('batch') WHERE state = 's=1' AND action = 'a'"), 0.75);
    assert_eq!(float("SELECT value FROM mkt.policy_values('batch') WHERE state = 's=0' AND action = 'b'"), 0.1875);
    assert_eq!(count("SELECT version FROM mkt.policies WHERE policy_name = 'batch'"), 2);

    // Weighted by inverse propensity: a Thompson posterior counts each row 1 / (2 p) times.
    Spi::run("SELECT mkt.create_policy('batch_ts', ARRAY['a', 'b'], 'thompson', '{\"state_features\": [\"s\"]}')").unwrap();
    Spi::run("SELECT * FROM mkt.train_policy('batch_ts', 'batch_log', propensity_col => 'p', epochs => 2)").unwrap();
    // s=1, a: two rows of weight 1, reward 1, twice: alpha = 1 + 4, beta = 1.
    assert_eq!(
        float("SELECT value FROM mkt.policy_values('batch_ts') WHERE state = 's=1' AND action = 'a'"),
        5.0 / 6.0
    );
    // s=0, b: weight 2, reward 0, twice: alpha 1, beta 1 + 4.
    assert_eq!(
        float("SELECT value FROM mkt.policy_values('batch_ts') WHERE state = 's=0' AND action = 'b'"),
        1.0 / 6.0
    );
    for (sql, state) in [
        ("SELECT * FROM mkt.train_policy('batch', 'batch_log', epochs => 0)", "22023"),
        ("SELECT * FROM mkt.train_policy('batch', 'batch_log', reward_col => 'nope')", "42703"),
        ("SELECT * FROM mkt.train_policy('batch', 'SELECT * FROM batch_log WHERE false')", "22000"),
        ("SELECT * FROM mkt.train_policy('nope', 'batch_log')", "42704"),
        ("SELECT * FROM mkt.train_policy('batch_ts', 'SELECT context, action, 5 AS reward FROM batch_log')", "22023"),
    ] {
        let (got, msg) = try_sql(sql);
        assert_eq!(got, state, "{sql}: {msg}");
    }
    assert_eq!(count("SELECT version FROM mkt.policies WHERE policy_name = 'batch'"), 2);
}

#[pg_test]
fn policies_read_contexts_through_a_stored_transform() {
    Spi::run("CREATE TABLE pcust (age int, city text); INSERT INTO pcust SELECT 18 + i % 50, 'c' || i % 3 FROM generate_series(1, 100) i").unwrap();
    Spi::run("SELECT * FROM mkt.fit_transform('age_t', 'pcust', '{\"age\": {\"type\": \"quantile_bucket\", \"n\": 2}}')").unwrap();
    Spi::run("SELECT * FROM mkt.fit_transform('hash_t', 'pcust', '{\"city\": \"hash\"}')").unwrap();
    Spi::run(
        "SELECT mkt.create_policy('pt', ARRAY['a', 'b'], 'q_learning',
            '{\"state_features\": [\"age_bucket\"], \"transform\": \"age_t\", \"epsilon\": 0}')",
    )
    .unwrap();
    // The same bucket SQL gives the training table.
    Spi::run("SELECT mkt.apply_transform('age_t', 'SELECT 20 AS age UNION ALL SELECT 60', 'pcust_b')").unwrap();
    let young = count("SELECT age_bucket FROM pcust_b WHERE age = 20");
    let old = count("SELECT age_bucket FROM pcust_b WHERE age = 60");
    assert_ne!(young, old);
    let (id, _, _) = decide_row("SELECT * FROM mkt.decide('pt', '{\"age\": 20}')");
    assert_eq!(
        Spi::get_one::<String>(&format!("SELECT state FROM mkt.decisions WHERE decision_id = {id}")).unwrap().unwrap(),
        format!("age_bucket={young}")
    );
    assert_eq!(count(&format!("SELECT count(*) FROM mkt.decisions WHERE decision_id = {id} AND context = '{{\"age\": 20}}'")), 1);
    Spi::run(&format!("SELECT mkt.reward({id}, 1, '{{\"age\": 60}}')")).unwrap();
    assert_eq!(count(&format!("SELECT count(*) FROM mkt.policy_values('pt') WHERE state = 'age_bucket={young}'")), 1);
    assert_eq!(
        try_sql("SELECT mkt.create_policy('p_hash', ARRAY['a'], 'thompson', '{\"transform\": \"hash_t\"}')").0,
        "0A000"
    );
    assert_eq!(
        try_sql("SELECT mkt.create_policy('p_none', ARRAY['a'], 'thompson', '{\"transform\": \"nope\"}')").0,
        "42704"
    );
}

#[pg_test]
fn single_server_rewards_apply_at_once_and_citus_setup_needs_citus() {
    Spi::run("SELECT mkt.create_policy('fold_p', ARRAY['a', 'b'], 'thompson', '{\"seed\": 1}')").unwrap();
    let (id, _, _) = decide_row("SELECT * FROM mkt.decide('fold_p', '{}', 'cust-9')");
    // A subject that is not the decision's is refused; the decision's own is accepted.
    assert_eq!(try_sql(&format!("SELECT mkt.reward({id}, 1, subject => 'cust-8')")).0, "42704");
    Spi::run(&format!("SELECT mkt.reward({id}, 1, subject => 'cust-9')")).unwrap();
    // Learned at once: applied, counted in the state, nothing left for fold_rewards.
    assert_eq!(
        count(&format!("SELECT count(*) FROM mkt.decisions WHERE decision_id = {id} AND applied")),
        1
    );
    assert_eq!(count("SELECT sum(s.n)::bigint FROM mkt.policy_state s JOIN mkt.policies p USING (policy_id) WHERE p.policy_name = 'fold_p'"), 1);
    assert_eq!(count("SELECT count(*) FROM mkt.fold_rewards()"), 0);
    assert_eq!(try_sql("SELECT * FROM mkt.fold_rewards('no_such_policy')").0, "42704");
    // Without Citus, the Citus setup says what is missing.
    let (code, msg) = try_sql("SELECT * FROM mkt.citus_setup()");
    assert_eq!(code, "55000");
    assert!(msg.contains("needs the citus extension"), "{msg}");
    // Without Citus a decision needs no subject.
    decide_row("SELECT * FROM mkt.decide('fold_p', '{}')");
}

#[pg_test]
fn deferred_learning_waits_for_the_fold_and_then_matches_immediate() {
    for (algorithm, params) in [
        ("q_learning", r#""state_features": ["segment"], "alpha": 0.3, "gamma": 0.8"#),
        ("thompson", r#""state_features": ["segment"]"#),
        ("linucb", r#""features": ["x"]"#),
    ] {
        let (now, later) = (format!("now_{algorithm}"), format!("later_{algorithm}"));
        Spi::run(&format!("SELECT mkt.create_policy('{now}', ARRAY['a', 'b', 'c'], '{algorithm}', '{{{params}}}')")).unwrap();
        Spi::run(&format!(
            "SELECT mkt.create_policy('{later}', ARRAY['a', 'b', 'c'], '{algorithm}', '{{{params}, \"learning\": \"deferred\"}}')"
        ))
        .unwrap();
        // The same 90 decisions in both (journeys move between segments), rewarded in the same order.
        for name in [&now, &later] {
            Spi::run(&format!(
                "INSERT INTO mkt.decisions (policy_id, policy_version, context, state, action, probability, probabilities)
                 SELECT p.policy_id, 1, jsonb_build_object('segment', i % 3, 'x', i % 7, 'i', i),
                        CASE WHEN p.algorithm = 'linucb' THEN '*' ELSE 'segment=' || i % 3 END,
                        (ARRAY['a', 'b', 'c'])[1 + (i * 5) % 3], 0.5, '{{}}'
                 FROM mkt.policies p, generate_series(1, 90) i WHERE p.policy_name = '{name}'"
            ))
            .unwrap();
            Spi::run(&format!(
                "SELECT mkt.reward(decision_id, ((i * 7) % 5)::float8 / 4,
                                   CASE WHEN i % 4 <> 0 THEN jsonb_build_object('segment', (i + 1) % 3) END)
                 FROM (SELECT decision_id, (context ->> 'i')::int AS i FROM mkt.decisions JOIN mkt.policies USING (policy_id)
                       WHERE policy_name = '{name}' ORDER BY decision_id OFFSET 0) d"
            ))
            .unwrap();
        }
        let values = |name: &str| {
            Spi::get_one::<String>(&format!(
                "SELECT string_agg(format('%s/%s/%s/%s', state, action, value, visits), ' ' ORDER BY state, action) FROM mkt.policy_values('{name}')"
            ))
            .unwrap()
        };
        // Recorded and durable, not yet learned: a second reward is still refused.
        assert_eq!(values(&later), None, "{algorithm}");
        let logged = format!("SELECT count(*) FROM mkt.reward_log JOIN mkt.policies USING (policy_id) WHERE policy_name = '{later}'");
        let on_decisions = format!("SELECT count(*) FROM mkt.decisions JOIN mkt.policies USING (policy_id) WHERE policy_name = '{later}' AND reward IS NOT NULL AND applied");
        assert_eq!((count(&logged), count(&on_decisions)), (90, 0));
        let last = count(&format!("SELECT max(decision_id) FROM mkt.decisions JOIN mkt.policies USING (policy_id) WHERE policy_name = '{later}'"));
        assert_eq!(try_sql(&format!("SELECT mkt.reward({last}, 1)")).0, "55000", "{algorithm}");
        assert_eq!(
            count(&format!("SELECT rewards FROM mkt.fold_rewards('{later}')")),
            90,
            "{algorithm}"
        );
        assert_eq!(count(&format!("SELECT count(*) FROM mkt.fold_rewards('{later}')")), 0);
        assert_eq!((count(&logged), count(&on_decisions)), (0, 90));
        // Folded in the order they came, the rewards give exactly what learning at once gave.
        assert!(values(&now).is_some());
        assert_eq!(values(&later), values(&now), "{algorithm}");
        assert_eq!(
            count(&format!("SELECT version FROM mkt.policies WHERE policy_name = '{later}'")),
            1
        );
    }
    // The trigger path records the reward; a bad row fails its own insert only.
    Spi::run("CREATE TABLE later_conv (decision_id bigint, converted int)").unwrap();
    Spi::run("CREATE TRIGGER learn AFTER INSERT ON later_conv FOR EACH ROW EXECUTE FUNCTION mkt.reward_trigger('decision_id', 'converted')").unwrap();
    let (id, _, _) = decide_row("SELECT * FROM mkt.decide('later_thompson', '{\"segment\": 1}')");
    Spi::run(&format!("INSERT INTO later_conv VALUES ({id}, 1)")).unwrap();
    assert_eq!(try_sql("INSERT INTO later_conv VALUES (987654321, 1)").0, "42704");
    assert_eq!(try_sql(&format!("INSERT INTO later_conv VALUES ({id}, 0)")).0, "55000");
    assert_eq!(count("SELECT count(*) FROM later_conv"), 1);
    let visits = "SELECT sum(visits)::bigint FROM mkt.policy_values('later_thompson')";
    assert_eq!(count(visits), 90);
    assert_eq!(count("SELECT sum(rewards)::bigint FROM mkt.fold_rewards()"), 1);
    assert_eq!(count(visits), 91);
    // Forgetting a subject, and dropping a policy, take their waiting rewards with them.
    let (id2, _, _) = decide_row("SELECT * FROM mkt.decide('later_thompson', '{}', 'cust-later')");
    let (id3, _, _) = decide_row("SELECT * FROM mkt.decide('later_q_learning', '{}', 'cust-other')");
    Spi::run(&format!("SELECT mkt.reward({id2}, 1), mkt.reward({id3}, 1)")).unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.reward_log"), 2);
    Spi::run("SELECT * FROM mkt.forget_subject('cust-later')").unwrap();
    Spi::run("SELECT mkt.drop_policy('later_q_learning')").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.reward_log"), 0);
    expect_errors(&[(
        "SELECT mkt.create_policy('later_bad', ARRAY['a'], 'thompson', '{\"learning\": \"sometimes\"}')",
        "22023",
        "learning",
    )]);
}

