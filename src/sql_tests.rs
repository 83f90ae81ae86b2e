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
    for (sql, state, fragment) in cases {
        let (s, m) = try_sql(sql);
        assert_eq!(&s, state, "{sql}: {m}");
        assert!(m.contains(fragment), "{sql}: message '{m}' lacks '{fragment}'");
    }
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
