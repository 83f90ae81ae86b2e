// In-server tests of the SQL surface. Each test runs in its own transaction, rolled back at the
// end, in parallel with the others: every test uses its own tables and model names.

use pgrx::prelude::*;

/// Runs `sql` in a subtransaction; returns (SQLSTATE, message), '00000' when it succeeded.
fn try_sql(sql: &str) -> (String, String) {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.try_sql(q text, OUT state text, OUT msg text)
         LANGUAGE plpgsql AS $$
         BEGIN
             EXECUTE q; state := '00000'; msg := '';
         EXCEPTION WHEN OTHERS THEN
             GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
         END $$",
    )
    .unwrap();
    let (s, m) = Spi::get_two_with_args::<String, String>("SELECT * FROM pg_temp.try_sql($1)", &[sql.into()]).unwrap();
    (s.unwrap(), m.unwrap())
}

/// Each (statement, SQLSTATE, message fragment) fails with that state and a message naming it.
fn expect_errors(cases: &[(&str, &str, &str)]) {
    for (sql, state, fragment) in cases {
        let (s, m) = try_sql(sql);
        assert_eq!(&s, state, "{sql}: {m}");
        assert!(m.contains(fragment), "{sql}: message '{m}' lacks '{fragment}'");
    }
}

fn count(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql).unwrap().unwrap()
}

/// 60 users in 3 taste groups over 30 items: users of group g like items i with i % 3 == g.
fn planted_table(name: &str) {
    Spi::run(&format!(
        "CREATE TABLE {name} AS
         SELECT u AS user_id, i AS item_id, 1 + (u + i) % 3 AS w
         FROM generate_series(1, 60) u, generate_series(1, 30) i
         WHERE i % 3 = u % 3 AND (u * 7 + i) % 4 <> 0"
    ))
    .unwrap();
}

#[pg_test]
fn als_train_recommend_and_lifecycle() {
    planted_table("t_life");
    let v = Spi::get_one::<i32>(
        "SELECT version FROM mkt.train_recommender('life', 't_life', weight_col => 'w', params => '{\"factors\": 4, \"iterations\": 5}')",
    )
    .unwrap();
    assert_eq!(v, Some(1));
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('life', 1, 5)"), 5);
    // user 1 is in group 1: its recommendations are unseen group-1 items
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('life', 1, 3) WHERE item_id % 3 <> 1"), 0);
    assert_eq!(
        count("SELECT count(*) FROM mkt.recommend('life', 1, 30) r JOIN t_life t ON t.user_id = 1 AND t.item_id = r.item_id"),
        0
    );
    assert!(count("SELECT count(*) FROM mkt.recommend('life', 1, 30, exclude_seen => false)") == 30);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('life', 1, 10, candidates => ARRAY[2, 5, 5, 999])"), 2);
    assert_eq!(count("SELECT max(rank) FROM mkt.recommend('life', 1, 4)"), 4);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend_all('life', 2)"), 120);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend_all('life', 2, ARRAY[1, 2, 424242])"), 6);
    assert_eq!(count("SELECT count(*) FROM mkt.similar_items('life', 3, 5) WHERE item_id % 3 = 0"), 5);
    // second version, not deployed: serving keeps version 1 until deploy
    Spi::run("SELECT * FROM mkt.train_recommender('life', 't_life', algorithm => 'popularity', params => '{\"deploy\": false}')")
        .unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'life' AND deployed AND version = 1"), 1);
    Spi::run("SELECT mkt.deploy('life', 2)").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'life' AND deployed AND version = 2"), 1);
    let (state, msg) = try_sql("SELECT * FROM mkt.similar_items('life', 3)");
    assert_eq!(state, "0A000", "{msg}");
    // dropping the deployed version deploys the newest remaining one
    assert_eq!(count("SELECT mkt.drop_model('life', 2)"), 1);
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'life' AND deployed AND version = 1"), 1);
    assert_eq!(count("SELECT mkt.drop_model('life')"), 1);
    assert_eq!(count("SELECT count(*) FROM mkt.model_blobs"), count("SELECT count(*) FROM mkt.model_blobs b JOIN mkt.model_versions USING (model_id)"));
}

#[pg_test]
fn model_cache_stays_within_its_budget() {
    // the budget bounds private copies; mapped models are counted apart (see the next test)
    Spi::run("SET mkt.shared_models = off").unwrap();
    planted_table("t_cache");
    for m in ["c1", "c2", "c3"] {
        Spi::run(&format!("SELECT * FROM mkt.train_recommender('{m}', 't_cache', algorithm => 'popularity')")).unwrap();
        assert_eq!(count(&format!("SELECT count(*) FROM mkt.recommend('{m}', 1, 2)")), 2);
    }
    assert!(count("SELECT models FROM mkt.cache_stats()") >= 3);
    // A model larger than the whole budget stays (it is being served); every other one goes.
    Spi::run("CREATE TABLE t_cache_big AS SELECT u AS user_id, (u * 31 + n * 17) % 500 AS item_id FROM generate_series(1, 8000) u, generate_series(1, 10) n").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('cbig', 't_cache_big', algorithm => 'als', params => '{\"factors\": 32, \"iterations\": 1}')").unwrap();
    Spi::run("SET mkt.model_cache_mb = 1").unwrap();
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('cbig', 1, 2)"), 2);
    assert_eq!(count("SELECT models FROM mkt.cache_stats()"), 1);
    assert!(count("SELECT bytes FROM mkt.cache_stats()") > 1 << 20);
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('c1', 1, 2)"), 2);
    assert_eq!(count("SELECT models FROM mkt.cache_stats()"), 1);
}

#[pg_test]
fn deployed_models_are_served_from_shared_file_mappings() {
    let files = || count("SELECT count(*) FROM pg_ls_dir('pg_marketing_models', true, false) f WHERE f LIKE '%.model'");
    Spi::run("CREATE TABLE t_shm AS SELECT u AS user_id, (u * 31 + n * 17) % 500 AS item_id FROM generate_series(1, 8000) u, generate_series(1, 10) n").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('shm', 't_shm', algorithm => 'als', params => '{\"factors\": 32, \"iterations\": 1}')").unwrap();
    let before = files();
    Spi::run("CREATE TEMP TABLE shm_mapped AS SELECT u, r.* FROM generate_series(1, 8000, 97) u, mkt.recommend('shm', u, 5) r").unwrap();
    assert_eq!(files(), before + 1, "the first load writes the version's file");
    // users x 32 factors and the seen items are viewed in the mapping, not copied
    assert!(count("SELECT shared_bytes FROM mkt.cache_stats()") > 8000 * 32 * 4);
    // the same bytes decoded privately rank exactly the same
    Spi::run("SET mkt.shared_models = off").unwrap();
    Spi::run("SELECT mkt.import_model('shm_private', mkt.export_model('shm'))").unwrap();
    let shared = count("SELECT shared_bytes FROM mkt.cache_stats()");
    assert_eq!(
        count("SELECT count(*) FROM (SELECT u, r.* FROM generate_series(1, 8000, 97) u, mkt.recommend('shm_private', u, 5) r
               EXCEPT SELECT * FROM shm_mapped) d"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM shm_mapped"), 83 * 5);
    assert_eq!(count("SELECT shared_bytes FROM mkt.cache_stats()"), shared, "a private copy maps nothing");
    assert_eq!(files(), before + 1);
    // dropping the version removes its file
    Spi::run("SELECT mkt.drop_model('shm')").unwrap();
    assert_eq!(files(), before);
}

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
fn forget_subject_erases_a_customer_everywhere() {
    planted_table("t_gdpr");
    Spi::run("SELECT * FROM mkt.train_recommender('gdpr', 't_gdpr', params => '{\"factors\": 4, \"iterations\": 3}')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('gdpr', 't_gdpr', algorithm => 'item_knn')").unwrap();
    Spi::run("SELECT mkt.create_policy('gdpr_p', ARRAY['a', 'b'], 'thompson')").unwrap();
    Spi::run("SELECT mkt.reward(decision_id, 1) FROM mkt.decide('gdpr_p', '{}', subject => '7')").unwrap();
    Spi::run("SELECT * FROM mkt.decide('gdpr_p', '{}', subject => '8')").unwrap();
    let top = |u: i64| {
        Spi::get_one::<String>(&format!("SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('gdpr', {u}, 5)"))
            .unwrap()
            .unwrap()
    };
    let (seven, eight, stranger) = (top(7), top(8), top(100_000));
    assert_ne!(seven, stranger, "user 7 is served personally before");
    let removed = || {
        Spi::get_one::<String>("SELECT string_agg(what || '=' || removed, ' ' ORDER BY what) FROM mkt.forget_subject('7')")
            .unwrap()
            .unwrap()
    };
    assert_eq!(removed(), "attributions=0 campaign_touches=0 decisions=1 model_versions=2 outbox=0");
    assert_eq!(top(7), top(100_000), "a forgotten user is served as a new one");
    assert_eq!(top(8), eight, "everyone else as before");
    assert_eq!(count("SELECT count(*) FROM mkt.decisions WHERE subject = '7'"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.decisions WHERE subject = '8'"), 1);
    assert_eq!(count("SELECT sum(n_users)::bigint FROM mkt.model_versions WHERE model_name = 'gdpr'"), 2 * 59);
    // every version, deployed or not, no longer knows the user
    Spi::run("SELECT mkt.deploy('gdpr', 1)").unwrap();
    assert_eq!(top(7), top(100_000));
    // idempotent
    assert_eq!(removed(), "attributions=0 campaign_touches=0 decisions=0 model_versions=0 outbox=0");
    assert_eq!(try_sql("SELECT * FROM mkt.forget_subject('')").0, "22023");
}

#[pg_test]
fn injection_attempts_run_nothing() {
    // A canary table, a function that would record that it ran, and a place for it to write.
    Spi::run("CREATE TABLE canary AS SELECT u AS user_id, u % 7 AS item_id, now() AS ts, 1.0::float8 AS amount,
              'view'::text AS event_type, jsonb_build_object('segment', u % 3) AS context, 'a'::text AS action,
              1.0::float8 AS reward, 0.5::float8 AS propensity FROM generate_series(1, 50) u").unwrap();
    Spi::run("CREATE TABLE pwned (at timestamptz)").unwrap();
    Spi::run("CREATE FUNCTION mark() RETURNS bool LANGUAGE sql AS 'INSERT INTO pwned VALUES (now()) RETURNING true'").unwrap();
    Spi::run("SELECT mkt.create_policy('inj', ARRAY['a', 'b'], 'thompson')").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('inj_m', 'canary')").unwrap();
    let payloads = [
        "canary; DROP TABLE canary",
        "canary\"; DROP TABLE canary; --",
        "canary'); DROP TABLE canary; --",
        "SELECT * FROM canary; DROP TABLE canary",
        "SELECT * FROM canary; INSERT INTO pwned VALUES (now())",
        "WITH d AS (DELETE FROM canary RETURNING *) SELECT * FROM d",
        "WITH d AS (INSERT INTO pwned VALUES (now()) RETURNING 1) SELECT * FROM canary",
        "SELECT * FROM canary WHERE mark()",
        "SELECT *, mark() FROM canary",
        "SELECT * INTO pwned2 FROM canary",
        "COPY canary TO '/tmp/pwned'",
        "DELETE FROM canary",
        "SELECT * FROM canary FOR UPDATE",
    ];
    let columns = [
        "user_id) FROM canary; DROP TABLE canary; --",
        "user_id\"; DROP TABLE canary; --",
        "mark()",
        "(SELECT mark())",
    ];
    let q = |v: &str| v.replace('\'', "''");
    let mut calls: Vec<String> = Vec::new();
    for p in payloads {
        let p = q(p);
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', '{p}')"));
        calls.push(format!("SELECT * FROM mkt.profile('{p}')"));
        calls.push(format!("SELECT * FROM mkt.clean('{p}', 'inj_clean')"));
        calls.push(format!("SELECT * FROM mkt.split('{p}', 'inj_a', 'inj_b')"));
        calls.push(format!("SELECT * FROM mkt.evaluate_recommender('inj_m', '{p}', 5)"));
        calls.push(format!("SELECT * FROM mkt.train_policy('inj', '{p}')"));
        calls.push(format!("SELECT * FROM mkt.estimate_policy_value('{p}', 'reward', 'propensity', 'propensity')"));
        calls.push(format!("SELECT mkt.fit_transform('inj_t', '{p}', '{{\"amount\": \"standard\"}}')"));
        calls.push(format!("SELECT * FROM mkt.rfm('{p}', 'user_id', 'ts', 'amount', 'inj_rfm')"));
        calls.push(format!("SELECT * FROM mkt.user_features('{p}', 'inj_uf')"));
        // as a target table name
        calls.push(format!("SELECT * FROM mkt.clean('canary', '{p}')"));
        calls.push(format!("SELECT * FROM mkt.split('canary', '{p}', 'inj_b')"));
    }
    for c in columns {
        let c = q(c);
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', 'canary', user_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', 'canary', item_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.train_recommender('inj', 'canary', weight_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.train_policy('inj', 'canary', context_col => '{c}')"));
        calls.push(format!("SELECT * FROM mkt.estimate_policy_value('canary', '{c}', 'propensity', 'propensity')"));
        calls.push(format!("SELECT * FROM mkt.rfm('canary', '{c}', 'ts', 'amount', 'inj_rfm')"));
        calls.push(format!("SELECT * FROM mkt.split('canary', 'inj_a', 'inj_b', user_col => '{c}')"));
        calls.push(format!("SELECT mkt.fit_transform('inj_t', 'canary', '{{\"{c}\": \"standard\"}}')"));
    }
    for call in &calls {
        let (state, msg) = try_sql(call);
        assert_ne!(state, "00000", "accepted: {call}");
        assert!(!state.starts_with("XX"), "internal error {state} {msg}: {call}");
    }
    assert_eq!(count("SELECT count(*) FROM canary"), 50, "the canary is intact");
    assert_eq!(count("SELECT count(*) FROM pwned"), 0, "no injected statement ran");
    assert_eq!(count("SELECT count(*) FROM pg_class WHERE relname IN ('pwned2', 'inj_clean', 'inj_a', 'inj_b', 'inj_rfm', 'inj_uf')"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'inj'"), 0);
    assert_eq!(count("SELECT count(*) FROM mkt.transforms WHERE transform_name = 'inj_t'"), 0);
}

#[pg_test]
fn every_function_takes_null_for_each_argument() {
    // Every SQL function of the extension, called with NULL in one argument at a time (the others
    // NULL too, or left to their defaults): a result (strict functions return NULL) or a clear
    // error, never an internal error or a crash.
    planted_table("t_null");
    Spi::run("SELECT * FROM mkt.train_recommender('nullm', 't_null')").unwrap();
    Spi::run("SELECT mkt.create_policy('nullp', ARRAY['a', 'b'])").unwrap();
    let functions: Vec<(String, Vec<String>, i32)> = Spi::connect(|c| {
        c.select(
            "SELECT p.proname::text,
                    array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) t),
                    p.pronargdefaults::int
             FROM pg_proc p
             WHERE p.pronamespace = 'mkt'::regnamespace AND p.prokind = 'f'
               AND p.prorettype <> 'trigger'::regtype AND p.proname <> 'campaign_fire' AND p.proname NOT LIKE 'campaign\\_trigger\\_%'
             ORDER BY 1",
            None,
            &[],
        )?
        .map(|r| {
            Ok((
                r.get::<String>(1)?.unwrap(),
                r.get::<Vec<String>>(2)?.unwrap(),
                r.get::<i32>(3)?.unwrap(),
            ))
        })
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .unwrap();
    assert!(functions.len() > 40, "found {} functions", functions.len());
    let mut calls = 0;
    for (name, types, defaults) in &functions {
        let required = types.len() - *defaults as usize;
        // all NULL; then each optional argument NULL on its own after required NULLs
        for n in [types.len(), required] {
            let args: Vec<String> = types[..n].iter().map(|t| format!("NULL::{t}")).collect();
            let (state, msg) = try_sql(&format!("SELECT * FROM mkt.{name}({})", args.join(", ")));
            calls += 1;
            assert!(
                !state.starts_with("XX") && !state.starts_with("58"),
                "mkt.{name}({}) gave {state}: {msg}",
                args.join(", ")
            );
        }
    }
    assert!(calls > 80);
    // still serving, and the catalog is as it was
    assert_eq!(count("SELECT count(*) FROM mkt.recommend('nullm', 1, 3)"), 3);
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions"), 1);
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
fn bad_inputs_raise_clear_errors() {
    planted_table("t_bad");
    Spi::run("CREATE TABLE t_bad_types (user_id timestamptz, item_id bigint, w text)").unwrap();
    Spi::run("CREATE TABLE t_bad_w AS SELECT 1::bigint AS user_id, 2::bigint AS item_id, 'NaN'::float8 AS w UNION ALL SELECT 1, 3, -1").unwrap();
    Spi::run("CREATE TABLE t_empty (user_id bigint, item_id bigint)").unwrap();
    Spi::run("CREATE TABLE x (a int)").unwrap();
    Spi::run("CREATE TABLE t_wide AS SELECT 1 AS user_id, i AS item_id FROM generate_series(1, 1000) i").unwrap();
    Spi::run("SELECT * FROM mkt.train_recommender('good', 't_bad', algorithm => 'popularity')").unwrap();
    let before = count("SELECT count(*) FROM mkt.model_versions") + count("SELECT count(*) FROM mkt.model_blobs");
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT * FROM mkt.train_recommender('m', 'no_such_table')", "42P01", "does not exist"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad', user_col => 'nope')", "42703", "'nope' does not exist"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad_types')", "42804", "ids must be"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad', weight_col => 'nope')", "42703", "weight column"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad_types', user_col => 'item_id', weight_col => 'w')", "42804", "must be numeric"),
        ("SELECT * FROM mkt.train_recommender('m', 't_empty')", "22000", "no rows"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad_w', weight_col => 'w')", "22003", "finite and non-negative"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad', algorithm => 'svd')", "22023", "valid values are: popularity, als, item_knn, ease"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad', params => '{\"factorz\": 1}')", "22023", "valid parameters are"),
        ("SELECT * FROM mkt.train_recommender('m', 't_bad', params => '{\"factors\": -1}')", "22023", "factors"),
        ("SELECT * FROM mkt.train_recommender('', 't_bad')", "22023", "model name"),
        ("SELECT * FROM mkt.train_recommender('m', 'x; DROP TABLE x')", "42602", "neither a table"),
        ("SELECT * FROM mkt.train_recommender('m', 'SELECT 1 AS user_id, 1 AS item_id; DROP TABLE x')", "42809", "single SELECT"),
        ("SELECT * FROM mkt.train_recommender('m', 'WITH d AS (DELETE FROM x RETURNING 1) SELECT 1 AS user_id, 1 AS item_id')", "42809", "data-modifying"),
        ("SELECT * FROM mkt.train_recommender('m', 'SELECT 1 AS user_id, 1 AS item_id INTO y')", "42809", "SELECT INTO"),
        ("SELECT * FROM mkt.train_recommender('m', 'SELECT *, 1 AS user_id, 1 AS item_id FROM x FOR UPDATE')", "42809", "FOR UPDATE"),
        ("SELECT * FROM mkt.train_recommender('m', 't_wide', algorithm => 'ease', params => '{\"max_memory_mb\": 1}')", "54000", "max_memory_mb"),
        ("SELECT * FROM mkt.recommend('no_model', 1)", "42704", "does not exist"),
        ("SELECT * FROM mkt.recommend('good', 1, 0)", "22023", "k must be between 1 and 100000"),
        ("SELECT * FROM mkt.recommend('good', 1, -1)", "22023", "k must be"),
        ("SELECT * FROM mkt.recommend('good', 1, 1000000000)", "22023", "k must be"),
        ("SELECT * FROM mkt.recommend_all('good', 0)", "22023", "k must be"),
        ("SELECT * FROM mkt.similar_items('good', 424242)", "22023", "not in model"),
        ("SELECT mkt.deploy('good', 99)", "42704", "has no version 99"),
        ("SELECT mkt.deploy('no_model', 1)", "42704", "does not exist"),
        ("SELECT mkt.drop_model('no_model')", "42704", "does not exist"),
        ("SELECT * FROM mkt.evaluate_recommender('no_model', 't_bad')", "42704", "does not exist"),
        ("SELECT * FROM mkt.evaluate_recommender('good', 't_empty')", "22000", "no rows"),
        ("SELECT * FROM mkt.split('t_bad', 'a1', 'b1', method => 'bogus')", "22023", "random, temporal, leave_last_out"),
        ("SELECT * FROM mkt.split('t_bad', 'a1', 'b1', test_fraction => 1.5)", "22023", "test_fraction"),
        ("SELECT * FROM mkt.split('t_bad', 'a1', 'b1', method => 'temporal')", "22023", "needs time_col"),
        ("SELECT * FROM mkt.split('t_bad', 'a1', 'a1')", "22023", "different"),
        ("SELECT * FROM mkt.split('t_bad', 't_bad', 'b1')", "42P07", "already exists"),
        ("SELECT * FROM mkt.demo_data(0)", "22023", "scale"),
    ];
    expect_errors(cases);
    let after = count("SELECT count(*) FROM mkt.model_versions") + count("SELECT count(*) FROM mkt.model_blobs");
    assert_eq!(before, after, "a failed call changed the catalog");
    assert_eq!(count("SELECT count(*) FROM x"), 0);
    assert_eq!(count("SELECT count(*) FROM pg_class WHERE relname = 'y'"), 0);
}

#[pg_test]
fn split_methods() {
    Spi::run(
        "CREATE TABLE t_split AS SELECT u AS user_id, i AS item_id, timestamptz '2026-01-01' + i * interval '1 day' AS ts
         FROM generate_series(1, 10) u, generate_series(1, 10) i",
    )
    .unwrap();
    Spi::run("SELECT * FROM mkt.split('t_split', 's_tr', 's_te', method => 'temporal', time_col => 'ts')").unwrap();
    assert_eq!(count("SELECT count(*) FROM s_te"), 20);
    assert_eq!(count("SELECT count(*) FROM s_te WHERE item_id < 9"), 0);
    Spi::run("SELECT * FROM mkt.split('t_split', 'l_tr', 'l_te', method => 'leave_last_out', time_col => 'ts')").unwrap();
    assert_eq!(count("SELECT count(*) FROM l_te WHERE item_id = 10"), 10);
    assert_eq!(count("SELECT count(*) FROM l_tr"), 90);
    Spi::run("SELECT * FROM mkt.split('t_split', 'r_tr', 'r_te', test_fraction => 0.3, seed => 5)").unwrap();
    Spi::run("SELECT * FROM mkt.split('t_split', 'r2_tr', 'r2_te', test_fraction => 0.3, seed => 5)").unwrap();
    assert_eq!(count("SELECT count(*) FROM r_te"), 30);
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM r_te EXCEPT SELECT * FROM r2_te) d"), 0);
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM r_tr INTERSECT SELECT * FROM r_te) d"), 0);
    // Query and view sources split the same way; a function they call cannot write.
    Spi::run("SELECT * FROM mkt.split('SELECT * FROM t_split WHERE user_id <= 5', 'q_tr', 'q_te', test_fraction => 0.3, seed => 5)").unwrap();
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM q_te EXCEPT SELECT * FROM r_te WHERE user_id <= 5) d"), 0);
    assert_eq!(count("SELECT count(*) FROM q_te"), 15);
    Spi::run("CREATE TABLE t_side (x int)").unwrap();
    Spi::run("CREATE FUNCTION pg_temp.sneaky() RETURNS int LANGUAGE sql AS 'INSERT INTO t_side VALUES (1) RETURNING 1'").unwrap();
    Spi::run("CREATE VIEW v_sneaky AS SELECT t.*, pg_temp.sneaky() AS s FROM t_split t").unwrap();
    for src in ["SELECT t.*, pg_temp.sneaky() AS s FROM t_split t", "v_sneaky"] {
        let (state, msg) = try_sql(&format!("SELECT * FROM mkt.split('{}', 'w_tr', 'w_te')", src.replace('\'', "''")));
        assert_eq!(state, "25006", "{src}: {msg}");
    }
    assert_eq!(count("SELECT count(*) FROM t_side"), 0);
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
fn every_function_is_documented() {
    let missing = Spi::get_one::<String>(
        "SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'mkt' AND obj_description(p.oid, 'pg_proc') IS NULL",
    )
    .unwrap();
    assert_eq!(missing, None, "functions without COMMENT ON FUNCTION");
    // model-dependent functions must not claim IMMUTABLE
    assert_eq!(count("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'mkt' AND p.provolatile = 'i'"), 0);
}

fn decide_row(sql: &str) -> (i64, String, f64) {
    let (id, action, p) = Spi::get_three::<i64, String, f64>(sql).unwrap();
    (id.unwrap(), action.unwrap(), p.unwrap())
}

fn float(sql: &str) -> f64 {
    Spi::get_one::<f64>(sql).unwrap().unwrap()
}

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
fn policy_bad_inputs_raise_clear_errors() {
    Spi::run("SELECT mkt.create_policy('pbad', ARRAY['a', 'b'], 'q_learning', '{\"state_features\": [\"age\"], \"bins\": {\"age\": [18, 65]}}')").unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("SELECT mkt.create_policy('pbad', ARRAY['a'])", "42710", "already exists"),
        ("SELECT mkt.create_policy('p2', ARRAY['a'], 'sarsa')", "22023", "q_learning, thompson, linucb"),
        ("SELECT mkt.create_policy('p2', ARRAY[]::text[])", "22000", "at least one action"),
        ("SELECT mkt.create_policy('p2', ARRAY['a', NULL])", "22023", "NULL"),
        ("SELECT mkt.create_policy('p2', ARRAY['a', 'a'])", "22023", "twice"),
        ("SELECT mkt.create_policy('p2', ARRAY['a'], 'thompson', '{\"alpha\": 1}')", "22023", "valid parameters are"),
        ("SELECT mkt.create_policy('p2', ARRAY['a'], 'q_learning', '{\"epsilon\": 2}')", "22023", "epsilon"),
        ("SELECT mkt.create_policy('', ARRAY['a'])", "22023", "policy name"),
        ("SELECT * FROM mkt.decide('nope')", "42704", "does not exist"),
        ("SELECT * FROM mkt.decide('pbad', '[1, 2]')", "22023", "JSON object"),
        ("SELECT * FROM mkt.decide('pbad', '{\"age\": \"old\"}')", "22023", "must be a number"),
        ("SELECT * FROM mkt.decide('pbad', '{}', excluded => ARRAY['a', 'b'])", "22023", "every action"),
        ("SELECT * FROM mkt.decide('pbad', '{}', excluded => ARRAY['zz'])", "22023", "not an action"),
        ("SELECT mkt.reward(1, 'NaN')", "22023", "finite"),
        ("SELECT * FROM mkt.simulate_campaign('pbad', rounds => 0)", "22023", "rounds"),
        ("SELECT * FROM mkt.simulate_campaign('pbad', 'mars')", "22023", "demo, journey"),
        ("SELECT * FROM mkt.policy_values('nope')", "42704", "does not exist"),
        ("SELECT mkt.drop_policy('nope')", "42704", "does not exist"),
    ];
    for (sql, state, needle) in cases {
        let (got, msg) = try_sql(sql);
        assert_eq!(&got, state, "{sql}: {msg}");
        assert!(msg.contains(needle), "{sql}: {msg}");
    }
    assert_eq!(count("SELECT count(*) FROM mkt.policies WHERE policy_name <> 'pbad' AND policy_name LIKE 'p%'"), 0);
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

fn campaign_setup(policy: &str, table: &str) {
    Spi::run(&format!("SELECT mkt.create_policy('{policy}', ARRAY['a', 'b'], 'thompson', '{{\"draws\": 20}}')")).unwrap();
    Spi::run(&format!("CREATE TABLE {table} (user_id bigint, event_type text, value numeric, region text, at timestamptz DEFAULT now())")).unwrap();
}

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

#[pg_test]
fn campaign_bad_inputs_raise_clear_errors() {
    campaign_setup("cp5", "cart5");
    Spi::run("CREATE VIEW cart5_v AS SELECT * FROM cart5").unwrap();
    Spi::run("SELECT mkt.create_campaign('c5', 'cp5', 'cart5', 'user_id')").unwrap();
    let cases: &[(&str, &str)] = &[
        ("SELECT mkt.create_campaign('c5', 'cp5', 'cart5', 'user_id')", "42710"),
        ("SELECT mkt.create_campaign('x', 'nope', 'cart5', 'user_id')", "42704"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'nope')", "42703"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', ARRAY['nope'])", "42703"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', condition => 'value + 1')", "42804"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', condition => 'nope > 1')", "42703"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', condition => 'true) FROM cart5; DROP TABLE cart5; SELECT (true')", "42809"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5_v', 'user_id')", "42809"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', params => '{\"control_fraction\": 1}')", "22023"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', params => '{\"quiet_hours\": [3]}')", "22023"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', params => '{\"frequency_interval\": \"soon\"}')", "22007"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', params => '{\"colour\": 1}')", "22023"),
        ("SELECT mkt.pause_campaign('nope')", "42704"),
        ("SELECT * FROM mkt.claim_messages('c5', 0)", "22023"),
        ("SELECT * FROM mkt.claim_messages('nope')", "42704"),
        ("SELECT * FROM mkt.campaign_report('nope')", "42704"),
        ("SELECT mkt.attribute_outcomes('c5', 'cart5', 'user_id', 'value', 'at', \"window\" => '-1 day')", "22023"),
        ("SELECT mkt.create_campaign('x', 'cp5', 'cart5', 'user_id', params => '{\"mode\": \"later\"}')", "22023"),
        ("SELECT mkt.process_campaign('nope')", "42704"),
        ("SELECT mkt.process_campaign('c5', 0)", "22023"),
    ];
    for (sql, state) in cases {
        let (got, msg) = try_sql(sql);
        assert_eq!(&got, state, "{sql}: {msg}");
    }
    assert_eq!(count("SELECT count(*) FROM mkt.campaigns"), 1);
    assert_eq!(count("SELECT count(*) FROM cart5"), 0);
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
fn profile_matches_sql_aggregates() {
    Spi::run(
        "CREATE TABLE prof (\"Amount $\" numeric, city text, flag bool, at timestamptz);
         INSERT INTO prof SELECT CASE WHEN i % 10 = 0 THEN NULL WHEN i = 7 THEN 1000 ELSE (i * 37) % 101 END,
                                 CASE WHEN i % 3 = 0 THEN 'Berlin' WHEN i % 3 = 1 THEN 'Paris' END, i % 2 = 0,
                                 timestamptz '2026-01-01' + i * interval '1 hour'
         FROM generate_series(1, 500) i",
    )
    .unwrap();
    let p = |col: &str, field: &str| float(&format!("SELECT {field}::float8 FROM mkt.profile('prof') WHERE column_name = '{col}'"));
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
    assert!(close(p("Amount $", "mean"), float("SELECT avg(\"Amount $\")::float8 FROM prof")));
    assert!(close(p("Amount $", "stddev"), float("SELECT stddev_samp(\"Amount $\")::float8 FROM prof")));
    assert!(close(p("Amount $", "p50"), float("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY \"Amount $\"::float8) FROM prof")));
    assert!(close(p("Amount $", "p25"), float("SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY \"Amount $\"::float8) FROM prof")));
    assert_eq!(p("Amount $", "nulls"), 50.0);
    assert_eq!(p("Amount $", "rows"), 500.0);
    let outliers = count(
        "WITH q AS (SELECT percentile_cont(0.25) WITHIN GROUP (ORDER BY \"Amount $\"::float8) q1,
                           percentile_cont(0.75) WITHIN GROUP (ORDER BY \"Amount $\"::float8) q3 FROM prof)
         SELECT count(*) FROM prof, q WHERE \"Amount $\" < q1 - 1.5 * (q3 - q1) OR \"Amount $\" > q3 + 1.5 * (q3 - q1)",
    );
    assert_eq!(p("Amount $", "outliers") as i64, outliers);
    assert!(outliers >= 1);
    assert_eq!(p("city", "distinct_values"), 2.0);
    assert_eq!(p("city", "nulls") as i64, count("SELECT count(*) FROM prof WHERE city IS NULL"));
    assert_eq!(
        Spi::get_one::<String>("SELECT top_values -> 0 ->> 'value' FROM mkt.profile('prof') WHERE column_name = 'city'").unwrap().unwrap(),
        "Paris"
    );
    assert_eq!(
        Spi::get_one::<String>("SELECT max FROM mkt.profile('SELECT at FROM prof WHERE at < ''2026-01-02''') WHERE column_name = 'at'").unwrap().unwrap(),
        Spi::get_one::<String>("SELECT max(at)::text FROM prof WHERE at < '2026-01-02'").unwrap().unwrap()
    );
    assert_eq!(count("SELECT count(*) FROM mkt.profile('prof') WHERE column_name = 'flag' AND mean IS NULL AND distinct_values = 2"), 1);
    assert_eq!(try_sql("SELECT * FROM mkt.profile('nope')").0, "42P01");
}

#[pg_test]
fn transforms_fit_once_and_apply_identically() {
    Spi::run(
        "CREATE TABLE tr_train (\"Price\" float8, city text, same int, y int, empty float8);
         INSERT INTO tr_train VALUES (10, 'a', 1, 1, NULL), (20, 'a', 1, 0, NULL), (30, 'b', 1, 1, NULL),
                                     (40, 'b', 1, 1, NULL), (50, 'c', 1, 0, NULL);
         CREATE TABLE tr_test (\"Price\" float8, city text, same int, y int);
         INSERT INTO tr_test VALUES (25, 'a', 1, 0), (60, 'zzz', 1, 1), (NULL, NULL, 1, 0)",
    )
    .unwrap();
    let outs = count(
        "SELECT count(*) FROM mkt.fit_transform('t1', 'tr_train',
            '{\"Price\": \"standard\", \"city\": {\"type\": \"target_encode\", \"label\": \"y\", \"smoothing\": 2},
              \"same\": \"min_max\"}', target => 'tr_train_out')",
    );
    assert_eq!(outs, 3);
    Spi::run("SELECT mkt.fit_transform('t2', 'tr_train', '{\"city\": \"one_hot\", \"Price\": {\"type\": \"quantile_bucket\", \"n\": 4}}')").unwrap();
    assert_eq!(count("SELECT mkt.apply_transform('t1', 'tr_test', 'tr_test_out')"), 3);
    assert_eq!(count("SELECT mkt.apply_transform('t2', 'tr_test', 'tr_test_out2')"), 3);
    // standard: mean 30, population stddev sqrt(200); applied with the train statistics.
    let std = float("SELECT \"Price_std\" FROM tr_test_out WHERE \"Price\" = 25");
    assert!((std - (25.0 - 30.0) / 200f64.sqrt()).abs() < 1e-12, "{std}");
    assert_eq!(float("SELECT \"Price_std\" FROM tr_train_out WHERE \"Price\" = 50"), 20.0 / 200f64.sqrt());
    // target encoding, smoothing 2, global mean 0.6: a = (2·0.5 + 2·0.6)/4 = 0.55; unseen: 0.6.
    assert!((float("SELECT city_te FROM tr_test_out WHERE city = 'a'") - 0.55).abs() < 1e-12);
    assert!((float("SELECT city_te FROM tr_test_out WHERE city = 'zzz'") - 0.6).abs() < 1e-12);
    // a constant column gives 0, not NaN; NULL stays NULL.
    assert_eq!(count("SELECT count(*) FROM tr_test_out WHERE same_minmax = 0"), 3);
    assert_eq!(count("SELECT count(*) FROM tr_test_out WHERE \"Price_std\" IS NULL"), 1);
    // one-hot: unseen categories are all zeros; quartile buckets of the train prices.
    assert_eq!(count("SELECT city_a + city_b + city_c FROM tr_test_out2 WHERE city = 'a'"), 1);
    assert_eq!(count("SELECT city_a + city_b + city_c FROM tr_test_out2 WHERE city = 'zzz'"), 0);
    assert_eq!(count("SELECT \"Price_bucket\" FROM tr_test_out2 WHERE \"Price\" = 25"), 2);
    assert_eq!(count("SELECT \"Price_bucket\" FROM tr_test_out2 WHERE \"Price\" = 60"), 4);
    // The same statistics on the training rows give the table written at fit time.
    Spi::run("SELECT mkt.apply_transform('t1', 'tr_train', 'tr_train_again')").unwrap();
    assert_eq!(count("SELECT count(*) FROM (SELECT * FROM tr_train_out EXCEPT SELECT * FROM tr_train_again) d"), 0);
    let cases: &[(&str, &str)] = &[
        ("SELECT * FROM mkt.fit_transform('t1', 'tr_train', '{\"Price\": \"standard\"}')", "42710"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"nope\": \"standard\"}')", "42703"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"city\": \"standard\"}')", "42804"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"empty\": \"standard\"}')", "22000"),
        ("SELECT * FROM mkt.fit_transform('t3', 'SELECT * FROM tr_train WHERE false', '{\"Price\": \"robust\"}')", "22000"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"Price\": \"zscore\"}')", "22023"),
        ("SELECT * FROM mkt.fit_transform('t3', 'tr_train', '{\"Price\": \"standard\"}', target => 'tr_test')", "42P07"),
        ("SELECT mkt.apply_transform('nope', 'tr_test', 'x')", "42704"),
        ("SELECT mkt.apply_transform('t1', 'tr_test', 'tr_test_out')", "42P07"),
    ];
    for (sql, state) in cases {
        let (got, msg) = try_sql(sql);
        assert_eq!(&got, state, "{sql}: {msg}");
    }
    Spi::run("SELECT * FROM mkt.fit_transform('t1', 'tr_train', '{\"Price\": \"log1p\"}', target => 'tr_test_out', replace => true)").unwrap();
    assert!((float("SELECT \"Price_log1p\" FROM tr_test_out WHERE \"Price\" = 10") - 11f64.ln()).abs() < 1e-12);
}

#[pg_test]
fn rfm_and_user_features_on_hand_made_data() {
    Spi::run(
        "CREATE TABLE tx (cust int, at timestamptz, amount numeric);
         INSERT INTO tx VALUES
           (1, '2026-06-30', 100), (1, '2026-06-29', 100), (1, '2026-06-28', 100), (1, '2026-06-27', 100), (1, '2026-06-26', 100),
           (2, '2026-06-20', 50), (2, '2026-06-10', 50), (2, '2026-06-01', 50), (2, '2026-05-01', 50),
           (3, '2026-06-29', 10),
           (4, '2026-01-01', 500), (4, '2026-01-02', 500), (4, '2026-01-03', 500),
           (5, '2025-12-01', 4), (5, '2025-11-01', 4)",
    )
    .unwrap();
    assert_eq!(count("SELECT mkt.rfm('tx', 'cust', 'at', 'amount', 'rfm_out', as_of => '2026-07-01')"), 5);
    // recency: 1 (1 day), 3 (2 days), 2 (11), 4 (179), 5 (212) -> r scores 5, 4, 3, 2, 1
    let scores = |c: i32| {
        Spi::get_three::<i32, i32, i32>(&format!("SELECT r_score, f_score, m_score FROM rfm_out WHERE customer = {c}")).unwrap()
    };
    assert_eq!(scores(1), (Some(5), Some(5), Some(4)));
    assert_eq!(scores(3), (Some(4), Some(1), Some(2)));
    assert_eq!(scores(4), (Some(2), Some(3), Some(5)));
    assert_eq!(scores(5), (Some(1), Some(2), Some(1)));
    assert_eq!(float("SELECT recency_days FROM rfm_out WHERE customer = 2"), 11.0);
    assert_eq!(float("SELECT monetary FROM rfm_out WHERE customer = 4"), 1500.0);
    let seg = |c: i32| Spi::get_one::<String>(&format!("SELECT segment FROM rfm_out WHERE customer = {c}")).unwrap().unwrap();
    assert_eq!(seg(1), "champions");
    assert_eq!(seg(3), "new");
    assert_eq!(seg(5), "hibernating");
    assert_eq!(seg(4), "at risk");
    assert_eq!(try_sql("SELECT mkt.rfm('tx', 'cust', 'amount', 'amount', 'rfm2')").0, "42804");
    assert_eq!(try_sql("SELECT mkt.rfm('tx', 'cust', 'at', 'amount', 'rfm_out')").0, "42P07");
    assert_eq!(try_sql("SELECT mkt.rfm('tx', 'cust', 'at', 'amount', 'rfm2', quantiles => 1)").0, "22023");

    Spi::run(
        "CREATE TABLE ev (user_id int, ts timestamptz, event_type text, item_id int, value numeric);
         INSERT INTO ev VALUES (1, '2026-06-01 10:00', 'view', 1, 0), (1, '2026-06-01 11:00', 'view', 2, 0),
                               (1, '2026-06-03 09:00', 'purchase', 2, 30), (2, '2026-06-02 08:00', 'add to cart', 5, 12)",
    )
    .unwrap();
    assert_eq!(count("SELECT mkt.user_features('ev', 'uf', value_col => 'value', as_of => '2026-06-04 09:00')"), 2);
    assert_eq!(
        Spi::get_three::<i64, i64, i64>("SELECT n_view, n_purchase, n_add_to_cart FROM uf WHERE user_id = 1").unwrap(),
        (Some(2), Some(1), Some(0))
    );
    assert_eq!(count("SELECT active_days FROM uf WHERE user_id = 1"), 2);
    assert_eq!(float("SELECT recency_days FROM uf WHERE user_id = 1"), 1.0);
    assert_eq!(float("SELECT item_diversity FROM uf WHERE user_id = 1"), 2.0 / 3.0);
    assert_eq!(float("SELECT avg_value FROM uf WHERE user_id = 1"), 10.0);
}

#[pg_test]
fn clean_reports_each_step() {
    Spi::run(
        "CREATE TABLE dirty (id int, user_id int, at timestamptz, price text, qty float8, city text);
         INSERT INTO dirty VALUES
           (1, 1, '2026-01-01 10:00', '10.5', 1, 'a'), (1, 1, '2026-01-01 11:00', '10.5', 1, 'a'),
           (2, 2, '2026-01-01 10:00', 'n/a', 2, NULL), (3, 3, '2026-01-01 10:00', '7', NULL, 'b'),
           (4, 4, '2026-01-02 10:00', '8', 3, 'b'), (5, 5, '2026-01-02 10:00', '9', 100, 'b'),
           (6, 6, '2026-01-03 10:00', '11', 2, 'c'), (7, 7, '2026-01-03 10:00', '12', 4, 'c');
         INSERT INTO dirty SELECT 100 + i, 99, '2026-01-05 12:00', '1', 1, 'x' FROM generate_series(1, 30) i",
    )
    .unwrap();
    Spi::run(
        "CREATE TABLE clean_steps AS SELECT * FROM mkt.clean('dirty', 'clean_out', '{
            \"coerce\": {\"price\": \"numeric\"},
            \"dedupe_on\": [\"id\"], \"keep\": \"last\", \"order_by\": \"at\",
            \"bots\": {\"subject\": \"user_id\", \"time\": \"at\", \"max_events_per_day\": 10},
            \"nulls\": {\"city\": \"unknown\", \"qty\": \"median\"},
            \"outliers\": {\"qty\": {\"method\": \"iqr\", \"action\": \"clip\"}}}')",
    )
    .unwrap();
    let step = |s: &str| count(&format!("SELECT rows_affected FROM clean_steps WHERE step LIKE '{s}%'"));
    assert_eq!(step("input"), 38);
    assert_eq!(step("coerce price"), 1);
    assert_eq!(step("dedupe"), 1);
    assert_eq!(step("bots"), 30);
    assert_eq!(step("nulls city"), 1);
    assert_eq!(step("nulls qty"), 1);
    assert_eq!(step("outliers qty"), 1);
    assert_eq!(step("output"), 7);
    // keep last by time: id 1 keeps the 11:00 row
    assert_eq!(count("SELECT count(*) FROM clean_out WHERE id = 1 AND at = '2026-01-01 11:00'"), 1);
    assert_eq!(count("SELECT count(*) FROM clean_out WHERE price IS NULL"), 1);
    assert_eq!(
        Spi::get_one::<String>("SELECT pg_typeof(price)::text FROM clean_out LIMIT 1").unwrap().unwrap(),
        "numeric"
    );
    assert_eq!(count("SELECT count(*) FROM clean_out WHERE city = 'unknown'"), 1);
    // qty after the median fill: 1, 2, 2, 3, 100, 2, 4 -> q1 2, q3 3.5, upper bound 5.75: 100 is clipped to it
    assert_eq!(float("SELECT qty FROM clean_out WHERE id = 5"), 5.75);
    assert_eq!(count("SELECT count(*) FROM dirty"), 38);
    // drop and flag, zscore and quantile
    Spi::run("SELECT * FROM mkt.clean('dirty', 'clean2', '{\"outliers\": {\"qty\": {\"method\": \"quantile\", \"low\": 0, \"high\": 0.99, \"action\": \"flag\"}}, \"nulls\": {\"qty\": \"drop\"}}')").unwrap();
    assert_eq!(count("SELECT count(*) FROM clean2 WHERE qty_outlier"), 1);
    assert_eq!(count("SELECT count(*) FROM clean2 WHERE qty IS NULL"), 0);
    let cases: &[(&str, &str)] = &[
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"sparkle\": 1}')", "22023"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"dedupe_on\": [\"nope\"]}')", "42703"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"outliers\": {\"city\": {}}}')", "42804"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"outliers\": {\"qty\": {\"method\": \"magic\"}}}')", "22023"),
        ("SELECT * FROM mkt.clean('dirty', 'c3', '{\"coerce\": {\"price\": \"money\"}}')", "22023"),
        ("SELECT * FROM mkt.clean('dirty', 'clean_out')", "42P07"),
        ("SELECT * FROM mkt.clean('nope', 'c3')", "42P01"),
    ];
    for (sql, state) in cases {
        let (got, msg) = try_sql(sql);
        assert_eq!(&got, state, "{sql}: {msg}");
    }
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
fn neural_bad_inputs_raise_clear_errors() {
    planted_table("t_nnbad");
    Spi::run("CREATE TABLE t_nnbad_users AS SELECT u AS user_id, 'x' AS grp FROM generate_series(1, 60) u").unwrap();
    let train = |p: &str| try_sql(&format!("SELECT * FROM mkt.train_recommender('nnbad', 't_nnbad', algorithm => 'neural', params => '{p}')"));
    let (s, m) = train(r#"{"epoch": 3}"#);
    assert_eq!(s, "22023");
    assert!(m.contains("unknown parameter \"epoch\"") && m.contains("epochs") && m.contains("user_features"), "{m}");
    let (s, m) = train(r#"{"device": "cuda"}"#);
    assert_eq!((s.as_str(), m.contains("no CUDA support")), ("0A000", true), "{m}");
    let (s, _) = train(r#"{"device": "tpu"}"#);
    assert_eq!(s, "22023");
    let (s, m) = train(r#"{"user_features": {"source": "t_nnbad_users", "key": "user_id", "columns": ["nope"]}}"#);
    assert_eq!(s, "42703", "{m}");
    let (s, _) = train(r#"{"user_features": {"source": "no_such_table", "key": "user_id", "columns": ["grp"]}}"#);
    assert_eq!(s, "42P01");
    let (s, m) = train(r#"{"user_features": {"source": "t_nnbad_users", "key": "user_id", "columns": ["grp"], "transform": "no_such"}}"#);
    assert_eq!(s, "42704", "{m}");
    let (s, m) = train(r#"{"user_features": {"source": "t_nnbad_users", "key": "user_id", "columns": []}}"#);
    assert_eq!(s, "22023", "{m}");
    let (s, m) = train(r#"{"user_features": {"source": "t_nnbad_users", "key": "grp", "columns": ["user_id"]}}"#);
    assert_eq!(s, "22000", "{m}");
    assert!(m.contains("no key of the user feature table"), "{m}");
    // nothing half-written
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'nnbad'"), 0);
}

#[pg_test]
fn export_import_round_trips_exactly() {
    planted_table("t_exp");
    Spi::run("SELECT * FROM mkt.train_recommender('exp', 't_exp', algorithm => 'neural', params => '{\"epochs\": 3, \"dim\": 8, \"hidden\": 8}')").unwrap();
    let v = Spi::get_one::<i32>("SELECT mkt.import_model('exp_copy', mkt.export_model('exp'))").unwrap();
    assert_eq!(v, Some(1));
    assert_eq!(
        count("SELECT count(*) FROM (SELECT * FROM mkt.recommend_all('exp', 5) EXCEPT SELECT * FROM mkt.recommend_all('exp_copy', 5)) d"),
        0
    );
    assert_eq!(count("SELECT count(*) FROM mkt.recommend_all('exp_copy', 5)"), 300);
    assert_eq!(count("SELECT count(*) FROM mkt.models WHERE model_name = 'exp_copy' AND algorithm = 'neural' AND deployed"), 1);
    let (s, m) = try_sql("SELECT mkt.import_model('exp_bad', substring(mkt.export_model('exp', 1) from 1 for 200))");
    assert_eq!(s, "XX001", "{m}");
    let (s, _) = try_sql("SELECT mkt.export_model('exp', 7)");
    assert_eq!(s, "42704");
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'exp_bad'"), 0);
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

#[pg_test]
fn retrain_deploys_by_rule_and_rollback_goes_back() {
    planted_table("t_rt");
    Spi::run("SELECT * FROM mkt.train_recommender('rt', 't_rt', params => '{\"factors\": 4, \"iterations\": 5}')").unwrap();
    let row = |sql: &str| Spi::get_two::<i32, bool>(&format!("SELECT version, deployed FROM {sql}")).unwrap();
    assert_eq!(row("mkt.retrain('rt', 'never')"), (Some(2), Some(false)));
    assert_eq!(count("SELECT version FROM mkt.models WHERE model_name = 'rt' AND deployed"), 1);
    assert_eq!(row("mkt.retrain('rt', 'always')"), (Some(3), Some(true)));
    assert_eq!(count("SELECT version FROM mkt.models WHERE model_name = 'rt' AND deployed"), 3);
    // nothing newer than the serving version: if_better has nothing to judge by and keeps it
    let (m, p, d) = Spi::get_three::<f64, f64, bool>("SELECT metric, previous_metric, deployed FROM mkt.retrain('rt')").unwrap();
    assert!(m.is_some() && p.is_none() && d == Some(false));
    // new interactions: both are ranked on ones the serving version never trained on (a fair,
    // non-zero score for it), and if_better deploys exactly when the challenger beat it
    Spi::run("INSERT INTO t_rt SELECT u, i, 1 FROM generate_series(1, 60) u, generate_series(1, 30) i WHERE i % 3 = u % 3 AND (u * 7 + i) % 4 = 0").unwrap();
    let (m, p, d) = Spi::get_three::<f64, f64, bool>("SELECT metric, previous_metric, deployed FROM mkt.retrain('rt')").unwrap();
    assert!(p.unwrap() > 0.1, "serving version ndcg@10 {p:?} on fresh interactions");
    assert_eq!(d.unwrap(), m.unwrap() > p.unwrap());
    assert_eq!(count("SELECT count(*) FROM mkt.model_versions WHERE model_name = 'rt' AND metrics ? 'retrain_ndcg@10'"), 4);
    Spi::run("SELECT mkt.deploy('rt', 3)").unwrap();
    assert_eq!(Spi::get_one::<i32>("SELECT mkt.rollback('rt')").unwrap(), Some(if d.unwrap() { 5 } else { 1 }));
    assert_eq!(count("SELECT count(*) FROM mkt.deploy_history WHERE model_name = 'rt' AND reason = 'rollback'"), 1);
    assert!(count("SELECT count(*) FROM mkt.deploy_history WHERE model_name = 'rt' AND reason LIKE 'retrain: ndcg@10 %'") >= 1);
    assert_eq!(try_sql("SELECT * FROM mkt.retrain('rt', 'sometimes')").0, "22023");
    assert_eq!(try_sql("SELECT * FROM mkt.retrain('nope')").0, "42704");
    Spi::run("SELECT * FROM mkt.train_recommender('rt_once', 't_rt', algorithm => 'popularity')").unwrap();
    assert_eq!(try_sql("SELECT mkt.rollback('rt_once')").0, "55000");
}

#[pg_test]
fn reports_are_self_contained_html_with_the_numbers() {
    planted_table("t_rep");
    Spi::run("SELECT * FROM mkt.train_recommender('rep', 't_rep', algorithm => 'neural', params => '{\"epochs\": 3, \"dim\": 8, \"hidden\": 8}')").unwrap();
    Spi::run("SELECT * FROM mkt.evaluate_recommender('rep', 't_rep', 10)").unwrap();
    let page = Spi::get_one::<String>("SELECT mkt.model_report('rep')").unwrap().unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    for tag in ["table", "svg", "tr", "h2"] {
        assert_eq!(page.matches(&format!("<{tag}")).count(), page.matches(&format!("</{tag}>")).count(), "{tag}");
    }
    assert!(!page.contains("src=") && !page.contains("<link") && !page.contains("<script"));
    let loss = Spi::get_one::<String>("SELECT loss::text FROM mkt.training_epochs e JOIN mkt.model_versions v USING (model_id) WHERE model_name = 'rep' AND epoch = 2").unwrap().unwrap();
    assert!(page.contains(&format!("<td>{loss}</td>")), "epoch 2 loss {loss} missing");
    let ndcg = Spi::get_one::<String>("SELECT round((metrics->>'ndcg@10')::numeric, 4)::text FROM mkt.model_versions WHERE model_name = 'rep'").unwrap().unwrap();
    assert!(page.contains(&format!("<td>{ndcg}</td>")), "ndcg {ndcg} missing");
    assert!(page.contains("Training curve") && page.contains("<polyline"));
    Spi::run("SELECT mkt.create_policy('rep_pol', ARRAY['a', 'b'], 'q_learning')").unwrap();
    Spi::run("DO $$ BEGIN FOR i IN 1..30 LOOP PERFORM mkt.reward((SELECT decision_id FROM mkt.decide('rep_pol', '{}')), 1); END LOOP; END $$").unwrap();
    let page = Spi::get_one::<String>("SELECT mkt.model_report('rep_pol')").unwrap().unwrap();
    assert!(page.contains("Learning curve") && page.contains("<td>30</td>") && page.matches("<svg").count() == 2);
    assert_eq!(try_sql("SELECT mkt.model_report('nothing')").0, "42704");
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

/// Runs `sql` as `role` in a subtransaction: (SQLSTATE, message, first column of the first row).
fn as_role(role: &str, sql: &str) -> (String, String, Option<String>) {
    Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.as_role(r text, q text, OUT state text, OUT msg text, OUT val text)
         LANGUAGE plpgsql AS $$
         BEGIN
             EXECUTE format('SET ROLE %I', r);
             BEGIN
                 EXECUTE q INTO val; state := '00000'; msg := '';
             EXCEPTION WHEN OTHERS THEN
                 GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
             END;
             RESET ROLE;
         END $$",
    )
    .unwrap();
    let row = Spi::get_three_with_args::<String, String, String>(
        "SELECT * FROM pg_temp.as_role($1, $2)",
        &[role.into(), sql.into()],
    )
    .unwrap();
    (row.0.unwrap(), row.1.unwrap(), row.2)
}

#[pg_test]
fn model_ownership_and_grants() {
    Spi::run(
        "CREATE ROLE own_alice; CREATE ROLE own_bob;
         GRANT USAGE ON SCHEMA mkt TO own_alice, own_bob;
         GRANT ALL ON ALL TABLES IN SCHEMA mkt TO own_alice, own_bob;
         GRANT ALL ON ALL SEQUENCES IN SCHEMA mkt TO own_alice, own_bob",
    )
    .unwrap();
    planted_table("own_ev");
    Spi::run("GRANT SELECT ON own_ev TO own_alice, own_bob").unwrap();
    let rec = "SELECT string_agg(item_id::text, ',' ORDER BY rank) FROM mkt.recommend('own_m', 1, 3)";
    // The first trainer owns the model.
    let (s, m, _) = as_role("own_alice", "SELECT version FROM mkt.train_recommender('own_m', 'own_ev', algorithm => 'popularity')");
    assert_eq!(s, "00000", "{m}");
    assert_eq!(
        Spi::get_one::<String>("SELECT grantee::text FROM mkt.model_acl WHERE model_name = 'own_m' AND privilege = 'owner'").unwrap().as_deref(),
        Some("own_alice")
    );
    let top = as_role("own_alice", rec).2.unwrap();
    // Another role can neither use nor manage it, through the functions or the tables.
    for sql in [
        rec,
        "SELECT length(mkt.export_model('own_m'))",
        "SELECT count(*) FROM mkt.similar_items('own_m', 1, 3)",
        "SELECT mkt.deploy('own_m', 1)",
        "SELECT mkt.drop_model('own_m')",
        "SELECT version FROM mkt.train_recommender('own_m', 'own_ev', algorithm => 'popularity')",
        "SELECT count(*) FROM mkt.retrain('own_m')",
        "SELECT mkt.grant_model('own_m', 'own_bob', 'manage')",
        "INSERT INTO mkt.model_acl (model_name, grantee, privilege) VALUES ('own_m', 'own_bob', 'manage')",
    ] {
        let (s, m, _) = as_role("own_bob", sql);
        assert_eq!(s, "42501", "{sql}: {m}");
    }
    let (_, m, _) = as_role("own_bob", rec);
    assert!(m.contains("permission denied to use model 'own_m'") && m.contains("own_alice"), "{m}");
    for table in ["mkt.models", "mkt.model_versions", "mkt.model_blobs", "mkt.deployments", "mkt.deploy_history"] {
        let (s, m, v) = as_role("own_bob", &format!("SELECT count(*)::text FROM {table}"));
        assert_eq!((s.as_str(), v.as_deref()), ("00000", Some("0")), "{table}: {m}");
    }
    // use: serve and export, not deploy. A backend that cached the model for alice re-checks bob.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'own_bob')").0, "00000");
    assert_eq!(as_role("own_bob", rec).2.as_deref(), Some(top.as_str()));
    assert_eq!(as_role("own_bob", "SELECT mkt.deploy('own_m', 1)").0, "42501");
    // manage: a new version by bob; alice still owns the model.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'own_bob', 'manage')").0, "00000");
    let (s, m, v) = as_role("own_bob", "SELECT version::text FROM mkt.train_recommender('own_m', 'own_ev', algorithm => 'popularity')");
    assert_eq!((s.as_str(), v.as_deref()), ("00000", Some("2")), "{m}");
    assert_eq!(count("SELECT count(*) FROM mkt.model_acl WHERE model_name = 'own_m' AND privilege = 'owner' AND grantee = 'own_alice'"), 1);
    // Revoking takes effect in this backend at once, though it served bob a moment ago.
    assert_eq!(as_role("own_alice", "SELECT mkt.revoke_model('own_m', 'own_bob')::text").2.as_deref(), Some("2"));
    assert_eq!(as_role("own_bob", rec).0, "42501");
    // public: every role.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'public')").0, "00000");
    assert_eq!(as_role("own_bob", rec).0, "00000");
    // Ownership moves with a grant of 'owner'; the old owner then needs a grant like anyone.
    assert_eq!(as_role("own_alice", "SELECT mkt.grant_model('own_m', 'own_bob', 'owner')").0, "00000");
    assert_eq!(as_role("own_alice", "SELECT mkt.deploy('own_m', 1)").0, "42501");
    assert_eq!(as_role("own_bob", "SELECT mkt.deploy('own_m', 1)").0, "00000");
    // Bad grants.
    assert_eq!(try_sql("SELECT mkt.grant_model('own_m', 'no_such_role')").0, "42704");
    assert_eq!(try_sql("SELECT mkt.grant_model('no_such_model', 'own_bob')").0, "42704");
    assert_eq!(try_sql("SELECT mkt.grant_model('own_m', 'own_bob', 'admin')").0, "22023");
    assert_eq!(try_sql("SELECT mkt.revoke_model('own_m', 'own_bob', 'owner')").0, "22023");
}
