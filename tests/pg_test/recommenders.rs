// Recommenders: training on odd data, text ids, determinism, quality on the demo shop, the neural models, explanations, tuning.
// (The error matrices are golden files: tests/pg_regress.)

#[pg_test]
fn training_over_max_memory_fails_before_allocating() {
    Spi::run("CREATE TABLE t_mem AS SELECT u AS user_id, (u * 7 + n) % 1000 AS item_id FROM generate_series(1, 20000) u, generate_series(1, 5) n").unwrap();
    Spi::run("SET mkt.max_memory_mb = 8").unwrap();
    let (s, m) = try_sql("SELECT * FROM mkt.train_recommender('mem', 't_mem', algorithm => 'als', params => '{\"factors\": 256}')");
    assert_eq!(s, "54000", "{m}");
    assert!(m.contains("mkt.max_memory_mb = 8 MB") && m.contains("20000 users"), "{m}");
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'mem'"), 0);
    Spi::run("SELECT * FROM mkt.train_recommender('mem', 't_mem', algorithm => 'als', params => '{\"factors\": 4, \"iterations\": 1}')").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'mem'"), 1);
}

#[pg_test]
fn odd_data_gives_results_or_clear_errors() {
    let top = |sql: &str| Spi::get_one::<String>(sql).unwrap().unwrap_or_default();
    // i64 extremes as ids
    Spi::run("CREATE TABLE o_huge AS SELECT * FROM (VALUES ((-9223372036854775807 - 1)::bigint, 9223372036854775807::bigint),
              (9223372036854775807, (-9223372036854775807 - 1)::bigint), (0, 9223372036854775807), (0, 1), (5, 1)) v(user_id, item_id)").unwrap();
    for alg in ["als", "item_knn", "ease", "bpr", "popularity"] {
        Spi::run(&format!("SELECT * FROM mkt.train_recommender('o_huge_{alg}', 'o_huge', algorithm => '{alg}')")).unwrap();
        assert_eq!(
            top(&format!("SELECT string_agg(item_id::text, ',' ORDER BY item_id) FROM mkt.recommend('o_huge_{alg}', 9223372036854775807, 3)")),
            "1,9223372036854775807",
            "{alg}"
        );
    }
    assert_eq!(count("SELECT count(*) FROM mkt.similar_items('o_huge_item_knn', 9223372036854775807, 2)"), 1);
    // unicode and empty-string ids are ids like any other
    Spi::run("CREATE TABLE o_text AS SELECT * FROM (VALUES ('ü', 'é'), ('', ''), ('用户', 'é'), ('', 'x'), ('ü', 'x')) v(user_id, item_id)").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('o_text', 'o_text', algorithm => 'item_knn')").unwrap();
    assert_eq!(top("SELECT string_agg(item_id, ',' ORDER BY item_id) FROM mkt.recommend('o_text', '用户'::text, 3)"), ",x");
    assert_eq!(top("SELECT string_agg(item_id, ',') FROM mkt.recommend('o_text', ''::text, 3)"), "é");
    // a model with int ids called with text ids: numbers are looked up, anything else is unknown
    assert_eq!(
        top("SELECT string_agg(item_id::text, ',' ORDER BY item_id) FROM mkt.recommend('o_huge_als', '5'::text, 3)"),
        "-9223372036854775808,9223372036854775807"
    );
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('o_huge_als', 'not a number'::text, 3)"), 3);
    // a text model called with a bigint id: its items are text, so the text form is needed
    assert_eq!(try_sql("SELECT * FROM mkt.recommend('o_text', 5::bigint, 3)").0, "42804");
    // one row, one user, one item: every algorithm trains; the only item is seen
    Spi::run("CREATE TABLE o_one AS SELECT 1 AS user_id, 2 AS item_id").unwrap();
    for alg in ["als", "item_knn", "ease", "bpr", "neural", "neumf", "popularity"] {
        Spi::run(&format!("SELECT * FROM mkt.train_recommender('o_one_{alg}', 'o_one', algorithm => '{alg}')")).unwrap();
        assert_eq!(count(&format!("SELECT count(*) FROM mkt.recommend('o_one_{alg}', 1, 5)")), 0, "{alg}");
        assert_eq!(count(&format!("SELECT count(*) FROM mkt.recommend('o_one_{alg}', 1, 5, exclude_seen => false)")), 1, "{alg}");
    }
    // duplicate rows add up
    Spi::run("CREATE TABLE o_dup AS SELECT 1 AS user_id, 2 AS item_id FROM generate_series(1, 5) UNION ALL SELECT 2, 3").unwrap();
    assert_eq!(
        Spi::get_two::<i64, i64>("SELECT n_users::bigint, n_interactions::bigint FROM mkt.train_recommender('o_dup', 'o_dup', algorithm => 'popularity')").unwrap(),
        (Some(2), Some(6))
    );
    // a table dropped after training: serving goes on, retraining says what is missing
    Spi::run("CREATE TABLE o_gone AS SELECT u AS user_id, u % 5 AS item_id FROM generate_series(1, 50) u").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('o_gone', 'o_gone')").unwrap();
    Spi::run("DROP TABLE o_gone").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('o_gone', 3, 2)"), 2);
    assert_eq!(try_sql("SELECT * FROM mkt.retrain('o_gone')").0, "42P01");
    // a column dropped after training: the same
    Spi::run("CREATE TABLE o_col AS SELECT u AS user_id, u % 5 AS item_id FROM generate_series(1, 50) u").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('o_col', 'o_col')").unwrap();
    Spi::run("ALTER TABLE o_col DROP COLUMN item_id").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('o_col', 3, 2)"), 2);
    assert_eq!(try_sql("SELECT * FROM mkt.retrain('o_col')").0, "42703");
    // empty tables, and very long names: clear errors whose messages stay short
    Spi::run("CREATE TABLE o_empty (user_id int, item_id int)").unwrap();
    assert_eq!(try_sql("SELECT * FROM mkt.train_recommender('o_empty', 'o_empty')").0, "22000");
    let long = "x".repeat(10_000);
    for sql in [
        format!("SELECT * FROM mkt.train_recommender('{long}', 'o_dup')"),
        format!("SELECT * FROM mkt.recommend('{long}', 1, 1)"),
        format!("SELECT * FROM mkt.decide('{long}')"),
        format!("SELECT * FROM mkt.train_recommender('o_long', '{long}')"),
        format!("SELECT * FROM mkt.train_recommender('o_long', 'o_dup', user_col => '{long}')"),
    ] {
        let (state, msg) = try_sql(&sql);
        assert!(state != "00000" && !state.starts_with("XX"), "{state}: {msg}");
        assert!(msg.len() < 400, "a {}-byte message for {}", msg.len(), &sql[..60]);
    }
}

#[pg_test]
fn text_ids_and_evaluation() {
    Spi::run(
        "CREATE TABLE t_txt AS SELECT 'u' || u AS customer, 'sku-' || i AS product
         FROM generate_series(1, 40) u, generate_series(1, 20) i WHERE i % 4 = u % 4 AND i <> u % 20",
    )
    .unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('txt', 'SELECT * FROM t_txt', user_col => 'customer', item_col => 'product', algorithm => 'item_knn')").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('txt', 'u1'::text, 3) WHERE item_id LIKE 'sku-%'"), 3);
    let (state, msg) = try_sql("SELECT * FROM mkt.recommend('txt', 1::bigint)");
    assert_eq!(state, "42804", "{msg}");
    Spi::run("CREATE TABLE t_txt_test AS SELECT 'u' || u AS customer, 'sku-' || (u % 20) AS product FROM generate_series(1, 40) u")
        .unwrap();
    let users = count(
        "SELECT value::bigint FROM mkt.evaluate_recommender('txt', 't_txt_test', 5, 'customer', 'product') WHERE metric = 'users_evaluated'",
    );
    assert!(users > 0);
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'txt' AND metrics ? 'ndcg@5'"), 1);
}

#[pg_test]
fn same_seed_same_model() {
    planted_table("t_det");
    for _ in 0..2 {
        Spi::run("SELECT * FROM mkt.train_recommender('det', 't_det', params => '{\"factors\": 6, \"seed\": 7}')").unwrap();
    }
    Spi::run("SELECT * FROM mkt.train_recommender('det', 't_det', params => '{\"factors\": 6, \"seed\": 8}')").unwrap();
    let distinct = count(
        "SELECT count(DISTINCT data) FROM mkt.model_blobs JOIN mkt.model_versions USING (model_id) WHERE model_name = 'det'",
    );
    assert_eq!(distinct, 2);
}

#[pg_test]
fn demo_data_personalisation_beats_popularity() {
    let rows = count("SELECT sum(rows)::bigint FROM mkt.demo_data(1)");
    assert!(rows > 90_000, "{rows}");
    Spi::run("SELECT * FROM mkt.split('mkt_demo.events', 'demo_train', 'demo_test', method => 'temporal', time_col => 'ts')").unwrap();
    let ndcg = |alg: &str| -> f64 {
        Spi::run(&format!("SELECT * FROM mkt.train_recommender('demo_{alg}', 'demo_train', algorithm => '{alg}')")).unwrap();
        Spi::get_one::<f64>(&format!(
            "SELECT value FROM mkt.evaluate_recommender('demo_{alg}', 'demo_test') WHERE metric = 'ndcg@10'"
        ))
        .unwrap()
        .unwrap()
    };
    let (pop, als, knn) = (ndcg("popularity"), ndcg("als"), ndcg("item_knn"));
    assert!(als > pop * 1.3, "als {als} vs popularity {pop}");
    assert!(knn > pop * 1.3, "item_knn {knn} vs popularity {pop}");
}

#[pg_test]
fn bpr_trains_and_serves() {
    planted_table("t_bpr");
    Spi::run("SET LOCAL mkt.threads = 1").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('bpr', 't_bpr', algorithm => 'bpr', params => '{\"factors\": 8, \"iterations\": 200}')").unwrap();
    // Users of group g like items i with i % 3 == g: their top unseen items come from their group.
    let wrong = count(
        "SELECT count(*) FROM generate_series(1, 60) u, LATERAL mkt.recommend('bpr', u, 2) r WHERE r.item_id % 3 <> u % 3",
    );
    assert!(wrong <= 6, "{wrong} of 120 recommendations outside the user's group");
    assert_eq!(count("SELECT count(*) FROM mkt.similar_items('bpr', 3, 5)"), 5);
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'bpr' AND algorithm = 'bpr'"), 1);
}

#[pg_test]
fn neural_with_features_serves_new_users_and_items() {
    planted_table("t_nn");
    // users 61..80 and items 31..33 exist only in the feature tables
    Spi::run("CREATE TABLE t_nn_users AS SELECT u AS user_id, 'grp' || (u % 3) AS grp, (u % 3)::float8 AS score FROM generate_series(1, 80) u").unwrap();
    Spi::run("CREATE TABLE t_nn_items AS SELECT i AS item_id, 'g' || (i % 3) AS genre FROM generate_series(1, 33) i").unwrap();
    // numeric user features go through a stored transform, fitted once
    Spi::run("SELECT mkt.fit_transform('t_nn_scale', 't_nn_users', '{\"score\": \"standard\"}')").unwrap();
    let params = r#"{"epochs": 40, "dim": 16, "hidden": 32, "seed": 3, "cold_dropout": 0.3,
        "user_features": {"source": "t_nn_users", "key": "user_id", "columns": ["grp", "score_std"], "transform": "t_nn_scale"},
        "item_features": {"source": "t_nn_items", "key": "item_id", "columns": ["genre"]}}"#;
    let n = Spi::get_two::<i64, i64>(&format!(
        "SELECT n_users, n_items FROM mkt.train_recommender('nn', 't_nn', algorithm => 'neural', params => '{params}')"
    ))
    .unwrap();
    assert_eq!(n, (Some(80), Some(33)));
    // New users get items of their own group from their features alone.
    let hits = count(
        "SELECT count(*) FROM generate_series(61, 80) u, mkt.recommend('nn', u, 3) r WHERE r.item_id % 3 = u % 3",
    );
    assert!(hits >= 48, "only {hits} of 60 top-3 items of new users match their group");
    // A new item ranks above a new item of another genre for the users who like its genre.
    let first = count(
        "SELECT count(*) FROM generate_series(1, 60) u
         WHERE u % 3 = 1 AND (SELECT item_id FROM mkt.recommend('nn', u, 1, candidates => ARRAY[31, 32])) = 31",
    );
    assert!(first >= 16, "item 31 first for only {first} of 20 users");
    // Every epoch is logged with the version.
    let logged = count("SELECT count(*) FROM mkt.training_log WHERE model_name = 'nn' AND version = 1 AND state = 'finished' AND validation_ndcg IS NOT NULL");
    assert!(logged >= 1);
    assert_eq!(count("SELECT count(*) FROM mkt.live_training() WHERE pid = pg_backend_pid()"), 0);
}

#[pg_test]
fn time_aware_ease_reads_the_time_column() {
    // every user takes item 1, item 2 a minute later and item 3 three days later; user 100 only item 1
    Spi::run(
        "CREATE TABLE t_ts AS
         SELECT u AS user_id, i AS item_id,
                timestamptz '2026-01-01' + u * interval '1 day' + CASE i WHEN 1 THEN interval '0' WHEN 2 THEN interval '1 minute' ELSE interval '3 days' END AS ts
         FROM generate_series(1, 40) u, generate_series(1, 3) i
         UNION ALL SELECT 100, 1, timestamptz '2026-06-01'",
    )
    .unwrap();
    Spi::run("CREATE TABLE t_ts_num AS SELECT user_id, item_id, extract(epoch FROM ts)::bigint AS secs, ts::date AS day, ts::text AS label FROM t_ts").unwrap();
    let gap = |model: &str| {
        Spi::get_one::<f64>(&format!(
            "SELECT (max(score) FILTER (WHERE item_id = 2) - max(score) FILTER (WHERE item_id = 3))::float8
             FROM mkt.recommend('{model}', 100, 2)"
        ))
        .unwrap()
        .unwrap()
    };
    Spi::run("SELECT * FROM mkt.train_recommender('ts_plain', 't_ts', algorithm => 'ease', params => '{\"regularization\": 5}')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('ts_time', 't_ts', algorithm => 'ease', params => '{\"regularization\": 5, \"time_col\": \"ts\"}')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('ts_secs', 't_ts_num', algorithm => 'ease', params => '{\"regularization\": 5, \"time_col\": \"secs\"}')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('ts_day', 't_ts_num', algorithm => 'ease', params => '{\"regularization\": 5, \"time_col\": \"day\", \"time_scale\": 86400}')").unwrap();
    assert!(gap("ts_plain").abs() < 1e-6, "plain EASE cannot tell items 2 and 3 apart");
    assert!(gap("ts_time") > 0.01, "{}", gap("ts_time"));
    // seconds as a number give the same model as the timestamp
    assert!((gap("ts_secs") - gap("ts_time")).abs() < 1e-6);
    // dates have a day's resolution: items 1 and 2 fall on the same day, item 3 later
    assert!(gap("ts_day") > 0.01);
    // item features: items 1 and 3 share a genre and a decade, so for a user with item 1 item 3 now leads
    Spi::run("CREATE TABLE t_ts_items AS SELECT * FROM (VALUES (1, 'drama', 1990), (2, 'comedy', 2020), (3, 'drama', 1990)) v(item_id, genre, year)").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('ts_feat', 't_ts', algorithm => 'ease', params => '{\"regularization\": 5, \"item_features\": {\"source\": \"t_ts_items\", \"key\": \"item_id\", \"columns\": [\"genre\", \"year\"]}}')").unwrap();
    assert!(gap("ts_feat") < -0.01, "{}", gap("ts_feat"));
    // a NULL time skips the row, like a NULL id
    Spi::run("INSERT INTO t_ts VALUES (101, 1, NULL)").unwrap();
    assert_eq!(count("SELECT n_interactions FROM mkt.train_recommender('ts_time', 't_ts', algorithm => 'ease', params => '{\"time_col\": \"ts\"}')"), 121);
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT * FROM mkt.train_recommender('m', 't_ts', algorithm => 'ease', params => '{\"time_col\": \"nope\"}')", "42703", "time column 'nope' does not exist"),
        ("SELECT * FROM mkt.train_recommender('m', 't_ts_num', algorithm => 'ease', params => '{\"time_col\": \"label\"}')", "42804", "must be a timestamp, a date or a number"),
        ("SELECT * FROM mkt.train_recommender('m', 't_ts', algorithm => 'ease', params => '{\"time_col\": 7}')", "22023", "time_col"),
        ("SELECT * FROM mkt.train_recommender('m', 't_ts', algorithm => 'ease', params => '{\"time_col\": \"ts\", \"time_scale\": 0}')", "22023", "time_scale"),
        ("SELECT * FROM mkt.train_recommender('m', 't_ts', algorithm => 'als', params => '{\"time_col\": \"ts\"}')", "22023", "valid parameters are"),
        ("SELECT * FROM mkt.train_recommender('m', 't_ts', algorithm => 'ease', params => '{\"item_features\": {\"source\": \"t_ts_items\", \"key\": \"item_id\", \"columns\": [\"nope\"]}}')", "42703", "nope"),
        ("SELECT * FROM mkt.train_recommender('m', 't_ts', algorithm => 'ease', params => '{\"item_features\": {\"source\": \"t_ts_items\", \"key\": \"item_id\"}}')", "22023", "columns"),
        ("SELECT * FROM mkt.tune_recommender('m', 't_ts', algorithm => 'ease', search => '{\"params\": {\"time_col\": [\"ts\", null]}}')", "22023", "time_col must be the same in every candidate"),
    ];
    expect_errors(cases);
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'm'"), 0);
    // tuning keeps the time column in every trial and in the final model
    planted_table("t_tsb");
    Spi::run("ALTER TABLE t_tsb ADD ts timestamptz").unwrap();
    Spi::run("UPDATE t_tsb SET ts = timestamptz '2026-01-01' + user_id * interval '1 day' + item_id * interval '1 minute'").unwrap();
    Spi::run("SELECT * FROM mkt.tune_recommender('ts_tuned', 't_tsb', algorithm => 'ease', search => '{\"params\": {\"time_weight\": [0, 4]}, \"base\": {\"time_col\": \"ts\", \"regularization\": 5}}')").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'ts_tuned' AND params->>'time_col' = 'ts'"), 1);
}

#[pg_test]
fn a_neural_model_learns_from_a_teacher() {
    planted_table("t_teach");
    Spi::run("CREATE TABLE t_teach_text AS SELECT 'u' || user_id AS user_id, item_id FROM t_teach").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('tch', 't_teach', algorithm => 'ease')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('stu', 't_teach', algorithm => 'neural', params => '{\"teacher\": \"tch\", \"teacher_weight\": 1, \"epochs\": 10, \"dim\": 8, \"hidden\": 16}')").unwrap();
    // learning from the teacher alone, the student still puts the planted group first for most users
    assert!(count("SELECT count(*) FROM generate_series(1, 60) u, LATERAL mkt.recommend('stu', u, 1) r WHERE r.item_id % 3 = u % 3") >= 45);
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'stu' AND params->>'teacher' = 'tch'"), 1);
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT * FROM mkt.train_recommender('m', 't_teach', algorithm => 'neural', params => '{\"teacher\": \"nobody\"}')", "42704", "nobody"),
        ("SELECT * FROM mkt.train_recommender('m', 't_teach_text', algorithm => 'neural', params => '{\"teacher\": \"tch\"}')", "22023", "knows none of the training data's users"),
        ("SELECT * FROM mkt.train_recommender('m', 't_teach', algorithm => 'neural', params => '{\"teacher\": \"tch\", \"loss\": \"bpr\"}')", "22023", "full softmax"),
        ("SELECT * FROM mkt.train_recommender('m', 't_teach', algorithm => 'neural', params => '{\"teacher\": \"tch\", \"teacher_weight\": 2}')", "22023", "teacher_weight"),
        ("SELECT * FROM mkt.train_recommender('m', 't_teach', algorithm => 'neumf', params => '{\"teacher\": \"tch\"}')", "22023", "valid parameters are"),
    ];
    expect_errors(cases);
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'm'"), 0);
}

#[pg_test]
fn explanations_sum_to_the_score() {
    planted_table("t_why");
    Spi::run("SELECT * FROM mkt.train_recommender('why_als', 't_why', weight_col => 'w', params => '{\"factors\": 6, \"iterations\": 4, \"solver\": \"cholesky\"}')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('why_ease', 't_why', algorithm => 'ease')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('why_pop', 't_why', algorithm => 'popularity')").unwrap();
    for m in ["why_als", "why_ease"] {
        let gap = Spi::get_one::<f64>(&format!(
            "SELECT max(abs(e.s - r.score))::float8 FROM generate_series(1, 60, 7) u, generate_series(1, 30, 4) i,
                    LATERAL (SELECT sum(contribution) AS s FROM mkt.explain_recommendation('{m}', u, i, 100000)) e,
                    LATERAL mkt.recommend('{m}', u, 1, exclude_seen => false, candidates => ARRAY[i]) r"
        ))
        .unwrap()
        .unwrap();
        assert!(gap < 1e-3, "{m}: contributions differ from the score by {gap}");
    }
    // the top contributor to a group-1 item for a group-1 user is a group-1 history item
    assert_eq!(count("SELECT count(*) FROM mkt.explain_recommendation('why_ease', 1, 4, 1) WHERE because_item_id % 3 = 1"), 1);
    assert_eq!(count("SELECT count(*) FROM mkt.explain_recommendation('why_als', 1, 4, 3)"), 3);
    assert_eq!(try_sql("SELECT * FROM mkt.explain_recommendation('why_als', 424242, 4)").0, "22023");
    assert_eq!(try_sql("SELECT * FROM mkt.explain_recommendation('why_als', 1, 4, 0)").0, "22023");
    assert_eq!(try_sql("SELECT * FROM mkt.explain_recommendation('why_pop', 1, 4)").0, "0A000");
    assert_eq!(try_sql("SELECT * FROM mkt.explain_recommendation('nope', 1, 4)").0, "42704");
}

#[pg_test]
fn tuning_records_trials_and_trains_the_best() {
    planted_table("t_tune");
    let search = r#"{"params": {"factors": [2, 6], "regularization": [0.1, 10]}, "base": {"iterations": 4}}"#;
    Spi::run(&format!(
        "CREATE TEMP TABLE tune_out AS SELECT * FROM mkt.tune_recommender('tuned', 't_tune', algorithm => 'als', search => '{search}')"
    ))
    .unwrap();
    assert_eq!(count("SELECT count(*) FROM tune_out"), 4);
    assert_eq!(count("SELECT count(*) FROM tune_out WHERE best AND metric = (SELECT max(metric) FROM tune_out)"), 1);
    assert_eq!(
        count("SELECT count(*) FROM mkt.models m, tune_out t WHERE m.model_name = 'tuned' AND m.deployed AND t.best AND m.params = t.params"),
        1
    );
    assert_eq!(count("SELECT count(*) FROM mkt.tuning_trials JOIN mkt.model_versions USING (model_id) WHERE model_name = 'tuned' AND metric = 'ndcg@10'"), 4);
    let n = count(
        "SELECT count(*) FROM mkt.tune_recommender('tuned_nn', 't_tune', algorithm => 'neural',
            search => '{\"params\": {\"dim\": {\"min\": 4, \"max\": 8}}, \"trials\": 2, \"base\": {\"epochs\": 2, \"hidden\": 8}}')",
    );
    assert_eq!(n, 2);
    let (s, m) = try_sql("SELECT * FROM mkt.tune_recommender('bad', 't_tune', search => '{\"params\": {\"factors\": [0]}}')");
    assert_eq!(s, "22023", "{m}");
    assert_eq!(try_sql("SELECT * FROM mkt.tune_recommender('bad', 't_tune', search => '{}')").0, "22023");
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'bad'"), 0);
}

#[pg_test]
fn neumf_trains_serves_and_round_trips() {
    planted_table("t_nmf");
    Spi::run("CREATE TABLE t_nmf_users AS SELECT u AS user_id, 'grp' || (u % 3) AS grp FROM generate_series(1, 80) u").unwrap();
    let params = r#"{"epochs": 60, "batch_size": 8, "dim": 8, "hidden": 16, "seed": 5, "cold_dropout": 0.3, "validation": 0,
        "user_features": {"source": "t_nmf_users", "key": "user_id", "columns": ["grp"]}}"#;
    Spi::run(&format!("SELECT * FROM mkt.train_recommender('nmf', 't_nmf', algorithm => 'neumf', params => '{params}')")).unwrap();
    // known users: their own group's unseen items first
    let known = count("SELECT count(*) FROM generate_series(1, 60) u, mkt.recommend('nmf', u, 2) r WHERE r.item_id % 3 = u % 3");
    assert!(known >= 100, "{known} of 120");
    // new users (features only) too
    let new = count("SELECT count(*) FROM generate_series(61, 80) u, mkt.recommend('nmf', u, 3) r WHERE r.item_id % 3 = u % 3");
    assert!(new >= 45, "{new} of 60");
    assert_eq!(count("SELECT count(*) FROM mkt.similar_items('nmf', 3, 4)"), 4);
    assert_eq!(count("SELECT count(*) FROM mkt.explain_recommendation('nmf', 1, 4, 2)"), 2);
    Spi::run("SELECT mkt.import_model('nmf_copy', mkt.export_model('nmf'))").unwrap();
    assert_eq!(
        count("SELECT count(*) FROM (SELECT * FROM mkt.recommend_all('nmf', 5) EXCEPT SELECT * FROM mkt.recommend_all('nmf_copy', 5)) d"),
        0
    );
    let (s, m) = try_sql("SELECT * FROM mkt.train_recommender('nmf2', 't_nmf', algorithm => 'neumf', params => '{\"loss\": \"bpr\"}')");
    assert_eq!(s, "22023");
    assert!(m.contains("unknown parameter \"loss\""), "{m}");
}
